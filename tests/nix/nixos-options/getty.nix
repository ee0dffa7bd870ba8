# nixos/modules/services/ttys/getty.nix
{ lib, ... }:
let
  inherit (lib) mkOption types;
in
{
  options.services.getty = {
    autologinUser = mkOption {
      type = types.nullOr types.str;
      default = null;
      description = "Username of the account that will be automatically logged in at the console.";
    };
    helpLine = mkOption {
      type = types.lines;
      default = "";
      description = "Help line printed by mingetty below the welcome line.";
    };
  };
}
