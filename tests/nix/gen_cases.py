"""Write the runtime infos of the Nix network cases (tests/nix/cases/<name>/runtime-info.json).

Run from the repository root: ``PYTHONPATH=src python tests/nix/gen_cases.py``. The files are
produced by the real converter, so they have exactly the shape nixremote writes.
``expected.json`` beside each is compared by test_network_nix.py and by the flake's checks;
``--expected`` rewrites them from nix/lib/network.nix's output, to be reviewed in the diff before
committing (a changed expectation is a changed network of every installed host).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from nixremote.core.converter import dumps_runtime_info
from nixremote.core.models import BootMode, Interface, IPAddress, Route, RuntimeInfo

CASES = Path(__file__).parent / "cases"
REPO = Path(__file__).resolve().parents[2]
KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGx0ZXN0a2V5bm90cmVhbGx5YWtleTAwMDAwMDAwMDAw"
    " test@nixremote"
)


def hoster() -> RuntimeInfo:
    """Hetzner-like: a /32 behind the on-link 172.31.1.1, a /64 behind fe80::1."""
    return RuntimeInfo(
        host_name="web1.example.com",
        host_id="8425e349",
        disk_to_format="/dev/disk/by-id/scsi-0QEMU_QEMU_HARDDISK_12345",
        root_authorized_keys=(KEY,),
        interfaces=(
            Interface(
                name="eth0",
                mac="96:00:00:AB:CD:EF",
                driver="virtio_net",
                predictable_name="enp1s0",
                ipv4=(IPAddress(address="203.0.113.10", prefix_length=32),),
                ipv6=(
                    IPAddress(address="2001:db8:10::1", prefix_length=64),
                    IPAddress(address="fe80::9400:ff:feab:cdef", prefix_length=64),
                ),
            ),
        ),
        primary_interface="eth0",
        routes=(
            Route(
                family=4, destination="default", gateway="172.31.1.1", device="eth0", on_link=True
            ),
            Route(family=4, destination="172.31.1.1/32", device="eth0"),
            Route(family=6, destination="default", gateway="fe80::1", device="eth0"),
        ),
        nameservers=("185.12.64.1", "2a01:4ff:ff00::add:1"),
        arch="x86_64",
        memory_bytes=4 * 1024**3,
        boot_mode=BootMode.BIOS,
        hoster="hetzner",
        hoster_details=(("serverId", "4711"), ("location", "fsn1")),
    )


def two_nics() -> RuntimeInfo:
    """A public NIC with a gateway inside its /24 and a private NIC with an extra route."""
    return RuntimeInfo(
        host_name="db1",
        host_id="0badcafe",
        disk_to_format="/dev/disk/by-id/nvme-SAMSUNG_MZVL2512_S123",
        root_authorized_keys=(KEY,),
        interfaces=(
            Interface(
                name="eth0",
                mac="52:54:00:12:34:56",
                driver="igb",
                predictable_name="enp3s0",
                ipv4=(IPAddress(address="198.51.100.20", prefix_length=24),),
            ),
            Interface(
                name="eth1",
                mac="52:54:00:65:43:21",
                driver="igb",
                predictable_name="enp4s0",
                ipv4=(IPAddress(address="203.0.113.5", prefix_length=28),),
            ),
            Interface(
                name="eth2", mac="52:54:00:00:00:03", driver="e1000e", predictable_name="enp5s0"
            ),
        ),
        primary_interface="eth0",
        routes=(
            Route(
                family=4, destination="default", gateway="198.51.100.1", device="eth0", metric=100
            ),
            Route(family=4, destination="198.51.100.0/24", device="eth0"),
            Route(family=4, destination="203.0.113.0/24", gateway="203.0.113.1", device="eth1"),
        ),
        nameservers=("198.51.100.53",),
        arch="x86_64",
        boot_mode=BootMode.UEFI,
    )


def ipv6_only() -> RuntimeInfo:
    """No IPv4 at all: a static /64 behind fe80::1."""
    return RuntimeInfo(
        host_name="v6only",
        host_id="12345678",
        disk_to_format="/dev/sda",
        root_authorized_keys=(KEY,),
        interfaces=(
            Interface(
                name="ens3",
                mac="96:00:00:00:00:66",
                driver="virtio_net",
                predictable_name="enp1s0",
                ipv6=(
                    IPAddress(address="2001:db8:66::2", prefix_length=64),
                    IPAddress(address="fe80::9400:ff:fe00:66", prefix_length=64),
                ),
            ),
        ),
        primary_interface="ens3",
        routes=(Route(family=6, destination="default", gateway="fe80::1", device="ens3"),),
        nameservers=("2001:db8::53",),
        arch="aarch64",
        boot_mode=BootMode.UEFI,
    )


def dhcp() -> RuntimeInfo:
    """Leased addresses (DHCPv4 and SLAAC): the installed system asks again."""
    return RuntimeInfo(
        host_name="dyn",
        host_id="deadbeef",
        disk_to_format="/dev/vda",
        root_authorized_keys=(KEY,),
        interfaces=(
            Interface(
                name="eth0",
                mac="52:54:00:AA:00:01",
                driver="virtio_net",
                predictable_name="ens3",
                ipv4=(IPAddress(address="198.51.100.77", prefix_length=24, dynamic=True),),
                ipv6=(IPAddress(address="2001:db8:77::1234", prefix_length=64, dynamic=True),),
            ),
        ),
        primary_interface="eth0",
        routes=(
            Route(
                family=4, destination="default", gateway="198.51.100.1", device="eth0", metric=1024
            ),
            Route(family=6, destination="default", gateway="fe80::1", device="eth0"),
        ),
        boot_mode=BootMode.UNKNOWN,
    )


def mixed() -> RuntimeInfo:
    """Several NICs: a /32 behind an on-link gateway (no onLink flag: Nix and the restore script
    decide it from the prefix) and a /64 via fe80::1 on the first; DHCP kept alongside a static
    IPv4 and a static IPv6 with its own fe80::1 on the second; an unconfigured third."""
    return RuntimeInfo(
        host_name="mixed.example.net",
        host_id="5eed5eed",
        disk_to_format="/dev/disk/by-id/virtio-mixed",
        root_authorized_keys=(KEY,),
        interfaces=(
            Interface(
                name="eth0",
                mac="52:54:00:00:10:01",
                driver="virtio_net",
                predictable_name="enp1s0",
                ipv4=(IPAddress(address="203.0.113.50", prefix_length=32),),
                ipv6=(IPAddress(address="2001:db8:50::1", prefix_length=64),),
            ),
            Interface(
                name="eth1",
                mac="52:54:00:00:10:02",
                driver="e1000e",
                predictable_name="enp2s0",
                ipv4=(
                    IPAddress(address="10.0.0.23", prefix_length=24, dynamic=True),
                    IPAddress(address="10.0.1.5", prefix_length=24),
                ),
                ipv6=(IPAddress(address="2001:db8:51::5", prefix_length=64),),
            ),
            Interface(
                name="eth2", mac="52:54:00:00:10:03", driver="e1000e", predictable_name="enp3s0"
            ),
        ),
        primary_interface="eth0",
        routes=(
            Route(family=4, destination="default", gateway="172.31.1.1", device="eth0"),
            Route(family=6, destination="default", gateway="fe80::1", device="eth0"),
            Route(family=4, destination="default", gateway="10.0.0.1", device="eth1", metric=200),
            Route(family=6, destination="default", gateway="fe80::1", device="eth1", metric=200),
        ),
        nameservers=("203.0.113.53", "2001:db8::53"),
        arch="x86_64",
        boot_mode=BootMode.UEFI,
    )


def no_keys() -> RuntimeInfo:
    """A runtime info without any root key: the NixOS modules refuse it (core.nix's assertion)."""
    return RuntimeInfo(
        host_name="nokeys",
        host_id="0000beef",
        disk_to_format="/dev/vda",
        interfaces=(
            Interface(
                name="eth0",
                mac="52:54:00:AA:00:09",
                driver="virtio_net",
                predictable_name="ens3",
                ipv4=(IPAddress(address="198.51.100.9", prefix_length=24, dynamic=True),),
            ),
        ),
        primary_interface="eth0",
        routes=(Route(family=4, destination="default", gateway="198.51.100.1", device="eth0"),),
        boot_mode=BootMode.BIOS,
    )


LEGACY = {
    # Exactly the original installer's fields, nothing else.
    "hostName": "legacy1",
    "hostId": "a1b2c3d4",
    "rootAuthorizedKeys": [KEY],
    "diskToFormat": "/dev/sda",
    "networkInterface": "ens3",
    "networkInterfaceModule": "virtio_net",
    "ipv4": {
        "address": "203.0.113.99",
        "prefixLength": 32,
        "gateway": "172.31.1.1",
        "netmask": "255.255.255.255",
    },
    "ipv6": {"address": "2001:db8:99::1", "prefixLength": 64, "gateway": "fe80::1"},
}


GENERATED = (
    ("hoster", hoster),
    ("two-nics", two_nics),
    ("ipv6-only", ipv6_only),
    ("dhcp", dhcp),
    ("mixed", mixed),
    ("no-keys", no_keys),
)


def write_expected(case: Path) -> None:
    """``expected.json`` of ``case`` from the Nix network function (review the diff)."""
    out = subprocess.run(
        [
            "nix-instantiate",
            "--eval",
            "--strict",
            "--json",
            "--argstr",
            "file",
            str(case / "runtime-info.json"),
            "-E",
            f"{{ file }}: (import {REPO}/nix/lib/network.nix).toNixos "
            "(builtins.fromJSON (builtins.readFile file))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    text = json.dumps(json.loads(out), indent=2, sort_keys=True) + "\n"
    (case / "expected.json").write_text(text, encoding="utf-8")


def main(argv: list[str]) -> None:
    for name, make in GENERATED:
        d = CASES / name
        d.mkdir(parents=True, exist_ok=True)
        (d / "runtime-info.json").write_text(dumps_runtime_info(make()), encoding="utf-8")
    d = CASES / "legacy"
    d.mkdir(parents=True, exist_ok=True)
    (d / "runtime-info.json").write_text(json.dumps(LEGACY, indent=2) + "\n", encoding="utf-8")
    if "--expected" in argv:
        for case in sorted(p for p in CASES.iterdir() if p.is_dir()):
            write_expected(case)


if __name__ == "__main__":
    main(sys.argv[1:])
