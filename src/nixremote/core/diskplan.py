"""The disk plan (nuke-disk): a :class:`~.layout.DiskLayout` as ordered commands.

:func:`plan` is pure: it turns a layout into :class:`Step` s (a description and an argv tuple),
the same on the controller (to show what will happen) and in the installer (to do it). The steps
reproduce the original installer's ``nuke-disk.sh``: wipe, partition with sgdisk, make the ESP,
create the encrypted pool with its key read from a file on tmpfs, create the datasets (and
``local/root@blank``), switch the key location to ``prompt``, shred the key file, mount
everything under ``/mnt``.

Every command that takes a device path gets ``--`` before it (sgdisk, wipefs, partprobe,
mkfs.vfat, mount and zpool all read ``--`` as the end of their options), and the models accept
only device paths under ``/dev/`` (:mod:`.validate`), so a path can never be read as an option.

The disk key never appears in argv: the one step that needs it (:attr:`Step.stdin_secret`)
receives it on stdin and writes it with mode 0600 to the pool's ``keylocation`` file
(:attr:`~.layout.Pool.key_file`, by default :data:`~.layout.KEY_FILE`); ``zpool create``
reads it from there (``keylocation=file://``). Steps marked :attr:`Step.always` (shredding the
key file) also run after a failure, once the key has been written.

The installer runs the steps (:mod:`nixremote.installers.execute`); this module only describes
them, so the controller shows exactly what will run.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Sequence

import attrs
from attrs import field, frozen

from .errors import PlanError
from .layout import DiskLayout, DiskSpec, Partition, PartitionRole

PHASE = "format"

STAGES = (
    "preflight",
    "wipe",
    "partition",
    "clear",
    "format",
    "key",
    "pool",
    "datasets",
    "keylocation",
    "cleanup",
    "mount",
)
"""The stages of a plan, in order. A run can be limited to some of them (tests, recovery)."""


def _argv(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(str(item) for item in value)


@frozen(kw_only=True)
class Step:
    """One command of a disk plan.

    ``argv`` is the command (never a shell string). ``stdin_secret`` means the executor feeds the
    disk key on stdin (the key is never part of ``argv``). ``expect_stdout`` makes the step fail
    unless the command prints exactly that (stripped). ``may_fail`` tolerates a non-zero exit
    (reported as a warning); ``always`` runs the step even after a later step failed, once a
    ``stdin_secret`` step has run (shredding the key file).
    """

    stage: str = field(validator=attrs.validators.in_(STAGES))
    description: str
    argv: tuple[str, ...] = field(converter=_argv)
    stdin_secret: bool = False
    expect_stdout: str | None = None
    may_fail: bool = False
    always: bool = False

    @property
    def command(self) -> str:
        """The argv quoted for display (never executed as a string)."""
        return shlex.join(self.argv)


DiskPlan = tuple[Step, ...]
"""The steps of a disk plan, in order."""


# --- device names ------------------------------------------------------------------------------


def partition_path(disk: str, number: int) -> str:
    """The device path of partition ``number`` of ``disk``.

    By-id (and other udev symlink) paths get ``-partN``; kernel names that end in a digit
    (``/dev/loop0``, ``/dev/nvme0n1``, ``/dev/mmcblk0``) get ``pN``; others (``/dev/sda``) ``N``.
    """
    if not re.fullmatch(r"/dev/[^/]+", disk):
        return f"{disk}-part{number}"
    if disk[-1].isdigit():
        return f"{disk}p{number}"
    return f"{disk}{number}"


def _uses_udev_links(disk: str) -> bool:
    return not re.fullmatch(r"/dev/[^/]+", disk)


# --- the plan ----------------------------------------------------------------------------------


def _sgdisk_new(disk: str, part: Partition) -> Step:
    n = part.number
    argv = [
        "sgdisk",
        f"-a{part.alignment}",
        f"-n{n}:{part.start}:{part.end}",
        f"-t{n}:{part.type_code}",
    ]
    if part.name:
        argv.append(f"-c{n}:{part.name}")
    argv += ["--", disk]
    what = {
        PartitionRole.BIOS_BOOT: "BIOS boot",
        PartitionRole.ESP: "EFI system",
        PartitionRole.BOOT: "/boot",
        PartitionRole.ZFS: "ZFS",
    }[part.role]
    return Step(
        stage="partition",
        description=f"create partition {n} ({what}, {part.type_code}, {part.start}..{part.end})"
        f" on {disk}",
        argv=argv,
    )


def _wipe_steps(disk: DiskSpec) -> list[Step]:
    return [
        Step(
            stage="wipe",
            description=f"erase filesystem and partition-table signatures of {disk.path}",
            argv=["wipefs", "-a", "--", disk.path],
        ),
        Step(
            stage="wipe",
            description=f"destroy the GPT and MBR of {disk.path}",
            argv=["sgdisk", "--zap-all", "--", disk.path],
        ),
    ]


def _reload_steps(disk: DiskSpec) -> list[Step]:
    # partprobe, not ``partx -u``: partx stops at a gap in the numbering (the uefi layout has
    # partitions 1 and 3 only) and leaves later partitions unknown to the kernel.
    steps = [
        Step(
            stage="partition",
            description=f"make the kernel re-read {disk.path}",
            argv=["partprobe", "--", disk.path],
        )
    ]
    if _uses_udev_links(disk.path):
        steps.append(
            Step(
                stage="partition",
                description="wait for udev to create the partition links",
                argv=["udevadm", "settle"],
            )
        )
    return steps


def _clear_steps(disk: DiskSpec) -> list[Step]:
    steps = []
    for part in sorted(disk.partitions, key=lambda p: p.number):
        path = partition_path(disk.path, part.number)
        if part.role is PartitionRole.ZFS:
            steps.append(
                Step(
                    stage="clear",
                    description=f"clear an old ZFS label in {path} (tolerated if there is none)",
                    argv=["zpool", "labelclear", "-f", "--", path],
                    may_fail=True,
                )
            )
        steps.append(
            Step(
                stage="clear",
                description=f"erase stale signatures in {path}",
                argv=["wipefs", "-a", "--", path],
            )
        )
    return steps


def _format_steps(disk: DiskSpec) -> list[Step]:
    steps = []
    for part in disk.partitions:
        if part.filesystem is None:
            continue
        path = partition_path(disk.path, part.number)
        if part.filesystem != "vfat":
            raise PlanError(
                f"filesystem {part.filesystem} is not supported",
                hint="use vfat for boot partitions",
            )
        steps.append(
            Step(
                stage="format",
                description=f"make a FAT32 filesystem on {path}",
                argv=["mkfs.vfat", "-F", "32", "--", path],
            )
        )
    return steps


def plan(layout: DiskLayout) -> DiskPlan:
    """The commands that create ``layout``, in order (see the module documentation)."""
    pool = layout.pool
    steps: list[Step] = []
    key_file = pool.key_file
    key_dir = key_file.rsplit("/", 1)[0] or "/"

    if pool.encrypted:
        steps += [
            Step(
                stage="preflight",
                description=f"create {key_dir} for the disk key",
                argv=["mkdir", "-p", "-m", "0700", key_dir],
            ),
            Step(
                stage="preflight",
                description=f"check that {key_dir} is on tmpfs, so that "
                "the key never reaches a disk",
                argv=["findmnt", "-n", "-o", "FSTYPE", "-T", key_dir],
                expect_stdout="tmpfs",
            ),
        ]
    steps.append(
        Step(
            stage="preflight",
            description="check that the ZFS tools and module work",
            argv=["zpool", "version"],
        )
    )

    for disk in layout.disks:
        steps += _wipe_steps(disk)
    for disk in layout.disks:
        steps += [_sgdisk_new(disk.path, part) for part in disk.partitions]
        steps += _reload_steps(disk)
    for disk in layout.disks:
        steps += _clear_steps(disk)
    for disk in layout.disks:
        steps += _format_steps(disk)

    if pool.encrypted:
        steps.append(
            Step(
                stage="key",
                description=f"write the disk key from stdin to {key_file} (mode 0600)",
                argv=["install", "-m", "0600", "/dev/stdin", key_file],
                stdin_secret=True,
            )
        )

    vdevs: list[str] = []
    if pool.vdev:
        vdevs.append(pool.vdev)
    for disk in layout.disks:
        zfs = disk.partition(PartitionRole.ZFS)
        assert zfs is not None  # checked by DiskLayout
        vdevs.append(partition_path(disk.path, zfs.number))
    create = ["zpool", "create"]
    for key, value in pool.options:
        create += ["-o", f"{key}={value}"]
    for key, value in pool.root_options:
        create += ["-O", f"{key}={value}"]
    create += ["--", pool.name, *vdevs]
    steps.append(
        Step(
            stage="pool",
            description=f"create the {'encrypted ' if pool.encrypted else ''}pool {pool.name} on "
            + " ".join(vdevs),
            argv=create,
        )
    )

    for ds in layout.datasets:
        full = f"{pool.name}/{ds.name}"
        argv = ["zfs", "create", "-p"]
        for key, value in ds.properties:
            argv += ["-o", f"{key}={value}"]
        steps.append(
            Step(stage="datasets", description=f"create the dataset {full}", argv=[*argv, full])
        )
        for snap in ds.snapshots:
            steps.append(
                Step(
                    stage="datasets",
                    description=f"snapshot {full}@{snap}",
                    argv=["zfs", "snapshot", f"{full}@{snap}"],
                )
            )

    if pool.encrypted:
        steps.append(
            Step(
                stage="keylocation",
                description="ask for the passphrase at boot "
                f"(keylocation={pool.final_keylocation})",
                argv=["zfs", "set", f"keylocation={pool.final_keylocation}", pool.name],
            )
        )
        steps.append(
            Step(
                stage="cleanup",
                description=f"shred the key file {key_file}",
                argv=["shred", "-u", key_file],
                always=True,
            )
        )

    steps += _mount_steps(layout)
    return tuple(steps)


def layout_mounts(layout: DiskLayout) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """(target, mount argv) of every mount of the layout under its ``mount_root``, parents
    first: the datasets with a mountpoint, then each disk's boot partition that is mounted."""
    pool = layout.pool.name
    mounts: list[tuple[str, tuple[str, ...]]] = []  # (installed path, mount argv w/o target)
    for ds in layout.datasets:
        if ds.mountpoint:
            mounts.append((ds.mountpoint, ("mount", "-t", "zfs", f"{pool}/{ds.name}")))
    by_path = {d.path: d for d in layout.disks}
    for disk_path, mountpoint in layout.boot_mounts:
        disk = by_path[disk_path]
        part = disk.partition(PartitionRole.ESP) or disk.partition(PartitionRole.BOOT)
        if part is None or not part.filesystem:
            continue
        mounts.append(
            (
                mountpoint,
                ("mount", "-t", part.filesystem, "--", partition_path(disk.path, part.number)),
            )
        )
    # Parents before children: "/" first, then by depth.
    mounts.sort(key=lambda m: (m[0] != "/", m[0].count("/"), m[0]))
    return tuple((layout.mount_path(mp), (*argv, layout.mount_path(mp))) for mp, argv in mounts)


def _mount_steps(layout: DiskLayout) -> list[Step]:
    steps: list[Step] = []
    for target, argv in layout_mounts(layout):
        if target != layout.mount_root:
            steps.append(
                Step(
                    stage="mount",
                    description=f"create the mountpoint {target}",
                    argv=["mkdir", "-p", target],
                )
            )
        steps.append(Step(stage="mount", description=f"mount {argv[-2]} at {target}", argv=argv))
    return steps


def plan_to_json_data(steps: Sequence[Step]) -> list[dict[str, object]]:
    """The plan as JSON data (one object per step, camelCase keys)."""
    out: list[dict[str, object]] = []
    for i, step in enumerate(steps, start=1):
        item: dict[str, object] = {
            "index": i,
            "stage": step.stage,
            "description": step.description,
            "argv": list(step.argv),
        }
        for name, value in (
            ("stdinSecret", step.stdin_secret),
            ("expectStdout", step.expect_stdout),
            ("mayFail", step.may_fail),
            ("always", step.always),
        ):
            if value:
                item[name] = value
        out.append(item)
    return out


def select(steps: Iterable[Step], stages: Iterable[str] | None) -> DiskPlan:
    """Only the steps of ``stages`` (all when ``None``)."""
    steps = tuple(steps)
    if stages is None:
        return steps
    wanted = set(stages)
    unknown = wanted - set(STAGES)
    if unknown:
        raise PlanError(
            f"unknown stage {sorted(unknown)[0]!r}", hint="use one of " + ", ".join(STAGES)
        )
    return tuple(s for s in steps if s.stage in wanted)
