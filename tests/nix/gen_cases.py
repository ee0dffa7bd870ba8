"""Write the runtime infos of the Nix network cases (tests/nix/cases/<name>/runtime-info.json).

Run from the repository root: ``python tests/nix/gen_cases.py``. The files are produced by the
real converter, so they have exactly the shape nixremote writes; ``expected.json`` beside each is
written by hand-checked evaluation and compared by test_network_nix.py and by the flake's checks.
"""

from __future__ import annotations

import json
from pathlib import Path

from nixremote.core.converter import dumps_runtime_info
from nixremote.core.models import BootMode, Interface, IPAddress, Route, RuntimeInfo

CASES = Path(__file__).parent / "cases"
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
            Route(family=4, destination="default", gateway="172.31.1.1", device="eth0",
                  on_link=True),
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
            Interface(name="eth2", mac="52:54:00:00:00:03", driver="e1000e",
                      predictable_name="enp5s0"),
        ),
        primary_interface="eth0",
        routes=(
            Route(family=4, destination="default", gateway="198.51.100.1", device="eth0",
                  metric=100),
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
            Route(family=4, destination="default", gateway="198.51.100.1", device="eth0",
                  metric=1024),
            Route(family=6, destination="default", gateway="fe80::1", device="eth0"),
        ),
        boot_mode=BootMode.UNKNOWN,
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


def main() -> None:
    for name, make in (("hoster", hoster), ("two-nics", two_nics), ("ipv6-only", ipv6_only),
                       ("dhcp", dhcp)):
        d = CASES / name
        d.mkdir(parents=True, exist_ok=True)
        (d / "runtime-info.json").write_text(dumps_runtime_info(make()), encoding="utf-8")
    d = CASES / "legacy"
    d.mkdir(parents=True, exist_ok=True)
    (d / "runtime-info.json").write_text(json.dumps(LEGACY, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
