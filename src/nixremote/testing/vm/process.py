"""Processes of the test machine: QEMU dies with its parent, a pid is alive, a free loopback
port."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
from pathlib import Path


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM when the parent dies (PR_SET_PDEATHSIG)."""
    import ctypes

    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM, 0, 0, 0)


def pid_alive(pid: int | None) -> bool:
    """Whether process ``pid`` exists and is not a zombie (a detached QEMU's parent is gone,
    and whoever inherited it may reap it late)."""
    if not pid or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:
        stat_line = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat_line.rsplit(")", 1)[1].split()[0] != "Z"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
