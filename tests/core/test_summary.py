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
