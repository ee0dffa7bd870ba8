"""What a person reads before approving."""

from __future__ import annotations

from nixremote.core.models import Disk, RuntimeInfo
from nixremote.core.summary import summary_lines

INFO = RuntimeInfo(
    host_name="web1",
    host_id="0a1b2c3d",
    disk_to_format="/dev/disk/by-id/ata-DISK_1",
    disks=(Disk(path="/dev/sda", by_id="/dev/disk/by-id/ata-DISK_1", size_bytes=20 * 1024**3),),
)


def test_summary_names_the_disk_to_wipe() -> None:
    lines = summary_lines(INFO)
    assert any(
        "/dev/disk/by-id/ata-DISK_1" in line and "WIPED" in line and "20.0 GiB" in line
        for line in lines
    )
    assert lines[0].startswith("host name:   web1")


def test_a_plan_reads_at_a_glance() -> None:
    import attrs
    import pytest

    from nixremote.core.errors import PlanError
    from nixremote.core.layout import LayoutOptions, default_layout
    from nixremote.core.models import Interface, IPAddress
    from nixremote.core.plan import PluginRecord, build_plan
    from nixremote.core.summary import plan_lines

    key = (
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIH8aFSWmbgu1cW1dfNNy0uaaZwVGBrWrNwZdnzFpx+zu me@laptop"
    )
    info = attrs.evolve(
        INFO,
        disks=(
            attrs.evolve(INFO.disks[0], model="QEMU HARDDISK", serial="drive-scsi0"),
            Disk(path="/dev/sdb", by_id="/dev/disk/by-id/ata-DISK_2", size_bytes=20 * 1024**3),
        ),
        interfaces=(
            Interface(
                name="eth0",
                mac="96:00:00:12:34:56",
                ipv4=(IPAddress(address="203.0.113.7", prefix_length=32),),
            ),
        ),
    )
    layout = default_layout(info, LayoutOptions(variant="mirror"))
    plan = build_plan(
        info,
        layout,
        target="root@203.0.113.7:22",
        authorized_keys=[key],
        plugins=[PluginRecord(name="acme", version="1.0")],
    )
    text = "\n".join(plan_lines(plan))
    wipes = [line for line in plan_lines(plan) if line.startswith("WIPE:")]
    assert wipes == [
        "WIPE:      /dev/disk/by-id/ata-DISK_1 (/dev/sda, 20.0 GiB, QEMU HARDDISK, serial "
        "drive-scsi0)",
        "WIPE:      /dev/disk/by-id/ata-DISK_2 (/dev/sdb, 20.0 GiB, model unknown, no serial)",
    ]
    assert "96:00:00:12:34:56 203.0.113.7/32" in text
    assert "pool:      rpool (mirror of 2, encrypted, passphrase asked at boot)" in text
    assert "rpool/local/root -> / @blank" in text
    assert "trust:     ssh-ed25519 SHA256:" in text and "me@laptop (given)" in text
    assert "decided:   acme 1.0" in text
    # a plan that would trust no key is refused, unless for the disks alone (nixremote disk)
    keyless = attrs.evolve(info, root_authorized_keys=())
    with pytest.raises(PlanError, match="would trust no SSH key"):
        build_plan(keyless, default_layout(info))
    bare = build_plan(keyless, default_layout(info), require_authorized_keys=False)
    assert "trust:     NO SSH KEY" in "\n".join(plan_lines(bare))
