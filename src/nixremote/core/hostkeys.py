"""SSH host keys as both sides see them: public keys, fingerprints and their wire format.

nixremote pins host keys instead of trusting on first use. The installed system's keys (and its
initrd's, for the remote unlock) are made by the installer and reported to the controller as
:class:`HostKey` records in an event's ``data`` (:func:`host_keys_data`,
:func:`host_keys_from_data`); the controller records them in known_hosts
(:mod:`nixremote.controller.known_hosts`). Fingerprints are OpenSSH's ``SHA256:<base64>`` form.

Pure Python: this runs on both sides (generating a key pair is the controller's job, in
:mod:`nixremote.controller.keypair`).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Mapping

from attrs import frozen

from .errors import InvalidInputError

INITRD_SSH_PORT = 2222
"""The port of the installed system's initrd SSH server (the remote unlock)."""


@frozen(kw_only=True)
class HostKey:
    """A public SSH host key of the installed system (``role="host"``, port 22) or of its
    initrd (``role="initrd"``, port :data:`INITRD_SSH_PORT`), with its SHA256 fingerprint."""

    role: str
    type: str
    public: str
    fingerprint: str
    port: int


def parse_public_key(line: str) -> tuple[str, bytes]:
    """``(key type, key blob)`` of an OpenSSH public key line; a clear error when it is none."""
    parts = line.split()
    if len(parts) < 2 or not parts[0].startswith(("ssh-", "ecdsa-", "sk-")):
        raise InvalidInputError(
            f"not an OpenSSH public key: {line[:40]!r}",
            hint="pass a line like 'ssh-ed25519 AAAA...'",
        )
    try:
        blob = base64.b64decode(parts[1], validate=True)
    except ValueError:
        raise InvalidInputError(
            f"public key of type {parts[0]} has invalid base64", hint="copy the whole key line"
        ) from None
    return parts[0], blob


def fingerprint(public_line: str) -> str:
    """OpenSSH's ``SHA256:...`` fingerprint of a public key line."""
    _kind, blob = parse_public_key(public_line)
    digest = base64.b64encode(hashlib.sha256(blob).digest()).decode("ascii").rstrip("=")
    return f"SHA256:{digest}"


def public_key_text(line: str) -> str:
    """``type base64`` of a public key line (no comment), checked."""
    kind, _blob = parse_public_key(line)
    return f"{kind} {line.split()[1]}"


def host_key(role: str, public_line: str, port: int) -> HostKey:
    """The :class:`HostKey` of a public key line."""
    text = public_key_text(public_line)
    return HostKey(
        role=role,
        type=text.split()[0].removeprefix("ssh-"),
        public=text,
        fingerprint=fingerprint(text),
        port=port,
    )


def host_keys_data(keys: Iterable[HostKey]) -> dict[str, str]:
    """Event data for ``keys``: ``<role>.<type>`` the public key (``ssh-ed25519 AAAA...``),
    ``<role>.<type>.sha256`` its fingerprint, ``<role>.port`` the SSH port."""
    data: dict[str, str] = {}
    for key in keys:
        data[f"{key.role}.{key.type}"] = key.public
        data[f"{key.role}.{key.type}.sha256"] = key.fingerprint
        data[f"{key.role}.port"] = str(key.port)
    return data


def host_keys_from_data(data: Iterable[tuple[str, str]] | Mapping[str, str]) -> tuple[HostKey, ...]:
    """The host keys in an event's ``data`` (the inverse of :func:`host_keys_data`)."""
    items = dict(data.items() if isinstance(data, Mapping) else data)
    keys = []
    for name, value in sorted(items.items()):
        role, dot, kind = name.partition(".")
        if not dot or role not in ("host", "initrd") or "." in kind or kind == "port":
            continue
        default_port = "22" if role == "host" else str(INITRD_SSH_PORT)
        keys.append(
            HostKey(
                role=role,
                type=kind,
                public=value,
                fingerprint=items.get(f"{name}.sha256", ""),
                port=int(items.get(f"{role}.port", default_port)),
            )
        )
    return tuple(keys)


def parse_fingerprint(text: str) -> str:
    """The ``SHA256:...`` field of ``ssh-keygen -l`` output."""
    for word in text.split():
        if word.startswith("SHA256:"):
            return word
    raise InvalidInputError(f"no SHA256 fingerprint in {text.strip()!r}", hint="check ssh-keygen")
