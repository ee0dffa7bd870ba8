# nixos/modules/installer/netboot/netboot.nix (its options, the root file system it overrides, and
# the outputs the kexec bundle takes)
{ config, lib, pkgs, ... }:
{
  options.netboot = {
    squashfsCompression = lib.mkOption {
      default = "zstd -Xcompression-level 19";
      type = lib.types.str;
      description = "Compression settings to use for the squashfs nix store.";
    };
    storeContents = lib.mkOption {
      type = lib.types.listOf lib.types.unspecified;
      description = "This option lists additional derivations to be included in the Nix store in the generated netboot image.";
    };
  };

  config = {
    # Don't build the GRUB menu builder script, since we don't need it here and it's not
    # available on all platforms.
    boot.loader.grub.enable = false;

    fileSystems."/" = lib.mkImageMediaOverride {
      fsType = "tmpfs";
      options = [ "mode=0755" ];
    };

    boot.initrd.availableKernelModules = [ "squashfs" "overlay" ];
    boot.initrd.kernelModules = [ "loop" "overlay" ];

    # Closures to be copied to the Nix store, namely the init script and the top-level system
    # configuration directory.
    netboot.storeContents = [ config.system.build.toplevel ];

    system.build.netbootRamdisk = pkgs.runCommand "initrd" {
      inherit (config.netboot) squashfsCompression storeContents;
    } "";
    system.build.netbootIpxeScript = pkgs.writeText "netboot.ipxe" "#!ipxe\n";
  };
}
