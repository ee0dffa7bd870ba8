"""``nixremote plan`` against a test host in a network namespace, ``plan show``, and
``install --plan`` refusing a host that drifted (nothing changes on it)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import attrs

from helpers.bundles import make_bundle
from helpers.json_output import result_data
from helpers.netns import NetnsHost
from nixremote.core.converter import load_plan, save_plan


def nixremote(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nixremote.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def connection(host: NetnsHost) -> list[str]:
    return [
        f"root@{host.address}",
        "-i",
        str(host.sshd.identity),
        "--known-hosts",
        str(host.sshd.known_hosts),
    ]


def test_plan_names_the_disk_and_mac_in_one_round_trip(
    hoster_like_host: NetnsHost, tmp_path: Path
) -> None:
    out = tmp_path / "plan.json"
    before = hoster_like_host.sshd.exec_sessions()
    proc = nixremote("plan", *connection(hoster_like_host), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert hoster_like_host.sshd.wait_for_sessions(before + 1) == before + 1  # one exec
    plan = load_plan(out)
    assert plan.identity.host_name == "hoster-a"
    assert plan.identity.macs == ("96:00:00:12:34:56",)
    (disk,) = plan.identity.disks
    assert disk.path == plan.runtime_info.disk_to_format
    wipe = [line for line in proc.stdout.splitlines() if line.startswith("WIPE:")]
    assert len(wipe) == 1 and disk.path in wipe[0]
    assert "96:00:00:12:34:56" in proc.stdout
    assert f"--plan {out}" in proc.stderr  # says how to install it
    shown = nixremote("plan", "show", str(out))
    assert shown.returncode == 0 and shown.stdout == proc.stdout
    as_json = nixremote("plan", "show", str(out), "--json")
    assert result_data(as_json.stdout) == json.loads(out.read_text())


def test_a_disk_named_twice_is_refused_before_anything(hoster_like_host: NetnsHost) -> None:
    info = nixremote("info", *connection(hoster_like_host), "--json")
    disk = result_data(info.stdout)["diskToFormat"]
    name = disk.rsplit("/", 1)[-1]
    proc = nixremote("plan", *connection(hoster_like_host), "--disk", disk, "--disk", name)
    assert proc.returncode == 1
    last = proc.stderr.splitlines()[-1]
    assert "cannot mirror itself" in last and proc.stderr.count("error:") == 1


def test_install_refuses_a_drifted_host_before_the_kexec(
    hoster_like_host: NetnsHost, tmp_path: Path
) -> None:
    out = tmp_path / "plan.json"
    assert nixremote("plan", *connection(hoster_like_host), "-o", str(out)).returncode == 0
    plan = load_plan(out)
    (disk,) = plan.identity.disks
    drifted = attrs.evolve(
        plan,
        identity=attrs.evolve(plan.identity, disks=(attrs.evolve(disk, serial="THE-PLANNED-ONE"),)),
    )
    save_plan(drifted, out)
    remote = tmp_path / "upload-dir-never-made"
    key = tmp_path / "key"
    key.write_text("a long enough passphrase\n")
    proc = nixremote(
        "install",
        *connection(hoster_like_host),
        "--plan",
        str(out),
        "--yes",
        "--bundle",
        str(make_bundle(tmp_path / "b")),
        "--phases",
        "kexec",
        "--disk-key-file",
        str(key),
    )
    assert proc.returncode == 4  # a safety refusal
    last = proc.stderr.splitlines()[-1]
    assert last.startswith("error: ") and "does not match the plan" in last
    assert "THE-PLANNED-ONE" in last and proc.stderr.count("error:") == 1
    assert not remote.exists()
