# nixos/modules/installer/cd-dvd/installation-cd-base.nix
#
# Its `system.stateVersion` differs between releases: the nixpkgs file set
# `system.stateVersion = mkDefault "18.03";` for years, current ones set
# `system.stateVersion = lib.mkDefault lib.trivial.release;`. The test picks either with
# `standIn.cdBaseStateVersion` ("18.03" or "release"): the installer module must evaluate with both.
{ lib, standIn, ... }:
{
  imports = [
    ./iso-image.nix
    # Profiles of this basic installation CD.
    ../../profiles/base.nix
    ../../profiles/installation-device.nix
  ];

  hardware.enableAllHardware = true;

  # EFI booting
  isoImage.makeEfiBootable = true;
  # USB booting
  isoImage.makeUsbBootable = true;

  # Add Memtest86+ to the CD.
  boot.loader.grub.memtest86.enable = true;

  system.stateVersion =
    if standIn.cdBaseStateVersion == "18.03" then lib.mkDefault "18.03"
    else lib.mkDefault lib.trivial.release;
}
