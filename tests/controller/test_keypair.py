"""Host keys: generation, fingerprints (checked against ssh-keygen), known_hosts records."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from nixremote.controller.keypair import KeyPair, generate_host_key
from nixremote.controller.known_hosts import record_known_host
from nixremote.core.errors import InvalidInputError
from nixremote.core.hostkeys import fingerprint


def test_generated_key_is_usable_by_openssh(tmp_path: Path) -> None:
    key = generate_host_key("test")
    private = tmp_path / "key"
    private.write_text(key.private_openssh)
    private.chmod(0o600)
    derived = subprocess.run(
        ["ssh-keygen", "-y", "-f", str(private)], capture_output=True, text=True, check=True
    ).stdout
    assert derived.split()[:2] == key.public_openssh.split()[:2]
    printed = subprocess.run(
        ["ssh-keygen", "-l", "-E", "sha256", "-f", str(private)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert printed.split()[1] == key.fingerprint == fingerprint(key.public_openssh)
    assert "PRIVATE" not in repr(key)


def test_known_hosts_records_replace_only_that_host(tmp_path: Path) -> None:
    kh = tmp_path / "ssh" / "known_hosts"
    a, b, c = (generate_host_key() for _ in range(3))
    record_known_host(kh, "203.0.113.7", 22, [a.public_openssh])
    record_known_host(kh, "127.0.0.1", 2222, [b.public_openssh])
    record_known_host(kh, "203.0.113.7", 22, [c.public_openssh])
    lines = kh.read_text().splitlines()
    assert lines == [
        f"[127.0.0.1]:2222 {b.known_hosts_key}",
        f"203.0.113.7 {c.known_hosts_key}",
    ]
    assert kh.stat().st_mode & 0o777 == 0o600
    # OpenSSH agrees with what was written.
    found = subprocess.run(
        ["ssh-keygen", "-F", "[127.0.0.1]:2222", "-f", str(kh)], capture_output=True, text=True
    )
    assert b.known_hosts_key in found.stdout


def test_bad_keys_are_clear_errors() -> None:
    with pytest.raises(InvalidInputError, match="not an OpenSSH public key"):
        fingerprint("hello world")
    with pytest.raises(InvalidInputError, match="invalid base64"):
        fingerprint("ssh-ed25519 !!!!")
    with pytest.raises(InvalidInputError, match="not an OpenSSH private key"):
        KeyPair(private_openssh="nope", public_openssh=generate_host_key().public_openssh)
