# nixos/modules/misc/assertions.nix
{ lib, ... }:
let
  inherit (lib) mkOption types;
in
{
  options = {
    assertions = mkOption {
      type = types.listOf types.unspecified;
      internal = true;
      default = [ ];
      description = "Assertions: the system is not built while one of them is false.";
    };
    warnings = mkOption {
      internal = true;
      default = [ ];
      type = types.listOf types.str;
      description = "Warnings printed when the system is built.";
    };
  };
}
