"""The hoster-mode network of the test VM: Hetzner's addressing, every address static.

QEMU runs inside a network namespace that plays the hoster's router (:class:`Router`). The VM's
first NIC (MAC ``96:00:00:...``, like a Hetzner Cloud server's) is a tap device of that
namespace, which holds the on-link gateways ``172.31.1.1`` (a /32) and ``fe80::1`` and routes
the VM's public addresses to the tap: an IPv4 /32 (``203.0.113.20``) and an IPv6 /64
(``2001:db8:20::/64``, the VM at ``::2``). The second NIC (``86:00:00:...``) sits on a "private
network" (``198.51.100.0/24``, the router at ``.1``) that only the namespace sees. A veth pair
joins the namespace to the root namespace, which routes the VM's public addresses through it, so
the tests (the controller) reach the VM at its public-looking addresses. There is no DHCP server
and nothing sends router advertisements: the VM's rescue system configures its addresses
statically at boot (:meth:`HosterNetwork.rescue_commands`), as a hoster's rescue system does.

Addresses: this machine sits in 192.0.2.0/24 and fd00::/64, and the netns test hosts of the
test suite use 203.0.113.10 and 2001:db8:a::/64 (b: 198.51.100.0/24 and 2001:db8:b::/64 in the
root namespace); this network keeps to 203.0.113.20/32, 203.0.113.24/30 (the veth),
2001:db8:20::/48 and, inside the namespace only, 198.51.100.0/24. Nothing is bridged to this
machine's own interface.

One hoster network exists on a machine at a time: :class:`Router` holds a machine-wide lock
while it is being made (and, in a test process, until it is removed), refuses to start when the
VM's addresses are already routed (another hoster-mode VM, e.g. of ``nixremote vm up --network
hoster``, runs), and removes namespaces of earlier runs that no process uses any more.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import json
import os
import shlex
import subprocess
import time
from pathlib import Path

from attrs import frozen

from nixremote.core.errors import NixremoteError, PreflightError

PREFIX = "nxh"
"""Namespaces are ``nxh-<tag>``, the root end of their veth ``nxh<tag>``."""
LOCK_TIMEOUT = 900.0
_COUNTER = itertools.count()


@frozen(kw_only=True)
class HosterNetwork:
    """The addressing of the hoster-mode VM (documentation ranges; Hetzner's gateways).

    ``ipv4=None`` makes an IPv6-only server (the public NIC has no IPv4 address and the root
    namespace no IPv4 route to it); the private network stays IPv4, as Hetzner's are."""

    ipv4: str | None = "203.0.113.20"
    ipv6: str | None = "2001:db8:20::2"
    ipv6_prefix: str = "2001:db8:20::/64"
    gateway4: str = "172.31.1.1"
    gateway6: str = "fe80::1"
    public_mac: str = "96:00:00:20:00:01"
    private_mac: str = "86:00:00:20:00:02"
    private_address: str = "198.51.100.20/24"
    private_router: str = "198.51.100.1/24"
    uplink4: tuple[str, str] = ("203.0.113.25/30", "203.0.113.26/30")
    """(root end, namespace end) of the veth."""
    uplink6: tuple[str, str] = ("2001:db8:20:ff::1/64", "2001:db8:20:ff::2/64")

    @property
    def address(self) -> str:
        """Where the controller reaches the VM: its IPv4 address, else its IPv6 address."""
        address = self.ipv4 or self.ipv6
        if address is None:
            raise NixremoteError("the hoster network has neither an IPv4 nor an IPv6 address")
        return address

    @property
    def addresses(self) -> tuple[str, ...]:
        """The VM's public addresses (IPv4 first)."""
        return tuple(a for a in (self.ipv4, self.ipv6) if a)

    def rescue_commands(self) -> str:
        """The rescue system's static network, as ``ip`` arguments a line (its init runs
        ``ip $line`` for each): a /32 with a host route to the on-link gateway and the default
        route through it, the /64 with the default route via ``fe80::1``, the private /24."""
        lines = ["link set dev eth0 up", "link set dev eth1 up"]
        if self.ipv4:
            lines += [
                f"addr add {self.ipv4}/32 dev eth0",
                f"route add {self.gateway4} dev eth0 scope link",
                f"route add default via {self.gateway4} dev eth0",
            ]
        if self.ipv6:
            prefix = self.ipv6_prefix.split("/")[1]
            lines += [
                f"-6 addr add {self.ipv6}/{prefix} dev eth0 nodad",
                f"-6 route add default via {self.gateway6} dev eth0",
            ]
        lines.append(f"addr add {self.private_address} dev eth1")
        return "".join(line + "\n" for line in lines)


def ip(*args: str, ns: str | None = None, check: bool = True) -> str:
    argv = ["ip", *(["-n", ns] if ns else []), *args]
    proc = subprocess.run(argv, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise NixremoteError(f"{shlex.join(argv)} failed: {proc.stderr.strip()}")
    return proc.stdout


def route_device(address: str) -> str | None:
    """The device the root namespace sends ``address``'s traffic through (``ip route get``)."""
    try:
        data = json.loads(ip("-j", "route", "get", address) or "[]")
    except NixremoteError:
        return None  # no route at all
    return data[0].get("dev") if data else None


def _netns_pids(ns: str) -> list[str]:
    return ip("netns", "pids", ns, check=False).split()


def sweep_stale() -> list[str]:
    """Remove the hoster namespaces of earlier runs that no process uses (a killed test run);
    returns their names."""
    removed = []
    for line in ip("netns", "list", check=False).splitlines():
        name = line.split()[0] if line.split() else ""
        if not name.startswith(PREFIX + "-") or _netns_pids(name):
            continue
        subprocess.run(["ip", "netns", "del", name], capture_output=True)
        subprocess.run(["ip", "link", "del", PREFIX + name[len(PREFIX) + 1 :]], capture_output=True)
        removed.append(name)
    return removed


class Router:
    """The hoster's router: a network namespace with the VM's two taps and a veth to the root
    namespace. :meth:`create` builds it; :meth:`destroy` removes it (QEMU must have exited, or
    the namespace lives on until it does). Use as a context manager, or keep the names
    (:meth:`names`) to destroy it from another process (``nixremote vm down``)."""

    TAP_PUBLIC = "tap-public"
    TAP_PRIVATE = "tap-private"
    UPLINK = "uplink"

    def __init__(self, network: HosterNetwork, *, ns: str | None = None, veth: str | None = None):
        self.network = network
        self.ns = ns or ""
        self.veth = veth or ""
        self._lock_fd: int | None = None

    # -- lifecycle ------------------------------------------------------------------------
    def __enter__(self) -> Router:
        return self.create()

    def __exit__(self, *exc: object) -> None:
        self.destroy()

    def names(self) -> dict[str, str]:
        return {"netns": self.ns, "veth": self.veth}

    @property
    def exec_prefix(self) -> list[str]:
        """Run a command inside the router's namespace: ``[*exec_prefix, argv...]``."""
        return ["ip", "netns", "exec", self.ns]

    def _lock(self, timeout: float) -> None:
        directory = Path("/run/lock") if Path("/run/lock").is_dir() else Path("/tmp")
        path = directory / "nixremote-vm-hoster.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                os.ftruncate(fd, 0)
                os.write(fd, f"{os.getpid()}\n".encode())
                self._lock_fd = fd
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    os.close(fd)
                    raise NixremoteError(
                        "another test run on this machine is making a hoster-mode VM network",
                        hint=f"wait for it, or see {path}",
                    ) from None
                time.sleep(0.5)

    def release_lock(self) -> None:
        """Let another process make a hoster network (the VM keeps running; a detached
        ``nixremote vm up`` releases it when it returns)."""
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def create(self, *, lock_timeout: float = LOCK_TIMEOUT) -> Router:
        if os.geteuid() != 0:
            raise PreflightError(
                "the hoster-mode VM network needs root (network namespaces, tap devices)",
                hint="run as root, or use the default user-mode network",
            )
        if not Path("/dev/net/tun").exists():
            raise PreflightError("/dev/net/tun is missing", hint="modprobe tun")
        self._lock(lock_timeout)
        try:
            sweep_stale()
            net = self.network
            for address in net.addresses:
                dev = route_device(address)
                if dev is not None and dev.startswith(PREFIX):
                    raise NixremoteError(
                        f"{address} is already routed through {dev}: another hoster-mode VM "
                        "runs on this machine",
                        hint="stop it first (nixremote vm down)",
                    )
            tag = f"{os.getpid() % 100000:05d}{next(_COUNTER)}"[-9:]
            self.ns = f"{PREFIX}-{tag}"
            self.veth = f"{PREFIX}{tag}"[:15]
            self._build()
        except BaseException:
            self.destroy()
            raise
        return self

    def _build(self) -> None:
        net, ns = self.network, self.ns
        ip("netns", "add", ns)
        ip("link", "set", "lo", "up", ns=ns)
        for key in ("net/ipv4/ip_forward", "net/ipv6/conf/all/forwarding"):
            subprocess.run(
                [*self.exec_prefix, "sh", "-c", f"echo 1 > /proc/sys/{key}"],
                check=True,
                capture_output=True,
            )
        # the uplink: the root namespace <-> the router
        ip("link", "add", self.veth, "type", "veth", "peer", "name", self.UPLINK, "netns", ns)
        ip("addr", "add", net.uplink4[0], "dev", self.veth)
        ip("-6", "addr", "add", net.uplink6[0], "dev", self.veth, "nodad")
        ip("link", "set", self.veth, "up")
        ip("addr", "add", net.uplink4[1], "dev", self.UPLINK, ns=ns)
        ip("-6", "addr", "add", net.uplink6[1], "dev", self.UPLINK, "nodad", ns=ns)
        ip("link", "set", self.UPLINK, "up", ns=ns)
        root4 = net.uplink4[0].split("/")[0]
        root6 = net.uplink6[0].split("/")[0]
        ip("route", "add", "default", "via", root4, "dev", self.UPLINK, ns=ns)
        ip("-6", "route", "add", "default", "via", root6, "dev", self.UPLINK, ns=ns)
        # the VM's NICs: taps that QEMU opens inside the namespace
        for tap in (self.TAP_PUBLIC, self.TAP_PRIVATE):
            ip("tuntap", "add", "dev", tap, "mode", "tap", ns=ns)
        pub = self.TAP_PUBLIC
        for tap in (self.TAP_PUBLIC, self.TAP_PRIVATE):
            ip("link", "set", tap, "up", ns=ns)
        if net.ipv4:
            ip("addr", "add", f"{net.gateway4}/32", "dev", pub, ns=ns)
            ip("route", "add", f"{net.ipv4}/32", "dev", pub, ns=ns)
        ip("-6", "addr", "add", f"{net.gateway6}/64", "dev", pub, "nodad", ns=ns)
        ip("-6", "route", "add", net.ipv6_prefix, "dev", pub, ns=ns)
        ip("addr", "add", net.private_router, "dev", self.TAP_PRIVATE, ns=ns)
        # the root namespace reaches the VM's public addresses through the veth only
        ns4 = net.uplink4[1].split("/")[0]
        ns6 = net.uplink6[1].split("/")[0]
        if net.ipv4:
            ip("route", "add", f"{net.ipv4}/32", "via", ns4, "dev", self.veth)
        if net.ipv6:
            ip("-6", "route", "add", net.ipv6_prefix, "via", ns6, "dev", self.veth)

    def destroy(self) -> None:
        """Remove the namespace and the veth (and their routes); release the lock."""
        try:
            if self.ns:
                subprocess.run(["ip", "netns", "del", self.ns], capture_output=True)
            if self.veth:
                subprocess.run(["ip", "link", "del", self.veth], capture_output=True)
        finally:
            self.release_lock()

    def alive(self) -> bool:
        return bool(self.ns) and self.ns in ip("netns", "list", check=False).split()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.release_lock()
