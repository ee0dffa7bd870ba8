"""Realistic runtime infos for the install tests and ``bench/cmdline.py``."""

from __future__ import annotations

import hashlib

from nixremote.core.models import BootMode, Disk, Interface, IPAddress, Route, RuntimeInfo

ED25519_KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHq3T1xk0n2m6m7rWc2s4Yt1pQ9lP0Qj5c8r3m0Vn4Zd "
    "alice@workstation"
)

ORIGINAL_ONE_NIC = {
    # The flat shape the original installer's write-runtime-info produced for a Hetzner Cloud VM.
    "hostName": "web1",
    "hostId": "8425e349",
    "rootAuthorizedKeys": [ED25519_KEY],
    "diskToFormat": "/dev/disk/by-id/scsi-0QEMU_QEMU_HARDDISK_13851621",
    "networkInterface": "enp1s0",
    "networkInterfaceModule": "virtio_net",
    "ipv4": {
        "address": "198.51.100.7",
        "prefixLength": 32,
        "gateway": "172.31.1.1",
        "netmask": "255.255.255.255",
    },
    "ipv6": {"address": "2001:db8:1:2::1", "prefixLength": 64, "gateway": "fe80::1"},
}

INIT = (
    "init=/nix/store/"
    + hashlib.sha256(b"toplevel")
    .hexdigest()[:32]
    .translate(str.maketrans("0123456789abcdef", "0a1b2c3d4f5g6h7i"))
    + "-nixos-system-nixos-kexec-25.05.20250612.8f7ffa1/init"
)
"""A realistic ``init=`` of a NixOS 25.05 kexec image (32-character store hash)."""

KERNEL_PARAMS = (
    INIT + " loglevel=4 console=ttyS0,115200 console=tty0 zswap.enabled=1 "
    "zswap.max_pool_percent=50 zswap.compressor=zstd zswap.zpool=zsmalloc"
)
"""The ``init=`` plus kernel parameters like the nixos-images ``run`` script passes."""


def big_host(nics: int = 4, disks: int = 8) -> RuntimeInfo:
    """A dedicated server: ``nics`` NICs dual stack (two v4 and two v6 each), ``disks`` disks."""
    interfaces = []
    routes = []
    for n in range(nics):
        mac = f"0c:c4:7a:{n:02x}:5e:{0x30 + n:02x}"
        interfaces.append(
            Interface(
                name=f"eth{n}",
                mac=mac,
                driver="igb" if n < 2 else "ixgbe",
                predictable_name=f"enp{n + 1}s0f{n % 2}",
                ipv4=(
                    IPAddress(address=f"203.0.113.{10 + n}", prefix_length=27),
                    IPAddress(address=f"198.51.100.{100 + n}", prefix_length=32),
                ),
                ipv6=(
                    IPAddress(address=f"2001:db8:{n + 1}:10::2", prefix_length=64),
                    IPAddress(
                        address=f"fe80::ec4:7aff:fe{n:02x}:5e{0x30 + n:02x}", prefix_length=64
                    ),
                ),
            )
        )
        routes.append(Route(family=4, destination=f"203.0.113.{n * 32}/27", device=f"eth{n}"))
        routes.append(Route(family=6, destination=f"2001:db8:{n + 1}:10::/64", device=f"eth{n}"))
    routes.append(Route(family=4, destination="default", gateway="203.0.113.1", device="eth0"))
    routes.append(Route(family=6, destination="default", gateway="fe80::1", device="eth0"))
    disk_list = []
    for d in range(disks):
        if d < 4:
            serial = f"S64ANS0T{51234 + d:06d}K"
            disk_list.append(
                Disk(
                    path=f"/dev/nvme{d}n1",
                    by_id=f"/dev/disk/by-id/nvme-SAMSUNG_MZQL23T8HCLS-00A07_{serial}",
                    size_bytes=3840755982336,
                    model="SAMSUNG MZQL23T8HCLS-00A07",
                    serial=serial,
                    rotational=False,
                )
            )
        else:
            serial = f"ZL2{d:02d}K7Q"
            disk_list.append(
                Disk(
                    path=f"/dev/sd{chr(ord('a') + d - 4)}",
                    by_id=f"/dev/disk/by-id/ata-ST16000NM001G-2KK103_{serial}",
                    size_bytes=16000900661248,
                    model="ST16000NM001G-2KK103",
                    serial=serial,
                    rotational=True,
                )
            )
    return RuntimeInfo(
        host_name="storage-fsn1-dc14-07",
        host_id="8425e349",
        disk_to_format=disk_list[0].by_id or disk_list[0].path,
        root_authorized_keys=(ED25519_KEY, ED25519_KEY.replace("alice@workstation", "bob@laptop")),
        interfaces=tuple(interfaces),
        primary_interface="eth0",
        routes=tuple(routes),
        nameservers=("185.12.64.1", "185.12.64.2", "2a01:4ff:ff00::add:1"),
        disks=tuple(disk_list),
        arch="x86_64",
        memory_bytes=128 * 1024**3,
        boot_mode=BootMode.UEFI,
        hoster="hetzner",
        hoster_details=(("datacenter", "fsn1-dc14"), ("product", "SX134")),
    )
