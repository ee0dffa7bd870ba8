"""The probe script on minimal systems: busybox only (no ip -j, lsblk, udevadm, jq, ethtool,
gawk). Missing tools make facts unknown, never a failure; ip without -j falls back to text."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from nixremote.controller.collect import runtime_info_from_facts
from nixremote.controller.probe import (
    missing_sections,
    probe_argv,
    probe_script,
    split_probe_output,
)

BUSYBOX = "/bin/busybox"  # Debian: busybox-static


def busybox_root(path: Path) -> Path:
    """A root file system with nothing but a static busybox and its applet links."""
    bindir = path / "bin"
    bindir.mkdir(parents=True)
    shutil.copy2(BUSYBOX, bindir / "busybox")
    applets = subprocess.run(
        [BUSYBOX, "--list"], capture_output=True, text=True, check=True
    ).stdout.split()
    for applet in applets:
        if applet != "busybox":
            (bindir / applet).symlink_to("busybox")
    for name in ("proc", "sys", "dev", "etc", "root", "run", "tmp"):
        (path / name).mkdir()
    (path / "etc" / "os-release").write_text('NAME="BusyBox rescue"\nID=busybox\n')
    return path


def run_in_chroot(root: Path, argv: list[str]) -> str:
    setup = (
        'mount -t proc proc "$R/proc" && mount --rbind /sys "$R/sys" && '
        'mount --rbind /dev "$R/dev" && exec chroot "$R" "$@"'
    )
    proc = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", setup, "sh", *argv],
        capture_output=True,
        text=True,
        env={"R": str(root), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_probe_needs_no_jq_ethtool_or_awk() -> None:
    script = probe_script()
    for tool in ("jq", "ethtool", "awk", "gawk", "python", "perl", "bash"):
        assert not re.search(rf"\b{tool}\b", script), tool


def test_probe_on_busybox_only_system(tmp_path: Path) -> None:
    root = busybox_root(tmp_path / "rescue")
    # The chroot has no /usr: only busybox's own sh and applets run the probe.
    assert not (root / "usr").exists()
    out = run_in_chroot(root, ["/bin/sh", *probe_argv()[1:]])
    facts = split_probe_output(out, source="busybox")
    missing = set(missing_sections(facts))
    # There is no lsblk, udevadm or hostname -f: unknown, not fatal.
    assert {"lsblk", "hostname-f"} <= missing
    for known in ("uname-m", "meminfo", "efi", "nics", "sys-block", "hostname", "ip-addr"):
        assert facts.has(known), known
    # busybox's ip has no -j: the probe fell back to its text output.
    assert not (facts.get("ip-addr") or "").lstrip().startswith("[")
    info = runtime_info_from_facts(facts)
    # The same machine seen through iproute2's JSON and Debian's lsblk.
    full = runtime_info_from_facts(
        split_probe_output(
            subprocess.run(probe_argv(), capture_output=True, text=True, check=True).stdout
        )
    )
    eth0 = next(i for i in info.interfaces if i.name == "eth0")
    assert eth0.mac and re.fullmatch(r"([0-9a-f]{2}:){5}[0-9a-f]{2}", eth0.mac)
    assert eth0.ipv4 and eth0.ipv6
    assert [(i.name, i.mac, i.ipv4, i.ipv6) for i in info.interfaces] == [
        (i.name, i.mac, i.ipv4, i.ipv6) for i in full.interfaces
    ]

    def routes(x):  # type: ignore[no-untyped-def]
        return {(r.family, r.destination, r.gateway, r.device, r.on_link) for r in x.routes}

    assert routes(info) == routes(full)
    assert info.primary_interface == full.primary_interface
    # Disks from /sys/block.
    assert [(d.path, d.size_bytes) for d in info.disks] == [
        (d.path, d.size_bytes) for d in full.disks
    ]
    assert info.arch == full.arch
    assert info.memory_bytes == full.memory_bytes


def test_capture_from_busybox_system() -> None:
    capture = Path(__file__).resolve().parent.parent / "data" / "captures" / "busybox-chroot.txt"
    facts = split_probe_output(capture.read_text(), source="busybox-chroot")
    assert "lsblk" in missing_sections(facts)
    info = runtime_info_from_facts(facts)
    eth0 = next(i for i in info.interfaces if i.name == "eth0")
    assert eth0.driver == "virtio_net"
    assert [(a.address, a.prefix_length) for a in eth0.ipv4] == [("192.0.2.2", 24)]
    assert info.default_gateway(4) == "192.0.2.1"
    assert info.default_gateway(6) == "fd00::1"
    assert info.disk_to_format == "/dev/vda"
