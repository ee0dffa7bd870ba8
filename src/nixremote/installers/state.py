"""The installer's phase record: which phases finished for which host, so a rerun resumes.

The record lives on tmpfs (:data:`STATE_FILE`): a reboot forgets it, as it should. It is written
atomically with mode 0600 and read strictly (an unknown shape is an error that says how to start
over).
"""

from __future__ import annotations

import datetime
import json
import os
from pathlib import Path
from typing import Any

import attrs
from attrs import frozen

from ..core import jsontext
from ..core.errors import InvalidInputError
from ..core.phases import INSTALLER_PHASES as PHASES

STATE_FILE = Path("/run/nixremote/state.json")
"""Where the finished phases are recorded (tmpfs: a reboot forgets them, as it should)."""

STATE_FORMAT = 1


@frozen(kw_only=True)
class InstallState:
    """What the state file records: for which host and disk, which phases finished, the last
    failure, and the public host keys (as :func:`host_keys_data`) once ``keys`` made them."""

    host_name: str
    disk: str
    pool: str
    root: str
    finished: tuple[str, ...] = ()
    failed_phase: str | None = None
    failed_message: str | None = None
    host_keys: tuple[tuple[str, str], ...] = ()
    updated: str = ""

    @property
    def next_phase(self) -> str | None:
        for phase in PHASES:
            if phase not in self.finished:
                return phase
        return None

    def to_json_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "format": STATE_FORMAT,
            "hostName": self.host_name,
            "disk": self.disk,
            "pool": self.pool,
            "root": self.root,
            "finished": list(self.finished),
            "updated": self.updated,
        }
        if self.failed_phase:
            data["failed"] = {"phase": self.failed_phase, "message": self.failed_message or ""}
        if self.host_keys:
            data["hostKeys"] = dict(self.host_keys)
        return data

    @classmethod
    def from_json_data(cls, data: Any, source: str) -> InstallState:
        def fail(what: str) -> InvalidInputError:
            return InvalidInputError(
                f"{source}: {what}", hint="remove the state file (or pass --restart) to start over"
            )

        if not isinstance(data, dict):
            raise fail("expected a JSON object @ $")
        if data.get("format") != STATE_FORMAT:
            raise fail(f"unknown format {data.get('format')!r} @ $.format")
        strings = {}
        for key in ("hostName", "disk", "pool", "root"):
            if not isinstance(data.get(key), str):
                raise fail(f"expected a string @ $.{key}")
            strings[key] = data[key]
        finished = data.get("finished", [])
        if not isinstance(finished, list) or any(p not in PHASES for p in finished):
            raise fail("expected a list of phase names @ $.finished")
        failed = data.get("failed") or {}
        if not isinstance(failed, dict):
            raise fail("expected an object @ $.failed")
        host_keys = data.get("hostKeys") or {}
        if not isinstance(host_keys, dict) or not all(
            isinstance(v, str) for v in host_keys.values()
        ):
            raise fail("expected an object of strings @ $.hostKeys")
        return cls(
            host_name=strings["hostName"],
            disk=strings["disk"],
            pool=strings["pool"],
            root=strings["root"],
            finished=tuple(p for p in PHASES if p in finished),
            failed_phase=failed.get("phase"),
            failed_message=failed.get("message"),
            host_keys=tuple(sorted(host_keys.items())),
            updated=str(data.get("updated", "")),
        )


def load_state(path: Path) -> InstallState | None:
    """The state recorded at ``path``, or ``None`` when there is none."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise InvalidInputError(f"cannot read {path}: {exc.strerror}", hint="check it") from None
    try:
        data = jsontext.loads(text)
    except ValueError:
        raise InvalidInputError(
            f"{path}: not valid JSON", hint="remove the state file (or pass --restart)"
        ) from None
    return InstallState.from_json_data(data, str(path))


def save_state(path: Path, state: InstallState) -> InstallState:
    """Write ``state`` atomically (0600, directory 0700); returns it with ``updated`` set."""
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    state = attrs.evolve(state, updated=now)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(state.to_json_data(), out, indent=2, sort_keys=True)
        out.write("\n")
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)
    return state
