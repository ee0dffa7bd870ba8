# The root reset: `rpool/local/root` is rolled back to `@blank` on every boot, so / holds only what
# NixOS creates at boot. What must survive lives under /persist:
#   /persist/etc/ssh            host keys (ssh.nix)
#   /persist/etc/secrets/initrd the initrd's SSH host key (zfs.nix)
#   /persist/etc/nixos          the host flake (bind-mounted on /etc/nixos, core.nix)
#   /persist/etc/machine-id     the machine id (/etc/machine-id points there)
#   and the directories of `nixremote.impermanence.directories` (/var/lib/nixos, /var/lib/systemd,
#   /var/log), bind-mounted from /persist by the initrd, before stage 2 runs.
#
# Why bind mounts in the initrd and not symlinks made by the activation script: stage 2 creates
# /var/log (and writes to it) before the activation script runs, so after the rollback a
# symlink could never replace it and the journal was lost on every boot. A file system that is
# needed for boot is mounted by stage 1 (scripted initrd: stage-1-init.sh takes a device path
# outside /dev relative to the new root; systemd initrd: /sysroot is prefixed to the source of a
# bind mount), so every directory is in place before anything in stage 2 writes to it, and
# /var/lib/nixos (user and group ids) is there before the activation allocates ids.
#
# A bind mount fails the boot when its source is missing, so right after the rollback the initrd
# mounts the persist dataset for a moment and creates the sources (a fresh pool, or a directory
# added to the list later).
{ config, lib, ... }:
let
  inherit (lib) concatMapStringsSep escapeShellArg mkAfter mkIf mkMerge mkOption types;
  cfg = config.nixremote.impermanence;
  persist = config.nixremote.persistDir;
  pool = config.nixremote.zfs.pool;
  persistDataset = config.fileSystems.${persist}.device;
  systemdInitrd = config.boot.initrd.systemd.enable;

  # Runs in either initrd after the pool is imported and unlocked, before / is mounted.
  rollbackScript = ''
    zfs rollback -r ${escapeShellArg cfg.snapshot} && echo "nixremote: root rolled back to "${escapeShellArg cfg.snapshot}
    mkdir -p /run/nixremote-persist
    if mount -t zfs ${escapeShellArg persistDataset} /run/nixremote-persist; then
      mkdir -p ${concatMapStringsSep " " (dir: escapeShellArg "/run/nixremote-persist${dir}") cfg.directories}
      umount /run/nixremote-persist
    else
      echo "nixremote: cannot mount ${persistDataset} to create the persisted directories" >&2
    fi
  '';
in
{
  options.nixremote.impermanence = {
    enable = mkOption {
      type = types.bool;
      default = config.nixremote.runtimeInfo != null && config.nixremote.zfs.enable;
      defaultText = "true on hosts installed by nixremote";
      description = "Roll the root dataset back to its @blank snapshot on every boot.";
    };
    snapshot = mkOption {
      type = types.str;
      default = "${pool}/local/root@blank";
      description = "The snapshot the root is rolled back to.";
    };
    directories = mkOption {
      type = types.listOf (types.strMatching "/[^[:space:][:cntrl:]]*[^/[:space:][:cntrl:]]");
      default = [ "/var/lib/nixos" "/var/lib/systemd" "/var/log" ];
      description = ''
        Directories kept under the persist directory and bind-mounted into place by the initrd
        (absolute paths without a trailing slash).
      '';
    };
    rollbackScript = mkOption {
      type = types.lines;
      internal = true;
      readOnly = true;
      default = rollbackScript;
      description = "The shell commands the initrd runs after unlocking the pool (for tests and reading).";
    };
  };

  config = mkIf cfg.enable (mkMerge [
    (mkIf (!systemdInitrd) {
      # After the pool is imported and unlocked (the ZFS module imports in postDeviceCommands).
      boot.initrd.postResumeCommands = mkAfter rollbackScript;
    })
    (mkIf systemdInitrd {
      boot.initrd.systemd.services.nixremote-rollback = {
        description = "Roll the root back to ${cfg.snapshot}";
        wantedBy = [ "initrd.target" ];
        after = [ "zfs-import-${pool}.service" ];
        before = [ "sysroot.mount" ];
        path = [ config.boot.zfs.package ];
        unitConfig.DefaultDependencies = "no";
        serviceConfig.Type = "oneshot";
        # `path` makes PATH zfs's alone; mkdir, mount and umount are in the initrd's /bin.
        script = ''
          PATH="$PATH:/bin"
        '' + rollbackScript;
      };
    })
    {
      fileSystems = lib.listToAttrs (map
        (dir: {
          name = dir;
          value = {
            device = "${persist}${dir}";
            fsType = "none";
            options = [ "bind" ];
            depends = [ persist ];
            neededForBoot = true;
          };
        })
        cfg.directories);

      environment.etc."machine-id".source = "${persist}/etc/machine-id";

      # Before "etc", which links /etc/machine-id to it.
      system.activationScripts."00-nixremote-persist" = {
        deps = [ "specialfs" ];
        text = ''
          if [ ! -s ${persist}/etc/machine-id ]; then
            mkdir -p ${persist}/etc
            head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n' > ${persist}/etc/machine-id
            echo >> ${persist}/etc/machine-id
          fi
        '';
      };
    }
  ]);
}
