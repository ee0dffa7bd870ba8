# nixos/modules/tasks/filesystems.nix (fileSystems, their derived options and order, the
# supported file systems) with nixos/lib/utils.nix's fsNeededForBoot and fsBefore: which mounts
# the initrd makes, in which order; neededForBoot is declared in stage-1.nix.
{ config, lib, ... }@moduleArgs:
let
  inherit (lib) mkDefault mkIf mkMerge mkOption types;

  # nixos/lib/utils.nix
  pathsNeededForBoot = [ "/" "/nix" "/nix/store" "/var" "/var/log" "/var/lib" "/var/lib/nixos" "/etc" "/usr" ];
  fsNeededForBoot = fs: fs.neededForBoot || lib.elem fs.mountPoint pathsNeededForBoot;
  # Check whenever `b` depends on `a` as a fileSystem
  fsBefore = a: b:
    let
      normalisePath = path: "${path}${lib.optionalString (!(lib.hasSuffix "/" path)) "/"}";
      normalise = mount: mount // {
        device = normalisePath (toString mount.device);
        mountPoint = normalisePath mount.mountPoint;
        depends = map normalisePath mount.depends;
      };
      a' = normalise a;
      b' = normalise b;
    in
    lib.hasPrefix a'.mountPoint b'.device
    || lib.hasPrefix a'.mountPoint b'.mountPoint
    || lib.any (lib.hasPrefix a'.mountPoint) b'.depends;

  addCheckDesc = desc: elemType: check:
    types.addCheck elemType check // { description = "${elemType.description} (with check: ${desc})"; };
  isNonEmpty = s: (builtins.match "[ \t\n]*" s) == null;
  nonEmptyStr = addCheckDesc "non-empty" types.str isNonEmpty;
  nonEmptyWithoutTrailingSlash = addCheckDesc "non-empty without trailing slash" types.str
    (s: isNonEmpty s && (builtins.match ".+/" s) == null);

  fileSystems' = lib.toposort fsBefore (lib.attrValues config.fileSystems);
  # use topologically sorted fileSystems everywhere
  fileSystems = fileSystems'.result or (lib.attrValues config.fileSystems);

  coreFileSystemOpts = { name, config, ... }: {
    options = {
      enable = lib.mkEnableOption "the filesystem mount" // { default = true; };
      mountPoint = mkOption {
        example = "/mnt/usb";
        type = nonEmptyWithoutTrailingSlash;
        default = name;
        description = "Location where the file system will be mounted.";
      };
      device = mkOption {
        default = null;
        example = "/dev/sda";
        type = types.nullOr nonEmptyStr;
        description = "The device as passed to `mount`.";
      };
      fsType = mkOption {
        default = "auto";
        example = "ext3";
        type = nonEmptyStr;
        description = "Type of the file system.";
      };
      options = mkOption {
        default = [ "defaults" ];
        example = [ "data=journal" ];
        type = types.nonEmptyListOf nonEmptyStr;
        description = "Options used to mount the file system.";
      };
      depends = mkOption {
        default = [ ];
        example = [ "/persist" ];
        type = types.listOf nonEmptyWithoutTrailingSlash;
        description = "List of paths that should be mounted before this one.";
      };
    };
    config.device = mkIf (lib.elem config.fsType [ "proc" "sysfs" "tmpfs" "ramfs" "devtmpfs" "devpts" ])
      (mkDefault config.fsType);
  };

  fileSystemOpts = { config, ... }: {
    options = {
      label = mkOption {
        default = null;
        type = types.nullOr nonEmptyStr;
        description = "Label of the device (if any).";
      };
      autoFormat = mkOption {
        default = false;
        type = types.bool;
        description = "If the device does not currently contain a filesystem, create one.";
      };
      autoResize = mkOption {
        default = false;
        type = types.bool;
        description = "If set, the filesystem is grown to its maximum size before being mounted.";
      };
      noCheck = mkOption {
        default = false;
        type = types.bool;
        description = "Disable running fsck on this filesystem.";
      };
      # stage-1.nix
      neededForBoot = mkOption {
        default = false;
        type = types.bool;
        description = "If set, this file system will be mounted in the initial ramdisk.";
      };
    };
    config.device = mkIf (config.label != null) (mkDefault "/dev/disk/by-label/${config.label}");
    config.options =
      let inInitrd = fsNeededForBoot config;
      in
      mkMerge [
        (mkIf config.autoResize [ "x-systemd.growfs" ])
        (mkIf config.autoFormat [ "x-systemd.makefs" ])
        (mkIf (fsNeededForBoot config) [ "x-initrd.mount" ])
        (mkIf
          # With scripted stage 1, depends is implemented by sorting 'config.system.build.fileSystems'
          (lib.length config.depends > 0 && (inInitrd -> moduleArgs.config.boot.initrd.systemd.enable))
          (map (x: "x-systemd.requires-mounts-for=${lib.optionalString inInitrd "/sysroot"}${x}") config.depends))
      ];
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
      apply = lib.filterAttrs (_: fs: fs.enable);
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
    system.build.fileSystems = fileSystems;
    # Not a nixpkgs attribute, a test aid: the file systems the initrd mounts, in the order it
    # mounts them (stage-1.nix's fsInfo and the systemd initrd's fstab are made of these).
    system.build.initrdFileSystems = lib.filter fsNeededForBoot fileSystems;

    boot.supportedFilesystems = map (fs: fs.fsType) fileSystems;
    boot.initrd.supportedFilesystems = map (fs: fs.fsType) (lib.filter fsNeededForBoot fileSystems);

    assertions = [{
      assertion = !(fileSystems' ? cycle);
      message = "The ‘fileSystems’ option can't be topologically sorted.";
    }]
    ++ map
      (fs: {
        assertion = fs.label != null -> fs.device == "/dev/disk/by-label/${fs.label}";
        message = "The filesystem with mount point ${fs.mountPoint} has its label and device set to inconsistent values.";
      })
      fileSystems
    # stage-1.nix
    ++ [{
      assertion = lib.any (fs: fs.mountPoint == "/") fileSystems;
      message = "The ‘fileSystems’ option does not specify your root file system.";
    }];
  };
}
