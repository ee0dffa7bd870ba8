"""Options shared by the commands: how to reach a host over SSH, what to plan for it, and the
plugins' settings."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..core.clialiases import option as alias_option

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


def ssh_options(
    func: Any = None, *, port_help: str = "SSH port (default 22, or ssh_config's Port)."
) -> Any:
    """What every command that connects takes, in this order in ``--help``: ``-p/--port``,
    ``-i/--identity``, ``-J/--jump``, ``-F/--ssh-config``, ``--known-hosts``,
    ``--connect-timeout``. ``-p``, ``-i``, ``-J`` and ``-F`` mean what they mean to ``ssh``."""
    if func is None:
        return lambda f: ssh_options(f, port_help=port_help)
    for option in reversed(
        (
            alias_option(
                "-p",
                "--port",
                aliases=("--ssh-port",),  # nixos-anywhere's name
                type=click.IntRange(1, 65535),
                default=None,
                help=port_help,
            ),
            click.option(
                "-i",
                "--identity",
                type=click.Path(path_type=Path, dir_okay=False),
                help="SSH private key (default: ssh_config's IdentityFile, else the agent's and "
                "~/.ssh's keys).",
            ),
            click.option(
                "-J",
                "--jump",
                metavar="[USER@]HOST[:PORT]",
                default=None,
                help="Connect through this jump host (default: ssh_config's ProxyJump).",
            ),
            click.option(
                "-F",
                "--ssh-config",
                type=click.Path(path_type=Path, dir_okay=False),
                default=None,
                help="ssh_config file for Host aliases, User, Port, IdentityFile and ProxyJump "
                "(default ~/.ssh/config when it exists).",
            ),
            click.option(
                "--known-hosts",
                type=click.Path(path_type=Path, dir_okay=False),
                help="known_hosts file to check and record host keys in "
                "(default ~/.ssh/known_hosts).",
            ),
            click.option(
                "--connect-timeout",
                type=click.FloatRange(min=0, min_open=True),
                default=15.0,
                show_default=True,
                help="Seconds to wait for the SSH connection.",
            ),
        )
    ):
        func = option(func)
    return func


def connection_options(func: Any) -> Any:
    """:func:`ssh_options` and ``--accept-new``: reaching a running (rescue) system."""
    func = click.option(
        "--accept-new",
        is_flag=True,
        help="Accept and record the running system's host key when it is unknown "
        "(a rescue system's key cannot be known in advance).",
    )(func)
    return ssh_options(func)


def ssh_config_for(host: str, config_file: Path | None) -> dict[str, Any]:
    """What an ssh_config file says about ``host`` (paramiko's reading of it: ``hostname``,
    ``user``, ``port``, ``identityfile``, ``proxyjump``, ...); empty without a file.

    ``config_file`` (``-F``) must exist; the default ``~/.ssh/config`` is read when it does."""
    import paramiko

    from ..core.errors import InvalidInputError

    path = config_file if config_file is not None else Path("~/.ssh/config").expanduser()
    if config_file is None and not path.is_file():
        return {}
    try:
        config = paramiko.SSHConfig.from_path(str(path))
        found = config.lookup(host)
    except FileNotFoundError:
        raise InvalidInputError(
            f"ssh_config file {str(path)!r} does not exist", hint="check the -F path"
        ) from None
    except (OSError, UnicodeDecodeError, ValueError, paramiko.ConfigParseError) as exc:
        raise InvalidInputError(
            f"cannot read ssh_config file {str(path)!r}: {exc}", hint="check the file"
        ) from None
    return dict(found)


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
            alias_option(
                "--bundle",
                aliases=("--kexec",),  # nixos-anywhere's name (a path here, not a URL)
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


def _through_config(jump: str, ssh_config: Path | None) -> str:
    """A jump host ``[USER@]HOST[:PORT]`` with its ssh_config alias resolved, as ssh does."""
    from ..controller.ssh import parse_target

    user, host, port = parse_target(jump)
    config = ssh_config_for(host, ssh_config)
    if not config:
        return jump
    name = str(config.get("hostname") or host)
    user = user or config.get("user")
    port = port or (int(config["port"]) if str(config.get("port", "")).isdigit() else None)
    where = f"[{name}]" if ":" in name else name
    return f"{user + '@' if user else ''}{where}{f':{port}' if port else ''}"


HOSTER_TARGETS = ("hetzner:",)
"""Targets named by a hoster: ``hetzner:SERVER`` is the Hetzner Cloud server of that name."""


def hoster_target(target: str) -> str:
    """``[USER@]hetzner:SERVER`` as ``[USER@]ADDRESS`` (the server's IPv4, else IPv6 address,
    asked from the Hetzner Cloud API with the token of ``hetzner`` commands); any other target
    as it is."""
    user, at, rest = target.rpartition("@")
    if not rest.startswith(HOSTER_TARGETS):
        return target
    import os

    from ..hosters.hetzner.api import ENDPOINT_ENV, HetznerCloud
    from ..hosters.hetzner.token import token_from_env_or_file

    name = rest.partition(":")[2]
    if not name:
        from ..core.errors import InvalidInputError

        raise InvalidInputError(f"no server name in {target!r}", hint="use hetzner:SERVER")
    cloud = HetznerCloud(token_from_env_or_file(), endpoint=os.environ.get(ENDPOINT_ENV) or None)
    host = cloud.get(name).ssh_host
    return f"{user}{at}{f'[{host}]' if ':' in host else host}"


def target_from(
    target: str,
    *,
    port: int | None,
    identity: Path | None,
    known_hosts: Path | None,
    connect_timeout: float,
    accept_new: bool = False,
    jump: str | None = None,
    ssh_config: Path | None = None,
) -> Target:
    """The pipeline's :class:`~nixremote.controller.pipeline.Target` for ``[USER@]HOST[:PORT]``,
    as ``ssh`` would reach it: the options first, then what the target names, then the
    ssh_config's ``Host`` block (``HostName``, ``User``, ``Port``, ``IdentityFile``,
    ``ProxyJump``), then root and port 22. ``hetzner:SERVER`` is that Hetzner Cloud server
    (:func:`hoster_target`)."""
    import os

    from ..controller.ssh import parse_target
    from ..controller.target import Target
    from ..core.errors import InvalidInputError

    user, host, t_port = parse_target(hoster_target(target))
    config = ssh_config_for(host, ssh_config)
    c_port: int | None = None
    if "port" in config:
        if not str(config["port"]).isdigit() or not 1 <= int(config["port"]) <= 65535:
            raise InvalidInputError(
                f"ssh_config gives {host} the port {config['port']!r}",
                hint="use a port from 1 to 65535",
            )
        c_port = int(config["port"])
    if identity is None:
        for candidate in config.get("identityfile") or ():
            path = Path(os.path.expanduser(candidate))
            if path.is_file():
                identity = path
                break
    proxy = config.get("proxyjump")
    if jump is None and proxy and str(proxy).lower() != "none":
        jump = str(proxy).split(",")[0]  # the first hop (nixremote connects through one)
    if jump:
        jump = _through_config(jump, ssh_config)
    hostname = str(config.get("hostname") or host)
    if hostname != host:
        _, hostname, _ = parse_target(hostname)  # the same checks as a host on the command line
    return Target(
        host=hostname,
        user=user or config.get("user") or "root",
        port=port or t_port or c_port or 22,
        identity_file=identity,
        known_hosts=known_hosts,
        host_key_policy="accept-new" if accept_new else "strict",
        connect_timeout=connect_timeout,
        jump=jump,
    )
