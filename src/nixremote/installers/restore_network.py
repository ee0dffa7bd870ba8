"""Bring the installer up on the addresses of the system it replaced.

Runs inside the installer image (standard library only, one file: the NixOS image builds it with
``pkgs.writers.writePython3``, the test installer image copies it) before the network starts. The
controller put the old system's network into the appended initrd archive, restored to
/root/network/:

- ``addrs.json``, ``routes-v4.json``, ``routes-v6.json``: ``ip --json addr`` and
  ``ip --json -4/-6 route`` of the old system, the *dump*: what its kernel had, exactly;
- ``runtime-info.json``: what nixremote made of it (the primary interface; and the whole network
  when the dump is empty, as it is where ``ip`` has no ``--json``).

One pure function, :func:`describe`, turns that into a network description: one entry per
interface to configure, matched by MAC (names differ between the old system, the installer and
the installed system), with its static addresses, whether it takes DHCP or router
advertisements, and its gateway routes. The rules are those of nix/lib/network.nix for the
installed system: static addresses as they were, on-link gateways (a /32 behind 172.31.1.1),
DHCP where the old system leased its address. Two renderers write the description:

- :func:`networkd_units`: systemd-networkd units, ``00-nixremote-<n>.network`` in
  /run/systemd/network/ (ahead of the NixOS image's DHCP fallback 99-nixremote-dhcp.network);
- :func:`ip_commands`: ``ip`` commands and accept_ra settings for an image without networkd,
  applied at once (``--ip``); stdout then says what became of each interface found, a line
  each: ``static <name>`` (addresses and routes set, no DHCP) or ``dhcp <name>`` (for the
  image's DHCP client). Interfaces not named are the image's to configure (its DHCP fallback).

The files came from the machine being replaced: a value with a newline or another control
character (it would start a new line, or section, in a unit) is refused like nix/lib/network.nix
refuses it, and the network is then left to DHCP.

    restore_network.py [--ip] [RUNTIME_INFO] [OUTPUT_DIR]

The dump is read from RUNTIME_INFO's directory.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

DEFAULT_INFO = "/root/network/runtime-info.json"
DEFAULT_OUT = "/run/systemd/network"
DUMP_FILES = ("addrs.json", "routes-v4.json", "routes-v6.json")
SYS_NET = "/sys/class/net"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
_DEFAULTS = (None, "default", "0.0.0.0/0", "::/0")

Info = dict[str, Any]
Link = dict[str, Any]


def _text(value: Any, what: str) -> str:
    """``value`` when it is a string without control characters (it goes into a unit file)."""
    if not isinstance(value, str):
        raise ValueError(f"{what} {value!r} is not a string")
    if _CONTROL.search(value):
        raise ValueError(f"{what} {value!r} contains a newline or another control character")
    return value


def _prefix(value: Any, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{what} {value!r} is not a whole number")
    return value


# --- the runtime info ------------------------------------------------------------------------


def normalize(info: Info) -> Info:
    """The rich shape, also from a file with only the original installer's flat fields."""
    if "interfaces" in info or not info.get("networkInterface"):
        return info
    name = info["networkInterface"]
    iface: dict[str, Any] = {"name": name, "predictableName": name, "ipv4": [], "ipv6": []}
    routes = []
    for family, key in ((4, "ipv4"), (6, "ipv6")):
        block = info.get(key) or {}
        if block.get("address"):
            iface[key] = [{"address": block["address"], "prefixLength": block["prefixLength"]}]
            if block.get("gateway"):
                routes.append(
                    {
                        "family": family,
                        "destination": "default",
                        "gateway": block["gateway"],
                        "device": name,
                        "onLink": False,
                    }
                )
    return {**info, "interfaces": [iface], "routes": routes, "primaryInterface": name}


# --- the dump (ip --json), read as nixremote's collector reads it ------------------------------


def _list(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _mac(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    mac = value.strip().lower()
    return mac if _MAC.match(mac) and mac != "00:00:00:00:00:00" else None


def _ip(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        return str(ipaddress.ip_address(value.split("%", 1)[0].strip()))
    except ValueError:
        return None


def _int(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _dump_interfaces(addrs: Any) -> list[dict[str, Any]]:
    out = []
    for item in _list(addrs):
        name = item.get("ifname")
        if not isinstance(name, str) or not name:
            continue
        if item.get("link_type") == "loopback" or name == "lo":
            continue
        v4: list[dict[str, Any]] = []
        v6: list[dict[str, Any]] = []
        for a in _list(item.get("addr_info")):
            local = _ip(a.get("local"))
            prefix = _int(a.get("prefixlen"))
            if local is None or prefix is None or prefix < 0 or a.get("scope") == "host":
                continue
            entry = {"address": local, "prefixLength": prefix, "dynamic": a.get("dynamic") is True}
            version = ipaddress.ip_address(local).version
            if a.get("family") == "inet" and version == 4 and prefix <= 32:
                v4.append(entry)
            elif a.get("family") == "inet6" and version == 6 and prefix <= 128:
                v6.append(entry)
        out.append({"name": name, "mac": _mac(item.get("address")), "ipv4": v4, "ipv6": v6})
    return out


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
    return "default" if net.prefixlen == 0 else str(net)


def _dump_routes(routes: Any, family: int) -> list[dict[str, Any]]:
    out = []
    for item in _list(routes):
        if item.get("type", "unicast") not in ("unicast", None):
            continue
        if item.get("protocol") == "kernel":
            continue  # derived from an address: the address brings it back
        dest = _destination(item.get("dst"), family)
        if dest is None:
            continue
        if "via" in item and "gateway" not in item:
            continue  # a next hop of the other family (RFC 5549)
        gateway = None
        if "gateway" in item:
            gateway = _ip(item.get("gateway"))
            if gateway is None or ipaddress.ip_address(gateway).version != family:
                continue
        device = item.get("dev")
        flags = item.get("flags")
        out.append(
            {
                "family": family,
                "destination": dest,
                "gateway": gateway,
                "device": device if isinstance(device, str) and device else None,
                "onLink": isinstance(flags, list) and "onlink" in flags,
                "metric": _int(item.get("metric")),
            }
        )
    return out


def _networks(iface: dict[str, Any]) -> list[Any]:
    return [
        ipaddress.ip_interface(f"{a['address']}/{a['prefixLength']}").network
        for a in iface["ipv4"] + iface["ipv6"]
    ]


def from_dump(addrs: Any, routes_v4: Any, routes_v6: Any, primary: str | None = None) -> Info:
    """The network of the old system from its ``ip --json`` dumps, in the rich shape of
    runtime-info.json (``interfaces``, ``routes``, ``primaryInterface``), read by the rules of
    nixremote's collector: every link but loopback, host-scope addresses dropped, the routes the
    kernel derives from addresses dropped, a gateway outside every prefix of its device marked
    on-link. ``primary`` (the runtime info's) names the primary interface when the dump has it;
    otherwise it is the device of the IPv4, then IPv6, default route with the lowest metric."""
    interfaces = _dump_interfaces(addrs)
    by_name = {i["name"]: i for i in interfaces}
    connected = {(i["name"], str(net)) for i in interfaces for net in _networks(i)}
    routes = []
    for route in _dump_routes(routes_v4, 4) + _dump_routes(routes_v6, 6):
        if route["gateway"] is None and (
            (route["device"], route["destination"]) in connected
            or route["destination"] == "fe80::/64"
        ):
            continue  # a connected prefix printed without "proto kernel" (busybox)
        iface = by_name.get(route["device"] or "")
        if route["gateway"] and not route["onLink"] and iface is not None:
            gw = ipaddress.ip_address(route["gateway"])
            if not gw.is_link_local and not any(gw in net for net in _networks(iface)):
                route["onLink"] = True
        routes.append(route)
    if primary not in by_name:
        primary = None
        for family in (4, 6):
            defaults = [
                r
                for r in routes
                if r["family"] == family
                and r["destination"] in _DEFAULTS
                and r["device"] in by_name
            ]
            if defaults:
                primary = min(defaults, key=lambda r: r["metric"] or 0)["device"]
                break
    if primary is None:
        for iface in interfaces:
            if iface["ipv4"] or any(
                not ipaddress.ip_address(a["address"]).is_link_local for a in iface["ipv6"]
            ):
                primary = iface["name"]
                break
    if primary is None and interfaces:
        primary = interfaces[0]["name"]
    return {"interfaces": interfaces, "routes": routes, "primaryInterface": primary}


def _shown(name: Any) -> str:
    """``name`` for a message: as it is when printable, else quoted."""
    text = str(name)
    return text if text.isprintable() and text.strip() == text and text else repr(text)


def dump_problems(
    addrs: Any, routes_v4: Any, routes_v6: Any, primary: str | None = None
) -> list[str]:
    """Why the dump cannot describe the old system's network (empty when it can).

    An empty address dump is no problem (the installer uses the runtime info then). A gateway
    route through a device the address dump lacks is one (the installer would come up without
    that route), and so is a primary interface that the dump lacks (the runtime info and the
    dump disagree on which interface carries the host's address)."""
    if not all(isinstance(d, list) for d in (addrs, routes_v4, routes_v6)):
        return ["the dump is not ip's JSON (a list) for addresses and both route families"]
    if not _list(addrs):
        return []
    problems = []
    links = {i["name"] for i in _dump_interfaces(addrs)}
    if primary is not None and primary not in links:
        problems.append(f"the primary interface {_shown(primary)} is not in the address dump")
    for route in _dump_routes(routes_v4, 4) + _dump_routes(routes_v6, 6):
        device = route["device"]
        if route["gateway"] is None or device is None or device in links:
            continue
        dest = route["destination"]
        what = "default route" if dest in _DEFAULTS else f"route to {dest}"
        problems.append(
            f"the IPv{route['family']} {what} via {route['gateway']} goes through "
            f"{_shown(device)}, which the address dump lacks"
        )
    return problems


# --- the description -----------------------------------------------------------------------


def _on_link(route: dict[str, Any], static4: list[dict[str, Any]]) -> bool:
    if route.get("onLink"):
        return True
    if route["family"] != 4 or not static4:
        return False
    gw = ipaddress.ip_address(route["gateway"])
    return all(
        gw not in ipaddress.ip_interface(f"{a['address']}/{a['prefixLength']}").network
        for a in static4
    )


def describe(info: Info) -> list[Link]:
    """The network to bring up for ``info`` (runtime-info.json, or :func:`from_dump`'s value).

    One entry per interface to configure: ``index`` (its position in ``info``), ``name`` (on the
    old system), ``mac`` (lowercase; ``None`` when unknown, then ``matchName`` names it),
    ``addresses`` (static, ``address/prefix``), ``dhcp4``, ``acceptRA``, ``primary`` and
    ``routes`` (``family``, ``gateway``, ``destination`` or ``None`` for the default, ``onLink``,
    ``metric`` or ``None``). Raises ValueError for a value no unit may hold."""
    info = normalize(info)
    interfaces = info.get("interfaces") or []
    primary = info.get("primaryInterface") or (interfaces[0]["name"] if interfaces else None)
    out: list[Link] = []
    for index, iface in enumerate(interfaces):
        _text(iface["name"], "interface name")  # routes are matched to it
        v4 = iface.get("ipv4") or []
        v6 = [
            a
            for a in iface.get("ipv6") or []
            if not ipaddress.ip_address(a["address"]).is_link_local
        ]
        static4 = [a for a in v4 if not a.get("dynamic")]
        static6 = [a for a in v6 if not a.get("dynamic")]
        is_primary = iface["name"] == primary
        dhcp4 = any(a.get("dynamic") for a in v4) or (is_primary and not static4 and not static6)
        dynamic6 = any(a.get("dynamic") for a in v6)
        if not (static4 or static6 or dhcp4 or dynamic6):
            continue
        mac = _text(iface["mac"], "MAC address").lower() if iface.get("mac") else None
        routes = []
        for route in info.get("routes") or []:
            device = route.get("device")
            if not route.get("gateway") or not (
                device == iface["name"] or (device is None and is_primary)
            ):
                continue
            if route["family"] == 4 and (not static4 or dhcp4):
                continue
            if route["family"] == 6 and not static6:
                continue
            dest = route.get("destination")
            metric = route.get("metric")
            routes.append(
                {
                    "family": route["family"],
                    "gateway": _text(route["gateway"], "gateway"),
                    "destination": None if dest in _DEFAULTS else _text(dest, "route destination"),
                    "onLink": _on_link(route, static4),
                    "metric": None if metric is None else _prefix(metric, "route metric"),
                }
            )
        out.append(
            {
                "index": index,
                "name": iface["name"],
                "mac": mac,
                "matchName": _text(iface.get("predictableName") or iface["name"], "interface name"),
                "addresses": [
                    f"{_text(a['address'], 'address')}/{_prefix(a['prefixLength'], 'prefix')}"
                    for a in static4 + static6
                ],
                "dhcp4": dhcp4,
                "acceptRA": dynamic6 or not static6,
                "primary": is_primary,
                "routes": routes,
            }
        )
    return out


# --- renderers -----------------------------------------------------------------------------


def networkd_units(links: list[Link]) -> dict[str, str]:
    """File name -> content of the systemd-networkd units of the description ``links``."""
    out: dict[str, str] = {}
    for link in links:
        lines = ["[Match]"]
        if link["mac"]:
            lines.append(f"MACAddress={link['mac']}")
        else:
            lines.append(f"Name={link['matchName']}")
        lines += [
            "",
            "[Network]",
            f"DHCP={'ipv4' if link['dhcp4'] else 'no'}",
            f"IPv6AcceptRA={'yes' if link['acceptRA'] else 'no'}",
        ]
        lines += [f"Address={a}" for a in link["addresses"]]
        for route in link["routes"]:
            lines += ["", "[Route]", f"Gateway={route['gateway']}"]
            if route["destination"] is not None:
                lines.append(f"Destination={route['destination']}")
            if route["onLink"]:
                lines.append("GatewayOnLink=yes")
            if route["metric"] is not None:
                lines.append(f"Metric={route['metric']}")
        out[f"00-nixremote-{link['index']}.network"] = "\n".join(lines) + "\n"
    return out


def units(info: Info) -> dict[str, str]:
    """File name -> content of the networkd units for ``info``."""
    return networkd_units(describe(info))


def ip_commands(links: list[Link], names: dict[str, str]) -> dict[str, Any]:
    """The description ``links`` as commands for a system without networkd.

    ``names`` maps the MAC addresses of the interfaces present now to their names (and each
    name to itself, for interfaces matched by name). Returns ``sysctl`` (``/proc/sys`` path,
    value) pairs to write first, ``ip`` (argv lists) to run in order, ``devices`` (the interfaces
    configured, by their names now), ``dhcp4`` (those of them for a DHCP client) and
    ``missing`` (the old names of interfaces not found)."""
    sysctl: list[tuple[str, str]] = []
    ip: list[list[str]] = []
    devices: list[str] = []
    dhcp4: list[str] = []
    missing: list[str] = []
    for link in links:
        dev = names.get(link["mac"]) if link["mac"] else names.get(link["matchName"])
        if dev is None:
            missing.append(link["name"])
            continue
        devices.append(dev)
        sysctl.append((f"net/ipv6/conf/{dev}/accept_ra", "1" if link["acceptRA"] else "0"))
        ip.append(["ip", "link", "set", "dev", dev, "up"])
        ip += [["ip", "addr", "replace", a, "dev", dev] for a in link["addresses"]]
        for route in link["routes"]:
            cmd = ["ip", f"-{route['family']}", "route", "replace"]
            cmd += [route["destination"] or "default", "via", route["gateway"], "dev", dev]
            if route["onLink"]:
                cmd.append("onlink")
            if route["metric"] is not None:
                cmd += ["metric", str(route["metric"])]
            ip.append(cmd)
        if link["dhcp4"]:
            dhcp4.append(dev)
    return {"sysctl": sysctl, "ip": ip, "devices": devices, "dhcp4": dhcp4, "missing": missing}


# --- reading the files, and the command ---------------------------------------------------


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def load(source: Path) -> tuple[Info, str]:
    """The network to describe: from the dump beside ``source`` (runtime-info.json) when it
    lists addresses, else from ``source`` itself. Returns it and where it came from. Raises
    FileNotFoundError when neither is there, ValueError for a file that does not parse."""
    info = _read_json(source) if source.is_file() else None
    if info is not None and not isinstance(info, dict):
        raise ValueError(f"{source} does not hold a JSON object")
    dumps = [source.parent / name for name in DUMP_FILES]
    if all(p.is_file() for p in dumps):
        addrs, routes_v4, routes_v6 = (_read_json(p) for p in dumps)
        if _list(addrs):
            primary = normalize(info).get("primaryInterface") if info else None
            for problem in dump_problems(addrs, routes_v4, routes_v6, primary):
                print(f"restore-network: warning: {problem}", file=sys.stderr)
            return from_dump(
                addrs, routes_v4, routes_v6, primary
            ), f"the ip dump in {source.parent}"
    if info is None:
        raise FileNotFoundError(source)
    return info, str(source)


def current_names(sys_net: str = SYS_NET) -> dict[str, str]:
    """MAC -> name of the interfaces present now (and name -> name)."""
    names: dict[str, str] = {}
    for name in sorted(os.listdir(sys_net)):
        names[name] = name
        try:
            with open(os.path.join(sys_net, name, "address"), encoding="ascii") as fh:
                mac = _mac(fh.read())
        except OSError:
            continue
        if mac is not None and mac not in names:
            names[mac] = name
    return names


def apply_ip(
    links: list[Link], sys_net: str = SYS_NET, proc_sys: str = "/proc/sys"
) -> list[tuple[str, str]]:
    """Apply the description now with ``ip``; return ``("static" or "dhcp", name)`` for each
    interface configured."""
    plan = ip_commands(links, current_names(sys_net))
    for name in plan["missing"]:
        print(f"restore-network: no interface of {name} here, skipped", file=sys.stderr)
    for path, value in plan["sysctl"]:
        try:
            with open(os.path.join(proc_sys, path), "w", encoding="ascii") as fh:
                fh.write(value + "\n")
        except OSError as exc:
            print(f"restore-network: cannot set {path}: {exc}", file=sys.stderr)
    for argv in plan["ip"]:
        result = subprocess.run(argv, capture_output=True, text=True, check=False)
        status = "ok" if result.returncode == 0 else f"failed: {result.stderr.strip()}"
        print(f"restore-network: {' '.join(argv)}: {status}", file=sys.stderr)
    return [("dhcp" if dev in plan["dhcp4"] else "static", dev) for dev in plan["devices"]]


def main(argv: list[str]) -> int:
    args = argv[1:]
    use_ip = "--ip" in args
    args = [a for a in args if a != "--ip"]
    source = Path(args[0] if args else DEFAULT_INFO)
    target = Path(args[1] if len(args) > 1 else DEFAULT_OUT)
    try:
        info, origin = load(source)
        links = describe(info)
    except FileNotFoundError:
        print(f"restore-network: no {source}, leaving the network to DHCP", file=sys.stderr)
        return 0
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        print(
            f"restore-network: cannot use {source} ({exc}), leaving the network to DHCP",
            file=sys.stderr,
        )
        return 0
    print(f"restore-network: {len(links)} interface(s) from {origin}", file=sys.stderr)
    if use_ip:
        for how, name in apply_ip(links):
            print(how, name)
        return 0
    files = networkd_units(links)
    target.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (target / name).write_text(text, encoding="utf-8")
        print(f"restore-network: wrote {target / name}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
