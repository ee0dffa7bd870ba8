"""Host keys as both sides see them: fingerprints and the wire format of events."""

from __future__ import annotations

import pytest

from nixremote.core.errors import InvalidInputError
from nixremote.core.hostkeys import HostKey, host_keys_data, host_keys_from_data, parse_fingerprint


def test_fingerprint_and_host_key_data_round_trip() -> None:
    line = "256 SHA256:QNBTHZ2jK8VM6FVemErAtmN0Eyk3KYGUBdgDYv0XvsY root@web1 (ED25519)\n"
    assert parse_fingerprint(line) == "SHA256:QNBTHZ2jK8VM6FVemErAtmN0Eyk3KYGUBdgDYv0XvsY"
    with pytest.raises(InvalidInputError):
        parse_fingerprint("no fingerprint here")
    keys = (
        HostKey(
            role="host", type="ed25519", public="ssh-ed25519 AAAA1", fingerprint="SHA256:a", port=22
        ),
        HostKey(role="host", type="rsa", public="ssh-rsa AAAA2", fingerprint="SHA256:b", port=22),
        HostKey(
            role="initrd",
            type="ed25519",
            public="ssh-ed25519 AAAA3",
            fingerprint="SHA256:c",
            port=2222,
        ),
    )
    data = host_keys_data(keys)
    assert data["initrd.ed25519.sha256"] == "SHA256:c" and data["initrd.port"] == "2222"
    # Other data in the same event (host, finished, ...) is ignored.
    assert set(host_keys_from_data({**data, "host": "web1", "finished": "format"})) == set(keys)
    assert set(host_keys_from_data(tuple(data.items()))) == set(keys)
