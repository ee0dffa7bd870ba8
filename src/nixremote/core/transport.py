"""How nixremote runs commands on a host: one narrow interface, two implementations.

:class:`Transport` is what every stage uses (run a command with optional stdin, put a file, get
a file, close). :class:`LocalTransport` runs on the machine itself (inside the installer);
:class:`nixremote.controller.ssh.SshTransport` runs over SSH (Fabric/paramiko, imported lazily).

Commands are argv lists. Over SSH they are quoted with :func:`shlex.join`; a script is sent as
``["sh", "-c", script]``. Secrets go on ``stdin``, never in argv.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

from attrs import frozen

from .errors import CommandFailedError, TransportError

LineCallback = Callable[[str], None]


@frozen(kw_only=True)
class CommandResult:
    """What a command did: its argv, exit status and output (bytes, undecoded)."""

    argv: tuple[str, ...]
    returncode: int
    stdout: bytes
    stderr: bytes

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def text(self) -> str:
        return self.stdout.decode("utf-8", "replace")

    def tail(self, lines: int = 20) -> str:
        both = (self.stdout + b"\n" + self.stderr).decode("utf-8", "replace").strip()
        return "\n".join(both.splitlines()[-lines:])


def check_result(result: CommandResult, what: str | None = None) -> CommandResult:
    """Raise :class:`CommandFailedError` when ``result`` failed."""
    if result.ok:
        return result
    tail = result.tail(5).replace("\n", " | ")
    raise CommandFailedError(
        f"{what or result.argv[0]} failed with exit code {result.returncode}: {tail}",
        argv=result.argv,
        returncode=result.returncode,
        output=result.tail(),
    )


@runtime_checkable
class Transport(Protocol):
    """Run commands and move files on one host."""

    @property
    def host(self) -> str:
        """A short name of the host for messages (``root@203.0.113.7:22``, ``local``)."""
        ...

    def run(
        self,
        argv: Sequence[str],
        *,
        stdin: bytes | None = None,
        timeout: float | None = None,
        check: bool = True,
        on_line: LineCallback | None = None,
    ) -> CommandResult:
        """Run ``argv``; feed ``stdin``; call ``on_line`` for each stdout line as it arrives.

        With ``check`` a non-zero exit raises :class:`CommandFailedError`; a timeout raises
        :class:`TransportError`.
        """
        ...

    def put(self, local: Path, remote: str, *, mode: int | None = None) -> None:
        """Copy a local file to ``remote`` (a path on the host)."""
        ...

    def get(self, remote: str, local: Path) -> None:
        """Copy ``remote`` from the host into the local file ``local``."""
        ...

    def close(self) -> None:
        """Release the connection; the transport is unusable afterwards."""
        ...


class LocalTransport:
    """Runs on this machine with :mod:`subprocess` (used inside the installer, and in tests)."""

    def __init__(self, *, env: dict[str, str] | None = None) -> None:
        self._env = env
        self.commands_run = 0

    @property
    def host(self) -> str:
        return "local"

    def run(
        self,
        argv: Sequence[str],
        *,
        stdin: bytes | None = None,
        timeout: float | None = None,
        check: bool = True,
        on_line: LineCallback | None = None,
    ) -> CommandResult:
        args = tuple(argv)
        self.commands_run += 1
        env = None if self._env is None else {**os.environ, **self._env}
        try:
            if on_line is None:
                proc = subprocess.run(
                    args,
                    input=stdin if stdin is not None else b"",
                    capture_output=True,
                    timeout=timeout,
                    env=env,
                    check=False,
                )
                result = CommandResult(
                    argv=args, returncode=proc.returncode, stdout=proc.stdout, stderr=proc.stderr
                )
            else:
                result = self._stream(args, stdin, timeout, env, on_line)
        except FileNotFoundError:
            raise TransportError(
                f"{args[0]}: command not found", hint="install it or check PATH"
            ) from None
        except subprocess.TimeoutExpired:
            raise TransportError(
                f"{args[0]} did not finish within {timeout:g} s", hint="check the host's load"
            ) from None
        return check_result(result) if check else result

    def _stream(
        self,
        args: tuple[str, ...],
        stdin: bytes | None,
        timeout: float | None,
        env: dict[str, str] | None,
        on_line: LineCallback,
    ) -> CommandResult:
        import tempfile
        import threading

        with tempfile.TemporaryFile() as err:
            proc = subprocess.Popen(
                args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, env=env
            )
            assert proc.stdin is not None and proc.stdout is not None

            def feed() -> None:
                assert proc.stdin is not None
                try:
                    if stdin:
                        proc.stdin.write(stdin)
                finally:
                    proc.stdin.close()

            feeder = threading.Thread(target=feed, daemon=True)
            feeder.start()
            out = bytearray()
            for raw in proc.stdout:
                out += raw
                on_line(raw.decode("utf-8", "replace").rstrip("\n"))
            proc.wait(timeout=timeout)
            feeder.join()
            err.seek(0)
            return CommandResult(
                argv=args, returncode=proc.returncode, stdout=bytes(out), stderr=err.read()
            )

    def put(self, local: Path, remote: str, *, mode: int | None = None) -> None:
        try:
            shutil.copyfile(local, remote)
            if mode is not None:
                os.chmod(remote, mode)
        except OSError as exc:
            raise TransportError(f"cannot copy {local} to {remote}: {exc.strerror}") from None

    def get(self, remote: str, local: Path) -> None:
        try:
            shutil.copyfile(remote, local)
        except OSError as exc:
            raise TransportError(f"cannot copy {remote} to {local}: {exc.strerror}") from None

    def close(self) -> None:
        pass

    def __enter__(self) -> LocalTransport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
