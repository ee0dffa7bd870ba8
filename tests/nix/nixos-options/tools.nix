# nixos/modules/installer/tools/tools.nix
{ lib, ... }:
{
  options.system.tools.nixos-generate-config.enable = lib.mkOption {
    type = lib.types.bool;
    default = true;
    description = "Whether to include nixos-generate-config in the system.";
  };
}
