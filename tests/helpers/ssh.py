"""SSH transports to the kit's loopback sshd."""

from __future__ import annotations

from nixremote.controller.ssh import SshTransport, connect
from nixremote.testing.sshd import LoopbackSshd


def open_ssh(sshd: LoopbackSshd) -> SshTransport:
    """A strict-checking transport to the loopback sshd."""
    return connect(
        sshd.host,
        user=sshd.user,
        port=sshd.port,
        identity_file=sshd.identity,
        known_hosts=sshd.known_hosts,
    )
