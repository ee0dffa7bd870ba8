"""Helpers for the Nix tests: Nix's own parser and evaluator (Debian's nix-bin), no nixpkgs.

nixpkgs' ``lib`` is real, though: ``tests/data/nixpkgs-lib-25.11.tar.gz`` is unpacked once per
session (the ``nixpkgs_lib`` fixture) and ``nixos_eval`` evaluates NixOS configurations with its
``lib.evalModules`` over the option declarations of ``tests/nix/nixos-options/``.
"""

from __future__ import annotations

import shutil
import subprocess
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from helpers.nix import NIXPKGS_LIB_TARBALL, REPO, nix_eval, nix_eval_result, with_prelude


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


@pytest.fixture(scope="session")
def nixpkgs_lib(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """nixpkgs 25.11's ``lib`` directory, unpacked from tests/data (``import <it>`` is the lib)."""
    dest = tmp_path_factory.mktemp("nixpkgs-lib")
    with tarfile.open(NIXPKGS_LIB_TARBALL) as archive:
        archive.extractall(dest, filter="data")
    lib = dest / "lib"
    assert (lib / ".version").read_text().strip() == "25.11"
    return lib


NixosEval = Callable[..., Any]


@pytest.fixture(scope="session")
def nixos_eval(nixpkgs_lib: Path) -> NixosEval:
    """Evaluate NixOS configurations with the real module system.

    ``nixos_eval(body, **argstr)``: ``body`` is a Nix expression in which ``lib`` (the real
    nixpkgs lib), ``repo`` (this repository), ``evalConfig`` (tests/nix/nixos-eval/eval-config.nix,
    a function ``{ modules, specialArgs ? {}, standIn ? {} }: evalModules result //
    { failedAssertions }``), ``host`` (tests/nix/nixos-eval/host.nix: ``{ info, systemdInitrd ?
    false, devices ? null, modules ? [] }``, the project's modules configured from a
    runtime-info.json) and ``forceAll`` (forces every value of a configuration) are bound; its
    JSON value is returned. An evaluation error raises AssertionError with Nix's message
    (``nixos_eval_error`` returns the message instead).
    """

    def run(body: str, **argstr: str) -> Any:
        return nix_eval(with_prelude(nixpkgs_lib, body), **argstr)

    return run


@pytest.fixture(scope="session")
def nixos_eval_error(nixpkgs_lib: Path) -> Callable[..., str]:
    """Like ``nixos_eval``, for an expression that must fail: returns Nix's error text."""

    def run(body: str, **argstr: str) -> str:
        result = nix_eval_result(with_prelude(nixpkgs_lib, body), **argstr)
        assert result.returncode != 0, f"evaluation succeeded: {result.stdout[:2000]}"
        return result.stderr

    return run


@pytest.fixture(scope="session")
def nix_json() -> Callable[..., Any]:
    """``nix_json(expr, **argstr)``: ``expr`` evaluated strictly by nix-instantiate, as JSON
    (``argstr`` become ``--argstr``; an evaluation error raises AssertionError)."""
    return nix_eval


NIXPKGS_URL = "github:NixOS/nixpkgs/nixos-25.11"

STUB_NIXPKGS_FLAKE = """# nixpkgs for the tests: the real lib and the tests' nixosSystem
{
  outputs = { self }:
    {
      lib = (import ./lib).extend (final: prev: {
        nixosSystem = args: import ./nixos-eval/eval-config.nix {
          lib = final;
          specialArgs = args.specialArgs or { };
          modules = args.modules ++ [ { nixpkgs.flake.source = self.outPath; } ];
        };
      });
    };
}
"""


@pytest.fixture(scope="session")
def sources(
    shared_offline_nix: Any, nixpkgs_lib: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """The two flake sources in the store (this repository's flake as ``nixremote``, a
    ``nixpkgs`` whose lib is the real one and whose ``nixosSystem`` is tests/nix/nixos-eval's)
    and the flakeInputs JSON an image would carry: ``{"paths": {...}, "inputs": {...}}``."""
    work = tmp_path_factory.mktemp("sources")
    stub = work / "nixpkgs"
    stub.mkdir()
    shutil.copytree(nixpkgs_lib, stub / "lib")
    for name in ("nixos-eval", "nixos-options", "nixos-modules-path"):
        shutil.copytree(REPO / "tests" / "nix" / name, stub / name)
    (stub / "flake.nix").write_text(STUB_NIXPKGS_FLAKE)
    tracked = subprocess.run(
        ["git", "-C", str(REPO), "ls-files", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    own = work / "nixremote"
    for rel in tracked:
        src = REPO / rel
        if src.is_file():
            (own / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, own / rel)
    paths = {"nixpkgs": shared_offline_nix.add(stub), "nixremote": shared_offline_nix.add(own)}
    inputs: dict[str, Any] = {}
    for name, path in paths.items():
        record = shared_offline_nix.path_info(path)
        inputs[name] = {"path": path, "narHash": record["narHash"]}
    inputs["nixpkgs"] |= {"url": NIXPKGS_URL, "lastModified": 1763078400}
    return {"paths": paths, "inputs": inputs}
