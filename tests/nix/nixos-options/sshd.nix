# nixos/modules/services/networking/ssh/sshd.nix (the options the project's modules set, and the
# per-user authorized keys)
{ lib, ... }:
let
  inherit (lib) mkOption types;

  userOptions = {
    options.openssh.authorizedKeys = {
      keys = mkOption {
        type = types.listOf types.singleLineStr;
        default = [ ];
        description = "A list of verbatim OpenSSH public keys that should be added to the user's authorized keys.";
      };
      keyFiles = mkOption {
        type = types.listOf types.path;
        default = [ ];
        description = "A list of files each containing one OpenSSH public key.";
      };
    };
  };
in
{
  options = {
    users.users = mkOption {
      type = with types; attrsOf (submodule userOptions);
    };

    services.openssh = {
      enable = mkOption {
        type = types.bool;
        default = false;
        description = "Whether to enable the OpenSSH secure shell daemon.";
      };
      openFirewall = mkOption {
        type = types.bool;
        default = true;
        description = "Whether to automatically open the specified ports in the firewall.";
      };
      ports = mkOption {
        type = types.listOf types.port;
        default = [ 22 ];
        description = "Specifies on which ports the SSH daemon listens.";
      };
      hostKeys = mkOption {
        type = types.listOf types.attrs;
        default = [
          { type = "rsa"; bits = 4096; path = "/etc/ssh/ssh_host_rsa_key"; }
          { type = "ed25519"; path = "/etc/ssh/ssh_host_ed25519_key"; }
        ];
        description = "NixOS can automatically generate SSH host keys.";
      };
      settings = mkOption {
        description = "Configuration for sshd_config(5).";
        default = { };
        type = types.submodule {
          freeformType = with types;
            attrsOf (nullOr (oneOf [ bool int str (listOf str) (attrsOf (oneOf [ bool int str ])) ]));
          options = {
            PasswordAuthentication = mkOption {
              type = types.bool;
              default = true;
              description = "Specifies whether password authentication is allowed.";
            };
            KbdInteractiveAuthentication = mkOption {
              type = types.bool;
              default = true;
              description = "Specifies whether keyboard-interactive authentication is allowed.";
            };
            PermitRootLogin = mkOption {
              default = "prohibit-password";
              type = types.enum [ "yes" "without-password" "prohibit-password" "forced-commands-only" "no" ];
              description = "Whether the root user can login using ssh.";
            };
          };
        };
      };
    };
  };
}
