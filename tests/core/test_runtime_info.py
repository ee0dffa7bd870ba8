"""runtime-info.json: the converter, the original installer's shape, and clear errors."""

from __future__ import annotations

import json
import string
import subprocess
import sys
from pathlib import Path

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nixremote import (
    BootMode,
    Disk,
    Interface,
    IPAddress,
    Route,
    RuntimeInfo,
    dumps_runtime_info,
    loads_runtime_info,
)
from nixremote.core.converter import LEGACY_KEYS, runtime_info_to_json_data
from nixremote.core.errors import RuntimeInfoError

DATA = Path(__file__).parent.parent / "data"
ORIGINAL = json.loads((DATA / "original-shape.json").read_text())


def test_original_shape_round_trips_exactly() -> None:
    info = loads_runtime_info(json.dumps(ORIGINAL))
    out = runtime_info_to_json_data(info)
    for key, value in ORIGINAL.items():
        assert out[key] == value, key
    # The derived fields come from the rich model, which now holds the interface and routes.
    assert info.primary is not None and info.primary.driver == "virtio_net"
    assert info.default_gateway(4) == "172.31.1.1"
    assert [r.on_link for r in info.routes] == [True, False]  # /32 behind 172.31.1.1: on-link
    assert loads_runtime_info(dumps_runtime_info(info)) == info


def test_legacy_fields_follow_the_primary_interface() -> None:
    info = RuntimeInfo(
        host_name="two",
        host_id="0badc0de",
        disk_to_format="/dev/disk/by-id/nvme-a",
        interfaces=(
            Interface(
                name="eth1",
                mac="52:54:00:00:00:02",
                ipv4=(IPAddress(address="198.51.100.9", prefix_length=24),),
            ),
            Interface(
                name="eth0",
                mac="52:54:00:00:00:01",
                driver="e1000e",
                predictable_name="enp0s31f6",
                ipv4=(IPAddress(address="203.0.113.5", prefix_length=26),),
                ipv6=(
                    IPAddress(address="fe80::1:2", prefix_length=64),
                    IPAddress(address="2001:db8:5::2", prefix_length=64),
                ),
            ),
        ),
        primary_interface="eth0",
        routes=(
            Route(family=4, destination="default", gateway="203.0.113.1", device="eth0"),
            Route(family=6, destination="default", gateway="fe80::1", device="eth0"),
        ),
    )
    data = runtime_info_to_json_data(info)
    assert data["networkInterface"] == "enp0s31f6"
    assert data["networkInterfaceModule"] == "e1000e"
    assert data["ipv4"] == {
        "address": "203.0.113.5",
        "prefixLength": 26,
        "gateway": "203.0.113.1",
        "netmask": "255.255.255.192",
    }
    assert data["ipv6"] == {"address": "2001:db8:5::2", "prefixLength": 64, "gateway": "fe80::1"}


@pytest.mark.parametrize(
    ("mutate", "path"),
    [
        (lambda d: d["interfaces"][0].__setitem__("mac", 42), "$.interfaces[0].mac"),
        (lambda d: d["routes"][0].__setitem__("onLink", "yes"), "$.routes[0].onLink"),
        (
            lambda d: d["disks"].append({"path": "/dev/sda", "sizeBytes": "1T"}),
            "$.disks[0].sizeBytes",
        ),
        (lambda d: d.__setitem__("hostName", ["a"]), "$.hostName"),
        (
            lambda d: d["interfaces"][0]["ipv4"][0].__setitem__("prefixLength", True),
            "$.interfaces[0].ipv4[0].prefixLength",
        ),
        (lambda d: d.__setitem__("colour", "blue"), "unknown key 'colour' @ $"),
        (
            lambda d: d["interfaces"][0].__setitem__("speed", 1000),
            "unknown key 'speed' @ $.interfaces[0]",
        ),
        (lambda d: d.__setitem__("schemaVersion", 2), "newer than this nixremote reads"),
        (lambda d: d.__setitem__("bootMode", "coreboot"), "$.bootMode"),
    ],
)
def test_faults_name_their_json_path(mutate, path: str) -> None:
    data = runtime_info_to_json_data(loads_runtime_info(json.dumps(ORIGINAL)))
    mutate(data)
    with pytest.raises(RuntimeInfoError) as err:
        loads_runtime_info(json.dumps(data))
    assert path in str(err.value)
    assert "\n" not in str(err.value)


def test_legacy_block_faults_name_the_legacy_path() -> None:
    data = dict(ORIGINAL, ipv4=dict(ORIGINAL["ipv4"], prefixLength="32"))
    with pytest.raises(RuntimeInfoError, match=r"@ \$\.ipv4\.prefixLength"):
        loads_runtime_info(json.dumps(data))


def test_malformed_json_is_a_clear_error() -> None:
    with pytest.raises(RuntimeInfoError, match=r"not valid JSON.*line 1"):
        loads_runtime_info('{"hostName": ')


# --- property: any valid model round-trips ---------------------------------------------------

names = st.text(string.ascii_lowercase + string.digits + "-", min_size=1, max_size=15)
ipv4 = st.builds(
    IPAddress,
    address=st.ip_addresses(v=4).map(str),
    prefix_length=st.integers(0, 32),
    dynamic=st.booleans(),
)
ipv6 = st.builds(
    IPAddress,
    address=st.ip_addresses(v=6).map(str),
    prefix_length=st.integers(0, 128),
    dynamic=st.booleans(),
)
macs = st.lists(st.integers(0, 255), min_size=6, max_size=6).map(
    lambda b: ":".join(f"{x:02x}" for x in b)
)
interfaces = st.builds(
    Interface,
    name=names,
    mac=st.none() | macs,
    driver=st.none() | names,
    predictable_name=st.none() | names,
    ipv4=st.lists(ipv4, max_size=3).map(tuple),
    ipv6=st.lists(ipv6, max_size=3).map(tuple),
)
routes = st.builds(
    Route,
    family=st.sampled_from([4, 6]),
    destination=st.sampled_from(["default", "198.51.100.0/24", "2001:db8::/32"]),
    gateway=st.none() | st.ip_addresses().map(str),
    device=st.none() | names,
    on_link=st.booleans(),
    metric=st.none() | st.integers(0, 2**32 - 1),
)
disks = st.builds(
    Disk,
    path=names.map(lambda n: f"/dev/{n}"),
    by_id=st.none() | names.map(lambda n: f"/dev/disk/by-id/{n}"),
    size_bytes=st.none() | st.integers(0, 2**50),
    model=st.none() | st.text(max_size=20),
    serial=st.none() | st.text(max_size=20),
    rotational=st.none() | st.booleans(),
    removable=st.booleans(),
)
infos = st.builds(
    RuntimeInfo,
    host_name=names,
    host_id=st.text("0123456789abcdef", min_size=8, max_size=8),
    disk_to_format=names.map(lambda n: f"/dev/disk/by-id/{n}"),
    root_authorized_keys=st.lists(st.text(max_size=40), max_size=3).map(tuple),
    interfaces=st.lists(interfaces, max_size=4).map(tuple),
    primary_interface=st.none() | names,
    routes=st.lists(routes, max_size=4).map(tuple),
    nameservers=st.lists(st.ip_addresses().map(str), max_size=3).map(tuple),
    disks=st.lists(disks, max_size=4).map(tuple),
    arch=st.none() | st.sampled_from(["x86_64", "aarch64"]),
    memory_bytes=st.none() | st.integers(0, 2**45),
    boot_mode=st.sampled_from(list(BootMode)),
    hoster=names,
    hoster_details=st.dictionaries(names, st.text(max_size=10), max_size=3).map(
        lambda d: tuple(sorted(d.items()))
    ),
)


@settings(max_examples=200, deadline=None)
@given(infos)
def test_any_valid_model_round_trips(info: RuntimeInfo) -> None:
    assert loads_runtime_info(dumps_runtime_info(info)) == info
    assert loads_runtime_info(dumps_runtime_info(info, indent=None)) == info


@settings(max_examples=100, deadline=None)
@given(infos)
def test_derived_legacy_fields_are_readable_alone(info: RuntimeInfo) -> None:
    data = runtime_info_to_json_data(info)
    flat = {
        k: v
        for k, v in data.items()
        if k in (*LEGACY_KEYS, "hostName", "hostId", "rootAuthorizedKeys", "diskToFormat")
    }
    again = loads_runtime_info(json.dumps(flat))
    assert attrs.evolve(again, interfaces=(), routes=(), primary_interface=None) == RuntimeInfo(
        host_name=info.host_name,
        host_id=info.host_id,
        disk_to_format=info.disk_to_format,
        root_authorized_keys=info.root_authorized_keys,
    )
    assert runtime_info_to_json_data(again).get("ipv4") == data.get("ipv4")


# --- the command --------------------------------------------------------------------------------


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nixremote.cli.main", *args], capture_output=True, text=True
    )


def test_check_command_summarises_a_valid_file() -> None:
    proc = _run("runtime-info", "check", str(DATA / "original-shape.json"))
    assert proc.returncode == 0, proc.stderr
    assert "web1" in proc.stdout and "198.51.100.7/32" in proc.stdout


def test_check_command_fails_in_one_line_without_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(dict(ORIGINAL, hostId=1234)))
    proc = _run("runtime-info", "check", str(bad))
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1
    assert "$.hostId" in proc.stderr and "Traceback" not in proc.stderr
