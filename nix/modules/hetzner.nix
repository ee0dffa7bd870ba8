# Hetzner: what a host there needs beyond its runtime info. Enabled for runtime infos whose
# `hoster` is "hetzner" (the hetzner plugin also adds this module to the host flake).
{ config, lib, ... }:
let
  inherit (lib) mkDefault mkIf mkOption types;
  info = config.nixremote.runtimeInfo;
  cfg = config.nixremote.hetzner;
in
{
  options.nixremote.hetzner = {
    enable = mkOption {
      type = types.bool;
      default = info != null && (info.hoster or "") == "hetzner";
      defaultText = "true when runtimeInfo.hoster is \"hetzner\"";
      description = "Apply the Hetzner settings.";
    };
    cloud = mkOption {
      type = types.bool;
      default = ((info.hosterDetails or { }).network or "cloud") != "dedicated";
      defaultText = "true unless runtimeInfo.hosterDetails.network is \"dedicated\"";
      description = "A Hetzner Cloud server (a QEMU guest) rather than a dedicated one.";
    };
  };

  config = mkIf cfg.enable {
    # Hetzner's resolvers, when the runtime info brought none (they answer only from inside).
    networking.nameservers = mkDefault [
      "185.12.64.1"
      "185.12.64.2"
      "2a01:4ff:ff00::add:1"
      "2a01:4ff:ff00::add:2"
    ];
    services.qemuGuest.enable = mkDefault cfg.cloud;
    # Dedicated servers' NICs (Realtek, Broadcom) may need firmware; cloud servers' virtio never.
    hardware.enableRedistributableFirmware = mkDefault (!cfg.cloud);
    boot.initrd.availableKernelModules =
      if cfg.cloud then [ "virtio_pci" "virtio_scsi" "virtio_blk" "virtio_net" "sd_mod" "sr_mod" "ahci" ]
      else [ "ahci" "nvme" "sd_mod" "xhci_pci" "e1000e" "igb" "r8169" ];
    # The cloud console is VGA; dedicated servers often have a serial console on ttyS0 too.
    boot.kernelParams = [ "console=ttyS0,115200" "console=tty0" ];
  };
}
