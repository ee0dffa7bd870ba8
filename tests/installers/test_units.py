"""Units of the installer side: the key file's place, the pool's import, what it may import."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import attrs
import pytest

from helpers.keys import KEYS
from nixremote.core.errors import InvalidInputError, SafetyError
from nixremote.core.layout import LayoutOptions, default_layout
from nixremote.core.models import Disk, RuntimeInfo
from nixremote.core.plan import build_plan
from nixremote.installers.phases import Installer, InstallerConfig, read_key_file

MOUNTINFO = """\
22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda1 rw
25 22 0:21 / /run rw,nosuid,nodev shared:5 - tmpfs tmpfs rw,size=401812k,mode=755
40 25 0:33 / /run/nixremote rw,relatime shared:20 - tmpfs nixremote rw,mode=700
41 22 0:34 / /mnt rw,relatime - zfs rpool/local/root rw
42 41 0:35 / /mnt/nix rw,relatime - zfs rpool/local/nix rw
43 41 0:36 / /mnt/my\\040boot rw,relatime - vfat /dev/sda3 rw
44 22 0:37 / /mnt2 rw,relatime - tmpfs tmpfs rw
"""

INFO = RuntimeInfo(
    host_name="web1",
    host_id="0a1b2c3d",
    disk_to_format="/dev/disk/by-id/ata-DISK_1",
    disks=(
        Disk(path="/dev/sda", by_id="/dev/disk/by-id/ata-DISK_1", size_bytes=20 * 1024**3),
        Disk(path="/dev/sdb", by_id="/dev/disk/by-id/ata-DISK_2", size_bytes=20 * 1024**3),
    ),
    root_authorized_keys=(KEYS[0],),
)


def test_key_file_must_be_on_tmpfs(tmp_path: Path) -> None:
    info = tmp_path / "mountinfo"
    info.write_text(MOUNTINFO)
    with pytest.raises(SafetyError, match="not on tmpfs"):
        read_key_file(Path("/root/disk.key"), mountinfo=info)
    with pytest.raises(InvalidInputError, match="cannot read the disk key file"):
        read_key_file(Path("/run/nixremote/absent.key"), mountinfo=info)


def test_installer_modules_import_nothing_the_zipapp_lacks() -> None:
    code = (
        "import sys\n"
        "from nixremote.installers import cli\n"
        "import nixremote.installers.phases, nixremote.installers.runtime_source\n"
        "cli.installer_group.get_command(None, 'run')\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('fabric', 'paramiko', 'hcloud', 'invoke', 'rich'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_pool_import_searches_by_id_or_the_partition() -> None:
    by_id = build_plan(INFO, default_layout(INFO))
    assert Installer(by_id, config=InstallerConfig()).import_search() == ["-d", "/dev/disk/by-id"]
    kernel = attrs.evolve(INFO, disk_to_format="/dev/sda")
    mixed = default_layout(
        kernel, LayoutOptions(variant="mirror", disks=("/dev/disk/by-id/ata-DISK_2",))
    )
    assert Installer(build_plan(kernel, mixed), config=InstallerConfig()).import_search() == [
        "-d",
        "/dev/sda1",
        "-d",
        "/dev/disk/by-id",
    ]


def test_the_host_flake_trusts_the_plan_keys(tmp_path: Path) -> None:
    """--authorized-key reaches the installed system: the plan's keys, not only the old root's,
    become rootAuthorizedKeys of the host flake's runtime-info.json (root's keys and the
    initrd unlock's in the modules)."""
    import json

    plan = build_plan(INFO, default_layout(INFO), authorized_keys=[f"{KEYS[1]} given"])
    assert plan.authorized_keys == (KEYS[0], f"{KEYS[1]} given")
    layout = attrs.evolve(plan.layout, mount_root=str(tmp_path))
    installer = Installer(attrs.evolve(plan, layout=layout), config=InstallerConfig())
    installer.phase_flake()
    written = json.loads((tmp_path / "persist/etc/nixos/runtime-info.json").read_text())
    assert written["rootAuthorizedKeys"] == [KEYS[0], f"{KEYS[1]} given"]
    # a key file replaces the old root's keys
    only = build_plan(
        INFO, default_layout(INFO), authorized_keys=[KEYS[2]], replace_authorized_keys=True
    )
    Installer(attrs.evolve(only, layout=layout), config=InstallerConfig()).phase_flake()
    written = json.loads((tmp_path / "persist/etc/nixos/runtime-info.json").read_text())
    assert written["rootAuthorizedKeys"] == [KEYS[2]]
