"""A Nix store of the test's own, offline (Debian's Nix 2.8 with flakes), for flake.lock tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any


class OfflineNix:
    """Debian's Nix (2.8) on a local store under a temporary directory, offline, with flakes.

    ``run(*args)`` runs ``nix --store <tmp store> --offline ...``; ``add(directory)`` adds a
    directory as ``/nix/store/<hash>-source`` (as Nix copies a flake) and returns the path;
    ``path_info(path)`` is ``nix path-info --json``'s record; ``dump_db(path)`` the store's
    registration of ``path`` (the format of closureInfo's ``registration``).
    """

    def __init__(self, root: Path) -> None:
        import shutil

        self.root = root
        self.store = root / "store"
        home = root / "home"
        home.mkdir(parents=True)
        registry = root / "registry.json"
        registry.write_text('{"flakes": [], "version": 2}\n')
        nix = shutil.which("nix")
        if nix is None:
            raise RuntimeError("nix is not installed (Debian package nix-bin)")
        self.nix = nix
        self.env = {
            "PATH": "/usr/bin:/bin",
            "HOME": str(home),
            "XDG_CACHE_HOME": str(home / ".cache"),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "NIX_CONFIG": "experimental-features = nix-command flakes\n"
            "build-users-group =\n"
            f"flake-registry = {registry}\n"
            "substituters =\n",
        }

    def run(self, *args: str, check: bool = True) -> Any:
        import subprocess

        result = subprocess.run(
            [self.nix, "--store", str(self.store), "--offline", *args],
            capture_output=True,
            text=True,
            env=self.env,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"nix {' '.join(args)} failed:\n{result.stderr}")
        return result

    def add(self, directory: Path) -> str:
        out: str = self.run("store", "add-path", "--name", "source", str(directory)).stdout
        return out.strip()

    def path_info(self, path: str) -> dict[str, Any]:
        import json

        records: list[dict[str, Any]] = json.loads(self.run("path-info", "--json", path).stdout)
        return records[0]

    def dump_db(self, path: str) -> str:
        import subprocess

        result = subprocess.run(
            ["nix-store", "--store", str(self.store), "--dump-db", path],
            capture_output=True,
            text=True,
            env=self.env,
            check=True,
        )
        return result.stdout

    def real_path(self, path: str) -> Path:
        """Where a store path of this store is on disk."""
        return self.store / path.lstrip("/")
