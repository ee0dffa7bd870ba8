"""``nixremote fleet``: a flake of many hosts (``templates.fleet``)."""

from __future__ import annotations

from pathlib import Path

import click

from ..controller import fleet as fleet_lib
from ..core.hostflake import DEFAULT_NIXREMOTE_URL
from .output import emit_result, json_option

_DIR = click.Path(file_okay=False, path_type=Path)


@click.group("fleet")
def fleet_group() -> None:
    """Manage a flake of many hosts: one hosts/<name>/ directory per host."""


@fleet_group.command("init")
@click.argument("directory", type=_DIR)
@click.option(
    "--nixremote-url",
    default=DEFAULT_NIXREMOTE_URL,
    show_default=True,
    help="Flake reference of nixremote for the fleet's input.",
)
@click.option("--force", is_flag=True, help="Replace an existing flake.nix.")
@json_option
def init_cmd(directory: Path, nixremote_url: str, force: bool, as_json: bool) -> None:
    """Create a fleet flake in DIRECTORY."""
    written = fleet_lib.init_fleet(directory, nixremote_url=nixremote_url, force=force)
    if as_json:
        emit_result(
            f"fleet flake in {directory}", {"path": str(directory), "written": list(written)}
        )
        return
    for name in written:
        click.echo(f"wrote {directory / name}")
    click.echo(f"next: nixremote fleet add {directory} runtime-info.json")


@fleet_group.command("add")
@click.argument("directory", type=_DIR)
@click.argument("source", type=click.Path(exists=True, path_type=Path))
@click.option("--name", help="Attribute name of the host (default: its host name).")
@click.option("--force", is_flag=True, help="Replace the runtime info of an existing host.")
@click.option(
    "--git-add/--no-git-add",
    default=None,
    help="Stage the host's files with git (default: when DIRECTORY is a git work tree).",
)
@json_option
def add_cmd(
    directory: Path,
    source: Path,
    name: str | None,
    force: bool,
    git_add: bool | None,
    as_json: bool,
) -> None:
    """Add the host of SOURCE (a runtime-info.json or a host flake directory) to the fleet."""
    host = fleet_lib.add_host(directory, source, name=name, force=force)
    stage = fleet_lib.is_git_worktree(directory) if git_add is None else git_add
    rel = Path(fleet_lib.HOSTS_DIR) / host.name
    if stage:
        fleet_lib.git_add(directory, [rel])
    if as_json:
        emit_result(
            f"added {host.name}",
            {
                "name": host.name,
                "hostName": host.info.host_name,
                "path": str(host.path),
                "written": list(host.written),
                "kept": list(host.kept),
                "staged": stage,
            },
        )
        return
    for file in host.written:
        click.echo(f"wrote {host.path / file}")
    for file in host.kept:
        click.echo(f"kept {host.path / file}")
    if stage:
        click.echo(f"staged {rel} with git")
    elif fleet_lib.is_git_worktree(directory):
        click.echo(f"note: git add {rel} (a flake only sees files git tracks)")
    click.echo(
        f"build it: nix build {directory}#nixosConfigurations.{host.name}"
        ".config.system.build.toplevel"
    )


@fleet_group.command("list")
@click.argument("directory", type=_DIR)
@json_option
def list_cmd(directory: Path, as_json: bool) -> None:
    """List the hosts the fleet flake in DIRECTORY discovers."""
    names = fleet_lib.discover(directory)
    if as_json:
        emit_result(f"{len(names)} hosts", {"hosts": list(names)})
    else:
        for name in names:
            click.echo(name)
