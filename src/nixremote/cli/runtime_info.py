"""``nixremote runtime-info``: check and show a runtime-info.json."""

from __future__ import annotations

from pathlib import Path

import click

from ..core.converter import load_runtime_info, runtime_info_to_json_data
from ..core.models import RuntimeInfo
from .output import console, emit_json


@click.group("runtime-info")
def runtime_info_group() -> None:
    """Work with runtime-info.json files."""


def summary_lines(info: RuntimeInfo) -> list[str]:
    """A person's summary of a runtime info, one fact a line."""
    lines = [
        f"host      {info.host_name} (host id {info.host_id}, hoster {info.hoster})",
        f"system    {info.arch or 'unknown arch'}, "
        f"{_gib(info.memory_bytes)} memory, boot {info.boot_mode.value}",
        f"disk      {info.disk_to_format}",
    ]
    for disk in info.disks:
        size = _gib(disk.size_bytes)
        lines.append(f"  disk    {disk.stable_path} ({disk.path}, {size}, {disk.model or '?'})")
    for iface in info.interfaces:
        mark = " (primary)" if iface is info.primary else ""
        names = iface.name + (
            f" -> {iface.predictable_name}"
            if iface.predictable_name and iface.predictable_name != iface.name else ""
        )
        lines.append(f"nic       {names} {iface.mac or '?'} {iface.driver or '?'}{mark}")
        for addr in (*iface.ipv4, *iface.ipv6):
            lines.append(f"  addr    {addr.address}/{addr.prefix_length}"
                         f"{' (dynamic)' if addr.dynamic else ''}")
    for route in info.routes:
        via = f" via {route.gateway}" if route.gateway else ""
        dev = f" dev {route.device}" if route.device else ""
        lines.append(f"route     {route.destination}{via}{dev}{' onlink' if route.on_link else ''}")
    if info.nameservers:
        lines.append(f"dns       {', '.join(info.nameservers)}")
    lines.append(f"keys      {len(info.root_authorized_keys)} authorized key(s) for root")
    return lines


def _gib(value: int | None) -> str:
    return "?" if value is None else f"{value / 2**30:.1f} GiB"


@runtime_info_group.command("check")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the normalised JSON.")
def check_cmd(file: Path, as_json: bool) -> None:
    """Validate FILE and print a summary (exit 2 with the JSON path of the fault if invalid)."""
    info = load_runtime_info(file)
    if as_json:
        emit_json(runtime_info_to_json_data(info))
        return
    out = console()
    out.print(f"[green]ok[/green] {file} (schema version {info.schema_version})")
    for line in summary_lines(info):
        out.print(line, markup=False)
