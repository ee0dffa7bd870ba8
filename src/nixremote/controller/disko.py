"""Export a :class:`~.layout.DiskLayout` as a disko configuration (a NixOS module in Nix).

For users who move from nixremote's disk plan to `disko <https://github.com/nix-community/disko>`_.
The export keeps what an existing host depends on: partition numbers (disko numbers partitions
in ``priority`` order, so the priorities are the partition numbers), positions and type codes
(with ``alignment = 1`` where the original uses ``sgdisk -a1``; a "rest of the disk" partition
gets the explicit start after the fixed ones, since disko creates it first), the pool with its
options and encryption, the datasets with legacy mounts and the ``@blank`` snapshot.

disko mounts under ``/mnt`` itself, so ``altroot`` is left out. With encryption, disko reads the
passphrase from the ``keylocation`` file while creating the pool (put it there on tmpfs
yourself), then switches to ``prompt``. Partition names differ: disko names each partition
(``disk-main-ESP``); the original leaves them empty.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from ..core.layout import MIB, DiskLayout, Partition, PartitionRole, _position_bytes, _size_bytes
from ..core.nixtext import nix_string

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_'-]*$")
_KEYWORDS = {"if", "then", "else", "assert", "with", "let", "in", "rec", "inherit", "or"}


def nix_name(name: str) -> str:
    """An attribute name, quoted unless it is a plain identifier."""
    if _IDENT.match(name) and name not in _KEYWORDS:
        return name
    return nix_string(name)


def to_nix(value: Any, indent: int = 0) -> str:
    """Render JSON-like data (dicts, lists, strings, ints, bools, ``None``) as Nix."""
    pad = "  " * indent
    inner = "  " * (indent + 1)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return nix_string(value)
    if isinstance(value, Mapping):
        if not value:
            return "{ }"
        lines = [f"{inner}{nix_name(str(k))} = {to_nix(v, indent + 1)};" for k, v in value.items()]
        return "{\n" + "\n".join(lines) + f"\n{pad}}}"
    if isinstance(value, Sequence):
        if not value:
            return "[ ]"
        lines = [f"{inner}{to_nix(v, indent + 1)}" for v in value]
        return "[\n" + "\n".join(lines) + f"\n{pad}]"
    raise TypeError(f"cannot render {type(value).__name__} as Nix")


_NAMES = {
    PartitionRole.BIOS_BOOT: "bios",
    PartitionRole.ESP: "ESP",
    PartitionRole.BOOT: "boot",
    PartitionRole.ZFS: "zfs",
}


def _fixed_end_mib(parts: Sequence[Partition]) -> int:
    """Where the fixed partitions end, in MiB rounded up (the start of "the rest")."""
    end = 0
    for part in parts:
        last = _position_bytes(part.end)
        if last is not None:
            end = max(end, last + 512)
        elif part.end.startswith("+"):
            end = max(end, (_position_bytes(part.start) or 0) + _size_bytes(part.end))
    return -(-end // MIB)


def layout_to_disko(layout: DiskLayout) -> dict[str, Any]:
    """The ``disko.devices`` attribute set for ``layout``, as data."""
    pool = layout.pool
    boot_mounts = dict(layout.boot_mounts)
    disks: dict[str, Any] = {}
    for i, spec in enumerate(layout.disks):
        partitions: dict[str, Any] = {}
        rest_start = f"{_fixed_end_mib(spec.partitions)}M"
        for part in spec.partitions:
            entry: dict[str, Any] = {"priority": part.number, "type": part.type_code}
            if part.start == "0" and part.end == "0":
                entry["start"] = rest_start
                entry["end"] = "-0"
            else:
                entry["start"] = part.start
                entry["end"] = part.end
            if part.alignment != 0:
                entry["alignment"] = part.alignment
            if part.role is PartitionRole.ZFS:
                entry["content"] = {"type": "zfs", "pool": pool.name}
            elif part.filesystem:
                content: dict[str, Any] = {"type": "filesystem", "format": part.filesystem}
                mountpoint = boot_mounts.get(spec.path)
                if mountpoint:
                    content["mountpoint"] = mountpoint
                entry["content"] = content
            partitions[_NAMES[part.role]] = entry
        name = "main" if i == 0 else f"mirror{i}"
        disks[name] = {
            "type": "disk",
            "device": spec.path,
            "content": {"type": "gpt", "partitions": partitions},
        }

    root_options = {k: v for k, v in pool.root_options}
    datasets: dict[str, Any] = {}
    for ds in layout.datasets:
        entry = {"type": "zfs_fs", "options": {k: v for k, v in ds.properties}}
        if ds.mountpoint:
            entry["mountpoint"] = ds.mountpoint
        if ds.snapshots:
            entry["postCreateHook"] = "\n".join(
                f"zfs snapshot {pool.name}/{ds.name}@{snap}" for snap in ds.snapshots
            )
        datasets[ds.name] = entry
    zpool: dict[str, Any] = {
        "type": "zpool",
        "mode": pool.vdev or "",
        "options": {k: v for k, v in pool.options if k != "altroot"},
        "rootFsOptions": root_options,
        "datasets": datasets,
    }
    if pool.encrypted:
        zpool["postCreateHook"] = f"zfs set keylocation={pool.final_keylocation} {pool.name}"
    return {"disk": disks, "zpool": {pool.name: zpool}}


def render(layout: DiskLayout) -> str:
    """The disko configuration for ``layout`` as a NixOS module (Nix source text)."""
    header = (
        f"# disko configuration exported by nixremote from the layout {layout.name!r}.\n"
        "# Partition numbers follow `priority`; positions and type codes are the layout's.\n"
    )
    if layout.pool.encrypted:
        key = dict(layout.pool.root_options).get("keylocation", "")
        header += (
            f"# The pool passphrase is read from {key.removeprefix('file://')} while the pool is\n"
            "# created (put it there on tmpfs, delete it afterwards); at boot it is prompted for.\n"
        )
    body = to_nix({"disko": {"devices": layout_to_disko(layout)}}, 0)
    return f"{header}{{ ... }}:\n{body}\n"
