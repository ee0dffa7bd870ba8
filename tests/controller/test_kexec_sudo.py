"""``install --sudo`` on loopback: a non-root login whose sudo wants a password runs the
kexec phase (collect, preflight, upload, ``kexec -l``/``-e``) through sudo, and the installer
is then reached as root with the handed-over keys.

The rescue system (:mod:`helpers.rescue`) runs in a private mount namespace that adds the
user ``nxsudo`` (:mod:`helpers.sudo`); the kexec double writes into this test's 0700 root-owned
directory, which only root can, so its records show that it ran through sudo.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from helpers.bundles import make_bundle
from helpers.rescue import rescue_system
from helpers.sudo import PASSWORD, USER, sudo_login
from nixremote.controller import pipeline
from nixremote.controller.ssh import SUDO_PASSWORD_ENV, connect
from nixremote.core.errors import TransportError
from nixremote.core.progress import Event


def _target(server, known: Path, **kw):  # type: ignore[no-untyped-def]
    return pipeline.Target(
        host=server.host,
        user=USER,
        port=server.port,
        identity_file=server.identity,
        known_hosts=known,
        **kw,
    )


def _options(tmp_path: Path, dev_dir: Path) -> pipeline.InstallOptions:
    return pipeline.InstallOptions(
        bundle=make_bundle(tmp_path / "b"),
        phases=("kexec",),
        yes=True,
        remote_dir=str(tmp_path / "remote"),
        secret_dirs=(str(dev_dir / "kexec"),),
        kexec_deadline=60,
    )


def test_kexec_phase_through_sudo_with_a_password(
    tmp_path: Path, dev_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(SUDO_PASSWORD_ENV, raising=False)
    work = tmp_path / "w"
    work.mkdir()
    with rescue_system(work, **sudo_login(tmp_path)) as (server, state):
        known = tmp_path / "known_hosts"
        known.write_text(server.known_hosts.read_text())
        asked: list[int] = []

        def prompt() -> str:
            asked.append(1)
            return PASSWORD

        events: list[Event] = []
        result = pipeline.install(
            _target(server, known, sudo=True, sudo_prompt=prompt),
            _options(tmp_path, dev_dir),
            events.append,
        )
        # asked once, for the whole phase
        assert asked == [1]
        calls = [json.loads(line) for line in (state / "calls.jsonl").read_text().splitlines()]
        assert [c[0] for c in calls] == ["-l", "-e"]
        # the upload ran as root: the files are root's, in a directory only root may write
        remote = tmp_path / "remote"
        assert sorted(p.name for p in remote.iterdir()) == ["bzImage", "initrd.gz"]
        assert {p.stat().st_uid for p in remote.iterdir()} == {0}
        # the probe ran as root: no "not root" warning
        assert not any("not root" in e.message for e in events)
        assert result.installer_fingerprint
        # the installer lets root in with the handed-over keys (the login's .pub among them)
        with connect(
            f"root@{server.host}",
            port=server.port,
            identity_file=server.identity,
            known_hosts=known,
            connect_timeout=10,
        ) as installer:
            assert installer.run(["id", "-u"]).stdout == b"0\n"
        assert PASSWORD not in server.log_text()
        # no process of this machine had the password in its argv while the phase ran:
        # it travelled on stdin (the wrapper reads it with `read`)
        mine = [
            Path(f"/proc/{pid}/cmdline").read_bytes()
            for pid in os.listdir("/proc")
            if pid.isdigit() and Path(f"/proc/{pid}/cmdline").exists()
        ]
        assert not any(PASSWORD.encode() in c for c in mine)


def test_a_wrong_sudo_password_stops_before_anything_runs(
    tmp_path: Path, dev_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SUDO_PASSWORD_ENV, "not the password")
    work = tmp_path / "w"
    work.mkdir()
    with rescue_system(work, **sudo_login(tmp_path)) as (server, state):
        known = tmp_path / "known_hosts"
        known.write_text(server.known_hosts.read_text())
        with pytest.raises(TransportError, match="refused the password of nxsudo"):
            pipeline.install(_target(server, known, sudo=True), _options(tmp_path, dev_dir))
        assert not (state / "calls.jsonl").exists()
        assert not (tmp_path / "remote").exists()


def test_cli_install_sudo_reads_the_password_from_the_environment(
    tmp_path: Path, dev_dir: Path
) -> None:
    work = tmp_path / "w"
    work.mkdir()
    with rescue_system(work, **sudo_login(tmp_path)) as (server, state):
        known = tmp_path / "known_hosts"
        known.write_text(server.known_hosts.read_text())
        proc = subprocess.run(
            [
                "nixremote",
                "install",
                f"{USER}@{server.host}",
                "-p",
                str(server.port),
                "-i",
                str(server.identity),
                "--known-hosts",
                str(known),
                "--sudo",
                "--bundle",
                str(make_bundle(tmp_path / "b")),
                "--phases",
                "kexec",
                "--dry-run",
                "--json",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
            env={**os.environ, SUDO_PASSWORD_ENV: PASSWORD},
        )
        assert proc.returncode == 0, proc.stderr
        events = [json.loads(line) for line in proc.stdout.splitlines()]
        assert not any("not root" in e.get("message", "") for e in events)
        assert any("kexec -l" in e.get("message", "") for e in events)
        assert PASSWORD not in proc.stdout + proc.stderr
        assert not (state / "calls.jsonl").exists()  # a dry run
