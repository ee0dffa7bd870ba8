"""Reading a ``--json`` run's stdout: JSON lines of events ending in one ``result`` (or
``error``) event (``docs/reference/json-events.schema.json``)."""

from __future__ import annotations

import json
from typing import Any


def json_events(stdout: str) -> list[dict[str, Any]]:
    """Every line of ``stdout`` as a JSON event (every line must be one)."""
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def result_data(stdout: str) -> Any:
    """The ``data`` of the ``result`` event a successful ``--json`` run ends with."""
    events = json_events(stdout)
    assert events, "no output"
    last = events[-1]
    assert last["kind"] == "result", last
    return last["data"]


def warnings(stdout: str) -> list[str]:
    """The messages of the ``warning`` events."""
    return [e["message"] for e in json_events(stdout) if e["kind"] == "warning"]


def result_text(stdout: str) -> str:
    """The ``result`` event's data as JSON text (a document: ``info --json``'s runtime info)."""
    return json.dumps(result_data(stdout))
