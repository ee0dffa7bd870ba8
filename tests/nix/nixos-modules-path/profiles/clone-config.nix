# nixos/modules/profiles/clone-config.nix (its option)
{ lib, ... }:
{
  options.installer.cloneConfig = lib.mkOption {
    default = true;
    type = lib.types.bool;
    description = "Try to clone the installation-device configuration by re-using it's profile from the list of imported modules.";
  };
}
