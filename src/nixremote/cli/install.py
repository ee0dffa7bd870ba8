"""``nixremote install``: install NixOS onto a host over SSH (kexec, format, install, reboot).

The command gathers the options, asks for what it must (the disk key, unless given in a file;
the confirmation, unless ``--yes``: typing the host name) before anything changes, and runs
:func:`nixremote.controller.pipeline.install`. Progress renders as rich bars on a terminal,
plain lines elsewhere, or one JSON event a line with ``--json``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..core.diskkey import DiskKey
from ..core.errors import InvalidInputError
from ..core.layout import LAYOUTS
from .keys import authorized_key_options, authorized_keys


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


def _confirm(host: str, phases: tuple[str, ...]) -> None:
    if not sys.stdin.isatty():
        raise InvalidInputError(
            f"installing onto {host} replaces its system and wipes its disk",
            hint="pass --yes to confirm, or --dry-run to look first",
        )
    click.echo(
        f"This replaces the running system of {host} ({', '.join(phases)}) and WIPES "
        "the disk to format.",
        err=True,
    )
    answer: str = click.prompt(
        f"Type the host name ({host}) to go on", default="", show_default=False, err=True
    )
    if answer.strip() != host:
        raise click.exceptions.Abort()


@click.command("install")
@click.argument("target", metavar="[USER@]HOST")
@click.option(
    "-p", "--port", type=click.IntRange(1, 65535), default=None, help="SSH port (default 22)."
)
@click.option(
    "-i",
    "--identity",
    "identity",
    type=click.Path(path_type=Path, dir_okay=False),
    help="SSH private key (its .pub is also allowed into the installer).",
)
@click.option(
    "--known-hosts",
    type=click.Path(path_type=Path, dir_okay=False),
    help="known_hosts file to check and record host keys in (default ~/.ssh/known_hosts).",
)
@click.option(
    "--accept-new",
    is_flag=True,
    help="Accept and record the running system's host key when it is unknown "
    "(a rescue system's key cannot be known in advance).",
)
@click.option(
    "--bundle",
    type=click.Path(path_type=Path, exists=True),
    help="Kexec bundle: a directory with bundle.json, or a nixos-images kexec tarball.",
)
@click.option(
    "--flake",
    default=None,
    metavar="REF",
    help="Flake reference of nixremote for the host flake's input.",
)
@click.option(
    "--disk-key-file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="File holding the disk encryption passphrase (else it is asked for).",
)
@click.option(
    "--layout",
    type=click.Choice(LAYOUTS),
    default="default",
    show_default=True,
    help="Disk layout.",
)
@click.option(
    "--disk",
    default=None,
    metavar="PATH",
    help="The disk to format (by-id path; default: the disk holding /).",
)
@click.option(
    "--phases",
    default="kexec,format,install,reboot",
    show_default=True,
    metavar="LIST",
    help="Comma-separated subset of kexec,format,install,reboot.",
)
@click.option(
    "--installer-port",
    type=click.IntRange(1, 65535),
    default=None,
    help="SSH port of the installer after kexec (default: the same port).",
)
@click.option(
    "--kexec-timeout",
    type=float,
    default=600.0,
    show_default=True,
    help="Seconds to wait for the installer's SSH after kexec.",
)
@click.option("--hoster", default=None, help="Hoster plugin to use (default: detected).")
@click.option("--dry-run", is_flag=True, help="Show the disk plan and every step; change nothing.")
@click.option("-y", "--yes", is_flag=True, help="Do not ask before replacing the system.")
@click.option("--json", "json_lines", is_flag=True, help="One JSON event a line on stdout.")
@authorized_key_options
def install_cmd(
    target: str,
    port: int | None,
    identity: Path | None,
    known_hosts: Path | None,
    accept_new: bool,
    bundle: Path | None,
    flake: str | None,
    disk_key_file: Path | None,
    layout: str,
    disk: str | None,
    phases: str,
    installer_port: int | None,
    kexec_timeout: float,
    hoster: str | None,
    dry_run: bool,
    yes: bool,
    json_lines: bool,
    authorized_key: tuple[str, ...] = (),
    authorized_keys_file: Path | None = None,
) -> None:
    """Install NixOS onto HOST over SSH: kexec into the installer, format, install, reboot.

    The installed system trusts the old root's SSH keys, the identity's .pub and every
    --authorized-key; or, with --authorized-keys-file, that file's keys (and --authorized-key).
    """
    from ..controller.pipeline import InstallOptions, Target, install, parse_phases
    from ..controller.ssh import parse_target
    from ..core.nixtext import check_flake_url
    from ..core.progress import Event
    from .output import progress_reporter

    user, host, t_port = parse_target(target)
    wanted = parse_phases(phases)
    extra_keys, replace_keys = authorized_keys(authorized_key, authorized_keys_file)
    if flake is not None:
        check_flake_url(flake)
    if "kexec" in wanted and bundle is None:
        raise InvalidInputError(
            "the kexec phase needs --bundle",
            hint="pass --bundle DIR (nix build .#kexec) or a nixos-images "
            "kexec tarball, or leave kexec out of --phases",
        )
    needs_key = "format" in wanted or "install" in wanted
    key: bytes | None = None
    if disk_key_file is not None:
        key = DiskKey.from_file(disk_key_file).value
    elif needs_key and not dry_run:
        key = _prompt_key()
    if not dry_run and not yes and any(p in wanted for p in ("kexec", "format", "install")):
        _confirm(host, wanted)
    the_target = Target(
        host=host,
        user=user or "root",
        port=port or t_port or 22,
        identity_file=identity,
        known_hosts=known_hosts,
        host_key_policy="accept-new" if accept_new else "strict",
    )
    options = InstallOptions(
        bundle=bundle,
        flake=flake,
        disk_key=key,
        layout=layout,
        disk=disk,
        phases=wanted,
        dry_run=dry_run,
        yes=True,
        installer_port=installer_port,
        kexec_deadline=kexec_timeout,
        hoster=hoster,
        authorized_keys=extra_keys,
        replace_authorized_keys=replace_keys,
    )
    with progress_reporter(json_lines=json_lines) as reporter:
        result = install(the_target, options, reporter)
        data = {
            "host": result.host,
            "phases": ",".join(result.phases),
            "dryRun": str(result.dry_run).lower(),
            "uploadedBytes": str(result.uploaded_bytes),
        }
        if result.cmdline_bytes is not None:
            data["cmdlineBytes"] = str(result.cmdline_bytes)
        if result.installer_fingerprint:
            data["installerFingerprint"] = result.installer_fingerprint
        for k in result.host_keys:
            data[f"{k.role}.{k.type}.sha256"] = k.fingerprint
        message = (
            f"dry run for {result.host}: {len(result.steps)} steps, nothing changed"
            if result.dry_run
            else f"{result.host}: {', '.join(result.phases)} done"
        )
        reporter(Event(kind="done", message=message, data=data))
    if not json_lines and result.host_keys:
        when = "" if "reboot" in result.phases else " (the system's are recorded at reboot)"
        click.echo(f"host keys of the installed system, for {result.known_hosts}{when}:", err=True)
        for k in result.host_keys:
            click.echo(f"  {k.role:<6} {k.type:<8} {k.fingerprint}", err=True)


__all__ = ["install_cmd"]
