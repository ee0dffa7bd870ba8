"""``nixremote vm up|status|ssh|down`` as a user runs it: a background VM, pinned SSH."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.json_output import result_data
from nixremote.testing.vm import VmArtifacts
from nixremote.testing.vm.process import pid_alive

pytestmark = pytest.mark.vm


def _nixremote(*args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nixremote.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def test_vm_up_ssh_down(vm_artifacts: VmArtifacts, tmp_path: Path) -> None:
    run = tmp_path / "run"
    base = ["vm", "--cache-dir", str(vm_artifacts.root.parent), "--run-dir", str(run)]
    down = _nixremote(*base, "status")
    assert down.returncode == 1 and "not running" in down.stdout
    up = _nixremote(*base, "up", "--json", "--disk-size", "2G")
    try:
        assert up.returncode == 0, up.stderr
        state = result_data(up.stdout)
        assert state["knownHostsLine"].startswith(f"[127.0.0.1]:{state['port']} ssh-ed25519 ")
        assert Path(state["identityFile"]).is_file()
        assert os.path.getsize(state["disk"]) == 2 * 1024**3
        pid = state["pid"]
        assert pid_alive(pid)  # QEMU runs on after `up` returned

        again = _nixremote(*base, "up")
        assert again.returncode != 0 and "already running" in again.stderr

        status = _nixremote(*base, "status", "--json")
        assert status.returncode == 0, status.stderr
        assert result_data(status.stdout)["running"] is True

        ssh = _nixremote(*base, "ssh", "--", "cat", "/etc/ssh/ssh_host_ed25519_key.pub")
        assert ssh.returncode == 0, ssh.stderr
        assert ssh.stdout.split()[:2] == state["hostPublicKey"].split()[:2]
        by_id = _nixremote(*base, "ssh", "readlink", "-f", state["diskById"])
        assert by_id.stdout.strip() == "/dev/vda"
    finally:
        stopped = _nixremote(*base, "down")
    assert stopped.returncode == 0
    assert "stopped" in stopped.stdout
    assert not pid_alive(pid)
    assert _nixremote(*base, "status").returncode == 1
