# nixos/modules/system/boot/initrd-ssh.nix: the options, the assertions, and how the scripted
# initrd writes the authorized keys (each one through lib.escapeShellArg).
{ config, lib, ... }:
let
  inherit (lib) mkIf mkOption types;
  cfg = config.boot.initrd.network.ssh;
  enabled =
    let initrd = config.boot.initrd;
    in (initrd.network.enable || initrd.systemd.network.enable) && cfg.enable;
in
{
  options.boot.initrd.network.ssh = {
    enable = mkOption {
      type = types.bool;
      default = false;
      description = "Start SSH service during initrd boot.";
    };
    port = mkOption {
      type = types.port;
      default = 22;
      description = "Port on which SSH initrd service should listen.";
    };
    shell = mkOption {
      type = types.nullOr types.str;
      default = null;
      description = "Login shell of the remote user.";
    };
    hostKeys = mkOption {
      type = types.listOf (types.either types.str types.path);
      default = [ ];
      description = "Specify SSH host keys to import into the initrd.";
    };
    ignoreEmptyHostKeys = mkOption {
      type = types.bool;
      default = false;
      description = "Allow leaving hostKeys empty, to deploy ssh host keys out of band.";
    };
    authorizedKeys = mkOption {
      type = types.listOf types.str;
      default = config.users.users.root.openssh.authorizedKeys.keys;
      description = "Authorized keys for the root user on initrd.";
    };
    authorizedKeyFiles = mkOption {
      type = types.listOf types.path;
      default = config.users.users.root.openssh.authorizedKeys.keyFiles;
      description = "Authorized keys taken from files for the root user on initrd.";
    };
    extraConfig = mkOption {
      type = types.lines;
      default = "";
      description = "Verbatim contents of sshd_config.";
    };
  };

  config = mkIf enabled {
    assertions = [
      {
        assertion = cfg.authorizedKeys != [ ] || cfg.authorizedKeyFiles != [ ];
        message = "You should specify at least one authorized key for initrd SSH";
      }
      {
        assertion = (cfg.hostKeys != [ ]) || cfg.ignoreEmptyHostKeys;
        message = ''
          You must now pre-generate the host keys for initrd SSH.
          See the boot.initrd.network.ssh.hostKeys documentation
          for instructions.
        '';
      }
    ];

    boot.initrd.network.postCommands = mkIf (!config.boot.initrd.systemd.enable) (''
      mkdir -p /root/.ssh
    '' + lib.concatStrings (map
      (key: ''
        echo ${lib.escapeShellArg key} >> /root/.ssh/authorized_keys
      '')
      cfg.authorizedKeys) + ''
      /bin/sshd -e
    '');

    boot.initrd.secrets = lib.listToAttrs (map (path: lib.nameValuePair path path) cfg.hostKeys);

    boot.initrd.systemd = mkIf config.boot.initrd.systemd.enable {
      users.sshd = { uid = 1; group = "sshd"; };
      groups.sshd = { gid = 1; };
      users.root.shell = mkIf (cfg.shell != null) cfg.shell;
    };
  };
}
