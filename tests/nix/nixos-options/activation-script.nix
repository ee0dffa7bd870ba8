# nixos/modules/system/activation/activation-script.nix: system.activationScripts, their order
# (lib.textClosureMap over `deps`), and the nixpkgs snippets the project's scripts are ordered
# against ("specialfs"; "users" from users-groups.nix; "etc" from etc-activation.nix).
{ config, lib, ... }:
let
  inherit (lib) mkOption types;

  scriptType = types.submodule {
    options = {
      deps = mkOption {
        type = types.listOf types.str;
        default = [ ];
        description = "List of dependencies. The script will run after these.";
      };
      text = mkOption {
        type = types.lines;
        description = "The content of the script.";
      };
      supportsDryActivation = mkOption {
        type = types.bool;
        default = false;
        description = "Whether this activation script supports being dry-activated.";
      };
    };
  };
  noDepEntry = text: { inherit text; deps = [ ]; };
  # As activation-script.nix does it: each snippet with a headline, in the order of their deps
  # (textClosureMap fails for a dependency that does not exist).
  withHeadlines = lib.mapAttrs
    (name: script: script // { text = "#### Activation script snippet ${name}:\n" + script.text; })
    config.system.activationScripts;
  ordered = lib.textClosureMap lib.id withHeadlines (lib.attrNames withHeadlines);
in
{
  options.system.activationScripts = mkOption {
    default = { };
    type = types.attrsOf (types.coercedTo types.str noDepEntry scriptType);
    description = "A set of shell script fragments that are executed when a NixOS system configuration is activated.";
  };

  config = {
    system.activationScripts = {
      specialfs = "# mount /dev, /proc, /run, /sys (nixpkgs)\n";
      users = { deps = [ ]; text = "# users and groups, ids kept in /var/lib/nixos (nixpkgs)\n"; };
      etc = { deps = [ "users" ]; text = "# /etc (nixpkgs)\n"; };
    };
    # Not a nixpkgs attribute, a test aid: the snippet names in the order they run.
    system.build.activationScript = ordered;
    system.build.activationOrder = map
      (line: lib.removeSuffix ":" (lib.removePrefix "#### Activation script snippet " line))
      (builtins.filter (lib.hasPrefix "#### ") (lib.splitString "\n" ordered));
  };
}
