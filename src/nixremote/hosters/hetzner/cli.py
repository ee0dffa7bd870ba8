"""``nixremote hetzner ...``: provision Hetzner Cloud servers, registered by the Hetzner plugin.

Every command waits for its API actions and then for SSH to answer. ``create`` and ``recreate``
generate the server's SSH host key here and hand it over in cloud-init user data, so the key is
in your known_hosts before the server first answers; a rescue system's key cannot be known in
advance, so ``rescue`` accepts it once, for that host only, and says so.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from ...cli.output import console, emit_result, json_option, progress_reporter, safe
from ...core.clialiases import option as alias_option
from ...core.errors import no_terminal_to_confirm
from ...core.progress import Reporter
from .api import ENDPOINT_ENV, HetznerCloud, Provisioned, ServerInfo
from .token import token_from_env_or_file

token_file_option = click.option(
    "--token-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="File holding the API token (default: $HCLOUD_TOKEN, else the hcloud CLI's active "
    "context; never pass the token itself).",
)
endpoint_option = click.option(
    "--endpoint",
    envvar=ENDPOINT_ENV,
    help="API base URL (default: Hetzner's; $HCLOUD_ENDPOINT).",
)
known_hosts_option = click.option(
    "--known-hosts",
    type=click.Path(dir_okay=False, path_type=Path),
    default=lambda: str(Path.home() / ".ssh" / "known_hosts"),
    show_default="~/.ssh/known_hosts",
    help="known_hosts file to record the server's host key in.",
)
wait_option = click.option(
    "--ssh-timeout",
    type=click.FloatRange(min=0),
    default=300.0,
    show_default=True,
    help="Seconds to wait for SSH to answer (0: do not wait).",
)
identity_option = click.option(
    "-i",
    "--identity",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Private key for the SSH check.",
)
port_option = alias_option(
    "-p",
    "--port",
    "ssh_port",
    aliases=("--ssh-port",),
    type=click.IntRange(1, 65535),
    default=22,
    show_default=True,
    help="SSH port of the server.",
)
yes_option = click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")


def _cloud(token_file: Path | None, endpoint: str | None, reporter: Reporter) -> HetznerCloud:
    token = token_from_env_or_file(token_file)
    poll = float(os.environ.get("NIXREMOTE_HETZNER_POLL_INTERVAL", "1.0"))
    timeout = float(os.environ.get("NIXREMOTE_HETZNER_ACTION_TIMEOUT", "600"))
    return HetznerCloud(
        token, endpoint=endpoint, poll_interval=poll, timeout=timeout, reporter=reporter
    )


def _server_row(s: ServerInfo) -> dict[str, object]:
    return {
        "id": s.id,
        "name": s.name,
        "status": s.status,
        "ipv4": s.ipv4,
        "ipv6": s.ipv6_network,
        "serverType": s.server_type,
        "architecture": s.architecture,
        "location": s.location,
        "image": s.image,
        "rescue": s.rescue_enabled,
    }


def _finish(
    result: Provisioned,
    *,
    as_json: bool,
    known_hosts: Path,
    ssh_port: int,
    ssh_timeout: float,
    identity: Path | None,
    reporter: Reporter,
) -> None:
    from .provision import await_ssh

    host_key = await_ssh(
        result,
        known_hosts=known_hosts,
        port=ssh_port,
        timeout=ssh_timeout,
        identity=identity,
        reporter=reporter,
    )
    server = result.server
    port = "" if ssh_port == 22 else f" -p {ssh_port}"
    default_kh = Path.home() / ".ssh" / "known_hosts"
    kh = "" if Path(known_hosts) == default_kh else f" --known-hosts {known_hosts}"
    nxt = f"nixremote plan root@{server.ssh_host}{port}{kh} -o {server.name}.plan.json"
    row = _server_row(server) | {"hostKeyFingerprint": host_key, "next": nxt}
    if as_json:
        emit_result(f"{server.name} {server.status} at {server.ssh_host}", row)
        return
    out = console()
    out.print(
        f"[green]{safe(server.name)}[/green] {safe(server.status)} at "
        f"{safe(server.ssh_host)} (#{safe(server.id)})"
    )
    if host_key:
        out.print(f"host key {safe(host_key)} recorded in {safe(known_hosts)}")
    out.print(f"next: {safe(nxt)}")


@click.group("hetzner")
def hetzner_group() -> None:
    """Provision Hetzner Cloud servers (the token from --token-file, $HCLOUD_TOKEN, or the hcloud
    CLI's active context)."""


F = TypeVar("F", bound=Callable[..., Any])


def _provision_options(f: F) -> F:
    for option in reversed(
        [
            click.option(
                "--type", "server_type", default="cx22", show_default=True, help="Server type."
            ),
            click.option("--image", default="debian-12", show_default=True, help="Image."),
            click.option("--location", default=None, help="Location (nbg1, fsn1, hel1, ...)."),
            click.option(
                "--ssh-key",
                "ssh_keys",
                multiple=True,
                help="Name of an SSH key in the project, authorised for root (repeatable).",
            ),
            click.option(
                "--no-host-key",
                is_flag=True,
                help="Do not pin a generated host key through cloud-init "
                "(accept the key once instead).",
            ),
            token_file_option,
            endpoint_option,
            known_hosts_option,
            wait_option,
            identity_option,
            port_option,
            json_option,
        ]
    ):
        f = option(f)
    return f


@hetzner_group.command("create")
@click.argument("name")
@_provision_options
def create_cmd(
    name: str,
    server_type: str,
    image: str,
    location: str | None,
    ssh_keys: tuple[str, ...],
    no_host_key: bool,
    token_file: Path | None,
    endpoint: str | None,
    known_hosts: Path,
    ssh_timeout: float,
    identity: Path | None,
    ssh_port: int,
    as_json: bool,
) -> None:
    """Create server NAME, wait until it runs and answers SSH with the pinned host key."""
    _provision("create", **locals())


def _confirm_delete(name: str, what: str) -> None:
    """Ask for the server's name before it is deleted (before any API call); without a
    terminal, refuse as every command does."""
    import sys

    if not sys.stdin.isatty():
        raise no_terminal_to_confirm(f"{what} server {name}")
    typed = click.prompt(
        f"Type the server name to {what} {name!r}", default="", show_default=False, err=True
    )
    if typed != name:
        raise click.ClickException("not confirmed; nothing deleted")


@hetzner_group.command("recreate")
@click.argument("name")
@yes_option
@_provision_options
def recreate_cmd(
    name: str,
    yes: bool,
    server_type: str,
    image: str,
    location: str | None,
    ssh_keys: tuple[str, ...],
    no_host_key: bool,
    token_file: Path | None,
    endpoint: str | None,
    known_hosts: Path,
    ssh_timeout: float,
    identity: Path | None,
    ssh_port: int,
    as_json: bool,
) -> None:
    """Delete server NAME if it exists (exact name only), then create it anew (asks you to type
    the name unless --yes, as delete does)."""
    if not yes:
        _confirm_delete(name, "delete and recreate")
    options = dict(locals())
    options.pop("yes")
    _provision("recreate", **options)


def _provision(
    op: str,
    *,
    name: str,
    server_type: str,
    image: str,
    location: str | None,
    ssh_keys: tuple[str, ...],
    no_host_key: bool,
    token_file: Path | None,
    endpoint: str | None,
    known_hosts: Path,
    ssh_timeout: float,
    identity: Path | None,
    ssh_port: int,
    as_json: bool,
) -> None:
    from ...controller.keypair import generate_host_key

    with progress_reporter(json_lines=as_json) as reporter:
        cloud = _cloud(token_file, endpoint, reporter)
        host_key = None if no_host_key else generate_host_key(f"nixremote@{name}")
        method = cloud.create if op == "create" else cloud.recreate
        result = method(
            name,
            server_type=server_type,
            image=image,
            location=location,
            ssh_keys=list(ssh_keys),
            host_key=host_key,
        )
        _finish(
            result,
            as_json=as_json,
            known_hosts=known_hosts,
            ssh_port=ssh_port,
            ssh_timeout=ssh_timeout,
            identity=identity,
            reporter=reporter,
        )


@hetzner_group.command("rescue")
@click.argument("name")
@click.option(
    "--ssh-key",
    "ssh_keys",
    multiple=True,
    help="Name of an SSH key in the project for the rescue system (repeatable).",
)
@token_file_option
@endpoint_option
@known_hosts_option
@wait_option
@identity_option
@port_option
@json_option
def rescue_cmd(
    name: str,
    ssh_keys: tuple[str, ...],
    token_file: Path | None,
    endpoint: str | None,
    known_hosts: Path,
    ssh_timeout: float,
    identity: Path | None,
    ssh_port: int,
    as_json: bool,
) -> None:
    """Boot server NAME into the linux64 rescue system (enable rescue, reset, wait for SSH)."""
    with progress_reporter(json_lines=as_json) as reporter:
        result = _cloud(token_file, endpoint, reporter).rescue(name, ssh_keys=list(ssh_keys))
        _finish(
            result,
            as_json=as_json,
            known_hosts=known_hosts,
            ssh_port=ssh_port,
            ssh_timeout=ssh_timeout,
            identity=identity,
            reporter=reporter,
        )


@hetzner_group.command("reset")
@click.argument("name")
@token_file_option
@endpoint_option
@json_option
def reset_cmd(name: str, token_file: Path | None, endpoint: str | None, as_json: bool) -> None:
    """Hard-reset server NAME (power cycle)."""
    with progress_reporter(json_lines=as_json) as reporter:
        info = _cloud(token_file, endpoint, reporter).reset(name)
    if as_json:
        emit_result(f"{info.name} reset", _server_row(info))
    else:
        console().print(f"{safe(info.name)} reset, {safe(info.status)}")


@hetzner_group.command("delete")
@click.argument("name")
@yes_option
@token_file_option
@endpoint_option
@json_option
def delete_cmd(
    name: str, yes: bool, token_file: Path | None, endpoint: str | None, as_json: bool
) -> None:
    """Delete server NAME (asks you to type the name unless --yes)."""
    if not yes:
        _confirm_delete(name, "delete")
    with progress_reporter(json_lines=as_json) as reporter:
        info = _cloud(token_file, endpoint, reporter).delete(name)
    if as_json:
        emit_result(f"{info.name} deleted", _server_row(info))
    else:
        console().print(f"{safe(info.name)} (#{safe(info.id)}) deleted")


@hetzner_group.command("list")
@token_file_option
@endpoint_option
@json_option
def list_cmd(token_file: Path | None, endpoint: str | None, as_json: bool) -> None:
    """List the project's servers."""
    with progress_reporter(json_lines=as_json) as reporter:
        servers = _cloud(token_file, endpoint, reporter).list_servers()
    if as_json:
        emit_result(f"{len(servers)} servers", {"servers": [_server_row(s) for s in servers]})
        return
    from rich.table import Table

    table = Table("name", "id", "status", "ipv4", "ipv6", "type", "location", box=None)
    for s in servers:
        table.add_row(
            *(
                safe(v)
                for v in (
                    s.name,
                    s.id,
                    s.status,
                    s.ipv4 or "-",
                    s.ipv6_network or "-",
                    s.server_type,
                    s.location or "-",
                )
            )
        )
    console().print(table)
