"""A throw-away OpenSSH ``sshd`` on loopback, for tests of anything that talks SSH.

:class:`LoopbackSshd` generates a fresh host key and a client key in a directory of its own,
writes an ``sshd_config`` that accepts only that client key for the current user, starts
``sshd -D`` on ``127.0.0.1`` at a free port and waits for its banner. It also writes a
``known_hosts`` file that pins the host key, so clients can check host keys strictly (as
nixremote always does). Nothing leaves loopback.

It needs OpenSSH's ``sshd`` and ``ssh-keygen`` (Debian: ``openssh-server``,
``openssh-client``). The pytest plugin :mod:`nixremote.testing.pytest_plugin` offers it as the
``loopback_sshd`` fixture; it can be used directly too::

    with LoopbackSshd(tmp_path) as sshd:
        subprocess.run(sshd.ssh_argv("uname", "-m"), check=True)
"""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from ..core.errors import NixremoteError

__all__ = ["LoopbackSshd", "SshdUnavailableError", "find_sshd"]

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


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _keygen(path: Path, comment: str) -> None:
    keygen = shutil.which("ssh-keygen")
    if keygen is None:
        raise SshdUnavailableError(
            "ssh-keygen is not installed", hint="install openssh-client (Debian/Ubuntu)"
        )
    subprocess.run(
        [keygen, "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        check=True,
        capture_output=True,
    )


class LoopbackSshd:
    """An OpenSSH server on ``127.0.0.1`` for the current user, keys generated in ``directory``.

    Attributes once started: ``host`` (``127.0.0.1``), ``port``, ``user``, ``identity`` (the
    client's private key), ``host_key`` (the server's private key), ``known_hosts`` (a file
    pinning the host key as ``[127.0.0.1]:PORT``), ``log_path`` (sshd's log at ``LogLevel
    VERBOSE``: one ``Starting session`` line per exec channel, handy for counting round trips).

    ``extra_config`` lines are appended to ``sshd_config``; ``authorized_keys`` adds more public
    keys that may log in.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        extra_config: Sequence[str] = (),
        authorized_keys: Sequence[str] = (),
        start_timeout: float = 15.0,
    ) -> None:
        self.directory = Path(directory)
        self.extra_config = tuple(extra_config)
        self.extra_authorized_keys = tuple(authorized_keys)
        self.start_timeout = start_timeout
        self.host = "127.0.0.1"
        self.port = 0
        self.user = getpass.getuser()
        self.identity = self.directory / "client_ed25519"
        self.host_key = self.directory / "ssh_host_ed25519_key"
        self.known_hosts = self.directory / "known_hosts"
        self.authorized_keys = self.directory / "authorized_keys"
        self.config_path = self.directory / "sshd_config"
        self.log_path = self.directory / "sshd.log"
        self._proc: subprocess.Popen[bytes] | None = None

    # -- life cycle ----------------------------------------------------------------------------

    def start(self) -> LoopbackSshd:
        """Generate keys (once), write the config and start sshd; returns ``self``."""
        sshd = find_sshd()
        self.directory.mkdir(parents=True, exist_ok=True)
        if not self.host_key.exists():
            _keygen(self.host_key, "loopback-sshd-host")
        if not self.identity.exists():
            _keygen(self.identity, "loopback-sshd-client")
        keys = [self.identity.with_suffix(".pub").read_text().strip()]
        keys += [k.strip() for k in self.extra_authorized_keys]
        self.authorized_keys.write_text("\n".join(keys) + "\n")
        self.authorized_keys.chmod(0o600)
        if os.geteuid() == 0:
            # Debian's sshd refuses to start without its privilege separation directory.
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        last_error = ""
        for _attempt in range(3):
            self.port = _free_port()
            self._write_config()
            self.log_path.write_bytes(b"")
            self._proc = subprocess.Popen(
                [sshd, "-D", "-f", str(self.config_path), "-E", str(self.log_path)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            try:
                self._wait_ready()
            except SshdUnavailableError as exc:
                last_error = str(exc)
                self.stop()
                continue
            self.known_hosts.write_text(self.known_hosts_line() + "\n")
            return self
        raise SshdUnavailableError(f"sshd did not start: {last_error}")

    def _write_config(self) -> None:
        lines = [
            f"ListenAddress {self.host}:{self.port}",
            f"HostKey {self.host_key}",
            f"AuthorizedKeysFile {self.authorized_keys}",
            f"AllowUsers {self.user}",
            "PermitRootLogin prohibit-password",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            "StrictModes no",
            "PidFile none",
            "LogLevel VERBOSE",
            "Subsystem sftp internal-sftp",
            "MaxStartups 50",
            *self.extra_config,
        ]
        self.config_path.write_text("\n".join(lines) + "\n")

    def _wait_ready(self) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                err = self._proc.stderr.read().decode() if self._proc.stderr else ""
                log = self.log_path.read_text(errors="replace")
                raise SshdUnavailableError(
                    f"sshd exited with {self._proc.returncode}: {(err + log).strip()[-300:]}"
                )
            try:
                with socket.create_connection((self.host, self.port), timeout=1) as sock:
                    sock.settimeout(2)
                    if sock.recv(64).startswith(b"SSH-"):
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise SshdUnavailableError(f"sshd gave no banner within {self.start_timeout:g} s")

    def stop(self) -> None:
        """Stop sshd (its forked sessions end with their connections)."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()

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
        algo, blob, *_ = self.host_key.with_suffix(".pub").read_text().split()
        return f"{algo} {blob}"

    def known_hosts_line(self, host: str | None = None) -> str:
        """A known_hosts line that pins this server's key for ``[host]:port``."""
        return f"[{host or self.host}]:{self.port} {self.host_public_key}"

    @property
    def target(self) -> str:
        """``user@127.0.0.1``, as a command line takes it (the port is separate)."""
        return f"{self.user}@{self.host}"

    def ssh_argv(self, *command: str) -> list[str]:
        """An OpenSSH client argv that runs ``command`` here with strict host key checking."""
        return [
            "ssh",
            "-p", str(self.port),
            "-i", str(self.identity),
            "-o", "IdentitiesOnly=yes",
            "-o", "BatchMode=yes",
            "-o", "StrictHostKeyChecking=yes",
            "-o", f"UserKnownHostsFile={self.known_hosts}",
            "-o", "GlobalKnownHostsFile=/dev/null",
            self.target,
            *command,
        ]

    def log_text(self) -> str:
        """sshd's log so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def sessions_started(self) -> int:
        """How many session channels sshd has opened (``LogLevel VERBOSE`` lines)."""
        return self.log_text().count("Starting session:")
