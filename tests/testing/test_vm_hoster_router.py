"""The hoster-mode network's router namespace without a VM: what it builds in the root
namespace, that it refuses a second one, and that nothing stays behind (``destroy``, or the
sweep of namespaces that no process uses)."""

from __future__ import annotations

import json
import subprocess

import pytest

from nixremote.core.errors import NixremoteError
from nixremote.testing.vm.hoster import HosterNetwork, Router, route_device, sweep_stale


def namespaces() -> list[str]:
    listing = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return [line.split()[0] for line in listing.splitlines() if line.split()]


def links() -> list[str]:
    out = subprocess.run(["ip", "-j", "link"], capture_output=True, text=True, check=True).stdout
    return [link["ifname"] for link in json.loads(out)]


def test_router_routes_the_vm_through_its_veth_and_leaves_nothing() -> None:
    net = HosterNetwork()
    router = Router(net).create(lock_timeout=60)
    vm: subprocess.Popen[bytes] | None = None
    try:
        assert router.ns in namespaces() and router.veth in links()
        for address in net.addresses:
            assert route_device(address) == router.veth
        inside = subprocess.run(
            [*router.exec_prefix, "ip", "-j", "addr"], capture_output=True, text=True, check=True
        ).stdout
        addrs = {
            link["ifname"]: {f"{a['local']}/{a['prefixlen']}" for a in link["addr_info"]}
            for link in json.loads(inside)
        }
        assert {"172.31.1.1/32", "fe80::1/64"} <= addrs[Router.TAP_PUBLIC]
        assert "198.51.100.1/24" in addrs[Router.TAP_PRIVATE]
        forwarding = subprocess.run(
            [*router.exec_prefix, "cat", "/proc/sys/net/ipv4/ip_forward"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert forwarding.strip() == "1"
        # the private network is the namespace's alone
        assert route_device("198.51.100.20") != router.veth
        # while the lock is held, a second one waits (here: not at all) ...
        with pytest.raises(NixremoteError, match=r"another test run .* is making a hoster-mode"):
            Router(net).create(lock_timeout=0)
        # ... and once a VM runs in it (a process; the lock released, as `vm up` does), the
        # second would take the same addresses: refused
        vm = subprocess.Popen([*router.exec_prefix, "sleep", "60"])
        router.release_lock()
        with pytest.raises(NixremoteError, match=r"203\.0\.113\.20 is already routed through"):
            Router(net).create(lock_timeout=0)
        assert router.ns in namespaces()  # in use: not swept
    finally:
        if vm is not None:
            vm.kill()
            vm.wait()
        router.destroy()
    assert router.ns not in namespaces() and router.veth not in links()
    assert route_device("203.0.113.20") != router.veth


def test_a_namespace_no_process_uses_is_swept() -> None:
    router = Router(HosterNetwork(ipv4=None)).create(lock_timeout=60)
    router.release_lock()  # as a killed run would leave it: the lock gone, the namespace not
    try:
        assert route_device("2001:db8:20::2") == router.veth
        assert router.ns in sweep_stale()
        assert router.ns not in namespaces() and router.veth not in links()
    finally:
        router.destroy()
