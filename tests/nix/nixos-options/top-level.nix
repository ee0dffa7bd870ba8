# nixos/modules/system/activation/top-level.nix
{ config, lib, pkgs, ... }:
let
  inherit (lib) mkOption types;
in
{
  # The system derivation, a fake one: what it would hold is kept as attributes for the tests.
  config.system.build.toplevel = pkgs.runCommand "nixos-system-${config.networking.hostName}" {
    inherit (config.system) extraDependencies;
  } "";

  options.system = {
    build = mkOption {
      default = { };
      type = types.submoduleWith {
        modules = [{ freeformType = with types; lazyAttrsOf (uniq unspecified); }];
      };
      description = "Attribute set of derivations used to set up the system.";
    };
    extraDependencies = mkOption {
      type = types.listOf types.pathInStore;
      default = [ ];
      description = "A list of paths that should be included in the system closure but generally not visible to users.";
    };
    forbiddenDependenciesRegexes = mkOption {
      default = [ ];
      example = [ "-dev$" ];
      type = types.listOf types.str;
      description = "POSIX Extended Regular Expressions that match store paths that should not appear in the system closure.";
    };
  };
}
