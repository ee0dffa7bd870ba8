# nixos/modules/misc/documentation.nix
{ lib, ... }:
let
  inherit (lib) mkOption types;
  flag = description: mkOption {
    type = types.bool;
    default = true;
    inherit description;
  };
in
{
  options.documentation = {
    enable = flag "Whether to install documentation of packages from `environment.systemPackages`.";
    man.enable = flag "Whether to install manual pages.";
    info.enable = flag "Whether to install info pages and the info command.";
    doc.enable = flag "Whether to install documentation distributed in packages' /share/doc.";
    nixos.enable = flag "Whether to install NixOS's own documentation.";
  };
}
