# nixos/modules/system/etc/etc-activation.nix
{ lib, ... }:
{
  options.system.etc.overlay.enable = lib.mkOption {
    type = lib.types.bool;
    default = false;
    description = "Mount /etc as an overlayfs instead of generating it via a perl script.";
  };
}
