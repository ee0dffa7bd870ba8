"""An IPv6-only server on the hoster-mode network: the failure without the network restore, the
way back through the rescue system, and the kexec that reconnects over IPv6 only.

The VM's public NIC has only the IPv6 /64 behind ``fe80::1`` (no IPv4 at all, and the root
namespace has no IPv4 route to it); its private NIC keeps its IPv4 /24, which only the router
namespace sees. No DHCP, no router advertisements.

The tests of this module share one VM and run in file order:

1. the rescue system is IPv6-only from the controller's side;
2. with the installer's network restore disabled (``nixremote.test.restore=off`` on the
   installer's kernel command line) the installer boots but cannot be reached: ``nixremote
   install`` fails after its ``--kexec-timeout`` with one line that names the hoster's console and
   the rescue system as the way back;
3. the way back: the machine is reset into the rescue system (cold boot, same disk and keys) and
   answers on its address again;
4. ``nixremote install --phases kexec`` over IPv6 reconnects to the installer, whose network
   (collected over IPv6) is the rescue system's.
"""

from __future__ import annotations

import ipaddress
import json
import time
from pathlib import Path
from typing import Any

import pytest

from helpers.hoster_vm import bundle_with_params, network_by_mac
from helpers.json_output import result_text
from helpers.nixremote_cli import events, nixremote, outcome, target_args
from nixremote.core.converter import loads_runtime_info
from nixremote.core.models import RuntimeInfo
from nixremote.testing.vm import INSTALLER_READY_MARKER, RescueVm, VmArtifacts
from nixremote.testing.vm.hoster import HosterNetwork, route_device

pytestmark = pytest.mark.vm

HOSTER_NETWORK = HosterNetwork(ipv4=None)
ADDRESS = "2001:db8:20::2"
KEXEC_TIMEOUT = 75
"""Seconds ``nixremote install`` waits for the unreachable installer (it boots in about 30)."""


@pytest.fixture(scope="module")
def state(hoster_vm: RescueVm, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    work = tmp_path_factory.mktemp("controller")
    known_hosts = work / "known_hosts"
    known_hosts.write_text(hoster_vm.known_hosts_line + "\n")
    return {"work": work, "known_hosts": known_hosts}


def test_the_rescue_system_is_ipv6_only(hoster_vm: RescueVm, state: dict[str, Any]) -> None:
    assert hoster_vm.host == ADDRESS and hoster_vm.router is not None
    assert route_device(ADDRESS) == hoster_vm.router.veth
    # no IPv4 path to the VM: 203.0.113.20 is not routed through our veth
    assert route_device("203.0.113.20") != hoster_vm.router.veth
    proc = nixremote("info", *target_args(hoster_vm, state["known_hosts"]), "--json")
    assert proc.returncode == 0, outcome(proc)
    info = loads_runtime_info(result_text(proc.stdout))
    state["rescue_info"] = info
    public = next(i for i in info.interfaces if i.name == "eth0")
    assert public.ipv4 == ()
    assert [a.address for a in public.global_ipv6] == [ADDRESS]
    assert info.primary_interface == "eth0"
    assert [(r.family, r.gateway) for r in info.routes if r.gateway] == [(6, "fe80::1")]


def test_without_the_restore_the_installer_is_unreachable(
    hoster_vm: RescueVm, vm_artifacts: VmArtifacts, state: dict[str, Any], tmp_path: Path
) -> None:
    bundle = bundle_with_params(
        vm_artifacts.bundle_dir, tmp_path / "bundle", "nixremote.test.restore=off"
    )
    offset = hoster_vm.console_offset()
    started = time.monotonic()
    proc = nixremote(
        "install",
        *target_args(hoster_vm, state["known_hosts"]),
        "--bundle",
        str(bundle),
        "--phases",
        "kexec",
        "--kexec-timeout",
        str(KEXEC_TIMEOUT),
        "--yes",
    )
    elapsed = time.monotonic() - started
    assert proc.returncode != 0, outcome(proc)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, proc.stderr
    (error,) = errors
    assert error.startswith(
        f"error: the installer on {ADDRESS} did not answer over SSH within {KEXEC_TIMEOUT} s"
    ), error
    assert "the hoster's web/serial console" in error
    assert "boot the host into the hoster's rescue system again" in error
    assert elapsed >= KEXEC_TIMEOUT  # it waited the whole timeout first
    # the installer did boot, with the restore off, and found no DHCP server: network, not a hang
    hoster_vm.wait_for_console(INSTALLER_READY_MARKER, start=offset, timeout=120)
    console = hoster_vm.console_text()[offset:]
    assert "network restore disabled (nixremote.test.restore=off)" in console
    assert "WARNING: DHCP on enp" in console
    assert "restore-network: " not in console


def test_the_way_back_is_the_rescue_system(hoster_vm: RescueVm, state: dict[str, Any]) -> None:
    before = hoster_vm.ready_line
    hoster_vm.power_cycle()  # the hoster's "reset into rescue"
    assert hoster_vm.ready_line != before
    assert hoster_vm.ssh(["hostname"], known_hosts=state["known_hosts"]).stdout.strip() == "rescue"


def test_install_reconnects_over_ipv6_only(
    hoster_vm: RescueVm, vm_artifacts: VmArtifacts, state: dict[str, Any]
) -> None:
    kh = state["known_hosts"]
    proc = nixremote(
        "install",
        *target_args(hoster_vm, kh),
        "--bundle",
        str(vm_artifacts.bundle_dir),
        "--phases",
        "kexec",
        "--yes",
        "--json",
    )
    assert proc.returncode == 0, outcome(proc)
    assert any(
        e["kind"] == "done" and e["message"].startswith(f"the installer on {ADDRESS} answers")
        for e in events(proc)
    )
    assert hoster_vm.ssh(["hostname"], known_hosts=kh).stdout.strip() == "installer"
    connection = hoster_vm.ssh(["sh", "-c", "echo $SSH_CONNECTION"], known_hosts=kh).stdout
    assert ipaddress.ip_address(connection.split()[2]) == ipaddress.ip_address(ADDRESS)

    proc = nixremote("info", *target_args(hoster_vm, kh), "--json")
    assert proc.returncode == 0, outcome(proc)
    installer = loads_runtime_info(result_text(proc.stdout))
    rescue: RuntimeInfo = state["rescue_info"]
    assert network_by_mac(installer) == network_by_mac(rescue)
    public = next(i for i in installer.interfaces if i.mac == HOSTER_NETWORK.public_mac)
    assert public.name != "eth0" and public.ipv4 == ()
    addrs = json.loads(hoster_vm.ssh(["ip", "-j", "addr"], known_hosts=kh).stdout)
    assert not [a for link in addrs for a in link["addr_info"] if a.get("dynamic")]
