"""SSH key pairs generated on the controller: the installer's host key, a new server's host key.

nixremote pins host keys instead of trusting on first use: the installer's key and (where a
hoster API allows) a new server's key are generated here and recorded before the host ever
presents them. Generation needs ``cryptography`` (a dependency of paramiko, on the controller
only).
"""

from __future__ import annotations

from attrs import field, frozen

from ..core.errors import InvalidInputError
from ..core.hostkeys import fingerprint, parse_public_key


@frozen(kw_only=True)
class KeyPair:
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


def generate_host_key(comment: str = "nixremote") -> KeyPair:
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
    return KeyPair(private_openssh=private, public_openssh=f"{public} {comment}".strip())
