"""The environment the installer phases run in for the tests: a loop-device disk, the real disk
tools, test doubles where this machine cannot have the real thing, and a private mount namespace.

What is real: ``sgdisk``, ``wipefs``, ``partx``, ``mkfs.vfat``, ``lsblk``, ``findmnt``,
``readlink``, ``install``, ``shred``, ``ssh-keygen``, ``umount``, the FAT filesystem of the ESP
(mounted with ``fusefat``, because this kernel has no vfat module), the state file, the key file
on tmpfs, and the installer itself (``nixremote installer run`` in a subprocess, from the
zipapp's point of view: fabric, paramiko, hcloud, invoke and rich are made unimportable).

Test doubles (``tests/helpers/doubles``), because this kernel has no ZFS: ``zpool``/``zfs``
(record argv and a hash of stdin, keep pool/key state, one directory per dataset) and ``mount``
for ``-t zfs`` (bind-mounts the dataset directory) and ``-t vfat`` (fusefat); the recorded
``nixos-install`` stand-in (NixOS cannot be built here); ``reboot``.

The tests run in a private mount namespace (``unshare(CLONE_NEWNS)`` of the pytest process,
undone with ``setns`` afterwards) so that the tmpfs on ``/run/nixremote`` and the install root's
mounts never reach the host's namespace.
"""

from __future__ import annotations

import ctypes
import json
import os
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import attrs

from helpers.keys import KEYS
from nixremote.core.converter import save_runtime_info
from nixremote.core.models import Disk, RuntimeInfo
from nixremote.core.progress import Event, event_from_json

HERE = Path(__file__).resolve().parent
DOUBLES = HERE / "doubles"
FAULTS = HERE / "faults"
KEY_DIR = Path("/run/nixremote")
KEY_FILE = KEY_DIR / "disk.key"
STATE_FILE = KEY_DIR / "state.json"
MIB = 1024 * 1024
CLONE_NEWNS = 0x00020000

FORBIDDEN = ("fabric", "paramiko", "hcloud", "invoke", "rich")

# Runs the CLI with the modules the zipapp does not have made unimportable.
CLI = f"""
import sys
class _NotInZipapp:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {FORBIDDEN!r}:
            raise ImportError(name + " is not available inside the installer")
        return None
sys.meta_path.insert(0, _NotInZipapp())
from nixremote.installers.cli import main
main()
"""


def sh(*argv: str, check: bool = True) -> str:
    proc = subprocess.run(argv, capture_output=True, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"{argv} failed ({proc.returncode}): {proc.stderr.decode()}")
    return proc.stdout.decode()


@contextmanager
def private_mount_namespace() -> Iterator[None]:
    """Move this (single-threaded) process into a new mount namespace for the block (and back,
    with the working directory it had: setns moves it to the namespace's root)."""
    libc = ctypes.CDLL(None, use_errno=True)
    old = os.open("/proc/self/ns/mnt", os.O_RDONLY)
    cwd = os.getcwd()
    try:
        if libc.unshare(CLONE_NEWNS) != 0:
            raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNS)")
        sh("mount", "--make-rprivate", "/")
        yield
    finally:
        if libc.setns(old, CLONE_NEWNS) != 0:
            raise OSError(ctypes.get_errno(), "setns back to the original mount namespace")
        os.close(old)
        os.chdir(cwd)


@attrs.frozen
class RunResult:
    returncode: int
    stdout: str
    stderr: str
    events: tuple[Event, ...]

    @property
    def final(self) -> Event:
        return self.events[-1]

    def kinds(self, phase: str) -> list[str]:
        return [e.kind for e in self.events if e.phase == phase]


class CmdlineSampler(threading.Thread):
    """Reads every process's ``/proc/PID/cmdline`` (and ``environ``) in a loop, remembering any
    that contains ``needle``, and how many command lines it saw."""

    def __init__(self, needle: bytes) -> None:
        super().__init__(daemon=True)
        self.needle = needle
        self.hits: list[str] = []
        self.seen: set[bytes] = set()
        self.samples = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.samples += 1
            for pid in os.listdir("/proc"):
                if not pid.isdigit():
                    continue
                for name in ("cmdline", "environ"):
                    try:
                        data = Path(f"/proc/{pid}/{name}").read_bytes()
                    except OSError:
                        continue
                    if name == "cmdline":
                        self.seen.add(data)
                    if self.needle in data:
                        self.hits.append(f"{pid}/{name}: {data[:200]!r}")

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


class InstallerEnv:
    """One host to install: a 2 GiB sparse loop disk, its runtime info, doubles' state."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.image = tmp / "disk.img"
        with self.image.open("wb") as f:
            f.truncate(2048 * MIB)
        self.device = sh("losetup", "-P", "-f", "--show", str(self.image)).strip()
        self.root = tmp / "mnt"
        self.root.mkdir()
        self.double_dir = tmp / "zfs-double"
        self.double_dir.mkdir()
        self.key = ("correct horse " + secrets.token_hex(12)).encode()
        self.info = RuntimeInfo(
            host_name="looptest",
            host_id="1234abcd",
            disk_to_format=self.device,
            disks=(Disk(path=self.device, size_bytes=2048 * MIB, model="loop image"),),
            root_authorized_keys=(f"{KEYS[3]} test@controller",),
        )
        self.info_file = tmp / "runtime-info.json"
        save_runtime_info(self.info, self.info_file)
        self.write_key()

    def write_key(self) -> None:
        """What the controller does before each run: the key into a 0600 file on tmpfs."""
        KEY_DIR.mkdir(mode=0o700, exist_ok=True)
        fd = os.open(KEY_FILE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.write(fd, self.key + b"\n")
        os.close(fd)

    def env(self, *, faults: bool = False, fail_once: str | None = None) -> dict[str, str]:
        path = [str(DOUBLES)] + ([str(FAULTS)] if faults else []) + [os.environ["PATH"]]
        env = {
            **os.environ,
            "PATH": os.pathsep.join(path),
            "ZFS_DOUBLE_DIR": str(self.double_dir),
            "NIXREMOTE_DISABLE_PLUGIN_AUTOLOAD": "1",
        }
        env.pop("DOUBLE_FAIL_ONCE", None)
        if fail_once:
            env["DOUBLE_FAIL_ONCE"] = fail_once
        return env

    def run(
        self,
        *extra: str,
        phases: str | None = None,
        faults: bool = False,
        fail_once: str | None = None,
        reboot: bool = False,
        yes: bool = True,
        runtime_info: bool = True,
        json_lines: bool = True,
        key_file: Path | None = KEY_FILE,
        pyz: Path | None = None,
        verbose: bool = False,
    ) -> RunResult:
        # From the zipapp: -I -S, so nothing but the standard library and the zipapp is importable.
        python = [sys.executable, "-I", "-S", str(pyz)] if pyz else [sys.executable, "-c", CLI]
        argv = [
            *python,
            *(["-vv"] if verbose else []),
            "installer",
            "run",
            "--root",
            str(self.root),
        ]
        if key_file is not None:
            argv += ["--key-file", str(key_file)]
        if yes:
            argv.append("--yes")
        if json_lines:
            argv.append("--json")
        if runtime_info:
            argv += ["--runtime-info", str(self.info_file)]
        if phases:
            argv += ["--phases", phases]
        if not reboot:
            argv.append("--no-reboot")
        argv += list(extra)
        proc = subprocess.run(
            argv,
            capture_output=True,
            stdin=subprocess.DEVNULL,
            env=self.env(faults=faults, fail_once=fail_once),
            check=False,
            timeout=600,
        )
        stdout = proc.stdout.decode()
        events = []
        for line in stdout.splitlines() if json_lines else ():
            event = event_from_json(line)
            assert event is not None, f"not an event line on stdout: {line!r}"
            events.append(event)
        return RunResult(
            returncode=proc.returncode,
            stdout=stdout,
            stderr=proc.stderr.decode(),
            events=tuple(events),
        )

    def calls(self) -> list[list[str]]:
        path = self.double_dir / "calls.jsonl"
        if not path.exists():
            return []
        return [json.loads(line)["argv"] for line in path.read_text().splitlines()]

    def call_records(self) -> list[dict[str, object]]:
        path = self.double_dir / "calls.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()]

    def clear_calls(self) -> None:
        (self.double_dir / "calls.jsonl").unlink(missing_ok=True)

    def install_calls(self) -> list[list[str]]:
        path = self.double_dir / "nixos-install.jsonl"
        if not path.exists():
            return []
        return [json.loads(line)["argv"] for line in path.read_text().splitlines()]

    def dataset(self, name: str) -> Path:
        """The double's directory of a dataset (what a real pool would hold)."""
        return self.double_dir / "datasets" / "rpool" / name

    def mounted(self) -> list[str]:
        root = str(self.root)
        out = []
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            target = line.split()[4]
            if target == root or target.startswith(root + "/"):
                out.append(target)
        return out

    def export_like_a_reboot(self) -> None:
        """Unmount everything and export the pool, as if the installer had been restarted."""
        if self.mounted():
            sh("umount", "-R", str(self.root))
        state = json.loads((self.double_dir / "state.json").read_text())
        state["pools"]["rpool"]["imported"] = False
        state["pools"]["rpool"]["keyLoaded"] = False
        (self.double_dir / "state.json").write_text(json.dumps(state))

    def state(self) -> dict[str, object]:
        return dict(json.loads(STATE_FILE.read_text()))

    def cleanup(self) -> None:
        for _ in range(3):
            if not self.mounted():
                break
            sh("umount", "-R", str(self.root), check=False)
            time.sleep(0.2)
        sh("losetup", "-d", self.device, check=False)
