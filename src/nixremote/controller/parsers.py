"""Pure parsers: the probe's raw texts in, typed values out.

Every function here takes text (or ``None`` for a fact the probe could not collect) and never
raises on malformed input: what it cannot read it returns as unknown (``None``, an empty tuple or
an empty mapping). No I/O happens here; :mod:`nixremote.controller.collect` combines the results
into a :class:`~nixremote.core.models.RuntimeInfo`.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Any

from attrs import frozen

from ..core.blockdev import BlockDevice
from ..core.lenient import bool_or_none, dicts, int_or_none, json_or_none, str_or_none
from ..core.models import IPAddress, Route

_MAC_RE = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")


def normalize_mac(value: Any) -> str | None:
    """A MAC address in lowercase ``aa:bb:cc:dd:ee:ff`` form; ``None`` for anything else,
    including the all-zero address of loopback and tunnels."""
    if not isinstance(value, str):
        return None
    mac = value.strip().lower()
    if not _MAC_RE.match(mac) or mac == "00:00:00:00:00:00":
        return None
    return mac


def _ip(value: Any) -> str | None:
    """A normalized IP address text, or ``None``."""
    if not isinstance(value, str):
        return None
    try:
        return str(ipaddress.ip_address(value.split("%", 1)[0].strip()))
    except ValueError:
        return None


# --- simple facts ---------------------------------------------------------------------------

_HOST_LABEL = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")


def parse_hostname(text: str | None) -> str | None:
    """The short host name (first label) from ``hostname`` or ``hostname -f`` output."""
    if not text:
        return None
    lines = text.strip().splitlines()
    if not lines:
        return None
    label = lines[0].strip().split(".", 1)[0]
    return label if _HOST_LABEL.match(label) else None


def parse_fqdn(text: str | None) -> str | None:
    """The fully qualified name from ``hostname -f``, when it has a domain part."""
    if not text:
        return None
    lines = text.strip().splitlines()
    if not lines:
        return None
    name = lines[0].strip().rstrip(".")
    labels = name.split(".")
    if len(labels) < 2 or not all(_HOST_LABEL.match(label) for label in labels):
        return None
    return name


def parse_os_release(text: str | None) -> dict[str, str]:
    """``/etc/os-release`` as a mapping (quotes and escapes removed)."""
    out: dict[str, str] = {}
    if not text:
        return out
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        key = key.strip()
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
            value = re.sub(r"\\(.)", r"\1", value)
        out[key] = value
    return out


def parse_meminfo(text: str | None) -> int | None:
    """Bytes of ``MemTotal`` from ``/proc/meminfo``."""
    if not text:
        return None
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "MemTotal:" and parts[1].isdigit():
            unit = parts[2].lower() if len(parts) > 2 else "b"
            factor = {"kb": 1024, "b": 1, "mb": 1024 * 1024}.get(unit)
            if factor is None:
                return None
            return int(parts[1]) * factor
    return None


def parse_arch(text: str | None) -> str | None:
    """``uname -m`` (``x86_64``, ``aarch64``)."""
    if not text:
        return None
    value = text.strip()
    return value if re.fullmatch(r"[A-Za-z0-9_]{1,32}", value) else None


def parse_efi(text: str | None) -> bool | None:
    """Whether the host booted by UEFI, from the probe's ``efi`` section (``1``/``0``)."""
    if text is None:
        return None
    value = text.strip()
    return {"1": True, "0": False}.get(value)


def parse_machine_id(text: str | None) -> str | None:
    """``/etc/machine-id`` (32 lowercase hex digits), or ``None``."""
    if not text:
        return None
    value = text.strip().lower()
    if re.fullmatch(r"[0-9a-f]{32}", value) and value != "0" * 32:
        return value
    return None


def parse_uid(text: str | None) -> int | None:
    return int_or_none(text.strip()) if text else None


_KEY_TYPES = re.compile(
    r"(^|\s)(ssh-(rsa|dss|ed25519)|ecdsa-sha2-nistp(256|384|521)|sk-(ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com)\s+[A-Za-z0-9+/=]+"
)


def parse_authorized_keys(text: str | None) -> tuple[str, ...]:
    """The keys of an ``authorized_keys`` file, one line each (options kept, comments and
    blank lines dropped, anything without a recognised key type dropped)."""
    if not text:
        return ()
    keys = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if _KEY_TYPES.search(line):
            keys.append(line)
    return tuple(keys)


def parse_resolv_conf(text: str | None) -> tuple[str, ...]:
    """The ``nameserver`` addresses of a ``resolv.conf``, in order, without duplicates."""
    out: list[str] = []
    if not text:
        return ()
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "nameserver":
            addr = _ip(parts[1])
            if addr and addr not in out:
                out.append(addr)
    return tuple(out)


def is_stub_resolver(address: str) -> bool:
    """A local stub resolver (``127.0.0.53``, ``::1``) that is no use on the installed system."""
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def parse_kexec(text: str | None) -> str | None:
    """The path of the host's ``kexec`` binary, or ``None`` when it has none (or unknown)."""
    if not text:
        return None
    value = text.strip().splitlines()[0].strip() if text.strip() else ""
    return value if value.startswith("/") else None


# --- network --------------------------------------------------------------------------------


@frozen(kw_only=True)
class Link:
    """One link from ``ip -j -d addr``: name, MAC, kind (``veth``, ``bridge``; ``None`` for a
    plain device), link type (``ether``, ``loopback``) and addresses."""

    name: str
    ifindex: int | None = None
    mac: str | None = None
    link_type: str | None = None
    kind: str | None = None
    up: bool = False
    ipv4: tuple[IPAddress, ...] = ()
    ipv6: tuple[IPAddress, ...] = ()

    @property
    def is_loopback(self) -> bool:
        return self.link_type == "loopback" or self.name == "lo"


def _address(info: dict[str, Any]) -> IPAddress | None:
    local = _ip(info.get("local"))
    prefix = int_or_none(info.get("prefixlen"))
    if local is None or prefix is None:
        return None
    if info.get("scope") == "host":
        return None
    try:
        return IPAddress(address=local, prefix_length=prefix, dynamic=info.get("dynamic") is True)
    except (ValueError, TypeError):
        return None


_LINK_RE = re.compile(r"^(\d+):\s+([^:@\s]+)(?:@\S*)?:\s+<([^>]*)>")


def ip_addr_text_to_json(text: str) -> list[dict[str, Any]]:
    """``ip addr show`` text (busybox, or an iproute2 without ``-j``) in ``ip -j addr``'s shape."""
    out: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    for line in text.splitlines():
        match = _LINK_RE.match(line)
        if match:
            current = {
                "ifindex": int(match.group(1)),
                "ifname": match.group(2),
                "flags": match.group(3).split(","),
                "addr_info": [],
            }
            out.append(current)
            continue
        tokens = line.split()
        if current is None or not tokens:
            continue
        if tokens[0].startswith("link/"):
            current["link_type"] = tokens[0][5:]
            if len(tokens) > 1:
                current["address"] = tokens[1]
        elif tokens[0] in ("inet", "inet6") and len(tokens) > 1 and "/" in tokens[1]:
            local, _, prefix = tokens[1].partition("/")
            info: dict[str, Any] = {"family": tokens[0], "local": local, "prefixlen": prefix}
            if "scope" in tokens[2:-1]:
                info["scope"] = tokens[tokens.index("scope", 2) + 1]
            if "dynamic" in tokens[2:]:
                info["dynamic"] = True
            current["addr_info"].append(info)
    return out


_ROUTE_TYPES = frozenset(
    (
        "unicast",
        "unreachable",
        "blackhole",
        "prohibit",
        "local",
        "broadcast",
        "throw",
        "nat",
        "anycast",
        "multicast",
    )
)
_ROUTE_FLAGS = frozenset(("onlink", "pervasive", "linkdown", "dead", "offload", "trap"))
_ROUTE_KEYS = {
    "via": "gateway",
    "dev": "dev",
    "proto": "protocol",
    "metric": "metric",
    "scope": "scope",
    "src": "prefsrc",
    "table": "table",
    "pref": "pref",
}


def ip_route_text_to_json(text: str) -> list[dict[str, Any]]:
    """``ip route show`` text (busybox, or an iproute2 without ``-j``) in ``ip -j route``'s
    shape. Multipath next hops (indented lines) are ignored."""
    out: list[dict[str, Any]] = []
    for line in text.splitlines():
        tokens = line.split()
        if not tokens or line[0].isspace():
            continue
        item: dict[str, Any] = {"flags": []}
        if tokens[0] in _ROUTE_TYPES:
            item["type"] = tokens.pop(0)
        if not tokens:
            continue
        item["dst"] = tokens.pop(0)
        index = 0
        while index < len(tokens):
            key = tokens[index]
            if key in _ROUTE_FLAGS:
                item["flags"].append(key)
                index += 1
                continue
            if key in _ROUTE_KEYS and index + 1 < len(tokens):
                item[_ROUTE_KEYS[key]] = tokens[index + 1]
                index += 2
                continue
            index += 1
        out.append(item)
    return out


def _json_or_text(text: str | None, fallback: Any) -> Any:
    data = json_or_none(text)
    if data is None and text and not text.lstrip().startswith(("[", "{")):
        return fallback(text)
    return data


def parse_ip_addr(text: str | None) -> tuple[Link, ...]:
    """``ip -j [-d] addr show`` (or its text form) into links with their addresses (host-scope
    ones dropped)."""
    links: list[Link] = []
    for item in dicts(_json_or_text(text, ip_addr_text_to_json)):
        name = str_or_none(item.get("ifname"))
        if name is None:
            continue
        v4: list[IPAddress] = []
        v6: list[IPAddress] = []
        for info in dicts(item.get("addr_info")):
            addr = _address(info)
            if addr is None:
                continue
            family = info.get("family")
            if family == "inet" and addr.version == 4:
                v4.append(addr)
            elif family == "inet6" and addr.version == 6:
                v6.append(addr)
        linkinfo = item.get("linkinfo")
        kind = str_or_none(linkinfo.get("info_kind")) if isinstance(linkinfo, dict) else None
        flags = item.get("flags")
        links.append(
            Link(
                name=name,
                ifindex=int_or_none(item.get("ifindex")),
                mac=normalize_mac(item.get("address")),
                link_type=str_or_none(item.get("link_type")),
                kind=kind,
                up=isinstance(flags, list) and "UP" in flags,
                ipv4=tuple(v4),
                ipv6=tuple(v6),
            )
        )
    return tuple(links)


def _destination(dst: Any, family: int) -> str | None:
    if dst == "default":
        return "default"
    if not isinstance(dst, str):
        return None
    try:
        net = ipaddress.ip_network(dst, strict=False)
    except ValueError:
        return None
    if net.version != family:
        return None
    if net.prefixlen == 0:
        return "default"
    return str(net)


def parse_routes(
    text: str | None, family: int, *, include_kernel: bool = False
) -> tuple[Route, ...]:
    """``ip -j -4 route`` / ``ip -j -6 route`` (or their text form) into unicast routes of
    ``family``.

    A host route printed without a prefix (``172.31.1.1``) becomes ``172.31.1.1/32``; ``onlink``
    in the flags sets ``on_link`` (see :func:`mark_on_link` for gateways that are on-link
    without the flag). Unreachable, blackhole, local and multicast routes are dropped, and so
    are the prefix routes the kernel derives from addresses (``proto kernel``) unless
    ``include_kernel``: the installed system derives them again from the same addresses.
    """
    if family not in (4, 6):
        return ()
    routes: list[Route] = []
    for item in dicts(_json_or_text(text, ip_route_text_to_json)):
        kind = item.get("type", "unicast")
        if kind not in ("unicast", None):
            continue
        if item.get("protocol") == "kernel" and not include_kernel:
            continue
        dest = _destination(item.get("dst"), family)
        if dest is None:
            continue
        gateway = None
        if "via" in item and "gateway" not in item:
            continue  # a nexthop of the other family (RFC 5549): not expressible here
        if "gateway" in item:
            gateway = _ip(item.get("gateway"))
            if gateway is None or ipaddress.ip_address(gateway).version != family:
                continue  # a route via another family (RFC 5549) or garbage
        flags = item.get("flags")
        metric = int_or_none(item.get("metric"))
        try:
            routes.append(
                Route(
                    family=family,
                    destination=dest,
                    gateway=gateway,
                    device=str_or_none(item.get("dev")),
                    on_link=isinstance(flags, list) and "onlink" in flags,
                    metric=metric,
                )
            )
        except (ValueError, TypeError):
            continue
    return tuple(routes)


def drop_connected(routes: tuple[Route, ...], links: tuple[Link, ...]) -> tuple[Route, ...]:
    """Drop the routes the kernel derives from addresses, for ip output without ``proto``
    (busybox): a gateway-less route to exactly the prefix of an address on its device, and
    the link-local ``fe80::/64``."""
    connected: set[tuple[str | None, str]] = set()
    for link in links:
        for addr in (*link.ipv4, *link.ipv6):
            connected.add((link.name, str(addr.interface.network)))
    return tuple(
        r
        for r in routes
        if r.gateway is not None
        or ((r.device, r.destination) not in connected and r.destination != "fe80::/64")
    )


def mark_on_link(routes: tuple[Route, ...], links: tuple[Link, ...]) -> tuple[Route, ...]:
    """Mark IPv4 routes whose gateway lies outside every prefix of their device as on-link.

    That is the hoster case: an address ``/32`` and a gateway such as ``172.31.1.1`` reached
    through a host route; the installed system must configure the gateway as on-link.
    IPv6 link-local gateways (``fe80::1``) are on-link by nature and stay unmarked.
    """
    from attrs import evolve

    nets: dict[str, list[ipaddress.IPv4Network | ipaddress.IPv6Network]] = {}
    for link in links:
        nets[link.name] = [a.interface.network for a in (*link.ipv4, *link.ipv6)]
    out = []
    for route in routes:
        if route.gateway and not route.on_link and route.device in nets:
            gw = ipaddress.ip_address(route.gateway)
            if not gw.is_link_local and not any(gw in net for net in nets[route.device or ""]):
                route = evolve(route, on_link=True)
        out.append(route)
    return tuple(out)


@frozen(kw_only=True)
class Nic:
    """What /sys and udev say about one network interface."""

    name: str
    mac: str | None = None
    ifindex: int | None = None
    arp_type: int | None = None
    driver: str | None = None
    virtual: bool = False
    udev: tuple[tuple[str, str], ...] = ()

    @property
    def predictable_name(self) -> str | None:
        return predictable_name(dict(self.udev))


_NAME_RE = re.compile(r"^[A-Za-z0-9_.:@-]{1,15}$")


def parse_nics(text: str | None) -> dict[str, Nic]:
    """The probe's ``nics`` section: one ``iface NAME`` line, then ``key value`` lines."""
    out: dict[str, Nic] = {}
    if not text:
        return out
    current: dict[str, Any] | None = None

    def flush() -> None:
        if current is not None:
            out[current["name"]] = Nic(**current)

    for line in text.splitlines():
        key, _, value = line.strip().partition(" ")
        value = value.strip()
        if key == "iface":
            flush()
            current = {"name": value, "udev": ()} if _NAME_RE.match(value) else None
            continue
        if current is None:
            continue
        if key == "address":
            current["mac"] = normalize_mac(value)
        elif key == "ifindex":
            current["ifindex"] = int_or_none(value)
        elif key == "type":
            current["arp_type"] = int_or_none(value)
        elif key == "driver" and re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", value):
            current["driver"] = value
        elif key == "virtual":
            current["virtual"] = value == "1"
        elif key == "udev" and "=" in value:
            prop, _, name = value.partition("=")
            if prop.startswith("ID_NET_NAME") and _NAME_RE.match(name):
                current["udev"] = (*current["udev"], (prop, name))
    flush()
    return out


UDEV_NAME_ORDER = (
    "ID_NET_NAME_FROM_DATABASE",
    "ID_NET_NAME_ONBOARD",
    "ID_NET_NAME_SLOT",
    "ID_NET_NAME_PATH",
)
"""udev properties in the order systemd's default naming policy prefers them.

``ID_NET_NAME`` (the name a link file applied) is not among them: a rescue system booted with
``net.ifnames=0`` sets it to ``eth0``, which is not what the installed system will call the NIC."""


def predictable_name(udev: Mapping[str, str]) -> str | None:
    """The name udev's predictable naming gives an interface (``enp1s0``), or ``None``."""
    for key in UDEV_NAME_ORDER:
        if udev.get(key):
            return udev[key]
    return None


# --- disks ----------------------------------------------------------------------------------


def parse_sys_block(text: str | None) -> tuple[BlockDevice, ...]:
    """The probe's ``sys-block`` section (used when lsblk is missing): whole disks only."""
    out: list[BlockDevice] = []
    if not text:
        return ()
    for line in text.splitlines():
        parts = line.split(None, 5)
        if len(parts) < 5:
            continue
        name, devno, sectors, removable, rotational = parts[:5]
        if not _NAME_RE.match(name) or not re.fullmatch(r"\d+:\d+", devno):
            continue
        size = int_or_none(sectors)
        kind = "loop" if name.startswith("loop") else "rom" if name.startswith("sr") else "disk"
        out.append(
            BlockDevice(
                name=name,
                path=f"/dev/{name}",
                type=kind,
                devno=devno,
                size=size * 512 if size is not None else None,
                model=(parts[5].strip() or None) if len(parts) > 5 else None,
                rotational=bool_or_none(rotational),
                removable=removable == "1",
            )
        )
    return tuple(out)


def parse_disk_by_id(text: str | None) -> dict[str, tuple[str, ...]]:
    """``/dev/disk/by-id`` links by the device they point to (``/dev/sda`` -> links, sorted)."""
    out: dict[str, list[str]] = {}
    if not text:
        return {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) != 2:
            continue
        link, target = parts
        if not link.startswith("/dev/disk/by-id/") or not target.startswith("/dev/"):
            continue
        out.setdefault(target, []).append(link)
    return {target: tuple(sorted(links)) for target, links in out.items()}


_BY_ID_PREFERENCE = ("nvme-", "ata-", "scsi-0", "scsi-", "virtio-", "usb-", "mmc-")


def best_by_id(links: tuple[str, ...]) -> str | None:
    """The by-id link nixremote names a disk by: the most readable, stable one.

    Partition links are ignored; ``nvme-``, ``ata-``, ``scsi-`` and ``virtio-`` names come
    before ``wwn-`` and ``nvme-eui.`` ones; ties go to the alphabetically first.
    """

    def rank(link: str) -> tuple[int, str]:
        base = link.rsplit("/", 1)[-1]
        if base.startswith(("nvme-eui.", "nvme-nvme.")):
            return (len(_BY_ID_PREFERENCE) + 1, base)
        for index, prefix in enumerate(_BY_ID_PREFERENCE):
            if base.startswith(prefix):
                return (index, base)
        return (len(_BY_ID_PREFERENCE) + 2, base)

    candidates = [
        link for link in links if not re.search(r"-part\d+$", link) and link.count("/") == 4
    ]
    if not candidates:
        return None
    return min(candidates, key=rank)
