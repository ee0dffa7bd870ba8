# nixos/modules/misc/nixpkgs.nix (hostPlatform and overlays)
{ lib, ... }:
let
  inherit (lib) mkOption types;
  overlayType = lib.mkOptionType {
    name = "nixpkgs-overlay";
    description = "nixpkgs overlay";
    check = lib.isFunction;
    merge = lib.mergeOneOption;
  };
in
{
  options.nixpkgs = {
    hostPlatform = mkOption {
      type = types.either types.str types.attrs;
      example = { system = "aarch64-linux"; };
      apply = lib.systems.elaborate;
      description = "Specifies the platform where the NixOS configuration will run.";
    };
    overlays = mkOption {
      default = [ ];
      type = types.listOf overlayType;
      description = "List of overlays to apply to Nixpkgs.";
    };
  };
}
