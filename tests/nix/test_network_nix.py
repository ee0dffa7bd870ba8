"""The pure network function (nix/lib/network.nix), evaluated by Nix on several runtime infos."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from helpers.nix import CASES, REPO, nix_eval
from nixremote.core.converter import load_runtime_info

CASE_NAMES = sorted(p.name for p in CASES.iterdir() if (p / "expected.json").is_file())


def _load(name: str) -> tuple[Path, Any]:
    d = CASES / name
    return d / "runtime-info.json", json.loads((d / "expected.json").read_text())


def test_all_cases_present() -> None:
    assert set(CASE_NAMES) >= {"hoster", "two-nics", "ipv6-only", "dhcp", "legacy"}


@pytest.mark.parametrize("name", CASE_NAMES)
def test_case_matches_expected_json(name: str, network_of: Any) -> None:
    info, expected = _load(name)
    assert network_of(info) == expected


@pytest.mark.parametrize("name", CASE_NAMES)
def test_case_runtime_info_is_valid_for_python(name: str) -> None:
    info = load_runtime_info(CASES / name / "runtime-info.json")
    assert info.host_id == json.loads((CASES / name / "runtime-info.json").read_text())["hostId"]


def _unit(net: Any) -> dict[str, Any]:
    units = net["systemd"]["network"]["networks"]
    assert len(units) == 1, units
    return next(iter(units.values()))


def test_hoster_on_link_gateway_and_fe80(network_of: Any) -> None:
    net = network_of(CASES / "hoster" / "runtime-info.json")
    unit = net["systemd"]["network"]["networks"]["10-enp1s0"]
    assert unit["matchConfig"] == {"MACAddress": "96:00:00:ab:cd:ef"}
    assert unit["address"] == ["203.0.113.10/32", "2001:db8:10::1/64"]
    assert {"Gateway": "172.31.1.1", "GatewayOnLink": True} in unit["routes"]
    assert {"Gateway": "fe80::1"} in unit["routes"]
    # the gateway-less 172.31.1.1/32 route of the rescue system is not carried over
    assert all("Destination" not in r for r in unit["routes"])
    assert unit["networkConfig"] == {"DHCP": "no", "IPv6AcceptRA": False}
    assert net["networking"]["hostName"] == "web1"
    assert net["networking"]["domain"] == "example.com"
    assert net["networking"]["hostId"] == "8425e349"
    cmds = net["boot"]["initrd"]["network"]["postCommands"]
    assert "ip route add '172.31.1.1' dev" in cmds
    assert "ip -6 route add 'default' via 'fe80::1'" in cmds


def test_two_nics_each_matched_by_mac(network_of: Any) -> None:
    net = network_of(CASES / "two-nics" / "runtime-info.json")
    units = net["systemd"]["network"]["networks"]
    # eth2 had no address: it is left alone
    assert sorted(units) == ["10-enp3s0", "10-enp4s0"]
    assert units["10-enp3s0"]["routes"] == [{"Gateway": "198.51.100.1", "Metric": 100}]
    assert units["10-enp4s0"]["routes"] == [
        {"Destination": "203.0.113.0/24", "Gateway": "203.0.113.1"}
    ]
    assert units["10-enp3s0"]["linkConfig"]["RequiredForOnline"] == "routable"
    assert units["10-enp4s0"]["linkConfig"]["RequiredForOnline"] == "no"
    assert net["boot"]["initrd"]["availableKernelModules"] == ["igb", "e1000e"]


def test_ipv6_only_has_no_dhcp(network_of: Any) -> None:
    net = network_of(CASES / "ipv6-only" / "runtime-info.json")
    unit = _unit(net)
    assert unit["networkConfig"]["DHCP"] == "no"
    assert unit["address"] == ["2001:db8:66::2/64"]
    assert net["boot"]["initrd"]["network"]["udhcpc"]["enable"] is False


def test_dhcp_when_addresses_were_leased(network_of: Any) -> None:
    net = network_of(CASES / "dhcp" / "runtime-info.json")
    unit = _unit(net)
    assert unit["networkConfig"] == {"DHCP": "ipv4", "IPv6AcceptRA": True}
    assert unit["address"] == []
    assert unit["routes"] == []
    assert net["boot"]["initrd"]["network"] == {"postCommands": "", "udhcpc": {"enable": True}}


def test_legacy_flat_file_is_understood(network_of: Any) -> None:
    net = network_of(CASES / "legacy" / "runtime-info.json")
    unit = _unit(net)
    assert unit["matchConfig"] == {"Name": "ens3"}
    # a /32 with a gateway outside it: on-link, computed by Nix from the prefix
    assert {"Gateway": "172.31.1.1", "GatewayOnLink": True} in unit["routes"]


def test_rich_fields_win_over_flat_ones(network_of: Any, tmp_path: Path) -> None:
    data = json.loads((CASES / "hoster" / "runtime-info.json").read_text())
    data["networkInterface"] = "bogus0"
    data["ipv4"]["address"] = "198.51.100.200"
    path = tmp_path / "ri.json"
    path.write_text(json.dumps(data))
    assert network_of(path) == json.loads((CASES / "hoster" / "expected.json").read_text())


def test_static_address_without_mac_and_no_routes(network_of: Any, tmp_path: Path) -> None:
    data = {
        "hostName": "bare",
        "hostId": "00000001",
        "diskToFormat": "/dev/sda",
        "interfaces": [{"name": "eth0", "ipv4": [{"address": "198.51.100.9", "prefixLength": 24}]}],
        "routes": [],
    }
    path = tmp_path / "ri.json"
    path.write_text(json.dumps(data))
    unit = _unit(network_of(path))
    assert unit["matchConfig"] == {"Name": "eth0"}
    assert unit["address"] == ["198.51.100.9/24"]
    assert unit["routes"] == []


@pytest.mark.parametrize(
    ("addr", "prefix", "gw", "inside"),
    [
        ("203.0.113.10", 32, "172.31.1.1", False),
        ("198.51.100.20", 24, "198.51.100.1", True),
        ("198.51.100.20", 25, "198.51.100.200", False),
        ("10.1.2.3", 8, "10.255.255.254", True),
        ("192.0.2.1", 0, "8.8.8.8", True),
    ],
)
def test_in_prefix4(addr: str, prefix: int, gw: str, inside: bool) -> None:
    got = nix_eval(f'(import {REPO}/nix/lib/network.nix).inPrefix4 "{addr}" {prefix} "{gw}"')
    assert got is inside


def test_partition_path() -> None:
    got = nix_eval(
        f"let p = (import {REPO}/nix/lib/disks.nix).partitionPath; in "
        '[ (p "/dev/disk/by-id/ata-X" 3) (p "/dev/nvme0n1" 1) (p "/dev/sda" 2) (p "/dev/vda" 3) ]'
    )
    assert got == ["/dev/disk/by-id/ata-X-part3", "/dev/nvme0n1p1", "/dev/sda2", "/dev/vda3"]


# --- the installer's network restore says the same as the Nix function ----------------------


def _restore_module() -> Any:
    spec = importlib.util.spec_from_file_location(
        "restore_network", REPO / "src" / "nixremote" / "installers" / "restore_network.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _parse_unit(text: str) -> dict[str, Any]:
    out: dict[str, Any] = {"Address": [], "Route": []}
    section = None
    for line in text.splitlines():
        if line.startswith("["):
            section = line.strip("[]")
            if section == "Route":
                out["Route"].append({})
            continue
        if "=" not in line:
            continue
        key, value = line.split("=", 1)
        if section == "Route":
            out["Route"][-1][key] = value
        elif key == "Address":
            out["Address"].append(value)
        else:
            out[key] = value
    return out


@pytest.mark.parametrize("name", CASE_NAMES)
def test_installer_restore_agrees_with_nix(name: str, tmp_path: Path) -> None:
    restore = _restore_module()
    info_path, expected = _load(name)
    out = tmp_path / "units"
    assert restore.main(["restore", str(info_path), str(out)]) == 0
    files = sorted(out.iterdir())
    nix_units = list(expected["systemd"]["network"]["networks"].values())
    assert len(files) == len(nix_units)
    for path, nix_unit in zip(files, nix_units, strict=True):
        unit = _parse_unit(path.read_text())
        assert unit["Address"] == nix_unit["address"]
        assert unit["DHCP"] == nix_unit["networkConfig"]["DHCP"]
        assert (unit["IPv6AcceptRA"] == "yes") == nix_unit["networkConfig"]["IPv6AcceptRA"]
        match = nix_unit["matchConfig"]
        assert unit.get("MACAddress") == match.get("MACAddress")
        assert unit.get("Name") == match.get("Name")
        assert [r["Gateway"] for r in unit["Route"]] == [r["Gateway"] for r in nix_unit["routes"]]
        assert [r.get("GatewayOnLink") == "yes" for r in unit["Route"]] == [
            bool(r.get("GatewayOnLink")) for r in nix_unit["routes"]
        ]


def test_installer_restore_without_file_leaves_dhcp(tmp_path: Path) -> None:
    restore = _restore_module()
    out = tmp_path / "units"
    assert restore.main(["restore", str(tmp_path / "missing.json"), str(out)]) == 0
    assert not out.exists()


@pytest.mark.parametrize(
    ("v4", "v6"),
    [
        (
            {
                "address": "203.0.113.99",
                "prefixLength": 32,
                "gateway": "172.31.1.1",
                "netmask": "255.255.255.255",
            },
            {"address": "2001:db8:99::1", "prefixLength": 64, "gateway": "fe80::1"},
        ),
        (
            {
                "address": "198.51.100.20",
                "prefixLength": 24,
                "gateway": "198.51.100.1",
                "netmask": "255.255.255.0",
            },
            None,
        ),
        (None, {"address": "2001:db8:5::2", "prefixLength": 64, "gateway": "fe80::1"}),
        (
            {
                "address": "198.51.100.20",
                "prefixLength": 25,
                "gateway": "198.51.100.200",
                "netmask": "255.255.255.128",
            },
            None,
        ),
    ],
)
def test_legacy_read_by_nix_equals_legacy_read_by_python(
    v4: dict[str, Any] | None, v6: dict[str, Any] | None, tmp_path: Path, network_of: Any
) -> None:
    # A flat-only file evaluated directly by Nix gives the same network as the file nixremote
    # writes after reading it (fleet add, the installer): both readers of the old shape agree.
    from nixremote.core.converter import dumps_runtime_info, loads_runtime_info

    legacy: dict[str, Any] = {
        "hostName": "old",
        "hostId": "0000abcd",
        "diskToFormat": "/dev/sda",
        "rootAuthorizedKeys": [],
        "networkInterface": "ens3",
        "networkInterfaceModule": "virtio_net",
    }
    if v4:
        legacy["ipv4"] = v4
    if v6:
        legacy["ipv6"] = v6
    flat = tmp_path / "flat.json"
    flat.write_text(json.dumps(legacy))
    rich = tmp_path / "rich.json"
    rich.write_text(dumps_runtime_info(loads_runtime_info(flat.read_text())))
    from_flat, from_rich = network_of(flat), network_of(rich)
    assert from_flat["systemd"] == from_rich["systemd"]
    assert from_flat["boot"] == from_rich["boot"]
    assert from_flat["networking"] == from_rich["networking"]
