# nixos/modules/misc/nixpkgs-flake.nix (whole: `nixpkgs.lib.nixosSystem` sets
# `nixpkgs.flake.source = self.outPath`, which pins nixpkgs in the registry and NIX_PATH)
{ config, lib, ... }:
let
  cfg = config.nixpkgs.flake;
in
{
  options.nixpkgs.flake = {
    source = lib.mkOption {
      type = lib.types.nullOr (lib.types.either lib.types.str lib.types.path);
      default = null;
      description = "The path to the nixpkgs sources used to build the system.";
    };
    setNixPath = lib.mkOption {
      type = lib.types.bool;
      default = cfg.source != null;
      description = "Whether to set NIX_PATH to include `nixpkgs=flake:nixpkgs`.";
    };
    setFlakeRegistry = lib.mkOption {
      type = lib.types.bool;
      default = cfg.source != null;
      description = "Whether to pin nixpkgs in the system-wide flake registry.";
    };
  };

  config = lib.mkIf (cfg.source != null) (lib.mkMerge [
    {
      assertions = [{
        assertion = cfg.setNixPath -> cfg.setFlakeRegistry;
        message = "Setting `nixpkgs.flake.setNixPath` requires that `nixpkgs.flake.setFlakeRegistry` also be set.";
      }];
    }
    (lib.mkIf cfg.setFlakeRegistry {
      nix.registry.nixpkgs.to = lib.mkDefault {
        type = "path";
        path = cfg.source;
      };
    })
    (lib.mkIf cfg.setNixPath {
      nix.nixPath = lib.mkDefault (
        [ "nixpkgs=flake:nixpkgs" ]
        ++ lib.optional config.nix.channel.enable "/nix/var/nix/profiles/per-user/root/channels"
      );
    })
  ]);
}
