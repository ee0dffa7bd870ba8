"""The disk plan: a :class:`~.layout.DiskLayout` as ordered commands, and their execution.

:func:`plan` is pure: it turns a layout into :class:`Step` s (a description and an argv tuple),
the same on the controller (to show what will happen) and in the installer (to do it). The steps
reproduce the original installer's ``nuke-disk.sh``: wipe, partition with sgdisk, make the ESP,
create the encrypted pool with its key read from a file on tmpfs, create the datasets (and
``local/root@blank``), switch the key location to ``prompt``, shred the key file, mount
everything under ``/mnt``.

The disk key never appears in argv: the one step that needs it (:attr:`Step.stdin_secret`)
receives it on stdin and writes it with mode 0600 to the pool's ``keylocation`` file
(:attr:`~.layout.Pool.key_file`, by default :data:`~.layout.KEY_FILE`); ``zpool create``
reads it from there (``keylocation=file://``). Steps marked :attr:`Step.always` (shredding the
key file) also run after a failure, once the key has been written.

:func:`execute` runs steps through a :class:`~nixremote.core.transport.Transport`, stopping at
the first failure with the step and its output; :func:`nuke_disks` is what the installer calls:
the safety checks of :mod:`.safety`, then the plan (or only its report, with ``dry_run``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence

import attrs
from attrs import field, frozen

from ..core.errors import CommandFailedError, NixremoteError, PlanError, TransportError
from ..core.models import RuntimeInfo
from ..core.progress import Reporter, report
from ..core.transport import CommandResult, Transport
from .layout import DiskLayout, DiskSpec, Partition, PartitionRole

log = logging.getLogger(__name__)

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

DESTRUCTIVE_STAGES = frozenset(STAGES) - {"preflight", "mount"}


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
        import shlex

        return shlex.join(self.argv)


Plan = tuple[Step, ...]


@frozen(kw_only=True)
class StepResult:
    """What running a step did: ``status`` is ``ok``, ``failed``, ``tolerated`` or ``dry-run``."""

    index: int
    step: Step
    status: str
    returncode: int | None = None
    output: str = ""


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
    argv = ["sgdisk", f"-a{part.alignment}", f"-n{n}:{part.start}:{part.end}",
            f"-t{n}:{part.type_code}"]
    if part.name:
        argv.append(f"-c{n}:{part.name}")
    argv.append(disk)
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
        Step(stage="wipe", description=f"erase filesystem and partition-table signatures of "
             f"{disk.path}", argv=["wipefs", "-a", disk.path]),
        Step(stage="wipe", description=f"destroy the GPT and MBR of {disk.path}",
             argv=["sgdisk", "--zap-all", disk.path]),
    ]


def _reload_steps(disk: DiskSpec) -> list[Step]:
    # partprobe, not ``partx -u``: partx stops at a gap in the numbering (the uefi layout has
    # partitions 1 and 3 only) and leaves later partitions unknown to the kernel.
    steps = [Step(stage="partition", description=f"make the kernel re-read {disk.path}",
                  argv=["partprobe", disk.path])]
    if _uses_udev_links(disk.path):
        steps.append(Step(stage="partition", description="wait for udev to create the "
                          "partition links", argv=["udevadm", "settle"]))
    return steps


def _clear_steps(disk: DiskSpec) -> list[Step]:
    steps = []
    for part in sorted(disk.partitions, key=lambda p: p.number):
        path = partition_path(disk.path, part.number)
        if part.role is PartitionRole.ZFS:
            steps.append(Step(
                stage="clear",
                description=f"clear an old ZFS label in {path} (tolerated if there is none)",
                argv=["zpool", "labelclear", "-f", path],
                may_fail=True,
            ))
        steps.append(Step(
            stage="clear",
            description=f"erase stale signatures in {path}",
            argv=["wipefs", "-a", path],
        ))
    return steps


def _format_steps(disk: DiskSpec) -> list[Step]:
    steps = []
    for part in disk.partitions:
        if part.filesystem is None:
            continue
        path = partition_path(disk.path, part.number)
        if part.filesystem != "vfat":
            raise PlanError(f"filesystem {part.filesystem} is not supported",
                            hint="use vfat for boot partitions")
        steps.append(Step(stage="format", description=f"make a FAT32 filesystem on {path}",
                          argv=["mkfs.vfat", "-F", "32", path]))
    return steps


def plan(layout: DiskLayout) -> Plan:
    """The commands that create ``layout``, in order (see the module documentation)."""
    pool = layout.pool
    steps: list[Step] = []
    key_file = pool.key_file
    key_dir = key_file.rsplit("/", 1)[0] or "/"

    if pool.encrypted:
        steps += [
            Step(stage="preflight", description=f"create {key_dir} for the disk key",
                 argv=["mkdir", "-p", "-m", "0700", key_dir]),
            Step(stage="preflight", description=f"check that {key_dir} is on tmpfs, so that "
                 "the key never reaches a disk",
                 argv=["findmnt", "-n", "-o", "FSTYPE", "-T", key_dir],
                 expect_stdout="tmpfs"),
        ]
    steps.append(Step(stage="preflight", description="check that the ZFS tools and module work",
                      argv=["zpool", "version"]))

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
        steps.append(Step(
            stage="key",
            description=f"write the disk key from stdin to {key_file} (mode 0600)",
            argv=["install", "-m", "0600", "/dev/stdin", key_file],
            stdin_secret=True,
        ))

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
    create += [pool.name, *vdevs]
    steps.append(Step(
        stage="pool",
        description=f"create the {'encrypted ' if pool.encrypted else ''}pool {pool.name} on "
        + " ".join(vdevs),
        argv=create,
    ))

    for ds in layout.datasets:
        full = f"{pool.name}/{ds.name}"
        argv = ["zfs", "create", "-p"]
        for key, value in ds.properties:
            argv += ["-o", f"{key}={value}"]
        steps.append(Step(stage="datasets", description=f"create the dataset {full}",
                          argv=[*argv, full]))
        for snap in ds.snapshots:
            steps.append(Step(stage="datasets", description=f"snapshot {full}@{snap}",
                              argv=["zfs", "snapshot", f"{full}@{snap}"]))

    if pool.encrypted:
        steps.append(Step(
            stage="keylocation",
            description=f"ask for the passphrase at boot (keylocation={pool.final_keylocation})",
            argv=["zfs", "set", f"keylocation={pool.final_keylocation}", pool.name],
        ))
        steps.append(Step(stage="cleanup", description=f"shred the key file {key_file}",
                          argv=["shred", "-u", key_file], always=True))

    steps += _mount_steps(layout)
    return tuple(steps)


def _mount_steps(layout: DiskLayout) -> list[Step]:
    steps: list[Step] = []
    pool = layout.pool.name
    mounts: list[tuple[str, list[str]]] = []  # (installed path, mount argv without target)
    for ds in layout.datasets:
        if ds.mountpoint:
            mounts.append((ds.mountpoint, ["mount", "-t", "zfs", f"{pool}/{ds.name}"]))
    by_path = {d.path: d for d in layout.disks}
    for disk_path, mountpoint in layout.boot_mounts:
        disk = by_path[disk_path]
        part = disk.partition(PartitionRole.ESP) or disk.partition(PartitionRole.BOOT)
        if part is None or not part.filesystem:
            continue
        mounts.append((mountpoint, ["mount", "-t", part.filesystem,
                                    partition_path(disk.path, part.number)]))
    # Parents before children: "/" first, then by depth.
    mounts.sort(key=lambda m: (m[0] != "/", m[0].count("/"), m[0]))
    for mountpoint, argv in mounts:
        target = layout.mount_path(mountpoint)
        if mountpoint != "/":
            steps.append(Step(stage="mount", description=f"create the mountpoint {target}",
                              argv=["mkdir", "-p", target]))
        steps.append(Step(stage="mount", description=f"mount {argv[-1]} at {target}",
                          argv=[*argv, target]))
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
        for name, value in (("stdinSecret", step.stdin_secret),
                            ("expectStdout", step.expect_stdout),
                            ("mayFail", step.may_fail), ("always", step.always)):
            if value:
                item[name] = value
        out.append(item)
    return out


def select(steps: Iterable[Step], stages: Iterable[str] | None) -> Plan:
    """Only the steps of ``stages`` (all when ``None``)."""
    steps = tuple(steps)
    if stages is None:
        return steps
    wanted = set(stages)
    unknown = wanted - set(STAGES)
    if unknown:
        raise PlanError(f"unknown stage {sorted(unknown)[0]!r}",
                        hint="use one of " + ", ".join(STAGES))
    return tuple(s for s in steps if s.stage in wanted)


# --- execution ---------------------------------------------------------------------------------


def normalize_key(key: bytes) -> bytes:
    """The passphrase as ZFS reads it: one line, 8 to 512 bytes (a final newline is dropped)."""
    if key.endswith(b"\r\n"):
        key = key[:-2]
    elif key.endswith(b"\n"):
        key = key[:-1]
    if b"\n" in key or b"\0" in key:
        raise PlanError("the disk key has more than one line",
                        hint="use a one-line passphrase")
    if not 8 <= len(key) <= 512:
        raise PlanError(f"the disk key is {len(key)} bytes long; ZFS needs 8 to 512",
                        hint="use a passphrase of 8 to 512 bytes")
    return key


def _run_step(transport: Transport, step: Step, key: bytes | None) -> CommandResult:
    stdin = key if step.stdin_secret else None
    try:
        return transport.run(step.argv, stdin=stdin, check=False)
    except TransportError as exc:
        if isinstance(exc, CommandFailedError):
            raise
        # "command not found" and timeouts become a failed step with the message as output.
        return CommandResult(argv=step.argv, returncode=127, stdout=b"",
                             stderr=str(exc).encode())


def execute(
    steps: Sequence[Step],
    transport: Transport,
    key: bytes | None,
    reporter: Reporter | None = None,
    *,
    dry_run: bool = False,
) -> tuple[StepResult, ...]:
    """Run ``steps`` in order through ``transport``.

    The first step that fails stops the run: steps marked ``always`` still run if the key was
    written (the key file is shredded), then :class:`CommandFailedError` is raised naming the
    step, with its exit code and output. ``key`` (the passphrase) is fed on stdin to the steps
    that need it; it is required when any step does. With ``dry_run`` nothing runs and every
    step is reported.
    """
    total = len(steps)
    if not dry_run and any(s.stdin_secret for s in steps):
        if key is None:
            raise PlanError("the plan creates an encrypted pool but no disk key was given",
                            hint="pass --key-file or the key on stdin")
        key = normalize_key(key)
    results: list[StepResult] = []
    failure: StepResult | None = None
    secret_used = False
    for index, step in enumerate(steps, start=1):
        if failure is not None and not (step.always and secret_used):
            continue
        secret_used = secret_used or step.stdin_secret
        data = {"stage": step.stage, "argv": step.command}
        if dry_run:
            report(reporter, "step", step.description, phase=PHASE, current=index, total=total,
                   data={**data, "dryRun": "true"})
            results.append(StepResult(index=index, step=step, status="dry-run"))
            continue
        report(reporter, "step", step.description, phase=PHASE, current=index, total=total,
               data=data)
        result = _run_step(transport, step, key)
        output = result.tail()
        ok = result.ok
        if ok and step.expect_stdout is not None and result.text.strip() != step.expect_stdout:
            ok = False
            output = (f"expected output {step.expect_stdout!r}, got "
                      f"{result.text.strip()!r}")
        if ok:
            results.append(StepResult(index=index, step=step, status="ok",
                                      returncode=result.returncode, output=output))
            continue
        if step.may_fail and failure is None:
            report(reporter, "warning", f"{step.description}: exit code {result.returncode}, "
                   "tolerated", phase=PHASE, current=index, total=total, data=data)
            results.append(StepResult(index=index, step=step, status="tolerated",
                                      returncode=result.returncode, output=output))
            continue
        item = StepResult(index=index, step=step, status="failed",
                          returncode=result.returncode, output=output)
        results.append(item)
        if failure is None:
            failure = item
            report(reporter, "error", f"step {index}/{total} failed: {step.description}",
                   phase=PHASE, current=index, total=total,
                   data={**data, "output": output})
        else:
            report(reporter, "warning", f"cleanup step {step.description} failed too",
                   phase=PHASE, current=index, total=total, data=data)
    if failure is not None:
        tail = failure.output.replace("\n", " | ")
        how = "" if failure.returncode == 0 else f" with exit code {failure.returncode}"
        raise CommandFailedError(
            f"disk step {failure.index}/{total} ({failure.step.description}) failed{how}: {tail}",
            argv=failure.step.argv,
            returncode=failure.returncode,
            output=failure.output,
            hint="nothing after this step ran; fix the cause and run the plan again",
        )
    if not dry_run:
        report(reporter, "done", f"disk plan finished: {total} steps", phase=PHASE,
               current=total, total=total)
    return tuple(results)


def nuke_disks(
    info: RuntimeInfo,
    layout: DiskLayout,
    transport: Transport,
    key: bytes | None,
    reporter: Reporter | None = None,
    *,
    dry_run: bool = False,
    stages: Iterable[str] | None = None,
    system_paths: Sequence[str] = ("/",),
) -> tuple[StepResult, ...]:
    """Check the disks (:func:`.safety.check_layout`), then create ``layout`` on the host.

    This is what the installer runs (with a :class:`~nixremote.core.transport.LocalTransport`)
    once the user has confirmed on the controller. The safety checks run even with ``dry_run``
    (they only read); then ``dry_run`` reports the steps without running them. ``stages`` limits
    the run to some stages (:data:`STAGES`). Raises :class:`~nixremote.core.errors.SafetyError`
    when a disk is refused, :class:`CommandFailedError` when a step fails.
    """
    from .safety import check_layout

    steps = select(plan(layout), stages)
    if not dry_run and any(s.stdin_secret for s in steps):
        if key is None:
            raise PlanError("the plan creates an encrypted pool but no disk key was given",
                            hint="pass --key-file or the key on stdin")
        key = normalize_key(key)  # a bad key is refused before anything is checked or run
    check_layout(info, layout, transport, system_paths=system_paths, reporter=reporter)
    try:
        return execute(steps, transport, key, reporter, dry_run=dry_run)
    except NixremoteError:
        log.error("disk plan for %s stopped", layout.name)
        raise
