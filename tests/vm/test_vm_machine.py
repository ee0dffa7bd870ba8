"""The QEMU test machine itself: the rescue VM, ZFS on its disk, and a manual kexec handoff into
the test installer bundle (the same steps the controller takes, done by hand here).

The tests of this module share one VM and run in file order; the handoff test comes last because
it replaces the rescue system with the installer.
"""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import time
import uuid
import zipapp
from pathlib import Path

import pytest

from nixremote.testing.vm import (
    INSTALLER_READY_MARKER,
    RescueVm,
    VmArtifacts,
    build,
    cpio,
    generate_key,
    handoff_archive,
    sampled_argv,
)

pytestmark = pytest.mark.vm

DISK_SIZE = 8 * 1024**3


def test_build_is_cached_and_complete(vm_artifacts: VmArtifacts) -> None:
    started = time.monotonic()
    again = build(vm_artifacts.root.parent)
    assert again.cached
    assert again.root == vm_artifacts.root
    assert time.monotonic() - started < 10

    meta = json.loads(vm_artifacts.bundle_json.read_text())
    # exactly the keys of docs/kexec-bundle.md (the controller rejects unknown ones)
    assert set(meta) == {
        "format",
        "arch",
        "kernel",
        "initrd",
        "kernelParams",
        "python",
        "initrdUnpackedBytes",
    }
    assert meta["format"] == 1
    assert meta["arch"] == "x86_64"
    assert (
        vm_artifacts.bundle_dir / meta["kernel"]
    ).read_bytes() == vm_artifacts.kernel.read_bytes()
    assert "init=/init" in meta["kernelParams"].split()
    assert "console=ttyS0" in meta["kernelParams"].split()
    assert meta["python"] == "/usr/bin/python3"

    entries = cpio.read_entries((vm_artifacts.bundle_dir / meta["initrd"]).read_bytes())
    files = {e.path: e for e in entries}
    assert meta["initrdUnpackedBytes"] == sum(
        len(e.data) for e in entries if e.mode & 0o170000 == 0o100000
    )
    kver = vm_artifacts.kernel_version
    for needed in (
        "init",
        "usr/bin/python3.11",
        "usr/lib/python311.zip",
        "usr/sbin/sshd",
        "usr/lib/openssh/sftp-server",
        "usr/bin/ssh-keygen",
        "usr/sbin/sgdisk",
        "usr/bin/partx",
        "usr/sbin/mkfs.fat",
        "usr/sbin/zpool",
        "usr/sbin/zfs",
        "usr/bin/kmod",
        "usr/bin/shred",
        "usr/sbin/blkid",
        "usr/bin/lsblk",
        "usr/bin/mount",
        "usr/bin/busybox",
        "usr/bin/nixos-install",
        f"usr/lib/modules/{kver}/updates/dkms/zfs.ko",
        f"usr/lib/modules/{kver}/modules.dep.bin",
    ):
        assert needed in files, needed
    for link in ("usr/sbin/modprobe", "usr/bin/python3", "usr/bin/sh", "usr/sbin/mkfs.vfat"):
        assert files[link].mode & 0o170000 == 0o120000, link
    assert "usr/bin/partprobe" in files or "usr/sbin/partprobe" in files
    # small enough to unpack quickly after kexec
    assert meta["initrdUnpackedBytes"] < 64 * 1024**2


def test_rescue_host_key_is_pinned(rescue_vm: RescueVm, tmp_path: Path) -> None:
    r = rescue_vm.ssh(["cat", "/etc/ssh/ssh_host_ed25519_key.pub"])
    assert r.stdout.split()[:2] == rescue_vm.host_public_key.split()[:2]
    # and strict checking really is on: another key for the same port is refused
    other = generate_key(tmp_path / "other", "other")
    wrong = rescue_vm.known_hosts_for(other.public, "wrong")
    refused = rescue_vm.ssh(["true"], known_hosts=wrong, check=False, timeout=120)
    assert refused.returncode == 255
    assert "verification failed" in refused.stderr.lower()
    # kexec-tools must not load a kernel of its own at shutdown
    assert "LOAD_KEXEC=false" in rescue_vm.ssh(["cat", "/etc/default/kexec"]).stdout


def test_rescue_disk_by_id(rescue_vm: RescueVm) -> None:
    r = rescue_vm.ssh(
        [
            "sh",
            "-c",
            f"readlink -f {rescue_vm.disk_by_id} && blockdev --getsize64 {rescue_vm.disk_by_id}",
        ]
    )
    dev, size = r.stdout.split()
    assert dev == "/dev/vda"
    assert int(size) == DISK_SIZE == rescue_vm.disk_size
    mac = rescue_vm.ssh(["cat", f"/sys/class/net/{rescue_vm.nic}/address"]).stdout.strip()
    assert mac == rescue_vm.mac
    # BIOS boot by default: no EFI firmware interface
    assert rescue_vm.ssh(["test", "-d", "/sys/firmware/efi"], check=False).returncode == 1


def test_rescue_encrypted_zfs_pool(rescue_vm: RescueVm) -> None:
    disk = rescue_vm.disk_by_id
    rescue_vm.ssh(["modprobe", "zfs"])
    assert "zfs" in rescue_vm.ssh(["cat", "/proc/modules"]).stdout.split()
    rescue_vm.ssh(
        [
            "zpool",
            "create",
            "-f",
            "-o",
            "ashift=12",
            "-O",
            "encryption=on",
            "-O",
            "keyformat=passphrase",
            "-O",
            "keylocation=prompt",
            "-O",
            "pbkdf2iters=100000",
            "-m",
            "none",
            "testpool",
            disk,
        ],
        input="correct horse battery\n",
    )
    enc = rescue_vm.ssh(
        ["zfs", "get", "-H", "-o", "value", "encryption,keylocation", "testpool"]
    ).stdout.split()
    assert enc == ["aes-256-gcm", "prompt"]
    rescue_vm.ssh(["zpool", "export", "testpool"])
    rescue_vm.ssh(["zpool", "import", "-d", "/dev/disk/by-id", "testpool"])
    wrong = rescue_vm.ssh(["zfs", "load-key", "testpool"], input="wrong passphrase\n", check=False)
    assert wrong.returncode != 0
    rescue_vm.ssh(["zfs", "load-key", "testpool"], input="correct horse battery\n")
    assert (
        rescue_vm.ssh(["zfs", "get", "-H", "-o", "value", "keystatus", "testpool"]).stdout.strip()
        == "available"
    )
    rescue_vm.ssh(["zpool", "destroy", "testpool"])
    rescue_vm.ssh(["wipefs", "-a", disk])


def _test_zipapp(tmp_path: Path, token: str) -> bytes:
    src = tmp_path / "pyz"
    src.mkdir()
    (src / "__main__.py").write_text(
        "import hashlib, json, subprocess, sys, zlib, ssl\n"
        f"print(json.dumps({{'token': {token!r}, 'python': list(sys.version_info[:2]),\n"
        "    'sha': hashlib.sha256(zlib.compress(b'x')).hexdigest()[:8]}))\n"
    )
    out = io.BytesIO()
    zipapp.create_archive(src, out)
    return out.getvalue()


def test_manual_kexec_handoff(
    rescue_vm: RescueVm, vm_artifacts: VmArtifacts, tmp_path: Path
) -> None:
    vm = rescue_vm
    assert vm.client_key is not None
    meta = json.loads(vm_artifacts.bundle_json.read_text())
    token = uuid.uuid4().hex
    installer_key = generate_key(tmp_path / "installer_host_key", "installer")
    runtime_info = json.dumps({"schemaVersion": 1, "hostName": "vmtest"}).encode()
    archive = handoff_archive(
        host_key=installer_key,
        authorized_keys=(vm.client_key.public,),
        extra=(
            cpio.file_entry("nixremote/nixremote.pyz", _test_zipapp(tmp_path, token)),
            cpio.file_entry("runtime-info.json", runtime_info),
        ),
    )
    (tmp_path / "handoff.cpio.gz").write_bytes(archive)

    vm.ssh(["mkdir", "-p", "/root/bundle"])
    for name in (meta["kernel"], meta["initrd"]):
        vm.scp_to(vm_artifacts.bundle_dir / name, f"/root/bundle/{name}")
    vm.scp_to(tmp_path / "handoff.cpio.gz", "/root/bundle/handoff.cpio.gz")
    sums = vm.ssh(["sha256sum", f"/root/bundle/{meta['initrd']}"]).stdout.split()[0]
    assert (
        sums == hashlib.sha256((vm_artifacts.bundle_dir / meta["initrd"]).read_bytes()).hexdigest()
    )

    old_boot_id = vm.ssh(["cat", "/proc/sys/kernel/random/boot_id"]).stdout.strip()
    vm.ssh(
        [
            "sh",
            "-c",
            'cat "$1" "$2" > "$3"',
            "concat",
            f"/root/bundle/{meta['initrd']}",
            "/root/bundle/handoff.cpio.gz",
            "/root/bundle/combined.img",
        ]
    )
    custom = f"nixremote.vmtest={token}"
    vm.ssh(
        [
            "kexec",
            "-l",
            f"/root/bundle/{meta['kernel']}",
            "--initrd=/root/bundle/combined.img",
            f"--append={meta['kernelParams']} {custom}",
        ]
    )
    offset = vm.console_offset()
    vm.ssh(["sh", "-c", "nohup sh -c 'sleep 1; kexec -e' >/dev/null 2>&1 &"])
    line, _ = vm.wait_for_console(INSTALLER_READY_MARKER, start=offset, timeout=400)

    pinned = vm.known_hosts_for(installer_key.public, "installer")
    # the rescue system's key is not accepted any more: the installer has the one we made
    stale = vm.ssh(["true"], check=False, timeout=120)
    assert stale.returncode == 255
    assert "verification failed" in stale.stderr.lower()

    def installer(argv: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
        return vm.ssh(argv, known_hosts=pinned, **kw)  # type: ignore[arg-type]

    new_boot_id = installer(["cat", "/proc/sys/kernel/random/boot_id"]).stdout.strip()
    assert new_boot_id != old_boot_id
    assert new_boot_id in line
    cmdline = installer(["cat", "/proc/cmdline"]).stdout.split()
    assert custom in cmdline
    assert "init=/init" in cmdline
    assert (
        installer(["cat", "/etc/ssh/ssh_host_ed25519_key.pub"]).stdout.split()[:2]
        == installer_key.public.split()[:2]
    )
    modes = installer(
        [
            "stat",
            "-c",
            "%a %n",
            "/etc/ssh/ssh_host_ed25519_key",
            "/root/.ssh/authorized_keys",
            "/root/nixremote.pyz",
            "/root/network/runtime-info.json",
        ]
    ).stdout.split("\n")
    assert [m.split()[0] for m in modes if m] == ["600", "600", "644", "644"]
    assert installer(["cat", "/root/network/runtime-info.json"]).stdout.encode() == runtime_info

    ran = json.loads(installer(["python3", "/root/nixremote.pyz"]).stdout)
    assert ran == {
        "token": token,
        "python": [3, 11],
        "sha": hashlib.sha256(__import__("zlib").compress(b"x")).hexdigest()[:8],
    }

    # the tools the installer calls, on the VM's disk: GPT, by-id partition links from udev,
    # FAT, an encrypted pool on the ZFS partition
    disk = vm.disk_by_id
    installer(
        [
            "sgdisk",
            "--zap-all",
            "-n1:0:+1M",
            "-t1:EF02",
            "-n2:0:+128M",
            "-t2:EF00",
            "-n3:0:0",
            "-t3:BF01",
            disk,
        ]
    )
    installer(["partx", "-u", disk], check=False)
    installer(["udevadm", "settle", "--timeout=60"])
    links = installer(["sh", "-c", f"for i in 1 2 3; do readlink -f {disk}-part$i; done"])
    assert links.stdout.split() == ["/dev/vda1", "/dev/vda2", "/dev/vda3"]
    installer(["mkfs.vfat", "-n", "ESP", f"{disk}-part2"])
    assert (
        installer(["blkid", "-o", "value", "-s", "TYPE", f"{disk}-part2"]).stdout.strip() == "vfat"
    )
    installer(["modprobe", "zfs"])
    installer(
        [
            "zpool",
            "create",
            "-f",
            "-o",
            "ashift=12",
            "-O",
            "encryption=on",
            "-O",
            "keyformat=passphrase",
            "-O",
            "keylocation=prompt",
            "-O",
            "pbkdf2iters=100000",
            "-O",
            "mountpoint=none",
            "-R",
            "/mnt",
            "rpool",
            f"{disk}-part3",
        ],
        input="installer passphrase\n",
    )
    installer(["zfs", "create", "-o", "mountpoint=/persist", "rpool/persist"])

    # the one stand-in: nixos-install records what it was asked to install
    flake = "{\n  outputs = { self }: { nixosConfigurations = { }; };\n}\n"
    installer(["mkdir", "-p", "/mnt/persist/etc/nixos"])
    installer(["sh", "-c", "cat > /mnt/persist/etc/nixos/flake.nix"], input=flake)
    # what the keys phase leaves for NixOS's boot loader: the initrd's SSH host key (a secret
    # of the initrd) and the keys that may unlock, in the host's runtime info
    installer(["mkdir", "-p", "/mnt/persist/etc/secrets/initrd"])
    installer(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f",
         "/mnt/persist/etc/secrets/initrd/ssh_host_ed25519_key"]
    )  # fmt: skip
    unlock_keys = json.dumps({"rootAuthorizedKeys": [vm.client_key.public]})
    installer(["sh", "-c", "cat > /mnt/persist/etc/nixos/runtime-info.json"], input=unlock_keys)
    missing = installer(
        ["nixos-install", "--root", "/mnt", "--flake", "/nowhere#vmtest"], check=False
    )
    assert missing.returncode == 1
    installer(
        [
            "nixos-install",
            "--root",
            "/mnt",
            "--no-root-passwd",
            "--flake",
            "/mnt/persist/etc/nixos#vmtest",
        ]
    )
    records = [
        json.loads(x)
        for x in installer(["cat", "/mnt/persist/nixos-install.log"]).stdout.splitlines()
    ]
    assert records[-1]["ok"] is True
    assert records[-1]["flake"] == "/mnt/persist/etc/nixos#vmtest"
    assert records[-1]["argv"][1:] == [
        "--root",
        "/mnt",
        "--no-root-passwd",
        "--flake",
        "/mnt/persist/etc/nixos#vmtest",
    ]
    assert records[-1]["flakeFiles"] == {
        "flake.nix": hashlib.sha256(flake.encode()).hexdigest(),
        "runtime-info.json": hashlib.sha256(unlock_keys.encode()).hexdigest(),
    }
    assert records[-1]["bootLoader"] == "/mnt/boot/nixremote-standin/initrd"
    assert records[0]["ok"] is False and "flake.nix" in records[0]["error"]
    # the argv sampler of the test installer saw the commands (on the console, on the host) and
    # the passphrase, which only went over stdin, is in none of them
    time.sleep(1)
    seen = sampled_argv(vm.console_text())
    assert any(a[:2] == ["zpool", "create"] and "rpool" in a for a in seen)
    assert any("/mnt/persist/etc/nixos#vmtest" in a for a in seen)
    assert not any("installer passphrase" in " ".join(a) for a in seen)
    # the recorded flake parses with Nix's own parser (on the controller: no Nix in the image)
    fetched = installer(["cat", "/mnt/persist/etc/nixos/flake.nix"]).stdout
    assert fetched == flake
    parsed = subprocess.run(
        ["nix-instantiate", "--parse", "-"], input=fetched, capture_output=True, text=True
    )
    assert parsed.returncode == 0, parsed.stderr
