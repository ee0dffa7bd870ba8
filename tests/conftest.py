"""Shared fixtures of nixremote's own tests.

The pytest plugin shipped in :mod:`nixremote.testing.pytest_plugin` adds ``nixremote_pm``,
``captured_facts`` and ``loopback_sshd``; the fixtures here are for this repository's tests.
Helpers live in the ``helpers`` package (``tests/helpers``; pytest puts ``tests`` on the path).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from helpers.netns import HOSTER_LIKE, TWO_NICS, NetnsHost, create_host
from helpers.offline_nix import OfflineNix
from helpers.plugins import OVHLIKE, pip_install
from nixremote.testing.sshd import LoopbackSshd

collect_ignore = ["data"]
"""tests/data holds plugin distributions with test suites of their own (run by
tests/packaging against the installed plugin), not tests of this session."""


@pytest.fixture
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., LoopbackSshd]]:
    """Factory: ``sshd(**options)`` starts OpenSSH sshd on 127.0.0.1:<free port> with a
    throw-away host key and an authorized client key (the options of
    :class:`~nixremote.testing.sshd.LoopbackSshd`, e.g. ``extra_config=["ForceCommand sleep
    60"]``); every server is stopped after the test."""
    started: list[LoopbackSshd] = []

    def start(**options: Any) -> LoopbackSshd:
        server = LoopbackSshd(tmp_path_factory.mktemp("sshd"), **options)
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def hoster_like_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NetnsHost]:
    """Test host (a) in a network namespace: see :data:`helpers.netns.HOSTER_LIKE`."""
    host = create_host(HOSTER_LIKE, tmp_path_factory.mktemp("netns-a"))
    yield host
    host.destroy()


@pytest.fixture(scope="session")
def two_nic_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NetnsHost]:
    """Test host (b) in a network namespace: see :data:`helpers.netns.TWO_NICS`."""
    host = create_host(TWO_NICS, tmp_path_factory.mktemp("netns-b"))
    yield host
    host.destroy()


@pytest.fixture
def offline_nix(tmp_path_factory: pytest.TempPathFactory) -> OfflineNix:
    """A Nix store of the test's own: see :class:`OfflineNix`."""
    return OfflineNix(tmp_path_factory.mktemp("nix"))


@pytest.fixture(scope="session")
def shared_offline_nix(tmp_path_factory: pytest.TempPathFactory) -> OfflineNix:
    """One :class:`OfflineNix` store for the session (store paths are content-addressed: what one
    test adds, another may add again)."""
    return OfflineNix(tmp_path_factory.mktemp("nix-shared"))


@pytest.fixture
def dev_dir() -> Iterator[Path]:
    """A fresh directory under ``/dev`` (in ``/dev/shm``), for links that stand for udev's
    ``/dev/disk/by-id`` links: the models accept device paths under ``/dev/`` only."""
    path = Path(tempfile.mkdtemp(prefix="nixremote-test-", dir="/dev/shm"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def ovhlike_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory into which pip installed the OVH-like test plugin (``tests/data/plugins/
    ovhlike``); put it first on ``PYTHONPATH`` (``helpers.plugins.env_with``) or import from it
    (``helpers.plugins.imported``)."""
    return pip_install(OVHLIKE, tmp_path_factory.mktemp("site-ovhlike"))
