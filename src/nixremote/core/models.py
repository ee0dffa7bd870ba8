"""Typed runtime facts of a host: what nixremote knows about the machine it installs.

All models are frozen, keyword-only attrs classes holding tuples, so they hash, compare and can be
shared between threads; use :func:`attrs.evolve` for a changed copy. They are written to and read
from ``runtime-info.json`` by the one converter in :mod:`nixremote.core.converter`.

Every field is validated by meaning when a model is built (:mod:`nixremote.core.validate`,
:mod:`nixremote.core.sshkeys`): the runtime info comes from a machine that may be compromised,
and its texts reach NixOS options, unit files and shell lines. A refused value raises
:class:`~nixremote.core.errors.InvalidValueError` (a ``ValueError``) naming the field.
"""

from __future__ import annotations

import enum
import ipaddress

import attrs
from attrs import field, frozen

from . import validate as v
from .errors import InvalidValueError
from .sshkeys import check_key

SCHEMA_VERSION = 1
"""The ``schemaVersion`` that this version of nixremote writes and the newest it reads."""


class BootMode(enum.Enum):
    """How the host's firmware boots it."""

    BIOS = "bios"
    UEFI = "uefi"
    UNKNOWN = "unknown"


def _check_prefix(instance: IPAddress, attribute: attrs.Attribute[int], value: int) -> None:
    limit = 32 if instance.version == 4 else 128
    if type(value) is not int or not 0 <= value <= limit:
        raise InvalidValueError(
            f"prefix length {value!r} is out of range 0..{limit}",
            hint=f"use a prefix length of 0 to {limit}",
            field="prefixLength",
        )


def _check_route(instance: Route, attribute: attrs.Attribute[str], value: str) -> None:
    try:
        if attribute.name == "destination":
            v.route_destination(value, instance.family)
        elif value is not None:
            v.ip_address(value, what="gateway", family=instance.family)
    except InvalidValueError as exc:
        raise exc.at(attribute.name) from None


def _check_metric(instance: object, attribute: attrs.Attribute[int | None], value: object) -> None:
    if value is not None and (type(value) is not int or not 0 <= value < 2**32):
        raise InvalidValueError(
            f"route metric {value!r} is out of range", hint="use 0 to 4294967295", field="metric"
        )


def _check_size(instance: object, attribute: attrs.Attribute[int | None], value: object) -> None:
    if value is not None and (type(value) is not int or value < 0):
        raise InvalidValueError(
            f"{attribute.name} {value!r} is not a size in bytes",
            hint="use a whole number of bytes",
            field=v.camel(attribute.name),
        )


@frozen(kw_only=True)
class IPAddress:
    """One address on an interface, with its prefix length.

    ``dynamic`` is true when the address was leased (DHCP/SLAAC) rather than configured statically.
    """

    address: str = field(validator=v.check(v.ip_address))
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

    name: str = field(validator=v.check(v.interface_name))
    mac: str | None = field(default=None, validator=v.check(v.optional(v.mac)))
    driver: str | None = field(default=None, validator=v.check(v.optional(v.driver)))
    predictable_name: str | None = field(
        default=None, validator=v.check(v.optional(v.interface_name))
    )
    ipv4: tuple[IPAddress, ...] = ()
    ipv6: tuple[IPAddress, ...] = ()

    def __attrs_post_init__(self) -> None:
        for key, family in (("ipv4", 4), ("ipv6", 6)):
            for index, addr in enumerate(getattr(self, key)):
                if addr.version != family:
                    raise InvalidValueError(
                        f"{addr.address!r} is not an IPv{family} address",
                        hint="put it into the list of its family",
                        field=f"{key}[{index}].address",
                    )

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
    destination: str = field(validator=_check_route)
    gateway: str | None = field(default=None, validator=_check_route)
    device: str | None = field(default=None, validator=v.check(v.optional(v.interface_name)))
    on_link: bool = False
    metric: int | None = field(default=None, validator=_check_metric)

    @property
    def is_default(self) -> bool:
        return self.destination in ("default", "0.0.0.0/0", "::/0")


@frozen(kw_only=True)
class Disk:
    """A whole disk. ``by_id`` is its stable ``/dev/disk/by-id/...`` path when it has one."""

    path: str = field(validator=v.check(v.disk_path))
    by_id: str | None = field(default=None, validator=v.check(v.optional(v.disk_path)))
    size_bytes: int | None = field(default=None, validator=_check_size)
    model: str | None = field(default=None, validator=v.check(v.optional(v.text)))
    serial: str | None = field(default=None, validator=v.check(v.optional(v.text)))
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

    ``host_name`` is a host name NixOS accepts, or an FQDN whose first label is the host name
    and the rest the domain; ``disk_to_format`` is ``""`` when unknown, else a device path
    that, when ``disks`` are listed, is one of them; ``root_authorized_keys`` are key lines
    without options (the readers remove options, with a warning).
    """

    host_name: str = field(validator=v.check(v.host_name))
    host_id: str = field(validator=v.check(v.host_id))
    disk_to_format: str = field(validator=v.check(lambda d: d == "" or v.disk_path(d)))
    root_authorized_keys: tuple[str, ...] = field(default=(), validator=v.each(check_key))
    interfaces: tuple[Interface, ...] = ()
    primary_interface: str | None = field(
        default=None, validator=v.check(v.optional(v.interface_name))
    )
    routes: tuple[Route, ...] = ()
    nameservers: tuple[str, ...] = field(default=(), validator=v.each(v.nameserver))
    disks: tuple[Disk, ...] = ()
    arch: str | None = field(default=None, validator=v.check(v.optional(v.arch)))
    memory_bytes: int | None = field(default=None, validator=_check_size)
    boot_mode: BootMode = BootMode.UNKNOWN
    hoster: str = field(default="generic", validator=v.check(lambda h: v.name(h, what="hoster")))
    hoster_details: tuple[tuple[str, str], ...] = field(
        default=(),
        validator=v.pairs(
            lambda k: v.name(k, what="hoster detail"),
            lambda x: v.text(x, what="hoster detail"),
        ),
    )
    schema_version: int = SCHEMA_VERSION

    def __attrs_post_init__(self) -> None:
        if self.disks and self.disk_to_format and self.disk(self.disk_to_format) is None:
            raise InvalidValueError(
                f"disk to format {self.disk_to_format!r} is not among the host's disks",
                hint="pick one of: " + ", ".join(d.stable_path for d in self.disks),
                field="diskToFormat",
            )

    @property
    def short_host_name(self) -> str:
        """The host name without the domain (``networking.hostName``)."""
        return v.split_host_name(self.host_name)[0]

    @property
    def domain(self) -> str | None:
        """The domain of an FQDN host name (``networking.domain``), else ``None``."""
        return v.split_host_name(self.host_name)[1]

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
