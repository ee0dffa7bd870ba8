"""``nixremote info``: collect a host's runtime info over SSH (or of this machine)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..core.errors import InvalidInputError, NixremoteError
from .options import connection_options, settings_options, target_from
from .output import emit_result, json_event, json_option, line_renderer, progress_log_off

if TYPE_CHECKING:
    from ..core.facts import Facts
    from ..core.models import RuntimeInfo


def _human_size(value: int | None) -> str:
    if value is None:
        return "?"
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{value} B"


def summary(info: RuntimeInfo, facts: Facts | None = None) -> str:
    """The human summary ``nixremote info`` prints."""
    from ..controller.collect import kexec_available

    lines = [
        f"host:        {info.host_name} (host id {info.host_id})",
        f"hoster:      {info.hoster}",
        f"arch:        {info.arch or 'unknown'}",
        f"memory:      {_human_size(info.memory_bytes)}",
        f"boot mode:   {info.boot_mode.value}",
        f"disk:        {info.disk_to_format or 'unknown (pass --disk)'}",
    ]
    if facts is not None:
        kexec = kexec_available(facts)
        lines.append(f"kexec:       {'unknown' if kexec is None else 'yes' if kexec else 'no'}")
    lines.append("interfaces:")
    for iface in info.interfaces:
        mark = "*" if iface.name == info.primary_interface else " "
        name = iface.name
        if iface.predictable_name and iface.predictable_name != iface.name:
            name += f" ({iface.predictable_name})"
        lines.append(f"  {mark} {name}  mac {iface.mac or '?'}  driver {iface.driver or '?'}")
        for addr in (*iface.ipv4, *iface.ipv6):
            dyn = " dynamic" if addr.dynamic else ""
            lines.append(f"      {addr.address}/{addr.prefix_length}{dyn}")
    lines.append("routes:")
    for route in info.routes:
        via = f" via {route.gateway}" if route.gateway else ""
        dev = f" dev {route.device}" if route.device else ""
        onlink = " onlink" if route.on_link else ""
        metric = f" metric {route.metric}" if route.metric is not None else ""
        lines.append(f"    {route.destination}{via}{dev}{onlink}{metric}")
    lines.append(f"nameservers: {', '.join(info.nameservers) or 'none'}")
    lines.append("disks:")
    for disk in info.disks:
        mark = "*" if disk.stable_path == info.disk_to_format else " "
        model = f"  {disk.model}" if disk.model else ""
        lines.append(f"  {mark} {disk.stable_path}  {_human_size(disk.size_bytes)}{model}")
    lines.append(f"authorized keys: {len(info.root_authorized_keys)}")
    return "\n".join(lines)


@click.command("info")
@click.argument("target", required=False, metavar="[USER@]HOST")
@click.option("--local", is_flag=True, help="Collect from this machine instead of over SSH.")
@click.option(
    "--from-facts",
    "from_facts",
    type=click.Path(path_type=Path, exists=True),
    help="Collect from facts saved with --save-facts (or a capture): no host is contacted.",
)
@connection_options
@click.option(
    "--sudo",
    is_flag=True,
    help=(
        "Run the probe through sudo (a non-root USER); the password comes from "
        "NIXREMOTE_SUDO_PASSWORD or a prompt."
    ),
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=60.0,
    show_default=True,
    help="Seconds the probe may run on the host.",
)
@click.option("--disk", metavar="DEV", help="The disk to format (default: the disk holding /).")
@click.option("--hoster", metavar="NAME", help="The hoster (default: detected).")
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False), help="Write runtime-info.json to this file."
)
@json_option
@click.option(
    "--save-facts",
    type=click.Path(dir_okay=False),
    help="Also write the probe's raw facts to this file.",
)
@settings_options
@click.pass_context
def info_cmd(
    ctx: click.Context,
    /,
    target: str | None,
    local: bool,
    from_facts: Path | None,
    sudo: bool,
    timeout: float,
    disk: str | None,
    hoster: str | None,
    output: str | None,
    as_json: bool,
    save_facts: str | None,
    sets: tuple[str, ...],
    config: Path | None,
    **connection: Any,
) -> None:
    """Collect the runtime info of HOST over SSH (one exec), of this machine with --local, or
    from saved facts with --from-facts.

    Prints a summary (interfaces, addresses, routes, disks, boot mode, memory, hoster), or
    runtime-info.json with --json (as the data of the result event); -o writes
    runtime-info.json to a file.
    """
    from ..controller.collect import collect, collect_from_facts
    from ..controller.probe import format_facts
    from ..core.converter import dumps_runtime_info
    from .options import plugins_and_settings

    if [local, target is not None, from_facts is not None].count(True) != 1:
        raise InvalidInputError(
            "give one of a HOST, --local or --from-facts FILE",
            hint="e.g. nixremote info root@203.0.113.7",
        )
    quiet = bool((ctx.obj or {}).get("quiet")) or as_json
    ctx.with_resource(progress_log_off())  # the events are shown here: no copy from the log
    reporter: Any = (
        json_event if as_json else line_renderer(lambda t: click.echo(t, err=True), quiet=quiet)
    )
    pm, settings = plugins_and_settings(sets, config, {"disk": disk} if disk else {})
    transport: Any
    if from_facts is not None:
        from ..controller.captures import load_facts

        facts = load_facts(from_facts)
        info = collect_from_facts(facts, pm, hoster, settings, reporter=reporter)
        transport = None
    elif local:
        from ..core.transport import LocalTransport

        transport = LocalTransport()
    else:
        assert target is not None
        from ..controller.ssh import connect

        def prompt() -> str:
            if not sys.stdin.isatty():
                raise InvalidInputError(
                    "sudo needs a password and stdin is not a terminal",
                    hint="set NIXREMOTE_SUDO_PASSWORD",
                )
            return str(click.prompt("sudo password", hide_input=True, err=True))

        where = target_from(target, **connection)
        transport = connect(
            where.host,
            user=where.user,
            port=where.port,
            identity_file=where.identity_file,
            jump=where.jump,
            connect_timeout=where.connect_timeout,
            known_hosts=where.known_hosts,
            host_key_policy=where.host_key_policy,
            sudo=sudo,
            sudo_prompt=prompt,
            reporter=reporter,
        )
    if transport is not None:
        try:
            info, facts = collect(
                transport, pm, hoster, settings, timeout=timeout, reporter=reporter
            )
        finally:
            transport.close()
    try:
        if save_facts:
            Path(save_facts).write_text(format_facts(facts), encoding="utf-8")
        if output:
            Path(output).write_text(dumps_runtime_info(info), encoding="utf-8")
    except OSError as exc:
        raise NixremoteError(
            f"cannot write {exc.filename}: {exc.strerror}", hint="check the path"
        ) from None
    if as_json:
        from ..core.converter import runtime_info_to_json_data

        emit_result(f"runtime info of {info.host_name}", runtime_info_to_json_data(info))
    elif output:
        if not quiet:
            click.echo(summary(info, facts))
        click.echo(f"wrote {output}", err=True)
    else:
        click.echo(summary(info, facts))
