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
