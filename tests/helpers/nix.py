"""Nix's own parser and evaluator (Debian's nix-bin) for the tests, and the prelude that binds the
real nixpkgs ``lib`` and the NixOS evaluation stand-ins of ``tests/nix/nixos-eval``."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from .paths import DATA, REPO, TESTS

CASES = TESTS / "nix" / "cases"
"""Runtime infos and what the Nix network function makes of them."""
NIXPKGS_LIB_TARBALL = DATA / "nixpkgs-lib-25.11.tar.gz"
EVAL_CONFIG = TESTS / "nix" / "nixos-eval" / "eval-config.nix"


def _nix_instantiate() -> str:
    path = shutil.which("nix-instantiate")
    if path is None:
        raise RuntimeError(
            "nix-instantiate is not installed (Debian package nix-bin); the Nix tests need it"
        )
    return path


def nix_eval_result(expr: str, **argstr: str) -> subprocess.CompletedProcess[str]:
    """``nix-instantiate --eval --strict --json`` of ``expr``; ``argstr`` become ``--argstr``."""
    argv = [_nix_instantiate(), "--eval", "--strict", "--json"]
    for name, value in argstr.items():
        argv += ["--argstr", name, value]
    if argstr:
        expr = "{ " + ", ".join(argstr) + " }: " + expr
    argv += ["-E", expr]
    return subprocess.run(argv, capture_output=True, text=True, cwd=REPO, check=False)


def nix_eval(expr: str, **argstr: str) -> Any:
    """Evaluate ``expr`` strictly and return its JSON value; ``argstr`` become ``--argstr``."""
    result = nix_eval_result(expr, **argstr)
    if result.returncode != 0:
        raise AssertionError(f"nix-instantiate failed:\n{result.stderr}")
    return json.loads(result.stdout)


def nix_parse(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_nix_instantiate(), "--parse", str(path)], capture_output=True, text=True, check=False
    )


def with_prelude(lib_dir: Path, body: str) -> str:
    return (
        f"let lib = import {lib_dir}; repo = {REPO};"
        f" evalConfig = args: import {EVAL_CONFIG} ({{ inherit lib; }} // args);"
        # Every value of the configuration, as building the system would force them.
        f" forceAll = import {EVAL_CONFIG.parent / 'force-all.nix'} lib;"
        f" host = import {EVAL_CONFIG.parent / 'host.nix'} {{ inherit lib repo evalConfig; }};"
        f" in {body}"
    )
