"""Hostile runtime info through the Nix network function and the installer's network restore.

The runtime info comes from the machine being replaced. Whatever a text field holds, either it is
refused (a newline or another control character: it would start a new line, or section, in a
networkd unit or resolv.conf; nix/lib/network.nix throws, restore_network.py refuses the file) or
it stays inert: the initrd's postCommands are run by ``sh`` with stand-ins for ``ip`` (which
records its arguments) and for the commands a payload would call, and every hostile value
arrives as exactly one argument, nothing else runs, no file appears.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

REPO = Path(__file__).resolve().parents[2]
NixosEval = Callable[..., Any]
NixJson = Callable[..., Any]


STUBS = ("ip", "reboot", "touch", "id")


def nix_lower(mac: str) -> str:
    """What network.nix does to a MAC: A-F to lower case (networkd compares it so)."""
    return mac.translate(str.maketrans("ABCDEF", "abcdef"))


def _restore() -> Any:
    spec = importlib.util.spec_from_file_location(
        "restore_network", REPO / "src" / "nixremote" / "installers" / "restore_network.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


RESTORE = _restore()


def hostile_info(
    *,
    name: str,
    mac: str | None,
    address: str,
    gateway: str,
    destination: str,
    nameserver: str = "192.0.2.53",
    host_name: str = "web1",
) -> dict[str, Any]:
    return {
        "hostName": host_name,
        "hostId": "8425e349",
        "diskToFormat": "/dev/vda",
        "rootAuthorizedKeys": [],
        "interfaces": [
            {
                "name": name,
                "mac": mac,
                "predictableName": name,
                "driver": None,
                "ipv4": [{"address": address, "prefixLength": 24}],
                "ipv6": [],
            }
        ],
        "primaryInterface": name,
        "routes": [
            {
                "family": 4,
                "destination": destination,
                "gateway": gateway,
                "device": name,
                "onLink": True,
            }
        ],
        "nameservers": [nameserver],
    }


def run_post_commands(script: str, tmp: Path, macs: dict[str, str]) -> dict[str, Any]:
    """Run ``script`` under sh with the stand-ins; /sys/class/net is a directory of the test's
    with one interface per MAC. Returns ip's argument lists and what else was called."""
    stubs = tmp / "bin"
    stubs.mkdir(exist_ok=True)
    log = tmp / "calls"
    for name in STUBS:
        # the command's name, then each argument after a unit separator; a record separator
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
    calls = [c.split("\x1f") for c in log.read_text().split("\x1e") if c] if log.exists() else []
    return {
        "returncode": result.returncode,
        "stderr": result.stderr,
        "ip": [c[1:] for c in calls if c[0] == "ip"],
        "others": [c for c in calls if c[0] != "ip"],
        "pwned": (tmp / "PWNED").exists(),
    }


@pytest.mark.parametrize("with_mac", [True, False])
def test_shell_metacharacters_stay_inert_in_the_initrd(
    with_mac: bool, tmp_path: Path, nix_json: NixJson
) -> None:
    name, address, gateway, destination = "$(reboot)", ";touch PWNED", "`id`", "a'b $IFS"
    mac = "52:54:00:12:34:56;touch${IFS}PWNED;#" if with_mac else None
    info = hostile_info(
        name=name, mac=mac, address=address, gateway=gateway, destination=destination
    )
    path = tmp_path / "ri.json"
    path.write_text(json.dumps(info))
    net = nix_json(
        f"(import {REPO}/nix/lib/network.nix).toNixos (builtins.fromJSON (builtins.readFile file))",
        file=str(path),
    )
    got = run_post_commands(
        net["boot"]["initrd"]["network"]["postCommands"],
        tmp_path,
        {"eth9": nix_lower(mac)} if mac else {},
    )
    dev = "eth9" if with_mac else name
    assert got["returncode"] == 0, got["stderr"]
    assert got["ip"] == [
        ["link", "set", dev, "up"],
        ["addr", "add", f"{address}/24", "dev", dev],
        ["route", "add", gateway, "dev", dev],  # on link: the gateway is not an IPv4 address
        ["route", "add", destination, "via", gateway, "dev", dev],
    ]
    assert got["others"] == [] and got["pwned"] is False
    # the unit carries them as single values, matched by the MAC (or the name) as they were
    unit = net["systemd"]["network"]["networks"][f"10-{name}"]
    assert unit["matchConfig"] == ({"MACAddress": nix_lower(mac)} if mac else {"Name": name})
    assert unit["address"] == [f"{address}/24"]


@pytest.mark.parametrize(
    "field", ["name", "mac", "address", "gateway", "destination", "nameserver", "host_name"]
)
@pytest.mark.parametrize(
    "bad", ["eth0\n[Network]\nDHCP=yes", "x\rDNS=1.2.3.4", "tab\there", "del\x7f"]
)
def test_control_characters_are_refused_by_both(
    field: str, bad: str, tmp_path: Path, nix_json: NixJson
) -> None:
    values = {
        "name": "eth0",
        "mac": "52:54:00:12:34:56",
        "address": "198.51.100.7",
        "gateway": "198.51.100.1",
        "destination": "default",
    } | {field: bad}
    info = hostile_info(**values)  # type: ignore[arg-type]
    path = tmp_path / "ri.json"
    path.write_text(json.dumps(info))
    got = nix_json(
        f"let net = (import {REPO}/nix/lib/network.nix).toNixos"
        " (builtins.fromJSON (builtins.readFile file)); in"
        " (builtins.tryEval (builtins.deepSeq net true)).success",
        file=str(path),
    )
    assert got is False
    message = subprocess.run(
        [
            "nix-instantiate",
            "--eval",
            "--strict",
            "--json",
            "--argstr",
            "file",
            str(path),
            "-E",
            f"{{ file }}: (import {REPO}/nix/lib/network.nix).toNixos"
            " (builtins.fromJSON (builtins.readFile file))",
        ],
        capture_output=True,
        text=True,
        check=False,
    ).stderr
    assert "contains a newline or another control character" in message
    assert "nixremote: runtime-info.json:" in message
    if field not in ("nameserver", "host_name"):  # the restore script writes neither
        with pytest.raises(ValueError, match="control character"):
            RESTORE.units(info)
        # and main() leaves the network to DHCP, writing nothing
        out = tmp_path / "units"
        assert RESTORE.main(["restore", str(path), str(out)]) == 0
        assert not out.exists()


def test_nul_cannot_reach_nix_and_is_refused_by_the_restore_script(
    tmp_path: Path, nix_json: NixJson
) -> None:
    # Nix strings cannot hold NUL: builtins.fromJSON ends the string there, so nothing after
    # it reaches a unit or a shell; the restore script (Python) refuses it.
    info = hostile_info(
        name="eth0\x00;reboot",
        mac=None,
        address="198.51.100.7",
        gateway="198.51.100.1",
        destination="default",
    )
    path = tmp_path / "ri.json"
    path.write_text(json.dumps(info))
    net = nix_json(
        f"(import {REPO}/nix/lib/network.nix).toNixos (builtins.fromJSON (builtins.readFile file))",
        file=str(path),
    )
    assert list(net["systemd"]["network"]["networks"]) == ["10-eth0"]
    with pytest.raises(ValueError, match="control character"):
        RESTORE.units(info)


def test_hostile_values_in_the_module_systems_unit_files(
    nixos_eval: NixosEval, tmp_path: Path
) -> None:
    # through nix/modules/network.nix to the unit text networkd reads (tests/nix/nixos-options/
    # networkd.nix renders it as nixpkgs does): each value stays on its own Key= line
    info = hostile_info(
        name="$(reboot)", mac=None, address="a;b", gateway="`id`", destination="x y"
    ) | {
        "rootAuthorizedKeys": [
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILTm7p7cDxOKlhdJj+msGyxykG35g6IPEDfyqNOC3wjP k"
        ]
    }
    path = tmp_path / "ri.json"
    path.write_text(json.dumps(info))
    text = nixos_eval(
        "(host { info = /. + file; }).config.environment.etc"
        '."systemd/network/10-$(reboot).network".text',
        file=str(path),
    )
    lines = [line for line in text.splitlines() if line]
    assert [line for line in lines if line.startswith("[")] == [
        "[Match]",
        "[Link]",
        "[Network]",
        "[Route]",
    ]
    assert "Name=$(reboot)" in lines and "Address=a;b/24" in lines
    assert "Gateway=`id`" in lines and "Destination=x y" in lines


# --- every text field, hostile strings drawn by Hypothesis -----------------------------------

SHELL = list("$`'\"\\;|&()<>{}*?~#!= -_.:/aZ09é")
# no NUL: Nix strings cannot hold it (see test_nul_cannot_reach_nix_...)
CONTROL = list("\t\n\r\x7f")
# mostly shell metacharacters only (which must stay inert), sometimes a control character too
# (which must be refused)
HOSTILE = st.one_of(
    st.text(alphabet=st.sampled_from(SHELL), min_size=1, max_size=12),
    st.text(alphabet=st.sampled_from(SHELL + CONTROL), min_size=1, max_size=12),
)


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)
@given(
    st.lists(st.tuples(HOSTILE, HOSTILE, HOSTILE, HOSTILE, st.booleans()), min_size=8, max_size=8)
)
def test_any_text_is_refused_or_inert(
    tmp_path_factory: Any, nix_json: NixJson, draws: list[tuple[str, str, str, str, bool]]
) -> None:
    tmp = tmp_path_factory.mktemp("hostile")
    infos = [
        hostile_info(
            name=n,
            mac=f"52:54:00:00:00:0{i};{m}" if use_mac else None,
            address=a,
            gateway=g,
            destination="default",
        )
        for i, (n, m, a, g, use_mac) in enumerate(draws)
    ]
    path = tmp / "infos.json"
    path.write_text(json.dumps(infos))
    results = nix_json(
        f"map (info: let r = builtins.tryEval (builtins.deepSeq"
        f" ((import {REPO}/nix/lib/network.nix).toNixos info) true); in"
        f" if r.success then (import {REPO}/nix/lib/network.nix).toNixos info"
        " else null) (builtins.fromJSON (builtins.readFile file))",
        file=str(path),
    )
    for i, (info, net) in enumerate(zip(infos, results, strict=True)):
        iface = info["interfaces"][0]
        texts = [
            iface["name"],
            iface["mac"] or "",
            iface["ipv4"][0]["address"],
            info["routes"][0]["gateway"],
        ]
        refused = any(ord(c) < 32 or ord(c) == 127 for t in texts for c in t)
        assert (net is None) == refused, info
        if refused:
            with pytest.raises(ValueError):
                RESTORE.units(info)
            continue
        run_dir = tmp / str(i)
        run_dir.mkdir()
        mac = iface["mac"]
        got = run_post_commands(
            net["boot"]["initrd"]["network"]["postCommands"],
            run_dir,
            {"eth9": nix_lower(mac)} if mac else {},
        )
        dev = "eth9" if mac else iface["name"]
        assert got["returncode"] == 0, got["stderr"]
        assert got["others"] == [] and not got["pwned"]
        assert got["ip"][:2] == [
            ["link", "set", dev, "up"],
            ["addr", "add", f"{iface['ipv4'][0]['address']}/24", "dev", dev],
        ]
        assert all(info["routes"][0]["gateway"] in call for call in got["ip"][2:])
