# The nixremote Python package, built from this repository's pyproject.toml with the Python
# packages of the flake's nixpkgs.
#
# variant = "full"       the controller: every dependency of pyproject.toml
# variant = "installer"  inside the installer image: without the controller's dependencies
#                        (fabric and paramiko, hcloud, rich, cryptography, PyYAML), which the
#                        installer modules never import (and which weigh ~60 MB)
#
# Every name of pyproject.toml's `dependencies` is in `common` or in `controllerDeps`, spelt as
# pyproject.toml spells it (tests/nix/test_package_dependencies.py checks it): nixpkgs' runtime
# dependency check fails the build for a declared dependency that is neither installed nor removed
# from the metadata, and pythonRemoveDeps matches the name as the wheel's METADATA writes it.
{ lib, python3Packages, variant ? "full" }:
let
  pyproject = builtins.fromTOML (builtins.readFile ../../pyproject.toml);
  installerOnly = variant == "installer";
  # pyproject.toml's name -> the python3Packages attribute
  common = {
    pluggy = "pluggy";
    attrs = "attrs";
    cattrs = "cattrs";
    click = "click";
  };
  controllerDeps = {
    fabric = "fabric";
    hcloud = "hcloud";
    rich = "rich";
    cryptography = "cryptography";
    PyYAML = "pyyaml";
  };
  pythonPackagesOf = deps: map (name: python3Packages.${deps.${name}}) (builtins.attrNames deps);
in
python3Packages.buildPythonApplication {
  pname = if installerOnly then "nixremote-installer" else "nixremote";
  inherit (pyproject.project) version;
  pyproject = true;

  src = lib.fileset.toSource {
    root = ../..;
    fileset = lib.fileset.unions [
      ../../pyproject.toml
      ../../src
      (lib.fileset.maybeMissing ../../README.md)
      (lib.fileset.maybeMissing ../../LICENSE)
    ];
  };

  build-system = with python3Packages; [ setuptools wheel ];

  dependencies = pythonPackagesOf common
    ++ lib.optionals (!installerOnly) (pythonPackagesOf controllerDeps);

  # The installer variant drops the controller's dependencies from the metadata too, so the
  # runtime dependency check agrees with what is installed.
  pythonRemoveDeps = lib.optionals installerOnly (builtins.attrNames controllerDeps);

  # The test suite needs sshd, loop devices, QEMU: it runs in the project's CI, not here.
  doCheck = false;
  pythonImportsCheck = [ "nixremote" "nixremote.core.converter" "nixremote.core.hostflake" ];

  meta = {
    description = pyproject.project.description;
    license = lib.licenses.mit;
    mainProgram = "nixremote";
    platforms = lib.platforms.linux ++ lib.platforms.darwin;
  };
}
