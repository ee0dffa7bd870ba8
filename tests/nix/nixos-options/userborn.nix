# nixos/modules/services/system/userborn.nix
{ lib, ... }:
{
  options.services.userborn.enable = lib.mkOption {
    type = lib.types.bool;
    default = false;
    description = "Whether to enable userborn (users and groups without perl).";
  };
}
