"""``nixremote plugins``: what is loaded and which hooks each plugin implements."""

from __future__ import annotations

import attrs
import click

from ..core.plugins import get_plugin_manager, list_plugins
from .output import console, emit_json, safe


@click.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def plugins_cmd(as_json: bool) -> None:
    """List the loaded plugins (built-in first) with the hooks each implements."""
    plugins = list_plugins(get_plugin_manager())
    if as_json:
        emit_json([attrs.asdict(p) | {"hooks": list(p.hooks)} for p in plugins])
        return
    from rich.table import Table

    table = Table("name", "module", "hooks", "source", box=None, pad_edge=False)
    for p in plugins:
        source = "built-in" if p.builtin else f"entry point{f' {p.version}' if p.version else ''}"
        table.add_row(safe(p.name), safe(p.module), safe(", ".join(p.hooks)), safe(source))
    console().print(table)
