"""The network survives the kexec and the install, on a Hetzner-shaped network without DHCP.

The VM sits behind a network namespace that plays the hoster's router
(``nixremote.testing.vm.hoster``): its public NIC has an IPv4 /32 behind the on-link gateway
172.31.1.1 and an IPv6 /64 behind ``fe80::1``, its second NIC a private /24, every address
static; nothing in reach serves DHCP or sends router advertisements. The tests reach it through
their own veth, as the controller reaches a server.

The tests of this module share one VM and run in file order:

1. the rescue system is up on its static addresses only, routed through our veth;
2. ``nixremote info`` reports the Hetzner shape exactly;
3. ``nixremote install`` (kexec, format, install) reconnects over IPv4 to an installer whose
   network came from the production restore code, with no DHCP;
4. the runtime info collected inside the installer is the rescue's (addresses, routes, MACs),
   under other interface names;
5. the installed system's network, as ``nix/lib/network.nix`` computes it for the host flake's
   runtime info and applied by the networkd double, answers SSH over IPv4 and IPv6.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
import secrets
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from helpers.hoster_vm import network_by_mac
from helpers.json_output import result_text
from helpers.networkd_double import (
    DONE_FILE,
    LOG_FILE,
    installed_networks,
    mac_name,
    networkd_double_script,
)
from helpers.nixremote_cli import events, nixremote, outcome, target_args
from nixremote.core.converter import loads_runtime_info
from nixremote.core.models import IPAddress, Route, RuntimeInfo
from nixremote.installers import restore_network
from nixremote.testing.vm import RescueVm, VmArtifacts
from nixremote.testing.vm.hoster import HosterNetwork, route_device

pytestmark = pytest.mark.vm

HOSTER_NETWORK = HosterNetwork()
NET = HOSTER_NETWORK


@pytest.fixture(scope="module")
def state(hoster_vm: RescueVm, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Shared between the tests of this module: the controller's files and what was seen."""
    work = tmp_path_factory.mktemp("controller")
    known_hosts = work / "known_hosts"
    known_hosts.write_text(hoster_vm.known_hosts_line + "\n")  # the rescue system, pinned
    key_file = work / "disk.key"
    key_file.write_bytes(secrets.token_hex(16).encode() + b"\n")
    key_file.chmod(0o600)
    return {"work": work, "known_hosts": known_hosts, "key_file": key_file}


def test_the_rescue_system_is_static_behind_our_veth(hoster_vm: RescueVm) -> None:
    assert hoster_vm.router is not None
    for address in NET.addresses:
        # the root namespace reaches the VM through the test's own veth, nowhere else
        assert route_device(address) == hoster_vm.router.veth, address
    addrs = json.loads(hoster_vm.ssh(["ip", "-j", "addr"]).stdout)
    assert not [a for link in addrs for a in link["addr_info"] if a.get("dynamic")]
    routes6 = json.loads(hoster_vm.ssh(["ip", "-j", "-6", "route"]).stdout)
    assert not [r for r in routes6 if r.get("protocol") == "ra"]  # no router advertisement
    assert "udhcpc" not in hoster_vm.ssh(["ls", "/var/log"]).stdout  # no DHCP client ran
    assert "rescue: " in hoster_vm.console_text()
    assert re.search(r"network: static on \[eth0 eth1\], DHCP on \[\]", hoster_vm.console_text())
    # and nothing on the router listens for DHCP (v4 or v6) or anything else over UDP
    listening = subprocess.run(
        [*hoster_vm.router.exec_prefix, "ss", "-H", "-l", "-u", "-n"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert listening.strip() == ""


def test_info_reports_the_hetzner_shape(hoster_vm: RescueVm, state: dict[str, Any]) -> None:
    proc = nixremote("info", *target_args(hoster_vm, state["known_hosts"]), "--json")
    assert proc.returncode == 0, outcome(proc)
    info = loads_runtime_info(result_text(proc.stdout))
    state["rescue_info"] = info
    by_name = {i.name: i for i in info.interfaces}
    assert sorted(by_name) == ["eth0", "eth1"]
    public, private = by_name["eth0"], by_name["eth1"]
    assert (public.mac, private.mac) == (NET.public_mac, NET.private_mac)
    assert public.ipv4 == (IPAddress(address="203.0.113.20", prefix_length=32),)
    assert public.ipv6 == (
        IPAddress(address="2001:db8:20::2", prefix_length=64),
        IPAddress(address="fe80::9400:ff:fe20:1", prefix_length=64),
    )
    assert private.ipv4 == (IPAddress(address="198.51.100.20", prefix_length=24),)
    assert [a.address for a in private.ipv6] == ["fe80::8400:ff:fe20:2"]
    assert info.primary_interface == "eth0"
    assert sorted(info.routes, key=repr) == sorted(
        (
            Route(
                family=4, destination="default", gateway="172.31.1.1", device="eth0", on_link=True
            ),
            Route(family=4, destination="172.31.1.1/32", device="eth0"),
            Route(family=6, destination="default", gateway="fe80::1", device="eth0", metric=1024),
        ),
        key=repr,
    )
    # udev's names of the NICs, which a systemd-based system gives them (not eth0)
    assert public.predictable_name and public.predictable_name.startswith("enp")
    assert private.predictable_name and private.predictable_name.startswith("enp")
    # detection needs the DMI vendor, which this VM does not fake: the shape is what is checked
    assert info.hoster == "generic"


def test_install_reconnects_over_ipv4_without_dhcp(
    hoster_vm: RescueVm, vm_artifacts: VmArtifacts, state: dict[str, Any]
) -> None:
    kh = state["known_hosts"]
    boot_id = hoster_vm.ssh(["cat", "/proc/sys/kernel/random/boot_id"]).stdout.strip()
    offset = hoster_vm.console_offset()
    started = time.monotonic()
    proc = nixremote(
        "install",
        *target_args(hoster_vm, kh),
        "--bundle",
        str(vm_artifacts.bundle_dir),
        "--disk-key-file",
        str(state["key_file"]),
        "--phases",
        "kexec,format,install",
        "--yes",
        "--json",
    )
    state["install_seconds"] = time.monotonic() - started
    assert proc.returncode == 0, outcome(proc)
    assert events(proc)[-1]["kind"] == "result"
    assert any(
        e["kind"] == "done" and e["message"].startswith("the installer on 203.0.113.20 answers")
        for e in events(proc)
    )

    # the installer, pinned, on the rescue system's address: a new boot, no DHCP
    new_boot_id = hoster_vm.ssh(["cat", "/proc/sys/kernel/random/boot_id"], known_hosts=kh)
    assert new_boot_id.stdout.strip() not in ("", boot_id)
    assert "udhcpc" not in hoster_vm.ssh(["ls", "/var/log"], known_hosts=kh).stdout
    console = hoster_vm.console_text()[offset:]
    restore = [line for line in console.splitlines() if "restore-network: " in line]
    assert any("2 interface(s) from the ip dump in /root/network" in line for line in restore)
    assert any(
        re.search(r"ip -4 route replace default via 172\.31\.1\.1 dev enp\S+ onlink: ok", line)
        for line in restore
    ), restore
    assert not [line for line in restore if "failed" in line], restore
    assert re.search(r"installer: .* network: static on \[enp\S+ enp\S+\], DHCP on \[\]", console)
    # the code that ran is the production restore, byte for byte
    shipped = hoster_vm.ssh(
        ["sha256sum", "/usr/lib/nixremote/restore_network.py"], known_hosts=kh
    ).stdout.split()[0]
    source = Path(restore_network.__file__).read_bytes()
    assert shipped == hashlib.sha256(source).hexdigest()

    # formatted and installed (nixos-install is the image's recording stand-in)
    record = hoster_vm.ssh(["cat", "/mnt/persist/nixos-install.log"], known_hosts=kh).stdout
    assert json.loads(record.splitlines()[-1])["ok"] is True


def test_the_installers_network_is_the_rescue_systems(
    hoster_vm: RescueVm, state: dict[str, Any]
) -> None:
    proc = nixremote("info", *target_args(hoster_vm, state["known_hosts"]), "--json")
    assert proc.returncode == 0, outcome(proc)
    installer = loads_runtime_info(result_text(proc.stdout))
    rescue: RuntimeInfo = state["rescue_info"]
    assert network_by_mac(installer) == network_by_mac(rescue)
    # under other names: the installer's are udev's path names, which the rescue system recorded
    names = {i.mac: i.name for i in installer.interfaces}
    assert names == {i.mac: i.predictable_name for i in rescue.interfaces}
    assert not {i.name for i in rescue.interfaces} & set(names.values())
    # the one difference: the rescue system reached 172.31.1.1 through a host route, the
    # installer (like networkd's GatewayOnLink) through an on-link default route
    assert [r for r in rescue.routes if not r.gateway] == [
        Route(family=4, destination="172.31.1.1/32", device="eth0")
    ]
    assert [r for r in installer.routes if not r.gateway] == []


def test_the_installed_network_answers_on_both_families(
    hoster_vm: RescueVm, state: dict[str, Any], tmp_path: Path
) -> None:
    kh = state["known_hosts"]
    # the host flake's runtime info, as the install wrote it, through nix/lib/network.nix
    flake_info = tmp_path / "runtime-info.json"
    flake_info.write_text(
        hoster_vm.ssh(["cat", "/mnt/persist/etc/nixos/runtime-info.json"], known_hosts=kh).stdout
    )
    networks = installed_networks(flake_info)
    assert sorted(u["matchConfig"]["MACAddress"] for u in networks.values()) == sorted(
        (NET.private_mac, NET.public_mac)
    )
    script = networkd_double_script(networks)
    hoster_vm.ssh(["sh", "-c", "cat > /run/networkd-double.sh"], input=script, known_hosts=kh)
    hoster_vm.ssh(
        ["sh", "-c", "setsid sh /run/networkd-double.sh </dev/null >/dev/null 2>&1 &"],
        known_hosts=kh,
    )

    # the installer's host key (recorded after the rescue system's), pinned for both addresses
    key = [
        line.split()[1:3] for line in kh.read_text().splitlines() if line.split()[0] == NET.ipv4
    ][-1]
    assert key != hoster_vm.known_hosts_line.split()[1:3]
    both = tmp_path / "known_hosts"
    both.write_text("".join(f"{a} {' '.join(key)}\n" for a in NET.addresses))
    seen: dict[str, list[str]] = {}
    for address in NET.addresses:
        deadline = time.monotonic() + 120
        while True:
            r = hoster_vm.ssh(
                ["sh", "-c", f"cat {DONE_FILE} && echo $SSH_CONNECTION"],
                known_hosts=both,
                host=address,
                check=False,
                timeout=60,
            )
            if r.returncode == 0:
                break
            if time.monotonic() > deadline:
                log = hoster_vm.ssh(["cat", LOG_FILE], known_hosts=both, check=False).stdout
                pytest.fail(f"no SSH over {address} after the networkd double: {r.stderr}\n{log}")
            time.sleep(2)
        done, connection = r.stdout.splitlines()
        assert done == "done"
        seen[address] = connection.split()
        # the server saw the connection arrive on that address (that family)
        assert ipaddress.ip_address(seen[address][2]) == ipaddress.ip_address(address)
        assert route_device(address) == (hoster_vm.router.veth if hoster_vm.router else None)

    # what answered is the network the installed system computes, on the names it would use
    addrs = json.loads(hoster_vm.ssh(["ip", "-j", "addr"], known_hosts=both).stdout)
    by_name = {
        a["ifname"]: sorted(
            f"{i['local']}/{i['prefixlen']}" for i in a["addr_info"] if i["scope"] == "global"
        )
        for a in addrs
    }
    for unit in networks.values():
        name = mac_name(unit["matchConfig"]["MACAddress"])
        assert by_name[name] == sorted(unit["address"])
    assert not {"eth0", "eth1"} & set(by_name)
    assert not [n for n in by_name if n.startswith("enp")]  # not the installer's names either
    routes = json.loads(hoster_vm.ssh(["ip", "-j", "route"], known_hosts=both).stdout)
    public = mac_name(NET.public_mac)
    assert [(r["dst"], r.get("gateway"), r["dev"], r.get("flags")) for r in routes] == [
        ("default", "172.31.1.1", public, ["onlink"]),
        ("198.51.100.0/24", None, mac_name(NET.private_mac), []),
    ]
