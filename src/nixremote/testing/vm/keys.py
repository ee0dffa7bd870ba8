"""The test machine's SSH keys: ed25519 pairs made by ``ssh-keygen``, the handoff archive that
carries them into the installer, known_hosts lines."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from attrs import frozen

from nixremote.core.errors import PreflightError

from ...controller import cpio


@frozen(kw_only=True)
class KeyPair:
    """An ed25519 key made by ``ssh-keygen``: private key file and the public line."""

    private: Path
    public: str  # "ssh-ed25519 AAAA... comment"


def generate_key(path: Path, comment: str) -> KeyPair:
    """Generate an ed25519 key at ``path`` (``path.pub`` for the public half)."""
    if shutil.which("ssh-keygen") is None:
        raise PreflightError("ssh-keygen not found", hint="apt-get install openssh-client")
    for p in (path, path.with_name(path.name + ".pub")):
        if p.exists():
            p.unlink()
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        check=True,
        stdin=subprocess.DEVNULL,
        capture_output=True,
    )
    return KeyPair(private=path, public=path.with_name(path.name + ".pub").read_text().strip())


def handoff_archive(
    *, host_key: KeyPair, authorized_keys: Sequence[str], extra: Sequence[cpio.Entry] = ()
) -> bytes:
    """The gzip'd newc archive appended as a second initrd (layout of docs/kexec-bundle.md)."""
    entries = [
        cpio.file_entry("ssh/ssh_host_ed25519_key", host_key.private.read_bytes(), 0o600),
        cpio.file_entry("ssh/ssh_host_ed25519_key.pub", (host_key.public + "\n").encode(), 0o644),
        cpio.file_entry(
            "ssh/authorized_keys",
            "".join(k.strip() + "\n" for k in authorized_keys).encode(),
            0o600,
        ),
        *extra,
    ]
    return cpio.write_entries(entries)


def known_hosts_line(port: int, public_key: str, host: str = "127.0.0.1") -> str:
    """A known_hosts line; OpenSSH names a host on port 22 without brackets and port."""
    key_type, key_b64 = public_key.split()[:2]
    name = host if port == 22 else f"[{host}]:{port}"
    return f"{name} {key_type} {key_b64}"
