# The flake of one host installed by nixremote.
#
# runtime-info.json  what nixremote learned about the machine (network, disk, boot mode); read by
#                    nixremote's NixOS modules, not meant to be edited by hand
# configuration.nix  your changes to the system
# plugins/           modules and files that hoster plugins added (rewritten by nixremote)
# flake.lock         pins nixremote and nixpkgs to the copies the installer carried (written by
#                    nixremote install; store paths the installed system keeps), so neither the
#                    install nor a rebuild on the host downloads them
#
# On the host, after editing /etc/nixos/configuration.nix:
#   nixos-rebuild switch --flake /etc/nixos#installed
# (/etc/nixos is a bind mount of /persist/etc/nixos; the Nix registry names it `installed`, so
# `--flake installed#installed` is the same). `nix flake update` in /etc/nixos moves nixpkgs along
# the branch nixremote follows; nixremote.url below names nixremote's flake in the Nix registry,
# which on the host is the one it was installed with: point it at a repository to follow one.
{
  description = "A NixOS host installed by nixremote";

  inputs = {
    nixremote.url = "flake:nixremote";
    nixpkgs.follows = "nixremote/nixpkgs";
    # nixremote:extra-inputs (inputs added by plugins go here)
  };

  outputs =
    inputs@{ self, nixremote, ... }:
    {
      nixosConfigurations.installed = nixremote.lib.makeSystem {
        runtimeInfo = ./runtime-info.json;
        flake = self;
        # every input reaches the modules as the module argument `inputs`
        specialArgs = { inherit inputs; };
        modules = [
          ./configuration.nix
          # nixremote:extra-modules (lines added by hoster plugins go here)
        ];
      };
    };
}
