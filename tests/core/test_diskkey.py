"""The disk key: one type, one validation."""

from __future__ import annotations

from nixremote.core.diskkey import DiskKey


def test_disk_key_never_shows_itself() -> None:
    key = DiskKey.from_bytes(b"hunter2hunter2")
    assert "hunter2" not in repr(key) and "hunter2" not in str(key) and "hunter2" not in f"{key}"
    assert key.value == b"hunter2hunter2"
