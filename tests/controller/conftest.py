"""Fixtures of the controller's tests: an SSH transport to the loopback sshd, and a rescue
system whose kexec is a test double (``helpers.rescue``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers.rescue import rescue_system
from helpers.ssh import open_ssh
from nixremote.controller.ssh import SshTransport
from nixremote.testing.sshd import LoopbackSshd


@pytest.fixture
def ssh(loopback_sshd: LoopbackSshd) -> Iterator[SshTransport]:
    transport = open_ssh(loopback_sshd)
    try:
        yield transport
    finally:
        transport.close()


@pytest.fixture
def rescue(tmp_path: Path) -> Iterator[tuple[LoopbackSshd, Path]]:
    """A loopback "rescue system" with a kexec double (see :mod:`helpers.rescue`):
    ``(sshd, state directory)``."""
    with rescue_system(tmp_path) as found:
        yield found
