# The installer environment as a netboot image: kernel + one initrd that carries the whole store
# as a squashfs. This is what `packages.<system>.kexec` and `.netboot` are built from.
{ config, lib, modulesPath, ... }:
{
  imports = [
    (modulesPath + "/installer/netboot/netboot-minimal.nix")
    ../modules/installer.nix
  ];

  # The squashfs is most of the initrd; xz (see installer.nix) is ~20 % smaller than the default
  # zstd-19 on executables. The outer initrd is gzip: the bundle names it initrd.gz and any
  # kernel reads it; it wraps an already compressed squashfs, so nothing stronger gains there.
  netboot.squashfsCompression = config.nixremote.installer.squashfsCompression;
  boot.initrd.compressor = "gzip";
  boot.initrd.compressorArgs = [ "-9" ];
}
