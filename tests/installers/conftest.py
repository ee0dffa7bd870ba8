"""Fixtures of the installer-side tests: sparse image files attached as loop devices
(``losetup -P``), and the installer's environment (``helpers.installer_env``).

Every loop device is detached after the test, also when it fails; a mount made by a test is
unmounted first. Needs root and util-linux, gdisk (sgdisk), parted (partprobe), dosfstools,
openssh-client and fusefat (Debian packages).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from helpers.installer_env import KEY_DIR, InstallerEnv, private_mount_namespace, sh
from helpers.keys import KEYS
from helpers.loopdisk import MIB, LoopDisk, run
from nixremote.core.converter import save_runtime_info
from nixremote.core.models import Disk, RuntimeInfo


@pytest.fixture
def loop_disk(tmp_path: Path) -> Iterator[Callable[..., LoopDisk]]:
    """A factory: ``loop_disk(size_mib=2048, name="a")`` -> an attached sparse image."""
    attached: list[tuple[str, Path]] = []

    def make(size_mib: int = 2048, name: str = "disk") -> LoopDisk:
        image = tmp_path / f"{name}.img"
        with image.open("wb") as f:
            f.truncate(size_mib * MIB)
        device = run("losetup", "-P", "-f", "--show", str(image)).strip()
        attached.append((device, image))
        return LoopDisk(image=image, device=device, size_bytes=size_mib * MIB)

    try:
        yield make
    finally:
        for device, image in attached:
            # Unmount anything a test left mounted on the device or its partitions.
            tree = json.loads(
                run("lsblk", "-J", "-o", "PATH,MOUNTPOINT", device, check=False)
                or '{"blockdevices": []}'
            )
            stack = list(tree.get("blockdevices") or [])
            while stack:
                node = stack.pop()
                stack.extend(node.get("children") or [])
                if node.get("mountpoint"):
                    run("umount", node["mountpoint"], check=False)
            for _ in range(50):  # a device still being probed is busy for a moment
                if not run("losetup", "-j", str(image), check=False).strip():
                    break
                run("losetup", "-d", device, check=False)
                time.sleep(0.1)
            else:
                raise AssertionError(f"{device} ({image}) could not be detached")


@pytest.fixture
def runtime_info_for(tmp_path: Path) -> Callable[..., tuple[RuntimeInfo, Path]]:
    """A factory: a runtime info (and its file) whose disks are the given loop disks."""

    def make(
        *disks: LoopDisk,
        by_id: dict[str, str] | None = None,
        disk_to_format: str | None = None,
        sizes: dict[str, int] | None = None,
    ) -> tuple[RuntimeInfo, Path]:
        by_id = by_id or {}
        sizes = sizes or {}
        models = tuple(
            Disk(
                path=d.device,
                by_id=by_id.get(d.device),
                size_bytes=sizes.get(d.device, d.size_bytes),
                model="loop image",
            )
            for d in disks
        )
        first = models[0]
        info = RuntimeInfo(
            host_name="looptest",
            host_id="1234abcd",
            disk_to_format=disk_to_format or first.stable_path,
            disks=models,
            root_authorized_keys=(f"{KEYS[0]} root@looptest",),
        )
        path = tmp_path / "runtime-info.json"
        save_runtime_info(info, path)
        return info, path

    return make


@pytest.fixture
def installer_env(tmp_path: Path) -> Iterator[InstallerEnv]:
    """A loop disk and its runtime info, in a private mount namespace with /run/nixremote on a
    fresh tmpfs (the installer's)."""
    with private_mount_namespace():
        KEY_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
        sh("mount", "-t", "tmpfs", "-o", "mode=0700,size=16m", "nixremote-test", str(KEY_DIR))
        env = InstallerEnv(tmp_path)
        try:
            yield env
        finally:
            env.cleanup()
            sh("umount", str(KEY_DIR), check=False)
