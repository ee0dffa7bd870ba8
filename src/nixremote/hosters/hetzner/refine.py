"""What Hetzner guarantees about its servers' networks, applied to a generic runtime info.

Pure: runtime info and metadata in, runtime info out. Hetzner Cloud gives a server its IPv4
address as a ``/32`` behind the on-link gateway ``172.31.1.1`` and an IPv6 ``/64`` (the server
uses ``<prefix>::1``) behind ``fe80::1``; Hetzner's recursive resolvers serve cloud and
dedicated servers alike. The rescue system names the NIC ``eth0`` while NixOS names it e.g.
``enp1s0``, so the public interface is found by the MAC address the metadata names.
"""

from __future__ import annotations

import ipaddress

import attrs

from ...core.models import Interface, IPAddress, Route, RuntimeInfo
from .metadata import HetznerMetadata

IPV4_GATEWAY = "172.31.1.1"
IPV6_GATEWAY = "fe80::1"
RESOLVERS = ("185.12.64.1", "185.12.64.2", "2a01:4ff:ff00::add:1", "2a01:4ff:ff00::add:2")


def _public_interface(info: RuntimeInfo, metadata: HetznerMetadata | None) -> Interface | None:
    mac = metadata.interface.mac_address if metadata and metadata.interface else None
    if mac:
        for iface in info.interfaces:
            if iface.mac and iface.mac.lower() == mac.lower():
                return iface
    if metadata and metadata.public_ipv4:
        for iface in info.interfaces:
            if any(a.address == metadata.public_ipv4 for a in iface.ipv4):
                return iface
    return info.primary


def _is_cloud(info: RuntimeInfo, metadata: HetznerMetadata | None) -> bool:
    return metadata is not None or any(r.gateway == IPV4_GATEWAY for r in info.routes)


def refine(info: RuntimeInfo, metadata: HetznerMetadata | None) -> RuntimeInfo:
    """``info`` with Hetzner's gateways, resolvers, server name and id applied."""
    details = dict(info.hoster_details)
    details["network"] = "cloud" if _is_cloud(info, metadata) else "dedicated"
    changes: dict[str, object] = {"nameservers": RESOLVERS, "hoster": "hetzner"}
    if metadata is not None:
        details["serverId"] = str(metadata.instance_id)
        details["serverName"] = metadata.hostname
        if metadata.region:
            details["region"] = metadata.region
        if metadata.availability_zone:
            details["availabilityZone"] = metadata.availability_zone
        if metadata.public_ipv4:
            details["publicIpv4"] = metadata.public_ipv4
        changes["host_name"] = metadata.hostname.split(".")[0]
    changes["hoster_details"] = tuple(sorted(details.items()))

    iface = _public_interface(info, metadata)
    if iface is None or not _is_cloud(info, metadata):
        return attrs.evolve(info, **changes)  # type: ignore[arg-type]

    new_iface = iface
    if (
        metadata
        and metadata.public_ipv4
        and not any(a.address == metadata.public_ipv4 for a in iface.ipv4)
    ):
        new_iface = attrs.evolve(
            new_iface,
            ipv4=(IPAddress(address=metadata.public_ipv4, prefix_length=32), *iface.ipv4),
        )
    v6 = metadata.interface if metadata and metadata.interface else None
    if v6 and v6.ipv6_address and v6.ipv6_prefix_length is not None:
        wanted = ipaddress.ip_address(v6.ipv6_address)
        if not any(ipaddress.ip_address(a.address) == wanted for a in iface.ipv6):
            new_iface = attrs.evolve(
                new_iface,
                ipv6=(
                    *new_iface.ipv6,
                    IPAddress(address=v6.ipv6_address, prefix_length=v6.ipv6_prefix_length),
                ),
            )
    interfaces = tuple(new_iface if i is iface else i for i in info.interfaces)

    routes = [r for r in info.routes if not (r.is_default and r.device in (None, iface.name))]
    routes.append(
        Route(
            family=4, destination="default", gateway=IPV4_GATEWAY, device=iface.name, on_link=True
        )
    )
    if new_iface.global_ipv6:
        routes.append(
            Route(family=6, destination="default", gateway=IPV6_GATEWAY, device=iface.name)
        )
    changes.update(interfaces=interfaces, routes=tuple(routes), primary_interface=iface.name)
    return attrs.evolve(info, **changes)  # type: ignore[arg-type]
