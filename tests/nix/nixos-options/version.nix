# nixos/modules/misc/version.nix (the options the project's modules set or read)
{ config, lib, ... }:
let
  inherit (lib) mkOption types;
  cfg = config.system.nixos;
in
{
  options.system = {
    nixos = {
      release = mkOption {
        readOnly = true;
        type = types.str;
        default = lib.trivial.release;
        description = "The NixOS release (e.g. `25.11`).";
      };
      distroId = mkOption {
        internal = true;
        type = types.str;
        default = "nixos";
        description = "The id of the operating system.";
      };
      variant_id = mkOption {
        type = types.nullOr (types.strMatching "^[a-z0-9._-]+$");
        default = null;
        description = "A lower-case string identifying a specific variant or edition.";
      };
    };
    stateVersion = mkOption {
      type = types.str;
      default = cfg.release;
      description = "The NixOS release whose defaults stateful data was created with.";
    };
    configurationRevision = mkOption {
      default = null;
      type = types.nullOr types.str;
      description = "The Git revision of the top-level flake from which this configuration was built.";
    };
  };
}
