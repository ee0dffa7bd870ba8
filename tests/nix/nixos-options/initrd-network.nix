# nixos/modules/system/boot/initrd-network.nix
{ config, lib, ... }:
let
  inherit (lib) mkOption types;
in
{
  options.boot.initrd.network = {
    enable = mkOption {
      type = types.bool;
      default = false;
      description = "Add network connectivity support to initrd.";
    };
    flushBeforeStage2 = mkOption {
      type = types.bool;
      default = !config.boot.initrd.systemd.enable;
      description = "Whether to clear the configuration of the interfaces that were set up in the initrd.";
    };
    udhcpc.enable = mkOption {
      type = types.bool;
      default = config.networking.useDHCP && !config.boot.initrd.systemd.enable;
      description = "Enables the udhcpc service during stage 1 of the boot process.";
    };
    udhcpc.extraArgs = mkOption {
      type = types.listOf types.str;
      default = [ ];
      description = "Additional command-line arguments passed verbatim to udhcpc.";
    };
    postCommands = mkOption {
      type = types.lines;
      default = "";
      description = "Shell commands to be executed after stage 1 of the boot has initialised the network.";
    };
  };
}
