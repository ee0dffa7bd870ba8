# nixos/modules/tasks/network-interfaces.nix (host name, host id, domain, DHCP, nameservers, and the
# host id assertion)
{ config, lib, ... }:
let
  inherit (lib) mkOption types;
  cfg = config.networking;
  isHexString = s: lib.all (c: lib.elem c (lib.stringToCharacters "0123456789abcdef"))
    (lib.stringToCharacters (lib.toLower s));
in
{
  options.networking = {
    hostName = mkOption {
      default = config.system.nixos.distroId;
      # Only allow hostnames without the domain name part (i.e. no FQDNs, see e.g. "man 5
      # hostname") and require valid DNS labels (recommended syntax).
      type = types.strMatching "^$|^[[:alnum:]]([[:alnum:]_-]{0,61}[[:alnum:]])?$";
      description = "The name of the machine.";
    };
    hostId = mkOption {
      default = null;
      example = "4e98920d";
      type = types.nullOr types.str;
      description = "The 32-bit host ID of the machine, formatted as 8 hexadecimal characters.";
    };
    domain = mkOption {
      default = null;
      example = "home.arpa";
      type = types.nullOr types.str;
      description = "The domain.";
    };
    nameservers = mkOption {
      type = types.listOf types.str;
      default = [ ];
      description = "The list of nameservers.";
    };
    useDHCP = mkOption {
      type = types.bool;
      default = true;
      description = "Whether to use DHCP to obtain an IP address and other configuration for all network interfaces that do not have any manually configured IPv4 addresses.";
    };
    useNetworkd = mkOption {
      default = false;
      type = types.bool;
      description = "Whether we should use networkd as the network configuration backend or the legacy script based system.";
    };
  };

  config.assertions = [{
    assertion = cfg.hostId == null || (builtins.stringLength cfg.hostId == 8 && isHexString cfg.hostId);
    message = "Invalid value given to the networking.hostId option.";
  }];
}
