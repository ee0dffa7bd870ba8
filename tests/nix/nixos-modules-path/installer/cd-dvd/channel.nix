# nixos/modules/installer/cd-dvd/channel.nix (its option)
{ lib, ... }:
{
  options.system.installer.channel.enable = lib.mkOption {
    default = true;
    type = lib.types.bool;
    description = "Whether to include the NixOS channel in the installation image.";
  };
}
