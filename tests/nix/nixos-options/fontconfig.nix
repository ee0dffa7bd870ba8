# nixos/modules/config/fonts/fontconfig.nix
{ lib, ... }:
{
  options.fonts.fontconfig.enable = lib.mkOption {
    type = lib.types.bool;
    default = true;
    description = "If enabled, a Fontconfig configuration file will be built.";
  };
}
