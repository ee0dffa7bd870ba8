# nixos/modules/system/boot/systemd/initrd.nix: systemd in the initrd (its switch, its services,
# its files).
{ lib, ... }:
let
  inherit (lib) mkOption types;
  units = import ../nixos-eval/systemd-units.nix { inherit lib; };
in
{
  options.boot.initrd.systemd = {
    enable = mkOption {
      type = types.bool;
      default = false;
      description = "Whether to enable systemd in initrd.";
    };
    services = mkOption {
      default = { };
      type = types.attrsOf (types.submodule [ units.stage1ServiceOptions ]);
      description = "Definition of systemd service units in the initrd.";
    };
    contents = mkOption {
      default = { };
      description = "Set of files that have to be linked into the initrd.";
      type = types.attrsOf (types.submodule ({ config, ... }: {
        options = {
          enable = mkOption {
            type = types.bool;
            default = true;
            description = "Whether to enable copying of this file and symlinking it.";
          };
          text = mkOption {
            default = null;
            type = types.nullOr types.lines;
            description = "Text of the file.";
          };
          source = mkOption {
            type = types.nullOr types.path;
            default = null;
            description = "Path of the source file.";
          };
        };
      }));
    };
    storePaths = mkOption {
      default = [ ];
      type = types.listOf (types.either types.singleLineStr types.package);
      description = "Store paths to copy into the initrd as well.";
    };
  };
}
