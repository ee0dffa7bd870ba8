# The unit options of nixos/lib/systemd-unit-options.nix (types and checks from
# nixos/lib/systemd-lib.nix), the subset the project's services use; imported by
# ../nixos-options/systemd.nix and ../nixos-options/systemd-initrd.nix.
{ lib }:
let
  inherit (lib) mkIf mkMerge mkOption types;

  unitNameType = types.strMatching
    "[a-zA-Z0-9@%:_.\\-]+[.](service|socket|device|mount|automount|swap|target|path|timer|scope|slice)";

  unitOption = lib.mkOptionType {
    name = "systemd option";
    merge = loc: defs:
      let defs' = lib.filterOverrides defs;
      in
      if lib.isList (lib.head defs').value
      then lib.concatMap (def: if builtins.typeOf def.value == "list" then def.value
        else throw "The definitions for systemd unit options should be either all lists or all non-lists (${lib.showOption loc})") defs'
      else lib.mergeEqualOption loc defs';
  };

  checkService = group:
    (!(group ? Type) || lib.elem group.Type [ "exec" "simple" "forking" "oneshot" "dbus" "notify" "notify-reload" "idle" ])
    && (!(group ? Restart) || lib.elem group.Restart [ "no" "on-success" "on-failure" "on-abnormal" "on-abort" "always" ]);

  unitList = description: mkOption {
    default = [ ];
    type = types.listOf unitNameType;
    inherit description;
  };

  commonUnitOptions = {
    options = {
      enable = mkOption {
        default = true;
        type = types.bool;
        description = "If set to false, this unit will be a symlink to /dev/null.";
      };
      description = mkOption {
        default = "";
        type = types.singleLineStr;
        description = "Description of this unit used in systemd messages and progress indicators.";
      };
      requiredBy = unitList "Units that require this unit.";
      wantedBy = unitList "Units that want this unit.";
      requires = unitList "Start the specified units when this unit is started.";
      wants = unitList "Start the specified units when this unit is started.";
      after = unitList "Order this unit after the specified units.";
      before = unitList "Order this unit before the specified units.";
      conflicts = unitList "Stop this unit when the specified units are started.";
      unitConfig = mkOption {
        default = { };
        type = types.attrsOf unitOption;
        description = "Each attribute in this set specifies an option in the `[Unit]` section.";
      };
    };
  };

  serviceOptions = { name, config, ... }: {
    options = {
      environment = mkOption {
        default = { };
        type = with types; attrsOf (nullOr (oneOf [ str path package ]));
        description = "Environment variables passed to the service's processes.";
      };
      path = mkOption {
        default = [ ];
        type = with types; listOf (oneOf [ package str ]);
        description = "Packages added to the service's PATH environment variable.";
      };
      serviceConfig = mkOption {
        default = { };
        type = types.addCheck (types.attrsOf unitOption) checkService;
        description = "Each attribute in this set specifies an option in the `[Service]` section.";
      };
      script = mkOption {
        type = types.lines;
        default = "";
        description = "Shell commands executed as the service's main process.";
      };
      preStart = mkOption {
        type = types.lines;
        default = "";
        description = "Shell commands executed before the service's main process is started.";
      };
    };
    # makeJobScript: the script becomes ExecStart (a store path named after the unit).
    config = mkMerge [
      (mkIf (config.script != "") {
        serviceConfig.ExecStart = "${builtins.storeDir}/${builtins.substring 0 32 (builtins.hashString "sha256" config.script)}-unit-script-${name}-start/bin/${name}-start ";
      })
      (mkIf (config.preStart != "") {
        serviceConfig.ExecStartPre = [ "${builtins.storeDir}/${builtins.substring 0 32 (builtins.hashString "sha256" config.preStart)}-unit-script-${name}-pre-start/bin/${name}-pre-start" ];
      })
    ];
  };
in
{
  stage2ServiceOptions = {
    imports = [ commonUnitOptions serviceOptions ];
    options.restartIfChanged = mkOption {
      type = types.bool;
      default = true;
      description = "Whether the service should be restarted during a NixOS configuration switch if its definition has changed.";
    };
  };
  stage1ServiceOptions = {
    imports = [ commonUnitOptions serviceOptions ];
  };
}
