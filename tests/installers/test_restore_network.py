"""The installer's network restore (``nixremote.installers.restore_network``), as a function and
for real in a network namespace.

- Both renderers describe the same network: the networkd units (the NixOS image) and the ``ip``
  commands (the test installer image), read back into one summary, for Hypothesis' runtime infos.
- The dump is read as the controller's collector reads it: a drawn ``ip --json`` dump described
  directly equals the dump turned into a runtime info by the production collector
  (``runtime_info_from_facts``) and then described.
- The ``--ip`` mode run inside a namespace whose NIC has another name than in the dump brings up
  exactly the Hetzner shape (found by MAC): the /32, the on-link gateway, ``fe80::1``, no RA.
"""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers.ipdumps import HOSTER_DUMP, Dump, facts_of, ip_dumps
from nixremote.controller.collect import runtime_info_from_facts
from nixremote.core.converter import runtime_info_to_json_data
from nixremote.core.models import Interface, IPAddress, Route, RuntimeInfo
from nixremote.installers import restore_network as rn

SCRIPT = Path(rn.__file__)

# --- both renderers, one network -------------------------------------------------------------


@st.composite
def runtime_infos(draw: st.DrawFn) -> RuntimeInfo:
    count = draw(st.integers(1, 3))
    ifaces = []
    for index in range(count):
        v4 = draw(
            st.lists(
                st.tuples(
                    st.sampled_from(["198.51.100", "203.0.113"]),
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
        ifaces.append(
            Interface(
                name=f"eth{index}",
                mac=draw(st.one_of(st.none(), st.just(f"52:54:00:00:00:{index:02X}"))),
                predictable_name=f"enp{index + 1}s0",
                ipv4=tuple(
                    IPAddress(address=f"{n}.{h}", prefix_length=p, dynamic=d) for n, h, p, d in v4
                ),
                ipv6=tuple(
                    IPAddress(
                        address=f"fe80::{n}" if ll else f"2001:db8:{index}::{n}",
                        prefix_length=64,
                        dynamic=d and not ll,
                    )
                    for n, ll, d in v6
                ),
            )
        )
    routes = []
    for iface in ifaces:
        metric = draw(st.sampled_from([None, 100, 1024]))
        if draw(st.booleans()):
            gw = draw(st.sampled_from(["172.31.1.1", "198.51.100.1", "203.0.113.1"]))
            routes.append(
                Route(
                    family=4,
                    destination="default",
                    gateway=gw,
                    device=iface.name,
                    on_link=draw(st.booleans()),
                    metric=metric,
                )
            )
        if draw(st.booleans()):
            routes.append(
                Route(
                    family=6,
                    destination="default",
                    gateway="fe80::1",
                    device=draw(st.sampled_from([iface.name, None])),
                    metric=metric,
                )
            )
        if draw(st.booleans()):
            routes.append(
                Route(
                    family=4, destination="192.0.2.0/24", gateway="203.0.113.1", device=iface.name
                )
            )
    return RuntimeInfo(
        host_name="prop",
        host_id="01234567",
        disk_to_format="/dev/vda",
        interfaces=tuple(ifaces),
        primary_interface=draw(st.sampled_from([i.name for i in ifaces])),
        routes=tuple(routes),
    )


def summary_of_units(units: dict[str, str]) -> dict[str, Any]:
    """match -> what the networkd units configure there."""
    out: dict[str, Any] = {}
    for text in units.values():
        keys: dict[str, str] = {}
        addresses: list[str] = []
        routes: list[dict[str, str]] = []
        section = ""
        for line in text.splitlines():
            if line.startswith("["):
                section = line
                if section == "[Route]":
                    routes.append({})
            elif "=" in line:
                key, value = line.split("=", 1)
                if section == "[Route]":
                    routes[-1][key] = value
                elif key == "Address":
                    addresses.append(value)
                else:
                    keys[key] = value
        match = keys.get("MACAddress") or keys["Name"]
        out[match] = {
            "addresses": sorted(addresses),
            "dhcp4": keys["DHCP"] == "ipv4",
            "acceptRA": keys["IPv6AcceptRA"] == "yes",
            "routes": sorted(
                (
                    ipaddress.ip_address(r["Gateway"]).version,
                    r.get("Destination", "default"),
                    r["Gateway"],
                    r.get("GatewayOnLink") == "yes",
                    r.get("Metric", ""),
                )
                for r in routes
            ),
        }
    return out


def summary_of_ip(plan: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    """match -> what the ip commands configure there (``names``: match -> device)."""
    match_of = {dev: match for match, dev in names.items()}
    out: dict[str, Any] = {}

    def entry(dev: str) -> dict[str, Any]:
        return out.setdefault(
            match_of[dev], {"addresses": [], "dhcp4": False, "acceptRA": None, "routes": []}
        )

    for path, value in plan["sysctl"]:
        _net, _ipv6, _conf, dev, key = path.split("/")
        assert key == "accept_ra"
        entry(dev)["acceptRA"] = value == "1"
    for argv in plan["ip"]:
        assert argv[0] == "ip"
        if argv[1:3] == ["link", "set"]:
            assert argv[3:] == ["dev", argv[4], "up"]
            entry(argv[4])
        elif argv[1:3] == ["addr", "replace"]:
            assert argv[4] == "dev"
            entry(argv[5])["addresses"].append(argv[3])
        else:
            family, route, verb, dest, via, gateway, dev_kw, dev, *rest = argv[1:]
            assert (route, verb, via, dev_kw) == ("route", "replace", "via", "dev")
            metric = rest[rest.index("metric") + 1] if "metric" in rest else ""
            entry(dev)["routes"].append((int(family[1:]), dest, gateway, "onlink" in rest, metric))
    for dev in plan["dhcp4"]:
        entry(dev)["dhcp4"] = True
    for value in out.values():
        value["addresses"].sort()
        value["routes"].sort()
    return out


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(runtime_infos())
def test_networkd_units_and_ip_commands_describe_the_same_network(info: RuntimeInfo) -> None:
    links = rn.describe(runtime_info_to_json_data(info))
    # the installer's names differ from the old system's: enp1s0 -> ens3, ...
    names = {(link["mac"] or link["matchName"]): f"ens{link['index'] + 3}" for link in links}
    plan = rn.ip_commands(links, names)
    assert plan["missing"] == []
    assert summary_of_units(rn.networkd_units(links)) == summary_of_ip(plan, names)
    # and the units are those of units(), which the Nix agreement test compares with network.nix
    assert rn.networkd_units(links) == rn.units(runtime_info_to_json_data(info))


def test_ip_commands_skip_what_is_not_there() -> None:
    links = rn.describe(rn.from_dump(*HOSTER_DUMP))
    plan = rn.ip_commands(links, {"96:00:00:20:00:01": "enp0s2"})
    assert plan["missing"] == ["eth1"]
    assert {argv[-1] for argv in plan["ip"] if argv[1] == "link"} == {"up"}
    assert all("enp0s2" in argv for argv in plan["ip"])


# --- the dump, read like the collector reads it ----------------------------------------------


def described_by_collector(dump: Dump) -> list[dict[str, Any]]:
    info = runtime_info_from_facts(facts_of(dump), settings={"disk": "/dev/vda"})
    return rn.describe(runtime_info_to_json_data(info))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ip_dumps())
def test_the_dump_reads_as_the_collector_reads_it(dump: Dump) -> None:
    assert rn.describe(rn.from_dump(*dump)) == described_by_collector(dump)
    assert rn.dump_problems(*dump) == []


def test_the_hoster_dump_is_the_hetzner_shape() -> None:
    info = rn.from_dump(*HOSTER_DUMP)
    assert info["primaryInterface"] == "eth0"
    links = rn.describe(info)
    assert links == described_by_collector(HOSTER_DUMP)
    public, private = links
    assert public["mac"] == "96:00:00:20:00:01" and public["primary"]
    assert public["addresses"] == ["203.0.113.20/32", "2001:db8:20::2/64"]
    assert (public["dhcp4"], public["acceptRA"]) == (False, False)
    assert public["routes"] == [
        {"family": 4, "gateway": "172.31.1.1", "destination": None, "onLink": True, "metric": None},
        {"family": 6, "gateway": "fe80::1", "destination": None, "onLink": False, "metric": 1024},
    ]
    assert private["mac"] == "86:00:00:20:00:02" and not private["primary"]
    assert private["addresses"] == ["198.51.100.20/24"]
    assert (private["dhcp4"], private["routes"]) == (False, [])


def test_dump_problems_name_the_missing_device() -> None:
    addrs, v4, v6 = HOSTER_DUMP
    without_eth0 = [a for a in addrs if a["ifname"] != "eth0"]
    problems = rn.dump_problems(without_eth0, v4, v6, "eth1")
    assert problems == [
        "the IPv4 default route via 172.31.1.1 goes through eth0, which the address dump lacks",
        "the IPv6 default route via fe80::1 goes through eth0, which the address dump lacks",
    ]
    assert rn.dump_problems(without_eth0, v4, v6, "eth0")[0] == (
        "the primary interface eth0 is not in the address dump"
    )
    odd = [*v4, {"dst": "default", "gateway": "172.31.1.1", "dev": "eth0\nx", "flags": []}]
    assert rn.dump_problems(addrs, odd, v6)[-1].startswith(
        "the IPv4 default route via 172.31.1.1 goes through 'eth0\\nx',"
    )
    assert rn.dump_problems("not a list", v4, v6) != []
    # an empty dump (ip without --json) is no problem: the runtime info is used then
    assert rn.dump_problems([], [], [], "eth0") == []


def test_load_prefers_the_dump_and_falls_back_to_the_runtime_info(tmp_path: Path) -> None:
    info = {"primaryInterface": "eth1", "interfaces": [], "routes": []}
    (tmp_path / "runtime-info.json").write_text(json.dumps(info))
    for name, data in zip(rn.DUMP_FILES, HOSTER_DUMP, strict=True):
        (tmp_path / name).write_text(json.dumps(data))
    got, origin = rn.load(tmp_path / "runtime-info.json")
    assert "ip dump" in origin
    assert [i["name"] for i in got["interfaces"]] == ["eth0", "eth1"]
    assert got["primaryInterface"] == "eth1"  # the runtime info names it
    (tmp_path / "addrs.json").write_text("[]\n")  # what the controller sends for ip's text
    got, origin = rn.load(tmp_path / "runtime-info.json")
    assert got == info and origin.endswith("runtime-info.json")
    (tmp_path / "runtime-info.json").unlink()
    with pytest.raises(FileNotFoundError):
        rn.load(tmp_path / "runtime-info.json")


def test_networkd_mode_writes_units_from_the_dump(tmp_path: Path) -> None:
    for name, data in zip(rn.DUMP_FILES, HOSTER_DUMP, strict=True):
        (tmp_path / name).write_text(json.dumps(data))
    (tmp_path / "runtime-info.json").write_text('{"primaryInterface": "eth0"}')
    out = tmp_path / "units"
    assert rn.main(["restore", str(tmp_path / "runtime-info.json"), str(out)]) == 0
    unit = (out / "00-nixremote-0.network").read_text()
    assert "MACAddress=96:00:00:20:00:01\n" in unit
    assert "IPv6AcceptRA=no\n" in unit
    assert "Address=203.0.113.20/32\n" in unit
    assert "[Route]\nGateway=172.31.1.1\nGatewayOnLink=yes\n" in unit
    assert "[Route]\nGateway=fe80::1\nMetric=1024\n" in unit
    assert sorted(p.name for p in out.iterdir()) == [
        "00-nixremote-0.network",
        "00-nixremote-1.network",
    ]


# --- --ip, for real, in a network namespace --------------------------------------------------


def ip(*args: str) -> str:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=True).stdout


@pytest.fixture
def namespace() -> Iterator[str]:
    """A namespace with the hoster VM's two NICs (veths, the peers up), under the installer's
    names."""
    name = f"nxr-restore-{os.getpid()}"
    subprocess.run(["ip", "netns", "del", name], capture_output=True)
    ip("netns", "add", name)
    try:
        ip("-n", name, "link", "set", "lo", "up")
        for nic, mac, peer in (
            ("enp0s2", "96:00:00:20:00:01", "router0"),
            ("enp0s3", "86:00:00:20:00:02", "router1"),
        ):
            ip("-n", name, "link", "add", nic, "address", mac, "type", "veth", "peer", "name", peer)
            ip("-n", name, "link", "set", peer, "up")
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


def test_ip_mode_brings_up_the_hetzner_shape_by_mac(namespace: str, tmp_path: Path) -> None:
    for name, data in zip(rn.DUMP_FILES, HOSTER_DUMP, strict=True):
        (tmp_path / name).write_text(json.dumps(data))
    info = tmp_path / "runtime-info.json"
    info.write_text('{"primaryInterface": "eth0"}')
    result = subprocess.run(
        ["ip", "netns", "exec", namespace, sys.executable, "-I", str(SCRIPT), "--ip", str(info)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    # found by MAC under the installer's names, both static: nothing is left to DHCP
    assert result.stdout.splitlines() == ["static enp0s2", "static enp0s3"]
    assert "2 interface(s) from the ip dump" in result.stderr
    assert "failed" not in result.stderr, result.stderr

    addrs = json.loads(ip("-n", namespace, "-j", "addr"))
    by_name = {
        a["ifname"]: sorted(
            f"{i['local']}/{i['prefixlen']}" for i in a["addr_info"] if i.get("scope") == "global"
        )
        for a in addrs
    }
    assert by_name["enp0s2"] == ["2001:db8:20::2/64", "203.0.113.20/32"]
    assert by_name["enp0s3"] == ["198.51.100.20/24"]
    v4 = json.loads(ip("-n", namespace, "-j", "-4", "route"))
    assert {"dst": "default", "gateway": "172.31.1.1", "dev": "enp0s2", "flags": ["onlink"]} in [
        {k: r[k] for k in ("dst", "gateway", "dev", "flags") if k in r} for r in v4
    ]
    v6 = json.loads(ip("-n", namespace, "-j", "-6", "route"))
    default6 = [r for r in v6 if r["dst"] == "default"]
    assert [(r["gateway"], r["dev"], r["metric"]) for r in default6] == [
        ("fe80::1", "enp0s2", 1024)
    ]
    accept_ra = subprocess.run(
        ["ip", "netns", "exec", namespace, "cat", "/proc/sys/net/ipv6/conf/enp0s2/accept_ra"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert accept_ra == "0"  # static IPv6 only: no router advertisements taken

    # what the installer now has, read by the collector, is what the old system had
    facts = facts_of((addrs, v4, json.loads(ip("-n", namespace, "-j", "-6", "route"))))
    now = rn.describe(
        runtime_info_to_json_data(runtime_info_from_facts(facts, settings={"disk": "/dev/vda"}))
    )
    before = rn.describe(rn.from_dump(*HOSTER_DUMP))
    # the same network, on other names (and with the namespace's veth peers unconfigured)
    strip = lambda links: [{**x, "index": 0, "name": 0, "matchName": 0} for x in links]  # noqa: E731
    assert strip(now) == strip(before)


def test_ip_mode_leaves_leased_addresses_to_dhcp(namespace: str, tmp_path: Path) -> None:
    addrs, v4, _v6 = HOSTER_DUMP
    leased = json.loads(json.dumps(addrs))
    leased[1]["addr_info"] = [{**leased[1]["addr_info"][0], "dynamic": True}]
    for name, data in zip(rn.DUMP_FILES, (leased, v4, []), strict=True):
        (tmp_path / name).write_text(json.dumps(data))
    info = tmp_path / "runtime-info.json"
    info.write_text("{}")
    result = subprocess.run(
        ["ip", "netns", "exec", namespace, sys.executable, "-I", str(SCRIPT), "--ip", str(info)],
        capture_output=True,
        text=True,
        check=True,
    )
    # the leased address is left to the image's DHCP client; the private network stays static
    assert result.stdout.splitlines() == ["dhcp enp0s2", "static enp0s3"]
    up = json.loads(ip("-n", namespace, "-j", "addr", "show", "dev", "enp0s2"))[0]
    assert "UP" in up["flags"]
    assert [i for i in up["addr_info"] if i["family"] == "inet"] == []
