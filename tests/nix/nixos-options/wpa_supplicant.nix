# nixos/modules/services/networking/wpa_supplicant.nix
{ lib, ... }:
{
  options.networking.wireless.enable = lib.mkOption {
    type = lib.types.bool;
    default = false;
    description = "Whether to enable wpa_supplicant.";
  };
}
