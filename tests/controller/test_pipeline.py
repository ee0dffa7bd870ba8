"""The controller pipeline against the loopback sshd: dry run, driving the installer, results."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.bundles import make_bundle
from helpers.diskplans import INFO
from nixremote.controller import pipeline
from nixremote.core.converter import loads_plan
from nixremote.core.errors import CommandFailedError, InvalidInputError
from nixremote.core.layout import default_layout
from nixremote.core.plan import build_plan
from nixremote.core.progress import Event
from nixremote.testing.sshd import LoopbackSshd


def target(sshd: LoopbackSshd, known_hosts: Path | None = None) -> pipeline.Target:
    return pipeline.Target(
        host=sshd.host,
        user=sshd.user,
        port=sshd.port,
        identity_file=sshd.identity,
        known_hosts=known_hosts or sshd.known_hosts,
    )


def test_dry_run_shows_every_step_and_changes_nothing(
    loopback_sshd: LoopbackSshd, tmp_path: Path
) -> None:
    remote = tmp_path / "remote-kexec"
    events: list[Event] = []
    before = loopback_sshd.known_hosts.read_text()
    result = pipeline.install(
        target(loopback_sshd),
        pipeline.InstallOptions(
            bundle=make_bundle(tmp_path / "b"), dry_run=True, remote_dir=str(remote), layout="bios"
        ),
        events.append,
    )
    assert result.dry_run and result.runtime_info is not None
    assert result.cmdline_bytes is not None and result.cmdline_bytes <= 2016
    text = "\n".join(result.steps)
    assert f"upload {tmp_path / 'b' / 'bzImage'}" in text
    assert f"{remote}/initrd.gz" in text
    assert f"-l {remote}/bzImage --initrd={remote}/initrd.gz+archive" in text
    assert "-e (detached), then reconnect" in text
    assert "sgdisk" in text and "zpool create" in text  # the disk plan, command by command
    assert "installer run --key-file /run/nixremote/disk.key --yes --json" in text
    assert "--phases format" in text and "keys,flake,install" in text
    would = {e.message for e in events if e.kind == "step"}
    assert all("would " + step.split("] ", 1)[1] in would for step in result.steps)
    assert not remote.exists()  # nothing was uploaded, not even a directory made
    assert loopback_sshd.known_hosts.read_text() == before

    # a kernel already there is reported as such, and the dry run still changes nothing
    remote.mkdir()
    (remote / "bzImage").write_bytes((tmp_path / "b" / "bzImage").read_bytes())
    events.clear()
    again = pipeline.install(
        target(loopback_sshd),
        pipeline.InstallOptions(
            bundle=tmp_path / "b",
            dry_run=True,
            remote_dir=str(remote),
            layout="bios",
            phases=("kexec",),
        ),
        events.append,
    )
    assert any(
        e.kind == "skip" and e.message.endswith("bzImage is already on the target") for e in events
    )
    assert not any("upload" in s and "bzImage" in s for s in again.steps)
    assert any("upload" in s and "initrd.gz" in s for s in again.steps)
    assert sorted(p.name for p in remote.iterdir()) == ["bzImage"]


def test_destructive_run_needs_confirmation_and_key(
    loopback_sshd: LoopbackSshd, tmp_path: Path
) -> None:
    with pytest.raises(InvalidInputError, match="wipes its disk"):
        pipeline.install(
            target(loopback_sshd), pipeline.InstallOptions(bundle=make_bundle(tmp_path / "b"))
        )
    with pytest.raises(InvalidInputError, match="disk key is needed"):
        pipeline.install(
            target(loopback_sshd), pipeline.InstallOptions(phases=("format",), yes=True)
        )
    with pytest.raises(InvalidInputError, match="unknown phase 'wipe'"):
        pipeline.parse_phases("kexec,wipe")
    assert pipeline.parse_phases("reboot,kexec") == ("kexec", "reboot")


def test_drives_the_installer_and_relays_its_error(
    loopback_sshd: LoopbackSshd, tmp_path: Path, dev_dir: Path
) -> None:
    """Without kexec the controller drives the installer on the connected host: it uploads the
    zipapp, the plan and the key (over stdin into 0600 files on tmpfs), streams the JSON events
    back. Asked for the install phase before the format phase finished, the installer stops at
    once with its error event, which the controller raises; the key file is shredded anyway."""
    remote_pyz = tmp_path / "installer" / "nixremote.pyz"
    key_file = dev_dir / "run" / "disk.key"
    plan_file = tmp_path / "run" / "plan.json"
    state_dir = Path("/run/nixremote")
    assert not (state_dir / "state.json").exists()  # no install recorded on this machine
    plan = build_plan(INFO, default_layout(INFO))
    secret = b"correct horse battery staple"
    events: list[Event] = []
    with pytest.raises(CommandFailedError, match=r"the installer failed: .*needs format") as err:
        pipeline.install(
            target(loopback_sshd),
            pipeline.InstallOptions(
                phases=("install",),
                yes=True,
                disk_key=secret,
                plan=plan,
                installer_zipapp=str(remote_pyz),
                key_file=str(key_file),
                plan_file=str(plan_file),
            ),
            events.append,
        )
    assert err.value.hint and "format" in err.value.hint
    assert loads_plan(plan_file.read_text()) == plan
    assert stat.S_IMODE(plan_file.stat().st_mode) == 0o600
    assert remote_pyz.is_file()
    out = subprocess.run(
        [sys.executable, "-I", "-S", str(remote_pyz), "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "nixremote" in out.stdout
    # the controller wrote the key into a 0700 directory; the installer shredded it although
    # the run failed
    assert not key_file.exists()
    assert stat.S_IMODE(key_file.parent.stat().st_mode) == 0o700
    assert any(e.kind == "step" and "shredded the disk key file" in e.message for e in events)
    assert any(e.kind == "error" and "needs format" in e.message for e in events)
    assert all(secret.decode() not in e.to_json() for e in events)
    log = loopback_sshd.log_text()
    assert secret.decode() not in log


def test_cli_dry_run_json(loopback_sshd: LoopbackSshd, tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path / "b")
    env = {**os.environ, "HOME": str(tmp_path)}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "nixremote.cli.main",
            "install",
            f"{loopback_sshd.user}@{loopback_sshd.host}",
            "-p",
            str(loopback_sshd.port),
            "-i",
            str(loopback_sshd.identity),
            "--known-hosts",
            str(loopback_sshd.known_hosts),
            "--bundle",
            str(bundle),
            "--dry-run",
            "--json",
            "--layout",
            "bios",
        ],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    assert events[-1]["kind"] == "result" and events[-1]["data"]["dryRun"] is True
    assert events[-1]["data"]["cmdlineBytes"] <= 2016
    assert any("zpool create" in e["message"] for e in events)


def test_cli_refuses_without_confirmation(loopback_sshd: LoopbackSshd, tmp_path: Path) -> None:
    key = tmp_path / "key"
    key.write_text("a long enough passphrase\n")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "nixremote.cli.main",
            "install",
            "root@127.0.0.1",
            "-p",
            str(loopback_sshd.port),
            "--bundle",
            str(make_bundle(tmp_path / "b")),
            "--disk-key-file",
            str(key),
        ],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )
    assert proc.returncode == 4
    assert "without confirmation (no terminal to ask on)" in proc.stderr
    assert "pass --yes to confirm" in proc.stderr
