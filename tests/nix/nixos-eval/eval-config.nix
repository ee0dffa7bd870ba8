# A stand-in for nixpkgs' nixos/lib/eval-config.nix, for the tests: `lib.evalModules` of the REAL
# nixpkgs lib (tests/data/nixpkgs-lib-25.11.tar.gz) over
#   - ../nixos-options/*.nix: the NixOS options the project's modules set or read, declared with
#     the types of the nixpkgs 25.11 sources (each file names the nixpkgs module it transcribes),
#     and the nixpkgs assertions that matter, re-stated;
#   - ../nixos-modules-path/: what `modulesPath` resolves to (profiles and installer media, the
#     parts of them that touch what the project sets);
#   - a test double for `pkgs` (./pkgs-double.nix).
# So an undeclared option, a value of the wrong type or two definitions of one priority that
# disagree fail here as they fail on a real build; `failedAssertions` lists the assertions that do
# not hold (NixOS refuses to build the system then); `forced` is true once every value of the
# configuration has been evaluated (./force-all.nix).
#
# `standIn` picks variants of re-stated nixpkgs modules where the sources differ between releases
# (see ../nixos-modules-path/installer/cd-dvd/installation-cd-base.nix).
{ lib
, modules
, specialArgs ? { }
, standIn ? { }
}:
let
  optionsDir = ../nixos-options;
  declarations = map (name: optionsDir + "/${name}")
    (builtins.filter (lib.hasSuffix ".nix") (builtins.attrNames (builtins.readDir optionsDir)));

  pkgsModule = { config, ... }: {
    _module.args.pkgs = import ./pkgs-double.nix {
      inherit lib;
      inherit (config.nixpkgs) hostPlatform;
    };
  };

  eval = lib.evalModules {
    class = "nixos";
    specialArgs = {
      modulesPath = toString ../nixos-modules-path;
      standIn = { cdBaseStateVersion = "release"; } // standIn;
    } // specialArgs;
    modules = declarations ++ [ pkgsModule ] ++ modules;
  };
in
eval // {
  failedAssertions = map (a: a.message) (builtins.filter (a: !a.assertion) eval.config.assertions);
  forced = import ./force-all.nix lib eval.config;
}
