"""``nixremote install``: install NixOS onto a host over SSH (kexec, format, install, reboot).

The command gathers the options and the disk key (unless given in a file), then runs
:func:`nixremote.controller.pipeline.install`: it collects the host, makes the plan (or checks
that the host still matches a saved ``--plan``), shows it and asks for the host name typed back
(unless ``--yes``) before anything changes. Progress renders as rich bars on a terminal,
plain lines elsewhere, or one JSON event a line with ``--json``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..core.clialiases import option as alias_option
from ..core.diskkey import DiskKey
from ..core.errors import InvalidInputError, no_terminal_to_confirm
from .options import (
    connection_options,
    extra_files_option,
    plan_options,
    sudo_option,
    target_from,
    with_sudo,
)
from .output import json_option

if TYPE_CHECKING:
    from ..core.plan import Plan


def _prompt_key() -> bytes:
    if not sys.stdin.isatty():
        raise InvalidInputError(
            "the disk key is needed and there is no terminal to ask for it",
            hint="pass --disk-key-file FILE",
        )
    while True:
        value: str = click.prompt(
            "Disk encryption passphrase", hide_input=True, confirmation_prompt=True, err=True
        )
        try:
            return DiskKey.from_bytes(value.encode("utf-8"), source="the passphrase").value
        except InvalidInputError as exc:
            click.echo(str(exc), err=True)


def _confirm(plan: Plan) -> bool:
    """After collecting and planning: show what will be wiped and ask for the host name."""
    from ..core.summary import plan_lines

    name = plan.identity.host_name
    disks = ", ".join(d.path for d in plan.identity.disks)
    if not sys.stdin.isatty():
        raise no_terminal_to_confirm(f"replace the system of {name} and wipe {disks}", dry_run=True)
    click.echo("", err=True)
    for line in plan_lines(plan):
        click.echo(f"  {line}", err=True)
    click.echo(f"This replaces the running system of {name} and WIPES {disks}.", err=True)
    answer: str = click.prompt(
        f"Type the host name ({name}) to go on", default="", show_default=False, err=True
    )
    return answer.strip() == name


def result_data(result: Any) -> dict[str, Any]:
    """The ``result`` event's data of ``install --json``: typed values."""
    return {
        "host": result.host,
        "phases": list(result.phases),
        "dryRun": result.dry_run,
        "steps": len(result.steps),
        "uploadedBytes": result.uploaded_bytes,
        "cmdlineBytes": result.cmdline_bytes,
        "installerFingerprint": result.installer_fingerprint or None,
        "knownHosts": str(result.known_hosts) if result.known_hosts else None,
        "hostKeys": [
            {"role": k.role, "type": k.type, "sha256": k.fingerprint} for k in result.host_keys
        ],
        "verified": dict(result.verified),
    }


@click.command("install")
@click.argument("target", metavar="[USER@]HOST")
@connection_options
@sudo_option
@extra_files_option
@plan_options
@click.option(
    "--plan",
    "plan_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Run exactly this plan (nixremote plan -o FILE); refused if the host drifted.",
)
@click.option(
    "--disk-key-file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="File holding the disk encryption passphrase (else it is asked for).",
)
@click.option(
    "--phases",
    default="kexec,format,install,reboot,verify",
    show_default=True,
    metavar="LIST",
    help="Comma-separated subset of kexec,format,install,reboot,verify (nixos-anywhere's "
    "'disko' is 'format').",
)
@alias_option(
    "--installer-port",
    aliases=("--post-kexec-ssh-port",),  # nixos-anywhere's name
    type=click.IntRange(1, 65535),
    default=None,
    help="SSH port of the installer after kexec (default: the same port).",
)
@click.option(
    "--unlock-port",
    type=click.IntRange(1, 65535),
    default=2222,
    show_default=True,
    help="Port of the installed system's initrd SSH (the remote unlock), as reached from here.",
)
@click.option(
    "--verify-timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=600.0,
    show_default=True,
    help="Seconds the verify phase waits for each stage of the boot.",
)
@click.option(
    "--kexec-timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=600.0,
    show_default=True,
    help="Seconds to wait for the installer's SSH after kexec.",
)
@click.option(
    "--force-format",
    is_flag=True,
    help="Format again even when the install on the host finished (a rerun never does).",
)
@click.option("--dry-run", is_flag=True, help="Show the plan and every step; change nothing.")
@click.option("-y", "--yes", is_flag=True, help="Do not ask before replacing the system.")
@json_option
def install_cmd(
    target: str,
    plan_file: Path | None,
    bundle: Path | None,
    user_flake: str | None,
    nixremote_flake: str | None,
    disk_key_file: Path | None,
    layout: str | None,
    disks: tuple[str, ...],
    phases: str,
    installer_port: int | None,
    unlock_port: int,
    verify_timeout: float,
    kexec_timeout: float,
    hoster: str | None,
    force_format: bool,
    dry_run: bool,
    yes: bool,
    as_json: bool,
    authorized_key: tuple[str, ...],
    authorized_keys_file: Path | None,
    sets: tuple[str, ...],
    config: Path | None,
    sudo: bool,
    extra_files: Path | None,
    **connection: Any,
) -> None:
    """Install NixOS onto HOST over SSH: collect and plan (or run a saved --plan), confirm,
    kexec into the installer, format, install, reboot, then verify the running system (unlocking
    its pool through the initrd's SSH).

    Interrupted? Run the same command again: it finds out where the host is (its old system,
    the nixremote installer, or the installed system) and goes on from the first unfinished
    phase. A disk whose install finished is not formatted again unless --force-format.

    The installed system trusts the old root's SSH keys, the identity's .pub and every
    --authorized-key; or, with --authorized-keys-file, that file's keys (and --authorized-key).
    With --plan, the plan's decisions stand; the settings reach the lifecycle hooks (before the
    kexec, after the install, after the verify).
    """
    from ..controller.pipeline import InstallOptions, install, parse_phases
    from ..core.converter import load_plan
    from ..core.nixtext import check_flake_url
    from ..core.progress import Event
    from .keys import authorized_keys
    from .options import plugins_and_settings
    from .output import emit_result, progress_reporter

    pm, settings = plugins_and_settings(sets, config)
    if extra_files is not None:  # a bad tree is refused before anything connects
        from ..controller.filetree_scan import scan_tree

        scan_tree(extra_files)
    the_target = with_sudo(target_from(target, **connection), sudo)
    wanted = parse_phases(phases)
    extra_keys, replace_keys = authorized_keys(authorized_key, authorized_keys_file)
    if nixremote_flake is not None:
        check_flake_url(nixremote_flake)
    if user_flake is not None:  # its shape, before anything connects (nothing is evaluated)
        from ..controller.userflake_plan import resolve

        resolve(user_flake)
    if "kexec" in wanted and bundle is None:
        raise InvalidInputError(
            "the kexec phase needs --bundle",
            hint="pass --bundle DIR (nix build .#kexec) or a nixos-images "
            "kexec tarball, or leave kexec out of --phases",
        )
    destructive = any(p in wanted for p in ("kexec", "format", "install"))
    if destructive and not (yes or dry_run) and not sys.stdin.isatty():
        # no terminal to confirm on: refuse before connecting (nothing is collected in vain)
        raise no_terminal_to_confirm(
            f"replace the system of {the_target.host} and wipe its disks", dry_run=True
        )
    approved = load_plan(plan_file) if plan_file is not None else None
    if approved is not None and (
        disks
        or layout is not None
        or user_flake
        or nixremote_flake
        or authorized_key
        or authorized_keys_file
        or extra_files is not None
    ):
        raise InvalidInputError(
            "--disk, --layout, --flake, --nixremote-flake, --extra-files and the key options "
            "cannot be combined "
            "with --plan (the plan decides)",
            hint="make a new plan with nixremote plan",
        )
    needs_key = any(p in wanted for p in ("format", "install", "verify"))
    key: bytes | None = None
    if disk_key_file is not None:
        key = DiskKey.from_file(disk_key_file).value
    elif needs_key and not dry_run:
        key = _prompt_key()
    options = InstallOptions(
        bundle=bundle,
        plan=approved,
        nixremote_flake=nixremote_flake,
        user_flake=user_flake,
        extra_files=extra_files,
        disk_key=key,
        layout=layout,
        disks=disks,
        phases=wanted,
        dry_run=dry_run,
        yes=yes,
        force_format=force_format,
        confirm=_confirm,
        installer_port=installer_port,
        unlock_port=unlock_port,
        verify_deadline=verify_timeout,
        kexec_deadline=kexec_timeout,
        hoster=hoster,
        authorized_keys=extra_keys,
        replace_authorized_keys=replace_keys,
        settings=settings,
        plugins=pm,
    )
    json_lines = as_json
    with progress_reporter(json_lines=json_lines) as reporter:
        show = reporter
        if not (yes or dry_run or json_lines):
            # the confirmation shows the plan itself, whole, right before the prompt
            def show(event: Event) -> None:
                if event.phase != "plan":
                    reporter(event)

        result = install(the_target, options, show)
        message = (
            f"dry run for {result.host}: {len(result.steps)} steps, nothing changed"
            if result.dry_run
            else f"{result.host}: {', '.join(result.phases)} done"
            if result.phases
            else f"{result.host}: installed, nothing to do"
        )
        if json_lines:
            emit_result(message, result_data(result))
        else:
            reporter(Event(kind="done", message=message))
    if not json_lines and result.host_keys:
        when = "" if "reboot" in result.phases else " (the system's are recorded at reboot)"
        click.echo(f"host keys of the installed system, for {result.known_hosts}{when}:", err=True)
        for k in result.host_keys:
            click.echo(f"  {k.role:<6} {k.type:<8} {k.fingerprint}", err=True)


__all__ = ["install_cmd"]
