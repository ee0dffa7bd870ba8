"""``nixremote installer``: the commands that run inside the kexec'd installer.

``installer run`` reads the runtime info (``--runtime-info``, ``/root/network/runtime-info.json``
or ``/proc/cmdline``), shows it, asks before wiping the disk (unless ``--yes``) and runs the
phases of :mod:`nixremote.installers.phases`; ``installer status`` shows the state file.

Output is for a serial console or for the controller: plain lines, or with ``--json`` one
:class:`~nixremote.core.progress.Event` JSON object a line on stdout (the last one a ``done``
event carrying the host keys, or an ``error`` event). No rich here: this runs from the zipapp,
which has neither rich, fabric, paramiko nor hcloud.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import attrs
import click

from ..core.errors import NixremoteError, PlanError
from ..core.progress import Event, Reporter
from ..installers.layout import LAYOUTS, DiskLayout, LayoutOptions

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


def _layout(info: Any, variant: str, disks: tuple[str, ...], root: str | None,
            encrypted: bool | None) -> DiskLayout:
    """The layout the ``disk_layout`` hook chooses (as on the controller), moved to ``root``."""
    from ..core.plugins import get_plugin_manager
    from ..installers.layout import default_layout

    options = LayoutOptions(variant=variant, disks=disks, encrypted=encrypted)
    layout = get_plugin_manager().hook.disk_layout(info=info, options=options)
    if layout is None:
        layout = default_layout(info, options)
    if root is not None:
        root = root.rstrip("/") or "/"
        pool_options = tuple((k, root if k == "altroot" else v) for k, v in layout.pool.options)
        layout = attrs.evolve(
            layout, mount_root=root, pool=attrs.evolve(layout.pool, options=pool_options)
        )
    assert isinstance(layout, DiskLayout)
    return layout


@click.group("installer")
def installer_group() -> None:
    """Commands run inside the installer (the kexec'd environment)."""


@installer_group.command("run")
@click.option("--runtime-info", "runtime_info", type=click.Path(path_type=Path, dir_okay=False),
              help="Runtime info file (default: /root/network/runtime-info.json, then "
              "nixremote.info= on /proc/cmdline).")
@click.option("--key-file", type=click.Path(path_type=Path, dir_okay=False),
              help="The disk key, in a file on tmpfs (shredded after the install). "
              "Without it the key is asked for when needed.")
@click.option("--phases", default=None, metavar="LIST",
              help="Comma-separated subset of format,keys,flake,install,reboot.")
@click.option("--layout", "variant", type=click.Choice(LAYOUTS), default="default",
              show_default=True, help="The disk layout (as chosen on the controller).")
@click.option("--disk", "extra_disks", multiple=True, metavar="PATH",
              help="Another disk for the layout (the second disk of a mirror).")
@click.option("--encrypted/--unencrypted", default=None,
              help="Override the layout's encryption.")
@click.option("--root", "root", default=None, metavar="DIR",
              help="Where the new system is mounted during the install (default /mnt).")
@click.option("--state-file", type=click.Path(path_type=Path, dir_okay=False),
              default=None, help="The phase record (default /run/nixremote/state.json).")
@click.option("--restart", is_flag=True, help="Forget finished phases and start over.")
@click.option("--nixremote-flake", default=None, metavar="REF",
              help="Flake reference of nixremote for the host flake's input.")
@click.option("--no-reboot", is_flag=True, help="Do not reboot at the end.")
@click.option("--dry-run", is_flag=True, help="Show what would run; change nothing.")
@click.option("-y", "--yes", is_flag=True, help="Do not ask before wiping the disk.")
@click.option("--json", "json_lines", is_flag=True, help="One JSON event a line on stdout.")
@click.option("--cmdline", "cmdline", default=PROC_CMDLINE, hidden=True,
              type=click.Path(path_type=Path, dir_okay=False))
@click.option("--network-runtime-info", "network_file", default=None, hidden=True,
              type=click.Path(path_type=Path, dir_okay=False))
def run_cmd(
    runtime_info: Path | None,
    key_file: Path | None,
    phases: str | None,
    variant: str,
    extra_disks: tuple[str, ...],
    encrypted: bool | None,
    root: str | None,
    state_file: Path | None,
    restart: bool,
    nixremote_flake: str | None,
    no_reboot: bool,
    dry_run: bool,
    yes: bool,
    json_lines: bool,
    cmdline: Path,
    network_file: Path | None,
) -> None:
    """Install NixOS on this machine: format, keys, flake, install, reboot (resumable)."""
    reporter = _reporter(json_lines)
    try:
        _run(reporter, runtime_info=runtime_info, key_file=key_file, phases=phases,
             variant=variant, extra_disks=extra_disks, encrypted=encrypted, root=root,
             state_file=state_file, restart=restart, nixremote_flake=nixremote_flake,
             no_reboot=no_reboot, dry_run=dry_run, yes=yes, json_lines=json_lines,
             cmdline=cmdline, network_file=network_file)
    except NixremoteError as exc:
        if json_lines:
            data = {"hint": exc.hint} if exc.hint else {}
            reporter(Event(kind="error", message=exc.message, data=data))
        raise


def _run(reporter: Reporter, *, runtime_info: Path | None, key_file: Path | None,
         phases: str | None, variant: str, extra_disks: tuple[str, ...],
         encrypted: bool | None, root: str | None, state_file: Path | None, restart: bool,
         nixremote_flake: str | None, no_reboot: bool, dry_run: bool, yes: bool,
         json_lines: bool, cmdline: Path, network_file: Path | None) -> None:
    from ..installers import phases as ph
    from ..installers.runtime_source import DEFAULT_FILES, find_runtime_info, summary_lines

    files = (network_file,) if network_file is not None else DEFAULT_FILES
    found = find_runtime_info(runtime_info, files=files, cmdline=cmdline)
    info = found.info
    layout = _layout(info, variant, extra_disks, root, encrypted)
    wanted = ph.parse_phases(phases)
    config = ph.InstallerConfig(
        key_file=key_file,
        state_file=state_file or ph.STATE_FILE,
        reboot=not no_reboot,
        nixremote_flake=nixremote_flake,
    )
    lines = summary_lines(info)
    reporter(Event(kind="step", message=f"runtime info from {found.source}: "
                   f"{info.host_name}, disk {info.disk_to_format}, layout {layout.name}",
                   data={"source": found.source, "host": info.host_name,
                         "disk": info.disk_to_format, "layout": layout.name,
                         "summary": "\n".join(lines)}))
    if not json_lines:
        for line in lines:
            click.echo(f"  {line}")

    installer = ph.Installer(info, layout, config=config,
                             key_provider=_key_provider(key_file, config),
                             reporter=reporter)
    state = ph.InstallState(host_name=info.host_name, disk=info.disk_to_format,
                            pool=layout.pool.name, root=layout.mount_root) if restart \
        else installer.load_state()
    formats = "format" in wanted and "format" not in state.finished
    if dry_run:
        _dry_run(reporter, installer, wanted, state)
        return
    if formats:
        _confirm(info, layout, yes)
    installer.run(wanted, restart=restart)


def _key_provider(key_file: Path | None, config: Any) -> Any:
    from ..installers.phases import read_key_file

    def provide(why: str) -> bytes:
        if key_file is not None:
            return read_key_file(key_file, mountinfo=config.mountinfo).value
        if not sys.stdin.isatty():
            raise PlanError(f"the disk key is needed to {why}",
                            hint="pass --key-file (a file on tmpfs)")
        value: str = click.prompt(f"Disk encryption passphrase (to {why})", hide_input=True,
                                  confirmation_prompt=True, err=True)
        return value.encode("utf-8")

    return provide


def _confirm(info: Any, layout: DiskLayout, yes: bool) -> None:
    from ..installers.safety import confirm

    ask = None
    if sys.stdin.isatty():
        def ask(question: str) -> str:
            answer: str = click.prompt(question, default="", show_default=False, err=True)
            return answer

    confirm(info, layout, yes=yes, ask=ask)


def _dry_run(reporter: Reporter, installer: Any, wanted: tuple[str, ...], state: Any) -> None:
    from ..installers.diskplan import execute, plan

    for phase in wanted:
        if phase in state.finished:
            reporter(Event(kind="skip", message=f"{phase}: finished in an earlier run",
                           phase=phase))
            continue
        reporter(Event(kind="step", message=f"would run {phase}", phase=phase,
                       data={"dryRun": "true"}))
        if phase == "format":
            execute(plan(installer.layout), installer.transport, None, reporter, dry_run=True)


@installer_group.command("status")
@click.option("--state-file", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="The phase record (default /run/nixremote/state.json).")
@click.option("--json", "json_out", is_flag=True, help="Print the state as JSON.")
def status_cmd(state_file: Path | None, json_out: bool) -> None:
    """Show which install phases finished and which one runs next."""
    from ..installers.phases import PHASES, STATE_FILE, load_state

    path = state_file or STATE_FILE
    state = load_state(path)
    if state is None:
        if json_out:
            click.echo(json.dumps({"stateFile": str(path), "finished": [], "next": PHASES[0]},
                                  sort_keys=True))
        else:
            click.echo(f"no install recorded in {path}; next phase: {PHASES[0]}")
        return
    if json_out:
        data = state.to_json_data()
        data["stateFile"] = str(path)
        data["next"] = state.next_phase
        click.echo(json.dumps(data, indent=2, sort_keys=True))
        return
    click.echo(f"host {state.host_name}, disk {state.disk}, pool {state.pool} at {state.root}")
    for phase in PHASES:
        mark = "done" if phase in state.finished else (
            "FAILED" if phase == state.failed_phase else "-")
        click.echo(f"  {phase:<8} {mark}")
    if state.failed_phase:
        click.echo(f"last failure in {state.failed_phase}: {state.failed_message}")
    click.echo(f"next phase: {state.next_phase or 'none (finished)'}  (updated {state.updated})")


__all__ = ["installer_group"]
