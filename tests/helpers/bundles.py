"""Kexec bundles for the controller's tests: a fake kernel (an x86 boot header, not bootable) and
a real gzip'd newc initrd written by GNU cpio."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
from pathlib import Path


def fake_bzimage(path: Path, size: int = 64 * 1024, arch64: bool = True) -> Path:
    """A file with an x86 boot header (``HdrS`` at 0x202, XLF_KERNEL_64): not bootable, but it
    is what :func:`nixremote.controller.bundle.kernel_arch` reads."""
    data = bytearray(os.urandom(size))
    data[0x202:0x206] = b"HdrS"
    data[0x236:0x238] = (1 if arch64 else 0).to_bytes(2, "little")
    path.write_bytes(bytes(data))
    return path


def real_initrd(path: Path, files: dict[str, bytes]) -> bytes:
    """A gzip'd newc archive written by GNU cpio itself; returns the uncompressed archive."""
    root = path.parent / (path.name + ".root")
    root.mkdir()
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    listing = subprocess.run(["find", "."], cwd=root, capture_output=True, check=True).stdout
    archive = subprocess.run(
        ["cpio", "-o", "-H", "newc", "--quiet"],
        cwd=root,
        input=listing,
        capture_output=True,
        check=True,
    ).stdout
    path.write_bytes(gzip.compress(archive, mtime=0))
    return archive


def make_bundle(
    directory: Path,
    *,
    arch: str = "x86_64",
    params: str | None = None,
    unpacked: int | None = None,
    initrd_bytes: int = 256 * 1024,
) -> Path:
    """A bundle directory in the contract's shape (a fake kernel, a real gzip'd cpio initrd)."""
    directory.mkdir(parents=True, exist_ok=True)
    fake_bzimage(directory / "bzImage")
    real_initrd(directory / "initrd.gz", {"init": b"#!/bin/sh\n", "blob": os.urandom(initrd_bytes)})
    meta = {
        "format": 1,
        "arch": arch,
        "kernel": "bzImage",
        "initrd": "initrd.gz",
        "kernelParams": params
        or "init=/nix/store/0a1b2c3d4f5g6h7i0a1b2c3d4f5g6h7i-nixos-system"
        "-nixos-kexec-25.05/init loglevel=4",
        "python": "python3",
    }
    if unpacked is not None:
        meta["initrdUnpackedBytes"] = unpacked
    (directory / "bundle.json").write_text(json.dumps(meta))
    return directory
