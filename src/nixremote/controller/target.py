"""Where the host is and how the controller reaches it: :class:`Target` and the SSH
connector the pipeline opens its connections with (:func:`ssh_connector`, or a test's own)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from attrs import field, frozen

from ..core.progress import Reporter
from ..core.transport import Transport


@frozen(kw_only=True)
class Target:
    """How to reach the host: ``[user@]host``, port, key, the known_hosts file to check/record
    in, the host key policy for the running (rescue) system (``strict``/``accept-new``), and a
    jump host (``[user@]host[:port]``) to connect through.

    ``sudo``: a non-root ``user`` runs every command on the running system through sudo (the
    collect, the preflight, the upload, the kexec); its password, when sudo wants one, comes
    from ``NIXREMOTE_SUDO_PASSWORD`` or ``sudo_prompt`` (asked once) and travels on stdin. The
    installer, the initrd and the installed system are reached as root (with the handed-over
    keys), never through sudo."""

    host: str
    user: str = "root"
    port: int = 22
    identity_file: Path | None = None
    known_hosts: Path | None = None
    host_key_policy: str = "strict"
    connect_timeout: float = 15.0
    sudo: bool = False
    sudo_prompt: Callable[[], str] | None = field(default=None, eq=False, repr=False)
    jump: str | None = None

    @property
    def known_hosts_path(self) -> Path:
        return self.known_hosts or Path("~/.ssh/known_hosts").expanduser()

    @property
    def address(self) -> str:
        """``user@host:port``, as a plan records where the host was reached."""
        return f"{self.user}@{self.host}:{self.port}"


Connector = Callable[..., Transport]
"""``connect(target, known_hosts=..., policy=..., port=..., reporter=...) -> Transport``, opened;
``known_hosts`` ``None`` means the user's and the system's files."""


def ssh_connector(
    target: Target,
    *,
    known_hosts: Path | None,
    policy: str,
    port: int,
    reporter: Reporter | None = None,
) -> Transport:
    """Open an :class:`~nixremote.controller.ssh.SshTransport` (imported here: controller only)."""
    from .ssh import connect

    return connect(
        target.host,
        user=target.user,
        port=port,
        identity_file=target.identity_file,
        known_hosts=known_hosts,
        host_key_policy=policy,
        connect_timeout=target.connect_timeout,
        sudo=target.sudo,
        sudo_prompt=target.sudo_prompt,
        jump=target.jump,
        reporter=reporter,
    )
