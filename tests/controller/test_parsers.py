"""Parsers and the runtime-info builder, from real captures and from hand-written edge cases."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nixremote.controller import parsers
from nixremote.controller.collect import derive_host_id, root_disk, runtime_info_from_facts
from nixremote.controller.probe import format_facts, split_probe_output
from nixremote.core.converter import loads_runtime_info, runtime_info_to_json_data
from nixremote.core.errors import InvalidInputError
from nixremote.core.facts import Facts
from nixremote.core.models import BootMode
from nixremote.core.mounts import root_mount

CAPTURES = Path(__file__).resolve().parent.parent / "data" / "captures"


def capture(name: str) -> Facts:
    return split_probe_output((CAPTURES / name).read_text(), source=name)


# --- captures -------------------------------------------------------------------------------


def test_capture_of_hoster_like_host() -> None:
    facts = capture("netns-hoster-a.txt")
    info = runtime_info_from_facts(facts)
    assert info.host_name == "hoster-a"
    assert info.primary_interface == "eth0"
    (eth0,) = info.interfaces
    assert eth0.mac == "96:00:00:12:34:56"
    assert eth0.predictable_name == "enp1s0"
    assert eth0.driver == "veth"
    assert [(a.address, a.prefix_length) for a in eth0.ipv4] == [("203.0.113.10", 32)]
    assert ("2001:db8:a::2", 64) in [(a.address, a.prefix_length) for a in eth0.ipv6]
    default4 = next(r for r in info.routes if r.family == 4 and r.is_default)
    assert (default4.gateway, default4.device, default4.on_link) == ("172.31.1.1", "eth0", True)
    default6 = next(r for r in info.routes if r.family == 6 and r.is_default)
    assert (default6.gateway, default6.on_link) == ("fe80::1", False)
    assert info.nameservers == ("198.51.100.53", "2001:db8:53::1")
    assert len(info.root_authorized_keys) == 2
    assert info.host_id == derive_host_id(mac="96:00:00:12:34:56", machine_id=None, host_name="")
    legacy = runtime_info_to_json_data(info)
    assert legacy["networkInterface"] == "enp1s0"
    assert legacy["networkInterfaceModule"] == "veth"
    assert legacy["ipv4"] == {
        "address": "203.0.113.10",
        "prefixLength": 32,
        "gateway": "172.31.1.1",
        "netmask": "255.255.255.255",
    }
    assert legacy["ipv6"] == {"address": "2001:db8:a::2", "prefixLength": 64, "gateway": "fe80::1"}


def test_capture_of_two_nic_host() -> None:
    info = runtime_info_from_facts(capture("netns-dual-b.txt"))
    assert [i.name for i in info.interfaces] == ["eth0", "eth1"]
    assert info.primary_interface == "eth0"
    eth1 = info.interfaces[1]
    assert eth1.mac == "02:00:00:00:0b:02"
    assert [a.address for a in eth1.ipv4] == ["203.0.113.130"]
    routed = {(r.destination, r.gateway, r.device) for r in info.routes}
    assert ("203.0.113.64/26", "203.0.113.129", "eth1") in routed
    assert ("2001:db8:d::/48", "2001:db8:c::1", "eth1") in routed
    assert ("default", "198.51.100.1", "eth0") in routed
    assert ("default", "2001:db8:b::1", "eth0") in routed
    assert not any(r.on_link for r in info.routes)


def test_capture_of_this_machine() -> None:
    facts = capture("local-vm.txt")
    info = runtime_info_from_facts(facts)
    assert info.arch == "x86_64"
    assert info.boot_mode is BootMode.BIOS
    assert info.memory_bytes and info.memory_bytes > 1 << 30
    assert info.disk_to_format == "/dev/vda"  # / is on vda, which has no by-id link here
    assert root_disk(facts) == "/dev/vda"
    assert all(not d.path.startswith("/dev/zram") for d in info.disks)
    assert info.primary_interface == "eth0"
    assert info.default_gateway(4) == "192.0.2.1"


def test_runtime_info_round_trips_through_json() -> None:
    info = runtime_info_from_facts(capture("netns-dual-b.txt"))
    assert loads_runtime_info(json.dumps(runtime_info_to_json_data(info))) == info


def test_format_facts_round_trip() -> None:
    facts = capture("netns-hoster-a.txt")
    again = split_probe_output(format_facts(facts))
    assert {k: v for k, v in again.sections.items() if k != "probe-status"} == {
        k: v for k, v in facts.sections.items() if k != "probe-status"
    }


def test_failed_sections_are_unknown() -> None:
    facts = capture("local-vm.txt")
    status = dict(line.split() for line in facts.get("probe-status").splitlines())
    assert status["ip-addr"] == "0"
    for name, code in status.items():
        assert facts.has(name) == (code == "0")


def test_split_rejects_text_without_header() -> None:
    with pytest.raises(InvalidInputError):
        split_probe_output("bash: sh: not found\n")


def test_forged_markers_inside_a_section_do_not_split_it() -> None:
    text = "\n".join(
        [
            "@@NIXREMOTE-0123456789abcdef probe 1",
            "@@NIXREMOTE-0123456789abcdef begin hostname",
            "@@NIXREMOTE-ffffffffffffffff end hostname 0",
            "real",
            "@@NIXREMOTE-0123456789abcdef end hostname 0",
        ]
    )
    facts = split_probe_output(text)
    assert facts.get("hostname") == "@@NIXREMOTE-ffffffffffffffff end hostname 0\nreal"


# --- single parsers -------------------------------------------------------------------------


def test_routes_keep_onlink_flag_and_normalize_host_routes() -> None:
    text = json.dumps(
        [
            {"dst": "default", "gateway": "172.31.1.1", "dev": "eth0", "flags": ["onlink"]},
            {"dst": "172.31.1.1", "dev": "eth0", "scope": "link", "flags": []},
            {"dst": "10.0.0.0/8", "dev": "eth1", "protocol": "kernel", "flags": []},
            {"type": "unreachable", "dst": "192.0.2.99", "flags": []},
            {"dst": "default", "via": {"family": "inet6", "host": "fe80::1"}, "dev": "eth0"},
        ]
    )
    routes = parsers.parse_routes(text, 4)
    assert [(r.destination, r.gateway, r.on_link) for r in routes] == [
        ("default", "172.31.1.1", True),
        ("172.31.1.1/32", None, False),
    ]
    assert len(parsers.parse_routes(text, 4, include_kernel=True)) == 3


def test_lsblk_tree_root_on_partition_resolves_to_by_id_disk() -> None:
    lsblk = {
        "blockdevices": [
            {
                "name": "sda",
                "kname": "sda",
                "path": "/dev/sda",
                "maj:min": "8:0",
                "type": "disk",
                "size": 40 << 30,
                "model": "QEMU HARDDISK   ",
                "serial": "drive-scsi0",
                "rota": True,
                "rm": False,
                "children": [
                    {
                        "name": "sda1",
                        "kname": "sda1",
                        "path": "/dev/sda1",
                        "maj:min": "8:1",
                        "type": "part",
                        "size": 39 << 30,
                        "mountpoint": "/",
                        "pkname": "sda",
                    },
                    {
                        "name": "sda14",
                        "kname": "sda14",
                        "path": "/dev/sda14",
                        "maj:min": "8:14",
                        "type": "part",
                        "size": 4 << 20,
                        "pkname": "sda",
                    },
                ],
            },
            {
                "name": "sdb",
                "kname": "sdb",
                "path": "/dev/sdb",
                "maj:min": "8:16",
                "type": "disk",
                "size": 10 << 30,
                "rm": "1",
            },
            {"name": "sr0", "kname": "sr0", "maj:min": "11:0", "type": "rom", "size": 1024},
        ]
    }
    by_id = "\n".join(
        [
            "/dev/disk/by-id/wwn-0x5000c500a1b2c3d4 /dev/sda",
            "/dev/disk/by-id/scsi-0QEMU_QEMU_HARDDISK_drive-scsi0 /dev/sda",
            "/dev/disk/by-id/scsi-0QEMU_QEMU_HARDDISK_drive-scsi0-part1 /dev/sda1",
            "/dev/disk/by-id/usb-Stick_1 /dev/sdb",
        ]
    )
    facts = Facts(
        sections={
            "lsblk": json.dumps(lsblk),
            "disk-by-id": by_id,
            "root-mount": "27 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw",
        }
    )
    info = runtime_info_from_facts(facts)
    assert info.disk_to_format == "/dev/disk/by-id/scsi-0QEMU_QEMU_HARDDISK_drive-scsi0"
    assert [d.path for d in info.disks] == ["/dev/sda", "/dev/sdb"]
    assert info.disks[0].model == "QEMU HARDDISK"
    assert info.disks[1].removable is True
    # --disk by kernel name, by path, by any by-id link: reported by the chosen by-id path.
    for wanted in ("sdb", "/dev/sdb", "/dev/disk/by-id/usb-Stick_1"):
        chosen = runtime_info_from_facts(facts, settings={"disk": wanted}).disk_to_format
        assert chosen == "/dev/disk/by-id/usb-Stick_1"
    with pytest.raises(InvalidInputError, match="not a disk of this host"):
        runtime_info_from_facts(facts, settings={"disk": "/dev/sdz"})


def test_tmpfs_root_falls_back_to_the_only_fixed_disk() -> None:
    facts = Facts(
        sections={
            "sys-block": "loop0 7:0 0 0 1 \nsr0 11:0 2048 1 1 QEMU DVD\nvda 254:0 83886080 0 1 \n",
            "root-mount": "1 0 0:2 / / rw - tmpfs tmpfs rw",
        }
    )
    assert root_disk(facts) is None
    info = runtime_info_from_facts(facts)
    assert info.disk_to_format == "/dev/vda"
    assert info.disks[0].size_bytes == 83886080 * 512


def test_no_disk_known_is_empty_not_a_crash() -> None:
    assert runtime_info_from_facts(Facts(sections={})).disk_to_format == ""


def test_best_by_id_prefers_readable_names() -> None:
    links = (
        "/dev/disk/by-id/nvme-eui.0025388b91b2c3d4",
        "/dev/disk/by-id/nvme-SAMSUNG_MZVL2512HCJQ_S123",
        "/dev/disk/by-id/wwn-0x1",
        "/dev/disk/by-id/nvme-SAMSUNG_MZVL2512HCJQ_S123-part1",
    )
    assert parsers.best_by_id(links) == "/dev/disk/by-id/nvme-SAMSUNG_MZVL2512HCJQ_S123"
    assert parsers.best_by_id(("/dev/disk/by-id/wwn-0x1",)) == "/dev/disk/by-id/wwn-0x1"
    assert parsers.best_by_id(()) is None


def test_nics_and_predictable_names() -> None:
    text = "\n".join(
        [
            "iface eth0",
            "address 96:00:01:AB:CD:EF",
            "ifindex 2",
            "type 1",
            "driver virtio_net",
            "udev ID_NET_NAME_MAC=enx960001abcdef",
            "udev ID_NET_NAME_PATH=enp1s0",
            "udev ID_NET_NAME_SLOT=ens3",
            "iface lo",
            "address 00:00:00:00:00:00",
            "type 772",
            "virtual 1",
            "iface bad name with spaces",
            "address 11:22:33:44:55:66",
        ]
    )
    nics = parsers.parse_nics(text)
    assert set(nics) == {"eth0", "lo"}
    assert nics["eth0"].mac == "96:00:01:ab:cd:ef"
    assert nics["eth0"].predictable_name == "ens3"  # slot before path, as systemd does
    assert nics["lo"].mac is None and nics["lo"].virtual
    # Without ip -j (busybox), interfaces come from /sys.
    info = runtime_info_from_facts(Facts(sections={"nics": text}))
    assert [(i.name, i.stable_name, i.driver) for i in info.interfaces] == [
        ("eth0", "ens3", "virtio_net")
    ]


def test_small_parsers() -> None:
    assert parsers.parse_os_release('ID=debian\nPRETTY_NAME="Debian \\"12\\""\n# x\n') == {
        "ID": "debian",
        "PRETTY_NAME": 'Debian "12"',
    }
    assert parsers.parse_meminfo("MemTotal:        4005236 kB\n") == 4005236 * 1024
    assert parsers.parse_meminfo("MemTotal: lots\n") is None
    assert parsers.parse_hostname("rescue.your-server.de\n") == "rescue"
    assert parsers.parse_fqdn("rescue.your-server.de\n") == "rescue.your-server.de"
    assert parsers.parse_hostname("-bad\n") is None
    assert parsers.parse_efi("1\n") is True and parsers.parse_efi("0") is False
    assert parsers.parse_efi("maybe") is None and parsers.parse_efi(None) is None
    assert parsers.parse_resolv_conf(
        "search x\nnameserver 185.12.64.1\nnameserver fe80::1%eth0\nnameserver nope\n"
    ) == ("185.12.64.1", "fe80::1")
    assert parsers.parse_authorized_keys(
        '# c\n\ncommand="x" ssh-ed25519 AAAAC3Nza a@b\nnot a key\necdsa-sha2-nistp256 AAAAE2 c\n'
    ) == ('command="x" ssh-ed25519 AAAAC3Nza a@b', "ecdsa-sha2-nistp256 AAAAE2 c")
    assert parsers.parse_kexec("/usr/sbin/kexec\n") == "/usr/sbin/kexec"
    assert parsers.parse_kexec("") is None
    assert parsers.parse_machine_id("A1" * 16) == "a1" * 16
    mount = root_mount("27 1 0:21 / / rw - overlay overlay rw,lowerdir=/x\n")
    assert mount is not None and (mount.fstype, mount.source) == ("overlay", "overlay")


def test_stub_resolver_is_replaced_by_upstream() -> None:
    facts = Facts(
        sections={
            "resolv-conf": "nameserver 127.0.0.53\noptions edns0\n",
            "resolv-conf-upstream": "nameserver 185.12.64.2\nnameserver 2a01:4ff:ff00::add:1\n",
        }
    )
    assert runtime_info_from_facts(facts).nameservers == ("185.12.64.2", "2a01:4ff:ff00::add:1")


def test_host_id_rule() -> None:
    assert (
        derive_host_id(mac="96:00:00:12:34:56", machine_id="ab" * 16, host_name="h")
        == (__import__("hashlib").sha256(b"96:00:00:12:34:56").hexdigest()[:8])
    )
    assert (
        derive_host_id(mac=None, machine_id="ab" * 16, host_name="h")
        == (__import__("hashlib").sha256(("ab" * 16).encode()).hexdigest()[:8])
    )
    facts = capture("netns-hoster-a.txt")
    assert runtime_info_from_facts(facts, settings={"host_id": "DEADBEEF"}).host_id == "deadbeef"
    with pytest.raises(InvalidInputError):
        runtime_info_from_facts(facts, settings={"host_id": "xyz"})


# --- ip's text output (busybox, old iproute2) -----------------------------------------------

BUSYBOX_ADDR = """\
1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue qlen 1000
    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00
    inet 127.0.0.1/8 scope host lo
       valid_lft forever preferred_lft forever
2: eth0@if7: <BROADCAST,MULTICAST,UP,LOWER_UP,M-DOWN> mtu 1500 qdisc noqueue qlen 1000
    link/ether 96:00:00:12:34:56 brd ff:ff:ff:ff:ff:ff
    inet 203.0.113.10/32 scope global eth0
       valid_lft forever preferred_lft forever
    inet 10.0.0.2/24 brd 10.0.0.255 scope global dynamic eth0
       valid_lft 85000sec preferred_lft 85000sec
    inet6 2001:db8:a::2/64 scope global flags 02
    inet6 fe80::9400:ff:fe12:3456/64 scope link
3: tun0: <POINTOPOINT,UP> mtu 1420
    link/none
    inet 10.8.0.1 peer 10.8.0.2/32 scope global tun0
"""

BUSYBOX_ROUTES4 = """\
default via 172.31.1.1 dev eth0
172.31.1.1 dev eth0 scope link
10.0.0.0/24 dev eth0 scope link  src 10.0.0.2
10.1.0.0/16 via 10.0.0.1 dev eth0 onlink metric 5
unreachable 192.0.2.99
default via inet6 fe80::1 dev eth1
10.9.0.0/16 proto bird
\tnexthop via 10.0.0.7 dev eth0 weight 1
"""


def test_ip_addr_text() -> None:
    links = parsers.parse_ip_addr(BUSYBOX_ADDR)
    assert [link.name for link in links] == ["lo", "eth0", "tun0"]
    eth0 = links[1]
    assert (eth0.mac, eth0.link_type, eth0.up, eth0.ifindex) == (
        "96:00:00:12:34:56",
        "ether",
        True,
        2,
    )
    assert [(a.address, a.prefix_length, a.dynamic) for a in eth0.ipv4] == [
        ("203.0.113.10", 32, False),
        ("10.0.0.2", 24, True),
    ]
    assert [a.address for a in eth0.ipv6] == ["2001:db8:a::2", "fe80::9400:ff:fe12:3456"]
    assert links[0].ipv4 == ()  # host scope
    assert links[2].mac is None and links[2].ipv4 == ()


def test_ip_route_text() -> None:
    routes = parsers.parse_routes(BUSYBOX_ROUTES4, 4)
    assert [(r.destination, r.gateway, r.device, r.on_link, r.metric) for r in routes] == [
        ("default", "172.31.1.1", "eth0", False, None),
        ("172.31.1.1/32", None, "eth0", False, None),
        ("10.0.0.0/24", None, "eth0", False, None),
        ("10.1.0.0/16", "10.0.0.1", "eth0", True, 5),
        ("10.9.0.0/16", None, None, False, None),
    ]
    links = parsers.parse_ip_addr(BUSYBOX_ADDR)
    kept = parsers.mark_on_link(parsers.drop_connected(routes, links), links)
    assert [(r.destination, r.on_link) for r in kept] == [
        ("default", True),  # 172.31.1.1 is outside every prefix of eth0
        ("172.31.1.1/32", False),
        ("10.1.0.0/16", True),
        ("10.9.0.0/16", False),
    ]
    v6 = "fe80::/64 dev eth0  metric 256\ndefault via fe80::1 dev eth0  metric 1024\n"
    assert [(r.destination, r.gateway) for r in parsers.parse_routes(v6, 6)] == [
        ("fe80::/64", None),
        ("default", "fe80::1"),
    ]
