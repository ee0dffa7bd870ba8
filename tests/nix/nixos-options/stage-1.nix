# nixos/modules/system/boot/stage-1.nix (the hooks and settings of the scripted initrd the project
# uses, and the file systems it mounts)
{ config, lib, ... }:
let
  inherit (lib) mkOption types;
in
{
  options.boot.initrd = {
    postDeviceCommands = mkOption {
      default = "";
      type = types.lines;
      description = "Shell commands to be executed immediately after stage 1 of the boot has loaded kernel modules and created device nodes in /dev.";
    };
    postResumeCommands = mkOption {
      default = "";
      type = types.lines;
      description = "Shell commands to be executed immediately after attempting to resume.";
    };
    postMountCommands = mkOption {
      default = "";
      type = types.lines;
      description = "Shell commands to be executed immediately after the stage 1 filesystems have been mounted.";
    };
    secrets = mkOption {
      default = { };
      type = types.attrsOf (types.nullOr types.path);
      description = "Secrets to append to the initrd.";
    };
    compressor = mkOption {
      default = "zstd";
      type = with types; either str (functionTo str);
      description = "The compressor to use on the initrd image.";
    };
    compressorArgs = mkOption {
      default = null;
      type = types.nullOr (types.listOf types.str);
      description = "Arguments to pass to the compressor for the initrd image.";
    };
  };
}
