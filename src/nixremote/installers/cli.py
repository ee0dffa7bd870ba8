"""``nixremote installer``: the commands that run inside the kexec'd installer.

``installer run --plan FILE`` executes a plan made and approved on the controller, exactly: no
hook runs here. Without ``--plan`` (a standalone run, by hand) it makes a plan itself from the
runtime info (``--runtime-info``, ``/root/network/runtime-info.json`` or ``/proc/cmdline``) and
the built-in layouts (``--layout``, ``--disk``), without asking any plugin. Either way it shows
what will be wiped, asks (unless ``--yes``) and runs the phases of
:mod:`nixremote.installers.phases`; ``installer status`` shows the state file.

Output is for a serial console or for the controller: plain lines, or with ``--json`` one
:class:`~nixremote.core.progress.Event` JSON object a line on stdout (the last one a ``done``
event carrying the host keys, or an ``error`` event). No rich here: this runs from the zipapp,
which has neither rich, fabric, paramiko nor hcloud.

:func:`main` is the entry point of the installer zipapp (``python3 nixremote.pyz installer run
...``): a ``nixremote`` command with only this group.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import attrs
import click

from .. import __version__
from ..core.clialiases import option as alias_option
from ..core.diskkey import DiskKey
from ..core.errors import InvalidInputError, NixremoteError, PlanError
from ..core.layout import LAYOUTS, LayoutOptions, default_layout
from ..core.models import RuntimeInfo
from ..core.phases import INSTALLER_PHASES, parse_phases
from ..core.plan import INSTALLER_MARKER, Plan, build_plan
from ..core.progress import Event, Reporter, configure_logging
from ..core.summary import summary_lines

PROC_CMDLINE = "/proc/cmdline"


def _reporter(json_lines: bool) -> Reporter:
    def emit(event: Event) -> None:
        if json_lines:
            line = event.to_json()
        else:
            prefix = f"[{event.phase}] " if event.phase else ""
            mark = {"error": "error: ", "warning": "warning: ", "skip": "skip: "}.get(
                event.kind, ""
            )
            count = f"({event.current}/{event.total}) " if event.current and event.total else ""
            line = f"{prefix}{mark}{count}{event.message}"
            if event.kind == "done" and event.phase is None:
                line += "".join(f"\n  {k}: {v}" for k, v in event.data)
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    return emit


def _local_plan(
    info: RuntimeInfo,
    variant: str,
    disks: tuple[str, ...],
    root: str | None,
    encrypted: bool | None,
    nixremote_flake: str | None,
) -> Plan:
    """A standalone run's plan: a built-in layout (no plugin is asked), moved to ``root``."""
    layout = default_layout(info, LayoutOptions(variant=variant, disks=disks, encrypted=encrypted))
    if root is not None:
        root = root.rstrip("/") or "/"
        pool_options = tuple((k, root if k == "altroot" else v) for k, v in layout.pool.options)
        layout = attrs.evolve(
            layout, mount_root=root, pool=attrs.evolve(layout.pool, options=pool_options)
        )
    return build_plan(info, layout, nixremote_flake=nixremote_flake)


@click.group("installer")
def installer_group() -> None:
    """Commands run inside the installer (the kexec'd environment)."""


@installer_group.command("run")
@click.option(
    "--plan",
    "plan_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="The plan made and approved on the controller: run exactly it.",
)
@click.option(
    "--runtime-info",
    "runtime_info",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Without --plan: the runtime info file (default: "
    "/root/network/runtime-info.json, then nixremote.info= on /proc/cmdline).",
)
@alias_option(
    "--disk-key-file",
    "key_file",
    aliases=("--key-file",),
    type=click.Path(path_type=Path, dir_okay=False),
    help="The disk key, in a file on tmpfs (shredded after the install). "
    "Without it the key is asked for when needed.",
)
@click.option(
    "--phases",
    default=None,
    metavar="LIST",
    help="Comma-separated subset of format,keys,flake,install,reboot.",
)
@click.option(
    "--layout",
    "variant",
    type=click.Choice(LAYOUTS),
    default="default",
    show_default=True,
    help="Without --plan: the built-in disk layout.",
)
@click.option(
    "--disk",
    "extra_disks",
    multiple=True,
    metavar="PATH",
    help="Without --plan: another disk for the layout (the second disk of a mirror).",
)
@click.option(
    "--encrypted/--unencrypted",
    default=None,
    help="Without --plan: override the layout's encryption.",
)
@click.option(
    "--root",
    "root",
    default=None,
    metavar="DIR",
    help="Without --plan: where the new system is mounted during the install (default /mnt).",
)
@click.option(
    "--state-file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="The phase record (default /run/nixremote/state.json).",
)
@click.option("--restart", is_flag=True, help="Forget finished phases and start over.")
@click.option(
    "--nixremote-flake",
    default=None,
    metavar="REF",
    help="Without --plan: flake reference of nixremote for the host flake's input.",
)
@click.option("--no-reboot", is_flag=True, help="Do not reboot at the end.")
@click.option("--dry-run", is_flag=True, help="Show what would run; change nothing.")
@click.option("-y", "--yes", is_flag=True, help="Do not ask before wiping the disk.")
@click.option("--json", "json_lines", is_flag=True, help="One JSON event a line on stdout.")
@click.option(
    "--lock-wait",
    type=float,
    default=120.0,
    show_default=True,
    help="Seconds to wait for an earlier run on this installer (one whose controller went "
    "away stops at its next line of output) before giving up.",
)
@click.option(
    "--cmdline",
    "cmdline",
    default=PROC_CMDLINE,
    hidden=True,
    type=click.Path(path_type=Path, dir_okay=False),
)
@click.option(
    "--marker",
    default=f"/root/network/{INSTALLER_MARKER}",
    hidden=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="The kexec's installer marker (checked with --plan before formatting).",
)
@click.option(
    "--no-marker",
    is_flag=True,
    hidden=True,
    help="With --plan, do not require the kexec's marker.",
)
@click.option(
    "--network-runtime-info",
    "network_file",
    default=None,
    hidden=True,
    type=click.Path(path_type=Path, dir_okay=False),
)
def run_cmd(json_lines: bool, lock_wait: float, **options: Any) -> None:
    """Install NixOS on this machine: format, keys, flake, install, reboot (resumable)."""
    from .lock import file_id, installer_lock

    reporter = _reporter(json_lines)
    key_file = options.get("key_file")
    key_id = file_id(Path(key_file)) if key_file is not None else None
    try:
        try:
            if options.get("dry_run"):
                _run(reporter, json_lines=json_lines, **options)
            else:
                state_file = options.get("state_file") or _default_state_file()
                with installer_lock(Path(state_file), reporter, wait=lock_wait):
                    _run(reporter, json_lines=json_lines, **options)
        finally:
            # the disk key never outlives the run, whatever failed (a dry run leaves it alone);
            # a key file a later controller wrote anew (another file) is that run's to shred
            if key_file is not None and not options.get("dry_run"):
                now = file_id(Path(key_file))
                if key_id is None or now == key_id:
                    _shred(Path(key_file), reporter)
    except NixremoteError as exc:
        if json_lines:
            data = {"hint": exc.hint} if exc.hint else {}
            reporter(Event(kind="error", message=exc.message, data=data))
        raise


def _default_state_file() -> Path:
    from .state import STATE_FILE

    return STATE_FILE


def _shred(key_file: Path, reporter: Reporter) -> None:
    """Shred the key file when it is on tmpfs (where the controller writes it); a file
    elsewhere is the user's own, refused by the run, and left alone."""
    from ..core.mounts import filesystem_type
    from ..core.transport import LocalTransport
    from .phases import TMPFS_TYPES, shred_key_file

    try:
        fstype = filesystem_type(key_file, Path("/proc/self/mountinfo").read_text())
    except OSError:
        return
    if fstype in TMPFS_TYPES:
        shred_key_file(key_file, LocalTransport(), reporter)


def _plan_for(
    *,
    plan_file: Path | None,
    runtime_info: Path | None,
    variant: str,
    extra_disks: tuple[str, ...],
    encrypted: bool | None,
    root: str | None,
    nixremote_flake: str | None,
    cmdline: Path,
    network_file: Path | None,
) -> tuple[Plan, str]:
    """The plan to run and where it came from."""
    from .runtime_source import DEFAULT_FILES, find_runtime_info

    if plan_file is not None:
        given = [
            name
            for name, value in (
                ("--runtime-info", runtime_info),
                ("--disk", extra_disks),
                ("--root", root),
                ("--nixremote-flake", nixremote_flake),
                ("--encrypted/--unencrypted", encrypted is not None),
                ("--layout", variant != "default"),
            )
            if value
        ]
        if given:
            raise InvalidInputError(
                f"{given[0]} cannot be combined with --plan (the plan decides it)",
                hint="make a new plan on the controller, or run without --plan",
            )
        from ..core.converter import load_plan

        return load_plan(plan_file), f"plan {plan_file}"
    files = (network_file,) if network_file is not None else DEFAULT_FILES
    found = find_runtime_info(runtime_info, files=files, cmdline=cmdline)
    plan = _local_plan(found.info, variant, extra_disks, root, encrypted, nixremote_flake)
    return plan, found.source


def _run(
    reporter: Reporter,
    *,
    key_file: Path | None,
    phases: str | None,
    state_file: Path | None,
    restart: bool,
    no_reboot: bool,
    dry_run: bool,
    yes: bool,
    json_lines: bool,
    marker: Path,
    no_marker: bool,
    **where: Any,
) -> None:
    from . import phases as ph
    from .state import STATE_FILE, InstallState

    plan, source = _plan_for(**where)
    info, layout = plan.runtime_info, plan.layout
    wanted = parse_phases(phases, INSTALLER_PHASES)
    if "install" in wanted and not plan.authorized_keys:
        # NixOS would refuse the system at nixos-install, after the disk was wiped
        raise PlanError(
            f"{source}: the installed system would trust no SSH key",
            hint="make the plan with --authorized-key, -i KEY or --authorized-keys-file",
        )
    from_plan = source.startswith("plan ")
    config = ph.InstallerConfig(
        key_file=key_file,
        state_file=state_file or STATE_FILE,
        reboot=not no_reboot,
        check_identity=from_plan,
        identity_marker=None if not from_plan or no_marker else marker,
    )
    lines = summary_lines(info)
    how = "" if source.startswith("plan ") else " (standalone: built-in layout, no plugins)"
    reporter(
        Event(
            kind="step",
            message=f"{source}: "
            f"{info.host_name}, disk {info.disk_to_format}, layout {layout.name}{how}",
            data={
                "source": source,
                "host": info.host_name,
                "disk": info.disk_to_format,
                "layout": layout.name,
                "summary": "\n".join(lines),
            },
        )
    )
    if not json_lines:
        for line in lines:
            click.echo(f"  {line}")

    installer = ph.Installer(
        plan, config=config, key_provider=_key_provider(key_file, config), reporter=reporter
    )
    state = (
        InstallState(
            host_name=info.host_name,
            disk=info.disk_to_format,
            pool=layout.pool.name,
            root=layout.mount_root,
        )
        if restart
        else installer.load_state()
    )
    formats = "format" in wanted and "format" not in state.finished
    if dry_run:
        _dry_run(reporter, installer, wanted, state)
        return
    if formats:
        _confirm(plan, yes)
    installer.run(wanted, restart=restart)


def _key_provider(key_file: Path | None, config: Any) -> Any:
    from .phases import read_key_file

    def provide(why: str) -> DiskKey:
        if key_file is not None:
            return read_key_file(key_file, mountinfo=config.mountinfo)
        if not sys.stdin.isatty():
            raise PlanError(
                f"the disk key is needed to {why}", hint="pass --disk-key-file (a file on tmpfs)"
            )
        value: str = click.prompt(
            f"Disk encryption passphrase (to {why})",
            hide_input=True,
            confirmation_prompt=True,
            err=True,
        )
        return DiskKey.from_bytes(value.encode("utf-8"), source="the passphrase")

    return provide


def _confirm(plan: Plan, yes: bool) -> None:
    from .safety import confirm

    ask = None
    if sys.stdin.isatty():

        def ask(question: str) -> str:
            answer: str = click.prompt(question, default="", show_default=False, err=True)
            return answer

    confirm(plan.runtime_info, plan.layout, yes=yes, ask=ask)


def _dry_run(reporter: Reporter, installer: Any, wanted: tuple[str, ...], state: Any) -> None:
    from .execute import execute

    for phase in wanted:
        if phase in state.finished:
            reporter(
                Event(kind="skip", message=f"{phase}: finished in an earlier run", phase=phase)
            )
            continue
        reporter(
            Event(kind="step", message=f"would run {phase}", phase=phase, data={"dryRun": True})
        )
        if phase == "format":
            execute(installer.plan.steps, installer.transport, None, reporter, dry_run=True)


@installer_group.command("follow")
@click.option(
    "--dir",
    "run_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("/run/nixremote"),
    show_default=True,
    help="The run directory of the detached installer run.",
)
@click.option(
    "--running-only",
    is_flag=True,
    help="Follow only a run that is still running; without one, say so and exit 0.",
)
def follow_cmd(run_dir: Path, running_only: bool) -> None:
    """Follow a detached installer run: its output from the start, then its exit status."""
    from .follow import follow_main, running

    if running_only:
        pid = running(run_dir)
        if pid is None:
            sys.stdout.write(Event(kind="skip", message="no installer run is running").to_json())
            sys.stdout.write("\n")
            return
        sys.stdout.write(
            Event(
                kind="step",
                message=f"re-attached to the installer run (pid {pid}) that is still running",
                data={"pid": str(pid)},
            ).to_json()
            + "\n"
        )
        sys.stdout.flush()
    sys.exit(follow_main(run_dir))


@installer_group.command("status")
@click.option(
    "--state-file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="The phase record (default /run/nixremote/state.json).",
)
@click.option("--json", "json_out", is_flag=True, help="Print the state as JSON.")
def status_cmd(state_file: Path | None, json_out: bool) -> None:
    """Show which install phases finished and which one runs next."""
    from .state import STATE_FILE, load_state

    phases = INSTALLER_PHASES
    path = state_file or STATE_FILE
    state = load_state(path)
    if state is None:
        if json_out:
            click.echo(
                json.dumps(
                    {"stateFile": str(path), "finished": [], "next": phases[0]}, sort_keys=True
                )
            )
        else:
            click.echo(f"no install recorded in {path}; next phase: {phases[0]}")
        return
    if json_out:
        data = state.to_json_data()
        data["stateFile"] = str(path)
        data["next"] = state.next_phase
        click.echo(json.dumps(data, indent=2, sort_keys=True))
        return
    click.echo(f"host {state.host_name}, disk {state.disk}, pool {state.pool} at {state.root}")
    for phase in phases:
        mark = (
            "done"
            if phase in state.finished
            else ("FAILED" if phase == state.failed_phase else "-")
        )
        click.echo(f"  {phase:<8} {mark}")
    if state.failed_phase:
        click.echo(f"last failure in {state.failed_phase}: {state.failed_message}")
    click.echo(f"next phase: {state.next_phase or 'none (finished)'}  (updated {state.updated})")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="nixremote")
@click.option("-v", "--verbose", count=True, help="More log output (repeat for debug).")
@click.option("-q", "--quiet", count=True, help="Less output: warnings only.")
def installer_root(verbose: int, quiet: int) -> None:
    """nixremote inside the installer."""
    configure_logging(verbose, quiet)


installer_root.add_command(installer_group)


def main(argv: list[str] | None = None) -> Any:
    """Entry point of the installer zipapp: errors become one line and an exit code."""
    from ..core.runner import run_group

    return run_group(installer_root, argv)


__all__ = ["installer_group", "main"]
