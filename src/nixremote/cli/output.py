"""Printing for the command line: JSON, rich tables, and a progress renderer.

rich is imported here, lazily, and only by commands that print for a person; ``--json`` output
and the installer's plain lines never need it.

Text that came from a host, an installer or an API is never read as rich markup: every such
text goes through :func:`safe` (markup escaped, control characters shown as ``\\xNN``), so a
``[/...]`` in a ``nixos-install`` line cannot crash the renderer, ``[link=...]`` does not
become a link, and an escape sequence does not reach the terminal.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import click

from ..core.progress import Event, Reporter

if TYPE_CHECKING:
    from rich.console import Console


_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")


def plain(text: object) -> str:
    """``text`` with its control characters (newlines too; tabs aside) shown as ``\\xNN``."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(text))


def safe(text: object) -> str:
    """``text`` for rich: control characters shown, markup escaped (printed as it is)."""
    from rich.markup import escape

    return escape(plain(text))


def emit_json(data: Any) -> None:
    """Print ``data`` as indented JSON on stdout."""
    click.echo(json.dumps(data, indent=2, sort_keys=True))


def console(*, stderr: bool = False) -> Console:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def is_quiet() -> bool:
    ctx = click.get_current_context(silent=True)
    while ctx is not None:
        if isinstance(ctx.obj, dict) and "quiet" in ctx.obj:
            return bool(ctx.obj["quiet"])
        ctx = ctx.parent
    return False


@contextmanager
def progress_reporter(*, json_lines: bool = False) -> Iterator[Reporter]:
    """A reporter for a command's run.

    With ``json_lines`` every event is one JSON line on stdout. On a terminal events render as
    rich progress bars and status lines on stderr; elsewhere (pipes, CI) as plain lines on
    stderr, without bars; ``-q`` silences everything but warnings and errors.
    """
    quiet = is_quiet()
    if json_lines:
        yield lambda event: click.echo(event.to_json())
        return
    if not sys.stderr.isatty():

        def lines(event: Event) -> None:
            if event.kind == "progress" or (quiet and event.kind not in ("warning", "error")):
                return
            prefix = f"[{plain(event.phase)}] " if event.phase else ""
            click.echo(f"{prefix}{plain(event.message)}", err=True)

        yield lines
        return

    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

    con = console(stderr=True)
    bars: dict[str, Any] = {}
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=con,
        transient=True,
    ) as progress:

        def render(event: Event) -> None:
            if event.kind == "progress" and event.total:
                key = f"{event.phase}:{event.message}"
                if key not in bars:
                    bars[key] = progress.add_task(safe(event.message), total=event.total)
                progress.update(bars[key], completed=event.current or 0)
                return
            if quiet and event.kind not in ("warning", "error"):
                return
            style = {"warning": "yellow", "error": "red", "done": "green"}.get(event.kind, "")
            prefix = f"[dim]{safe(event.phase)}[/dim] " if event.phase else ""
            message = safe(event.message)
            con.print(f"{prefix}[{style}]{message}[/{style}]" if style else f"{prefix}{message}")

        yield render
