"""Hostile strings in every text field of the runtime info: refused, or inert end to end.

A property test (Hypothesis) puts strings an attacker on the target would try (shell, Nix and
unit-file syntax, control characters, option-like and path-like values, rich markup, and any
text at all) into one text field of a valid runtime-info.json at a time. Either the reader
refuses the file in one line naming that field's JSON path, or the value is harmless
everywhere it goes: the host flake nixremote renders (``flake.nix`` with the layout module,
``runtime-info.json``) parses with Nix's own parser and reads back unchanged, the Nix network
function evaluates without a refusal, its networkd units and nameservers hold no control
character, ``networking.hostName`` is what NixOS's type accepts, and the initrd's
``postCommands`` run under ``sh`` with stand-ins calls nothing but ``ip`` with whole values.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from helpers import strategies
from helpers.keys import KEYS
from helpers.nix import REPO, nix_eval, nix_parse
from helpers.strategies import HOSTILE, hostile_texts
from nixremote.core.converter import loads_runtime_info
from nixremote.core.errors import RuntimeInfoError
from nixremote.core.hostflake import render_host_flake
from nixremote.core.models import RuntimeInfo
from nixremote.core.nixtext import layout_module

NIXOS_HOST_NAME = re.compile(r"^$|^[A-Za-z0-9]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?$")
"""``networking.hostName``'s type in nixpkgs 25.11 (tests/nix/nixos-options)."""

STUBS = ("ip", "reboot", "touch", "id", "rm", "sh", "curl", "wget")


def base() -> dict[str, Any]:
    return {
        "schemaVersion": 1,
        "hostName": "web1",
        "hostId": "8425e349",
        "diskToFormat": "/dev/disk/by-id/virtio-root",
        "rootAuthorizedKeys": [f"{KEYS[0]} alice@laptop"],
        "interfaces": [
            {
                "name": "eth0",
                "mac": "52:54:00:12:34:56",
                "driver": "virtio_net",
                "predictableName": "enp1s0",
                "ipv4": [{"address": "198.51.100.7", "prefixLength": 32}],
                "ipv6": [{"address": "2001:db8::7", "prefixLength": 64}],
            },
            {
                "name": "eth1",
                "predictableName": "enp2s0",
                "ipv4": [{"address": "10.0.0.7", "prefixLength": 24}],
            },
        ],
        "primaryInterface": "eth0",
        "routes": [
            {"family": 4, "destination": "default", "gateway": "172.31.1.1", "device": "eth0"},
            {
                "family": 4,
                "destination": "192.0.2.0/24",
                "gateway": "10.0.0.1",
                "device": "eth1",
            },
            {"family": 6, "destination": "default", "gateway": "fe80::1", "device": "eth0"},
        ],
        "nameservers": ["185.12.64.1", "2a01:4ff:ff00::add:1"],
        "disks": [
            {
                "path": "/dev/vda",
                "byId": "/dev/disk/by-id/virtio-root",
                "model": "QEMU",
                "serial": "root",
            }
        ],
        "arch": "x86_64",
        "bootMode": "bios",
        "hoster": "hetzner",
        "hosterDetails": {"location": "nbg1"},
    }


def _set(path: tuple[Any, ...]) -> Callable[[dict[str, Any], str], None]:
    def put(data: dict[str, Any], value: str) -> None:
        node = data
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return put


def _disk_path(data: dict[str, Any], value: str) -> None:
    # the disk to format must name a listed disk: it moves with the disk's by-id path
    data["disks"][0]["byId"] = value
    data["diskToFormat"] = value


def _detail_key(data: dict[str, Any], value: str) -> None:
    data["hosterDetails"] = {value: "x"}


FIELDS: dict[str, tuple[Callable[[dict[str, Any], str], None], str]] = {
    # name: (how to put the value in, the JSON path a refusal names)
    "hostName": (_set(("hostName",)), "$.hostName"),
    "hostId": (_set(("hostId",)), "$.hostId"),
    "diskToFormat": (_disk_path, "$.d"),  # $.disks[0].byId or $.diskToFormat
    "diskPath": (_set(("disks", 0, "path")), "$.disks[0].path"),
    "model": (_set(("disks", 0, "model")), "$.disks[0].model"),
    "serial": (_set(("disks", 0, "serial")), "$.disks[0].serial"),
    "key": (_set(("rootAuthorizedKeys", 0)), "$.rootAuthorizedKeys[0]"),
    "keyComment": (
        lambda d, v: _set(("rootAuthorizedKeys", 0))(d, f"{KEYS[0]} {v}"),
        "$.rootAuthorizedKeys[0]",
    ),
    "name": (_set(("interfaces", 1, "name")), "$.interfaces[1].name"),
    "mac": (_set(("interfaces", 0, "mac")), "$.interfaces[0].mac"),
    "driver": (_set(("interfaces", 0, "driver")), "$.interfaces[0].driver"),
    "predictableName": (
        _set(("interfaces", 1, "predictableName")),
        "$.interfaces[1].predictableName",
    ),
    "address": (_set(("interfaces", 0, "ipv4", 0, "address")), "$.interfaces[0].ipv4[0]"),
    "address6": (_set(("interfaces", 0, "ipv6", 0, "address")), "$.interfaces[0].ipv6[0]"),
    "primaryInterface": (_set(("primaryInterface",)), "$.primaryInterface"),
    "destination": (_set(("routes", 1, "destination")), "$.routes[1].destination"),
    "gateway": (_set(("routes", 1, "gateway")), "$.routes[1].gateway"),
    "device": (_set(("routes", 1, "device")), "$.routes[1].device"),
    "nameserver": (_set(("nameservers", 0)), "$.nameservers[0]"),
    "arch": (_set(("arch",)), "$.arch"),
    "hoster": (_set(("hoster",)), "$.hoster"),
    "hosterDetail": (_set(("hosterDetails", "location")), "$.hosterDetails"),
    "hosterDetailKey": (_detail_key, "$.hosterDetails"),
}


def read(field: str, value: str) -> RuntimeInfo | RuntimeInfoError:
    data = base()
    FIELDS[field][0](data, value)
    try:
        return loads_runtime_info(json.dumps(data), source="hostile.json")
    except RuntimeInfoError as exc:
        return exc


def run_post_commands(script: str, tmp: Path, macs: dict[str, str]) -> list[list[str]]:
    """Run ``script`` under sh with stand-ins that record their argv; /sys/class/net is a
    directory of the test's. Returns every call ([name, *args])."""
    stubs = tmp / "bin"
    stubs.mkdir(exist_ok=True)
    log = tmp / "calls"
    log.unlink(missing_ok=True)
    for name in STUBS:
        if name == "sh":
            continue
        (stubs / name).write_text(
            f"#!/bin/sh\nprintf '%s' {name} >> {log}\n"
            f'for a in "$@"; do printf \'\\037%s\' "$a" >> {log}; done\n'
            f"printf '\\036' >> {log}\n"
        )
        (stubs / name).chmod(0o755)
    sys_net = tmp / "sys-class-net"
    for iface, mac in macs.items():
        (sys_net / iface).mkdir(parents=True, exist_ok=True)
        (sys_net / iface / "address").write_text(mac + "\n")
    text = script.replace("/sys/class/net/*", f"{sys_net}/*")
    syntax = subprocess.run(["sh", "-n", "-c", text], capture_output=True, text=True, check=False)
    assert syntax.returncode == 0, syntax.stderr
    result = subprocess.run(
        ["env", "-i", f"PATH={stubs}:/usr/bin:/bin", "sh", "-c", text],
        capture_output=True,
        text=True,
        cwd=tmp,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return [c.split("\x1f") for c in log.read_text().split("\x1e") if c] if log.exists() else []


def strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (k, *strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return []


def inert(info: RuntimeInfo, tmp: Path) -> None:
    """Render and evaluate everything nixremote makes of ``info``; check it stays data."""
    tmp.mkdir(parents=True, exist_ok=True)
    devices = [info.disk_to_format] if info.disk_to_format else []
    files = render_host_flake(
        info, extra_modules=[layout_module(boot_devices=[*devices, "/dev/vdb"]) or "{ }"]
    )
    for name, text in files.items():
        (tmp / name).write_text(text)
    parsed = nix_parse(tmp / "flake.nix")
    assert parsed.returncode == 0, parsed.stderr
    assert loads_runtime_info((tmp / "runtime-info.json").read_text()) == info
    net = nix_eval(
        f"(import {REPO}/nix/lib/network.nix).toNixos (builtins.fromJSON (builtins.readFile file))",
        file=str(tmp / "runtime-info.json"),
    )
    assert NIXOS_HOST_NAME.fullmatch(net["networking"]["hostName"])
    domain = net["networking"]["domain"]
    assert domain is None or all(NIXOS_HOST_NAME.fullmatch(label) for label in domain.split("."))
    for text in strings(net["systemd"]["network"]) + net["networking"]["nameservers"]:
        assert not re.search(r"[\x00-\x1f\x7f]", text), text
    macs = {
        f"nic{i}": (iface.mac or "").lower() for i, iface in enumerate(info.interfaces) if iface.mac
    }
    calls = run_post_commands(net["boot"]["initrd"]["network"]["postCommands"], tmp, macs)
    assert calls and all(c[0] == "ip" for c in calls), calls
    assert not (tmp / "PWNED").exists()


VALID: dict[str, st.SearchStrategy[str]] = {
    # values the field accepts, drawn as widely as the validators allow: they must be inert too
    "hostName": strategies.host_names,
    "name": strategies.ifnames.filter(lambda n: n not in ("eth0", "enp1s0")),
    "predictableName": strategies.ifnames.filter(lambda n: n not in ("eth0", "enp1s0")),
    "device": st.just("eth1"),
    "primaryInterface": strategies.ifnames,
    "mac": strategies.macs,
    "driver": strategies.drivers,
    "diskToFormat": strategies.disk_paths,
    "diskPath": strategies.disk_paths,
    "address": strategies.ipv4,
    "address6": strategies.ipv6,
    "gateway": strategies.ipv4,
    "nameserver": strategies.ipv4 | strategies.ipv6,
    "keyComment": strategies.comments,
}


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data(), field=st.sampled_from(sorted(FIELDS)))
def test_hostile_text_is_refused_or_inert(data: st.DataObject, field: str, tmp_path: Path) -> None:
    value = data.draw(hostile_texts | VALID.get(field, hostile_texts), label="value")
    got = read(field, value)
    if isinstance(got, RuntimeInfoError):
        message = str(got)
        assert "\n" not in message and "\r" not in message
        assert f"@ {FIELDS[field][1]}" in message, (field, message)
        assert got.hint
        event("refused")
        return
    event("accepted: rendered, parsed, evaluated, run")
    inert(got, tmp_path / f"case-{abs(hash((field, value)))}")


@pytest.mark.parametrize("field", sorted(FIELDS))
def test_every_classic_payload_in_every_field(field: str, tmp_path: Path) -> None:
    """The fixed payloads, in every field: the shell- and unit-reaching fields refuse all."""
    accepted = []
    for value in HOSTILE:
        got = read(field, value)
        if isinstance(got, RuntimeInfo):
            accepted.append(value)
            inert(got, tmp_path / f"v{len(accepted)}")
    free_text = {"model", "serial", "hosterDetail", "keyComment"}
    if field not in free_text:
        assert accepted == [], (field, accepted)
    else:  # printable text is data there (JSON strings only); control characters are not
        assert all(not re.search(r"[\x00-\x1f\x7f\u2028]", v) for v in accepted)
        assert "$(reboot)" in accepted
