"""A real OpenSSH ``sshd`` for tests: throw-away host key, one authorized client key.

``start_sshd(workdir)`` starts ``/usr/sbin/sshd -D -e`` on 127.0.0.1 and a free port (or inside a
network namespace, through ``prefix``), at ``LogLevel VERBOSE`` with its log in a file, and
returns an :class:`SshServer` with everything a client needs: host, port, a known_hosts file
holding the server's key, the client's private key. The ``sshd`` fixture in
``tests/conftest.py`` wraps it as a factory and stops every server it started.

Requires Debian's ``openssh-server`` (and ``openssh-client`` for ``ssh-keygen``).
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

SSHD = "/usr/sbin/sshd"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def keygen(path: Path, kind: str = "ed25519", comment: str = "nixremote-test") -> Path:
    """A new key pair at ``path`` / ``path.pub`` (no passphrase)."""
    if path.exists():
        path.unlink()
    subprocess.run(
        ["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", comment, "-f", str(path)],
        check=True,
        capture_output=True,
    )
    return path


def known_hosts_line(host: str, port: int, pubkey_file: Path) -> str:
    kind, blob = pubkey_file.read_text().split()[:2]
    name = host if port == 22 else f"[{host}]:{port}"
    return f"{name} {kind} {blob}"


@dataclass
class SshServer:
    """A running sshd and what a client needs to reach it."""

    host: str
    port: int
    workdir: Path
    host_key: Path
    identity: Path
    known_hosts: Path
    log: Path
    config: Path
    process: subprocess.Popen[bytes]
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def target(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"root@{host}"

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def exec_sessions(self) -> int:
        """Exec channels sshd started (``Starting session: command`` at LogLevel VERBOSE)."""
        return len(re.findall(r"Starting session: command ", self.log_text()))

    def wait_for_sessions(self, count: int, timeout: float = 10.0) -> int:
        """Wait until sshd logged ``count`` exec sessions (its log lags the client a little),
        then return the number logged."""
        deadline = time.monotonic() + timeout
        while self.exec_sessions() < count and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.2)  # and a moment more, so that an extra session would show too
        return self.exec_sessions()

    def wait_for_log(self, pattern: str, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if re.search(pattern, self.log_text()):
                return True
            time.sleep(0.05)
        return False

    def replace_host_key(self) -> None:
        """Give the server a new host key (as a reinstalled host would have) and restart it.

        ``known_hosts`` keeps the old key, so a strict client must now refuse the server.
        """
        self.stop()
        keygen(self.host_key)
        started = self.log_text().count("Server listening on")
        self.process = _spawn(self.extra["argv"].split("\0"), self.log)
        deadline = time.monotonic() + 10
        while self.log_text().count("Server listening on") <= started:
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError(f"sshd did not come back: {self.log_text()[-2000:]}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)


def _spawn(argv: Sequence[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            start_new_session=True,
        )


def start_sshd(
    workdir: Path,
    *,
    listen: str = "127.0.0.1",
    port: int | None = None,
    prefix: Sequence[str] = (),
    setup: str = "",
    authorized_keys_file: str | None = None,
    config_extra: Sequence[str] = (),
    identity: Path | None = None,
    timeout: float = 15.0,
) -> SshServer:
    """Start sshd and wait until it listens.

    ``prefix`` runs it under another command (``ip netns exec NS unshare ...``); ``setup`` is
    shell run first in the same process (mounts, host name). ``authorized_keys_file`` is the
    sshd ``AuthorizedKeysFile`` (default: a file in ``workdir`` holding the client key).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    Path("/run/sshd").mkdir(parents=True, exist_ok=True)
    host_key = keygen(workdir / "ssh_host_ed25519_key", comment="test-host")
    identity = identity or keygen(workdir / "id_ed25519")
    authorized = workdir / "authorized_keys"
    authorized.write_text(Path(f"{identity}.pub").read_text())
    port = port or free_port(listen)
    log = workdir / "sshd.log"
    config = workdir / "sshd_config"
    config.write_text(
        "\n".join(
            [
                f"Port {port}",
                f"ListenAddress {listen}",
                f"HostKey {host_key}",
                "PidFile none",
                "LogLevel VERBOSE",
                "PermitRootLogin prohibit-password",
                "PubkeyAuthentication yes",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "UsePAM no",
                "StrictModes no",
                "UseDNS no",
                "PrintMotd no",
                "MaxStartups 50",
                f"AuthorizedKeysFile {authorized_keys_file or authorized}",
                "Subsystem sftp internal-sftp",
                *config_extra,
            ]
        )
        + "\n"
    )
    sshd = [SSHD, "-D", "-e", "-f", str(config)]
    argv = [*prefix, "sh", "-c", f"{setup}\nexec {shlex.join(sshd)}"] if setup else [*prefix, *sshd]
    known_hosts = workdir / "known_hosts"
    known_hosts.write_text(known_hosts_line(listen, port, Path(f"{host_key}.pub")) + "\n")
    process = _spawn(argv, log)
    server = SshServer(
        host=listen,
        port=port,
        workdir=workdir,
        host_key=host_key,
        identity=identity,
        known_hosts=known_hosts,
        log=log,
        config=config,
        process=process,
        extra={"argv": "\0".join(argv)},
    )
    if not server.wait_for_log(r"Server listening on .* port", timeout):
        server.stop()
        raise RuntimeError(f"sshd did not start: {server.log_text()[-2000:]}")
    return server
