# nixos/modules/system/boot/loader/grub/grub.nix (the options the project sets, the mirroredBoots
# derived from `devices`, and the assertions)
{ config, lib, ... }:
let
  inherit (lib) mkIf mkOption types;
  cfg = config.boot.loader.grub;
  efi = config.boot.loader.efi;
  bootDeviceCounters = lib.foldr
    (device: attr: attr // { ${device} = (attr.${device} or 0) + 1; })
    { }
    (lib.concatMap (args: args.devices) cfg.mirroredBoots);
in
{
  options.boot.loader.grub = {
    enable = mkOption {
      default = true;
      type = types.bool;
      description = "Whether to enable the GNU GRUB boot loader.";
    };
    device = mkOption {
      default = "";
      type = types.str;
      description = "The device on which the GRUB boot loader will be installed.";
    };
    devices = mkOption {
      default = [ ];
      type = types.listOf types.str;
      description = "The devices on which the boot loader, GRUB, will be installed.";
    };
    mirroredBoots = mkOption {
      default = [ ];
      description = "Mirror the boot configuration to multiple partitions and install grub to the respective devices.";
      type = with types; listOf (submodule {
        options = {
          path = mkOption {
            example = "/boot1";
            type = types.str;
            description = "The path to the boot directory where GRUB will be written.";
          };
          efiSysMountPoint = mkOption {
            default = null;
            type = types.nullOr types.str;
            description = "The path to the efi system mount point.";
          };
          efiBootloaderId = mkOption {
            default = null;
            type = types.nullOr types.str;
            description = "The id of the bootloader to store in efi nvram.";
          };
          devices = mkOption {
            default = [ ];
            type = types.listOf types.str;
            description = "The path to the devices which will have the GRUB MBR written.";
          };
        };
      });
    };
    zfsSupport = mkOption {
      default = false;
      type = types.bool;
      description = "Whether GRUB should be built against libzfs.";
    };
    efiSupport = mkOption {
      default = false;
      type = types.bool;
      description = "Whether GRUB should be built with EFI support.";
    };
    efiInstallAsRemovable = mkOption {
      default = false;
      type = types.bool;
      description = "Whether to invoke `grub-install` with `--removable`.";
    };
    memtest86.enable = mkOption {
      default = false;
      type = types.bool;
      description = "Make Memtest86+ available from the GRUB boot menu.";
    };
  };

  config = mkIf cfg.enable {
    boot.loader.grub.devices = lib.optional (cfg.device != "") cfg.device;
    boot.loader.grub.mirroredBoots = lib.optionals (cfg.devices != [ ]) [
      { path = "/boot"; inherit (cfg) devices; inherit (efi) efiSysMountPoint; }
    ];

    assertions = [
      {
        assertion = cfg.mirroredBoots != [ ];
        message = "You must set the option ‘boot.loader.grub.devices’ or "
          + "'boot.loader.grub.mirroredBoots' to make the system bootable.";
      }
      {
        assertion = cfg.efiSupport
          || lib.all (c: c < 2) (lib.mapAttrsToList (n: c: if n == "nodev" then 0 else c) bootDeviceCounters);
        message = "You cannot have duplicated devices in mirroredBoots";
      }
      {
        assertion = cfg.efiInstallAsRemovable -> cfg.efiSupport;
        message = "If you wish to to use boot.loader.grub.efiInstallAsRemovable, then turn on boot.loader.grub.efiSupport";
      }
      {
        assertion = cfg.efiInstallAsRemovable -> !efi.canTouchEfiVariables;
        message = "If you wish to to use boot.loader.grub.efiInstallAsRemovable, then turn off boot.loader.efi.canTouchEfiVariables";
      }
    ] ++ lib.concatMap
      (args: [
        {
          assertion = args.devices != [ ];
          message = "A boot path cannot have an empty devices string in ${args.path}";
        }
        {
          assertion = lib.hasPrefix "/" args.path;
          message = "Boot paths must be absolute, not ${args.path}";
        }
        {
          assertion = if args.efiSysMountPoint == null then true else lib.hasPrefix "/" args.efiSysMountPoint;
          message = "EFI paths must be absolute, not ${args.efiSysMountPoint}";
        }
      ] ++ map
        (device: {
          assertion = device == "nodev" || lib.hasPrefix "/" device;
          message = "GRUB devices must be absolute paths, not ${device} in ${args.path}";
        })
        args.devices)
      cfg.mirroredBoots;
  };
}
