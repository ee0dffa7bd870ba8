# A host of the tests: the project's NixOS modules (nix/modules) configured from a runtime info, as
# `nixremote.lib.makeSystem` configures them, evaluated by ./eval-config.nix.
{ lib, repo, evalConfig }:
{ info                   # path of a runtime-info.json
, systemdInitrd ? false  # boot.initrd.systemd.enable
, devices ? null         # nixremote.boot.devices (the mirror layout's disks), null: the default
, modules ? [ ]          # more modules (a host's configuration.nix)
, standIn ? { }
}:
evalConfig {
  inherit standIn;
  modules = [
    (repo + "/nix/modules")
    {
      nixpkgs.hostPlatform = "x86_64-linux";
      nixremote.runtimeInfo = builtins.fromJSON (builtins.readFile info);
      boot.initrd.systemd.enable = systemdInitrd;
    }
    (lib.optionalAttrs (devices != null) { nixremote.boot.devices = devices; })
  ] ++ modules;
}
