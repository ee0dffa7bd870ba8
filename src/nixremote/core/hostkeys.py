"""SSH host keys: generate them, fingerprint them, and record them in a known_hosts file.

nixremote pins host keys instead of trusting on first use: the installer's key and (where a
hoster API allows) a new server's key are generated here on the controller and recorded before
the host ever presents them; the installed system's keys are reported by the installer and
recorded the same way. Fingerprints are OpenSSH's ``SHA256:<base64>`` form.

Generation needs ``cryptography`` (a dependency of paramiko, on the controller only); the rest
is pure Python and also runs inside the installer.
"""

from __future__ import annotations

import base64
import hashlib
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from attrs import field, frozen

from .errors import InvalidInputError


@frozen(kw_only=True)
class HostKey:
    """An SSH key pair in OpenSSH format; the private half never shows in a repr."""

    private_openssh: str = field(repr=False)
    public_openssh: str

    def __attrs_post_init__(self) -> None:
        private = self.private_openssh.strip()
        if not (
            private.startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
            and private.endswith("-----END OPENSSH PRIVATE KEY-----")
        ):
            raise InvalidInputError(
                "the host private key is not an OpenSSH private key",
                hint="generate one with generate_host_key() or `ssh-keygen -t ed25519`",
            )
        parse_public_key(self.public_openssh)

    @property
    def known_hosts_key(self) -> str:
        """``ssh-ed25519 AAAA...`` without a comment, as known_hosts lists it."""
        return " ".join(self.public_openssh.split()[:2])

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.public_openssh)


def generate_host_key(comment: str = "nixremote") -> HostKey:
    """A new ed25519 key pair, generated on this machine."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    ).decode("ascii")
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode("ascii")
    )
    return HostKey(private_openssh=private, public_openssh=f"{public} {comment}".strip())


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


def known_hosts_host(host: str, port: int = 22) -> str:
    """The host field of a known_hosts line: ``host`` on port 22, else ``[host]:port``."""
    return host if port == 22 else f"[{host}]:{port}"


def record_known_host(
    path: Path, host: str, port: int, public_lines: Iterable[str], *, replace: bool = True
) -> None:
    """Record the keys of ``host:port`` in the known_hosts file ``path``.

    With ``replace`` (the default) older lines for exactly this host and port are dropped first:
    nixremote calls this only with keys it generated or received over a verified connection,
    after the host was reinstalled. The file is rewritten atomically with mode 0600.
    """
    name = known_hosts_host(host, port)
    new = [f"{name} {' '.join(line.split()[:2])}" for line in public_lines]
    for line in new:
        parse_public_key(line.split(" ", 1)[1])
    old: list[str] = []
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            fields = line.split()
            if replace and fields and name in fields[0].split(","):
                continue
            old.append(line)
    text = "\n".join([*old, *(n for n in new if n not in old)]) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".known_hosts.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
