# nixos/modules/installer/cd-dvd/iso-image.nix (the options the installation CD and the project
# set)
{ config, lib, pkgs, ... }:
let
  inherit (lib) mkOption types;
in
{
  options.isoImage = {
    squashfsCompression = mkOption {
      default = "zstd -Xcompression-level 19";
      type = types.nullOr types.str;
      description = "Compression settings to use for the squashfs nix store. `null` disables compression.";
    };
    edition = mkOption {
      default = "";
      type = types.str;
      description = "Specifies which edition string to use in the volume ID of the generated ISO image.";
    };
    makeEfiBootable = mkOption {
      default = false;
      type = types.bool;
      description = "Whether the ISO image should be an EFI-bootable volume.";
    };
    makeUsbBootable = mkOption {
      default = false;
      type = types.bool;
      description = "Whether the ISO image should be bootable from CD as well as USB.";
    };
  };

  config = {
    # config.lib.isoFileSystems, of which installation-cd-base.nix takes all: the root of the
    # live system is a tmpfs (the store comes from the ISO's squashfs).
    fileSystems."/" = lib.mkImageMediaOverride {
      fsType = "tmpfs";
      options = [ "mode=0755" ];
    };
    boot.loader.grub.enable = false;

    system.build.isoImage = pkgs.runCommand "nixos.iso" {
      inherit (config.isoImage) squashfsCompression;
    } "";
  };
}
