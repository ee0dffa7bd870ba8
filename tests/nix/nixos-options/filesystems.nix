# nixos/modules/tasks/filesystems.nix (fileSystems and the supported file systems) with
# nixos/lib/utils.nix's fsNeededForBoot: which mounts the initrd makes.
{ config, lib, ... }:
let
  inherit (lib) mkOption types;

  # nixos/lib/utils.nix
  pathsNeededForBoot = [ "/" "/nix" "/nix/store" "/var" "/var/log" "/var/lib" "/var/lib/nixos" "/etc" "/usr" ];
  fsNeededForBoot = fs: fs.neededForBoot || lib.elem fs.mountPoint pathsNeededForBoot;

  fileSystems = lib.attrValues config.fileSystems;

  coreFileSystemOpts = { name, config, ... }: {
    options = {
      mountPoint = mkOption {
        example = "/mnt/usb";
        type = types.passwdEntry types.str;
        description = "Location of the mounted file system.";
      };
      device = mkOption {
        default = null;
        example = "/dev/sda";
        type = types.nullOr types.nonEmptyStr;
        description = "Location of the device.";
      };
      fsType = mkOption {
        default = "auto";
        example = "ext3";
        type = types.nonEmptyStr;
        description = "Type of the file system.";
      };
      options = mkOption {
        default = [ "defaults" ];
        example = [ "data=journal" ];
        type = types.nonEmptyListOf types.nonEmptyStr;
        description = "Options used to mount the file system.";
      };
      depends = mkOption {
        default = [ ];
        example = [ "/persist" ];
        type = types.listOf types.nonEmptyStr;
        description = "List of paths that should be mounted before this one.";
      };
    };
    config.mountPoint = lib.mkDefault name;
  };

  fileSystemOpts = { config, ... }: {
    options = {
      label = mkOption {
        default = null;
        type = types.nullOr types.str;
        description = "Label of the device (if any).";
      };
      autoFormat = mkOption {
        default = false;
        type = types.bool;
        description = "If the device does not currently contain a filesystem, create one.";
      };
      noCheck = mkOption {
        default = false;
        type = types.bool;
        description = "Disable running fsck on this filesystem.";
      };
      neededForBoot = mkOption {
        default = false;
        type = types.bool;
        description = "If set, this file system will be mounted in the initial ramdisk.";
      };
    };
  };

  supportedFilesystemsType = types.coercedTo
    (types.listOf types.str)
    (enabled: lib.listToAttrs (map (fs: lib.nameValuePair fs true) enabled))
    (types.attrsOf types.bool);
in
{
  options = {
    fileSystems = mkOption {
      default = { };
      type = types.attrsOf (types.submodule [ coreFileSystemOpts fileSystemOpts ]);
      description = "The file systems to be mounted.";
    };
    boot.supportedFilesystems = mkOption {
      default = { };
      type = supportedFilesystemsType;
      description = "Names of supported filesystem types, or an attribute set of file system types and their state.";
    };
    boot.initrd.supportedFilesystems = mkOption {
      default = { };
      type = supportedFilesystemsType;
      description = "Names of supported filesystem types in the initial ramdisk.";
    };
  };

  config = {
    # Not a nixpkgs attribute, a test aid: the file systems the initrd mounts (stage-1.nix's
    # fsInfo and the systemd initrd's fstab are made of these).
    system.build.initrdFileSystems = lib.filter fsNeededForBoot fileSystems;

    boot.supportedFilesystems = map (fs: fs.fsType) fileSystems;
    boot.initrd.supportedFilesystems = map (fs: fs.fsType) (lib.filter fsNeededForBoot fileSystems);

    assertions = map
      (fs: {
        assertion = fs.mountPoint == "/" || !(lib.hasSuffix "/" fs.mountPoint);
        message = "Mount point '${fs.mountPoint}' must not end with a slash.";
      })
      fileSystems
    # stage-1.nix
    ++ [{
      assertion = lib.any (fs: fs.mountPoint == "/") fileSystems;
      message = "The ‘fileSystems’ option does not specify your root file system.";
    }];
  };
}
