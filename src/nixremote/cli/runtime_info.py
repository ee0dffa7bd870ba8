"""``nixremote runtime-info``: check and show a runtime-info.json."""

from __future__ import annotations

from pathlib import Path

import click

from ..core.converter import load_runtime_info, runtime_info_to_json_data
from ..core.summary import runtime_info_lines
from .output import console, emit_result, json_option, plain, safe


@click.group("runtime-info")
def runtime_info_group() -> None:
    """Work with runtime-info.json files."""


@runtime_info_group.command("check")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@json_option
def check_cmd(file: Path, as_json: bool) -> None:
    """Validate FILE and print a summary (exit 2 with the JSON path of the fault if invalid)."""
    info = load_runtime_info(file)
    if as_json:
        emit_result(f"{file} is valid", runtime_info_to_json_data(info))
        return
    out = console()
    out.print(f"[green]ok[/green] {safe(file)} (schema version {info.schema_version})")
    for line in runtime_info_lines(info):
        out.print(plain(line), markup=False)
