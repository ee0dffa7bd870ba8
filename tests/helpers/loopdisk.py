"""Sparse image files attached as loop devices (``losetup -P``), for the disk tests."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import attrs

MIB = 1024 * 1024


@attrs.frozen(kw_only=True)
class LoopDisk:
    image: Path
    device: str  # /dev/loopN
    size_bytes: int

    def sha256(self) -> str:
        digest = hashlib.sha256()
        with self.image.open("rb") as f:
            for block in iter(lambda: f.read(4 * MIB), b""):
                digest.update(block)
        return digest.hexdigest()

    @property
    def sectors(self) -> int:
        return self.size_bytes // 512


def run(*argv: str, check: bool = True, stdin: bytes | None = None) -> str:
    proc = subprocess.run(argv, capture_output=True, input=stdin, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"{argv} failed ({proc.returncode}): {proc.stderr.decode()}")
    return proc.stdout.decode()
