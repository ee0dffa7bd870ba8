"""``nixremote disk``: show a host's disk plan, apply it here, or export it for disko.

``plan`` and ``disko`` only read the runtime info. ``apply`` erases disks on *this* machine (it is
what the installer runs) after the safety checks and an explicit confirmation (``--yes``, or the
host name typed at the prompt). The disk key comes from ``--disk-key-file``, from stdin when it
is not a terminal, or from a hidden prompt; it never appears in argv.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..core.clialiases import option as alias_option
from ..core.converter import load_runtime_info, unstructure
from ..core.diskkey import DiskKey
from ..core.diskplan import STAGES, DiskPlan, plan_to_json_data, select
from ..core.layout import (
    LAYOUTS,
    DiskLayout,
    PartitionRole,
)
from ..core.models import RuntimeInfo
from ..core.plan import Plan
from .output import emit_result, json_option, progress_reporter

_ROLE_TEXT = {
    PartitionRole.BIOS_BOOT: "BIOS boot",
    PartitionRole.ESP: "EFI system",
    PartitionRole.BOOT: "boot",
    PartitionRole.ZFS: "ZFS pool",
}


def _layout_options(func: click.decorators.FC) -> click.decorators.FC:
    func = click.option(
        "--disk",
        "disks",
        multiple=True,
        metavar="PATH",
        help="A disk to format (by-id or kernel path; repeat for a mirror). Default: the "
        "runtime info's disk to format (or the plugins' choice).",
    )(func)
    func = click.option(
        "--layout",
        "variant",
        type=click.Choice(LAYOUTS),
        default=None,
        help="The layout: the original installer's (default), uefi, bios, mirror, unencrypted, "
        "or auto (uefi/bios from the runtime info's boot mode). Without it a hoster plugin "
        "may choose its own, else default.",
    )(func)
    return func


def plan_for(info: RuntimeInfo, variant: str | None, disks: tuple[str, ...]) -> Plan:
    """The plan for ``info`` without a live host: the same planning as ``nixremote plan``
    (the plugins choose the layout; ``--disk`` means the disks to format)."""
    from ..controller.planning import PlanOptions, make_plan

    # the disks alone: no system is installed, so no key is needed
    return make_plan(info, PlanOptions(layout=variant, disks=disks, require_authorized_keys=False))


def layout_lines(layout: DiskLayout) -> list[str]:
    """A person's summary of a layout."""
    lines = [
        f"layout {layout.name}: {len(layout.disks)} disk(s), needs at least "
        f"{layout.min_disk_bytes / 2**30:.1f} GiB each"
    ]
    for disk in layout.disks:
        lines.append(f"  disk {disk.path}")
        for part in sorted(disk.partitions, key=lambda p: p.number):
            fs = f", {part.filesystem}" if part.filesystem else ""
            where = (
                "the rest of the disk"
                if (part.start, part.end) == ("0", "0")
                else f"{part.start}..{part.end}"
            )
            lines.append(
                f"    partition {part.number}: {part.type_code} {_ROLE_TEXT[part.role]}"
                f", {where}{fs}"
            )
    pool = layout.pool
    enc = "encrypted (passphrase prompted at boot)" if pool.encrypted else "not encrypted"
    lines.append(f"  pool {pool.name}{' (' + pool.vdev + ')' if pool.vdev else ''}, {enc}")
    for ds in layout.datasets:
        snaps = "".join(f" @{s}" for s in ds.snapshots)
        at = f" at {layout.mount_path(ds.mountpoint)}" if ds.mountpoint else ""
        lines.append(f"    {pool.name}/{ds.name}{at}{snaps}")
    return lines


def plan_lines(steps: DiskPlan) -> list[str]:
    """The steps, numbered, each with its command."""
    lines = []
    width = len(str(len(steps)))
    for i, step in enumerate(steps, start=1):
        notes = []
        if step.stdin_secret:
            notes.append("key on stdin")
        if step.may_fail:
            notes.append("may fail")
        if step.always:
            notes.append("runs even after a failure")
        extra = f"  ({', '.join(notes)})" if notes else ""
        lines.append(f"{i:>{width}}. [{step.stage}] {step.description}{extra}")
        lines.append(f"{' ' * width}    $ {step.command}")
    return lines


@click.group("disk")
def disk_group() -> None:
    """Plan, apply and export disk layouts."""


@disk_group.command("plan", short_help="Print a host's disk plan step by step.")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@_layout_options
@json_option
def plan_cmd(file: Path, variant: str | None, disks: tuple[str, ...], as_json: bool) -> None:
    """Print the disk plan for the host of FILE (a runtime-info.json), step by step."""
    info = load_runtime_info(file)
    the_plan = plan_for(info, variant, disks)
    layout, steps = the_plan.layout, the_plan.steps
    if as_json:
        emit_result(
            f"disk plan for {info.host_name}: {len(steps)} steps",
            {
                "host": info.host_name,
                "layout": unstructure(layout),
                "steps": plan_to_json_data(steps),
            },
        )
        return
    click.echo(f"disk plan for {info.host_name}: {len(steps)} steps")
    for line in (*layout_lines(layout), "", *plan_lines(steps)):
        click.echo(line)


@disk_group.command("disko", short_help="Print the layout as a disko configuration.")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@_layout_options
def disko_cmd(file: Path, variant: str | None, disks: tuple[str, ...]) -> None:
    """Print the layout for the host of FILE as a disko configuration (Nix)."""
    from ..controller.disko import render

    info = load_runtime_info(file)
    click.echo(render(plan_for(info, variant, disks).layout), nl=False)


def _read_key(key_file: Path | None) -> DiskKey:
    if key_file is not None:
        return DiskKey.from_file(key_file)
    if not sys.stdin.isatty():
        return DiskKey.from_bytes(sys.stdin.buffer.read(), source="the disk key on stdin")
    key = click.prompt(
        "Disk encryption passphrase", hide_input=True, confirmation_prompt=True, err=True
    )
    return DiskKey.from_bytes(str(key).encode(), source="the passphrase")


def _ask(prompt: str) -> str:
    return str(click.prompt(prompt, err=True))


@disk_group.command("apply", short_help="Erase the disks here and create the layout.")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@_layout_options
@alias_option(
    "--disk-key-file",
    "key_file",
    aliases=("--key-file",),
    type=click.Path(dir_okay=False, path_type=Path),
    help="Read the disk passphrase from this file (default: stdin, or a prompt).",
)
@click.option("-y", "--yes", is_flag=True, help="Do not ask; erase the disks.")
@click.option("--dry-run", is_flag=True, help="Check the disks and show the steps; change nothing.")
@click.option(
    "--stage",
    "stages",
    multiple=True,
    type=click.Choice(STAGES),
    help="Run only these stages (repeatable; for recovery and tests).",
)
@json_option
def apply_cmd(
    file: Path,
    variant: str | None,
    disks: tuple[str, ...],
    key_file: Path | None,
    yes: bool,
    dry_run: bool,
    stages: tuple[str, ...],
    as_json: bool,
) -> None:
    """Erase the disks of FILE's layout on this machine and create the layout.

    Refuses disks that are mounted, hold the running system, do not match the runtime info or
    are too small; asks for the host name unless --yes.
    """
    from ..core.transport import LocalTransport
    from ..installers.execute import nuke_disks
    from ..installers.safety import check_layout, confirm

    the_plan = plan_for(load_runtime_info(file), variant, disks)
    info, layout = the_plan.runtime_info, the_plan.layout
    steps = select(the_plan.steps, stages or None)
    needs_key = any(s.stdin_secret for s in steps)
    with LocalTransport() as transport, progress_reporter(json_lines=as_json) as reporter:
        check_layout(info, layout, transport, reporter=reporter)
        key = None
        if not dry_run:
            # Ask on a terminal only; when stdin carries the key, only --yes can confirm.
            ask = _ask if sys.stdin.isatty() and not as_json else None
            confirm(info, layout, yes=yes, ask=ask)
            if needs_key:
                key = _read_key(key_file)
        nuke_disks(
            info,
            layout,
            transport,
            key,
            reporter,
            dry_run=dry_run,
            stages=stages or None,
            steps=the_plan.steps,
        )
    if as_json:
        done = "dry run, nothing changed" if dry_run else "disks formatted"
        emit_result(
            f"{info.host_name}: {done}",
            {"host": info.host_name, "dryRun": dry_run, "disks": [d.path for d in layout.disks]},
        )
