"""Progress events: how the library tells its caller what it is doing.

The library never prints. Long operations take a ``reporter`` (any callable that accepts an
:class:`Event`) and call it as they go; the CLI renders events with rich, the installer prints
them as plain lines (or one JSON object a line with ``--json``) for a serial console or for the
controller, which parses them back with :func:`event_from_json` and renders them again.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from attrs import field, frozen

log = logging.getLogger("nixremote.progress")


Value = str | int | float | bool | None
"""A value of :attr:`Event.data`: a JSON scalar, kept with its type."""


def _value(value: Any) -> Value:
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    return str(value)


def _pairs(value: Any) -> tuple[tuple[str, Value], ...]:
    items = value.items() if isinstance(value, dict) else value
    return tuple(sorted((str(k), _value(v)) for k, v in items))


def timestamp(seconds: float) -> str:
    """``seconds`` since the epoch as ISO 8601 UTC with milliseconds (``...T12:00:00.123Z``)."""
    moment = datetime.fromtimestamp(seconds, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@frozen(kw_only=True)
class Event:
    """One progress event.

    ``kind`` is one of ``"start"``, ``"step"``, ``"progress"``, ``"done"``, ``"skip"``,
    ``"warning"``, ``"error"``. ``phase`` names the pipeline phase (``collect``, ``format``, ...);
    ``current``/``total`` give a fraction when known, in ``unit`` (``"bytes"``, or ``None`` for
    a count of steps or polls, which is never shown as a byte bar); ``data`` holds details as
    typed JSON scalars (strings, numbers, booleans); ``time`` is when the event happened
    (seconds since the epoch; not compared).
    """

    kind: str
    message: str
    phase: str | None = None
    current: int | None = None
    total: int | None = None
    unit: str | None = None
    data: tuple[tuple[str, Value], ...] = field(default=(), converter=_pairs)
    time: float = field(factory=time.time, eq=False)

    def to_dict(self) -> dict[str, Any]:
        """The event as a JSON object (the shape of ``docs/reference/json-events.schema.json``)."""
        out: dict[str, Any] = {
            "kind": self.kind,
            "time": timestamp(self.time),
            "phase": self.phase,
            "message": self.message,
            "data": dict(self.data),
        }
        for key in ("current", "total", "unit"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)


Reporter = Callable[[Event], None]
"""Anything that takes an :class:`Event`."""


def null_reporter(event: Event) -> None:
    """Drop every event (the default)."""


def logging_reporter(event: Event) -> None:
    """Send events to the ``nixremote.progress`` logger."""
    level = {"warning": logging.WARNING, "error": logging.ERROR}.get(event.kind, logging.INFO)
    log.log(level, "%s%s", f"[{event.phase}] " if event.phase else "", event.message)


def event_from_json(line: str) -> Event | None:
    """Parse a line written by :meth:`Event.to_json`; ``None`` for a line that is not one.

    The line comes from the installer, over the wire: fields of the wrong type are dropped
    (a ``phase`` that is not a string, a ``current`` that is not a number, ``data`` that is
    not an object), and JSON nested too deep is not an event."""
    from .jsontext import loads

    try:
        data = loads(line)
    except ValueError:
        return None
    if not isinstance(data, dict) or "kind" not in data or "message" not in data:
        return None

    def number(key: str) -> int | None:
        value = data.get(key)
        return value if type(value) is int else None

    details = data.get("data")
    phase = data.get("phase")
    unit = data.get("unit")
    return Event(
        kind=str(data["kind"]),
        message=str(data["message"]),
        phase=phase if isinstance(phase, str) else None,
        current=number("current"),
        total=number("total"),
        unit=unit if isinstance(unit, str) else None,
        data=details if isinstance(details, dict) else {},
    )


def report(reporter: Reporter | None, kind: str, message: str, **kw: Any) -> None:
    """Build an event and hand it to ``reporter`` (and the log)."""
    event = Event(kind=kind, message=message, **kw)
    logging_reporter(event)
    if reporter is not None:
        reporter(event)


def configure_logging(verbose: int = 0, quiet: int = 0) -> None:
    """Log to stderr at WARNING, ten levels finer per ``verbose`` and coarser per ``quiet`` (the
    commands' ``-v``/``-q``; both the controller's and the installer's)."""
    level = logging.WARNING + 10 * (quiet - verbose)
    logging.basicConfig(
        level=max(logging.DEBUG, min(level, logging.CRITICAL)),
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if verbose < 2:
        # paramiko logs every failed attempt to reach a booting host with a traceback; the
        # errors that matter reach the user as one line through NixremoteError.
        logging.getLogger("paramiko").setLevel(logging.CRITICAL)
    else:
        logging.getLogger("paramiko").setLevel(logging.NOTSET)
