# nixos/modules/config/nix-flakes.nix (whole)
{ config, lib, ... }:
let
  inherit (lib) filterAttrs mapAttrsToList mkDefault mkIf mkOption types;
  cfg = config.nix;
in
{
  options.nix.registry = mkOption {
    type = types.attrsOf (types.submodule (
      let
        referenceAttrs = with types; attrsOf (oneOf [ str int bool path package ]);
      in
      { config, name, ... }:
      {
        options = {
          from = mkOption {
            type = referenceAttrs;
            description = "The flake reference to be rewritten.";
          };
          to = mkOption {
            type = referenceAttrs;
            description = "The flake reference `from` is rewritten to.";
          };
          flake = mkOption {
            type = types.nullOr types.attrs;
            default = null;
            description = "The flake input `from` is rewritten to.";
          };
          exact = mkOption {
            type = types.bool;
            default = true;
            description = "Whether the `from` reference needs to match exactly.";
          };
        };
        config = {
          from = mkDefault { type = "indirect"; id = name; };
          to = mkIf (config.flake != null) (mkDefault (
            {
              type = "path";
              path = config.flake.outPath;
            } // filterAttrs
              (n: _: n == "lastModified" || n == "rev" || n == "revCount" || n == "narHash")
              config.flake
          ));
        };
      }
    ));
    default = { };
    description = "A system-wide flake registry.";
  };

  config = mkIf cfg.enable {
    environment.etc."nix/registry.json".text = builtins.toJSON {
      version = 2;
      flakes = mapAttrsToList (n: v: { inherit (v) from to exact; }) cfg.registry;
    };
  };
}
