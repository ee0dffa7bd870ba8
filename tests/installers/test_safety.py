"""Safety refusals on real loop devices: each leaves the disk image byte-for-byte unchanged."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from helpers.loopdisk import LoopDisk, run
from nixremote.core.diskkey import DiskKey
from nixremote.core.errors import InvalidValueError, SafetyError
from nixremote.core.layout import LayoutOptions, build_layout, default_layout
from nixremote.core.models import Disk
from nixremote.core.transport import LocalTransport
from nixremote.installers.execute import nuke_disks
from nixremote.installers.safety import check_layout, confirm, disk_state

EVERYTHING = None  # all stages: a refusal must come before the first one
SMALL = 256  # MiB: rules checked before the size need no disk the layout fits on (faster hashes)
FITS = 1600  # MiB: just above what the default layout needs (1537 MiB)


def with_filesystem(disk: LoopDisk) -> str:
    """Give the disk an old table and an ext4 filesystem on partition 1 (this kernel mounts
    ext4, not vfat); return that partition."""
    run("sgdisk", "-n1:2048:+64M", "-t1:8300", disk.device)
    run("partprobe", disk.device)
    part = f"{disk.device}p1"
    run("mkfs.ext4", "-q", part)
    return part


def mount_ro(part: str, where: Path) -> None:
    """Mount read-only without journal replay, so that the image stays byte-for-byte the same."""
    where.mkdir()
    run("mount", "-o", "ro,noload", "-t", "ext4", part, str(where))


def refused(info, disk: LoopDisk, match: str, **kw) -> SafetyError:
    layout = kw.pop("layout", None) or default_layout(info, kw.pop("options", LayoutOptions()))
    with pytest.raises(SafetyError, match=match) as caught:
        nuke_disks(
            info,
            layout,
            LocalTransport(),
            DiskKey.from_bytes(b"a good passphrase"),
            stages=EVERYTHING,
            **kw,
        )
    return caught.value


def test_refuses_a_mounted_disk(loop_disk, runtime_info_for, tmp_path):
    disk: LoopDisk = loop_disk(SMALL)
    part = with_filesystem(disk)
    before = disk.sha256()
    mountpoint = tmp_path / "mnt"
    mount_ro(part, mountpoint)
    try:
        info, path = runtime_info_for(disk)
        err = refused(info, disk, "is mounted at")
        assert str(mountpoint) in err.message
        # The command says the same, with the preflight exit code.
        proc = subprocess.run(
            ["nixremote", "disk", "apply", str(path), "--yes"],
            capture_output=True,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        assert proc.returncode == 4
        assert f"{Path(part).name} is mounted at {mountpoint}" in proc.stderr.decode()
    finally:
        run("umount", str(mountpoint))
    assert disk.sha256() == before


def test_refuses_the_disk_of_the_running_system(loop_disk, runtime_info_for, tmp_path):
    disk: LoopDisk = loop_disk(SMALL)
    part = with_filesystem(disk)
    before = disk.sha256()
    root = tmp_path / "root"
    mount_ro(part, root)
    try:
        info, _ = runtime_info_for(disk)
        # Pretend the filesystem mounted at `root` is the running system's "/".
        err = refused(info, disk, "holds the running system", system_paths=(str(root),))
        assert err.message.endswith(f"(/dev/{Path(part).name})")
    finally:
        run("umount", str(root))
    assert disk.sha256() == before


def test_refuses_a_by_id_path_that_points_elsewhere(loop_disk, runtime_info_for, dev_dir):
    wanted: LoopDisk = loop_disk(SMALL, "wanted")
    other: LoopDisk = loop_disk(SMALL, "other")
    before = (wanted.sha256(), other.sha256())
    by_id = dev_dir / "by-id"
    by_id.mkdir()
    link = by_id / "ata-TEST_DISK_1"
    link.symlink_to(other.device)  # renumbered: the by-id name now means the other disk
    info, _ = runtime_info_for(wanted, by_id={wanted.device: str(link)})
    err = refused(info, wanted, "resolves to")
    assert err.message == (
        f"refusing {link}: it resolves to {other.device}, but the runtime info has {wanted.device}"
    )
    # Named by its kernel path, the disk is refused too while its by-id link points elsewhere.
    info2, _ = runtime_info_for(
        wanted, by_id={wanted.device: str(link)}, disk_to_format=wanted.device
    )
    refused(info2, wanted, "resolves to")
    link.unlink()
    refused(info, wanted, "does not exist on looptest")
    assert (wanted.sha256(), other.sha256()) == before


def test_refuses_a_disk_smaller_than_the_layout(loop_disk, runtime_info_for):
    disk: LoopDisk = loop_disk(SMALL)
    before = disk.sha256()
    info, _ = runtime_info_for(disk)
    layout = default_layout(info)
    err = refused(info, disk, "smaller than the layout needs")
    assert (
        f"{SMALL * 2**20} bytes is smaller than the layout needs ({layout.min_disk_bytes})"
        in err.message
    )
    assert disk.sha256() == before


def test_refuses_a_disk_whose_size_changed(loop_disk, runtime_info_for):
    disk: LoopDisk = loop_disk(SMALL)
    before = disk.sha256()
    info, _ = runtime_info_for(disk, sizes={disk.device: 4096 * 2**20})
    refused(info, disk, f"it has {SMALL * 2**20} bytes, the runtime info {4096 * 2**20}")
    assert disk.sha256() == before


def test_refuses_a_disk_not_in_the_runtime_info(loop_disk, runtime_info_for):
    listed: LoopDisk = loop_disk(SMALL, "listed")
    unlisted: LoopDisk = loop_disk(SMALL, "unlisted")
    before = (listed.sha256(), unlisted.sha256())
    # The model itself refuses a disk to format that is not among the collected disks ...
    with pytest.raises(InvalidValueError, match="is not among the host's disks") as caught:
        runtime_info_for(listed, disk_to_format=unlisted.device)
    assert caught.value.field == "diskToFormat"
    # ... and the installer refuses a layout that names one, whatever built it.
    info, _ = runtime_info_for(listed)
    layout = build_layout(name="default", disks=(unlisted.device,))
    err = refused(info, listed, "not one of the disks in the runtime info", layout=layout)
    assert err.message.startswith(f"refusing {unlisted.device}:")
    assert (listed.sha256(), unlisted.sha256()) == before


def test_refuses_a_partition(loop_disk, runtime_info_for):
    disk: LoopDisk = loop_disk(SMALL)
    part = with_filesystem(disk)
    before = disk.sha256()
    info, _ = runtime_info_for(disk)
    info = info.__class__(
        **{
            **{a: getattr(info, a) for a in ("host_name", "host_id")},
            "disk_to_format": part,
            "disks": (*info.disks, Disk(path=part, size_bytes=64 * 2**20)),
        }
    )
    refused(info, disk, "is a part, not a whole disk")
    assert disk.sha256() == before


def test_refuses_without_confirmation(loop_disk, runtime_info_for):
    disk: LoopDisk = loop_disk(FITS)
    before = disk.sha256()
    info, path = runtime_info_for(disk)
    layout = default_layout(info)
    # No --yes and no terminal to ask on.
    proc = subprocess.run(
        ["nixremote", "disk", "apply", str(path)],
        capture_output=True,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert proc.returncode == 4
    assert "without confirmation" in proc.stderr.decode()
    # The key on stdin leaves no way to type the host name: still refused.
    proc = subprocess.run(
        ["nixremote", "disk", "apply", str(path)],
        capture_output=True,
        input=b"a good passphrase\n",
        check=False,
    )
    assert proc.returncode == 4
    assert "without confirmation" in proc.stderr.decode()
    with pytest.raises(SafetyError, match="typed 'lopptest', not 'looptest'"):
        confirm(info, layout, yes=False, ask=lambda prompt: "lopptest")
    confirm(info, layout, yes=False, ask=lambda prompt: "looptest\n")  # the right name passes
    assert disk.sha256() == before


def test_dry_run_changes_nothing(loop_disk, runtime_info_for):
    disk: LoopDisk = loop_disk(FITS)
    with_filesystem(disk)
    before = disk.sha256()
    _, path = runtime_info_for(disk)
    proc = subprocess.run(
        ["nixremote", "disk", "apply", str(path), "--dry-run", "--json"],
        capture_output=True,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    lines = proc.stdout.decode().splitlines()
    # Every step of the plan (32: a kernel path needs no `udevadm settle`), none run.
    steps = [json.loads(line) for line in lines]
    assert len([e for e in steps if e["kind"] == "step" and e["data"].get("dryRun") is True]) == 32
    assert steps[-1]["kind"] == "result" and steps[-1]["data"]["dryRun"] is True
    assert disk.sha256() == before


def test_check_layout_accepts_a_good_disk(loop_disk, runtime_info_for):
    disk: LoopDisk = loop_disk(2048)
    info, _ = runtime_info_for(disk)
    (state,) = check_layout(info, default_layout(info), LocalTransport())
    assert state.name == Path(disk.device).name
    assert state.size_bytes == disk.size_bytes
    assert state.mountpoints == ()


def test_parse_lsblk_old_and_new_output():
    new = (
        '{"blockdevices": [{"name": "vda", "kname": "vda", "type": "disk", "size": 1000,'
        ' "mountpoints": [null], "children": [{"name": "vda1", "kname": "vda1",'
        ' "type": "part", "size": 900, "mountpoints": ["/", "/var/lib/x"]}]}]}'
    )
    state = disk_state(new)
    assert state.devices == ("vda", "vda1")
    assert state.mountpoints == (("vda1", "/"), ("vda1", "/var/lib/x"))
    old = (
        '{"blockdevices": [{"name": "sda", "type": "disk", "size": "2000",'
        ' "mountpoint": null, "children": [{"name": "sda2", "type": "part", "size": "10",'
        ' "mountpoint": "[SWAP]", "children": [{"name": "md0", "type": "raid1",'
        ' "size": "10", "mountpoint": null}]}]}]}'
    )
    state = disk_state(old)
    assert state.size_bytes == 2000
    assert state.devices == ("sda", "sda2", "md0")
    assert state.mountpoints == (("sda2", "[SWAP]"),)
    with pytest.raises(ValueError):
        disk_state('{"blockdevices": []}')


def _apply_on_a_terminal(path: Path, answer: bytes, *extra: str) -> tuple[int, str]:
    """Run `nixremote disk apply` with a pseudo-terminal as its stdin/stdout/stderr, answer
    the confirmation prompt, return (exit code, everything it printed)."""
    import os
    import pty

    master, slave = pty.openpty()
    proc = subprocess.Popen(
        ["nixremote", "disk", "apply", str(path), *extra],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        close_fds=True,
    )
    os.close(slave)
    seen = b""
    answered = False
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
        if not answered and b"Type the host name" in seen:
            os.write(master, answer)
            answered = True
    os.close(master)
    return proc.wait(timeout=120), seen.decode("utf-8", "replace")


def test_typing_the_host_name_confirms(loop_disk, runtime_info_for):
    disk: LoopDisk = loop_disk(FITS)
    before = disk.sha256()
    _, path = runtime_info_for(disk)
    stages = ("--stage", "wipe", "--stage", "partition")
    code, out = _apply_on_a_terminal(path, b"looptest-typo\n", *stages)
    assert code == 4, out
    assert "confirmation failed: typed 'looptest-typo', not 'looptest'" in out
    assert disk.sha256() == before
    code, out = _apply_on_a_terminal(path, b"looptest\n", *stages)
    assert code == 0, out
    assert f"This erases {disk.device} on looptest" in out
    assert disk.sha256() != before
    table = run("sgdisk", "-p", disk.device)
    assert re.search(r"^\s+2\s+34\s+2047\s", table, re.M)


def _this_machines_macs() -> set[str]:
    return {
        p.read_text().strip()
        for p in Path("/sys/class/net").glob("*/address")
        if p.read_text().strip() not in ("", "00:00:00:00:00:00")
    }


def test_identity_check_before_the_first_destructive_step(loop_disk, runtime_info_for, tmp_path):  # type: ignore[no-untyped-def]
    """The installer refuses a plan made for another host: a marker of another plan, a MAC that
    is not here, a disk of another size or serial; the disk stays untouched."""
    import attrs

    from nixremote.core.converter import plan_digest
    from nixremote.core.models import Interface
    from nixremote.core.plan import PlannedDisk, build_plan
    from nixremote.installers.safety import check_identity

    disk: LoopDisk = loop_disk(SMALL)
    info, _ = runtime_info_for(disk)
    mac = sorted(_this_machines_macs())[0]
    info = attrs.evolve(info, interfaces=(Interface(name="eth0", mac=mac),))
    plan = build_plan(info, default_layout(info))
    marker = tmp_path / "nixremote-installer.json"
    marker.write_text(f'{{"planSha256": "{plan_digest(plan)}"}}')
    before = disk.sha256()
    host = LocalTransport()
    check_identity(plan, host, marker=marker)  # this is the planned host

    with pytest.raises(SafetyError, match="not booted by nixremote's kexec"):
        check_identity(plan, host, marker=tmp_path / "absent.json")
    marker.write_text('{"planSha256": "0000"}')
    with pytest.raises(SafetyError, match="booted for another plan"):
        check_identity(plan, host, marker=marker)
    other = attrs.evolve(plan, identity=attrs.evolve(plan.identity, macs=("02:00:00:00:00:99",)))
    with pytest.raises(SafetyError, match="no NIC with the planned MAC 02:00:00:00:00:99"):
        check_identity(other, host, marker=None)
    (planned,) = plan.identity.disks
    for changed, message in (
        (attrs.evolve(planned, size_bytes=planned.size_bytes + 512), "bytes, the plan says"),
        (attrs.evolve(planned, serial="SERIAL-OF-ANOTHER"), "serial None, the plan says"),
        (PlannedDisk(path="/dev/disk/by-id/nonexistent", device="/dev/sdz"), "does not exist"),
    ):
        drifted = attrs.evolve(plan, identity=attrs.evolve(plan.identity, disks=(changed,)))
        with pytest.raises(SafetyError, match=message):
            check_identity(drifted, host, marker=None)
    assert disk.sha256() == before
