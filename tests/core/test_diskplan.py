"""The disk plan as data: exact argv of every step, layouts by name, JSON of the plan.

The pool and dataset steps cannot run here (this kernel has no ZFS; they run in the VM test), so
they are checked as argv; the executor's tests are in ``tests/installers/test_execute.py``.
"""

from __future__ import annotations

import attrs
import pytest

from helpers.diskplans import DISK, INFO, ORIGINAL_ARGV, info_with
from nixremote.core.converter import structure, unstructure
from nixremote.core.diskplan import (
    STAGES,
    layout_mounts,
    partition_path,
    plan,
    plan_to_json_data,
)
from nixremote.core.errors import PlanError
from nixremote.core.layout import KEY_FILE, DiskLayout, LayoutOptions, default_layout
from nixremote.core.models import BootMode, Disk
from nixremote.core.plugins import get_plugin_manager


def test_default_plan_is_the_original_nuke_disk_step_by_step():
    steps = plan(default_layout(INFO))
    assert [s.argv for s in steps] == ORIGINAL_ARGV
    assert [s.stage for s in steps] == sorted((s.stage for s in steps), key=STAGES.index)
    assert all(s.description for s in steps)
    # Only the key step gets the key, and it is the one that writes the file.
    assert [s.argv for s in steps if s.stdin_secret] == [ORIGINAL_ARGV[15]]
    assert [s.argv for s in steps if s.always] == [("shred", "-u", KEY_FILE)]


def test_partition_device_names():
    assert partition_path(DISK, 1) == f"{DISK}-part1"
    assert partition_path("/dev/disk/by-path/pci-0000:00:04.0", 3).endswith(".0-part3")
    assert partition_path("/dev/loop7", 3) == "/dev/loop7p3"
    assert partition_path("/dev/nvme0n1", 1) == "/dev/nvme0n1p1"
    assert partition_path("/dev/mmcblk0", 2) == "/dev/mmcblk0p2"
    assert partition_path("/dev/sda", 1) == "/dev/sda1"
    assert partition_path("/dev/vdb", 3) == "/dev/vdb3"


def test_kernel_paths_need_no_udev_settle():
    info = info_with(Disk(path="/dev/nvme0n1", size_bytes=20 * 2**30))
    argvs = [s.argv for s in plan(default_layout(info))]
    assert ("partprobe", "--", "/dev/nvme0n1") in argvs
    assert ("udevadm", "settle") not in argvs
    assert ("mkfs.vfat", "-F", "32", "--", "/dev/nvme0n1p3") in argvs


def test_variants_as_plans():
    uefi = [s.argv for s in plan(default_layout(INFO, LayoutOptions(variant="uefi")))]
    assert not any("-t2:EF02" in a for a in uefi)
    assert ("sgdisk", "-a1", "-n3:1M:+512M", "-t3:EF00", "--", DISK) in uefi
    bios = [s.argv for s in plan(default_layout(INFO, LayoutOptions(variant="bios")))]
    assert ("sgdisk", "-a1", "-n3:1M:+512M", "-t3:8300", "--", DISK) in bios
    assert ("sgdisk", "-a1", "-n2:34:2047", "-t2:EF02", "--", DISK) in bios
    assert ("mount", "-t", "vfat", "--", f"{DISK}-part3", "/mnt/boot") in bios

    plain = plan(default_layout(INFO, LayoutOptions(variant="unencrypted")))
    create = next(s.argv for s in plain if s.stage == "pool")
    assert not any(a.startswith(("encryption=", "keyformat=", "keylocation=")) for a in create)
    assert not any(s.stdin_secret or s.stage in ("key", "keylocation", "cleanup") for s in plain)
    assert ("findmnt", "-n", "-o", "FSTYPE", "-T", "/run/nixremote") not in [s.argv for s in plain]


def test_auto_follows_the_boot_mode():
    for boot, has_bios_boot, esp_code in (
        (BootMode.UEFI, False, "EF00"),
        (BootMode.BIOS, True, "8300"),
        (BootMode.UNKNOWN, True, "EF00"),
    ):
        info = attrs.evolve(INFO, boot_mode=boot)
        layout = default_layout(info, LayoutOptions(variant="auto"))
        codes = {p.number: p.type_code for p in layout.disks[0].partitions}
        assert (2 in codes) is has_bios_boot
        assert codes[3] == esp_code
        assert codes[1] == "BF01"


def test_mirror_picks_the_disk_of_equal_size_or_refuses():
    second = "/dev/disk/by-id/scsi-0QEMU_QEMU_HARDDISK_drive-scsi0-0-0-1"
    info = info_with(
        Disk(path="/dev/sda", by_id=DISK, size_bytes=20 * 2**30),
        Disk(path="/dev/sdb", by_id=second, size_bytes=20 * 2**30),
        Disk(path="/dev/sdc", size_bytes=8 * 2**30),
    )
    layout = default_layout(info, LayoutOptions(variant="mirror"))
    assert [d.path for d in layout.disks] == [DISK, second]
    steps = plan(layout)
    create = next(s.argv for s in steps if s.stage == "pool")
    assert create[-4:] == ("rpool", "mirror", f"{DISK}-part1", f"{second}-part1")
    assert ("mount", "-t", "vfat", "--", f"{second}-part3", "/mnt/boot-fallback") in [
        s.argv for s in steps
    ]
    assert ("sgdisk", "--zap-all", "--", second) in [s.argv for s in steps]
    with pytest.raises(PlanError, match="second disk"):
        default_layout(INFO, LayoutOptions(variant="mirror"))
    with pytest.raises(PlanError, match="same disk is named twice"):
        default_layout(INFO, LayoutOptions(variant="mirror", disks=(DISK,)))


def test_the_generic_plugin_answers_the_disk_layout_hook():
    pm = get_plugin_manager(autoload=False)
    layout = pm.hooks.disk_layout(info=INFO, options=LayoutOptions())
    assert layout == default_layout(INFO)
    assert layout.pool.name == "rpool"
    assert [d.name for d in layout.datasets] == [
        "local/root",
        "local/nix",
        "safe/home",
        "safe/persist",
    ]
    assert layout.datasets[0].snapshots == ("blank",)


def test_layout_round_trips_through_the_converter():
    layout = default_layout(INFO, LayoutOptions(variant="mirror", disks=("/dev/sdz",)))
    data = unstructure(layout)
    assert list(data["pool"]["rootOptions"][0]) == ["mountpoint", "legacy"]
    assert data["disks"][0]["partitions"][0]["typeCode"] == "EF02"
    assert structure(data, DiskLayout) == layout
    assert LayoutOptions(variant="bios") == structure({"variant": "bios"}, LayoutOptions)
    with pytest.raises(ValueError):
        LayoutOptions(variant="raid7")


def test_plan_json_marks_the_secret_step():
    items = plan_to_json_data(plan(default_layout(INFO)))
    assert [i["index"] for i in items] == list(range(1, len(ORIGINAL_ARGV) + 1))
    assert next(i for i in items if i.get("stdinSecret"))["argv"][0] == "install"
    assert items[1]["expectStdout"] == "tmpfs"


@pytest.mark.parametrize("variant", ["default", "uefi", "bios", "unencrypted"])
def test_resume_mounts_are_the_disk_plans_mounts(variant: str) -> None:
    layout = default_layout(INFO, LayoutOptions(variant=variant))
    from_plan = [s.argv for s in plan(layout) if s.stage == "mount" and s.argv[0] == "mount"]
    assert [argv for _target, argv in layout_mounts(layout)] == from_plan
    assert layout_mounts(layout)[0][0] == "/mnt"
