"""``nixremote vm up --network hoster``: the background VM on the hoster-mode network, reached
on its public address through the veth, and ``down`` removing the namespace with the VM."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from helpers.json_output import result_data
from helpers.nixremote_cli import nixremote, outcome
from nixremote.testing.vm import VmArtifacts
from nixremote.testing.vm.hoster import route_device
from nixremote.testing.vm.process import pid_alive

pytestmark = pytest.mark.vm


def namespaces() -> list[str]:
    listing = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return [line.split()[0] for line in listing.splitlines() if line.split()]


def test_vm_up_on_the_hoster_network_and_down(vm_artifacts: VmArtifacts, tmp_path: Path) -> None:
    base = ["vm", "--cache-dir", str(vm_artifacts.root.parent), "--run-dir", str(tmp_path / "run")]
    up = nixremote(*base, "up", "--network", "hoster", "--json", "--disk-size", "1G", timeout=600)
    state = result_data(up.stdout) if up.returncode == 0 else {}
    net = state.get("network", {})
    try:
        assert up.returncode == 0, outcome(up)
        assert (state["host"], state["port"]) == ("203.0.113.20", 22)
        assert state["knownHostsLine"].startswith("203.0.113.20 ssh-ed25519 ")  # port 22
        assert net["mode"] == "hoster" and net["netns"] in namespaces()
        assert net["addresses"] == ["203.0.113.20", "2001:db8:20::2"]
        assert route_device("203.0.113.20") == net["veth"]
        assert pid_alive(state["pid"])  # QEMU runs on in its namespace after `up` returned

        again = nixremote(*base, "up", "--network", "hoster")
        assert again.returncode != 0 and "already running" in again.stderr

        ssh = nixremote(*base, "ssh", "--", "ip", "-j", "addr", "show", "dev", "eth0")
        assert ssh.returncode == 0, outcome(ssh)
        (eth0,) = json.loads(ssh.stdout)
        assert eth0["address"] == net["publicMac"]
        assert {(a["local"], a["prefixlen"]) for a in eth0["addr_info"]} >= {
            ("203.0.113.20", 32),
            ("2001:db8:20::2", 64),
        }
    finally:
        down = nixremote(*base, "down", "--json")
    assert down.returncode == 0, outcome(down)
    assert result_data(down.stdout)["removedNetns"] == net["netns"]
    assert net["netns"] not in namespaces()
    assert route_device("203.0.113.20") != net["veth"]
    assert not pid_alive(state["pid"])
