"""Test hosts in network namespaces, each with its own sshd, reached over veth pairs.

A :class:`HostSpec` describes a host: its NICs (name and MAC inside the namespace, addresses,
the addresses of the controller's end of the veth), its routes, and what its file system shows
(host name, authorized_keys, resolv.conf, machine-id, udev's NIC names). :func:`create_host`
builds it: ``ip netns add``, veth pairs whose peer end stays in the root namespace (where the
tests run, as the controller), addresses and routes on both ends, and sshd on port 22 inside
the namespace, started through ``unshare --uts --mount`` so that the host has its own host
name and its own ``/etc/hosts``, ``/etc/resolv.conf``, ``/etc/machine-id``, ``/root`` and
``/run/udev`` (bind mounts over this machine's, visible only to that sshd and its sessions).

Addresses: this machine sits in 192.0.2.0/24 and fd00::/64, so test hosts use 198.51.100.0/24,
203.0.113.0/24 and 2001:db8::/32 (plus the hoster gateway 172.31.1.1 on the controller's end of
the hoster-like host's veth). :func:`route_device` tells which device the root namespace routes
an address through, so tests can assert the traffic goes to their own veth and nowhere else.

Requires ``iproute2`` and ``util-linux`` (``unshare``), root, and ``openssh-server``.
"""

from __future__ import annotations

import fcntl
import itertools
import json
import os
import shlex
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from nixremote.testing.sshd import LoopbackSshd, keygen

_COUNTER = itertools.count()


def ip(*args: str, ns: str | None = None) -> str:
    argv = ["ip", *(["-n", ns] if ns else []), *args]
    proc = subprocess.run(argv, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{shlex.join(argv)} failed: {proc.stderr.strip()}")
    return proc.stdout


def route_device(address: str) -> str | None:
    """The device the root namespace sends ``address``'s traffic through."""
    data = json.loads(ip("-j", "route", "get", address) or "[]")
    return data[0].get("dev") if data else None


@dataclass
class NicSpec:
    name: str
    mac: str
    addresses: tuple[str, ...] = ()
    peer_addresses: tuple[str, ...] = ()
    peer_routes: tuple[str, ...] = ()
    udev: tuple[tuple[str, str], ...] = ()


@dataclass
class HostSpec:
    key: str
    hostname: str
    fqdn: str
    nics: tuple[NicSpec, ...]
    routes: tuple[str, ...]
    ssh_address: str
    nameservers: tuple[str, ...] = ()
    machine_id: str = "0123456789abcdef0123456789abcdef"
    extra_authorized_keys: tuple[str, ...] = ()


@dataclass
class NetnsHost:
    spec: HostSpec
    ns: str
    peers: dict[str, str]
    sshd: LoopbackSshd
    authorized_keys: tuple[str, ...]
    workdir: Path
    lock_fd: int | None = None
    cleanup_done: bool = field(default=False)

    @property
    def address(self) -> str:
        return self.spec.ssh_address

    def destroy(self) -> None:
        if self.cleanup_done:
            return
        self.cleanup_done = True
        self.sshd.stop()
        subprocess.run(["ip", "netns", "del", self.ns], capture_output=True)
        for peer in self.peers.values():
            subprocess.run(["ip", "link", "del", peer], capture_output=True)
        if self.lock_fd is not None:
            os.close(self.lock_fd)  # releases the flock
            self.lock_fd = None
            _HELD.discard(self.spec.key)


LOCK_TIMEOUT = 900.0
_HELD: set[str] = set()


def _lock(spec: HostSpec) -> int:
    """Hold a machine-wide lock on the addresses of ``spec`` (another test run on this machine
    would route them to its own veth): wait for it, then fail clearly."""
    if spec.key in _HELD:
        raise RuntimeError(
            f"this process already has test host {spec.key}: use the session fixture"
        )
    directory = Path("/run/lock") if Path("/run/lock").is_dir() else Path("/tmp")
    path = directory / f"nixremote-netns-{spec.key}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + LOCK_TIMEOUT
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            _HELD.add(spec.key)
            return fd
        except BlockingIOError:
            if time.monotonic() > deadline:
                os.close(fd)
                raise RuntimeError(
                    f"test host {spec.key} ({spec.ssh_address}) is in use by another test run "
                    f"on this machine (see {path})"
                ) from None
            time.sleep(0.5)


def _remove_leftovers(spec: HostSpec) -> None:
    """Delete the namespace and veths of ``spec`` that a killed test run left behind: the caller
    holds the machine-wide lock of ``spec``, so no live run owns them, and a leftover veth would
    keep the route to the host's addresses."""
    for line in ip("netns", "list").splitlines():
        name = line.split()[0] if line.split() else ""
        if name.startswith(f"nxr-{spec.key}-"):
            subprocess.run(["ip", "netns", "del", name], capture_output=True)
    for item in json.loads(ip("-j", "link")):
        name = item.get("ifname", "")
        if any(name.startswith(f"nx{spec.key}{index}-") for index in range(len(spec.nics))):
            subprocess.run(["ip", "link", "del", name], capture_output=True)


def create_host(spec: HostSpec, workdir: Path) -> NetnsHost:
    """Build the host of ``spec`` and start its sshd; :meth:`NetnsHost.destroy` removes it.

    Only one host of a spec exists on the machine at a time: a concurrent test run waits (up
    to :data:`LOCK_TIMEOUT` seconds) until the other one destroyed its host.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    lock = _lock(spec)
    _remove_leftovers(spec)
    tag = f"{os.getpid() % 100000:05d}{next(_COUNTER)}"[-9:]
    ns = f"nxr-{spec.key}-{tag}"
    peers: dict[str, str] = {}
    subprocess.run(["ip", "netns", "del", ns], capture_output=True)
    ip("netns", "add", ns)
    try:
        ip("link", "set", "lo", "up", ns=ns)
        for index, nic in enumerate(spec.nics):
            peer = f"nx{spec.key}{index}-{tag}"[:15]
            subprocess.run(["ip", "link", "del", peer], capture_output=True)
            ip("link", "add", peer, "type", "veth", "peer", "name", nic.name, "netns", ns)
            peers[nic.name] = peer
            ip("link", "set", nic.name, "address", nic.mac, ns=ns)
            ip("link", "set", nic.name, "up", ns=ns)
            ip("link", "set", peer, "up")
            for addr in nic.addresses:
                extra = ["nodad"] if ":" in addr else []
                ip("addr", "add", addr, "dev", nic.name, *extra, ns=ns)
            for addr in nic.peer_addresses:
                extra = ["nodad"] if ":" in addr else []
                ip("addr", "add", addr, "dev", peer, *extra)
            for route in nic.peer_routes:
                family = ["-6"] if ":" in route.split()[0] else []
                ip(*family, "route", "replace", *route.split(), "dev", peer)
        for route in spec.routes:
            family = ["-6"] if ":" in route else []
            ip(*family, "route", "add", *route.split(), ns=ns)

        # The host's own files, bind-mounted in its private mount namespace.
        root = workdir / "root"
        (root / ".ssh").mkdir(parents=True, exist_ok=True)
        client = keygen(workdir / "id_ed25519")
        keys = (
            Path(f"{client}.pub").read_text().strip(),
            *spec.extra_authorized_keys,
        )
        (root / ".ssh" / "authorized_keys").write_text("\n".join(keys) + "\n")
        (workdir / "hosts").write_text(
            f"127.0.0.1 localhost\n127.0.1.1 {spec.fqdn} {spec.hostname}\n"
        )
        (workdir / "resolv.conf").write_text("".join(f"nameserver {s}\n" for s in spec.nameservers))
        (workdir / "machine-id").write_text(spec.machine_id + "\n")
        udev = workdir / "udev"
        (udev / "data").mkdir(parents=True, exist_ok=True)
        links = {item["ifname"]: item["ifindex"] for item in json.loads(ip("-j", "link", ns=ns))}
        for nic in spec.nics:
            if nic.udev:
                (udev / "data" / f"n{links[nic.name]}").write_text(
                    "".join(f"E:{k}={v}\n" for k, v in nic.udev)
                )
        setup = "\n".join(
            [
                "set -e",
                f"hostname {shlex.quote(spec.hostname)}",
                f"mount --bind {workdir}/hosts /etc/hosts",
                f"mount --bind {workdir}/resolv.conf /etc/resolv.conf",
                f"mount --bind {workdir}/machine-id /etc/machine-id",
                f"mount --bind {root} /root",
                "mkdir -p /run/udev",
                f"mount --bind {udev} /run/udev",
            ]
        )
        server = LoopbackSshd(
            workdir / "sshd",
            listen="0.0.0.0",
            port=22,
            prefix=[
                "ip",
                "netns",
                "exec",
                ns,
                "unshare",
                "--uts",
                "--mount",
                "--propagation",
                "private",
            ],
            setup=setup,
            authorized_keys_file=".ssh/authorized_keys",
            extra_config=["ListenAddress ::"],
            identity=client,
        ).start()
        # The client's known_hosts names the host by the address the tests connect to.
        server.pin(spec.ssh_address)
    except BaseException:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        for peer in peers.values():
            subprocess.run(["ip", "link", "del", peer], capture_output=True)
        os.close(lock)
        _HELD.discard(spec.key)
        raise
    return NetnsHost(
        spec=spec,
        ns=ns,
        peers=peers,
        sshd=server,
        authorized_keys=keys,
        workdir=workdir,
        lock_fd=lock,
    )


HOSTER_LIKE = HostSpec(
    key="a",
    hostname="hoster-a",
    fqdn="hoster-a.example.test",
    nics=(
        NicSpec(
            name="eth0",
            mac="96:00:00:12:34:56",
            addresses=("203.0.113.10/32", "2001:db8:a::2/64"),
            peer_addresses=("172.31.1.1/32", "fe80::1/64"),
            peer_routes=("203.0.113.10/32", "2001:db8:a::/64"),
            udev=(("ID_NET_NAME_MAC", "enx960000123456"), ("ID_NET_NAME_PATH", "enp1s0")),
        ),
    ),
    routes=(
        "172.31.1.1 dev eth0 scope link",
        "default via 172.31.1.1 dev eth0",
        "default via fe80::1 dev eth0",
    ),
    ssh_address="203.0.113.10",
    nameservers=("198.51.100.53", "2001:db8:53::1"),
    machine_id="a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1",
    extra_authorized_keys=(
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHxB8r8Q0n3Y3m4o9M9d5k6N4cL2sG2q2z7bY1ZbHq1r"
        " operator@example",
    ),
)
"""(a) A hoster-like host: one NIC with a fixed MAC, an IPv4 /32 with the default route via the
on-link gateway 172.31.1.1, an IPv6 /64 with the default route via fe80::1; udev names it
enp1s0, as on a cloud server."""

TWO_NICS = HostSpec(
    key="b",
    hostname="dual-b",
    fqdn="dual-b.example.test",
    nics=(
        NicSpec(
            name="eth0",
            mac="02:00:00:00:0b:01",
            addresses=("198.51.100.10/24", "2001:db8:b::10/64"),
            peer_addresses=("198.51.100.1/24", "2001:db8:b::1/64"),
        ),
        NicSpec(
            name="eth1",
            mac="02:00:00:00:0b:02",
            addresses=("203.0.113.130/25", "2001:db8:c::10/64"),
        ),
    ),
    routes=(
        "default via 198.51.100.1 dev eth0",
        "default via 2001:db8:b::1 dev eth0",
        "203.0.113.64/26 via 203.0.113.129 dev eth1",
        "2001:db8:d::/48 via 2001:db8:c::1 dev eth1",
    ),
    ssh_address="198.51.100.10",
    nameservers=("198.51.100.53",),
    machine_id="b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2",
)
"""(b) Two NICs, dual stack on both, and a second routed network (IPv4 and IPv6) behind eth1."""
