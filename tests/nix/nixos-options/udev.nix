# nixos/modules/services/hardware/udev.nix (hardware.firmware)
{ lib, ... }:
{
  options.hardware.firmware = lib.mkOption {
    type = lib.types.listOf lib.types.package;
    default = [ ];
    description = "List of packages containing firmware files.";
  };
}
