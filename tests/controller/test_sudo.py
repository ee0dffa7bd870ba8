"""A non-root login with sudo: the password travels on stdin, never in argv.

The sshd runs in a private mount namespace whose /etc/passwd, /etc/shadow, /etc/group and
/etc/sudoers are bind-mounted copies that add the user ``nxsudo`` (password ``pw 4 test``),
and tmpfs mounts hold its home and sudo's time stamps, so nothing on this machine changes.
Needs Debian's ``sudo`` and ``openssl``.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from helpers.sudo import PASSWORD, sudo_login
from nixremote.controller.collect import collect
from nixremote.controller.ssh import SUDO_PASSWORD_ENV, connect
from nixremote.core.errors import TransportError


@pytest.fixture
def sudo_sshd(sshd, tmp_path: Path):  # type: ignore[no-untyped-def]
    return sshd(**sudo_login(tmp_path))


def _connect(server, **kw):  # type: ignore[no-untyped-def]
    return connect(
        "nxsudo@127.0.0.1",
        port=server.port,
        identity_file=server.identity,
        known_hosts=server.known_hosts,
        connect_timeout=5,
        sudo=True,
        **kw,
    )


def test_sudo_with_password_from_env(sudo_sshd, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv(SUDO_PASSWORD_ENV, PASSWORD)
    with _connect(sudo_sshd) as t:
        assert t.run(["id", "-u"]).stdout == b"0\n"
        # The command still gets its own stdin after the password line.
        assert t.run(["cat"], stdin=b"data\nmore").stdout == b"data\nmore"
        info, facts = collect(t)
        assert facts.get("uid") == "0"
        assert t.commands_run == 3
    assert sudo_sshd.wait_for_sessions(3) == 3
    log = sudo_sshd.log_text()
    assert PASSWORD not in log
    assert info.host_name


def test_sudo_with_prompt_and_wrong_password(sudo_sshd, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv(SUDO_PASSWORD_ENV, raising=False)
    asked: list[int] = []

    def prompt() -> str:
        asked.append(1)
        return "wrong"

    with _connect(sudo_sshd, sudo_prompt=prompt) as t:
        with pytest.raises(TransportError, match=r"sudo on .* refused the password"):
            t.run(["id", "-u"])
        assert asked == [1]


def test_sudo_without_password_fails_cleanly(sudo_sshd, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv(SUDO_PASSWORD_ENV, raising=False)
    with _connect(sudo_sshd) as t, pytest.raises(TransportError, match="the probe failed"):
        collect(t)


def test_without_sudo_the_probe_warns(sudo_sshd) -> None:  # type: ignore[no-untyped-def]
    from nixremote.core.progress import Event

    events: list[Event] = []
    with connect(
        "nxsudo@127.0.0.1",
        port=sudo_sshd.port,
        identity_file=sudo_sshd.identity,
        known_hosts=sudo_sshd.known_hosts,
        connect_timeout=5,
    ) as t:
        info, facts = collect(t, reporter=events.append)
    assert facts.get("uid") == "4242"
    assert any(e.kind == "warning" and "not root" in e.message for e in events)
    assert info.interfaces  # what a normal user can read is still collected


def test_cli_sudo_password_from_env(sudo_sshd) -> None:  # type: ignore[no-untyped-def]
    import json
    import os

    proc = subprocess.run(
        [
            "nixremote",
            "info",
            "nxsudo@127.0.0.1",
            "-p",
            str(sudo_sshd.port),
            "-i",
            str(sudo_sshd.identity),
            "--known-hosts",
            str(sudo_sshd.known_hosts),
            "--sudo",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        env={**os.environ, SUDO_PASSWORD_ENV: PASSWORD},
    )
    assert proc.returncode == 0, proc.stderr
    assert "not root" not in proc.stderr
    assert json.loads(proc.stdout.splitlines()[-1])["data"]["schemaVersion"] == 1
    # Without the variable and without a terminal to prompt on: a one-line error.
    env = {k: v for k, v in os.environ.items() if k != SUDO_PASSWORD_ENV}
    proc = subprocess.run(
        [
            "nixremote",
            "info",
            "nxsudo@127.0.0.1",
            "-p",
            str(sudo_sshd.port),
            "-i",
            str(sudo_sshd.identity),
            "--known-hosts",
            str(sudo_sshd.known_hosts),
            "--sudo",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        env=env,
    )
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("error: sudo needs a password")
