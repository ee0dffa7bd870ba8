# nixos/modules/profiles/base.nix (its rescue tools stand for all of it: the installer disables the
# module, so none of this may reach the installer's configuration)
{ pkgs, ... }:
{
  environment.systemPackages = [ pkgs.testdisk ];
  boot.supportedFilesystems = [ "btrfs" "cifs" "f2fs" "ntfs" "vfat" "xfs" ];
}
