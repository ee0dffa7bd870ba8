"""Typed runtime facts of a host: what nixremote knows about the machine it installs.

All models are frozen, keyword-only attrs classes holding tuples, so they hash, compare and can be
shared between threads; use :func:`attrs.evolve` for a changed copy. They are written to and read
from ``runtime-info.json`` by the one converter in :mod:`nixremote.core.converter`.
"""

from __future__ import annotations

import enum
import ipaddress

import attrs
from attrs import field, frozen

SCHEMA_VERSION = 1
"""The ``schemaVersion`` that this version of nixremote writes and the newest it reads."""


class BootMode(enum.Enum):
    """How the host's firmware boots it."""

    BIOS = "bios"
    UEFI = "uefi"
    UNKNOWN = "unknown"


def _check_prefix(instance: IPAddress, attribute: attrs.Attribute[int], value: int) -> None:
    limit = 32 if instance.version == 4 else 128
    if not 0 <= value <= limit:
        raise ValueError(f"prefix length {value} is out of range 0..{limit}")


def _check_ip(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    ipaddress.ip_address(value)


@frozen(kw_only=True)
class IPAddress:
    """One address on an interface, with its prefix length.

    ``dynamic`` is true when the address was leased (DHCP/SLAAC) rather than configured statically.
    """

    address: str = field(validator=_check_ip)
    prefix_length: int = field(validator=_check_prefix)
    dynamic: bool = False

    @property
    def version(self) -> int:
        return ipaddress.ip_address(self.address).version

    @property
    def interface(self) -> ipaddress.IPv4Interface | ipaddress.IPv6Interface:
        return ipaddress.ip_interface(f"{self.address}/{self.prefix_length}")

    @property
    def is_link_local(self) -> bool:
        return ipaddress.ip_address(self.address).is_link_local


@frozen(kw_only=True)
class Interface:
    """A network interface as the running system sees it.

    ``name`` is the kernel name now (``eth0`` on a rescue system); ``predictable_name`` is the name
    udev's predictable naming gives it (``enp1s0``), which NixOS will use; ``mac`` is what the
    installed system matches on, because names differ between the two systems.
    """

    name: str
    mac: str | None = None
    driver: str | None = None
    predictable_name: str | None = None
    ipv4: tuple[IPAddress, ...] = ()
    ipv6: tuple[IPAddress, ...] = ()

    @property
    def stable_name(self) -> str:
        """The name the installed system will use: the predictable one when known."""
        return self.predictable_name or self.name

    @property
    def global_ipv6(self) -> tuple[IPAddress, ...]:
        return tuple(a for a in self.ipv6 if not a.is_link_local)


@frozen(kw_only=True)
class Route:
    """A route; ``destination`` is ``"default"`` or a CIDR prefix; ``family`` is 4 or 6."""

    family: int = field(validator=attrs.validators.in_((4, 6)))
    destination: str
    gateway: str | None = None
    device: str | None = None
    on_link: bool = False
    metric: int | None = None

    @property
    def is_default(self) -> bool:
        return self.destination in ("default", "0.0.0.0/0", "::/0")


@frozen(kw_only=True)
class Disk:
    """A whole disk. ``by_id`` is its stable ``/dev/disk/by-id/...`` path when it has one."""

    path: str
    by_id: str | None = None
    size_bytes: int | None = None
    model: str | None = None
    serial: str | None = None
    rotational: bool | None = None
    removable: bool = False

    @property
    def stable_path(self) -> str:
        return self.by_id or self.path


@frozen(kw_only=True)
class RuntimeInfo:
    """Everything about a host that the install needs, collected before anything changes.

    ``disk_to_format`` is a by-id path (or a kernel path when the disk has none);
    ``primary_interface`` names the interface (by current name) that carries the default route and
    that the original installer's single-NIC fields describe; ``host_id`` is 8 hex digits (ZFS needs
    it stable). ``hoster_details`` holds what a hoster plugin learned (server id, location), as
    string pairs.
    """

    host_name: str
    host_id: str = field(validator=attrs.validators.matches_re(r"^[0-9a-f]{8}$"))
    disk_to_format: str
    root_authorized_keys: tuple[str, ...] = ()
    interfaces: tuple[Interface, ...] = ()
    primary_interface: str | None = None
    routes: tuple[Route, ...] = ()
    nameservers: tuple[str, ...] = ()
    disks: tuple[Disk, ...] = ()
    arch: str | None = None
    memory_bytes: int | None = None
    boot_mode: BootMode = BootMode.UNKNOWN
    hoster: str = "generic"
    hoster_details: tuple[tuple[str, str], ...] = ()
    schema_version: int = SCHEMA_VERSION

    @property
    def primary(self) -> Interface | None:
        """The primary interface, or the first one when none is named."""
        for iface in self.interfaces:
            if iface.name == self.primary_interface:
                return iface
        return self.interfaces[0] if self.interfaces else None

    def default_gateway(self, family: int, device: str | None = None) -> str | None:
        """The gateway of the default route of ``family`` (on ``device`` when given)."""
        for route in self.routes:
            if route.family != family or not route.is_default or not route.gateway:
                continue
            if device is None or route.device in (None, device):
                return route.gateway
        return None

    def disk(self, path: str) -> Disk | None:
        """The disk with this by-id or kernel path."""
        for disk in self.disks:
            if path in (disk.by_id, disk.path):
                return disk
        return None

    def detail(self, key: str) -> str | None:
        return dict(self.hoster_details).get(key)


@frozen(kw_only=True)
class HosterGuess:
    """A plugin's claim that a host belongs to its hoster.

    ``confidence`` orders claims: 0 is "any Linux" (the generic plugin), 50 a vendor string,
    100 a hoster-specific service that answered. ``reason`` says what matched, for the user.
    """

    name: str
    confidence: int
    reason: str
