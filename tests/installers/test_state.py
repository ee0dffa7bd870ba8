"""The installer's phase record."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nixremote.core.errors import InvalidInputError
from nixremote.core.hostkeys import HostKey, host_keys_from_data
from nixremote.installers.state import InstallState, load_state, save_state


def test_state_file_round_trip_and_faults(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "state.json"
    assert load_state(path) is None
    state = InstallState(
        host_name="web1",
        disk="/dev/sda",
        pool="rpool",
        root="/mnt",
        finished=("format", "keys"),
        failed_phase="flake",
        failed_message="cannot write",
        host_keys=(
            ("host.ed25519", "ssh-ed25519 AAAA1"),
            ("host.ed25519.sha256", "SHA256:a"),
            ("host.port", "22"),
        ),
    )
    saved = save_state(path, state)
    assert saved.updated.endswith("Z")
    assert (path.stat().st_mode & 0o777) == 0o600
    assert (path.parent.stat().st_mode & 0o777) == 0o700
    loaded = load_state(path)
    assert loaded == saved
    assert loaded is not None and loaded.next_phase == "flake"
    assert host_keys_from_data(loaded.host_keys) == (
        HostKey(
            role="host", type="ed25519", public="ssh-ed25519 AAAA1", fingerprint="SHA256:a", port=22
        ),
    )
    for bad, where in (
        ("[]", "$"),
        (json.dumps({"format": 9}), "$.format"),
        (
            json.dumps(
                {
                    "format": 1,
                    "hostName": "a",
                    "disk": "b",
                    "pool": "c",
                    "root": "d",
                    "finished": ["format", "fly"],
                }
            ),
            "$.finished",
        ),
        (json.dumps({"format": 1, "hostName": 3}), "$.hostName"),
        (
            json.dumps(
                {
                    "format": 1,
                    "hostName": "a",
                    "disk": "b",
                    "pool": "c",
                    "root": "d",
                    "hostKeys": {"host.rsa": 1},
                }
            ),
            "$.hostKeys",
        ),
    ):
        path.write_text(bad)
        with pytest.raises(InvalidInputError, match=rf"{where.replace('$', '[$]')}"):
            load_state(path)
    path.write_text("{not json")
    with pytest.raises(InvalidInputError, match="not valid JSON"):
        load_state(path)
