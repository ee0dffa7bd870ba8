"""Fixtures of the controller's tests: an SSH transport to the loopback sshd."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

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
