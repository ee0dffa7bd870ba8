"""SSH public keys as an ``authorized_keys`` file holds them: parsed, checked, options removed.

A key line is ``[options] type base64 [comment]``. :func:`parse_key_line` reads one the way
OpenSSH does (options are a comma-separated list before the type; a double-quoted value may hold
spaces and commas) and checks it by meaning: the type is one OpenSSH and NixOS accept, the base64
blob decodes, and the type written inside the blob is the type in front of it. A line with a
newline, a NUL or another control character is refused (it would become a second line in a file).

The keys the installed system trusts are kept *without* options: a key copied from a cloud image
(``command="echo 'Please login as ubuntu'" ssh-ed25519 ...``) would otherwise lock root, and the
remote unlock, out. :func:`strip_options` removes them from a list of lines and says which it
removed; the readers log that as a warning naming the options.

Pure Python: this runs on both sides.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import struct
from collections.abc import Iterable

from attrs import frozen

from .errors import InvalidValueError

KEY_TYPES = (
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
)
"""The key types nixremote accepts in a key list (OpenSSH 9.8 and later dropped ``ssh-dss``)."""

MAX_LINE = 16 * 1024
"""The longest key line read (an RSA 16384-bit key is under 3 KiB)."""

KEY_HINT = "pass one line like 'ssh-ed25519 AAAAC3Nza... user@host' (a .pub file's line)"

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_OPTION_NAME = re.compile(r"[A-Za-z][A-Za-z0-9-]*")


@frozen(kw_only=True)
class PublicKey:
    """One key line: ``type``, the base64 ``blob``, the ``comment`` and the ``options`` before
    it (``authorized_keys`` options, as written: ``no-pty``, ``command="..."``)."""

    type: str
    blob: str
    comment: str = ""
    options: tuple[str, ...] = ()

    @property
    def line(self) -> str:
        """``type blob [comment]``: the key without its options."""
        return " ".join(p for p in (self.type, self.blob, self.comment) if p)

    @property
    def text(self) -> str:
        """``type blob``: the key alone (how known_hosts and comparisons see it)."""
        return f"{self.type} {self.blob}"

    @property
    def fingerprint(self) -> str:
        """OpenSSH's ``SHA256:...`` fingerprint."""
        digest = hashlib.sha256(base64.b64decode(self.blob)).digest()
        return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")


def _short(value: str, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "...'"


def _refuse(line: str, reason: str, what: str) -> InvalidValueError:
    return InvalidValueError(f"{what} {_short(line)} {reason}", hint=KEY_HINT)


def _split_options(line: str) -> tuple[str, str]:
    """``(options text, rest)``: the options end at the first whitespace outside quotes."""
    quoted = False
    i = 0
    while i < len(line):
        c = line[i]
        if c == "\\" and quoted and i + 1 < len(line):
            i += 2
            continue
        if c == '"':
            quoted = not quoted
        elif c in " \t" and not quoted:
            return line[:i], line[i:].lstrip(" \t")
        i += 1
    if quoted:
        raise ValueError("an option's quote is not closed")
    return line, ""


def _option_list(text: str) -> tuple[str, ...]:
    """The options of an options field, split at commas outside quotes."""
    out: list[str] = []
    current = ""
    quoted = False
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\" and quoted and i + 1 < len(text):
            current += text[i : i + 2]
            i += 2
            continue
        if c == '"':
            quoted = not quoted
        if c == "," and not quoted:
            out.append(current)
            current = ""
        else:
            current += c
        i += 1
    out.append(current)
    for option in out:
        name = option.split("=", 1)[0]
        if not _OPTION_NAME.fullmatch(name):
            raise ValueError(f"{option!r} is not an authorized_keys option")
    return tuple(out)


def embedded_type(blob: bytes) -> str | None:
    """The key type written at the start of a key blob (an SSH string), or ``None``."""
    if len(blob) < 4:
        return None
    (length,) = struct.unpack(">I", blob[:4])
    if length == 0 or length > 64 or len(blob) < 4 + length:
        return None
    try:
        return blob[4 : 4 + length].decode("ascii")
    except UnicodeDecodeError:
        return None


def parse_key_line(line: str, *, options: bool = True, what: str = "key") -> PublicKey:
    """Parse and check one key line (see the module documentation).

    With ``options=False`` a line with options is refused (a model's key list holds none).
    Raises :class:`~nixremote.core.errors.InvalidValueError` naming the fault.
    """
    if not isinstance(line, str):
        raise InvalidValueError(f"{what} must be a string", hint=KEY_HINT)
    if len(line) > MAX_LINE:
        raise _refuse(line, f"is longer than {MAX_LINE} characters", what)
    if _CONTROL.search(line.replace("\t", " ")) or any(
        c.isspace() and c not in " \t" for c in line
    ):
        raise _refuse(line, "contains a newline or another control character", what)
    text = line.strip(" \t")
    if not text:
        raise _refuse(line, "is empty", what)
    opts: tuple[str, ...] = ()
    first = text.split(None, 1)[0]
    if first not in KEY_TYPES and first != "ssh-dss":
        # options come first, or the type is one nixremote does not know
        try:
            field, rest = _split_options(text)
            opts = _option_list(field)
        except ValueError:
            rest = ""
        if not rest or rest.split(None, 1)[0] not in (*KEY_TYPES, "ssh-dss"):
            raise _refuse(line, f"has an unknown key type {first[:40]!r}", what)
        text = rest
        if not options:
            raise _refuse(
                line,
                "has options (" + ",".join(opts) + "); the key lists hold keys without options",
                what,
            )
    parts = text.split(None, 2)
    if len(parts) < 2:
        raise _refuse(line, "is not a public key (a type and a base64 blob)", what)
    kind, blob_text = parts[0], parts[1]
    comment = parts[2].strip() if len(parts) > 2 else ""
    if kind == "ssh-dss":
        raise _refuse(line, "is a DSA key, which OpenSSH no longer accepts", what)
    if kind not in KEY_TYPES:
        raise _refuse(line, f"has an unknown key type {kind[:40]!r}", what)
    try:
        blob = base64.b64decode(blob_text, validate=True)
    except (binascii.Error, ValueError):
        raise _refuse(line, "has a blob that is not base64", what) from None
    inner = embedded_type(blob)
    if inner != kind:
        found = "no type" if inner is None else repr(inner)
        raise _refuse(line, f"is a {kind} line whose blob holds {found}", what)
    return PublicKey(type=kind, blob=blob_text, comment=comment, options=opts)


def check_key(line: str) -> str:
    """A key line of a key list (no options), checked; returned unchanged."""
    parse_key_line(line, options=False)
    return line


@frozen(kw_only=True)
class StrippedOptions:
    """Options removed from the key at ``index`` of a list."""

    index: int
    options: tuple[str, ...]
    key: PublicKey

    def message(self, where: str) -> str:
        """``removed the options ... of the key ... @ <where>`` for a warning (``where`` names
        the place: a JSON path with the index, a file and line)."""
        comment = f" ({self.key.comment})" if self.key.comment else ""
        return (
            f"removed the options {','.join(self.options)} of the key {self.key.type} "
            f"{self.key.fingerprint}{comment} @ {where}: the installed system trusts keys "
            "without options"
        )


def strip_options(lines: Iterable[object]) -> tuple[list[object], list[StrippedOptions]]:
    """``lines`` with the options of each key line removed, and what was removed.

    Anything that does not parse as a key is left as it is (the model's validator refuses it
    with its JSON path)."""
    out: list[object] = []
    stripped: list[StrippedOptions] = []
    for index, line in enumerate(lines):
        if isinstance(line, str):
            try:
                key = parse_key_line(line)
            except InvalidValueError:
                out.append(line)
                continue
            if key.options:
                stripped.append(StrippedOptions(index=index, options=key.options, key=key))
                out.append(key.line)
                continue
        out.append(line)
    return out, stripped


def same_key(a: str, b: str) -> bool:
    """Whether two key lines hold the same key (type and blob; options and comments aside)."""
    try:
        return parse_key_line(a).text == parse_key_line(b).text
    except InvalidValueError:
        return a.strip() == b.strip()


def unique_keys(lines: Iterable[str]) -> tuple[str, ...]:
    """``lines`` without a second line of the same key (the first one's comment is kept)."""
    seen: set[str] = set()
    out: list[str] = []
    for line in lines:
        try:
            ident = parse_key_line(line).text
        except InvalidValueError:
            ident = line.strip()
        if ident not in seen:
            seen.add(ident)
            out.append(line)
    return tuple(out)


def keys_from_text(text: str, *, source: str) -> tuple[tuple[str, ...], list[str]]:
    """The keys of an ``authorized_keys`` text, without options, and a warning for each key
    whose options were removed. Blank lines and ``#`` comments are skipped; any other line that
    is not a key is refused, naming its line number."""
    keys: list[str] = []
    warnings: list[str] = []
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.removesuffix("\r").strip(" \t")
        if not line or line.startswith("#"):
            continue
        key = parse_key_line(line, what=f"line {number} of {source}")
        if key.options:
            removed = StrippedOptions(index=number, options=key.options, key=key)
            warnings.append(removed.message(f"{source}:{number}"))
        keys.append(key.line)
    return tuple(keys), warnings
