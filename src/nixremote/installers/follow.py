"""Detached installer runs: a phase keeps running when the controller goes away.

The controller starts ``nixremote installer run`` under ``setsid`` (:data:`START`, a ``sh``
script), its output into :data:`LOG_NAME` in the run directory on tmpfs (``/run/nixremote``),
its PID into :data:`PID_NAME`, and its exit status, once it ends, into :data:`RC_NAME`. The SSH
session only *follows* the log (:func:`follow`, ``nixremote installer follow``): when the session
dies, the run goes on; a controller that connects again follows the running run from the start
of its log (:func:`running`) instead of starting a second one, then goes on.

Runs inside the installer: standard library only.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from ..core.errors import TransportError

LOG_NAME = "phase.log"
PID_NAME = "phase.pid"
RC_NAME = "phase.rc"

START = r"""
dir=$1; shift
umask 077
mkdir -p "$dir" || exit 125
rm -f "$dir/phase.rc" "$dir/phase.pid"
: > "$dir/phase.log"
setsid sh -c '
d=$1; shift
echo $$ > "$d/phase.pid.new" && mv -f "$d/phase.pid.new" "$d/phase.pid"
"$@" >> "$d/phase.log" 2>&1 < /dev/null
echo $? > "$d/phase.rc.new" && mv -f "$d/phase.rc.new" "$d/phase.rc"
' phase "$dir" "$@" < /dev/null > /dev/null 2>&1 &
"""
"""``sh -c START start DIR ARGV...``: start ``ARGV`` detached (returns at once)."""

POLL_SECONDS = 0.1


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text(encoding="ascii").strip())
    except (OSError, ValueError):
        return None


def running(run_dir: Path) -> int | None:
    """The PID of the detached run in ``run_dir`` while it runs (``None``: none runs)."""
    pid = _read_int(run_dir / PID_NAME)
    if pid is None or (run_dir / RC_NAME).exists() or not _alive(pid):
        return None
    return pid


def follow(
    run_dir: Path,
    write: Callable[[str], None],
    *,
    start_wait: float = 10.0,
    status_wait: float = 5.0,
) -> int:
    """Write the run's log, line by line as it grows, from its start; return its exit status
    once it ended. A run that never started, or ended without a status (killed), is a
    :class:`TransportError`."""
    pid_file, log, rc_file = run_dir / PID_NAME, run_dir / LOG_NAME, run_dir / RC_NAME
    deadline = time.monotonic() + start_wait
    pid = _read_int(pid_file)
    while pid is None:
        if time.monotonic() > deadline:
            raise TransportError(
                f"no installer run started in {run_dir}", hint="run the install again"
            )
        time.sleep(POLL_SECONDS)
        pid = _read_int(pid_file)
    pending = ""
    with log.open("r", encoding="utf-8", errors="replace") as f:
        while True:
            chunk = f.read()
            if chunk:
                pending += chunk
                *lines, pending = pending.split("\n")
                for line in lines:
                    write(line + "\n")
                continue
            if rc_file.exists() or not _alive(pid):
                rest = f.read()
                for line in (pending + rest).splitlines():
                    write(line + "\n")
                break
            time.sleep(POLL_SECONDS)
    deadline = time.monotonic() + status_wait
    while (rc := _read_int(rc_file)) is None:
        if time.monotonic() > deadline:
            raise TransportError(
                f"the installer run (pid {pid}) ended without an exit status: it was killed",
                hint="run the install again: it goes on with the unfinished phase",
            )
        time.sleep(POLL_SECONDS)
    return rc


def follow_main(run_dir: Path) -> int:
    """``nixremote installer follow``: the run's log on stdout, its exit status."""

    def write(line: str) -> None:
        sys.stdout.write(line)
        sys.stdout.flush()

    return follow(run_dir, write)


__all__ = ["LOG_NAME", "PID_NAME", "RC_NAME", "START", "follow", "follow_main", "running"]
