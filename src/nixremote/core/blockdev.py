"""Block devices as ``lsblk -J -b`` reports them: one pure parser for both sides.

The controller reads the whole tree while collecting (which disks there are); the installer reads
one disk's subtree right before it is erased (is it mounted, does it hold the running system).
Old and new util-linux are both understood (``mountpoint`` or ``mountpoints``, sizes as numbers
or strings). Malformed input yields fewer devices, never an exception.
"""

from __future__ import annotations

import re
from typing import Any

from attrs import frozen

from .lenient import bool_or_none, dicts, int_or_none, json_or_none, str_or_none

MAX_DEPTH = 16
"""Deeper lsblk trees are cut (devices stacked more than this are not real)."""


@frozen(kw_only=True)
class BlockDevice:
    """One node of ``lsblk -J -b`` (children flattened, each naming its ``parent``)."""

    name: str
    path: str
    type: str | None = None
    devno: str | None = None
    size: int | None = None
    model: str | None = None
    serial: str | None = None
    rotational: bool | None = None
    removable: bool = False
    read_only: bool = False
    mountpoints: tuple[str, ...] = ()
    parent: str | None = None

    @property
    def mountpoint(self) -> str | None:
        return self.mountpoints[0] if self.mountpoints else None


def _mountpoints(item: dict[str, Any]) -> tuple[str, ...]:
    points = item.get("mountpoints")
    if not isinstance(points, list):
        points = [item.get("mountpoint")]
    return tuple(p for p in points if isinstance(p, str) and p)


def parse_lsblk(text: str | None) -> tuple[BlockDevice, ...]:
    """``lsblk -J -b -o ...`` into a flat tuple, parents before their children."""
    data = json_or_none(text)
    if not isinstance(data, dict):
        return ()
    out: list[BlockDevice] = []

    def walk(items: Any, parent: str | None, depth: int) -> None:
        if depth > MAX_DEPTH:
            return
        for item in dicts(items):
            name = str_or_none(item.get("kname")) or str_or_none(item.get("name"))
            if name is None or not re.fullmatch(r"[^\s/]{1,64}", name):
                continue
            model = str_or_none(item.get("model"))
            serial = str_or_none(item.get("serial"))
            out.append(
                BlockDevice(
                    name=name,
                    path=str_or_none(item.get("path")) or f"/dev/{name}",
                    type=str_or_none(item.get("type")),
                    devno=str_or_none(item.get("maj:min")),
                    size=int_or_none(item.get("size")),
                    model=model.strip() if model else None,
                    serial=serial.strip() if serial else None,
                    rotational=bool_or_none(item.get("rota")),
                    removable=bool_or_none(item.get("rm")) is True,
                    read_only=bool_or_none(item.get("ro")) is True,
                    mountpoints=_mountpoints(item),
                    parent=str_or_none(item.get("pkname")) or parent,
                )
            )
            walk(item.get("children"), name, depth + 1)

    walk(data.get("blockdevices"), None, 0)
    return tuple(out)
