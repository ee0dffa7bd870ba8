# nixos/modules/hardware/all-hardware.nix
{ lib, ... }:
{
  options.hardware.enableAllHardware = lib.mkOption {
    type = lib.types.bool;
    default = false;
    description = "Enable support for most hardware.";
  };
}
