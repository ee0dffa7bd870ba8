"""The mount table (``/proc/self/mountinfo``): one pure parser for both sides.

The controller reads the mount of ``/`` from the probe (which disk holds the running system); the
installer reads it to know what is mounted under ``/mnt`` and that the disk key lies on tmpfs.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from attrs import frozen


@frozen(kw_only=True)
class Mount:
    """One line of ``/proc/self/mountinfo``: where, what, which filesystem type and the device
    number (``major:minor``)."""

    target: str
    source: str
    fstype: str
    devno: str | None = None


def _unescape(field_text: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as \ooo.
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field_text)


def parse_mountinfo(text: str | None) -> tuple[Mount, ...]:
    """The mounts of a ``/proc/self/mountinfo`` text, in order (malformed lines skipped)."""
    mounts = []
    for line in (text or "").splitlines():
        left, sep, right = line.partition(" - ")
        if not sep:
            continue
        fields = left.split()
        rest = right.split()
        if len(fields) < 5 or len(rest) < 2:
            continue
        mounts.append(
            Mount(
                target=_unescape(fields[4]),
                source=_unescape(rest[1]),
                fstype=rest[0],
                devno=fields[2] if re.fullmatch(r"\d+:\d+", fields[2]) else None,
            )
        )
    return tuple(mounts)


def root_mount(text: str | None) -> Mount | None:
    """The mount at ``/`` (the last, i.e. topmost, one), or ``None``."""
    found = None
    for mount in parse_mountinfo(text):
        if mount.target == "/":
            found = mount
    return found


def filesystem_type(path: Path, mountinfo_text: str) -> str | None:
    """The type of the filesystem that holds ``path`` (the longest mount prefix wins)."""
    resolved = os.path.realpath(path)
    best: Mount | None = None
    for mount in parse_mountinfo(mountinfo_text):
        target = mount.target
        inside = resolved == target or resolved.startswith(target.rstrip("/") + "/")
        if inside and (best is None or len(target) >= len(best.target)):
            best = mount
    return best.fstype if best else None


def mounts_under(root: str, mountinfo_text: str) -> tuple[Mount, ...]:
    """The mounts at or below ``root``."""
    root = root.rstrip("/") or "/"
    return tuple(
        m
        for m in parse_mountinfo(mountinfo_text)
        if m.target == root or m.target.startswith(root + "/")
    )
