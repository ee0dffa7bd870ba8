"""Disk layouts: what nixremote creates on a host's disks, as data.

A :class:`DiskLayout` says which disks to partition (GPT partitions with sgdisk positions and
type codes), which filesystems to make, the ZFS pool (with its ``-o`` and ``-O`` options and,
when encrypted, where its key comes from), the datasets with their mountpoints and snapshots,
and where everything is mounted for the install (under ``/mnt``). :mod:`.diskplan` turns it into
commands; :mod:`.disko` exports it for disko.

:func:`default_layout` builds the layouts nixremote knows by name (:data:`LAYOUTS`):

``default``
    The original installer's ``nuke-disk.sh`` exactly: partition 2 BIOS boot ``EF02`` at sectors
    34-2047, partition 3 ESP ``EF00`` 1M + 512M (vfat, ``/boot``), partition 1 ``BF01`` the rest
    (the pool ``rpool``); it boots both by BIOS (GRUB in partition 2) and UEFI.
``uefi``
    No BIOS boot partition; partitions 3 and 1 as in ``default``.
``bios``
    No ESP: partition 3 is a plain ``/boot`` (``8300``, vfat) of the same size.
``mirror``
    ``default`` on two disks, the pool a mirror of both partitions 1; the second disk's
    partition 3 is mounted at ``/boot-fallback``.
``unencrypted``
    ``default`` without ZFS native encryption.
``auto``
    ``uefi`` or ``bios`` from the runtime info's boot mode (``default`` when unknown).

Partition numbers stay the same in every variant, so a host configuration that names
``-part1``/``-part3`` works with all of them.
"""

from __future__ import annotations

import enum
import re

import attrs
from attrs import field, frozen

from . import validate as v
from .errors import PlanError
from .models import BootMode, RuntimeInfo

SECTOR = 512
MIB = 1024 * 1024

KEY_DIR = "/run/nixremote"
"""Directory (on tmpfs) for the disk key file while the pool is created."""
KEY_FILE = f"{KEY_DIR}/disk.key"
"""The disk key file; written from stdin with mode 0600, shredded once the pool exists."""

LAYOUTS = ("default", "uefi", "bios", "mirror", "unencrypted", "auto")
"""The names :func:`default_layout` understands."""


class PartitionRole(enum.Enum):
    """What a partition is for."""

    BIOS_BOOT = "bios-boot"
    ESP = "esp"
    BOOT = "boot"
    ZFS = "zfs"


_POSITION = re.compile(r"^(0|[0-9]+|[+-]?[0-9]+[KMGT]?)$")


def _check_position(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not _POSITION.match(value):
        raise ValueError(f"{value!r} is not an sgdisk position (34, 1M, +512M, 0)")


@frozen(kw_only=True)
class Partition:
    """One GPT partition, in sgdisk's terms.

    ``start`` and ``end`` are sgdisk positions (``"34"`` a sector, ``"1M"`` an offset, ``"+512M"``
    a size from the start, ``"0"`` the default: the start of the largest free block, or its end);
    ``alignment`` is sgdisk's ``-a`` in sectors (the original uses 1 so that sector 34 is
    allowed). ``filesystem`` is made on it (``"vfat"``) and mounted at ``mountpoint`` (a path of
    the installed system, ``/boot``); the ZFS partition has neither.
    """

    number: int = field(validator=attrs.validators.in_(range(1, 129)))
    role: PartitionRole
    type_code: str = field(validator=attrs.validators.matches_re(r"^[0-9A-F]{4}$"))
    start: str = field(validator=_check_position)
    end: str = field(validator=_check_position)
    alignment: int = 1
    name: str = ""
    filesystem: str | None = None
    mountpoint: str | None = None

    @property
    def min_bytes(self) -> int:
        """How much room this partition needs (0 for "the rest")."""
        return geometry_bytes(self.start, self.end)


def _position_bytes(value: str) -> int | None:
    """An absolute sgdisk position in bytes; ``None`` for ``0`` (default) or a relative one."""
    if value == "0" or value.startswith(("+", "-")):
        return None
    units = {"K": 1024, "M": MIB, "G": 1024 * MIB, "T": 1024 * 1024 * MIB}
    if value[-1] in units:
        return int(value[:-1]) * units[value[-1]]
    return int(value) * SECTOR


def _size_bytes(value: str) -> int:
    units = {"K": 1024, "M": MIB, "G": 1024 * MIB, "T": 1024 * 1024 * MIB}
    body = value.lstrip("+")
    if body[-1] in units:
        return int(body[:-1]) * units[body[-1]]
    return int(body) * SECTOR


def geometry_bytes(start: str, end: str) -> int:
    """The size a partition needs at least, from its sgdisk start and end."""
    first = _position_bytes(start)
    if end.startswith("+"):
        return _size_bytes(end)
    last = _position_bytes(end)
    if first is not None and last is not None:
        return last - first + SECTOR
    return 0


@frozen(kw_only=True)
class DiskSpec:
    """One disk to partition: its path (by-id when it has one) and its partitions, in the order
    they are created."""

    path: str = field(validator=v.check(v.disk_path))
    partitions: tuple[Partition, ...]

    def partition(self, role: PartitionRole) -> Partition | None:
        for part in self.partitions:
            if part.role is role:
                return part
        return None


@frozen(kw_only=True)
class Pool:
    """A ZFS pool on the ``ZFS`` partitions of the layout's disks.

    ``options`` are pool properties (``zpool create -o``), ``root_options`` properties of the root
    dataset (``-O``); ``vdev`` is ``None`` for a single device or ``"mirror"``. With
    ``encrypted`` the pool is created with ``keylocation=file://`` :data:`KEY_FILE` (a file on
    tmpfs, shredded afterwards), then switched to ``final_keylocation`` (``prompt``: the
    passphrase is asked at boot).
    """

    name: str = "rpool"
    vdev: str | None = None
    options: tuple[tuple[str, str], ...] = ()
    root_options: tuple[tuple[str, str], ...] = ()
    encrypted: bool = True
    final_keylocation: str = "prompt"

    @property
    def altroot(self) -> str | None:
        return dict(self.options).get("altroot")

    @property
    def key_file(self) -> str:
        """The file the key is read from while the pool is created (``keylocation=file://``)."""
        location = dict(self.root_options).get("keylocation", f"file://{KEY_FILE}")
        if not location.startswith("file:///"):
            raise PlanError(
                f"pool {self.name}: keylocation {location} is not a file:// URL",
                hint="create the pool with keylocation=file://<path on tmpfs>",
            )
        return location.removeprefix("file://")


@frozen(kw_only=True)
class Dataset:
    """A ZFS filesystem, named relative to the pool (``local/root``).

    ``mountpoint`` is its path in the installed system (``/``, ``/nix``); it is a legacy mount,
    mounted for the install under the layout's ``mount_root``. ``snapshots`` are taken right
    after creation (``blank``: the empty root that the installed system rolls back to).
    """

    name: str
    mountpoint: str | None = None
    snapshots: tuple[str, ...] = ()
    properties: tuple[tuple[str, str], ...] = (("mountpoint", "legacy"),)


@frozen(kw_only=True)
class DiskLayout:
    """Everything that is created on a host's disks (see the module documentation)."""

    name: str
    disks: tuple[DiskSpec, ...]
    pool: Pool
    datasets: tuple[Dataset, ...]
    mount_root: str = "/mnt"
    boot_mode: BootMode = BootMode.UNKNOWN
    boot_mounts: tuple[tuple[str, str], ...] = ()
    """(disk path, installed-system mountpoint) for each disk's boot partition that is mounted."""

    def __attrs_post_init__(self) -> None:
        if not self.disks:
            raise PlanError(f"layout {self.name}: no disks", hint="name at least one disk")
        if self.pool.vdev == "mirror" and len(self.disks) < 2:
            raise PlanError(
                f"layout {self.name}: a mirror needs two disks, got {len(self.disks)}",
                hint="pass a second disk",
            )
        paths = [d.path for d in self.disks]
        if len(set(paths)) != len(paths):
            raise PlanError(
                f"layout {self.name}: the same disk is named twice", hint="name distinct disks"
            )
        for disk in self.disks:
            numbers = [p.number for p in disk.partitions]
            if len(set(numbers)) != len(numbers):
                raise PlanError(
                    f"layout {self.name}: {disk.path} has two partitions with one number",
                    hint="number partitions uniquely",
                )
            if disk.partition(PartitionRole.ZFS) is None:
                raise PlanError(
                    f"layout {self.name}: {disk.path} has no ZFS partition",
                    hint="add a BF01 partition",
                )

    @property
    def min_disk_bytes(self) -> int:
        """The smallest disk this layout fits: the fixed partitions, the GPT at both ends, and
        at least 1 GiB for the pool."""
        fixed = 0
        for part in self.disks[0].partitions:
            end = _position_bytes(part.end)
            if end is not None:
                fixed = max(fixed, end + SECTOR)
            elif part.end.startswith("+"):
                start = _position_bytes(part.start) or 0
                fixed = max(fixed, start + _size_bytes(part.end))
        return fixed + 1024 * MIB + 34 * SECTOR

    def mount_path(self, mountpoint: str) -> str:
        """Where an installed-system path is mounted for the install (``/nix`` -> ``/mnt/nix``)."""
        if mountpoint == "/":
            return self.mount_root
        return self.mount_root.rstrip("/") + mountpoint


@frozen(kw_only=True)
class LayoutOptions:
    """What the user asked for: a layout name (:data:`LAYOUTS`; ``None`` when none was asked
    for, so a hoster plugin may choose its own, while ``"default"`` asks for the generic default
    explicitly), extra disks (the second disk of a mirror; by-id paths), and whether the pool is
    encrypted (``None``: the layout's default)."""

    variant: str | None = field(
        default=None, validator=attrs.validators.optional(attrs.validators.in_(LAYOUTS))
    )
    disks: tuple[str, ...] = ()
    encrypted: bool | None = None


# --- the layouts ----------------------------------------------------------------------------

POOL_OPTIONS = (("ashift", "12"), ("altroot", "/mnt"))
ROOT_OPTIONS = (
    ("mountpoint", "legacy"),
    ("atime", "off"),
    ("acltype", "posixacl"),
    ("xattr", "sa"),
    ("compression", "on"),
)
ENCRYPTION_OPTIONS = (
    ("encryption", "on"),
    ("keyformat", "passphrase"),
    ("keylocation", f"file://{KEY_FILE}"),
)

DATASETS = (
    Dataset(name="local/root", mountpoint="/", snapshots=("blank",)),
    Dataset(name="local/nix", mountpoint="/nix"),
    Dataset(name="safe/home", mountpoint="/home"),
    Dataset(name="safe/persist", mountpoint="/persist"),
)


def bios_boot_partition() -> Partition:
    return Partition(
        number=2, role=PartitionRole.BIOS_BOOT, type_code="EF02", start="34", end="2047"
    )


def esp_partition() -> Partition:
    return Partition(
        number=3,
        role=PartitionRole.ESP,
        type_code="EF00",
        start="1M",
        end="+512M",
        filesystem="vfat",
        mountpoint="/boot",
    )


def boot_partition() -> Partition:
    return Partition(
        number=3,
        role=PartitionRole.BOOT,
        type_code="8300",
        start="1M",
        end="+512M",
        filesystem="vfat",
        mountpoint="/boot",
    )


def zfs_partition() -> Partition:
    return Partition(number=1, role=PartitionRole.ZFS, type_code="BF01", start="0", end="0")


def partitions_for(boot: BootMode) -> tuple[Partition, ...]:
    """The original's partitions (in its creation order 2, 3, 1) for a boot mode."""
    if boot is BootMode.UEFI:
        return (esp_partition(), zfs_partition())
    if boot is BootMode.BIOS:
        return (bios_boot_partition(), boot_partition(), zfs_partition())
    return (bios_boot_partition(), esp_partition(), zfs_partition())


def build_layout(
    *,
    name: str,
    disks: tuple[str, ...],
    boot: BootMode = BootMode.UNKNOWN,
    encrypted: bool = True,
    pool_name: str = "rpool",
) -> DiskLayout:
    """A layout in the original's shape on ``disks`` (two or more: a mirror)."""
    parts = partitions_for(boot)
    specs = tuple(DiskSpec(path=path, partitions=parts) for path in disks)
    root_options = ROOT_OPTIONS + (ENCRYPTION_OPTIONS if encrypted else ())
    pool = Pool(
        name=pool_name,
        vdev="mirror" if len(disks) > 1 else None,
        options=POOL_OPTIONS,
        root_options=root_options,
        encrypted=encrypted,
    )
    boot_mounts = [(disks[0], "/boot")]
    boot_mounts += [
        (path, f"/boot-fallback{i if i > 1 else ''}") for i, path in enumerate(disks[1:], start=1)
    ]
    return DiskLayout(
        name=name,
        disks=specs,
        pool=pool,
        datasets=DATASETS,
        boot_mode=boot,
        boot_mounts=tuple(boot_mounts),
    )


def _second_disk(info: RuntimeInfo, first: str) -> str:
    """Another disk of the same size as ``first`` (for a mirror), by its stable path."""
    main = info.disk(first)
    others = [d for d in info.disks if d is not main and not d.removable]
    if main is not None and main.size_bytes:
        others = [d for d in others if d.size_bytes == main.size_bytes]
    if len(others) != 1:
        raise PlanError(
            f"a mirror needs a second disk; found {len(others)} candidates of the same size",
            hint="name it with --disk",
        )
    return others[0].stable_path


def default_layout(info: RuntimeInfo, options: LayoutOptions | None = None) -> DiskLayout:
    """The layout named by ``options.variant`` (``default`` when none was asked for) for
    ``info.disk_to_format`` (see the module documentation)."""
    options = options or LayoutOptions()
    variant = options.variant or "default"
    first = info.disk_to_format
    if not first:
        raise PlanError(
            f"cannot tell which disk of {info.host_name} to format",
            hint="name it with --disk /dev/disk/by-id/...",
        )
    boot = BootMode.UNKNOWN
    if variant == "uefi":
        boot = BootMode.UEFI
    elif variant == "bios":
        boot = BootMode.BIOS
    elif variant == "auto":
        boot = info.boot_mode
    encrypted = variant != "unencrypted"
    if options.encrypted is not None:
        encrypted = options.encrypted
    disks: tuple[str, ...] = (first, *options.disks)
    if variant == "mirror" and len(disks) < 2:
        disks = (first, _second_disk(info, first))
    return build_layout(name=variant, disks=disks, boot=boot, encrypted=encrypted)
