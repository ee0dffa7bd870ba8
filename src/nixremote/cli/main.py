"""The ``nixremote`` command: a root group whose subcommands load on first use.

Each command group lives in its own module and is imported only when called, so that
``nixremote --version`` imports neither fabric, paramiko, hcloud nor rich. Plugins add commands
through the ``register_commands`` hook.
"""

from __future__ import annotations

import contextlib
import importlib
from typing import Any

import click

from .. import __version__
from ..core.errors import NixremoteError

COMMANDS: dict[str, tuple[str, str]] = {
    # name: (module, attribute, help shown in the command list)
    "completion": ("nixremote.cli.completion:completion_cmd", "Print a shell completion script."),
    "disk": ("nixremote.cli.disk:disk_group", "Plan and apply disk layouts."),
    "fleet": ("nixremote.cli.fleet:fleet_group", "Manage a flake of many hosts."),
    "hetzner": (
        "nixremote.hosters.hetzner.cli:hetzner_group",
        "Hetzner Cloud servers (the built-in Hetzner plugin).",
    ),
    "info": ("nixremote.cli.info:info_cmd", "Collect a host's runtime info over SSH."),
    "install": ("nixremote.cli.install:install_cmd", "Install NixOS onto a host over SSH."),
    "installer": ("nixremote.installers.cli:installer_group", "Commands run inside the installer."),
    "kexec": ("nixremote.cli.kexec:kexec_group", "Inspect kexec bundles."),
    "plan": ("nixremote.cli.plan:plan_group", "Make the plan of an install, or show a saved one."),
    "plugins": ("nixremote.cli.plugins:plugins_cmd", "List the loaded plugins and their hooks."),
    "runtime-info": ("nixremote.cli.runtime_info:runtime_info_group", "Check runtime-info.json."),
    "unlock": ("nixremote.cli.unlock:unlock_cmd", "Unlock an installed host's pool over SSH."),
    "vm": ("nixremote.testing.vm.cli:vm_group", "Run a local test VM to install onto."),
}


def _load(spec: str) -> click.Command:
    module, _, attr = spec.partition(":")
    command = getattr(importlib.import_module(module), attr)
    assert isinstance(command, click.Command)
    return command


def _verbosity(ctx: click.Context, param: click.Parameter, value: int) -> None:
    """``-v``/``-q`` given after a command: counted with the ones before it."""
    if not value:
        return
    root = ctx.find_root()
    root.ensure_object(dict)
    key = "verbose" if param.name == "global_verbose" else "quiet_count"
    root.obj[key] = root.obj.get(key, 0) + value
    _apply_verbosity(root.obj)


def _apply_verbosity(obj: dict[str, Any]) -> None:
    import logging

    from ..core.progress import configure_logging

    verbose, quiet = obj.get("verbose", 0), obj.get("quiet_count", 0)
    obj["quiet"] = quiet > 0
    configure_logging(verbose, quiet)
    level = logging.WARNING + 10 * (quiet - verbose)
    logging.getLogger().setLevel(max(logging.DEBUG, min(level, logging.CRITICAL)))


GLOBAL_OPTIONS = ("-v", "--verbose", "-q", "--quiet")
"""The root's options that every command accepts after its name too (``nixremote info -v``)."""


def with_global_options(command: click.Command) -> click.Command:
    """``command`` (and, for a group, its subcommands) accepting ``-v``/``-q`` after its name;
    hidden from its ``--help`` (the root's lists them). A command that passes its arguments on
    unparsed (``vm ssh``) is left alone."""
    if getattr(command, "_nixremote_globals", False):
        return command
    command._nixremote_globals = True  # type: ignore[attr-defined]
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            with_global_options(sub)
    if command.context_settings.get("ignore_unknown_options"):
        return command
    taken = {o for p in command.params for o in getattr(p, "opts", ())}
    if taken & set(GLOBAL_OPTIONS):
        return command
    command.params.append(
        click.Option(
            ["-v", "--verbose", "global_verbose"],
            count=True,
            hidden=True,
            expose_value=False,
            callback=_verbosity,
        )
    )
    command.params.append(
        click.Option(
            ["-q", "--quiet", "global_quiet"],
            count=True,
            hidden=True,
            expose_value=False,
            callback=_verbosity,
        )
    )
    return command


class LazyGroup(click.Group):
    """A group that imports built-in commands on use and asks plugins for theirs; ``--help``
    names the broken plugins, whose commands are missing."""

    _plugin_commands: dict[str, click.Command] | None = None
    _broken: dict[str, str] | None = None

    def _from_plugins(self) -> dict[str, click.Command]:
        if self._plugin_commands is None:
            from ..core.entrypoints import may_have_entry_points

            group = click.Group("plugins")
            self._broken = {}
            if may_have_entry_points():  # built-in plugins' commands are in COMMANDS
                from ..core.plugins import get_plugin_manager

                pm = get_plugin_manager(strict=False)
                self._broken = {n: str(b.error) for n, b in pm.broken.items()}
                pm.hooks.register_commands(cli=group)
            self._plugin_commands = dict(group.commands)
        return self._plugin_commands

    def list_commands(self, ctx: click.Context) -> list[str]:
        names = set(COMMANDS) | set(self.commands)
        with contextlib.suppress(NixremoteError):  # a failing plugin is reported when used
            names |= set(self._from_plugins())
        return sorted(names)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = self._get_command(cmd_name)
        return None if command is None else with_global_options(command)

    def _get_command(self, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        if cmd_name in COMMANDS:
            try:
                return _load(COMMANDS[cmd_name][0])
            except ModuleNotFoundError as exc:
                if exc.name and exc.name.startswith("nixremote"):
                    return None  # not built yet
                raise
        return self._from_plugins().get(cmd_name)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name = args[0] if args else ""
        if name and not name.startswith("-") and self.get_command(ctx, name) is None:
            from ..core.suggest import closest

            best = closest(name, self.list_commands(ctx))
            more = f" Did you mean {best!r}?" if best else ""
            ctx.fail(f"No such command {name!r}.{more}")
        return super().resolve_command(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        from .output import emit_error, json_requested, set_json_mode

        set_json_mode(False)
        json_requested(reset=True)
        try:
            return super().invoke(ctx)
        except NixremoteError as exc:
            if json_requested():
                # a --json command ends with its error event, and stderr stays quiet
                emit_error(
                    exc.message,
                    hint=exc.hint,
                    exit_code=exc.exit_code,
                    error_type=type(exc).__name__,
                )
                exc.reported_as_json = True  # type: ignore[attr-defined]
            raise
        finally:
            set_json_mode(False)
            json_requested(reset=True)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            if name in COMMANDS:
                rows.append((name, COMMANDS[name][1]))
            else:
                cmd = self.get_command(ctx, name)
                if cmd is not None and not cmd.hidden:
                    rows.append((name, cmd.get_short_help_str(60)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)
        if self._broken:
            with formatter.section("Broken plugins (their commands are missing)"):
                formatter.write_dl(sorted(self._broken.items()))
                formatter.write_text("`nixremote plugins` lists them with their errors.")


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="nixremote")
@click.option("-v", "--verbose", count=True, help="More log output (repeat for debug).")
@click.option("-q", "--quiet", count=True, help="Less output: no progress, warnings only.")
@click.pass_context
def cli(ctx: click.Context, verbose: int, quiet: int) -> None:
    """Install NixOS with encrypted ZFS onto a remote Linux host over SSH.

    The global options (-v, -q) are accepted after the command too.
    """
    ctx.ensure_object(dict)
    ctx.obj["verbose"] = ctx.obj.get("verbose", 0) + verbose
    ctx.obj["quiet_count"] = ctx.obj.get("quiet_count", 0) + quiet
    _apply_verbosity(ctx.obj)


def main(argv: list[str] | None = None) -> Any:
    """Entry point of the console script: project errors become one line and an exit code."""
    from ..core.runner import run_group

    return run_group(cli, argv, reported=lambda exc: getattr(exc, "reported_as_json", False))


if __name__ == "__main__":
    main()
