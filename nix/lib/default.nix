# nixremote's Nix library: the pure helpers (no nixpkgs needed) and the functions that build
# NixOS systems from runtime-info.json (these need the flake's nixpkgs).
#
#   lib.network.toNixos info       runtime info -> NixOS networking options (pure)
#   lib.discoverHosts ./hosts      fleet host discovery (pure)
#   lib.readRuntimeInfo x          a path to runtime-info.json, or an attribute set, -> attrs (pure)
#   lib.partitionPath disk n       "/dev/disk/by-id/x" 3 -> ".../x-part3" (pure)
#   lib.makeSystem { ... }         one host -> nixosSystem
#   lib.makeFleet { ... }          hosts/<name>/ -> nixosConfigurations
{ self ? null, nixpkgs ? null }:
let
  network = import ./network.nix;
  fleet = import ./fleet.nix;
  disks = import ./disks.nix;

  readRuntimeInfo = x:
    if builtins.isAttrs x && !(x ? outPath) then x
    else builtins.fromJSON (builtins.readFile x);

  systemOf = info:
    let arch = info.arch or null;
    in if arch == null then "x86_64-linux"
    else if arch == "arm64" then "aarch64-linux"
    else "${arch}-linux";

  # One host. `runtimeInfo`: path to runtime-info.json (or its parsed content); `modules`: more
  # NixOS modules; `flake`: the flake this system comes from (its revision is recorded); `name`:
  # the attribute name in nixosConfigurations (`installed` for a host flake). On the host,
  # `nixos-rebuild switch --flake /etc/nixos#installed` rebuilds it; nixremote's and nixpkgs'
  # sources stay in the system's closure, so that works offline with the flake.lock the installer
  # wrote.
  makeSystem =
    { runtimeInfo
    , modules ? [ ]
    , flake ? null
    , name ? "installed"
    , system ? null
    , specialArgs ? { }
    }:
    let
      info = readRuntimeInfo runtimeInfo;
      sys = if system != null then system else systemOf info;
    in
    nixpkgs.lib.nixosSystem {
      specialArgs = { nixremote = self; } // specialArgs;
      modules = [
        self.nixosModules.default
        {
          nixpkgs.hostPlatform = nixpkgs.lib.mkDefault sys;
          nixremote.runtimeInfo = info;
          nixremote.flake = {
            source = flake;
            configurationName = name;
            inputs = { nixremote = self; inherit nixpkgs; };
          };
        }
      ] ++ modules;
    };

  # Every host of a fleet: hosts/<name>/runtime-info.json (+ configuration.nix) -> nixosSystem.
  makeFleet =
    { hostsDir
    , modules ? [ ]
    , flake ? null
    , specialArgs ? { }
    }:
    builtins.mapAttrs
      (name: host: makeSystem {
        inherit flake name specialArgs;
        runtimeInfo = host.runtimeInfo;
        modules = modules
          ++ (if host.configuration != null then [ host.configuration ] else [ ]);
      })
      (fleet.discoverHosts hostsDir);
in
{
  inherit network readRuntimeInfo systemOf makeSystem makeFleet;
  inherit (fleet) discoverHosts;
  inherit (disks) partitionPath bootMountPoint;
  fleetSummary = fleet.summary;
}
