"""Where the installer finds its runtime info when it runs without a plan."""

from __future__ import annotations

import json
from base64 import b64encode
from pathlib import Path

import pytest

from nixremote.core.cmdline import encode_runtime_info
from nixremote.core.converter import dumps_runtime_info, runtime_info_to_json_data
from nixremote.core.errors import RuntimeInfoError
from nixremote.core.models import Disk, RuntimeInfo
from nixremote.installers.runtime_source import find_runtime_info

INFO = RuntimeInfo(
    host_name="web1",
    host_id="0a1b2c3d",
    disk_to_format="/dev/disk/by-id/ata-DISK_1",
    disks=(Disk(path="/dev/sda", by_id="/dev/disk/by-id/ata-DISK_1", size_bytes=20 * 1024**3),),
)


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
        "hostName": "legacy",
        "hostId": "8425e349",
        "diskToFormat": "/dev/sda",
        "rootAuthorizedKeys": [
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKFoVKUZT6pnHuyDZKKcVSViUT47jc50R5Wavpo8v4/0 x"
        ],
        "networkInterface": "ens3",
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
