# nixos/modules/system/etc/etc.nix: environment.etc
{ lib, pkgs, ... }:
let
  inherit (lib) mkDefault mkIf mkOption types;
in
{
  options.environment.etc = mkOption {
    default = { };
    description = "Set of files that have to be linked in /etc.";
    type = with types; attrsOf (submodule ({ name, config, options, ... }: {
      options = {
        enable = mkOption {
          type = types.bool;
          default = true;
          description = "Whether this /etc file should be generated.";
        };
        target = mkOption {
          type = types.str;
          description = "Name of symlink (relative to /etc).";
        };
        text = mkOption {
          default = null;
          type = types.nullOr types.lines;
          description = "Text of the file.";
        };
        source = mkOption {
          type = types.path;
          description = "Path of the source file.";
        };
        mode = mkOption {
          type = types.str;
          default = "symlink";
          description = "If set to something else than `symlink`, the file is copied instead of symlinked, with the given file mode.";
        };
      };
      config = {
        target = mkDefault name;
        source = mkIf (config.text != null) (
          let name' = "etc-" + lib.replaceStrings [ "/" ] [ "-" ] name;
          in lib.mkDerivedConfig options.text (pkgs.writeText name')
        );
      };
    }));
  };
}
