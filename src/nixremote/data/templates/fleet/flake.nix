# A flake of many hosts installed by nixremote.
#
# Every directory hosts/<name>/ with a runtime-info.json is a host (add one with
# `nixremote fleet add . runtime-info.json`); hosts/<name>/configuration.nix is that host's own
# module, common.nix is shared by all. Nothing here needs editing to add a host; in a git
# repository, `git add hosts/<name>` (flakes only see tracked files).
#
# Deploy a host: nixos-rebuild switch --flake .#<name> --target-host root@<address>
#
# nixremote.url names nixremote's flake in the Nix registry (`nix registry add nixremote REF`), or
# `nixremote fleet init --nixremote-url REF` writes REF here.
{
  description = "NixOS hosts installed by nixremote";

  inputs = {
    nixremote.url = "flake:nixremote";
    nixpkgs.follows = "nixremote/nixpkgs";
  };

  outputs =
    { self, nixremote, ... }:
    {
      nixosConfigurations = nixremote.lib.makeFleet {
        hostsDir = ./hosts;
        flake = self;
        modules = [ ./common.nix ];
      };
    };
}
