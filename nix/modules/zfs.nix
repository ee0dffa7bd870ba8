# The encrypted ZFS root of an installed host (the layout nixremote's disk plan creates):
#   GPT: part 2 BIOS boot (EF02), part 3 ESP (EF00, vfat, /boot), part 1 ZFS (BF01)
#   pool `rpool` (encryption=on, keyformat=passphrase, keylocation=prompt), all mountpoint=legacy:
#     rpool/local/root  /         (snapshot @blank: the root reset, see impermanence.nix)
#     rpool/local/nix   /nix
#     rpool/safe/home   /home
#     rpool/safe/persist /persist (neededForBoot: host keys, machine id, host flake)
# and the remote unlock: the initrd runs an SSH server on port 2222 (its host key lives in
# /persist/etc/secrets/initrd and is copied into the initrd when the boot loader is installed);
# `nixremote unlock HOST` gives it the passphrase on stdin (docs/unlock.md); by hand, with the
# scripted initrd (the default): `ssh -p 2222 root@host` asks for it, or non-interactively:
#   ssh -p 2222 root@host 'zfs load-key rpool && killall zfs' < keyfile
{ config, lib, ... }:
let
  inherit (lib) mkAfter mkDefault mkIf mkMerge mkOption types;
  cfg = config.nixremote.zfs;
  persist = config.nixremote.persistDir;
  disks = import ../lib/disks.nix;
  inherit (disks) partitionPath;
  systemdInitrd = config.boot.initrd.systemd.enable;
in
{
  options.nixremote.zfs = {
    enable = mkOption {
      type = types.bool;
      default = config.nixremote.runtimeInfo != null;
      defaultText = "true when nixremote.runtimeInfo is set";
      description = "Mount the root, /nix, /home and /persist from the ZFS pool.";
    };
    pool = mkOption {
      type = types.str;
      default = "rpool";
      description = "The pool name.";
    };
    espDevice = mkOption {
      type = types.str;
      default = partitionPath (builtins.head config.nixremote.boot.devices) 3;
      defaultText = "partition 3 of the first boot device";
      description = "The ESP mounted at /boot.";
    };
    encrypted = mkOption {
      type = types.bool;
      default = true;
      description = "Whether the pool is encrypted (asks for the key at boot).";
    };
    unlock = {
      enable = mkOption {
        type = types.bool;
        default = cfg.encrypted;
        defaultText = "nixremote.zfs.encrypted";
        description = "Run an SSH server in the initrd to enter the key remotely.";
      };
      port = mkOption {
        type = types.port;
        default = 2222;
        description = ''
          Port of the initrd SSH server. Not 22, so that clients keep two known_hosts entries
          (initrd and system) instead of warning about a changed host key.
        '';
      };
      hostKey = mkOption {
        type = types.str;
        default = "${persist}/etc/secrets/initrd/ssh_host_ed25519_key";
        description = ''
          The initrd SSH host key, a path on the installed system (a string, so it never enters
          the world-readable Nix store; the boot loader copies it into the initrd as a secret).
        '';
      };
      authorizedKeys = mkOption {
        type = types.listOf types.str;
        default = config.users.users.root.openssh.authorizedKeys.keys;
        defaultText = "root's authorized keys";
        description = "Keys allowed to unlock.";
      };
    };
  };

  config = mkIf cfg.enable (mkMerge [
    {
      boot.supportedFilesystems.zfs = true;
      boot.zfs = {
        requestEncryptionCredentials = cfg.encrypted;
        # by-id for by-id disks, by-partuuid for kernel names such as /dev/vda (../lib/disks.nix)
        devNodes = mkDefault (disks.devNodes config.nixremote.boot.devices);
        forceImportRoot = mkDefault false;
      };
      services.zfs = {
        autoScrub.enable = mkDefault true;
        trim.enable = mkDefault true;
      };

      fileSystems = {
        "/" = { device = "${cfg.pool}/local/root"; fsType = "zfs"; };
        "/nix" = { device = "${cfg.pool}/local/nix"; fsType = "zfs"; };
        "/home" = { device = "${cfg.pool}/safe/home"; fsType = "zfs"; };
        "${persist}" = {
          device = "${cfg.pool}/safe/persist";
          fsType = "zfs";
          neededForBoot = true;
        };
      }
      # partition 3 of every boot disk: /boot, /boot-fallback, ... (the disk layouts' mounts)
      // builtins.listToAttrs (lib.imap0
        (i: disk: {
          name = disks.bootMountPoint i;
          value = {
            device = if i == 0 then cfg.espDevice else disks.partitionPath disk 3;
            fsType = "vfat";
            options = [ "fmask=0077" "dmask=0077" "nofail" ];
          };
        })
        config.nixremote.boot.devices);
    }

    (mkIf cfg.unlock.enable {
      boot.initrd.network = {
        enable = true;
        ssh = {
          enable = true;
          inherit (cfg.unlock) port authorizedKeys;
          hostKeys = [ cfg.unlock.hostKey ];
        };
      };
    })

    # Scripted initrd (the default): a login asks for the key, then ends the waiting prompt.
    (mkIf (cfg.unlock.enable && !systemdInitrd) {
      boot.initrd.network.postCommands = mkAfter ''
        cat > /root/.profile <<'NIXREMOTE_EOF'
        if pgrep -x zfs > /dev/null; then
          zfs load-key -a && killall zfs
        else
          echo "zfs is not waiting for a key: the pool is unlocked or not imported yet"
        fi
        NIXREMOTE_EOF
      '';
    })

    # systemd initrd: zfs-import-<pool>.service asks through systemd-ask-password. root keeps
    # nixpkgs' shell (bash), so that commands run over SSH: `nixremote unlock` answers with
    # `systemd-tty-ask-password-agent --query` on a terminal; by hand:
    #   ssh -t -p 2222 root@host systemd-tty-ask-password-agent
  ]);
}
