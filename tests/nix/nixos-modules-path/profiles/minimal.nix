# nixos/modules/profiles/minimal.nix (documentation and default packages; the rest concerns
# options the project does not set)
{ lib, ... }:
let
  inherit (lib) mkDefault;
in
{
  documentation = {
    enable = mkDefault false;
    doc.enable = mkDefault false;
    info.enable = mkDefault false;
    man.enable = mkDefault false;
    nixos.enable = mkDefault false;
  };
  environment.defaultPackages = mkDefault [ ];
}
