"""``nixremote plugins``: what is loaded, which hooks each plugin implements, their settings,
and the hook reference."""

from __future__ import annotations

from typing import Any

import attrs
import click

from ..core.plugins import get_plugin_manager, list_plugins
from .output import console, emit_result, json_option, safe


def _settings_rows(pm: Any) -> list[dict[str, Any]]:
    rows = []
    for plugin, settings in pm.hooks.plugin_settings().items():
        for s in settings:
            rows.append(
                {
                    "plugin": plugin,
                    "key": s.key,
                    "type": s.type.__name__,
                    "default": s.default,
                    "secret": s.is_secret,
                    "help": s.help,
                }
            )
    return rows


@click.command("plugins")
@json_option
@click.option(
    "--settings", "show_settings", is_flag=True, help="List the settings the plugins declare."
)
@click.option("--hooks", "show_hooks", is_flag=True, help="Print the hook reference (Markdown).")
def plugins_cmd(as_json: bool, show_settings: bool, show_hooks: bool) -> None:
    """List the loaded plugins (built-in first) with the hooks each implements; a plugin that
    cannot be loaded is listed as broken, with its error.

    --settings lists every setting the plugins declare (set them with --set PLUGIN.KEY=VALUE or
    in ~/.config/nixremote/config.toml); --hooks prints the reference of every hook.
    """
    if show_hooks:
        from .hookref import hook_reference

        click.echo(hook_reference(), nl=False)
        return
    pm = get_plugin_manager(strict=False)
    if show_settings:
        rows = _settings_rows(pm)
        if as_json:
            emit_result(f"{len(rows)} settings", {"settings": rows})
            return
        from rich.table import Table

        table = Table("setting", "type", "default", "help", box=None, pad_edge=False)
        for row in rows:
            default = "" if row["default"] is None else str(row["default"])
            secret = " (secret)" if row["secret"] else ""
            table.add_row(*map(safe, (row["key"], row["type"], default, row["help"] + secret)))
        console().print(table)
        return
    plugins = list_plugins(pm)
    if as_json:
        from ..core.progress import Event
        from .output import json_event

        for p in plugins:
            if p.error:
                json_event(Event(kind="warning", message=f"plugin {p.name} is broken: {p.error}"))
        rows = [
            attrs.asdict(p) | {"hooks": list(p.hooks), "hosters": list(p.hosters)} for p in plugins
        ]
        emit_result(f"{len(rows)} plugins", {"plugins": rows})
        return
    for p in plugins:
        if p.error:
            click.echo(f"warning: plugin {p.name} is broken: {p.error}", err=True)
    from rich.table import Table

    table = Table("name", "module", "hooks", "hosters", "source", box=None, pad_edge=False)
    for p in plugins:
        source = "built-in" if p.builtin else f"entry point{f' {p.version}' if p.version else ''}"
        hooks = "BROKEN (see above)" if p.error else ", ".join(p.hooks)
        table.add_row(*map(safe, (p.name, p.module, hooks, ", ".join(p.hosters), source)))
    console().print(table)
