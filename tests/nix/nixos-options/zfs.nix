# nixos/modules/tasks/filesystems/zfs.nix (the options the project sets or reads, and the
# assertions)
{ config, lib, pkgs, ... }:
let
  inherit (lib) mkOption types;
  cfgZfs = config.boot.zfs;
  inInitrd = config.boot.initrd.supportedFilesystems.zfs or false;
  inSystem = config.boot.supportedFilesystems.zfs or false;
in
{
  options = {
    boot.zfs = {
      package = mkOption {
        type = types.package;
        default = pkgs.zfs;
        description = "Configured ZFS userland tools package.";
      };
      extraPools = mkOption {
        type = types.listOf types.str;
        default = [ ];
        description = "Name or GUID of extra ZFS pools that you wish to import during boot.";
      };
      devNodes = mkOption {
        type = types.path;
        default = "/dev/disk/by-id";
        description = "Name of directory from which to import ZFS device, this is passed to `zpool import` as the value of the `-d` option.";
      };
      forceImportRoot = mkOption {
        type = types.bool;
        default = true;
        description = "Forcibly import the ZFS root pool(s) during early boot.";
      };
      forceImportAll = mkOption {
        type = types.bool;
        default = false;
        description = "Forcibly import all ZFS pool(s).";
      };
      requestEncryptionCredentials = mkOption {
        type = types.either types.bool (types.listOf types.str);
        default = true;
        description = "If true on import encryption keys or passwords for all encrypted datasets are requested.";
      };
    };

    services.zfs = {
      autoScrub.enable = lib.mkEnableOption "periodic scrubbing of ZFS pools";
      trim.enable = mkOption {
        description = "Whether to enable periodic TRIM on all ZFS pools.";
        default = true;
        type = types.bool;
      };
    };
  };

  config = lib.mkIf (inInitrd || inSystem) {
    assertions = [
      {
        assertion = config.networking.hostId != null;
        message = "ZFS requires networking.hostId to be set";
      }
      {
        assertion = !cfgZfs.forceImportAll || cfgZfs.forceImportRoot;
        message = "If you enable boot.zfs.forceImportAll, you must also enable boot.zfs.forceImportRoot";
      }
    ];
    boot.loader.grub = lib.mkIf inInitrd { zfsSupport = true; };
  };
}
