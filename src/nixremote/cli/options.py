"""Options shared by the commands: how to reach a host over SSH, what to plan for it, and the
plugins' settings."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from ..controller.target import Target
    from ..core.plugins import PluginManager


def settings_options(func: Any) -> Any:
    """``--set PLUGIN.KEY=VALUE`` (repeatable) and ``--config FILE``: the plugins' settings."""
    func = click.option(
        "--config",
        "config",
        type=click.Path(path_type=Path, dir_okay=False),
        default=None,
        help="TOML file with plugin settings ([plugins.NAME] tables; default "
        "~/.config/nixremote/config.toml when it exists).",
    )(func)
    func = click.option(
        "--set",
        "sets",
        multiple=True,
        metavar="PLUGIN.KEY=VALUE",
        help="A plugin setting (repeatable; wins over the config file). "
        "`nixremote plugins --settings` lists them.",
    )(func)
    return func


def plugins_and_settings(
    sets: tuple[str, ...], config: Path | None, base: dict[str, str] | None = None
) -> tuple[PluginManager, dict[str, str]]:
    """The plugin manager and the checked settings (before anything connects: a typo in a
    setting fails at once)."""
    from ..controller.config import resolve_settings
    from ..core.plugins import get_plugin_manager

    pm = get_plugin_manager()
    return pm, resolve_settings(pm, sets, config, base=base)


def connection_options(func: Any) -> Any:
    """``-p/--port``, ``-i/--identity``, ``--known-hosts``, ``--accept-new``,
    ``--connect-timeout`` (in this order in ``--help``)."""
    for option in reversed(
        (
            click.option(
                "-p",
                "--port",
                type=click.IntRange(1, 65535),
                default=None,
                help="SSH port (default 22).",
            ),
            click.option(
                "-i",
                "--identity",
                type=click.Path(path_type=Path, dir_okay=False),
                help="SSH private key (its .pub is also allowed into the installer).",
            ),
            click.option(
                "--known-hosts",
                type=click.Path(path_type=Path, dir_okay=False),
                help="known_hosts file to check and record host keys in "
                "(default ~/.ssh/known_hosts).",
            ),
            click.option(
                "--accept-new",
                is_flag=True,
                help="Accept and record the running system's host key when it is unknown "
                "(a rescue system's key cannot be known in advance).",
            ),
            click.option(
                "--connect-timeout",
                type=float,
                default=15.0,
                show_default=True,
                help="Seconds to wait for the SSH connection.",
            ),
        )
    ):
        func = option(func)
    return func


def plan_options(func: Any) -> Any:
    """``--layout``, ``--disk`` (repeatable), ``--hoster``, ``--bundle``, ``--flake``,
    ``--nixremote-flake``,
    ``--authorized-key`` (repeatable), ``--authorized-keys-file``, and the settings
    (:func:`settings_options`): what ``nixremote plan`` and ``nixremote install`` decide from."""
    from ..core.layout import LAYOUTS
    from .keys import authorized_key_options

    func = authorized_key_options(func)
    for option in reversed(
        (
            click.option(
                "--layout",
                type=click.Choice(LAYOUTS),
                default=None,
                help="Disk layout. Without it a hoster plugin may choose its own, else "
                "'default' (the original installer's); '--layout default' is the generic "
                "default even on such a hoster.",
            ),
            click.option(
                "--disk",
                "disks",
                multiple=True,
                metavar="PATH",
                help="A disk to format (by-id or kernel path; repeat for a mirror). Default: "
                "the disk holding / (or the plugins' choice).",
            ),
            click.option("--hoster", default=None, help="Hoster plugin (default: detected)."),
            click.option(
                "--bundle",
                type=click.Path(path_type=Path, exists=True),
                help="Kexec bundle: a directory with bundle.json, or a nixos-images kexec "
                "tarball (its installer's flake inputs are pinned in the host flake's lock).",
            ),
            click.option(
                "--flake",
                "user_flake",
                default=None,
                metavar="REF#NAME",
                help="Install nixosConfigurations.NAME of your own flake (a directory, copied "
                "to the installer with its flake.lock, or a reference such as "
                "github:me/fleet, fetched there). A fleet of `nixremote fleet init` gets "
                "hosts/NAME/runtime-info.json written.",
            ),
            click.option(
                "--nixremote-flake",
                default=None,
                metavar="REF",
                help="Flake reference of nixremote for the host flake's input.",
            ),
        )
    ):
        func = option(func)
    return settings_options(func)


def sudo_option(func: Any) -> Any:
    """``--sudo``: a non-root login runs the commands on the running system through sudo."""
    return click.option(
        "--sudo",
        is_flag=True,
        help="Log in as a non-root USER and run everything on the running system through "
        "sudo (the installer is reached as root afterwards). The password, when sudo wants "
        "one, comes from NIXREMOTE_SUDO_PASSWORD or is asked once; it travels on stdin.",
    )(func)


def extra_files_option(func: Any) -> Any:
    """``--extra-files DIR``: a tree copied into the installed system's /persist."""
    return click.option(
        "--extra-files",
        type=click.Path(path_type=Path, file_okay=False),
        default=None,
        metavar="DIR",
        help="Copy this directory's tree into the installed system's /persist (owners and "
        "modes kept; symlinks only inside the tree). The plan lists every entry.",
    )(func)


def sudo_prompt() -> str:
    """Ask for the sudo password on the terminal (once; :class:`SshTransport` keeps it)."""
    import sys

    from ..core.errors import InvalidInputError

    if not sys.stdin.isatty():
        raise InvalidInputError(
            "sudo needs a password and stdin is not a terminal",
            hint="set NIXREMOTE_SUDO_PASSWORD",
        )
    return str(click.prompt("sudo password", hide_input=True, err=True))


def with_sudo(target: Target, sudo: bool) -> Target:
    """``target`` logging in through sudo (``--sudo``), with the password prompt."""
    import attrs

    if not sudo:
        return target
    return attrs.evolve(target, sudo=True, sudo_prompt=sudo_prompt)


def target_from(
    target: str,
    *,
    port: int | None,
    identity: Path | None,
    known_hosts: Path | None,
    accept_new: bool,
    connect_timeout: float,
) -> Target:
    """The pipeline's :class:`~nixremote.controller.pipeline.Target` for ``[USER@]HOST``."""
    from ..controller.ssh import parse_target
    from ..controller.target import Target

    user, host, t_port = parse_target(target)
    return Target(
        host=host,
        user=user or "root",
        port=port or t_port or 22,
        identity_file=identity,
        known_hosts=known_hosts,
        host_key_policy="accept-new" if accept_new else "strict",
        connect_timeout=connect_timeout,
    )
