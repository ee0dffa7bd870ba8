"""runtime-info.json: the converter, the original installer's shape, and clear errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import attrs
import pytest
from hypothesis import given, settings

from helpers.strategies import runtime_infos as valid_runtime_infos
from nixremote import (
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

infos = valid_runtime_infos()


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
