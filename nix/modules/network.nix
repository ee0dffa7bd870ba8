# The network of an installed host, from its runtime info (see ../lib/network.nix for the rules:
# systemd-networkd units matched by MAC, static addresses with on-link gateways, DHCP where the
# old system leased its address). The same addresses are configured in the initrd, for the SSH
# unlock.
{ config, lib, ... }:
let
  inherit (lib) mkBefore mkIf mkMerge mkOption types;
  cfg = config.nixremote;
  net = (import ../lib/network.nix).toNixos cfg.runtimeInfo;
  enabled = cfg.runtimeInfo != null && cfg.network.enable;
  systemdInitrd = config.boot.initrd.systemd.enable;
in
{
  options.nixremote.network.enable = mkOption {
    type = types.bool;
    default = true;
    description = "Configure host name, host id and network from nixremote.runtimeInfo.";
  };

  config = mkIf enabled (mkMerge [
    {
      networking = {
        inherit (net.networking) hostName hostId useDHCP useNetworkd;
        domain = mkIf (net.networking.domain != null) net.networking.domain;
        nameservers = mkIf (net.networking.nameservers != [ ]) net.networking.nameservers;
      };
      systemd.network = net.systemd.network;
      boot.initrd.availableKernelModules = net.boot.initrd.availableKernelModules;
    }
    (mkIf (!systemdInitrd) {
      boot.initrd.network = {
        udhcpc.enable = net.boot.initrd.network.udhcpc.enable;
        postCommands = mkIf (net.boot.initrd.network.postCommands != "")
          (mkBefore net.boot.initrd.network.postCommands);
      };
    })
    (mkIf systemdInitrd {
      boot.initrd.systemd.network = {
        enable = true;
        inherit (net.systemd.network) networks;
      };
    })
  ]);
}
