# sshd of an installed host: public keys only, root with `prohibit-password`, host keys in /persist
# (generated there by the installer, so they survive the root reset and their fingerprints are
# known before the first login).
{ config, lib, ... }:
let
  inherit (lib) mkDefault mkIf mkOption types;
  cfg = config.nixremote.ssh;
  persist = config.nixremote.persistDir;
in
{
  options.nixremote.ssh = {
    enable = mkOption {
      type = types.bool;
      default = config.nixremote.runtimeInfo != null;
      defaultText = "true when nixremote.runtimeInfo is set";
      description = "Run sshd with keys only and host keys under nixremote.persistDir.";
    };
    hostKeyDir = mkOption {
      type = types.str;
      default = "${persist}/etc/ssh";
      description = "Directory of the host keys (ssh_host_ed25519_key, ssh_host_rsa_key).";
    };
  };

  config = mkIf cfg.enable {
    services.openssh = {
      enable = true;
      openFirewall = true;
      settings = {
        PasswordAuthentication = false;
        KbdInteractiveAuthentication = false;
        PermitRootLogin = "prohibit-password";
      };
      hostKeys = [
        { type = "ed25519"; path = "${cfg.hostKeyDir}/ssh_host_ed25519_key"; }
        { type = "rsa"; bits = 4096; path = "${cfg.hostKeyDir}/ssh_host_rsa_key"; }
      ];
    };
    # /persist must be mounted before sshd reads its keys (it is: neededForBoot in zfs.nix).
    systemd.services.sshd.unitConfig.RequiresMountsFor = [ cfg.hostKeyDir ];
    security.sudo.wheelNeedsPassword = mkDefault true;
  };
}
