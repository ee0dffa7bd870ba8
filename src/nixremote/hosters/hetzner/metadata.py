"""Pure parsers of the Hetzner Cloud metadata service's answers.

Inside a Hetzner Cloud server, ``http://169.254.169.254/hetzner/v1/metadata`` answers a YAML
document (hostname, instance-id, public-ipv4, public-keys, availability-zone, region, and the
cloud-init v1 ``network-config``), and ``.../metadata/<key>`` answers one item:
``hostname``, ``instance-id`` and ``public-ipv4`` as plain text, ``network-config`` and
``private-networks`` as YAML. This module turns those texts into frozen models; fetching them
(over the SSH transport, from the target) is the caller's part.

The YAML is parsed by :func:`load_yaml_subset`, a small strict parser of the subset the service
emits (block mappings and sequences, plain scalars that may wrap over lines, quoted scalars,
literal blocks, flow sequences of scalars), so that PyYAML is not a dependency. Anything outside
the subset (anchors, tags, flow mappings with content, tabs) is an
:class:`~nixremote.core.errors.InvalidInputError` that names the line.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from attrs import frozen

from ...core.errors import InvalidInputError

METADATA_URL = "http://169.254.169.254/hetzner/v1/metadata"
"""The metadata service as a Hetzner Cloud server sees it (tests use a loopback fake instead)."""

METADATA_ITEMS = ("hostname", "instance-id", "public-ipv4", "network-config", "private-networks")
"""The items nixremote reads, each at ``<base>/<item>``."""


def metadata_url(base: str = METADATA_URL, item: str | None = None) -> str:
    """The URL of ``item`` under the metadata ``base`` URL (the whole document for ``None``)."""
    base = base.rstrip("/")
    if item is None:
        return base
    if item not in METADATA_ITEMS:
        raise InvalidInputError(
            f"unknown metadata item {item!r}", hint=f"use one of {METADATA_ITEMS}"
        )
    return f"{base}/{item}"


# ---------------------------------------------------------------------------------------------
# Models


@frozen(kw_only=True)
class PrivateNetwork:
    """One private network the server is attached to (``/metadata/private-networks``)."""

    ip: str
    alias_ips: tuple[str, ...] = ()
    interface_num: int | None = None
    mac_address: str | None = None
    network_id: int | None = None
    network_name: str | None = None
    network: str | None = None
    subnet: str | None = None
    gateway: str | None = None


@frozen(kw_only=True)
class PublicInterface:
    """The public interface from ``network-config``: IPv4 by DHCP, IPv6 static.

    ``name`` is the name the network-config uses (``eth0``); match the NIC by ``mac_address``,
    since the installed system names it differently (``enp1s0``).
    """

    name: str | None
    mac_address: str | None
    ipv4_dhcp: bool
    ipv6_address: str | None = None
    ipv6_prefix_length: int | None = None
    ipv6_gateway: str | None = None
    nameservers: tuple[str, ...] = ()


@frozen(kw_only=True)
class HetznerMetadata:
    """What the metadata service says about the server."""

    hostname: str
    instance_id: int
    public_ipv4: str | None
    interface: PublicInterface | None = None
    private_networks: tuple[PrivateNetwork, ...] = ()
    public_keys: tuple[str, ...] = ()
    availability_zone: str | None = None
    region: str | None = None

    @property
    def ipv6_address(self) -> str | None:
        return self.interface.ipv6_address if self.interface else None

    @property
    def ipv6_prefix_length(self) -> int | None:
        return self.interface.ipv6_prefix_length if self.interface else None

    @property
    def ipv6_gateway(self) -> str | None:
        return self.interface.ipv6_gateway if self.interface else None


# ---------------------------------------------------------------------------------------------
# Parsers of the items


def _fail(what: str, problem: str) -> InvalidInputError:
    return InvalidInputError(
        f"metadata {what}: {problem}",
        hint="the Hetzner metadata service answered something unexpected; check the metadata URL",
    )


_HOSTNAME = re.compile(
    r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
)


def parse_hostname(text: str) -> str:
    """``/metadata/hostname``: the server's name (plain text)."""
    name = text.strip()
    if not _HOSTNAME.fullmatch(name) or len(name) > 253:
        raise _fail("hostname", f"{name[:80]!r} is not a hostname")
    return name


def parse_instance_id(text: str | int) -> int:
    """``/metadata/instance-id``: the server's ID (plain text)."""
    value = str(text).strip()
    if not value.isdigit() or int(value) < 1:
        raise _fail("instance-id", f"{value[:80]!r} is not a server ID")
    return int(value)


def parse_public_ipv4(text: str | None) -> str | None:
    """``/metadata/public-ipv4``: the public IPv4 address, ``None`` if the server has none."""
    value = (text or "").strip()
    if not value:
        return None
    try:
        return str(ipaddress.IPv4Address(value))
    except ValueError:
        raise _fail("public-ipv4", f"{value[:80]!r} is not an IPv4 address") from None


def _str(value: Any, what: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise _fail(what, f"expected a string, got {value!r}")
    return str(value)


def _opt_str(value: Any, what: str) -> str | None:
    return None if value is None else _str(value, what)


def _opt_int(value: Any, what: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(what, f"expected a number, got {value!r}")
    return value


def _str_list(value: Any, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise _fail(what, f"expected a list, got {value!r}")
    return tuple(_str(v, what) for v in value)


def network_config_from_data(data: Any) -> PublicInterface | None:
    """The public interface of a cloud-init v1 network-config (already parsed)."""
    if not isinstance(data, dict):
        raise _fail("network-config", "not a mapping")
    if data.get("version") != 1:
        raise _fail("network-config", f"version {data.get('version')!r}, expected 1")
    config = data.get("config")
    if not isinstance(config, list):
        raise _fail("network-config", "'config' is not a list")
    for entry in config:
        if not isinstance(entry, dict):
            raise _fail("network-config", "a 'config' entry is not a mapping")
        if entry.get("type") != "physical":
            continue
        subnets = entry.get("subnets") or []
        if not isinstance(subnets, list):
            raise _fail("network-config", "'subnets' is not a list")
        ipv4_dhcp = False
        v6_addr: str | None = None
        v6_len: int | None = None
        v6_gw: str | None = None
        nameservers: list[str] = []
        for subnet in subnets:
            if not isinstance(subnet, dict):
                raise _fail("network-config", "a subnet is not a mapping")
            kind = subnet.get("type")
            for ns in _str_list(subnet.get("dns_nameservers"), "network-config dns_nameservers"):
                if ns not in nameservers:
                    nameservers.append(ns)
            if kind in ("dhcp", "dhcp4") or (kind is None and subnet.get("ipv4") is True):
                ipv4_dhcp = True
            elif subnet.get("ipv6") is True or kind in ("static6", "static"):
                address = subnet.get("address")
                if address is None:
                    continue
                try:
                    iface = ipaddress.IPv6Interface(_str(address, "network-config address"))
                except ValueError:
                    raise _fail("network-config", f"{address!r} is not an IPv6 address") from None
                v6_addr = str(iface.ip)
                v6_len = iface.network.prefixlen
                gateway = _opt_str(subnet.get("gateway"), "network-config gateway")
                if gateway is not None:
                    try:
                        v6_gw = str(ipaddress.IPv6Address(gateway))
                    except ValueError:
                        raise _fail("network-config", f"gateway {gateway!r} is not IPv6") from None
        return PublicInterface(
            name=_opt_str(entry.get("name"), "network-config name"),
            mac_address=_opt_str(entry.get("mac_address"), "network-config mac_address"),
            ipv4_dhcp=ipv4_dhcp,
            ipv6_address=v6_addr,
            ipv6_prefix_length=v6_len,
            ipv6_gateway=v6_gw,
            nameservers=tuple(nameservers),
        )
    return None


def parse_network_config(text: str) -> PublicInterface | None:
    """``/metadata/network-config``: cloud-init v1 YAML to the public interface."""
    return network_config_from_data(load_yaml(text, what="network-config"))


def private_networks_from_data(data: Any) -> tuple[PrivateNetwork, ...]:
    if data is None:
        return ()
    if not isinstance(data, list):
        raise _fail("private-networks", "not a list")
    out = []
    for entry in data:
        if not isinstance(entry, dict) or "ip" not in entry:
            raise _fail("private-networks", f"entry without 'ip': {entry!r}")
        w = "private-networks"
        out.append(
            PrivateNetwork(
                ip=_str(entry["ip"], w),
                alias_ips=_str_list(entry.get("alias_ips"), w),
                interface_num=_opt_int(entry.get("interface_num"), w),
                mac_address=_opt_str(entry.get("mac_address"), w),
                network_id=_opt_int(entry.get("network_id"), w),
                network_name=_opt_str(entry.get("network_name"), w),
                network=_opt_str(entry.get("network"), w),
                subnet=_opt_str(entry.get("subnet"), w),
                gateway=_opt_str(entry.get("gateway"), w),
            )
        )
    return tuple(out)


def parse_private_networks(text: str) -> tuple[PrivateNetwork, ...]:
    """``/metadata/private-networks``: YAML list to models (empty answer: none)."""
    if not text.strip():
        return ()
    return private_networks_from_data(load_yaml(text, what="private-networks"))


def parse_metadata(text: str, *, private_networks: str | None = None) -> HetznerMetadata:
    """The whole ``/metadata`` document (plus, optionally, the ``private-networks`` answer)."""
    data = load_yaml(text, what="metadata")
    if not isinstance(data, dict):
        raise _fail("metadata", "not a mapping")
    for key in ("hostname", "instance-id"):
        if key not in data:
            raise _fail("metadata", f"no {key!r}")
    network = data.get("network-config")
    return HetznerMetadata(
        hostname=parse_hostname(_str(data["hostname"], "hostname")),
        instance_id=parse_instance_id(_str(data["instance-id"], "instance-id")),
        public_ipv4=parse_public_ipv4(_opt_str(data.get("public-ipv4"), "public-ipv4")),
        interface=None if network is None else network_config_from_data(network),
        private_networks=(
            parse_private_networks(private_networks) if private_networks is not None else ()
        ),
        public_keys=_str_list(data.get("public-keys"), "public-keys"),
        availability_zone=_opt_str(data.get("availability-zone"), "availability-zone"),
        region=_opt_str(data.get("region"), "region"),
    )


def metadata_from_items(
    *,
    hostname: str,
    instance_id: str,
    public_ipv4: str | None,
    network_config: str | None,
    private_networks: str | None,
) -> HetznerMetadata:
    """A :class:`HetznerMetadata` from the answers of the single-item endpoints."""
    return HetznerMetadata(
        hostname=parse_hostname(hostname),
        instance_id=parse_instance_id(instance_id),
        public_ipv4=parse_public_ipv4(public_ipv4),
        interface=None if network_config is None else parse_network_config(network_config),
        private_networks=parse_private_networks(private_networks or ""),
    )


# ---------------------------------------------------------------------------------------------
# YAML


def load_yaml(text: str, *, what: str = "document") -> Any:
    """``text`` parsed by PyYAML's ``safe_load`` (no tags, no objects); a YAML error is an
    :class:`~nixremote.core.errors.InvalidInputError` naming the line."""
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise _fail(what, f"not valid YAML{where}: {problem}") from None
    except RecursionError:
        raise _fail(what, "nested too deeply") from None
