"""The ``nixremote`` command as a user runs it, for the VM tests: a subprocess of this Python
(``python -m nixremote.cli.main``, so the sources under test run, with this environment)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from nixremote.testing.vm import RescueVm


def nixremote(*args: str, timeout: float = 1500) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nixremote.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def events(proc: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    """The JSON events a ``--json`` run printed, in order."""
    out = []
    for line in proc.stdout.splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


def target_args(vm: RescueVm, known_hosts: Path, host: str | None = None) -> list[str]:
    """``root@HOST -p PORT -i KEY --known-hosts FILE`` for the VM (``host``: another of its
    addresses)."""
    return [
        f"root@{host or vm.host}",
        "-p",
        str(vm.ssh_port),
        "-i",
        str(vm.identity_file),
        "--known-hosts",
        str(known_hosts),
    ]


def outcome(proc: subprocess.CompletedProcess[str]) -> str:
    """The tail of a run, for an assertion message."""
    return f"exit {proc.returncode}\n{proc.stderr[-3000:]}\n{proc.stdout[-3000:]}"
