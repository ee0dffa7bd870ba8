"""Detached installer runs: started under setsid by the ``START`` script (which returns at
once), followed from their log to their exit status, a killed run told apart from a failed one,
and a running run found again (real ``sh``, ``setsid``, processes and files)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nixremote.core.errors import TransportError
from nixremote.installers.follow import PID_NAME, RC_NAME, START, follow, running

SLOW = """
import sys, time
for i in range(int(sys.argv[1])):
    print(f"line {i}", flush=True)
    time.sleep(float(sys.argv[2]))
sys.exit(int(sys.argv[3]))
"""


def start(run_dir: Path, *argv: str) -> float:
    """Start ``argv`` detached; the seconds the START script took (it must not wait)."""
    began = time.monotonic()
    subprocess.run(["sh", "-c", START, "start", str(run_dir), *argv], check=True, timeout=30)
    return time.monotonic() - began


def test_a_detached_run_is_followed_to_its_exit_status(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    took = start(run_dir, sys.executable, "-c", SLOW, "5", "0.2", "3")
    assert took < 0.9  # the run takes a second; starting it does not wait for it
    lines: list[str] = []
    assert follow(run_dir, lines.append) == 3
    assert lines == [f"line {i}\n" for i in range(5)]
    assert running(run_dir) is None and (run_dir / RC_NAME).read_text().strip() == "3"
    # followed again later: the whole log, the same status
    again: list[str] = []
    assert follow(run_dir, again.append) == 3 and again == lines
    assert oct((run_dir / "phase.log").stat().st_mode & 0o777) == "0o600"


def test_a_run_outlives_its_session_and_is_found_running(tmp_path: Path) -> None:
    """The starting session goes away (the START script returned, its shell ended): the run
    goes on, :func:`running` names it, and a follower attached later sees it from the start."""
    run_dir = tmp_path / "run"
    start(run_dir, sys.executable, "-c", SLOW, "4", "0.3", "0")
    deadline = time.monotonic() + 10
    while (pid := running(run_dir)) is None:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert os.getsid(pid) == pid  # its own session: no SSH hangup reaches it
    lines: list[str] = []
    assert follow(run_dir, lines.append) == 0
    assert lines[0] == "line 0\n" and len(lines) == 4
    assert running(run_dir) is None


def test_a_killed_run_is_not_taken_for_a_finished_one(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    start(run_dir, sys.executable, "-c", SLOW, "100", "0.2", "0")
    deadline = time.monotonic() + 10
    while (pid := running(run_dir)) is None:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    os.killpg(pid, signal.SIGKILL)  # the whole run, its shell included
    with pytest.raises(TransportError, match=f"pid {pid}.*ended without an exit status"):
        follow(run_dir, lambda line: None, status_wait=1)
    assert not (run_dir / RC_NAME).exists()


def test_no_run_started(tmp_path: Path) -> None:
    (tmp_path / PID_NAME).write_text("not a pid\n")
    with pytest.raises(TransportError, match="no installer run started"):
        follow(tmp_path, lambda line: None, start_wait=0.3)
    assert running(tmp_path) is None
