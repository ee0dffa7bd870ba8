"""A throw-away OpenSSH ``sshd`` for tests of anything that talks SSH.

:class:`LoopbackSshd` generates a fresh host key and a client key in a directory of its own,
writes an ``sshd_config`` that accepts only that client key (plus ``authorized_keys``) for the
current user, starts ``sshd -D`` on ``127.0.0.1`` at a free port and waits until it listens. It
also writes a ``known_hosts`` file that pins the host key, so clients can check host keys
strictly (as nixremote always does). Nothing leaves loopback.

For test hosts in network namespaces the same server starts under a ``prefix`` (``ip netns exec
NS unshare ...``) after a ``setup`` shell snippet, on another ``listen`` address and ``port``.

It needs OpenSSH's ``sshd`` and ``ssh-keygen`` (Debian: ``openssh-server``,
``openssh-client``). The pytest plugin :mod:`nixremote.testing.pytest_plugin` offers it as the
``loopback_sshd`` fixture; it can be used directly too::

    with LoopbackSshd(tmp_path) as sshd:
        subprocess.run(sshd.ssh_argv("uname", "-m"), check=True)
"""

from __future__ import annotations

import contextlib
import getpass
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from ..core.errors import NixremoteError

__all__ = [
    "LoopbackSshd",
    "SshdUnavailableError",
    "find_sshd",
    "free_port",
    "keygen",
    "known_hosts_line",
]

_SEARCH = ("/usr/sbin", "/usr/local/sbin", "/sbin", "/usr/bin")


class SshdUnavailableError(NixremoteError):
    """OpenSSH's ``sshd`` or ``ssh-keygen`` is not installed, or sshd did not come up."""


def find_sshd() -> str:
    """The path of OpenSSH's ``sshd``; raises :class:`SshdUnavailableError` when missing."""
    found = shutil.which("sshd") or next(
        (str(Path(d) / "sshd") for d in _SEARCH if (Path(d) / "sshd").is_file()), None
    )
    if found is None:
        raise SshdUnavailableError(
            "OpenSSH sshd is not installed", hint="install openssh-server (Debian/Ubuntu)"
        )
    return found


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def keygen(path: Path, kind: str = "ed25519", comment: str = "nixremote-test") -> Path:
    """A new key pair at ``path`` / ``path.pub`` (no passphrase), replacing an old one."""
    tool = shutil.which("ssh-keygen")
    if tool is None:
        raise SshdUnavailableError(
            "ssh-keygen is not installed", hint="install openssh-client (Debian/Ubuntu)"
        )
    path.unlink(missing_ok=True)
    Path(f"{path}.pub").unlink(missing_ok=True)
    subprocess.run(
        [tool, "-q", "-t", kind, "-N", "", "-C", comment, "-f", str(path)],
        check=True,
        capture_output=True,
    )
    return path


def known_hosts_line(host: str, port: int, public_key: str) -> str:
    """A known_hosts line pinning ``public_key`` (``type base64 [comment]``) for host:port."""
    kind, blob = public_key.split()[:2]
    name = host if port == 22 else f"[{host}]:{port}"
    return f"{name} {kind} {blob}"


class LoopbackSshd:
    """An OpenSSH server for the current user, keys generated in ``directory``.

    Attributes once started: ``host`` (``listen``, ``127.0.0.1`` by default), ``port``,
    ``user``, ``identity`` (the client's private key), ``host_key`` (the server's private key),
    ``known_hosts`` (a file pinning the host key as ``[host]:PORT``), ``log_path`` (sshd's log
    at ``LogLevel VERBOSE``: one ``Starting session`` line per channel, handy for counting
    round trips).

    ``extra_config`` lines are appended to ``sshd_config``; ``authorized_keys`` adds more public
    keys that may log in; ``identity`` uses an existing client key instead of a new one;
    ``authorized_keys_file`` replaces sshd's ``AuthorizedKeysFile`` (relative paths are below
    the user's home, as sshd reads them). ``prefix`` and ``setup`` run sshd elsewhere (a
    network namespace) after some shell; ``port`` fixes the port.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        extra_config: Sequence[str] = (),
        authorized_keys: Sequence[str] = (),
        start_timeout: float = 15.0,
        listen: str = "127.0.0.1",
        port: int | None = None,
        identity: Path | None = None,
        authorized_keys_file: str | None = None,
        prefix: Sequence[str] = (),
        setup: str = "",
    ) -> None:
        self.directory = Path(directory)
        self.extra_config = tuple(extra_config)
        self.extra_authorized_keys = tuple(authorized_keys)
        self.start_timeout = start_timeout
        self.listen = listen
        self.host = listen
        self.port = port or 0
        self._fixed_port = port is not None
        self.prefix = tuple(prefix)
        self.setup = setup
        self.user = getpass.getuser()
        self.identity = identity or self.directory / "client_ed25519"
        self._own_identity = identity is None
        self.host_key = self.directory / "ssh_host_ed25519_key"
        self.known_hosts = self.directory / "known_hosts"
        self.authorized_keys = self.directory / "authorized_keys"
        self.authorized_keys_file = authorized_keys_file
        self.config_path = self.directory / "sshd_config"
        self.log_path = self.directory / "sshd.log"
        self._proc: subprocess.Popen[bytes] | None = None

    # -- life cycle ----------------------------------------------------------------------------

    def start(self) -> LoopbackSshd:
        """Generate keys (once), write the config and start sshd; returns ``self``."""
        self.directory.mkdir(parents=True, exist_ok=True)
        if not self.host_key.exists():
            keygen(self.host_key, comment="loopback-sshd-host")
        if self._own_identity and not self.identity.exists():
            keygen(self.identity, comment="loopback-sshd-client")
        keys = [Path(f"{self.identity}.pub").read_text().strip()]
        keys += [k.strip() for k in self.extra_authorized_keys]
        self.authorized_keys.write_text("\n".join(keys) + "\n")
        self.authorized_keys.chmod(0o600)
        if os.geteuid() == 0:
            # Debian's sshd refuses to start without its privilege separation directory.
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        last_error = ""
        for _attempt in range(1 if self._fixed_port else 3):
            if not self._fixed_port:
                self.port = free_port(self.listen)
            self._write_config()
            self.log_path.write_bytes(b"")
            try:
                self._spawn()
            except SshdUnavailableError as exc:
                last_error = str(exc)
                self.stop()
                continue
            self.pin(self.host)
            return self
        raise SshdUnavailableError(f"sshd did not start: {last_error}")

    def _write_config(self) -> None:
        lines = [
            f"Port {self.port}",
            f"ListenAddress {self.listen}",
            f"HostKey {self.host_key}",
            f"AuthorizedKeysFile {self.authorized_keys_file or self.authorized_keys}",
            f"AllowUsers {self.user}",
            "PermitRootLogin prohibit-password",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            "StrictModes no",
            "UseDNS no",
            "PrintMotd no",
            "PidFile none",
            "LogLevel VERBOSE",
            "Subsystem sftp internal-sftp",
            "MaxStartups 50",
            *self.extra_config,
        ]
        self.config_path.write_text("\n".join(lines) + "\n")

    def _spawn(self) -> None:
        sshd = [find_sshd(), "-D", "-e", "-f", str(self.config_path)]
        argv = (
            [*self.prefix, "sh", "-c", f"{self.setup}\nexec {shlex.join(sshd)}"]
            if self.setup
            else [*self.prefix, *sshd]
        )
        started = self.log_text().count("Server listening on")
        with self.log_path.open("ab") as out:
            self._proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True
            )
        deadline = time.monotonic() + self.start_timeout
        while self.log_text().count("Server listening on") <= started:
            if self._proc.poll() is not None:
                raise SshdUnavailableError(
                    f"sshd exited with {self._proc.returncode}: {self.log_text()[-300:].strip()}"
                )
            if time.monotonic() > deadline:
                raise SshdUnavailableError(f"sshd did not listen within {self.start_timeout:g} s")
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop sshd and its sessions."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)

    def restart(self) -> None:
        """Start sshd again with the files as they are now (a changed host key, say)."""
        self.stop()
        self._spawn()

    def replace_host_key(self) -> None:
        """Give the server a new host key (as a reinstalled host would have) and restart it.

        ``known_hosts`` keeps the old key, so a strict client must now refuse the server."""
        self.stop()
        keygen(self.host_key, comment="loopback-sshd-host")
        self._spawn()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def __enter__(self) -> LoopbackSshd:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- for clients ---------------------------------------------------------------------------

    @property
    def host_public_key(self) -> str:
        """``ssh-ed25519 AAAA...`` of the server."""
        algo, blob, *_ = Path(f"{self.host_key}.pub").read_text().split()
        return f"{algo} {blob}"

    def known_hosts_line(self, host: str | None = None) -> str:
        """A known_hosts line that pins this server's key for ``[host]:port``."""
        return known_hosts_line(host or self.host, self.port, self.host_public_key)

    def pin(self, host: str) -> None:
        """Name the server ``host`` (the address clients connect to) in ``known_hosts``."""
        self.host = host
        self.known_hosts.write_text(self.known_hosts_line(host) + "\n")

    @property
    def target(self) -> str:
        """``user@host``, as a command line takes it (the port is separate)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.user}@{host}"

    def ssh_argv(self, *command: str) -> list[str]:
        """An OpenSSH client argv that runs ``command`` here with strict host key checking."""
        return [
            "ssh",
            "-p",
            str(self.port),
            "-i",
            str(self.identity),
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            f"UserKnownHostsFile={self.known_hosts}",
            "-o",
            "GlobalKnownHostsFile=/dev/null",
            self.target,
            *command,
        ]

    def log_text(self) -> str:
        """sshd's log so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def sessions_started(self) -> int:
        """How many session channels sshd has opened (``LogLevel VERBOSE`` lines)."""
        return self.log_text().count("Starting session:")

    def exec_sessions(self) -> int:
        """Exec channels sshd started (``Starting session: command``)."""
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
        """Wait until sshd's log matches ``pattern``; whether it did."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if re.search(pattern, self.log_text()):
                return True
            time.sleep(0.05)
        return False
