"""Sample runtime info and the original installer's disk plan, for the disk plan tests, and a
test double for a host with ZFS (this kernel has none)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import attrs

from helpers.keys import KEYS
from nixremote.core.models import BootMode, Disk, RuntimeInfo
from nixremote.core.transport import CommandResult

DISK = "/dev/disk/by-id/scsi-0QEMU_QEMU_HARDDISK_drive-scsi0-0-0-0"
KEY = b"correct horse battery staple"


def info_with(*disks: Disk, boot: BootMode = BootMode.UNKNOWN) -> RuntimeInfo:
    return RuntimeInfo(
        host_name="web1",
        host_id="deadbeef",
        disk_to_format=disks[0].stable_path,
        disks=disks,
        boot_mode=boot,
        root_authorized_keys=(f"{KEYS[0]} root@web1",),
    )


INFO = info_with(Disk(path="/dev/sda", by_id=DISK, size_bytes=20 * 2**30))

ORIGINAL_ARGV = [
    ("mkdir", "-p", "-m", "0700", "/run/nixremote"),
    ("findmnt", "-n", "-o", "FSTYPE", "-T", "/run/nixremote"),
    ("zpool", "version"),
    ("wipefs", "-a", "--", DISK),
    ("sgdisk", "--zap-all", "--", DISK),
    ("sgdisk", "-a1", "-n2:34:2047", "-t2:EF02", "--", DISK),
    ("sgdisk", "-a1", "-n3:1M:+512M", "-t3:EF00", "--", DISK),
    ("sgdisk", "-a1", "-n1:0:0", "-t1:BF01", "--", DISK),
    ("partprobe", "--", DISK),
    ("udevadm", "settle"),
    ("zpool", "labelclear", "-f", "--", f"{DISK}-part1"),
    ("wipefs", "-a", "--", f"{DISK}-part1"),
    ("wipefs", "-a", "--", f"{DISK}-part2"),
    ("wipefs", "-a", "--", f"{DISK}-part3"),
    ("mkfs.vfat", "-F", "32", "--", f"{DISK}-part3"),
    ("install", "-m", "0600", "/dev/stdin", "/run/nixremote/disk.key"),
    (
        "zpool",
        "create",
        "-o",
        "ashift=12",
        "-o",
        "altroot=/mnt",
        "-O",
        "mountpoint=legacy",
        "-O",
        "atime=off",
        "-O",
        "acltype=posixacl",
        "-O",
        "xattr=sa",
        "-O",
        "compression=on",
        "-O",
        "encryption=on",
        "-O",
        "keyformat=passphrase",
        "-O",
        "keylocation=file:///run/nixremote/disk.key",
        "--",
        "rpool",
        f"{DISK}-part1",
    ),
    ("zfs", "create", "-p", "-o", "mountpoint=legacy", "rpool/local/root"),
    ("zfs", "snapshot", "rpool/local/root@blank"),
    ("zfs", "create", "-p", "-o", "mountpoint=legacy", "rpool/local/nix"),
    ("zfs", "create", "-p", "-o", "mountpoint=legacy", "rpool/safe/home"),
    ("zfs", "create", "-p", "-o", "mountpoint=legacy", "rpool/safe/persist"),
    ("zfs", "set", "keylocation=prompt", "rpool"),
    ("shred", "-u", "/run/nixremote/disk.key"),
    ("mount", "-t", "zfs", "rpool/local/root", "/mnt"),
    ("mkdir", "-p", "/mnt/boot"),
    ("mount", "-t", "vfat", "--", f"{DISK}-part3", "/mnt/boot"),
    ("mkdir", "-p", "/mnt/home"),
    ("mount", "-t", "zfs", "rpool/safe/home", "/mnt/home"),
    ("mkdir", "-p", "/mnt/nix"),
    ("mount", "-t", "zfs", "rpool/local/nix", "/mnt/nix"),
    ("mkdir", "-p", "/mnt/persist"),
    ("mount", "-t", "zfs", "rpool/safe/persist", "/mnt/persist"),
]


@attrs.define
class RecordingTransport:
    """Test double for a host with ZFS: records (argv, stdin), succeeds unless told to fail."""

    fail_on: tuple[str, ...] | None = None
    stdout: dict[tuple[str, ...], bytes] = attrs.field(factory=dict)
    calls: list[tuple[tuple[str, ...], bytes | None]] = attrs.field(factory=list)

    @property
    def host(self) -> str:
        return "recording"

    def run(
        self,
        argv: Sequence[str],
        *,
        stdin: bytes | None = None,
        timeout: float | None = None,
        check: bool = True,
        on_line=None,
    ) -> CommandResult:
        args = tuple(argv)
        self.calls.append((args, stdin))
        failed = self.fail_on is not None and args[: len(self.fail_on)] == self.fail_on
        out = self.stdout.get(args, b"tmpfs\n" if args[0] == "findmnt" else b"")
        return CommandResult(
            argv=args,
            returncode=1 if failed else 0,
            stdout=out,
            stderr=b"cannot create 'rpool': pool already exists\n" if failed else b"",
        )

    def put(self, local: Path, remote: str, *, mode: int | None = None) -> None:
        raise NotImplementedError

    def get(self, remote: str, local: Path) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass
