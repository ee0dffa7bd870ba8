"""Bring the installer up on the addresses of the system it replaced.

Runs inside the installer image (standard library only) before systemd-networkd starts. Reads the
runtime info that the controller put into the appended initrd archive (restored to
/root/network/runtime-info.json) and writes one systemd-networkd unit per interface, matched by
MAC, into /run/systemd/network/ (00-nixremote-*.network, ahead of the image's DHCP fallback
99-nixremote-dhcp.network). The rules are those of nix/lib/network.nix for the installed system:
static addresses as they were, on-link gateways, DHCP where the old system leased its address.
The runtime info came from the machine being replaced: a value with a newline or another control
character (it would start a new line, or section, in a unit) is refused like nix/lib/network.nix
refuses it, and the network is then left to DHCP.

    restore_network.py [RUNTIME_INFO] [OUTPUT_DIR]
"""

from __future__ import annotations

import ipaddress
import json
import re
import sys
from pathlib import Path
from typing import Any

DEFAULT_INFO = "/root/network/runtime-info.json"
DEFAULT_OUT = "/run/systemd/network"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


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


def normalize(info: dict[str, Any]) -> dict[str, Any]:
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


def units(info: dict[str, Any]) -> dict[str, str]:
    """File name -> content of the networkd units for ``info``."""
    info = normalize(info)
    interfaces = info.get("interfaces") or []
    primary = info.get("primaryInterface") or (interfaces[0]["name"] if interfaces else None)
    out: dict[str, str] = {}
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
        accept_ra = dynamic6 or not static6
        if not (static4 or static6 or dhcp4 or dynamic6):
            continue
        lines = ["[Match]"]
        if iface.get("mac"):
            lines.append(f"MACAddress={_text(iface['mac'], 'MAC address').lower()}")
        else:
            name = iface.get("predictableName") or iface["name"]
            lines.append(f"Name={_text(name, 'interface name')}")
        lines += [
            "",
            "[Network]",
            f"DHCP={'ipv4' if dhcp4 else 'no'}",
            f"IPv6AcceptRA={'yes' if accept_ra else 'no'}",
        ]
        lines += [
            f"Address={_text(a['address'], 'address')}/{_prefix(a['prefixLength'], 'prefix')}"
            for a in static4 + static6
        ]
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
            lines += ["", "[Route]", f"Gateway={_text(route['gateway'], 'gateway')}"]
            if route.get("destination") not in (None, "default", "0.0.0.0/0", "::/0"):
                lines.append(f"Destination={_text(route['destination'], 'route destination')}")
            if _on_link(route, static4):
                lines.append("GatewayOnLink=yes")
        out[f"00-nixremote-{index}.network"] = "\n".join(lines) + "\n"
    return out


def main(argv: list[str]) -> int:
    source = Path(argv[1] if len(argv) > 1 else DEFAULT_INFO)
    target = Path(argv[2] if len(argv) > 2 else DEFAULT_OUT)
    if not source.is_file():
        print(f"restore-network: no {source}, leaving the network to DHCP", file=sys.stderr)
        return 0
    try:
        info = json.loads(source.read_text(encoding="utf-8"))
        files = units(info)
    except (ValueError, KeyError, TypeError) as exc:
        print(
            f"restore-network: cannot use {source} ({exc}), leaving the network to DHCP",
            file=sys.stderr,
        )
        return 0
    target.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (target / name).write_text(text, encoding="utf-8")
        print(f"restore-network: wrote {target / name}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
