# nixos/modules/security/sudo.nix
{ lib, ... }:
{
  options.security.sudo.wheelNeedsPassword = lib.mkOption {
    type = lib.types.bool;
    default = true;
    description = "Whether users of the wheel group must provide a password to run commands as super user via sudo.";
  };
}
