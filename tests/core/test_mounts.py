"""The mount table parser (both sides)."""

from __future__ import annotations

from pathlib import Path

from nixremote.core.mounts import filesystem_type, mounts_under, parse_mountinfo

MOUNTINFO = """\
22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda1 rw
25 22 0:21 / /run rw,nosuid,nodev shared:5 - tmpfs tmpfs rw,size=401812k,mode=755
40 25 0:33 / /run/nixremote rw,relatime shared:20 - tmpfs nixremote rw,mode=700
41 22 0:34 / /mnt rw,relatime - zfs rpool/local/root rw
42 41 0:35 / /mnt/nix rw,relatime - zfs rpool/local/nix rw
43 41 0:36 / /mnt/my\\040boot rw,relatime - vfat /dev/sda3 rw
44 22 0:37 / /mnt2 rw,relatime - tmpfs tmpfs rw
"""


def test_mountinfo_parsing_and_prefixes() -> None:
    mounts = parse_mountinfo(MOUNTINFO)
    assert [m.target for m in mounts][-2:] == ["/mnt/my boot", "/mnt2"]  # \040 is a space
    assert mounts[3].source == "rpool/local/root" and mounts[3].fstype == "zfs"
    assert [m.target for m in mounts_under("/mnt", MOUNTINFO)] == [
        "/mnt",
        "/mnt/nix",
        "/mnt/my boot",
    ]
    assert mounts_under("/srv", MOUNTINFO) == ()
    assert filesystem_type(Path("/run/nixremote/disk.key"), MOUNTINFO) == "tmpfs"
    assert filesystem_type(Path("/root/disk.key"), MOUNTINFO) == "ext4"
    assert filesystem_type(Path("/mnt/nix/store"), MOUNTINFO) == "zfs"
