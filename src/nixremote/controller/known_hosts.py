"""known_hosts files: read as OpenSSH reads them, written without losing what they hold.

**Reading** (:func:`load_known_hosts`, :meth:`KnownHosts.verdict`): every line is
``[@marker] hosts keytype base64 [comment]``. ``hosts`` is a comma-separated list of patterns
(``*`` and ``?`` wildcards, ``!`` negation, ``[host]:port`` for another port than 22) or a
hashed name (``|1|salt|hash``, HMAC-SHA1 of the name, as ``HashKnownHosts`` writes it). For a
host, the keys of every matching line count:

- ``@revoked`` lines name keys that are refused, whatever else the files say (as OpenSSH);
- ``@cert-authority`` lines are skipped with a warning: nixremote does not check host
  certificates, so a host known only through its CA is unknown;
- a key listed for the host is accepted; another key of a type listed for the host is a changed
  key; a key of a type not listed is unknown (and so is a host without lines);
- on another port than 22, a key nobody lists for ``[host]:port`` is still accepted when the
  plain ``host`` lists it (OpenSSH's "found matching key w/out port").

A line that matches the host but does not hold a key nixremote can read (bad base64, a blob of
another type) is an error naming the file and line; lines of other hosts are not looked at
beyond their host field, and keys of types nixremote does not know are ignored (as OpenSSH
ignores types it does not support).

**Writing** (:func:`record_known_host`): keys are recorded only when nixremote generated them or
received them over a verified connection. The file is rewritten atomically (a temporary file in
its directory, renamed over it) while an ``flock`` on it keeps a second nixremote out, with its
mode and owner kept (0600 for a new file). With ``replace`` the lines of exactly this host and
port go first: a hashed line for it is dropped (the new line is hashed too), a line that also
names other hosts (``host,alias ...``) keeps them and loses only this name; marker lines,
comments and lines nixremote cannot read are kept as they are. A symbolic link is followed (its
target is rewritten); ``/dev/null`` means "do not record" (the file stays what it is); any other
file that is not a regular file is refused.
"""

from __future__ import annotations

import base64
import binascii
import fcntl
import hashlib
import hmac
import logging
import os
import re
import stat
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from attrs import frozen

from ..core.errors import HostKeyError, InvalidInputError, InvalidValueError
from ..core.sshkeys import KEY_TYPES, embedded_type, parse_key_line

log = logging.getLogger(__name__)

DEV_NULL = Path("/dev/null")
MARKERS = ("@cert-authority", "@revoked")


def known_hosts_host(host: str, port: int = 22) -> str:
    """The host field of a known_hosts line: ``host`` on port 22, else ``[host]:port``."""
    return host if port == 22 else f"[{host}]:{port}"


# --- matching ------------------------------------------------------------------------------------


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    parts = ("." if c == "?" else ".*" if c == "*" else re.escape(c) for c in pattern)
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL)


def hash_name(name: str, salt: bytes | None = None) -> str:
    """``|1|salt|hash`` of ``name`` (OpenSSH's ``HashKnownHosts``); a fresh salt when none."""
    salt = os.urandom(20) if salt is None else salt
    digest = hmac.new(salt, name.encode(), hashlib.sha1).digest()
    return f"|1|{base64.b64encode(salt).decode()}|{base64.b64encode(digest).decode()}"


def _hashed_match(field: str, name: str) -> bool:
    parts = field.split("|")
    if len(parts) != 4 or parts[1] != "1":
        return False
    try:
        salt = base64.b64decode(parts[2], validate=True)
        expected = base64.b64decode(parts[3], validate=True)
    except (binascii.Error, ValueError):
        return False
    digest = hmac.new(salt, name.encode(), hashlib.sha1).digest()
    return hmac.compare_digest(digest, expected)


def hosts_match(field: str, name: str) -> bool:
    """Whether the hosts field of a line matches ``name`` (``host`` or ``[host]:port``)."""
    if field.startswith("|"):
        return _hashed_match(field, name)
    matched = False
    for pattern in field.split(","):
        negated = pattern.startswith("!")
        body = pattern[1:] if negated else pattern
        if body and _pattern_regex(body).fullmatch(name):
            if negated:
                return False
            matched = True
    return matched


# --- reading -----------------------------------------------------------------------------------


@frozen(kw_only=True)
class Entry:
    """One key line: its marker (``None``, ``@cert-authority``, ``@revoked``), hosts field,
    key type and blob, and where it is."""

    marker: str | None
    hosts: str
    key_type: str
    blob: bytes
    path: Path
    number: int

    @property
    def where(self) -> str:
        return f"line {self.number} of {self.path}"


def _fields(line: str) -> tuple[str | None, list[str]] | None:
    """``(marker, the other fields)`` of a line; ``None`` for a blank line or a comment."""
    fields = line.split()
    if not fields or fields[0].startswith("#"):
        return None
    if fields[0].startswith("@"):
        return fields[0], fields[1:]
    return None, fields


def _entry(line: str, path: Path, number: int, name: str) -> Entry | None:
    """The entry of a line when it concerns ``name`` (``None`` otherwise); a line for ``name``
    that nixremote cannot read is a :class:`HostKeyError`."""
    parsed = _fields(line)
    if parsed is None:
        return None
    marker, fields = parsed
    if not fields or not hosts_match(fields[0], name):
        return None
    where = f"line {number} of {path}"
    hint = f"fix or remove that line (ssh-keygen -R '{name}' -f {path})"
    if marker is not None and marker not in MARKERS:
        raise HostKeyError(f"{where} has an unknown marker {marker!r} for {name}", hint=hint)
    if len(fields) < 3:
        raise HostKeyError(f"{where} names {name} but holds no key", hint=hint)
    key_type, blob_text = fields[1], fields[2]
    if key_type not in KEY_TYPES:
        log.debug("%s: ignoring a key of type %s", where, key_type)
        return None
    try:
        blob = base64.b64decode(blob_text, validate=True)
    except (binascii.Error, ValueError):
        raise HostKeyError(
            f"{where} holds a key for {name} that is not base64", hint=hint
        ) from None
    if embedded_type(blob) != key_type:
        raise HostKeyError(
            f"{where} holds a {key_type} key for {name} whose blob is of another type", hint=hint
        )
    return Entry(
        marker=marker, hosts=fields[0], key_type=key_type, blob=blob, path=path, number=number
    )


def _check_file(path: Path) -> bool:
    """Whether ``path`` is a file to read or write (``False`` for ``/dev/null`` or a missing
    file); a FIFO, a directory or a device is refused."""
    try:
        real = Path(os.path.realpath(path))
        if real == DEV_NULL:
            return False
        st = real.stat()
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise InvalidInputError(
            f"cannot use the known_hosts file {path}: {exc.strerror}", hint="check the path"
        ) from None
    if not stat.S_ISREG(st.st_mode):
        raise InvalidInputError(
            f"the known_hosts file {path} is not a regular file",
            hint="pass a regular file, or /dev/null to record nothing",
        )
    return True


class KnownHosts:
    """The entries of known_hosts files for one host name (``host`` or ``[host]:port``), and
    on another port than 22 those of the plain host (``without_port``)."""

    def __init__(
        self, name: str, entries: Iterable[Entry], without_port: Iterable[Entry] = ()
    ) -> None:
        self.name = name
        self.entries = tuple(entries)
        self.without_port = tuple(without_port)

    @property
    def keys(self) -> tuple[Entry, ...]:
        """The entries that vouch for a key (no marker)."""
        return tuple(e for e in self.entries if e.marker is None)

    @property
    def revoked(self) -> tuple[Entry, ...]:
        return tuple(e for e in self.entries if e.marker == "@revoked")

    @property
    def cert_authorities(self) -> tuple[Entry, ...]:
        """``@cert-authority`` lines for this host, which nixremote skips (with a warning)."""
        return tuple(e for e in self.entries if e.marker == "@cert-authority")

    def key_types(self) -> tuple[str, ...]:
        """The types of the keys known for the host (the ones to ask the server for first)."""
        plain = (e for e in self.without_port if e.marker is None)
        return tuple(dict.fromkeys(e.key_type for e in (*self.keys, *plain)))

    def verdict(self, key_type: str, blob: bytes) -> tuple[str, Entry | None]:
        """What OpenSSH decides for the key a server presents: ``("revoked", entry)``,
        ``("known", entry)``, ``("changed", entry of the same type)``, ``("other-type", an
        entry)`` (only keys of other types are known) or ``("unknown", None)``."""
        for e in self.revoked:
            if e.key_type == key_type and e.blob == blob:
                return "revoked", e
        for e in self.keys:
            if e.key_type == key_type and e.blob == blob:
                return "known", e
        for e in self.keys:
            if e.key_type == key_type:
                return "changed", e
        for e in self.without_port:
            if e.key_type == key_type and e.blob == blob:
                if e.marker == "@revoked":
                    return "revoked", e
                if e.marker is None:
                    return "known", e
        if self.keys:
            return "other-type", self.keys[0]
        return "unknown", None


def load_known_hosts(paths: Iterable[Path], host: str, port: int = 22) -> KnownHosts:
    """The entries of ``paths`` (missing files skipped) for ``host`` on ``port``."""
    name = known_hosts_host(host, port)
    entries: list[Entry] = []
    plain: list[Entry] = []
    for path in paths:
        if not _check_file(path):
            continue
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise HostKeyError(
                f"cannot read the known_hosts file {path}: {exc.strerror}", hint="check it"
            ) from None
        for number, line in enumerate(text.splitlines(), start=1):
            entry = _entry(line, path, number, name)
            if entry is not None:
                entries.append(entry)
            if port != 22 and (entry := _entry(line, path, number, host)) is not None:
                plain.append(entry)
    return KnownHosts(name, entries, plain)


# --- writing -----------------------------------------------------------------------------------


@contextmanager
def _locked(path: Path) -> Iterator[int]:
    """An ``flock`` on ``path`` (created 0600 when missing), held on the file that is there
    once the lock is taken (another writer may have renamed a new one over it meanwhile)."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                same = os.fstat(fd).st_ino == os.stat(path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                yield fd
                return
        finally:
            os.close(fd)


def _rewrite(text: str, name: str, replace: bool) -> tuple[list[str], bool]:
    """The lines of ``text`` without ``name`` (when ``replace``), and whether a hashed line of
    it was dropped."""
    out: list[str] = []
    hashed = False
    for line in text.splitlines():
        parsed = _fields(line)
        if not replace or parsed is None or parsed[0] is not None or not parsed[1]:
            out.append(line)
            continue
        field = parsed[1][0]
        if field.startswith("|"):
            if _hashed_match(field, name):
                hashed = True
                continue
            out.append(line)
            continue
        patterns = field.split(",")
        rest = [p for p in patterns if p.lower() != name.lower()]
        if len(rest) == len(patterns):
            out.append(line)
        elif rest:
            # keep the other names (aliases) with their key; only this host's name goes
            out.append(line.replace(field, ",".join(rest), 1))
    return out, hashed


def record_known_host(
    path: Path, host: str, port: int, public_lines: Iterable[str], *, replace: bool = True
) -> None:
    """Record the keys of ``host:port`` in the known_hosts file ``path`` (see the module
    documentation); with ``replace`` (the default) older lines for exactly this host and port
    are dropped first. No key lines and ``replace``: the host's lines are removed."""
    name = known_hosts_host(host, port)
    keys = []
    for line in public_lines:
        try:
            keys.append(parse_key_line(line, what="host key").text)
        except InvalidValueError as exc:
            raise HostKeyError(exc.message, hint=exc.hint) from None
    path = Path(path)
    if Path(os.path.realpath(path)) == DEV_NULL:
        log.debug("not recording the keys of %s: the known_hosts file is /dev/null", name)
        return
    _check_file(path)
    target = Path(os.path.realpath(path))
    target.parent.mkdir(parents=True, exist_ok=True)
    with _locked(target) as fd:
        st = os.fstat(fd)
        with open(fd, encoding="utf-8", errors="surrogateescape", closefd=False) as f:
            text = f.read()
        lines, hashed = _rewrite(text, name, replace)
        for key in keys:
            if hashed:
                lines.append(f"{hash_name(name)} {key}")
            elif f"{name} {key}" not in lines:
                lines.append(f"{name} {key}")
        new = "\n".join(lines) + "\n" if lines else ""
        if new == text:
            return
        tmp_fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".known_hosts.")
        try:
            with os.fdopen(tmp_fd, "w", encoding="utf-8", errors="surrogateescape") as out:
                out.write(new)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(tmp, stat.S_IMODE(st.st_mode))
            if (st.st_uid, st.st_gid) != (os.geteuid(), os.getegid()):
                try:
                    os.chown(tmp, st.st_uid, st.st_gid)
                except PermissionError:
                    log.debug("cannot keep the owner of %s", target)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
