# nixos/modules/system/boot/kernel.nix
{ lib, pkgs, ... }:
let
  inherit (lib) mkOption types;
in
{
  options.system.boot.loader.kernelFile = mkOption {
    internal = true;
    default = pkgs.stdenv.hostPlatform.linux-kernel.target;
    type = types.str;
    description = "Name of the kernel file to be passed to the bootloader.";
  };

  config.system.build.kernel = pkgs.linux;

  options.boot = {
    kernelParams = mkOption {
      type = types.listOf (types.strMatching ''([^"[:space:]]|"[^"]*")+'' // {
        name = "kernelParam";
        description = "string, with spaces inside double quotes";
      });
      default = [ ];
      description = "Parameters added to the kernel command line.";
    };
    kernelModules = mkOption {
      type = types.listOf types.str;
      default = [ ];
      description = "The set of kernel modules to be loaded in the second stage of the boot process.";
    };
    initrd.availableKernelModules = mkOption {
      type = types.listOf types.str;
      default = [ ];
      description = "The set of kernel modules in the initial ramdisk used during the boot process.";
    };
    initrd.kernelModules = mkOption {
      type = types.listOf types.str;
      default = [ ];
      description = "List of modules that are always loaded by the initrd.";
    };
  };
}
