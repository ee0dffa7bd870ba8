"""Connections as ``ssh`` makes them (issue 20): a ``Host`` alias of ``~/.ssh/config`` (or of
``-F FILE``) with its HostName, User, Port, IdentityFile and ProxyJump, against the loopback
sshd; the options on the command line still win."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nixremote.cli.options import target_from
from nixremote.core.errors import InvalidInputError
from nixremote.testing.sshd import LoopbackSshd


def nixremote(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nixremote.cli.main", *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
        env={**os.environ, "HOME": str(home)},
    )


def alias_block(name: str, server: LoopbackSshd, **extra: str) -> str:
    lines = [
        f"Host {name}",
        f"  HostName {server.host}",
        f"  Port {server.port}",
        f"  User {server.user}",
        f"  IdentityFile {server.identity}",
        *(f"  {k} {v}" for k, v in extra.items()),
    ]
    return "\n".join(lines) + "\n"


def test_a_host_alias_of_the_users_ssh_config(loopback_sshd: LoopbackSshd, tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "config").write_text(alias_block("mybox", loopback_sshd))
    proc = nixremote(
        "info", "mybox", "--known-hosts", str(loopback_sshd.known_hosts), "--json", home=home
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(proc.stdout.splitlines()[-1])
    assert result["kind"] == "result" and result["data"]["schemaVersion"] == 1


def test_dash_f_names_another_file_and_options_win(
    loopback_sshd: LoopbackSshd, tmp_path: Path
) -> None:
    config = tmp_path / "ssh_config"
    config.write_text(alias_block("viaf", loopback_sshd))
    home = tmp_path / "empty-home"
    home.mkdir()
    kh = ("--known-hosts", str(loopback_sshd.known_hosts))
    proc = nixremote("info", "viaf", "-F", str(config), *kh, "--json", home=home)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # without -F the alias means nothing (no ~/.ssh/config in that home)
    proc = nixremote("info", "viaf", *kh, "--connect-timeout", "3", "--json", home=home)
    assert proc.returncode == 3
    # -p on the command line wins over the config's Port: nothing listens on port 1
    proc = nixremote("info", "viaf", "-F", str(config), "-p", "1", *kh, "--json", home=home)
    assert proc.returncode == 3 and "port 1" in proc.stdout


def test_target_resolution(tmp_path: Path) -> None:
    key = tmp_path / "id_test"
    key.write_text("not read here")
    config = tmp_path / "config"
    config.write_text(
        "Host box\n"
        "  HostName 192.0.2.7\n"
        "  User admin\n"
        "  Port 2200\n"
        "  IdentityFile /nonexistent/key\n"
        f"  IdentityFile {key}\n"
        "  ProxyJump bastion\n"
        "Host bastion\n"
        "  HostName 198.51.100.1\n"
        "  User jumper\n"
        "  Port 2022\n"
    )
    common = {"identity": None, "known_hosts": None, "connect_timeout": 5.0}
    t = target_from("box", port=None, ssh_config=config, **common)
    assert (t.host, t.user, t.port, t.identity_file) == ("192.0.2.7", "admin", 2200, key)
    assert t.jump == "jumper@198.51.100.1:2022"
    # what the command line names wins
    t = target_from("root@box:22", port=None, ssh_config=config, jump="other:2", **common)
    assert (t.user, t.port, t.jump) == ("root", 22, "other:2")
    t = target_from("box", port=2300, ssh_config=config, **common)
    assert t.port == 2300
    # an unknown host is itself, with the defaults
    t = target_from("203.0.113.9", port=None, ssh_config=config, **common)
    assert (t.host, t.user, t.port, t.jump) == ("203.0.113.9", "root", 22, None)
    config.write_text("Host bad\n  Port 99999\n")
    with pytest.raises(InvalidInputError, match="port"):
        target_from("bad", port=None, ssh_config=config, **common)
    with pytest.raises(InvalidInputError, match="does not exist"):
        target_from("box", port=None, ssh_config=tmp_path / "missing", **common)
