# The installer environment as a bootable ISO (BIOS and UEFI), for hosts that can boot an image
# from the hoster's panel instead of a kexec.
{ config, lib, modulesPath, ... }:
{
  imports = [
    (modulesPath + "/installer/cd-dvd/installation-cd-minimal.nix")
    ../modules/installer.nix
  ];

  isoImage.squashfsCompression = config.nixremote.installer.squashfsCompression;
}
