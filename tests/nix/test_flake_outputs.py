"""The root flake's outputs, evaluated by Nix with a stand-in for nixpkgs (a test double).

Building or fully evaluating them needs nixpkgs, which is not available here (see docs/nix.md);
this checks the shape the issue asks for: which outputs exist, for which systems, and that every
module and template path is a file of the repository. The stand-in's ``lib`` is the real nixpkgs
25.11 lib; its ``nixosSystem`` returns its arguments and its ``legacyPackages`` are doubles.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

CASES = Path(__file__).resolve().parent / "cases"
REPO = Path(__file__).resolve().parents[2]
NixosEval = Callable[..., Any]


STANDIN_NIXPKGS = """{
  lib = lib // { nixosSystem = args: args; };
  legacyPackages = {
    x86_64-linux = { runCommand = name: env: script: env.cases; };
    aarch64-linux = { };
  };
}"""


@pytest.fixture(scope="module")
def outputs(nixos_eval: NixosEval) -> Any:
    return nixos_eval(
        f"let flake = import {REPO}/flake.nix; nixpkgs = {STANDIN_NIXPKGS};"
        " out = flake.outputs { self = out; inherit nixpkgs; };"
        " names = builtins.attrNames; in {"
        "  inputs = flake.inputs.nixpkgs.url;"
        "  outputs = names out;"
        "  systems = names out.packages;"
        "  packages = builtins.mapAttrs (s: names) out.packages;"
        "  checks = builtins.mapAttrs (s: names) out.checks;"
        "  modules = builtins.mapAttrs (n: p: builtins.pathExists p) out.nixosModules;"
        '  templates = builtins.mapAttrs (n: t: builtins.pathExists (t.path + "/flake.nix"))'
        "    out.templates;"
        "  lib = names out.lib;"
        "  networkCheck = out.checks.x86_64-linux.network-function;"
        "}"
    )


def test_nixpkgs_is_a_current_release(outputs: Any) -> None:
    assert outputs["inputs"] in (
        "github:NixOS/nixpkgs/nixos-25.11",
        "github:NixOS/nixpkgs/nixos-25.05",
    )


def test_top_level_outputs(outputs: Any) -> None:
    assert set(outputs["outputs"]) >= {
        "packages",
        "nixosModules",
        "lib",
        "templates",
        "checks",
        "formatter",
    }


def test_packages_for_both_systems(outputs: Any) -> None:
    assert outputs["systems"] == ["aarch64-linux", "x86_64-linux"]
    for names in outputs["packages"].values():
        assert set(names) >= {"kexec", "netboot", "iso", "nixremote", "nixremote-installer"}


def test_modules_exist(outputs: Any) -> None:
    assert set(outputs["modules"]) >= {
        "core",
        "ssh",
        "zfs",
        "network",
        "hetzner",
        "impermanence",
        "installer",
        "default",
    }
    assert all(outputs["modules"].values())


def test_templates_and_lib(outputs: Any) -> None:
    assert outputs["templates"] == {"default": True, "fleet": True, "host": True}
    assert {"makeSystem", "makeFleet", "discoverHosts", "network"} <= set(outputs["lib"])


def test_checks(outputs: Any) -> None:
    for names in outputs["checks"].values():
        assert set(names) >= {"network-function", "eval-host", "eval-installer", "nixremote"}


def test_the_flakes_network_check_passes_its_cases(outputs: Any) -> None:
    # the flake's own check (run by `nix flake check`), with runCommand stood in for
    results = json.loads(outputs["networkCheck"])
    cases = [p for p in CASES.iterdir() if (p / "expected.json").is_file()]
    assert len(cases) >= 7
    assert results == [True] * len(cases)
