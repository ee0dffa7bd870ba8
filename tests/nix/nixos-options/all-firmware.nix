# nixos/modules/hardware/all-firmware.nix
{ lib, ... }:
{
  options.hardware.enableRedistributableFirmware = lib.mkOption {
    type = lib.types.bool;
    default = false;
    description = "Whether to enable firmware with a license allowing redistribution.";
  };
}
