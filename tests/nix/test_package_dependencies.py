"""pyproject.toml's dependencies and nix/packages/nixremote.nix agree.

nixpkgs' runtime dependency check (pythonRuntimeDepsCheck) fails the build of a Python package
whose metadata declares a dependency that is not installed, so each of pyproject.toml's
`dependencies` must be a `dependencies` entry of the Nix package, or, for the installer variant,
be removed from the metadata with `pythonRemoveDeps` (which matches the name as the wheel's
METADATA spells it, i.e. as pyproject.toml does). nixremote.nix is evaluated by Nix with the real
nixpkgs lib and a test double for python3Packages (each package is its attribute name).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from nixremote.controller.zipapp import DEPENDENCIES as ZIPAPP_DEPENDENCIES

REPO = Path(__file__).resolve().parents[2]
NixosEval = Callable[..., Any]


PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
# PEP 508: the name is what precedes the first version, extra or marker character
DECLARED = [
    re.match(r"[A-Za-z0-9._-]+", d).group(0)  # type: ignore[union-attr]
    for d in PYPROJECT["project"]["dependencies"]
]


def canonical(name: str) -> str:
    """PEP 503: what pip, the runtime dependency check and nixpkgs attribute names agree on."""
    return re.sub(r"[-_.]+", "-", name).lower()


@pytest.fixture(scope="module")
def variants(nixos_eval: NixosEval) -> Any:
    return nixos_eval(
        "let python3Packages = { buildPythonApplication = args: args; }"
        '  // lib.genAttrs [ "setuptools" "wheel" "pluggy" "attrs" "cattrs" "click"'
        '    "fabric" "hcloud" "rich" "cryptography" "pyyaml" ] (name: name);'
        ' pkg = variant: import (repo + "/nix/packages/nixremote.nix")'
        "   { inherit lib python3Packages variant; };"
        " show = p: { inherit (p) pname version dependencies pythonRemoveDeps; };"
        ' in { full = show (pkg "full"); installer = show (pkg "installer"); }'
    )


def test_pyproject_declares_the_controller_dependencies() -> None:
    assert {"cryptography", "PyYAML"} <= set(DECLARED)


def test_every_dependency_is_installed_in_the_full_variant(variants: Any) -> None:
    full = variants["full"]
    assert full["pname"] == "nixremote"
    assert full["version"] == PYPROJECT["project"]["version"]
    assert sorted(full["dependencies"]) == sorted(canonical(d) for d in DECLARED)
    assert full["pythonRemoveDeps"] == []


def test_every_dependency_is_installed_or_removed_in_the_installer_variant(
    variants: Any,
) -> None:
    installer = variants["installer"]
    assert installer["pname"] == "nixremote-installer"
    installed = {canonical(d) for d in installer["dependencies"]}
    removed = installer["pythonRemoveDeps"]
    # spelt as pyproject.toml spells them: pythonRemoveDeps matches the METADATA line
    assert set(removed) <= set(DECLARED)
    for name in DECLARED:
        assert (canonical(name) in installed) != (name in removed), name
    # removed are the controller's: what the installer imports is what its zipapp carries
    assert {canonical(n) for n in removed} == {"fabric", "hcloud", "rich", "cryptography", "pyyaml"}
    assert installed <= {canonical(m) for m in ZIPAPP_DEPENDENCIES}
