"""``nixremote disk plan`` and ``disk disko`` on runtime-info files, and the disko export parsed
and evaluated by Nix's own tools (``nix-instantiate`` from Debian's nix-bin)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from helpers.json_output import result_data
from nixremote.controller.disko import layout_to_disko, nix_string, render, to_nix
from nixremote.core.converter import load_runtime_info, save_runtime_info
from nixremote.core.layout import LAYOUTS, LayoutOptions, default_layout
from nixremote.core.models import Disk, RuntimeInfo

DATA = Path(__file__).parent.parent / "data"
ORIGINAL = DATA / "original-runtime-info.json"
DISK = "/dev/disk/by-id/scsi-0QEMU_QEMU_HARDDISK_drive-scsi0-0-0-0"


def nixremote(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["nixremote", *args], capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False
    )


def test_plan_of_an_original_runtime_info_prints_the_original_layout():
    info = load_runtime_info(ORIGINAL)
    assert info.disks == ()  # the legacy field set: diskToFormat only
    proc = nixremote("disk", "plan", str(ORIGINAL))
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert out.startswith("disk plan for legacy1: 33 steps\n")
    assert "    partition 2: EF02 BIOS boot, 34..2047\n" in out
    assert "    partition 3: EF00 EFI system, 1M..+512M, vfat\n" in out
    assert "    partition 1: BF01 ZFS pool, the rest of the disk\n" in out
    commands = [line.split("$ ", 1)[1] for line in out.splitlines() if "    $ " in line]
    original = [
        f"sgdisk --zap-all -- {DISK}",
        f"sgdisk -a1 -n2:34:2047 -t2:EF02 -- {DISK}",
        f"sgdisk -a1 -n3:1M:+512M -t3:EF00 -- {DISK}",
        f"sgdisk -a1 -n1:0:0 -t1:BF01 -- {DISK}",
        f"partprobe -- {DISK}",
        f"mkfs.vfat -F 32 -- {DISK}-part3",
        "zpool create -o ashift=12 -o altroot=/mnt -O mountpoint=legacy -O atime=off "
        "-O acltype=posixacl -O xattr=sa -O compression=on -O encryption=on "
        "-O keyformat=passphrase -O keylocation=file:///run/nixremote/disk.key "
        f"-- rpool {DISK}-part1",
        "zfs create -p -o mountpoint=legacy rpool/local/root",
        "zfs snapshot rpool/local/root@blank",
        "zfs create -p -o mountpoint=legacy rpool/local/nix",
        "zfs create -p -o mountpoint=legacy rpool/safe/home",
        "zfs create -p -o mountpoint=legacy rpool/safe/persist",
        "zfs set keylocation=prompt rpool",
        "shred -u /run/nixremote/disk.key",
        "mount -t zfs rpool/local/root /mnt",
        f"mount -t vfat -- {DISK}-part3 /mnt/boot",
        "mount -t zfs rpool/local/nix /mnt/nix",
        "mount -t zfs rpool/safe/home /mnt/home",
        "mount -t zfs rpool/safe/persist /mnt/persist",
    ]
    positions = [commands.index(c) for c in original]
    # The original's order, except that mounts go parents first then by name.
    assert positions[:15] == sorted(positions[:15])
    assert positions[14] < min(positions[15:])
    assert len(commands) == 33
    assert (
        "[key] write the disk key from stdin to /run/nixremote/disk.key (mode 0600)  "
        "(key on stdin)" in out
    )


def test_plan_json():
    proc = nixremote("disk", "plan", str(ORIGINAL), "--json")
    assert proc.returncode == 0, proc.stderr
    data = result_data(proc.stdout)
    assert data["host"] == "legacy1"
    assert data["layout"]["name"] == "default"
    assert data["layout"]["pool"]["encrypted"] is True
    assert [p["typeCode"] for p in data["layout"]["disks"][0]["partitions"]] == [
        "EF02",
        "EF00",
        "BF01",
    ]
    steps = data["steps"]
    assert len(steps) == 33
    secret = [s for s in steps if s.get("stdinSecret")]
    assert [s["argv"] for s in secret] == [
        ["install", "-m", "0600", "/dev/stdin", "/run/nixremote/disk.key"]
    ]


def test_plan_layouts_and_errors(tmp_path):
    for variant in ("uefi", "bios", "unencrypted", "auto"):
        proc = nixremote("disk", "plan", str(ORIGINAL), "--layout", variant)
        assert proc.returncode == 0, proc.stderr
        assert f"layout {variant}:" in proc.stdout
    proc = nixremote("disk", "plan", str(ORIGINAL), "--layout", "mirror")
    assert proc.returncode == 1
    assert proc.stderr == (
        "error: a mirror needs a second disk; found 0 candidates of the same "
        "size (name it with --disk)\n"
    )
    # --disk names the disks to format, the first being the disk to format: a mirror of two
    first = "/dev/disk/by-id/scsi-0QEMU_QEMU_HARDDISK_drive-scsi0-0-0-0"
    proc = nixremote(
        "disk", "plan", str(ORIGINAL), "--disk", first, "--disk", "/dev/disk/by-id/ata-SECOND"
    )
    assert proc.returncode == 0, proc.stderr
    assert "rpool mirror " in proc.stdout
    assert f"disk {first}" in proc.stdout and "disk /dev/disk/by-id/ata-SECOND" in proc.stdout
    # the same disk twice is no mirror
    proc = nixremote("disk", "plan", str(ORIGINAL), "--disk", first, "--disk", first)
    assert proc.returncode == 1
    assert "cannot mirror itself" in proc.stderr
    bad = tmp_path / "bad.json"
    bad.write_text('{"hostName": "x"}')
    proc = nixremote("disk", "plan", str(bad))
    assert proc.returncode == 2
    assert "required field missing @ $.hostId" in proc.stderr
    assert "Traceback" not in proc.stderr


def nix_eval(path: Path, attr: str) -> object:
    proc = subprocess.run(
        [
            "nix-instantiate",
            "--eval",
            "--strict",
            "--json",
            "-E",
            f"(import {path} {{ }}).disko.devices{attr}",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.parametrize("variant", [v for v in LAYOUTS if v != "mirror"] + ["mirror"])
def test_disko_export_parses_and_evaluates(tmp_path, variant):
    disks = (
        Disk(path="/dev/sda", by_id=DISK, size_bytes=20 * 2**30),
        Disk(path="/dev/sdb", by_id=DISK[:-1] + "1", size_bytes=20 * 2**30),
    )
    info = RuntimeInfo(host_name="web1", host_id="deadbeef", disk_to_format=DISK, disks=disks)
    info_path = tmp_path / "runtime-info.json"
    save_runtime_info(info, info_path)
    proc = nixremote("disk", "disko", str(info_path), "--layout", variant)
    assert proc.returncode == 0, proc.stderr
    nix = tmp_path / "disko.nix"
    nix.write_text(proc.stdout)
    parsed = subprocess.run(
        ["nix-instantiate", "--parse", str(nix)], capture_output=True, text=True, check=False
    )
    assert parsed.returncode == 0, parsed.stderr
    layout = default_layout(info, LayoutOptions(variant=variant))
    # Nix reads back exactly the data we meant to write.
    assert nix_eval(nix, "") == json.loads(json.dumps(layout_to_disko(layout)))
    main = nix_eval(nix, ".disk.main")
    assert main["device"] == DISK
    parts = main["content"]["partitions"]
    assert parts["zfs"] == {
        "priority": 1,
        "type": "BF01",
        "start": "513M",
        "end": "-0",
        "alignment": 1,
        "content": {"type": "zfs", "pool": "rpool"},
    }
    pool = nix_eval(nix, ".zpool.rpool")
    assert pool["options"] == {"ashift": "12"}
    assert pool["datasets"]["local/root"]["postCreateHook"] == "zfs snapshot rpool/local/root@blank"
    assert pool["mode"] == ("mirror" if variant == "mirror" else "")
    if variant == "unencrypted":
        assert "encryption" not in pool["rootFsOptions"]
        assert "postCreateHook" not in pool
    else:
        assert pool["rootFsOptions"]["keylocation"] == "file:///run/nixremote/disk.key"
        assert pool["postCreateHook"] == "zfs set keylocation=prompt rpool"
    if variant in ("default", "unencrypted", "mirror"):
        assert parts["bios"] == {
            "priority": 2,
            "type": "EF02",
            "start": "34",
            "end": "2047",
            "alignment": 1,
        }
        assert parts["ESP"]["content"]["mountpoint"] == "/boot"


def test_nix_rendering_escapes(tmp_path):
    tricky = 'a "quoted" ${not.interpolated} back\\slash\nline'
    text = to_nix({"x": tricky, "in": [1, True, None], "a b": {}})
    path = tmp_path / "t.nix"
    path.write_text(text)
    proc = subprocess.run(
        ["nix-instantiate", "--eval", "--strict", "--json", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"x": tricky, "in": [1, True, None], "a b": {}}
    assert nix_string("${x}") == '"\\${x}"'
    assert (
        render(
            default_layout(
                RuntimeInfo(host_name="h", host_id="00000000", disk_to_format="/dev/vda")
            )
        ).count("{ ... }:")
        == 1
    )
