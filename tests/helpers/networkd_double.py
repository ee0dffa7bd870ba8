"""Test double of the installed system's systemd-networkd, for the VM tests.

The installed NixOS cannot boot in the test VM (no binary cache to build it), so its network is
played here: the networkd settings that ``nix/lib/network.nix`` computes for the host's
``runtime-info.json`` (the one the install wrote into the host flake), evaluated by Nix itself
(:func:`installed_networks`), are turned into a shell script of ``ip`` commands
(:func:`networkd_double_script`) that the test runs inside the installer VM after the install.

What it does per unit, as networkd would on the installed system: find the link by the unit's
``MACAddress`` (names differ: the double renames it to systemd's MAC-based name ``enx<mac>``,
which neither the rescue system nor the installer uses), start from nothing (flush), set
``accept_ra`` from ``IPv6AcceptRA``, bring it up, add the ``address`` list and the ``routes``
(``GatewayOnLink`` -> ``onlink``, ``Destination``, ``Metric``). It plays static units only: a
unit with ``DHCP`` other than ``no`` is refused (``ValueError``), so it cannot pass for a DHCP
client.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from .nix import REPO, nix_eval

DONE_FILE = "/run/networkd-double.done"
LOG_FILE = "/run/networkd-double.log"


def installed_networks(runtime_info: Path) -> dict[str, Any]:
    """``systemd.network.networks`` of ``nix/lib/network.nix``'s ``toNixos`` for the file."""
    net = nix_eval(
        f"(import {REPO}/nix/lib/network.nix).toNixos (builtins.fromJSON (builtins.readFile file))",
        file=str(runtime_info),
    )
    networks: dict[str, Any] = net["systemd"]["network"]["networks"]
    return networks


def mac_name(mac: str) -> str:
    """systemd's MAC-based interface name (``NamePolicy=mac``): ``enx`` and the hex digits."""
    return "enx" + mac.replace(":", "").lower()


def networkd_double_script(networks: dict[str, Any], *, delay: float = 1.0) -> str:
    """A POSIX sh script that applies ``networks`` (units by name) with ``ip``; it writes
    :data:`LOG_FILE` and, when done, :data:`DONE_FILE`. ``delay``: seconds to wait first (the
    SSH session that starts it detached ends before the links go down)."""
    q = shlex.quote
    lines = [
        "#!/bin/sh",
        "# networkd double (test): the installed system's network from nix/lib/network.nix",
        f"exec >{LOG_FILE} 2>&1",
        "set -x",
        f"sleep {delay:g}",
        "by_mac() {",
        "  for d in /sys/class/net/*; do",
        '    [ "$(cat "$d/address")" = "$1" ] && { echo "${d##*/}"; return 0; }',
        "  done",
        "  return 1",
        "}",
    ]
    for name in sorted(networks):
        unit = networks[name]
        if unit["networkConfig"]["DHCP"] != "no":
            raise ValueError(f"unit {name} takes DHCP; the networkd double plays static units")
        mac = unit["matchConfig"].get("MACAddress")
        if mac is None:
            raise ValueError(f"unit {name} matches no MAC address")
        new = mac_name(mac)
        accept_ra = "1" if unit["networkConfig"]["IPv6AcceptRA"] else "0"
        lines += [
            f"# {name}",
            f"i=$(by_mac {q(mac)}) || exit 1",
            'ip link set dev "$i" down',
            'ip addr flush dev "$i"',
            'ip -4 route flush dev "$i"',
            'ip -6 route flush dev "$i"',
            f'ip link set dev "$i" name {new}',
            f"echo {accept_ra} > /proc/sys/net/ipv6/conf/{new}/accept_ra",
            f"ip link set dev {new} up",
        ]
        lines += [f"ip addr add {q(a)} dev {new}" for a in unit["address"]]
        for route in unit["routes"]:
            family = "-6" if ":" in route["Gateway"] else "-4"
            cmd = f"ip {family} route add {q(route.get('Destination', 'default'))}"
            cmd += f" via {q(route['Gateway'])} dev {new}"
            if route.get("GatewayOnLink"):
                cmd += " onlink"
            if route.get("Metric") is not None:
                cmd += f" metric {int(route['Metric'])}"
            lines.append(cmd)
    lines.append(f"echo done > {DONE_FILE}")
    return "\n".join(lines) + "\n"
