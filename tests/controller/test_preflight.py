"""Preflight against the loopback sshd (this machine is the target): each check's error."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

from helpers.bundles import make_bundle
from nixremote.controller import preflight
from nixremote.controller.bundle import load_bundle
from nixremote.controller.collect import collect
from nixremote.controller.ssh import SshTransport
from nixremote.core.cmdline import CMDLINE_MAX_CHARS, runtime_info_from_cmdline
from nixremote.core.errors import PreflightError
from nixremote.core.models import BootMode, RuntimeInfo


@pytest.fixture
def info(ssh: SshTransport) -> RuntimeInfo:
    collected, _facts = collect(ssh)
    assert collected.disk_to_format, "this machine has a disk to check against"
    # a rescue system knows its boot mode; this container's may be either
    return attrs.evolve(collected, boot_mode=BootMode.BIOS)


def run(ssh: SshTransport, info: RuntimeInfo, bundle_dir: Path, **kw: object) -> str:
    _state, line = preflight.run_preflight(ssh, info, load_bundle(bundle_dir), **kw)  # type: ignore
    return line


def test_passes_and_returns_the_command_line(
    ssh: SshTransport, info: RuntimeInfo, tmp_path: Path
) -> None:
    state = preflight.probe(ssh, info, str(tmp_path / "upload" / "dir"))
    # every number the checks need was read (mawk prints big numbers as 1e+10 unless told)
    assert state.mem_total and state.mem_available and state.upload_free
    assert state.mem_total >= state.mem_available > 0
    assert state.arch == "x86_64" and state.disk_is_block and state.upload_fs
    line = run(ssh, info, make_bundle(tmp_path / "b"))
    assert line.startswith("init=/nix/store/")
    assert len(line) <= CMDLINE_MAX_CHARS
    assert runtime_info_from_cmdline(line) == info


def test_wrong_architecture(ssh: SshTransport, info: RuntimeInfo, tmp_path: Path) -> None:
    with pytest.raises(PreflightError, match=r"is x86_64, the bundle is for aarch64") as err:
        run(ssh, info, make_bundle(tmp_path / "b", arch="aarch64"))
    assert "x86_64" in (err.value.hint or "")


def test_not_enough_memory(ssh: SshTransport, info: RuntimeInfo, tmp_path: Path) -> None:
    with pytest.raises(PreflightError, match=r"RAM; the installer needs .*initrd unpacked"):
        run(ssh, info, make_bundle(tmp_path / "b", unpacked=4 * 1024**4))


PROBE_OUTPUT = (
    "arch=x86_64\nmemtotal=8589934592\nmemavail={avail}\nkexec=/sbin/kexec\n"
    "kexec_load_disabled={disabled}\nefi=0\ndisk={disk}\ndisk_block=1\n"
    "upload_fs={fs}\nupload_free={free}\n"
)
MIB = 1024 * 1024


def probe_output(
    *, disk: str, avail: int = 2**31, disabled: int = 0, fs: str = "ext2/ext3", free: int = 2**34
) -> str:
    return PROBE_OUTPUT.format(avail=avail, disabled=disabled, disk=disk, fs=fs, free=free)


def test_upload_space_and_ram(info: RuntimeInfo, tmp_path: Path) -> None:
    disk = info.disk(info.disk_to_format)
    assert disk is not None
    bundle = load_bundle(make_bundle(tmp_path / "b", unpacked=1024, initrd_bytes=8 * MIB))
    files = bundle.kernel.stat().st_size + bundle.initrd.stat().st_size
    with pytest.raises(PreflightError, match=r"/root/k on h has 1 MiB free; the bundle and"):
        preflight.check(
            preflight.parse_probe(probe_output(disk=disk.path, free=MIB)),
            info,
            bundle,
            host="h",
            upload_dir="/root/k",
        )
    # in RAM (tmpfs) the uploaded files and the combined initrd count against free memory
    avail = files + preflight.LOAD_MARGIN + 1
    on_disk = preflight.parse_probe(probe_output(disk=disk.path, avail=avail))
    assert preflight.check(on_disk, info, bundle, host="h").startswith("init=")
    in_ram = preflight.parse_probe(probe_output(disk=disk.path, avail=avail, fs="tmpfs"))
    assert in_ram.upload_in_ram
    with pytest.raises(PreflightError, match=r"\(the upload directory is in RAM\)"):
        preflight.check(in_ram, info, bundle, host="h")


def test_not_enough_free_memory_to_load(info: RuntimeInfo, tmp_path: Path) -> None:
    disk = info.disk(info.disk_to_format)
    assert disk is not None
    state = preflight.parse_probe(probe_output(disk=disk.path, avail=1048576))
    assert state.mem_available == 1048576 and state.kexec == "/sbin/kexec"
    assert state.disk_is_block and state.efi is False
    bundle = load_bundle(make_bundle(tmp_path / "b", unpacked=1024))
    with pytest.raises(PreflightError, match=r"has 1 MiB free; loading the installer takes"):
        preflight.check(state, info, bundle, host="h")
    roomy = preflight.parse_probe(probe_output(disk=disk.path))
    assert preflight.check(roomy, info, bundle, host="h").startswith("init=")


def test_kexec_disabled_by_the_kernel(info: RuntimeInfo, tmp_path: Path) -> None:
    disk = info.disk(info.disk_to_format)
    assert disk is not None
    state = preflight.parse_probe(probe_output(disk=disk.path, disabled=1))
    with pytest.raises(PreflightError, match=r"kexec is disabled on h \(kernel.kexec_load_disab"):
        preflight.check(state, info, load_bundle(make_bundle(tmp_path / "b", unpacked=1)), host="h")


def test_kexec_missing_without_install(
    ssh: SshTransport, info: RuntimeInfo, tmp_path: Path
) -> None:
    state = preflight.probe(ssh, info)
    if state.kexec:  # pragma: no cover - CI's machine has no kexec-tools
        pytest.fail("kexec is installed on this machine; the check cannot be exercised here")
    with pytest.raises(PreflightError, match=r"kexec is not installed on") as err:
        run(ssh, info, make_bundle(tmp_path / "b"), allow_kexec_install=False)
    assert "kexec-tools" in (err.value.hint or "")


def test_boot_mode_unknown(ssh: SshTransport, info: RuntimeInfo, tmp_path: Path) -> None:
    with pytest.raises(PreflightError, match=r"boot mode \(BIOS or UEFI\) of .* is unknown"):
        run(ssh, attrs.evolve(info, boot_mode=BootMode.UNKNOWN), make_bundle(tmp_path / "b"))


def test_disk_does_not_resolve(ssh: SshTransport, info: RuntimeInfo, tmp_path: Path) -> None:
    gone = "/dev/disk/by-id/virtio-nixremote-no-such-disk"
    disk = info.disk(info.disk_to_format)
    assert disk is not None
    moved = attrs.evolve(info, disk_to_format=gone, disks=(attrs.evolve(disk, by_id=gone),))
    with pytest.raises(PreflightError, match=re.escape(gone) + " does not resolve"):
        run(ssh, moved, make_bundle(tmp_path / "b"))


@pytest.fixture
def loop_device(tmp_path: Path) -> Iterator[Path]:
    """A loop device of our own on a small sparse file (detached afterwards)."""
    image = tmp_path / "disk.img"
    with image.open("wb") as f:
        f.truncate(8 * 1024 * 1024)
    dev = subprocess.run(
        ["losetup", "-f", "--show", str(image)], capture_output=True, text=True, check=True
    ).stdout.strip()
    try:
        yield Path(dev)
    finally:
        subprocess.run(["losetup", "-d", dev], check=False)


def test_disk_moved_since_collect(
    ssh: SshTransport, info: RuntimeInfo, tmp_path: Path, loop_device: Path, dev_dir: Path
) -> None:
    # a by-id link that now points to another block device than the collected one
    link = dev_dir / "by-id-link"
    disk = info.disk(info.disk_to_format)
    assert disk is not None
    other = loop_device
    link.symlink_to(other)
    moved = attrs.evolve(
        info, disk_to_format=str(link), disks=(attrs.evolve(disk, by_id=str(link)),)
    )
    with pytest.raises(PreflightError, match=f"now points to {other}, it was {disk.path}"):
        run(ssh, moved, make_bundle(tmp_path / "b"))


def test_command_line_over_budget(ssh: SshTransport, info: RuntimeInfo, tmp_path: Path) -> None:
    params = "init=/nix/store/x/init " + "quiet " * 400
    with pytest.raises(PreflightError, match=r"\d+ over the budget of 2016"):
        run(ssh, info, make_bundle(tmp_path / "b", params=params))


def test_the_handoff_archive_goes_to_tmpfs(
    ssh: SshTransport, info: RuntimeInfo, tmp_path: Path, dev_dir: Path
) -> None:
    disk = info.disk(info.disk_to_format)
    assert disk is not None
    bundle = load_bundle(make_bundle(tmp_path / "b", unpacked=1024, initrd_bytes=8 * MIB))
    need = preflight.secret_bytes(bundle, MIB)
    assert need == bundle.initrd.stat().st_size + 2 * MIB

    def state(*secrets: str) -> preflight.TargetState:
        return preflight.parse_probe(probe_output(disk=disk.path) + "".join(secrets))

    # the first candidate on tmpfs with room is taken
    two = state(
        f"secret=ext2/ext3 {2**34} /run/nixremote-kexec\n",
        f"secret=tmpfs {need - 1} /dev/shm/small\n",
        f"secret=tmpfs {need} /dev/shm/nixremote-kexec\n",
    )
    assert preflight.check(two, info, bundle, host="h", archive_bytes=MIB).startswith("init=")
    assert preflight.secret_dir(two, need) == "/dev/shm/nixremote-kexec"
    # none on tmpfs (or none with room): refused before anything is uploaded
    for bad in (
        state(f"secret=ext2/ext3 {2**34} /run/nixremote-kexec\n"),
        state(f"secret=tmpfs {need - 1} /run/nixremote-kexec\n"),
    ):
        with pytest.raises(PreflightError, match="no directory on tmpfs") as err:
            preflight.check(bad, info, bundle, host="h", archive_bytes=MIB)
        assert (
            "private host key" in err.value.message and "/run/nixremote-kexec" in err.value.message
        )
    # the real probe reads each candidate's filesystem (this machine: /dev/shm is tmpfs)
    probed = preflight.probe(
        ssh, info, str(tmp_path / "upload"), (str(tmp_path / "x" / "kexec"), str(dev_dir / "k"))
    )
    tmp_fs = subprocess.run(
        ["stat", "-f", "-c", "%T", str(tmp_path)], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert [(p, fs) for p, fs, _free in probed.secret_dirs] == [
        (str(tmp_path / "x" / "kexec"), tmp_fs),
        (str(dev_dir / "k"), "tmpfs"),
    ]
    first = str(tmp_path / "x" / "kexec") if tmp_fs == "tmpfs" else str(dev_dir / "k")
    assert preflight.secret_dir(probed) == first
