# nixos/modules/virtualisation/qemu-guest-agent.nix
{ lib, ... }:
{
  options.services.qemuGuest.enable = lib.mkOption {
    type = lib.types.bool;
    default = false;
    description = "Whether to enable the qemu guest agent.";
  };
}
