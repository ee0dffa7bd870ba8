"""Helpers for the Nix tests: Nix's own parser and evaluator (Debian's nix-bin), no nixpkgs."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
CASES = Path(__file__).resolve().parent / "cases"


def _nix_instantiate() -> str:
    path = shutil.which("nix-instantiate")
    if path is None:
        raise RuntimeError(
            "nix-instantiate is not installed (Debian package nix-bin); the Nix tests need it"
        )
    return path


def nix_eval(expr: str, **argstr: str) -> Any:
    """Evaluate ``expr`` strictly and return its JSON value; ``argstr`` become ``--argstr``."""
    argv = [_nix_instantiate(), "--eval", "--strict", "--json"]
    for name, value in argstr.items():
        argv += ["--argstr", name, value]
    if argstr:
        expr = "{ " + ", ".join(argstr) + " }: " + expr
    argv += ["-E", expr]
    result = subprocess.run(argv, capture_output=True, text=True, cwd=REPO, check=False)
    if result.returncode != 0:
        raise AssertionError(f"nix-instantiate failed:\n{result.stderr}")
    return json.loads(result.stdout)


def nix_parse(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_nix_instantiate(), "--parse", str(path)], capture_output=True, text=True, check=False
    )


@pytest.fixture
def network_of() -> Any:
    """Evaluate nix/lib/network.nix's toNixos on a runtime-info.json file."""

    def run(path: Path) -> Any:
        return nix_eval(
            f"(import {REPO}/nix/lib/network.nix).toNixos "
            "(builtins.fromJSON (builtins.readFile file))",
            file=str(path),
        )

    return run
