"""The disk plan's partitioning, run for real with sgdisk, partx and mkfs.vfat on loop devices.

The expected geometry is written out here independently of the layout code: the original
installer's ``nuke-disk.sh`` made partition 2 (BIOS boot) at sectors 34-2047, partition 3 (ESP)
at 1 MiB + 512 MiB, partition 1 (ZFS) from there to the last usable sector.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
from pathlib import Path

import attrs
import pytest

from helpers.diskplans import INFO, KEY, ORIGINAL_ARGV, RecordingTransport
from helpers.loopdisk import LoopDisk, run
from nixremote.core.diskkey import DiskKey
from nixremote.core.diskplan import Step, plan, select
from nixremote.core.errors import CommandFailedError, InvalidInputError, PlanError
from nixremote.core.layout import (
    KEY_FILE,
    DiskLayout,
    DiskSpec,
    LayoutOptions,
    Partition,
    PartitionRole,
    Pool,
    default_layout,
)
from nixremote.core.progress import Event
from nixremote.core.transport import LocalTransport
from nixremote.installers.execute import execute, nuke_disks

PARTITIONING = ("wipe", "partition", "clear", "format")

TYPE_GUIDS = {
    "EF02": "21686148-6449-6E6F-744E-656564454649",
    "EF00": "C12A7328-F81F-11D2-BA4B-00A0C93EC93B",
    "BF01": "6A898CC3-1DD2-11B2-99A6-080020736631",
    "8300": "0FC63DAF-8483-4772-8E79-3D69D8477DE4",
}


def original_table(sectors: int) -> dict[int, tuple[int, int, str]]:
    """number -> (first sector, last sector, type code) of the original installer's table."""
    last_usable = sectors - 34
    return {
        2: (34, 2047, "EF02"),
        3: (2048, 2048 + 512 * 2048 - 1, "EF00"),
        1: (2048 + 512 * 2048, last_usable, "BF01"),
    }


def read_table(device: str) -> dict[int, tuple[int, int, str]]:
    """The partition table as ``sgdisk -p`` prints it, checked against ``sgdisk -i N``."""
    out = run("sgdisk", "-p", device)
    rows = re.findall(r"^\s+(\d+)\s+(\d+)\s+(\d+)\s+\S+ \S+\s+([0-9A-F]{4})", out, re.M)
    table = {int(n): (int(a), int(b), code) for n, a, b, code in rows}
    for number, (first, last, code) in table.items():
        info = run("sgdisk", "-i", str(number), device)
        assert f"First sector: {first} " in info
        assert f"Last sector: {last} " in info
        assert f"Partition size: {last - first + 1} sectors" in info
        guid = re.search(r"Partition GUID code: (\S+)", info)
        assert guid is not None and guid.group(1) == TYPE_GUIDS[code]
    return table


def lsblk_partitions(device: str) -> dict[str, tuple[int, int]]:
    """kernel name -> (start sector, size in bytes) as the kernel sees it (``lsblk -J``; the
    type GUID column needs udev's database, which this machine has not, so sgdisk reads it)."""
    data = json.loads(run("lsblk", "-J", "-b", "-o", "NAME,START,SIZE", device))
    children = data["blockdevices"][0].get("children") or []
    return {c["name"]: (int(c["start"]), int(c["size"])) for c in children}


def fs_type(device: str) -> str:
    out = run("blkid", "-p", "-o", "export", device, check=False)
    match = re.search(r"^TYPE=(\S+)$", out, re.M)
    return match.group(1) if match else ""


def test_default_layout_leaves_exactly_the_original_table(loop_disk, runtime_info_for):
    disk: LoopDisk = loop_disk(2048)
    # Something to wipe: an old table with different partitions and a filesystem.
    run("sgdisk", "-n1:2048:+100M", "-t1:8300", "-n2:0:0", "-t2:8E00", disk.device)
    run("partx", "-u", disk.device)
    run("mkfs.vfat", f"{disk.device}p1")
    info, _ = runtime_info_for(disk)
    layout = default_layout(info, LayoutOptions())
    events: list[Event] = []

    results = nuke_disks(info, layout, LocalTransport(), None, events.append, stages=PARTITIONING)

    assert [r.status for r in results].count("ok") == len(results) - 1
    # zpool does not exist on this machine: the label clear is the one tolerated failure.
    tolerated = [r for r in results if r.status == "tolerated"]
    assert [r.step.argv[:3] for r in tolerated] == [("zpool", "labelclear", "-f")]
    assert read_table(disk.device) == original_table(disk.sectors)
    kernel = lsblk_partitions(disk.device)
    name = Path(disk.device).name
    assert kernel == {
        f"{name}p2": (34, 2014 * 512),
        f"{name}p3": (2048, 512 * 1024 * 1024),
        f"{name}p1": (1050624, (disk.sectors - 34 - 1050624 + 1) * 512),
    }
    assert fs_type(f"{disk.device}p3") == "vfat"
    assert fs_type(f"{disk.device}p1") == ""  # the old signatures are gone
    assert [e.message for e in events if e.kind == "warning"] == [
        f"clear an old ZFS label in {disk.device}p1 (tolerated if there is none): exit code 127, "
        "tolerated"
    ]


def test_the_same_table_as_the_original_commands(loop_disk, runtime_info_for):
    """The plan's table equals what the original script's sgdisk calls make on a twin disk."""
    ours: LoopDisk = loop_disk(3000, "ours")
    theirs: LoopDisk = loop_disk(3000, "theirs")
    info, _ = runtime_info_for(ours)
    nuke_disks(info, default_layout(info), LocalTransport(), None, stages=PARTITIONING)
    for argv in (
        ["sgdisk", "-Z"],
        ["sgdisk", "-a1", "-n2:34:2047", "-t2:EF02"],
        ["sgdisk", "-a1", "-n3:1M:+512M", "-t3:EF00"],
        ["sgdisk", "-a1", "-n1:0:0", "-t1:BF01"],
    ):
        run(*argv, theirs.device)
    assert read_table(ours.device) == read_table(theirs.device) == original_table(ours.sectors)


@pytest.mark.parametrize(
    ("variant", "expected"),
    [
        ("uefi", {3: (2048, 1050623, "EF00"), 1: (1050624, None, "BF01")}),
        ("bios", {2: (34, 2047, "EF02"), 3: (2048, 1050623, "8300"), 1: (1050624, None, "BF01")}),
        (
            "unencrypted",
            {2: (34, 2047, "EF02"), 3: (2048, 1050623, "EF00"), 1: (1050624, None, "BF01")},
        ),
    ],
)
def test_variants_on_a_loop_disk(loop_disk, runtime_info_for, variant, expected):
    disk: LoopDisk = loop_disk(2048)
    info, _ = runtime_info_for(disk)
    layout = default_layout(info, LayoutOptions(variant=variant))
    nuke_disks(info, layout, LocalTransport(), None, stages=PARTITIONING)
    want = {n: (a, disk.sectors - 34 if b is None else b, c) for n, (a, b, c) in expected.items()}
    assert read_table(disk.device) == want
    assert fs_type(f"{disk.device}p3") == "vfat"


def test_mirror_partitions_both_disks(loop_disk, runtime_info_for):
    first: LoopDisk = loop_disk(2048, "a")
    second: LoopDisk = loop_disk(2048, "b")
    info, _ = runtime_info_for(first, second)
    layout = default_layout(info, LayoutOptions(variant="mirror"))
    assert [d.path for d in layout.disks] == [first.device, second.device]
    nuke_disks(info, layout, LocalTransport(), None, stages=PARTITIONING)
    for disk in (first, second):
        assert read_table(disk.device) == original_table(disk.sectors)
        assert fs_type(f"{disk.device}p3") == "vfat"
    pool = next(s for s in plan(layout) if s.stage == "pool")
    assert pool.argv[-4:] == ("rpool", "mirror", f"{first.device}p1", f"{second.device}p1")


def test_a_failing_step_stops_the_plan_with_its_output(loop_disk, runtime_info_for):
    """Two partitions that overlap: sgdisk fails on the second, nothing after it runs."""
    disk: LoopDisk = loop_disk(2048)
    info, _ = runtime_info_for(disk)
    esp = Partition(
        number=3,
        role=PartitionRole.ESP,
        type_code="EF00",
        start="1M",
        end="+512M",
        filesystem="vfat",
        mountpoint="/boot",
    )
    overlapping = Partition(
        number=2, role=PartitionRole.BIOS_BOOT, type_code="EF02", start="2M", end="+1M"
    )
    layout = DiskLayout(
        name="broken",
        disks=(
            DiskSpec(
                path=disk.device,
                partitions=(
                    esp,
                    overlapping,
                    Partition(
                        number=1, role=PartitionRole.ZFS, type_code="BF01", start="0", end="0"
                    ),
                ),
            ),
        ),
        pool=Pool(encrypted=False),
        datasets=(),
    )
    events: list[Event] = []
    with pytest.raises(CommandFailedError) as caught:
        nuke_disks(info, layout, LocalTransport(), None, events.append, stages=PARTITIONING)
    err = caught.value
    assert err.argv == ("sgdisk", "-a1", "-n2:2M:+1M", "-t2:EF02", "--", disk.device)
    assert "create partition 2" in err.message
    assert err.returncode not in (None, 0)
    assert err.output  # sgdisk's own words
    ran = [e for e in events if e.kind == "step" and e.data and dict(e.data).get("argv")]
    assert ran[-1].message.startswith("create partition 2")
    assert [e.kind for e in events][-1] == "error"
    # Partition 3 was made; partition 1 and the filesystem never were.
    assert read_table(disk.device) == {3: (2048, 1050623, "EF00")}
    assert not any("mkfs.vfat" in dict(e.data).get("argv", "") for e in events)


def test_cli_apply_partitions_a_loop_disk(loop_disk, runtime_info_for):
    disk: LoopDisk = loop_disk(2048)
    _, path = runtime_info_for(disk)
    stages = [arg for s in PARTITIONING for arg in ("--stage", s)]
    proc = subprocess.run(
        ["nixremote", "disk", "apply", str(path), "--yes", "--json", *stages],
        capture_output=True,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    events = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    assert events[-1]["kind"] == "result"
    assert any(
        e["kind"] == "step" and e["message"].startswith("create partition 2") for e in events
    )
    assert read_table(disk.device) == original_table(disk.sectors)


def test_the_full_plan_stops_in_preflight_here_and_never_touches_the_disk(
    loop_disk, runtime_info_for
):
    """This machine has neither ZFS nor (as CI may) /run on tmpfs: the complete plan, key on
    stdin, stops at a preflight check, before the first destructive step, and says which."""
    disk: LoopDisk = loop_disk(1600)
    run("sgdisk", "-n1:2048:+64M", "-t1:8300", disk.device)
    before = disk.sha256()
    _, path = runtime_info_for(disk)
    key = b"preflight passphrase 42"
    proc = subprocess.run(
        ["nixremote", "disk", "apply", str(path), "--yes", "--json"],
        capture_output=True,
        input=key + b"\n",
        check=False,
    )
    assert proc.returncode == 3, proc.stderr.decode()
    assert proc.stderr == b""  # under --json the failure is the last event
    events = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    assert events[-1]["kind"] == "error" and events[-1]["data"]["exitCode"] == 3
    err = events[-1]["message"] + "\n" + "\n".join(e["message"] for e in events)
    match = re.search(r"disk step (\d)/32 \(([^)]*)\) failed", events[-1]["message"])
    assert match is not None, err
    assert match.group(2).startswith("check that ")
    stages = {
        e["data"]["stage"]
        for e in events
        if e["kind"] == "step" and "data" in e and "stage" in e["data"]
    }
    assert stages <= {"preflight", "cleanup"}
    assert b"preflight passphrase" not in proc.stdout + proc.stderr
    assert "failed too" not in err  # the key was never written: no shredding
    assert disk.sha256() == before
    assert not Path("/run/nixremote/disk.key").exists()


# --- the executor with a recording host (no ZFS here) -------------------------------------


def test_the_key_reaches_only_the_stdin_of_the_key_step():
    host = RecordingTransport()
    events: list[Event] = []
    results = execute(
        plan(default_layout(INFO)), host, DiskKey.from_bytes(KEY + b"\n"), events.append
    )
    assert [r.status for r in results] == ["ok"] * len(ORIGINAL_ARGV)
    assert [argv for argv, _ in host.calls] == ORIGINAL_ARGV
    fed = [(argv, stdin) for argv, stdin in host.calls if stdin is not None]
    assert fed == [(ORIGINAL_ARGV[15], KEY)]  # the newline is dropped, as ZFS would
    secret = KEY.decode()
    for argv, _ in host.calls:
        assert not any(secret in arg or "battery" in arg for arg in argv)
    for event in events:
        assert "battery" not in event.to_json()
    assert events[-1].kind == "done"


def test_after_a_failure_only_the_key_shredding_runs():
    host = RecordingTransport(fail_on=("zpool", "create"))
    events: list[Event] = []
    with pytest.raises(CommandFailedError) as caught:
        execute(plan(default_layout(INFO)), host, DiskKey.from_bytes(KEY), events.append)
    err = caught.value
    assert err.argv == ORIGINAL_ARGV[16]
    assert "disk step 17/33 (create the encrypted pool rpool" in err.message
    assert "pool already exists" in err.output
    assert [argv for argv, _ in host.calls] == [*ORIGINAL_ARGV[:17], ("shred", "-u", KEY_FILE)]
    error = next(e for e in events if e.kind == "error")
    assert error.current == 17 and dict(error.data)["output"].endswith("pool already exists")


def test_a_wrong_answer_fails_an_expect_step():
    host = RecordingTransport(
        stdout={("findmnt", "-n", "-o", "FSTYPE", "-T", "/run/nixremote"): b"ext4\n"}
    )
    with pytest.raises(CommandFailedError, match="expected output 'tmpfs', got 'ext4'"):
        execute(plan(default_layout(INFO)), host, DiskKey.from_bytes(KEY))
    # The key was never written, so there is nothing to shred.
    assert [argv for argv, _ in host.calls] == ORIGINAL_ARGV[:2]


def test_dry_run_runs_nothing_and_reports_every_step():
    host = RecordingTransport()
    events: list[Event] = []
    results = execute(plan(default_layout(INFO)), host, None, events.append, dry_run=True)
    assert host.calls == []
    assert {r.status for r in results} == {"dry-run"}
    assert [dict(e.data)["argv"] for e in events] == [
        Step(stage="wipe", description="x", argv=a).command for a in ORIGINAL_ARGV
    ]


def test_keys_are_checked():
    with pytest.raises(PlanError, match="no disk key"):
        execute(plan(default_layout(INFO)), RecordingTransport(), None)
    assert DiskKey.from_bytes(b"12345678\r\n").value == b"12345678"
    with pytest.raises(InvalidInputError, match="8 to 512"):
        DiskKey.from_bytes(b"short\n")
    with pytest.raises(InvalidInputError, match="more than one line"):
        DiskKey.from_bytes(b"first line\nsecond line")


def test_key_file_steps_run_for_real(tmp_path):
    """The key step writes a 0600 file from stdin; the cleanup step shreds it (real commands)."""
    key_file = tmp_path / "keys" / "disk.key"
    key_file.parent.mkdir(mode=0o700)
    layout = default_layout(INFO)
    pool = attrs.evolve(
        layout.pool,
        root_options=tuple(
            (k, f"file://{key_file}" if k == "keylocation" else v)
            for k, v in layout.pool.root_options
        ),
    )
    layout = attrs.evolve(layout, pool=pool)
    steps = plan(layout)
    create = next(s for s in steps if s.stage == "pool")
    assert f"keylocation=file://{key_file}" in create.argv
    local = LocalTransport()
    execute(select(steps, ["key"]), local, DiskKey.from_bytes(KEY))
    assert key_file.read_bytes() == KEY
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    execute(select(steps, ["cleanup"]), local, None)
    assert not key_file.exists()
    with pytest.raises(PlanError, match="unknown stage"):
        select(steps, ["partition", "nuke"])
