# The flake of one host installed by nixremote.
#
# runtime-info.json  what nixremote learned about the machine (network, disk, boot mode); read by
#                    nixremote's NixOS modules, not meant to be edited by hand
# configuration.nix  your changes to the system
#
# On the host: nixos-rebuild switch --flake installed#installed
# (the flake registers itself as `installed` in the Nix registry; an editable copy lives in
# /etc/nixos, a bind mount of /persist/etc/nixos).
{
  description = "A NixOS host installed by nixremote";

  inputs = {
    nixremote.url = "github:nixremote/nixremote";
    nixpkgs.follows = "nixremote/nixpkgs";
  };

  outputs =
    { self, nixremote, ... }:
    {
      nixosConfigurations.installed = nixremote.lib.makeSystem {
        runtimeInfo = ./runtime-info.json;
        flake = self;
        modules = [
          ./configuration.nix
          # nixremote:extra-modules (lines added by hoster plugins go here)
        ];
      };
    };
}
