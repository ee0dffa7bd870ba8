"""One ``nixremote installer run`` at a time on an installer: a lock beside the phase record.

A controller that went away (killed, or its connection cut) leaves its installer run going until
that run writes its next line of output and finds no one reading (it then records the phase as
failed and stops, shredding the disk key). A rerun of the controller starts a new installer run
at once: :func:`installer_lock` makes it wait for the earlier one to stop (saying so, with that
run's PID) instead of formatting beside it, and gives up after ``wait`` seconds with one line
naming the PID. The lock is ``flock`` on ``installer.lock`` next to the state file (tmpfs), so
it goes away with the process that holds it, however that process ends.

:func:`file_id` tells one file from another written at the same path (the controller writes the
disk key anew, as a new file, for every run), so that an earlier run ending late does not shred
the key a later run was given.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

from ..core.errors import PreflightError
from ..core.progress import Event, Reporter

LOCK_NAME = "installer.lock"

POLL_SECONDS = 0.5
"""How often a waiting run tries the lock again."""


class InstallerBusyError(PreflightError):
    """Another installer run holds the lock (and kept it for longer than the wait)."""


def file_id(path: Path) -> tuple[int, int] | None:
    """``(device, inode)`` of ``path``, or ``None`` when there is no such file."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _holder(fd: int) -> str:
    try:
        return os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "?"
    except OSError:
        return "?"


@contextlib.contextmanager
def installer_lock(state_file: Path, reporter: Reporter, *, wait: float) -> Iterator[Path]:
    """Hold the installer's lock (next to ``state_file``) for the ``with`` block."""
    path = state_file.parent / LOCK_NAME
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + wait
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                pid = _holder(fd)
                if time.monotonic() >= deadline:
                    raise InstallerBusyError(
                        f"another nixremote installer run (pid {pid}) drives this installer",
                        hint=f"wait for it to end, or stop it on the host (kill {pid}), "
                        "then run again",
                    ) from None
                if not told:
                    reporter(
                        Event(
                            kind="step",
                            message=f"waiting for the earlier installer run (pid {pid}) to stop",
                            data={"pid": pid},
                        )
                    )
                    told = True
                time.sleep(POLL_SECONDS)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield path
    finally:
        os.close(fd)  # releases the lock


__all__ = ["LOCK_NAME", "InstallerBusyError", "file_id", "installer_lock"]
