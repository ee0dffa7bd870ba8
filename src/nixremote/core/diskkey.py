"""The disk encryption passphrase: one type, one validation, wherever it is read.

The controller reads it from ``--disk-key-file`` or a prompt, ``disk apply`` from a file, stdin or
a prompt, the installer from its key file on tmpfs; all of them build a :class:`DiskKey`, so a key
ZFS would refuse is refused at once, before anything changes on the host. The key is never
logged, never in argv, never in a repr.
"""

from __future__ import annotations

from pathlib import Path

from .errors import InvalidInputError

MIN_BYTES = 8
MAX_BYTES = 512
"""ZFS's limits for a ``keyformat=passphrase`` key."""


class DiskKey:
    """The disk passphrase (one line of 8 to 512 bytes, no NUL or CR), kept in memory only;
    ``repr`` and ``str`` never show it."""

    __slots__ = ("_value",)

    def __init__(self, value: bytes) -> None:
        self._value = value

    @classmethod
    def from_bytes(cls, data: bytes, *, source: str = "the disk key") -> DiskKey:
        """Validate ``data`` (one final newline is dropped) as ZFS will read it."""
        key = data[:-2] if data.endswith(b"\r\n") else data[:-1] if data.endswith(b"\n") else data
        what = None
        if not key:
            what = "is empty"
        elif b"\n" in key:
            what = "has more than one line"
        elif b"\r" in key:
            what = "contains a carriage return"
        elif b"\0" in key:
            what = "contains a NUL byte"
        elif not MIN_BYTES <= len(key) <= MAX_BYTES:
            what = f"is {len(key)} bytes long; ZFS needs {MIN_BYTES} to {MAX_BYTES}"
        if what is not None:
            raise InvalidInputError(
                f"{source} {what}",
                hint=f"use a one-line passphrase of {MIN_BYTES} to {MAX_BYTES} bytes",
            )
        return cls(key)

    @classmethod
    def from_file(cls, path: Path) -> DiskKey:
        """Read and validate a key file."""
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise InvalidInputError(
                f"cannot read the disk key file {path}: {exc.strerror}", hint="check the path"
            ) from None
        return cls.from_bytes(data, source=f"the disk key file {path}")

    @property
    def value(self) -> bytes:
        """The passphrase as ZFS reads it (no final newline)."""
        return self._value

    def __repr__(self) -> str:
        return f"<DiskKey: {len(self._value)} bytes>"

    __str__ = __repr__
