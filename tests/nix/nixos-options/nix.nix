# nixos/modules/config/nix.nix and nixos/modules/config/nix-channel.nix (the options the project
# sets or that nixpkgs-flake.nix sets)
{ lib, ... }:
let
  inherit (lib) mkOption types;
  confAtom = with types; nullOr (oneOf [ bool int float str path package ]);
  semanticConfType = with types; attrsOf (either confAtom (listOf confAtom));
in
{
  options.nix = {
    enable = mkOption {
      type = types.bool;
      default = true;
      description = "Whether to enable Nix.";
    };
    settings = mkOption {
      type = types.submodule {
        freeformType = semanticConfType;
        options = {
          trusted-users = mkOption {
            type = types.listOf types.str;
            default = [ "root" ];
            description = "A list of names of users that have additional rights.";
          };
          allowed-users = mkOption {
            type = types.listOf types.str;
            default = [ "*" ];
            description = "A list of names of users that are allowed to connect to the Nix daemon.";
          };
        };
      };
      default = { };
      description = "Configuration for Nix (nix.conf).";
    };
    # nix-channel.nix
    nixPath = mkOption {
      type = types.listOf types.str;
      default = [ ];
      description = "The default Nix expression search path (NIX_PATH).";
    };
    channel.enable = mkOption {
      type = types.bool;
      default = true;
      description = "Whether the nix-channel command and state files are made available.";
    };
  };
}
