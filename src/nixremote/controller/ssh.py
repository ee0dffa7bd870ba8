"""The SSH transport: :class:`SshTransport`, over Fabric and paramiko (imported lazily).

Connecting (:func:`connect`) checks the host key against a known_hosts file:

``strict`` (the default)
    The key must already be recorded (``~/.ssh/known_hosts`` and ``/etc/ssh/ssh_known_hosts``,
    or the file given). An unknown key and a changed key are both refused with
    :class:`~nixremote.core.errors.HostKeyError`.
``accept-new``
    An unknown host's key is recorded in the known_hosts file and the connection goes on (the
    reporter and the log say so, with the fingerprint); a changed key is still refused.

The files are read by :mod:`.known_hosts`, not by paramiko (which cannot read markers): hashed
entries, patterns and aliases match as in OpenSSH, ``@revoked`` keys are refused,
``@cert-authority`` lines are skipped with a warning, and a line for the host that holds no
readable key is an error. ``--known-hosts /dev/null`` records nothing (with ``accept-new``: trust
on first use for this connection only). The server is asked for the key types known for it first.

Fabric's silent ``AutoAddPolicy`` is never used, for the host nor for a jump host. The user's
``~/.ssh/config`` is not read: every option comes from the arguments, so what is checked does
not depend on a file the user may not think of.

Commands run on their own exec channel each (``commands_run`` counts them); their stdin is fed
in full and then closed. With ``sudo`` a non-root user's commands run through ``sudo``; its
password comes from ``NIXREMOTE_SUDO_PASSWORD`` or a prompt callback and travels on stdin,
never in argv. Files move over the same exec channels (``cat``), so neither SFTP nor scp is
needed on the host, and uploads report progress and can resume.

Every paramiko, socket and invoke failure is raised as a one-line
:class:`~nixremote.core.errors.TransportError` (or :class:`HostKeyError`) with a hint.
"""

from __future__ import annotations

import base64
import logging
import os
import select
import shlex
import socket
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from ..core.errors import CommandFailedError, HostKeyError, InvalidInputError, TransportError
from ..core.hostkeys import fingerprint
from ..core.progress import Reporter, report
from ..core.transport import CommandResult, LineCallback, check_result
from .known_hosts import KnownHosts, known_hosts_host, load_known_hosts, record_known_host

if TYPE_CHECKING:
    import paramiko

log = logging.getLogger(__name__)

SUDO_PASSWORD_ENV = "NIXREMOTE_SUDO_PASSWORD"
HOST_KEY_POLICIES = ("strict", "accept-new")
DEFAULT_CONNECT_TIMEOUT = 15.0
CHANNEL_TIMEOUT = 120.0
_CHUNK = 256 * 1024
_SUDO_FAILED = 97

ProgressCallback = Callable[[int, int], None]
"""``on_progress(done_bytes, total_bytes)``."""

# The sudo wrapper reads the password line from stdin (``read`` takes one byte at a time, so
# the rest of stdin stays for the command), validates it with ``sudo -S -v`` and runs the
# command with ``sudo -n`` from the same shell, which finds the fresh credentials.
_SUDO_WRAPPER = (
    'IFS= read -r p; printf "%s\\n" "$p" | sudo -S -p "" -v >/dev/null 2>&1 '
    '|| { echo "nixremote: sudo refused the password" >&2; exit 97; }; '
    'unset p; sudo -n -- "$@"'
)


def _port(text: str, target: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise InvalidInputError(
            f"cannot read the port in {target!r}", hint="use a port from 1 to 65535"
        )
    return int(text)


def parse_target(target: str) -> tuple[str | None, str, int | None]:
    """``[USER@]HOST[:PORT]`` (``HOST`` may be ``[v6 address]``) into (user, host, port).

    Refused: an unclosed or stray bracket, a port outside 1..65535, an empty or
    whitespace-holding host or user, a host or user starting with ``-`` (it would read as an
    option), a control character anywhere."""
    user: str | None = None
    port: int | None = None
    rest = target.strip()
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in target):
        raise InvalidInputError(f"cannot read the target {target!r}", hint="use [USER@]HOST[:PORT]")
    if "@" in rest:
        user, _, rest = rest.rpartition("@")
        user = user or None
        if user is not None and (user.startswith("-") or any(c.isspace() for c in user)):
            raise InvalidInputError(f"cannot read the user in {target!r}", hint="use USER@HOST")
    if rest.startswith("["):
        host, closed, tail = rest[1:].partition("]")
        if not closed or "[" in host:
            raise InvalidInputError(
                f"cannot read the host {target!r}: the bracket is not closed",
                hint="use [ADDR] or [ADDR]:PORT",
            )
        if tail.startswith(":"):
            port = _port(tail[1:], target)
        elif tail:
            raise InvalidInputError(f"cannot read the host {target!r}", hint="use [ADDR]:PORT")
    elif rest.count(":") == 1:
        host, _, p = rest.partition(":")
        port = _port(p, target)
    else:
        host = rest
    if (
        not host
        or any(c.isspace() for c in host)
        or host.startswith("-")
        or "[" in host
        or "]" in host
    ):
        raise InvalidInputError(f"cannot read the host {target!r}", hint="use [USER@]HOST")
    return user, host, port


def _hint_for_oserror(exc: BaseException, host: str, port: int) -> tuple[str, str]:
    if isinstance(exc, ConnectionRefusedError):
        return (f"connection to {host} port {port} refused", f"is sshd listening on port {port}?")
    if isinstance(exc, socket.gaierror):
        return (f"cannot resolve host name {host!r}", "check the spelling or use an address")
    if isinstance(exc, TimeoutError | socket.timeout):
        return (
            f"connecting to {host} port {port} timed out",
            "check the address, the port and any firewall, or raise --connect-timeout",
        )
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return (f"cannot connect to {host} port {port}: {text}", "check the address and port")


def _key_fingerprint(key: paramiko.PKey) -> str:
    return fingerprint(f"{key.get_name()} {key.get_base64()}")


class SshTransport:
    """A :class:`~nixremote.core.transport.Transport` over one SSH connection.

    Create it with :func:`connect`, which opens the connection (so that connection errors
    surface there) and returns the transport. Use it as a context manager or call
    :meth:`close`.
    """

    def __init__(
        self,
        host: str,
        *,
        user: str = "root",
        port: int = 22,
        identity_file: str | os.PathLike[str] | None = None,
        jump: str | None = None,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        known_hosts: str | os.PathLike[str] | None = None,
        host_key_policy: str = "strict",
        sudo: bool = False,
        sudo_password: str | None = None,
        sudo_prompt: Callable[[], str] | None = None,
        reporter: Reporter | None = None,
    ) -> None:
        if host_key_policy not in HOST_KEY_POLICIES:
            raise InvalidInputError(
                f"unknown host key policy {host_key_policy!r}",
                hint=f"use one of: {', '.join(HOST_KEY_POLICIES)}",
            )
        self.hostname = host
        self.user = user
        self.port = int(port)
        self.identity_file = Path(identity_file).expanduser() if identity_file else None
        self.jump = jump
        self.connect_timeout = float(connect_timeout)
        self.known_hosts = Path(known_hosts or "~/.ssh/known_hosts").expanduser()
        self._system_known_hosts = None if known_hosts else Path("/etc/ssh/ssh_known_hosts")
        self.host_key_policy = host_key_policy
        self.sudo = sudo and user != "root"
        self._sudo_password = sudo_password
        self._sudo_prompt = sudo_prompt
        self._sudo_asked = False
        self._reporter = reporter
        self.commands_run = 0
        """Exec channels opened so far (one per :meth:`run`, :meth:`put`, :meth:`get`)."""
        self.accepted_new_key: str | None = None
        """The fingerprint recorded by ``accept-new``, when this connection recorded one."""
        self._conn: Any = None
        self._gateway: Any = None

    # --- connection ------------------------------------------------------------------------

    @property
    def host(self) -> str:
        name = f"[{self.hostname}]" if ":" in self.hostname else self.hostname
        return f"{self.user}@{name}:{self.port}"

    def _known(self, host: str, port: int) -> KnownHosts:
        """The known_hosts entries for ``host:port``: the system's file (unless a file was
        given) and the user's, read as OpenSSH reads them (:mod:`.known_hosts`)."""
        paths = [p for p in (self._system_known_hosts, self.known_hosts) if p is not None]
        known = load_known_hosts(paths, host, port)
        for entry in known.cert_authorities:
            message = (
                f"skipping the @cert-authority line ({entry.where}) for {known.name}: "
                "nixremote does not check host certificates"
            )
            log.warning("%s", message)
            report(self._reporter, "warning", message, phase="connect")
        return known

    def _policy(self, label: str, known: KnownHosts) -> Any:
        import paramiko

        transport = self

        class Policy(paramiko.MissingHostKeyPolicy):  # type: ignore[misc]
            """Every host key reaches this policy (paramiko is given no known keys): the
            decision is OpenSSH's, made by :meth:`KnownHosts.verdict`."""

            def missing_host_key(self, client: Any, hostname: str, key: paramiko.PKey) -> None:
                fp = _key_fingerprint(key)
                verdict, entry = known.verdict(key.get_name(), key.asbytes())
                if verdict == "known":
                    return
                if verdict == "revoked":
                    assert entry is not None
                    raise HostKeyError(
                        f"the host key of {label} ({key.get_name()} {fp}) is REVOKED "
                        f"({entry.where})",
                        hint="do not connect; someone may be intercepting the connection",
                    )
                if verdict == "changed":
                    assert entry is not None
                    expected = fingerprint(
                        f"{entry.key_type} {base64.b64encode(entry.blob).decode()}"
                    )
                    host, port = _split_known_name(hostname)
                    raise HostKeyError(
                        f"the host key of {host} port {port} has CHANGED: it is now "
                        f"{key.get_name()} {fp}, {entry.path} has {expected}",
                        hint=f"if the host was reinstalled, remove the old key with "
                        f"ssh-keygen -R '{hostname}' -f {entry.path}; otherwise someone may be "
                        "intercepting the connection",
                    )
                if verdict == "other-type":
                    raise HostKeyError(
                        f"the host key of {label} ({key.get_name()} {fp}) is of another type "
                        f"than the one recorded in {transport.known_hosts}",
                        hint="check the host; remove the old key with ssh-keygen -R",
                    )
                if transport.host_key_policy != "accept-new":
                    raise HostKeyError(
                        f"the host key of {label} ({key.get_name()} {fp}) "
                        f"is not in {transport.known_hosts}",
                        hint="check the fingerprint out of band, then record it with "
                        "--accept-new (or ssh-keyscan into --known-hosts)",
                    )
                host, port = _split_known_name(hostname)
                try:
                    record_known_host(
                        transport.known_hosts,
                        host,
                        port,
                        [f"{key.get_name()} {key.get_base64()}"],
                        replace=False,
                    )
                except OSError as exc:
                    raise HostKeyError(
                        f"cannot record the host key of {label} in {transport.known_hosts}: "
                        f"{exc.strerror}",
                        hint="check that the known_hosts file is writable",
                    ) from None
                transport.accepted_new_key = fp
                report(
                    transport._reporter,
                    "warning",
                    f"accepted the new host key of {label} ({key.get_name()} {fp}) and "
                    f"recorded it in {transport.known_hosts}",
                    phase="connect",
                    data={"fingerprint": fp, "host": label},
                )

        return Policy()

    def _connection(self, host: str, user: str, port: int, gateway: Any = None) -> Any:
        from fabric import Config, Connection

        known = self._known(host, port)
        config = Config(overrides={"load_ssh_configs": False, "run": {"hide": True}})
        connect_kwargs: dict[str, Any] = {
            "banner_timeout": self.connect_timeout,
            "auth_timeout": self.connect_timeout,
            "transport_factory": _transport_factory(known.key_types()),
        }
        if self.identity_file is not None:
            connect_kwargs.update(
                key_filename=[str(self.identity_file)], look_for_keys=False, allow_agent=False
            )
        conn = Connection(
            host,
            user=user,
            port=port,
            config=config,
            gateway=gateway if gateway is not None else False,
            connect_timeout=max(1, round(self.connect_timeout)),
            connect_kwargs=connect_kwargs,
        )
        label = f"{user}@{host}:{port}"
        conn.client.set_missing_host_key_policy(self._policy(label, known))
        return conn

    def open(self) -> SshTransport:
        """Open the connection (and the jump host's); raise a one-line error when it fails."""
        if self._conn is not None:
            return self
        gateway = None
        if self.jump:
            juser, jhost, jport = parse_target(self.jump)
            gateway = self._connection(jhost, juser or self.user, jport or 22)
            self._gateway = gateway
            self._open(gateway, jhost, jport or 22, juser or self.user, what="jump host ")
        conn = self._connection(self.hostname, self.user, self.port, gateway)
        self._open(conn, self.hostname, self.port, self.user)
        self._conn = conn
        transport = conn.client.get_transport()
        if transport is not None:
            transport.set_keepalive(30)
        return self

    def _open(self, conn: Any, host: str, port: int, user: str, *, what: str = "") -> None:
        import paramiko

        try:
            conn.open()
            return
        except HostKeyError:
            conn.close()
            raise
        except paramiko.BadHostKeyException as exc:
            conn.close()
            name = known_hosts_host(host, port)
            raise HostKeyError(
                f"the host key of {what}{host} port {port} has CHANGED: it is now "
                f"{exc.key.get_name()} {_key_fingerprint(exc.key)}, {self.known_hosts} has "
                f"{_key_fingerprint(exc.expected_key)}",
                hint=f"if the host was reinstalled, remove the old key with "
                f"ssh-keygen -R '{name}' -f {self.known_hosts}; otherwise someone may be "
                "intercepting the connection",
            ) from None
        except paramiko.AuthenticationException:
            conn.close()
            key = f" with {self.identity_file}" if self.identity_file else ""
            raise TransportError(
                f"the {what}host {host} port {port} refused authentication as {user}{key}",
                hint="check the user and the key (-i); the key must be in the host's "
                "authorized_keys",
            ) from None
        except paramiko.ssh_exception.NoValidConnectionsError as exc:
            conn.close()
            errors = list(exc.errors.values())
            if errors and all(isinstance(e, ConnectionRefusedError) for e in errors):
                message, hint = _hint_for_oserror(errors[0], host, port)
            else:
                message, hint = _hint_for_oserror(errors[0] if errors else exc, host, port)
            raise TransportError(what + message if what else message, hint=hint) from None
        except (paramiko.SSHException, EOFError) as exc:
            conn.close()
            raise TransportError(
                f"SSH handshake with {what}{host} port {port} failed: "
                f"{str(exc).strip() or type(exc).__name__}",
                hint="is it an SSH server? check the port, or raise --connect-timeout",
            ) from None
        except OSError as exc:
            conn.close()
            message, hint = _hint_for_oserror(exc, host, port)
            raise TransportError(what + message if what else message, hint=hint) from None

    def close(self) -> None:
        for conn in (self._conn, self._gateway):
            if conn is not None:
                try:
                    conn.close()
                except Exception:  # closing a dead connection may fail in any way
                    log.debug("closing %s failed", self.host, exc_info=True)
        self._conn = None
        self._gateway = None

    def __enter__(self) -> SshTransport:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- commands --------------------------------------------------------------------------

    def _password(self) -> str | None:
        if self._sudo_password is None:
            env = os.environ.get(SUDO_PASSWORD_ENV)
            if env is not None:
                self._sudo_password = env
            elif self._sudo_prompt is not None and not self._sudo_asked:
                # ask once, and only when sudo wants a password (``sudo -n true`` fails)
                self._sudo_asked = True
                if not self._exec(["true"], stdin=None, timeout=CHANNEL_TIMEOUT).ok:
                    self._sudo_password = self._sudo_prompt()
        return self._sudo_password

    def command_line(self, argv: Sequence[str]) -> tuple[str, bytes]:
        """The remote command line for ``argv`` and what goes before the caller's stdin."""
        args = list(argv)
        if not args:
            raise InvalidInputError("empty command", hint="pass an argv list")
        if not self.sudo:
            return shlex.join(args), b""
        password = self._password()
        if password is None:
            return shlex.join(["sudo", "-n", "--", *args]), b""
        if "\n" in password:
            raise InvalidInputError("the sudo password contains a newline", hint="check it")
        return shlex.join(["sh", "-c", _SUDO_WRAPPER, "sh", *args]), password.encode() + b"\n"

    def _session(self) -> Any:
        import paramiko

        if self._conn is None:
            self.open()
        transport = self._conn.client.get_transport()
        if transport is None or not transport.is_active():
            raise TransportError(f"the connection to {self.host} is closed", hint="connect again")
        try:
            # A slow host (a freshly kexec'd installer under load) can take long to start a
            # session; the connection itself is known to work, so wait longer than to connect.
            chan = transport.open_session(timeout=max(self.connect_timeout, CHANNEL_TIMEOUT))
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise TransportError(
                f"cannot open a channel to {self.host}: {str(exc) or type(exc).__name__}",
                hint="the connection broke; connect again",
            ) from None
        self.commands_run += 1
        return chan

    def _exec(
        self,
        argv: Sequence[str],
        *,
        stdin: bytes | IO[bytes] | None,
        timeout: float | None,
        on_line: LineCallback | None = None,
        stdin_total: int | None = None,
        on_progress: ProgressCallback | None = None,
        tty: bool = False,
    ) -> CommandResult:
        import paramiko

        args = tuple(argv)
        line, prefix = self.command_line(args)
        chan = self._session()
        if tty:
            chan.get_pty(term="dumb", width=200, height=24)
        deadline = None if timeout is None else time.monotonic() + timeout
        feed_error: list[BaseException] = []

        def feed() -> None:
            try:
                if prefix:
                    chan.sendall(prefix)
                if isinstance(stdin, bytes | bytearray):
                    chan.sendall(stdin)
                elif stdin is not None:
                    done = 0
                    while True:
                        block = stdin.read(_CHUNK)
                        if not block:
                            break
                        chan.sendall(block)
                        done += len(block)
                        if on_progress is not None:
                            on_progress(done, stdin_total or done)
                chan.shutdown_write()
            except (OSError, EOFError, paramiko.SSHException) as exc:
                feed_error.append(exc)

        out = bytearray()
        err = bytearray()
        pending = b""
        try:
            chan.exec_command(line)
            feeder = threading.Thread(target=feed, name="nixremote-ssh-stdin", daemon=True)
            feeder.start()
            while True:
                got = False
                while chan.recv_ready():
                    data = chan.recv(_CHUNK)
                    if not data:
                        break
                    got = True
                    out += data
                    if on_line is not None:
                        pending += data
                        *lines, pending = pending.split(b"\n")
                        for raw in lines:
                            on_line(raw.decode("utf-8", "replace"))
                while chan.recv_stderr_ready():
                    got = True
                    err += chan.recv_stderr(_CHUNK)
                if (
                    chan.exit_status_ready()
                    and not chan.recv_ready()
                    and not chan.recv_stderr_ready()
                ) and (chan.closed or chan.eof_received):
                    break
                if deadline is not None and time.monotonic() > deadline:
                    chan.close()
                    raise TransportError(
                        f"{args[0]} on {self.host} did not finish within {timeout:g} s",
                        hint="the host is slow or stuck; raise --timeout or check the host",
                    )
                if not got:
                    select.select([chan], [], [], 0.05)
            status = chan.recv_exit_status()
            feeder.join(timeout=5)
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise TransportError(
                f"running {args[0]} on {self.host} failed: {str(exc) or type(exc).__name__}",
                hint="the connection broke; check the host and connect again",
            ) from None
        finally:
            chan.close()
        if on_line is not None and pending:
            on_line(pending.decode("utf-8", "replace"))
        if self.sudo and status == _SUDO_FAILED and b"nixremote: sudo refused" in err:
            raise TransportError(
                f"sudo on {self.host} refused the password of {self.user}",
                hint=f"check the password ({SUDO_PASSWORD_ENV}) and that {self.user} may sudo",
            )
        if status == -1:
            status = 255  # no exit status: the command was killed or the channel broke
        if feed_error and status == 0:
            log.debug("feeding stdin to %s failed: %s", args[0], feed_error[0])
        return CommandResult(argv=args, returncode=status, stdout=bytes(out), stderr=bytes(err))

    def run(
        self,
        argv: Sequence[str],
        *,
        stdin: bytes | None = None,
        timeout: float | None = None,
        check: bool = True,
        on_line: LineCallback | None = None,
    ) -> CommandResult:
        """Run ``argv`` on the host in one exec channel (see the Transport protocol)."""
        result = self._exec(argv, stdin=stdin, timeout=timeout, on_line=on_line)
        return check_result(result) if check else result

    def run_tty(
        self, argv: Sequence[str], *, stdin: bytes, timeout: float | None = None
    ) -> CommandResult:
        """Run ``argv`` with a pseudo-terminal and type ``stdin`` into it (for a program that
        reads a secret from its terminal only, such as ``systemd-tty-ask-password-agent``).
        What the terminal echoes comes back in ``stdout``; never pass the secret in ``argv``."""
        return self._exec(argv, stdin=stdin, timeout=timeout, tty=True)

    # --- files -----------------------------------------------------------------------------

    def remote_size(self, remote: str) -> int | None:
        """The size of ``remote`` on the host, or ``None`` when it does not exist."""
        script = 'if [ -f "$1" ]; then wc -c < "$1"; else echo none; fi'
        result = self.run(["sh", "-c", script, "sh", remote], check=True, timeout=60)
        text = result.text.strip()
        return int(text) if text.isdigit() else None

    def put(
        self,
        local: Path,
        remote: str,
        *,
        mode: int | None = None,
        on_progress: ProgressCallback | None = None,
        resume: bool = False,
        timeout: float | None = None,
    ) -> None:
        """Copy ``local`` to ``remote`` in one exec channel, streaming it in chunks.

        ``on_progress(sent, total)`` is called after every chunk. With ``resume`` a partial
        ``remote`` (shorter than ``local``) is completed instead of sent again: one more
        exec learns its size, and only the rest is sent (check the result's sha256 when it
        matters). The file is written to ``remote.part`` and renamed when complete.
        """
        local = Path(local)
        try:
            total = local.stat().st_size
            handle = local.open("rb")
        except OSError as exc:
            raise TransportError(
                f"cannot read {local}: {exc.strerror}", hint="check the path"
            ) from None
        offset = 0
        with handle:
            if resume:
                have = self.remote_size(remote + ".part")
                if have is not None and 0 < have <= total:
                    offset = have
                    handle.seek(offset)
            chmod = f'chmod {mode:o} "$1.part" && ' if mode is not None else ""
            redirect = ">>" if offset else ">"
            # Rename only a complete file: an interrupted stream ends cat with success too.
            script = (
                f'umask 077; cat {redirect} "$1.part" || exit; '
                f'[ "$(wc -c < "$1.part")" -eq {total} ] || '
                '{ echo "nixremote: upload incomplete, kept $1.part" >&2; exit 75; }; '
                f'{chmod}mv -f "$1.part" "$1"'
            )

            def progress(done: int, _total: int) -> None:
                if on_progress is not None:
                    on_progress(offset + done, total)

            if on_progress is not None:
                on_progress(offset, total)
            result = self._exec(
                ["sh", "-c", script, "sh", remote],
                stdin=handle,
                timeout=timeout,
                stdin_total=total,
                on_progress=progress,
            )
        check_result(result, f"writing {remote} on {self.host}")

    def get(self, remote: str, local: Path) -> None:
        """Copy ``remote`` from the host into ``local`` (in one exec channel)."""
        result = self._exec(["cat", "--", remote], stdin=None, timeout=None)
        if not result.ok:
            raise CommandFailedError(
                f"cannot read {remote} on {self.host}: {result.tail(1)}",
                argv=result.argv,
                returncode=result.returncode,
                output=result.tail(),
                hint="check the path",
            )
        try:
            Path(local).write_bytes(result.stdout)
        except OSError as exc:
            raise TransportError(
                f"cannot write {local}: {exc.strerror}", hint="check the path"
            ) from None


_ALGORITHMS = {"ssh-rsa": ("rsa-sha2-512", "rsa-sha2-256", "ssh-rsa")}


def _transport_factory(known_types: tuple[str, ...]) -> Callable[..., Any]:
    """A paramiko Transport that asks the server for the key types known for it first (as
    OpenSSH orders ``HostKeyAlgorithms`` by known_hosts), so a host known by its RSA key is not
    met with its ed25519 key."""

    def make(sock: Any, **kwargs: Any) -> Any:
        import paramiko

        t = paramiko.Transport(sock, **kwargs)
        if known_types:
            options = t.get_security_options()
            offered = list(options.key_types)
            first = [a for k in known_types for a in _ALGORITHMS.get(k, (k,)) if a in offered]
            options.key_types = [*dict.fromkeys(first), *(a for a in offered if a not in first)]
        return t

    return make


def _split_known_name(name: str) -> tuple[str, int]:
    if name.startswith("[") and "]:" in name:
        host, _, port = name[1:].partition("]:")
        if port.isdigit():
            return host, int(port)
    return name, 22


def connect(
    host: str,
    *,
    user: str | None = None,
    port: int | None = None,
    identity_file: str | os.PathLike[str] | None = None,
    jump: str | None = None,
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    known_hosts: str | os.PathLike[str] | None = None,
    host_key_policy: str = "strict",
    sudo: bool = False,
    sudo_password: str | None = None,
    sudo_prompt: Callable[[], str] | None = None,
    reporter: Reporter | None = None,
) -> SshTransport:
    """Open an SSH connection to ``host`` (``[USER@]HOST[:PORT]``) and return its transport.

    ``user`` and ``port`` override what ``host`` names; the defaults are root and 22.
    """
    t_user, t_host, t_port = parse_target(host)
    transport = SshTransport(
        t_host,
        user=user or t_user or "root",
        port=port or t_port or 22,
        identity_file=identity_file,
        jump=jump,
        connect_timeout=connect_timeout,
        known_hosts=known_hosts,
        host_key_policy=host_key_policy,
        sudo=sudo,
        sudo_password=sudo_password,
        sudo_prompt=sudo_prompt,
        reporter=reporter,
    )
    return transport.open()
