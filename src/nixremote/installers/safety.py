"""Checks before a disk is erased: the right disk, not in use, big enough, and confirmed.

:func:`check_layout` asks the host (read-only commands through the transport: ``readlink -e``,
``lsblk -J -b``, ``findmnt``) about every disk of a layout and refuses, with a
:class:`~nixremote.core.errors.SafetyError`, a disk that

- is not in the runtime info, or whose by-id path now resolves to another device than the one
  collected (disks are renumbered between boots; by-id paths are what the user confirmed);
- is not a whole disk, or is smaller than the layout needs, or changed size since collection;
- is mounted (it, a partition, or a device stacked on it), or holds the running system
  (the source of ``/``);

:func:`confirm` requires ``--yes`` or the host name typed back. Parsing is pure
(:func:`disk_state`), so the rules are testable from captured output.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

from attrs import frozen

from ..core.blockdev import parse_lsblk
from ..core.errors import SafetyError, TransportError, no_terminal_to_confirm
from ..core.layout import DiskLayout
from ..core.models import RuntimeInfo
from ..core.plan import Plan
from ..core.progress import Reporter, report
from ..core.transport import Transport

log = logging.getLogger(__name__)

PHASE = "format"


@frozen(kw_only=True)
class DiskState:
    """What the host says about a disk now: its kernel name, type, size, the kernel names of its
    partitions and of devices stacked on it, and every mountpoint among them (``[SWAP]`` too)."""

    name: str
    type: str
    size_bytes: int
    devices: tuple[str, ...]
    mountpoints: tuple[tuple[str, str], ...]  # (kernel name, mountpoint)


def disk_state(text: str) -> DiskState:
    """The :class:`DiskState` of the first device in ``lsblk -J -b -o NAME,KNAME,TYPE,SIZE,
    MOUNTPOINT`` output (parsed by :func:`nixremote.core.blockdev.parse_lsblk`)."""
    devices = parse_lsblk(text)
    if not devices:
        raise ValueError("lsblk listed no device")
    top = devices[0]
    subtree = [top]
    names = {top.name}
    for dev in devices[1:]:
        if dev.parent in names:
            subtree.append(dev)
            names.add(dev.name)
    if top.size is None:
        raise ValueError("lsblk gave no size")
    return DiskState(
        name=top.name,
        type=str(top.type),
        size_bytes=top.size,
        devices=tuple(d.name for d in subtree),
        mountpoints=tuple((d.name, point) for d in subtree for point in d.mountpoints),
    )


def _kname(path: str) -> str:
    return path.rsplit("/", 1)[-1]


def resolve(transport: Transport, path: str) -> str | None:
    """``readlink -e path`` on the host: the device a (by-id) path points to, or ``None``."""
    result = transport.run(["readlink", "-e", path], check=False)
    if not result.ok:
        return None
    return result.text.strip() or None


def inspect_disk(transport: Transport, device: str) -> DiskState:
    """Ask the host about ``device`` (a resolved kernel path)."""
    result = transport.run(
        ["lsblk", "-J", "-b", "-o", "NAME,KNAME,TYPE,SIZE,MOUNTPOINT", device], check=False
    )
    if not result.ok:
        raise SafetyError(
            f"refusing {device}: lsblk cannot read it ({result.tail(1)})",
            hint="check that the disk exists on the host",
        )
    try:
        return disk_state(result.text)
    except (ValueError, TypeError, AttributeError) as exc:
        raise SafetyError(
            f"refusing {device}: cannot understand lsblk's answer ({exc})",
            hint="check util-linux on the host",
        ) from None


def system_sources(transport: Transport, paths: Sequence[str] = ("/",)) -> tuple[str, ...]:
    """Kernel names of the devices that hold ``paths`` of the running system (``/``)."""
    out: list[str] = []
    for path in paths:
        result = transport.run(["findmnt", "-n", "-o", "SOURCE", "-T", path], check=False)
        source = result.text.strip().split("[", 1)[0] if result.ok else ""
        if not source.startswith("/dev/"):
            continue  # tmpfs, overlay, a ZFS dataset: not a block device we could erase
        real = resolve(transport, source) or source
        out.append(_kname(real))
    return tuple(out)


def check_disk(
    info: RuntimeInfo,
    path: str,
    resolved: str | None,
    expected: str | None,
    state: DiskState | None,
    min_bytes: int,
    system: Sequence[str],
) -> None:
    """The rules, on collected answers (pure). Raises :class:`SafetyError` on the first one
    that fails."""
    disk = info.disk(path)
    if disk is None:
        raise SafetyError(
            f"refusing {path}: it is not one of the disks in the runtime info",
            hint="collect the runtime info again or pick a listed disk",
        )
    if resolved is None:
        raise SafetyError(
            f"refusing {path}: it does not exist on {info.host_name}",
            hint="collect the runtime info again; disk names may have changed",
        )
    if expected is None or resolved != expected:
        raise SafetyError(
            f"refusing {path}: it resolves to {resolved}, but the runtime info has "
            f"{disk.path}{f' (now {expected})' if expected and expected != disk.path else ''}",
            hint="collect the runtime info again and check which disk to erase",
        )
    assert state is not None
    if state.type not in ("disk", "loop"):
        raise SafetyError(
            f"refusing {path}: {resolved} is a {state.type}, not a whole disk",
            hint="name a whole disk",
        )
    held = [d for d in state.devices if d in system]
    if held:
        raise SafetyError(
            f"refusing {path}: it holds the running system (/dev/{held[0]})",
            hint="boot a rescue or installer system first",
        )
    if state.mountpoints:
        dev, point = state.mountpoints[0]
        raise SafetyError(
            f"refusing {path}: /dev/{dev} is mounted at {point}",
            hint="unmount it (and swapoff) first",
        )
    if disk.size_bytes is not None and disk.size_bytes != state.size_bytes:
        raise SafetyError(
            f"refusing {path}: it has {state.size_bytes} bytes, the runtime info {disk.size_bytes}",
            hint="collect the runtime info again and check which disk to erase",
        )
    if state.size_bytes < min_bytes:
        raise SafetyError(
            f"refusing {path}: {state.size_bytes} bytes is smaller than the layout needs "
            f"({min_bytes})",
            hint="use a bigger disk",
        )


def check_layout(
    info: RuntimeInfo,
    layout: DiskLayout,
    transport: Transport,
    *,
    system_paths: Sequence[str] = ("/",),
    reporter: Reporter | None = None,
) -> tuple[DiskState, ...]:
    """Check every disk of ``layout`` on the host (read-only); raise :class:`SafetyError` for
    the first refused one."""
    try:
        system = system_sources(transport, system_paths)
    except TransportError as exc:
        raise SafetyError(
            f"cannot check the running system: {exc.message}", hint=exc.hint
        ) from None
    states = []
    for spec in layout.disks:
        disk = info.disk(spec.path)
        resolved = resolve(transport, spec.path)
        expected = None
        state = None
        if disk is not None and resolved is not None:
            expected = resolve(transport, disk.path)
            # Named by kernel path: its by-id link must still point here as well.
            if (
                disk.by_id
                and disk.by_id != spec.path
                and expected is not None
                and resolve(transport, disk.by_id) != expected
            ):
                expected = None
            if expected == resolved:
                state = inspect_disk(transport, resolved)
        check_disk(info, spec.path, resolved, expected, state, layout.min_disk_bytes, system)
        assert state is not None
        report(
            reporter,
            "step",
            f"{spec.path} is {resolved} ({state.size_bytes} bytes), "
            "not mounted, not the running system",
            phase=PHASE,
        )
        states.append(state)
    return tuple(states)


def confirm(
    info: RuntimeInfo,
    layout: DiskLayout,
    *,
    yes: bool,
    ask: Callable[[str], str] | None = None,
) -> None:
    """Require an explicit yes before erasing: ``yes`` (``--yes``), or ``ask`` (a prompt) answered
    with the host name. Raises :class:`SafetyError` otherwise."""
    if yes:
        return
    disks = ", ".join(d.path for d in layout.disks)
    if ask is None:
        raise no_terminal_to_confirm(f"erase {disks} on {info.host_name}", dry_run=True)
    answer = ask(f"This erases {disks} on {info.host_name}. Type the host name to go on")
    if answer.strip() != info.host_name:
        raise SafetyError(
            f"confirmation failed: typed {answer.strip()!r}, not {info.host_name!r}",
            hint="type the host name exactly, or pass --yes",
        )


def check_identity(
    plan: Plan, transport: Transport, *, marker: Path | None, reporter: Reporter | None = None
) -> None:
    """Before the first destructive step: refuse unless this is the host ``plan`` names.

    ``marker`` (the kexec's :data:`~nixremote.core.plan.INSTALLER_MARKER`, ``None`` to skip)
    must exist and name this plan; every planned MAC must be on a NIC here; every planned disk's
    path must resolve to a disk of the planned size and serial. Reads only.
    """
    from ..core.converter import plan_digest

    ident = plan.identity
    hint = "this is not the host the plan was made for; nothing was changed"
    if marker is not None:
        try:
            data = json.loads(marker.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise SafetyError(
                f"no nixremote installer marker at {marker}: this system was not booted by "
                "nixremote's kexec",
                hint="run nixremote install from the controller (it kexecs the host first)",
            ) from None
        if not isinstance(data, dict) or data.get("planSha256") != plan_digest(plan):
            raise SafetyError(
                f"the installer was booted for another plan ({marker})",
                hint="rerun nixremote install with the plan the kexec was made for",
            )
    found = transport.run(["sh", "-c", "cat /sys/class/net/*/address"], check=False)
    macs = {line.strip().lower() for line in found.text.splitlines() if line.strip()}
    for mac in ident.macs:
        if mac not in macs:
            raise SafetyError(f"refusing to install: no NIC with the planned MAC {mac}", hint=hint)
    for disk in ident.disks:
        device = resolve(transport, disk.path)
        if device is None:
            raise SafetyError(f"refusing {disk.path}: it does not exist here", hint=hint)
        result = transport.run(
            ["lsblk", "-J", "-b", "-d", "-o", "NAME,KNAME,TYPE,SIZE,SERIAL", device], check=False
        )
        devices = parse_lsblk(result.text) if result.ok else ()
        if not devices:
            raise SafetyError(f"refusing {disk.path}: lsblk cannot read {device}", hint=hint)
        size, serial = devices[0].size, devices[0].serial
        if disk.size_bytes is not None and size != disk.size_bytes:
            raise SafetyError(
                f"refusing {disk.path}: {size} bytes, the plan says {disk.size_bytes}", hint=hint
            )
        if disk.serial is not None and serial != disk.serial:
            raise SafetyError(
                f"refusing {disk.path}: serial {serial}, the plan says {disk.serial}", hint=hint
            )
    report(
        reporter,
        "step",
        f"this is {ident.host_name} as planned: "
        f"{len(ident.disks)} disk(s) and {len(ident.macs)} NIC(s) match",
        phase=PHASE,
    )
