# nixos/modules/installer/netboot/netboot-base.nix
{ ... }:
{
  imports = [
    ./netboot.nix
    # Profiles of this basic netboot media
    ../../profiles/base.nix
    ../../profiles/installation-device.nix
  ];

  hardware.enableAllHardware = true;
}
