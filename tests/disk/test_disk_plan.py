"""The disk plan as data: exact argv of every step, the key never in argv, and the executor.

The pool and dataset steps cannot run here (this kernel has no ZFS; they run in the VM test), so
they are checked as argv. Where the executor must be seen running them, :class:`RecordingTransport`
stands in for a host with ZFS: a test double, named as such, that records each command and its
stdin and answers with success (or the failure a test asks for).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from pathlib import Path

import attrs
import pytest

from nixremote.core.converter import structure, unstructure
from nixremote.core.errors import CommandFailedError, PlanError
from nixremote.core.models import BootMode, Disk, RuntimeInfo
from nixremote.core.plugins import get_plugin_manager
from nixremote.core.progress import Event
from nixremote.core.transport import CommandResult, LocalTransport
from nixremote.installers.diskplan import (
    STAGES,
    Step,
    execute,
    normalize_key,
    partition_path,
    plan,
    plan_to_json_data,
    select,
)
from nixremote.installers.layout import (
    KEY_FILE,
    DiskLayout,
    LayoutOptions,
    choose_layout,
    default_layout,
)

DISK = "/dev/disk/by-id/scsi-0QEMU_QEMU_HARDDISK_drive-scsi0-0-0-0"
KEY = b"correct horse battery staple"


def info_with(*disks: Disk, boot: BootMode = BootMode.UNKNOWN) -> RuntimeInfo:
    return RuntimeInfo(host_name="web1", host_id="deadbeef", disk_to_format=disks[0].stable_path,
                       disks=disks, boot_mode=boot)


INFO = info_with(Disk(path="/dev/sda", by_id=DISK, size_bytes=20 * 2**30))

ORIGINAL_ARGV = [
    ("mkdir", "-p", "-m", "0700", "/run/nixremote"),
    ("findmnt", "-n", "-o", "FSTYPE", "-T", "/run/nixremote"),
    ("zpool", "version"),
    ("wipefs", "-a", DISK),
    ("sgdisk", "--zap-all", DISK),
    ("sgdisk", "-a1", "-n2:34:2047", "-t2:EF02", DISK),
    ("sgdisk", "-a1", "-n3:1M:+512M", "-t3:EF00", DISK),
    ("sgdisk", "-a1", "-n1:0:0", "-t1:BF01", DISK),
    ("partprobe", DISK),
    ("udevadm", "settle"),
    ("zpool", "labelclear", "-f", f"{DISK}-part1"),
    ("wipefs", "-a", f"{DISK}-part1"),
    ("wipefs", "-a", f"{DISK}-part2"),
    ("wipefs", "-a", f"{DISK}-part3"),
    ("mkfs.vfat", "-F", "32", f"{DISK}-part3"),
    ("install", "-m", "0600", "/dev/stdin", "/run/nixremote/disk.key"),
    ("zpool", "create", "-o", "ashift=12", "-o", "altroot=/mnt", "-O", "mountpoint=legacy",
     "-O", "atime=off", "-O", "acltype=posixacl", "-O", "xattr=sa", "-O", "compression=on",
     "-O", "encryption=on", "-O", "keyformat=passphrase",
     "-O", "keylocation=file:///run/nixremote/disk.key", "rpool", f"{DISK}-part1"),
    ("zfs", "create", "-p", "-o", "mountpoint=legacy", "rpool/local/root"),
    ("zfs", "snapshot", "rpool/local/root@blank"),
    ("zfs", "create", "-p", "-o", "mountpoint=legacy", "rpool/local/nix"),
    ("zfs", "create", "-p", "-o", "mountpoint=legacy", "rpool/safe/home"),
    ("zfs", "create", "-p", "-o", "mountpoint=legacy", "rpool/safe/persist"),
    ("zfs", "set", "keylocation=prompt", "rpool"),
    ("shred", "-u", "/run/nixremote/disk.key"),
    ("mount", "-t", "zfs", "rpool/local/root", "/mnt"),
    ("mkdir", "-p", "/mnt/boot"),
    ("mount", "-t", "vfat", f"{DISK}-part3", "/mnt/boot"),
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

    def run(self, argv: Sequence[str], *, stdin: bytes | None = None,
            timeout: float | None = None, check: bool = True, on_line=None) -> CommandResult:
        args = tuple(argv)
        self.calls.append((args, stdin))
        failed = self.fail_on is not None and args[: len(self.fail_on)] == self.fail_on
        out = self.stdout.get(args, b"tmpfs\n" if args[0] == "findmnt" else b"")
        return CommandResult(argv=args, returncode=1 if failed else 0, stdout=out,
                             stderr=b"cannot create 'rpool': pool already exists\n"
                             if failed else b"")

    def put(self, local: Path, remote: str, *, mode: int | None = None) -> None:
        raise NotImplementedError

    def get(self, remote: str, local: Path) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass


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
    assert ("partprobe", "/dev/nvme0n1") in argvs
    assert ("udevadm", "settle") not in argvs
    assert ("mkfs.vfat", "-F", "32", "/dev/nvme0n1p3") in argvs


def test_variants_as_plans():
    uefi = [s.argv for s in plan(default_layout(INFO, LayoutOptions(variant="uefi")))]
    assert not any("-t2:EF02" in a for a in uefi)
    assert ("sgdisk", "-a1", "-n3:1M:+512M", "-t3:EF00", DISK) in uefi
    bios = [s.argv for s in plan(default_layout(INFO, LayoutOptions(variant="bios")))]
    assert ("sgdisk", "-a1", "-n3:1M:+512M", "-t3:8300", DISK) in bios
    assert ("sgdisk", "-a1", "-n2:34:2047", "-t2:EF02", DISK) in bios
    assert ("mount", "-t", "vfat", f"{DISK}-part3", "/mnt/boot") in bios

    plain = plan(default_layout(INFO, LayoutOptions(variant="unencrypted")))
    create = next(s.argv for s in plain if s.stage == "pool")
    assert not any(a.startswith(("encryption=", "keyformat=", "keylocation=")) for a in create)
    assert not any(s.stdin_secret or s.stage in ("key", "keylocation", "cleanup") for s in plain)
    assert ("findmnt", "-n", "-o", "FSTYPE", "-T", "/run/nixremote") not in [s.argv for s in plain]


def test_auto_follows_the_boot_mode():
    for boot, has_bios_boot, esp_code in ((BootMode.UEFI, False, "EF00"),
                                          (BootMode.BIOS, True, "8300"),
                                          (BootMode.UNKNOWN, True, "EF00")):
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
    assert ("mount", "-t", "vfat", f"{second}-part3", "/mnt/boot-fallback") in [
        s.argv for s in steps]
    assert ("sgdisk", "--zap-all", second) in [s.argv for s in steps]
    with pytest.raises(PlanError, match="second disk"):
        default_layout(INFO, LayoutOptions(variant="mirror"))
    with pytest.raises(PlanError, match="same disk is named twice"):
        default_layout(INFO, LayoutOptions(variant="mirror", disks=(DISK,)))


def test_the_generic_plugin_answers_the_disk_layout_hook():
    pm = get_plugin_manager(autoload=False)
    layout = pm.hook.disk_layout(info=INFO, options=LayoutOptions())
    assert layout == default_layout(INFO)
    assert layout.pool.name == "rpool"
    assert [d.name for d in layout.datasets] == [
        "local/root", "local/nix", "safe/home", "safe/persist"]
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


def test_the_key_reaches_only_the_stdin_of_the_key_step():
    host = RecordingTransport()
    events: list[Event] = []
    results = execute(plan(default_layout(INFO)), host, KEY + b"\n", events.append)
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
        execute(plan(default_layout(INFO)), host, KEY, events.append)
    err = caught.value
    assert err.argv == ORIGINAL_ARGV[16]
    assert "disk step 17/33 (create the encrypted pool rpool" in err.message
    assert "pool already exists" in err.output
    assert [argv for argv, _ in host.calls] == [*ORIGINAL_ARGV[:17], ("shred", "-u", KEY_FILE)]
    error = next(e for e in events if e.kind == "error")
    assert error.current == 17 and dict(error.data)["output"].endswith("pool already exists")


def test_a_wrong_answer_fails_an_expect_step():
    host = RecordingTransport(stdout={("findmnt", "-n", "-o", "FSTYPE", "-T", "/run/nixremote"):
                                      b"ext4\n"})
    with pytest.raises(CommandFailedError, match="expected output 'tmpfs', got 'ext4'"):
        execute(plan(default_layout(INFO)), host, KEY)
    # The key was never written, so there is nothing to shred.
    assert [argv for argv, _ in host.calls] == ORIGINAL_ARGV[:2]


def test_dry_run_runs_nothing_and_reports_every_step():
    host = RecordingTransport()
    events: list[Event] = []
    results = execute(plan(default_layout(INFO)), host, None, events.append, dry_run=True)
    assert host.calls == []
    assert {r.status for r in results} == {"dry-run"}
    assert [dict(e.data)["argv"] for e in events] == [
        Step(stage="wipe", description="x", argv=a).command for a in ORIGINAL_ARGV]


def test_keys_are_checked():
    with pytest.raises(PlanError, match="no disk key"):
        execute(plan(default_layout(INFO)), RecordingTransport(), None)
    assert normalize_key(b"12345678\r\n") == b"12345678"
    with pytest.raises(PlanError, match="8 to 512"):
        normalize_key(b"short\n")
    with pytest.raises(PlanError, match="more than one line"):
        normalize_key(b"first line\nsecond line")


def test_key_file_steps_run_for_real(tmp_path):
    """The key step writes a 0600 file from stdin; the cleanup step shreds it (real commands)."""
    key_file = tmp_path / "keys" / "disk.key"
    key_file.parent.mkdir(mode=0o700)
    layout = default_layout(INFO)
    pool = attrs.evolve(layout.pool, root_options=tuple(
        (k, f"file://{key_file}" if k == "keylocation" else v) for k, v in layout.pool.root_options
    ))
    layout = attrs.evolve(layout, pool=pool)
    steps = plan(layout)
    create = next(s for s in steps if s.stage == "pool")
    assert f"keylocation=file://{key_file}" in create.argv
    local = LocalTransport()
    execute(select(steps, ["key"]), local, KEY)
    assert key_file.read_bytes() == KEY
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    execute(select(steps, ["cleanup"]), local, None)
    assert not key_file.exists()
    with pytest.raises(PlanError, match="unknown stage"):
        select(steps, ["partition", "nuke"])


class AcmePlugin:
    """A hoster plugin that mirrors its own hosts' disks and declines everyone else's."""

    from nixremote import hookimpl

    @hookimpl
    def disk_layout(self, info: RuntimeInfo, options: LayoutOptions) -> DiskLayout | None:
        if info.hoster != "acme":
            return None
        return default_layout(info, attrs.evolve(options, variant="mirror",
                                                 disks=("/dev/disk/by-id/acme-2",)))


class BrokenPlugin:
    from nixremote import hookimpl

    @hookimpl
    def disk_layout(self, info: RuntimeInfo, options: LayoutOptions) -> object:
        return {"not": "a layout"}


def test_a_hoster_plugin_chooses_its_own_layout(nixremote_pm):
    pm = nixremote_pm(AcmePlugin())
    acme = attrs.evolve(INFO, hoster="acme")
    layout = choose_layout(acme, pm=pm)
    assert layout.pool.vdev == "mirror"
    assert [d.path for d in layout.disks] == [DISK, "/dev/disk/by-id/acme-2"]
    assert choose_layout(INFO, pm=pm) == default_layout(INFO)  # declined: the generic answer
    with pytest.raises(PlanError, match="returned dict, not a DiskLayout"):
        choose_layout(INFO, pm=nixremote_pm(BrokenPlugin()))
