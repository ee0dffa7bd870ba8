# nixos/modules/config/system-path.nix
{ lib, ... }:
let
  inherit (lib) mkOption types;
in
{
  options.environment = {
    systemPackages = mkOption {
      type = types.listOf types.package;
      default = [ ];
      description = "The set of packages that appear in /run/current-system/sw.";
    };
    defaultPackages = mkOption {
      type = types.listOf types.package;
      default = [ ];
      description = "Set of default packages that aren't strictly necessary for a running system.";
    };
  };
}
