"""Property test: the Nix network function and the installer's restore script agree.

Both turn a runtime info into systemd-networkd units (nix/lib/network.nix for the installed
system, src/nixremote/installers/restore_network.py for the installer). Hypothesis draws runtime
infos through the real models and converter; Nix evaluates them all in one call.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from helpers.nix import REPO, nix_eval
from nixremote.core.converter import runtime_info_to_json_data
from nixremote.core.models import Interface, IPAddress, Route, RuntimeInfo

V4_NETS = ["198.51.100", "203.0.113"]


@st.composite
def interfaces(draw: st.DrawFn, index: int) -> Interface:
    v4 = draw(
        st.lists(
            st.tuples(
                st.sampled_from(V4_NETS),
                st.integers(2, 250),
                st.sampled_from([24, 28, 32]),
                st.booleans(),
            ),
            max_size=2,
            unique_by=lambda t: (t[0], t[1]),
        )
    )
    v6 = draw(
        st.lists(
            st.tuples(st.integers(1, 9), st.booleans(), st.booleans()),
            max_size=2,
            unique_by=lambda t: t[0],
        )
    )
    return Interface(
        name=f"eth{index}",
        mac=draw(st.one_of(st.none(), st.just(f"52:54:00:00:00:{index:02X}"))),
        driver="virtio_net",
        predictable_name=f"enp{index + 1}s0",
        ipv4=tuple(
            IPAddress(address=f"{net}.{host}", prefix_length=p, dynamic=d) for net, host, p, d in v4
        ),
        ipv6=tuple(
            IPAddress(
                address=(f"fe80::{n}" if ll else f"2001:db8:{index}::{n}"),
                prefix_length=64,
                dynamic=d and not ll,
            )
            for n, ll, d in v6
        ),
    )


@st.composite
def runtime_infos(draw: st.DrawFn) -> RuntimeInfo:
    count = draw(st.integers(1, 3))
    ifaces = tuple(draw(interfaces(i)) for i in range(count))
    routes = []
    for iface in ifaces:
        if draw(st.booleans()):
            gw = draw(st.sampled_from(["172.31.1.1", "198.51.100.1", "203.0.113.1"]))
            routes.append(
                Route(
                    family=4,
                    destination="default",
                    gateway=gw,
                    device=iface.name,
                    on_link=draw(st.booleans()),
                )
            )
        if draw(st.booleans()):
            routes.append(
                Route(family=6, destination="default", gateway="fe80::1", device=iface.name)
            )
        if draw(st.booleans()):
            routes.append(
                Route(
                    family=4, destination="192.0.2.0/24", gateway="203.0.113.1", device=iface.name
                )
            )
        if draw(st.booleans()):
            routes.append(Route(family=4, destination="198.51.100.0/24", device=iface.name))
    return RuntimeInfo(
        host_name="prop",
        host_id="01234567",
        disk_to_format="/dev/vda",
        interfaces=ifaces,
        primary_interface=draw(st.sampled_from([i.name for i in ifaces])),
        routes=tuple(routes),
    )


def _restore() -> Any:
    spec = importlib.util.spec_from_file_location(
        "restore_network", REPO / "src" / "nixremote" / "installers" / "restore_network.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


RESTORE = _restore()


def _summary_of_unit_text(text: str) -> dict[str, Any]:
    out: dict[str, Any] = {"address": [], "routes": []}
    section = ""
    for line in text.splitlines():
        if line.startswith("["):
            section = line
            if section == "[Route]":
                out["routes"].append({})
            continue
        if "=" not in line:
            continue
        key, value = line.split("=", 1)
        if section == "[Route]":
            out["routes"][-1][key] = value
        elif key == "Address":
            out["address"].append(value)
        else:
            out[key] = value
    return {
        "match": out.get("MACAddress") or out.get("Name"),
        "address": out["address"],
        "dhcp": out["DHCP"],
        "ra": out["IPv6AcceptRA"] == "yes",
        "routes": [
            (r["Gateway"], r.get("Destination"), r.get("GatewayOnLink") == "yes")
            for r in out["routes"]
        ],
    }


def _summary_of_nix_unit(unit: dict[str, Any]) -> dict[str, Any]:
    match = unit["matchConfig"]
    return {
        "match": match.get("MACAddress") or match.get("Name"),
        "address": unit["address"],
        "dhcp": unit["networkConfig"]["DHCP"],
        "ra": unit["networkConfig"]["IPv6AcceptRA"],
        "routes": [
            (r["Gateway"], r.get("Destination"), bool(r.get("GatewayOnLink")))
            for r in unit["routes"]
        ],
    }


# Each example is a batch of runtime infos evaluated by one nix-instantiate call. No shrinking:
# every shrink step would be another Nix run; the failing runtime info is in the message.
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)
@given(st.lists(runtime_infos(), min_size=20, max_size=20))
def test_nix_and_installer_agree(tmp_path_factory: Any, infos: list[RuntimeInfo]) -> None:
    path: Path = tmp_path_factory.mktemp("agree") / "infos.json"
    data = [runtime_info_to_json_data(i) for i in infos]
    path.write_text(json.dumps(data))
    nix = nix_eval(
        f"map (import {REPO}/nix/lib/network.nix).toNixos "
        "(builtins.fromJSON (builtins.readFile file))",
        file=str(path),
    )
    for info, one, from_nix in zip(infos, data, nix, strict=True):
        units = RESTORE.units(one)
        py = [_summary_of_unit_text(units[k]) for k in sorted(units)]
        nx = [_summary_of_nix_unit(u) for u in from_nix["systemd"]["network"]["networks"].values()]
        # the Nix units are keyed by predictable name, the script's by index: compare as sets
        key = lambda s: json.dumps(s, sort_keys=True)  # noqa: E731
        assert sorted(map(key, py)) == sorted(map(key, nx)), info
