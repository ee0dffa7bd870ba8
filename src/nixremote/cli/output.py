"""Printing for the command line: JSON lines, rich tables, and a progress renderer.

rich is imported here, lazily, and only by commands that print for a person; ``--json`` output
and the installer's plain lines never need it.

With ``--json`` every command prints JSON lines of events on stdout and nothing else, and ends
with exactly one ``result`` event (a command whose output is a document carries it as the
result's ``data``) or one ``error`` event; stderr stays quiet. The shape is
``docs/reference/json-events.schema.json`` (:data:`SCHEMA`).

Text that came from a host, an installer or an API is never read as rich markup: every such
text goes through :func:`safe` (markup escaped, control characters shown as ``\\xNN``), so a
``[/...]`` in a ``nixos-install`` line cannot crash the renderer, ``[link=...]`` does not
become a link, and an escape sequence does not reach the terminal.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import click

from ..core.progress import Event, Reporter, timestamp

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


JSON_KINDS = ("start", "step", "progress", "done", "skip", "warning", "failed", "result", "error")
"""The kinds of a ``--json`` line. A library ``error`` event in the middle of a run (a step or
phase that failed) is written as ``failed``: the one ``error`` is the run's last line."""


class _JsonLogHandler(logging.Handler):
    """Under ``--json``: a log record of WARNING or worse becomes a ``warning`` event on stdout
    (the progress logger's records are events already, and are left out)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)

    def emit(self, record: logging.LogRecord) -> None:
        if record.name == "nixremote.progress":
            return
        try:
            message = record.getMessage()
        except Exception:  # a broken log call must not break the output
            message = str(record.msg)
        json_event(
            Event(
                kind="warning",
                message=message,
                data={"logger": record.name, "level": record.levelname.lower()},
            )
        )


_json: dict[str, Any] = {"active": False, "handlers": None, "requested": False}


def json_active() -> bool:
    """Whether this command's output is JSON lines (``--json`` was given)."""
    return bool(_json["active"])


def set_json_mode(active: bool) -> None:
    """Turn ``--json`` output on or off. On, stderr stays quiet: the log's warnings become
    ``warning`` events on stdout and nothing else is logged."""
    root = logging.getLogger()
    if active and _json["handlers"] is None:
        _json["handlers"] = list(root.handlers)
        root.handlers = [_JsonLogHandler()]
    elif not active and _json["handlers"] is not None:
        root.handlers = _json["handlers"]
        _json["handlers"] = None
    _json["active"] = active
    _json["requested"] = _json["requested"] or active


def json_requested(reset: bool = False) -> bool:
    """Whether ``--json`` was given in this run (after the command's context closed too: the
    ``error`` event is written last); ``reset`` forgets it, for the next run in this process."""
    was = bool(_json["requested"])
    if reset:
        _json["requested"] = False
    return was


def _json_callback(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
    if value:
        set_json_mode(True)
        ctx.call_on_close(lambda: set_json_mode(False))
    return value


def json_option(func: Any) -> Any:
    """``--json``: JSON lines of events on stdout, ending in one ``result`` or ``error``."""
    return click.option(
        "--json",
        "as_json",
        is_flag=True,
        is_eager=True,
        callback=_json_callback,
        help="JSON lines of events on stdout, the last a `result` (or `error`) event.",
    )(func)


def _write(line: dict[str, Any]) -> None:
    click.echo(json.dumps(line, sort_keys=True))


def json_event(event: Event) -> None:
    """Write ``event`` as one JSON line (a mid-run ``error`` as ``failed``)."""
    line = event.to_dict()
    if line["kind"] == "error":
        line["kind"] = "failed"
    _write(line)


def emit_result(message: str, data: Mapping[str, Any] | None = None) -> None:
    """Write the ``result`` event: the command's outcome, ``data`` its document."""
    _write(
        {
            "kind": "result",
            "time": timestamp(time.time()),
            "phase": None,
            "message": message,
            "data": dict(data or {}),
        }
    )


def emit_error(message: str, *, hint: str | None, exit_code: int, error_type: str) -> None:
    """Write the ``error`` event a failed ``--json`` command ends with."""
    _write(
        {
            "kind": "error",
            "time": timestamp(time.time()),
            "phase": None,
            "message": message,
            "data": {"hint": hint, "exitCode": exit_code, "type": error_type},
        }
    )


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


LINE_INTERVAL = 10.0
"""Outside a terminal, seconds between two lines of the same progress (a log shows it lives)."""


def _size(value: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def amount(event: Event) -> str:
    """How far a progress event is, in its unit: ``12 s of 600 s``, ``3.0 MiB of 9.5 MiB``,
    ``40%``, ``3/14``."""
    current, total = event.current or 0, event.total
    if event.unit == "seconds":
        return f"{current} s" + (f" of {total} s" if total else "")
    if event.unit == "bytes":
        return _size(current) + (f" of {_size(total)}" if total else "")
    if event.unit == "percent":
        return f"{current}%"
    return f"{current}/{total}" if total else str(current)


def _shown_when_quiet(event: Event) -> bool:
    # the plan is the output of a dry run: -q keeps it
    return event.kind in ("warning", "error") or (
        event.phase == "plan" and event.kind != "progress"
    )


@contextmanager
def progress_log_off() -> Iterator[None]:
    """The renderer shows every event: the progress logger's copy stays off stderr (``-v``
    adds log lines, never a second copy of an event)."""
    logger = logging.getLogger("nixremote.progress")
    before = logger.propagate
    sink = logging.NullHandler()  # else logging's last resort prints the warnings again
    logger.propagate = False
    logger.addHandler(sink)
    try:
        yield
    finally:
        logger.removeHandler(sink)
        logger.propagate = before


def line_renderer(
    write: Callable[[str], None], *, quiet: bool, clock: Callable[[], float] = time.monotonic
) -> Reporter:
    """Events as plain lines (pipes, CI, logs): one line per state change; a progress that
    goes on is repeated at most every :data:`LINE_INTERVAL` seconds."""
    last: dict[tuple[str | None, str], float] = {}

    def render(event: Event) -> None:
        if quiet and not _shown_when_quiet(event):
            return
        prefix = f"[{plain(event.phase)}] " if event.phase else ""
        if event.kind == "progress":
            key = (event.phase, event.message)
            now = clock()
            if key in last and now - last[key] < LINE_INTERVAL:
                return
            last[key] = now
            write(f"{prefix}{plain(event.message)} ({amount(event)})")
            return
        last.clear()  # a new state: the next progress line shows at once
        mark = {"warning": "warning: ", "error": "error: "}.get(event.kind, "")
        write(f"{prefix}{mark}{plain(event.message)}")

    return render


@contextmanager
def progress_reporter(*, json_lines: bool = False) -> Iterator[Reporter]:
    """A reporter for a command's run.

    With ``json_lines`` every event is one JSON line on stdout. On a terminal waits render as
    a spinner with the elapsed time, transfers as byte bars, API actions and steps as bars
    (rich, on stderr), every other event as one line above them; elsewhere (pipes, CI) as plain
    lines on stderr (:func:`line_renderer`); ``-q`` keeps only warnings, errors and the plan.
    """
    quiet = is_quiet()
    if json_lines or json_active():
        set_json_mode(True)
        with progress_log_off():
            yield json_event
        return
    if not sys.stderr.isatty():
        with progress_log_off():
            yield line_renderer(lambda text: click.echo(text, err=True), quiet=quiet)
        return

    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
    from rich.text import Text

    class Bar(BarColumn):
        def render(self, task: Any) -> Any:
            return Text("") if task.fields.get("unit") == "seconds" else super().render(task)

    con = console(stderr=True)
    tasks: dict[tuple[str | None, str], Any] = {}
    with (
        progress_log_off(),
        Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            Bar(),
            TextColumn("{task.fields[amount]}"),
            TimeElapsedColumn(),
            console=con,
            transient=True,
        ) as progress,
    ):

        def render(event: Event) -> None:
            if event.kind == "progress":
                if quiet:
                    return
                key = (event.phase, event.message)
                prefix = f"{safe(event.phase)}: " if event.phase else ""
                if key not in tasks:
                    tasks[key] = progress.add_task(
                        prefix + safe(event.message),
                        total=event.total or None,
                        unit=event.unit,
                        amount="",
                    )
                progress.update(
                    tasks[key],
                    completed=event.current or 0,
                    amount=safe(amount(event)),
                    refresh=event.unit != "bytes",  # a transfer reports often: drawn 10 times a s
                )
                return
            if event.kind != "warning":
                for key in [k for k in tasks if k[0] == event.phase]:
                    progress.remove_task(tasks.pop(key))  # that wait or transfer is over
            if quiet and not _shown_when_quiet(event):
                return
            style = {"warning": "yellow", "error": "red", "done": "green"}.get(event.kind, "")
            prefix = f"[dim]{safe(event.phase)}[/dim] " if event.phase else ""
            mark = {"warning": "warning: ", "error": "error: "}.get(event.kind, "")
            message = safe(mark + event.message)
            # through the live display, once: printed above the bars, which stay whole
            progress.console.print(
                f"{prefix}[{style}]{message}[/{style}]" if style else f"{prefix}{message}"
            )

        yield render
