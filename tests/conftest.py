"""Shared fixtures of nixremote's own tests.

The pytest plugin shipped in :mod:`nixremote.testing.pytest_plugin` adds ``nixremote_pm``,
``captured_facts`` and ``loopback_sshd``; the fixtures here are for this repository's tests.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

TESTS = Path(__file__).resolve().parent
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

# --- sshd and network-namespace hosts (issue 3: collect) -------------------------------------

from netns import HOSTER_LIKE, TWO_NICS, NetnsHost, create_host  # noqa: E402
from sshd import SshServer, start_sshd  # noqa: E402


@pytest.fixture
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., SshServer]]:
    """Factory: ``sshd(**options)`` starts OpenSSH sshd on 127.0.0.1:<free port> with a
    throw-away host key and an authorized client key (see :func:`sshd.start_sshd` for the
    options, e.g. ``config_extra=["ForceCommand sleep 60"]``); every server is stopped after
    the test. The result has ``host``, ``port``, ``target``, ``known_hosts``, ``identity``,
    ``log`` and ``exec_sessions()``."""
    started: list[SshServer] = []

    def start(**options: Any) -> SshServer:
        server = start_sshd(tmp_path_factory.mktemp("sshd"), **options)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def hoster_like_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NetnsHost]:
    """Test host (a) in a network namespace: see :data:`netns.HOSTER_LIKE`."""
    host = create_host(HOSTER_LIKE, tmp_path_factory.mktemp("netns-a"))
    yield host
    host.destroy()


@pytest.fixture(scope="session")
def two_nic_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NetnsHost]:
    """Test host (b) in a network namespace: see :data:`netns.TWO_NICS`."""
    host = create_host(TWO_NICS, tmp_path_factory.mktemp("netns-b"))
    yield host
    host.destroy()


# --- end of issue 3 fixtures -----------------------------------------------------------------


# --- a Nix store of the test's own, offline (issue 15: flake.lock) ---------------------------


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
            capture_output=True, text=True, env=self.env, check=False,
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
            capture_output=True, text=True, env=self.env, check=True,
        )
        return result.stdout

    def real_path(self, path: str) -> Path:
        """Where a store path of this store is on disk."""
        return self.store / path.lstrip("/")


@pytest.fixture
def offline_nix(tmp_path_factory: pytest.TempPathFactory) -> OfflineNix:
    """A Nix store of the test's own: see :class:`OfflineNix`."""
    return OfflineNix(tmp_path_factory.mktemp("nix"))


@pytest.fixture(scope="session")
def shared_offline_nix(tmp_path_factory: pytest.TempPathFactory) -> OfflineNix:
    """One :class:`OfflineNix` store for the session (store paths are content-addressed: what one
    test adds, another may add again)."""
    return OfflineNix(tmp_path_factory.mktemp("nix-shared"))
