"""``nixremote plan``: what an install will do, decided once, shown in full, saved to approve.

``nixremote plan [USER@]HOST -o plan.json`` collects the host (one SSH round trip), asks the
plugins, prints the plan (the host, every disk that will be WIPED with its by-id path, size,
model and serial, the pool and datasets, the boot mode, the keys the installed system will
trust, the plugins that decided) and writes it; ``nixremote install HOST --plan plan.json`` runs
exactly that plan. ``nixremote plan show FILE`` prints a saved plan again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from .options import (
    connection_options,
    extra_files_option,
    plan_options,
    sudo_option,
    target_from,
    with_sudo,
)
from .output import json_option


class _DefaultGroup(click.Group):
    """A group whose first argument, when it is not a subcommand, is the default command's."""

    default_command = "make"

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = [self.default_command, *args]
        return super().parse_args(ctx, args)

    def format_usage(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        formatter.write_usage(ctx.command_path, "[USER@]HOST [OPTIONS] | show FILE")


def _print_plan(plan: Any, as_json: bool) -> None:
    import json

    from ..core.converter import dumps_plan
    from ..core.summary import plan_lines
    from .output import console, emit_result

    if as_json:
        disks = ", ".join(d.path for d in plan.identity.disks)
        emit_result(
            f"plan for {plan.identity.host_name}: wipes {disks}", json.loads(dumps_plan(plan))
        )
        return
    out = console()
    for line in plan_lines(plan):
        style = "bold red" if line.startswith("WIPE:") else None
        out.print(line, markup=False, highlight=False, style=style)


@click.group("plan", cls=_DefaultGroup, invoke_without_command=False)
def plan_group() -> None:
    """Make the plan of an install (every decision, nothing changed) or show a saved one."""


@plan_group.command("make", hidden=True)
@click.argument("target", metavar="[USER@]HOST")
@connection_options
@sudo_option
@extra_files_option
@plan_options
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write the plan to this file (plan.json).",
)
@json_option
def make_cmd(
    target: str,
    layout: str | None,
    disks: tuple[str, ...],
    hoster: str | None,
    bundle: Path | None,
    user_flake: str | None,
    nixremote_flake: str | None,
    authorized_key: tuple[str, ...],
    authorized_keys_file: Path | None,
    output: Path | None,
    as_json: bool,
    sets: tuple[str, ...],
    config: Path | None,
    sudo: bool,
    extra_files: Path | None,
    **connection: Any,
) -> None:
    """Collect HOST and make its plan: what `nixremote install --plan` will do, and nothing
    else. Nothing on the host changes. The plugins decide with the settings given (--set, the
    config file); the plan records them (secret values redacted)."""
    from ..controller.pipeline import InstallOptions, plan
    from ..core.converter import save_plan
    from ..core.nixtext import check_flake_url
    from .keys import authorized_keys
    from .options import plugins_and_settings
    from .output import progress_reporter

    pm, settings = plugins_and_settings(sets, config)
    if extra_files is not None:  # a bad tree is refused before anything connects
        from ..controller.filetree_scan import scan_tree

        scan_tree(extra_files)
    extra_keys, replace_keys = authorized_keys(authorized_key, authorized_keys_file)
    if nixremote_flake is not None:
        check_flake_url(nixremote_flake)
    if user_flake is not None:  # its shape, before anything connects (nothing is evaluated)
        from ..controller.userflake_plan import resolve

        resolve(user_flake)
    options = InstallOptions(
        layout=layout,
        disks=disks,
        hoster=hoster,
        bundle=bundle,
        nixremote_flake=nixremote_flake,
        user_flake=user_flake,
        extra_files=extra_files,
        authorized_keys=extra_keys,
        replace_authorized_keys=replace_keys,
        settings=settings,
        plugins=pm,
    )
    with progress_reporter(json_lines=as_json) as reporter:
        # the plan itself is printed below, whole; progress goes to stderr
        made = plan(
            with_sudo(target_from(target, **connection), sudo),
            options,
            lambda event: None if event.phase == "plan" else reporter(event),
        )
    if output is not None:
        save_plan(made, output)
    _print_plan(made, as_json)
    if output is not None and not as_json:
        click.echo(
            f"plan written to {output}; install it with: nixremote install {target} "
            f"--plan {output}",
            err=True,
        )


@plan_group.command("show")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@json_option
def show_cmd(file: Path, as_json: bool) -> None:
    """Print a saved plan (plan.json) as `nixremote plan` showed it."""
    from ..core.converter import load_plan

    _print_plan(load_plan(file), as_json)


__all__ = ["plan_group"]
