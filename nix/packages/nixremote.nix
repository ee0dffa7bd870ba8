# The nixremote Python package, built from this repository's pyproject.toml with the Python
# packages of the flake's nixpkgs.
#
# variant = "full"       the controller: every dependency (fabric, hcloud, rich)
# variant = "installer"  inside the installer image: without fabric, paramiko, hcloud and rich,
#                        which the installer modules never import (and which weigh ~60 MB)
{ lib, python3Packages, variant ? "full" }:
let
  pyproject = builtins.fromTOML (builtins.readFile ../../pyproject.toml);
  installerOnly = variant == "installer";
  controllerDeps = [ "fabric" "hcloud" "rich" ];
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

  dependencies = with python3Packages;
    [ pluggy attrs cattrs click ]
    ++ lib.optionals (!installerOnly) [ fabric hcloud rich ];

  # The installer variant drops the controller's dependencies from the metadata too, so the
  # runtime dependency check agrees with what is installed.
  pythonRemoveDeps = lib.optionals installerOnly controllerDeps;

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
