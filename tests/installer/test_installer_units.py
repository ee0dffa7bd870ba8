"""The installer side's pure parts: mountinfo, fingerprints, host-key event data, the state file,
phase selection, the runtime info source, and what the installer may import."""

from __future__ import annotations

import json
import subprocess
import sys
from base64 import b64encode
from pathlib import Path

import attrs
import pytest

from nixremote.core.converter import dumps_runtime_info, runtime_info_to_json_data
from nixremote.core.errors import InvalidInputError, RuntimeInfoError, SafetyError
from nixremote.core.models import Disk, RuntimeInfo
from nixremote.installers.cmdline import encode_runtime_info
from nixremote.installers.diskplan import plan
from nixremote.installers.layout import LayoutOptions, default_layout
from nixremote.installers.phases import (
    PHASES,
    DiskKey,
    HostKey,
    InstallState,
    filesystem_type,
    host_keys_data,
    host_keys_from_data,
    layout_mounts,
    load_state,
    mounts_under,
    parse_fingerprint,
    parse_mountinfo,
    parse_phases,
    read_key_file,
    save_state,
)
from nixremote.installers.runtime_source import find_runtime_info, summary_lines

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
    disks=(Disk(path="/dev/sda", by_id="/dev/disk/by-id/ata-DISK_1", size_bytes=20 * 1024**3),),
)


def test_mountinfo_parsing_and_prefixes() -> None:
    mounts = parse_mountinfo(MOUNTINFO)
    assert [m.target for m in mounts][-2:] == ["/mnt/my boot", "/mnt2"]  # \040 is a space
    assert mounts[3].source == "rpool/local/root" and mounts[3].fstype == "zfs"
    assert [m.target for m in mounts_under("/mnt", MOUNTINFO)] == ["/mnt", "/mnt/nix",
                                                                    "/mnt/my boot"]
    assert mounts_under("/srv", MOUNTINFO) == ()
    assert filesystem_type(Path("/run/nixremote/disk.key"), MOUNTINFO) == "tmpfs"
    assert filesystem_type(Path("/root/disk.key"), MOUNTINFO) == "ext4"
    assert filesystem_type(Path("/mnt/nix/store"), MOUNTINFO) == "zfs"


def test_key_file_must_be_on_tmpfs(tmp_path: Path) -> None:
    info = tmp_path / "mountinfo"
    info.write_text(MOUNTINFO)
    with pytest.raises(SafetyError, match="not on tmpfs"):
        read_key_file(Path("/root/disk.key"), mountinfo=info)
    with pytest.raises(InvalidInputError, match="cannot read the disk key file"):
        read_key_file(Path("/run/nixremote/absent.key"), mountinfo=info)


def test_disk_key_never_shows_itself() -> None:
    key = DiskKey(b"hunter2hunter2")
    assert "hunter2" not in repr(key) and "hunter2" not in str(key) and "hunter2" not in f"{key}"
    assert key.value == b"hunter2hunter2"


def test_fingerprint_and_host_key_data_round_trip() -> None:
    line = "256 SHA256:QNBTHZ2jK8VM6FVemErAtmN0Eyk3KYGUBdgDYv0XvsY root@web1 (ED25519)\n"
    assert parse_fingerprint(line) == "SHA256:QNBTHZ2jK8VM6FVemErAtmN0Eyk3KYGUBdgDYv0XvsY"
    with pytest.raises(InvalidInputError):
        parse_fingerprint("no fingerprint here")
    keys = (
        HostKey(role="host", type="ed25519", public="ssh-ed25519 AAAA1", fingerprint="SHA256:a",
                port=22),
        HostKey(role="host", type="rsa", public="ssh-rsa AAAA2", fingerprint="SHA256:b", port=22),
        HostKey(role="initrd", type="ed25519", public="ssh-ed25519 AAAA3",
                fingerprint="SHA256:c", port=2222),
    )
    data = host_keys_data(keys)
    assert data["initrd.ed25519.sha256"] == "SHA256:c" and data["initrd.port"] == "2222"
    # Other data in the same event (host, finished, ...) is ignored.
    assert set(host_keys_from_data({**data, "host": "web1", "finished": "format"})) == set(keys)
    assert set(host_keys_from_data(tuple(data.items()))) == set(keys)


def test_state_file_round_trip_and_faults(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "state.json"
    assert load_state(path) is None
    state = InstallState(host_name="web1", disk="/dev/sda", pool="rpool", root="/mnt",
                         finished=("format", "keys"), failed_phase="flake",
                         failed_message="cannot write",
                         host_keys=(("host.ed25519", "ssh-ed25519 AAAA1"),
                                    ("host.ed25519.sha256", "SHA256:a"), ("host.port", "22")))
    saved = save_state(path, state)
    assert saved.updated.endswith("Z")
    assert (path.stat().st_mode & 0o777) == 0o600
    assert (path.parent.stat().st_mode & 0o777) == 0o700
    loaded = load_state(path)
    assert loaded == saved
    assert loaded is not None and loaded.next_phase == "flake"
    assert host_keys_from_data(loaded.host_keys) == (
        HostKey(role="host", type="ed25519", public="ssh-ed25519 AAAA1", fingerprint="SHA256:a",
                port=22),
    )
    for bad, where in (
        ("[]", "$"),
        (json.dumps({"format": 9}), "$.format"),
        (json.dumps({"format": 1, "hostName": "a", "disk": "b", "pool": "c", "root": "d",
                     "finished": ["format", "fly"]}), "$.finished"),
        (json.dumps({"format": 1, "hostName": 3}), "$.hostName"),
        (json.dumps({"format": 1, "hostName": "a", "disk": "b", "pool": "c", "root": "d",
                     "hostKeys": {"host.rsa": 1}}), "$.hostKeys"),
    ):
        path.write_text(bad)
        with pytest.raises(InvalidInputError, match=rf"{where.replace('$', '[$]')}"):
            load_state(path)
    path.write_text("{not json")
    with pytest.raises(InvalidInputError, match="not valid JSON"):
        load_state(path)


def test_phase_selection_keeps_pipeline_order() -> None:
    assert parse_phases(None) == PHASES
    assert parse_phases("") == PHASES
    assert parse_phases("install, format") == ("format", "install")
    with pytest.raises(InvalidInputError, match="unknown phase 'kexec'"):
        parse_phases("kexec,format")


@pytest.mark.parametrize("variant", ["default", "uefi", "bios", "unencrypted"])
def test_resume_mounts_are_the_disk_plans_mounts(variant: str) -> None:
    layout = default_layout(INFO, LayoutOptions(variant=variant))
    from_plan = [s.argv for s in plan(layout) if s.stage == "mount" and s.argv[0] == "mount"]
    assert [argv for _target, argv in layout_mounts(layout)] == from_plan
    assert layout_mounts(layout)[0][0] == "/mnt"


def test_runtime_info_source_order(tmp_path: Path) -> None:
    cmdline = tmp_path / "cmdline"
    network = tmp_path / "network.json"
    explicit = tmp_path / "explicit.json"
    other = RuntimeInfo(host_name="fromcmdline", host_id="00000001", disk_to_format="/dev/vda")
    cmdline.write_text(f"init=/nix/store/x/init nixremote.info={encode_runtime_info(other)}\n")

    found = find_runtime_info(None, files=(network,), cmdline=cmdline)
    assert found.info == other and found.source.startswith("kernel command line")

    network.write_text(dumps_runtime_info(INFO))
    found = find_runtime_info(None, files=(network,), cmdline=cmdline)
    assert found.info == INFO and found.source == f"file {network}"

    explicit.write_text(dumps_runtime_info(other))
    assert find_runtime_info(explicit, files=(network,), cmdline=cmdline).info == other

    with pytest.raises(RuntimeInfoError, match="cannot read"):
        find_runtime_info(tmp_path / "absent.json", files=(network,), cmdline=cmdline)
    network.write_text("{}")
    with pytest.raises(RuntimeInfoError, match=r"network\.json"):
        find_runtime_info(None, files=(network,), cmdline=cmdline)


def test_runtime_info_from_the_original_installers_plain_base64(tmp_path: Path) -> None:
    legacy = {
        "hostName": "legacy", "hostId": "8425e349", "diskToFormat": "/dev/sda",
        "rootAuthorizedKeys": ["ssh-ed25519 AAAA x"], "networkInterface": "ens3",
        "ipv4": {"address": "203.0.113.7", "prefixLength": 32, "gateway": "172.31.1.1"},
    }
    cmdline = tmp_path / "cmdline"
    cmdline.write_text(
        "loglevel=4 nixremote.info=" + b64encode(json.dumps(legacy).encode()).decode() + "\n"
    )
    found = find_runtime_info(None, files=(tmp_path / "absent.json",), cmdline=cmdline)
    assert found.info.host_name == "legacy"
    assert runtime_info_to_json_data(found.info)["ipv4"]["gateway"] == "172.31.1.1"


def test_no_runtime_info_anywhere_names_the_places(tmp_path: Path) -> None:
    cmdline = tmp_path / "cmdline"
    cmdline.write_text("init=/nix/store/x/init loglevel=4\n")
    with pytest.raises(RuntimeInfoError, match=r"no nixremote.info= on .*absent.json"):
        find_runtime_info(None, files=(tmp_path / "absent.json",), cmdline=cmdline)


def test_summary_names_the_disk_to_wipe() -> None:
    lines = summary_lines(INFO)
    assert any("/dev/disk/by-id/ata-DISK_1" in line and "WIPED" in line and "20.0 GiB" in line
               for line in lines)
    assert lines[0].startswith("host name:   web1")


def test_installer_modules_import_nothing_the_zipapp_lacks() -> None:
    code = (
        "import sys\n"
        "from nixremote.cli.main import cli\n"
        "from nixremote.cli import installer\n"
        "import nixremote.installers.phases, nixremote.installers.runtime_source\n"
        "installer.installer_group.get_command(None, 'run')\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('fabric', 'paramiko', 'hcloud', 'invoke', 'rich'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_pool_import_searches_by_id_or_the_partition() -> None:
    from nixremote.installers.phases import Installer, InstallerConfig

    by_id = default_layout(INFO)
    assert Installer(INFO, by_id, config=InstallerConfig()).import_search() == [
        "-d", "/dev/disk/by-id"]
    kernel = attrs.evolve(INFO, disk_to_format="/dev/sda")
    mixed = default_layout(kernel, LayoutOptions(variant="mirror",
                                                 disks=("/dev/disk/by-id/ata-DISK_2",)))
    assert Installer(kernel, mixed, config=InstallerConfig()).import_search() == [
        "-d", "/dev/sda1", "-d", "/dev/disk/by-id"]
