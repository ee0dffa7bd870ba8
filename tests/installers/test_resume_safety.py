"""What makes a rerun safe inside the installer: one run at a time (a later run waits for the
one whose controller went away, or gives up naming it), and a pool of the planned name that is
not on the planned disks is never released by the format phase.

Real: the installer (``nixremote installer run`` in a subprocess), ``flock``, the loop disk; the
``zpool``/``zfs`` test doubles of ``helpers.installer_env`` stand in for ZFS.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from helpers.installer_env import KEY_FILE, STATE_FILE, InstallerEnv
from nixremote.core.progress import Event
from nixremote.installers.lock import LOCK_NAME, file_id, installer_lock

HOLD = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
os.write(fd, str(os.getpid()).encode())
open(sys.argv[2], "w").close()
time.sleep(float(sys.argv[3]))
"""


def test_a_second_run_gives_up_naming_the_run_that_holds_the_installer(
    installer_env: InstallerEnv,
) -> None:
    env = installer_env
    told: list[Event] = []
    with installer_lock(STATE_FILE, told.append, wait=0) as lock:
        assert lock == STATE_FILE.parent / LOCK_NAME
        assert lock.read_text().strip() == str(os.getpid())
        busy = env.run("--lock-wait", "1", phases="format")
    assert told == []  # the lock was free
    assert busy.returncode != 0
    assert any(
        e.kind == "step"
        and e.message == f"waiting for the earlier installer run (pid {os.getpid()}) to stop"
        for e in busy.events
    )
    assert busy.final.kind == "error"
    assert f"another nixremote installer run (pid {os.getpid()})" in busy.final.message
    assert env.calls() == []  # nothing ran: no zpool, no zfs
    assert not KEY_FILE.exists()  # its key was shredded all the same
    assert not STATE_FILE.exists()


def test_a_second_run_waits_for_the_earlier_one_to_stop(
    installer_env: InstallerEnv, tmp_path: Path
) -> None:
    env = installer_env
    ready = tmp_path / "holding"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(STATE_FILE.parent / LOCK_NAME), str(ready), "3"]
    )
    try:
        deadline = time.monotonic() + 30
        while not ready.exists():  # the holder has the lock once it made the file
            assert time.monotonic() < deadline and holder.poll() is None
            time.sleep(0.05)
        started = time.monotonic()
        result = env.run(phases="format")
        waited = time.monotonic() - started
    finally:
        holder.wait(timeout=30)
    assert result.returncode == 0, result.stderr
    assert any(
        e.message == f"waiting for the earlier installer run (pid {holder.pid}) to stop"
        for e in result.events
    )
    assert waited >= 1  # it did not format beside the other run
    assert env.state()["finished"] == ["format"]


def test_a_pool_of_the_planned_name_on_another_disk_is_left_alone(
    installer_env: InstallerEnv,
) -> None:
    """An earlier attempt's half-made pool is exported before the format starts over (see
    test_phases' resume tests); a pool of the same name on a disk the plan does not name is
    someone else's: the format stops before it touches anything."""
    env = installer_env
    other = "/dev/disk/by-id/ata-SOMEONE-ELSES-DISK-part1"
    (env.double_dir / "state.json").write_text(
        json.dumps(
            {
                "pools": {
                    "rpool": {
                        "imported": True,
                        "keyLoaded": True,
                        "keySha256": None,
                        "vdevs": [other],
                        "options": {},
                        "snapshots": [],
                    }
                }
            }
        )
    )
    before = _head(env.image)
    result = env.run(phases="format")
    assert result.returncode != 0
    assert any(
        e.kind == "error" and f"a pool named rpool is imported on {other}" in e.message
        for e in result.events
    )
    calls = env.calls()
    assert ["zpool", "list", "-v", "-H", "-P", "rpool"] in calls
    assert not [c for c in calls if c[1] in ("export", "create", "destroy", "labelclear")]
    assert _head(env.image) == before  # no partition table written, no signature wiped
    assert env.state()["failed"]["phase"] == "format"


def _head(image: Path) -> bytes:
    with image.open("rb") as f:
        return f.read(1 << 20)


def test_file_id_tells_a_file_written_anew(tmp_path: Path) -> None:
    """The controller writes the key as a new file each time; the id tells them apart (an
    earlier run ending late shreds only the file it was given)."""
    key = tmp_path / "disk.key"
    assert file_id(key) is None
    key.write_bytes(b"one")
    first = file_id(key)
    assert first is not None and file_id(key) == first
    new = tmp_path / "disk.key.new"
    new.write_bytes(b"two")
    os.replace(new, key)
    assert file_id(key) != first
