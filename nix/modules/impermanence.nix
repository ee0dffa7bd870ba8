# The root reset: `rpool/local/root` is rolled back to `@blank` on every boot, so / holds only what
# NixOS creates at boot. What must survive lives under /persist:
#   /persist/etc/ssh            host keys (ssh.nix)
#   /persist/etc/secrets/initrd the initrd's SSH host key (zfs.nix)
#   /persist/etc/nixos          the host flake (bind-mounted on /etc/nixos, core.nix)
#   /persist/etc/machine-id     the machine id (/etc/machine-id points there)
#   and the directories of `nixremote.impermanence.directories`, symlinked into place before
#   the rest of the activation runs (so /var/lib/nixos keeps user and group ids stable).
{ config, lib, ... }:
let
  inherit (lib) concatMapStrings mkAfter mkIf mkMerge mkOption types;
  cfg = config.nixremote.impermanence;
  persist = config.nixremote.persistDir;
  pool = config.nixremote.zfs.pool;
  systemdInitrd = config.boot.initrd.systemd.enable;
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
      type = types.listOf types.str;
      default = [ "/var/lib/nixos" "/var/lib/systemd" "/var/log" ];
      description = "Directories that are kept under the persist directory and linked into place.";
    };
  };

  config = mkIf cfg.enable (mkMerge [
    (mkIf (!systemdInitrd) {
      # After the pool is imported and unlocked (the ZFS module imports in postResumeCommands).
      boot.initrd.postResumeCommands = mkAfter ''
        zfs rollback -r ${cfg.snapshot} && echo "nixremote: root rolled back to ${cfg.snapshot}"
      '';
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
        script = "zfs rollback -r ${cfg.snapshot}";
      };
    })
    {
      environment.etc."machine-id".source = "${persist}/etc/machine-id";

      # "00-": activation scripts run in name order (after their dependencies), and "etc" pulls
      # in "users", which allocates user and group ids in /var/lib/nixos: link it before that.
      system.activationScripts."00-nixremote-persist" = {
        deps = [ "specialfs" ];
        text = ''
          if [ ! -s ${persist}/etc/machine-id ]; then
            mkdir -p ${persist}/etc
            head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n' > ${persist}/etc/machine-id
            echo >> ${persist}/etc/machine-id
          fi
        '' + concatMapStrings (dir: ''
          mkdir -p ${persist}${dir} "$(dirname ${dir})"
          if [ -L ${dir} ] || [ ! -e ${dir} ]; then
            ln -sfn ${persist}${dir} ${dir}
          else
            echo "nixremote: ${dir} is a real directory, not linking it to ${persist}${dir}" >&2
          fi
        '') cfg.directories;
      };
    }
  ]);
}
