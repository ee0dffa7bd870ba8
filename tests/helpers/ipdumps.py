"""``ip --json`` dumps as a host prints them, for the network restore's tests.

:data:`HOSTER_DUMP` is the Hetzner shape (a /32 behind the on-link gateway 172.31.1.1, a /64
behind ``fe80::1``, a private network on a second NIC) in the exact form of iproute2 6.1's
``ip -j -d addr`` / ``ip -j -4 route`` / ``ip -j -6 route`` (trimmed to the keys the readers look
at, plus a few they must ignore). :func:`ip_dumps` draws such dumps for Hypothesis, with what a
real host adds: loopback, kernel routes, link-local addresses, leased (``dynamic``) addresses,
host routes to the gateway, metrics, multicast routes.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

from nixremote.core.facts import Facts

Dump = tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]

LOOPBACK: dict[str, Any] = {
    "ifindex": 1,
    "ifname": "lo",
    "flags": ["LOOPBACK", "UP", "LOWER_UP"],
    "mtu": 65536,
    "link_type": "loopback",
    "address": "00:00:00:00:00:00",
    "addr_info": [
        {"family": "inet", "local": "127.0.0.1", "prefixlen": 8, "scope": "host", "label": "lo"},
        {"family": "inet6", "local": "::1", "prefixlen": 128, "scope": "host"},
    ],
}

HOSTER_DUMP: Dump = (
    [
        LOOPBACK,
        {
            "ifindex": 2,
            "ifname": "eth0",
            "flags": ["BROADCAST", "MULTICAST", "UP", "LOWER_UP"],
            "mtu": 1500,
            "link_type": "ether",
            "address": "96:00:00:20:00:01",
            "broadcast": "ff:ff:ff:ff:ff:ff",
            "addr_info": [
                {
                    "family": "inet",
                    "local": "203.0.113.20",
                    "prefixlen": 32,
                    "scope": "global",
                    "label": "eth0",
                    "valid_life_time": 4294967295,
                    "preferred_life_time": 4294967295,
                },
                {
                    "family": "inet6",
                    "local": "2001:db8:20::2",
                    "prefixlen": 64,
                    "scope": "global",
                    "valid_life_time": 4294967295,
                    "preferred_life_time": 4294967295,
                },
                {
                    "family": "inet6",
                    "local": "fe80::9400:ff:fe20:1",
                    "prefixlen": 64,
                    "scope": "link",
                    "valid_life_time": 4294967295,
                    "preferred_life_time": 4294967295,
                },
            ],
        },
        {
            "ifindex": 3,
            "ifname": "eth1",
            "flags": ["BROADCAST", "MULTICAST", "UP", "LOWER_UP"],
            "mtu": 1450,
            "link_type": "ether",
            "address": "86:00:00:20:00:02",
            "addr_info": [
                {
                    "family": "inet",
                    "local": "198.51.100.20",
                    "prefixlen": 24,
                    "broadcast": "198.51.100.255",
                    "scope": "global",
                    "label": "eth1",
                },
                {
                    "family": "inet6",
                    "local": "fe80::8400:ff:fe20:2",
                    "prefixlen": 64,
                    "scope": "link",
                },
            ],
        },
    ],
    [
        {"dst": "default", "gateway": "172.31.1.1", "dev": "eth0", "flags": []},
        {"dst": "172.31.1.1", "dev": "eth0", "scope": "link", "flags": []},
        {
            "dst": "198.51.100.0/24",
            "dev": "eth1",
            "protocol": "kernel",
            "scope": "link",
            "prefsrc": "198.51.100.20",
            "flags": [],
        },
    ],
    [
        {
            "dst": "2001:db8:20::/64",
            "dev": "eth0",
            "protocol": "kernel",
            "metric": 256,
            "flags": [],
            "pref": "medium",
        },
        {"dst": "fe80::/64", "dev": "eth0", "protocol": "kernel", "metric": 256, "flags": []},
        {"dst": "fe80::/64", "dev": "eth1", "protocol": "kernel", "metric": 256, "flags": []},
        {"dst": "default", "gateway": "fe80::1", "dev": "eth0", "metric": 1024, "flags": []},
    ],
)


def facts_of(dump: Dump) -> Facts:
    """The facts a probe would have collected with these dumps (network sections only)."""
    addrs, v4, v6 = dump
    return Facts(
        sections={
            "ip-addr": json.dumps(addrs),
            "ip-route4": json.dumps(v4),
            "ip-route6": json.dumps(v6),
        },
        source="dump",
    )


@st.composite
def _link(draw: st.DrawFn, index: int) -> dict[str, Any]:
    name = f"eth{index}"
    infos: list[dict[str, Any]] = []
    for host in draw(st.lists(st.integers(2, 250), max_size=2, unique=True)):
        net = draw(st.sampled_from(["198.51.100", "203.0.113"]))
        info: dict[str, Any] = {
            "family": "inet",
            "local": f"{net}.{host}",
            "prefixlen": draw(st.sampled_from([24, 28, 32])),
            "scope": "global",
            "label": name,
        }
        if draw(st.booleans()):
            info["dynamic"] = True
            info["valid_life_time"] = 86000
        infos.append(info)
    for n in draw(st.lists(st.integers(1, 9), max_size=2, unique=True)):
        info = {"family": "inet6", "local": f"2001:db8:{index}::{n}", "prefixlen": 64}
        info["scope"] = "global"
        if draw(st.booleans()):
            info["dynamic"] = True
        infos.append(info)
    if draw(st.booleans()):
        infos.append(
            {"family": "inet6", "local": f"fe80::{index + 1}", "prefixlen": 64, "scope": "link"}
        )
    return {
        "ifindex": index + 2,
        "ifname": name,
        "flags": ["BROADCAST", "MULTICAST", "UP", "LOWER_UP"],
        "link_type": "ether",
        "address": f"52:54:00:00:00:{index:02x}",
        "addr_info": infos,
    }


def _kernel_routes(link: dict[str, Any], family: str) -> list[dict[str, Any]]:
    import ipaddress

    out = []
    for info in link["addr_info"]:
        if info["family"] != family:
            continue
        net = ipaddress.ip_interface(f"{info['local']}/{info['prefixlen']}").network
        if net.prefixlen in (32, 128):
            continue
        out.append({"dst": str(net), "dev": link["ifname"], "protocol": "kernel", "flags": []})
    return out


@st.composite
def ip_dumps(draw: st.DrawFn) -> Dump:
    """``ip -j addr``, ``ip -j -4 route``, ``ip -j -6 route`` of a host with 1-3 NICs."""
    links = [draw(_link(i)) for i in range(draw(st.integers(1, 3)))]
    v4: list[dict[str, Any]] = []
    v6: list[dict[str, Any]] = []
    for link in links:
        dev = link["ifname"]
        v4 += _kernel_routes(link, "inet")
        v6 += _kernel_routes(link, "inet6")
        if draw(st.booleans()):
            v6.append({"dst": "fe80::/64", "dev": dev, "protocol": "kernel", "flags": []})
        if draw(st.booleans()):
            gw = draw(st.sampled_from(["172.31.1.1", "198.51.100.1", "203.0.113.1"]))
            route: dict[str, Any] = {"dst": "default", "gateway": gw, "dev": dev, "flags": []}
            if draw(st.booleans()):
                route["flags"] = ["onlink"]
            if draw(st.booleans()):
                route["metric"] = draw(st.sampled_from([0, 100, 1024]))
            if draw(st.booleans()):
                route["protocol"] = draw(st.sampled_from(["dhcp", "static", "boot"]))
            v4.append(route)
            if gw == "172.31.1.1" and draw(st.booleans()):
                v4.append({"dst": "172.31.1.1", "dev": dev, "scope": "link", "flags": []})
        if draw(st.booleans()):
            route = {"dst": "default", "gateway": "fe80::1", "dev": dev, "flags": []}
            if draw(st.booleans()):
                route["metric"] = 1024
            if draw(st.booleans()):
                route["protocol"] = "ra"
            v6.append(route)
        if draw(st.booleans()):
            v4.append({"dst": "192.0.2.0/24", "gateway": "203.0.113.1", "dev": dev, "flags": []})
        if draw(st.booleans()):
            v4.append({"dst": "10.99.0.0/16", "dev": dev, "scope": "link", "flags": []})
        if draw(st.booleans()):
            v6.append(
                {"type": "multicast", "dst": "ff00::/8", "dev": dev, "table": "local", "flags": []}
            )
    if draw(st.booleans()):
        links.insert(0, LOOPBACK)
    return links, v4, v6
