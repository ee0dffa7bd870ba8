"""Honest progress (issue 20), captured in and outside a terminal: waits are a spinner with the
elapsed time (never a byte bar), API actions a percentage, outside a terminal one line per state
change and at most one every 10 s while a wait goes on, warnings once (also with -v), and the
plan still printed under -q."""

from __future__ import annotations

import io
import os
import pty
import select
import subprocess
import sys
from pathlib import Path

import click
import pytest

from helpers.bundles import make_bundle
from helpers.fakes.hetzner_api import DEFAULT_TOKEN, FakeHetznerCloud
from nixremote.cli.output import amount, line_renderer, progress_reporter
from nixremote.core.progress import Event
from nixremote.testing.sshd import LoopbackSshd


def wait_event(second: int, last: str = "refused") -> Event:
    return Event(
        kind="progress",
        message="waiting for the installer to answer over SSH",
        phase="kexec",
        current=second,
        total=600,
        unit="seconds",
        data={"last": last},
    )


def test_outside_a_terminal_one_line_per_state_and_every_10_s() -> None:
    lines: list[str] = []
    now = [0.0]
    render = line_renderer(lines.append, quiet=False, clock=lambda: now[0])
    render(Event(kind="start", message="kexec", phase="kexec"))
    for second in range(0, 26):
        now[0] = float(second)
        # the last error text changes on every poll: still one wait, not a new line each time
        render(wait_event(second, last=f"attempt {second}"))
    render(Event(kind="warning", message="slow network", phase="kexec"))
    render(Event(kind="done", message="the installer answers", phase="kexec"))
    assert lines == [
        "[kexec] kexec",
        "[kexec] waiting for the installer to answer over SSH (0 s of 600 s)",
        "[kexec] waiting for the installer to answer over SSH (10 s of 600 s)",
        "[kexec] waiting for the installer to answer over SSH (20 s of 600 s)",
        "[kexec] warning: slow network",
        "[kexec] the installer answers",
    ]


def test_amounts_say_their_unit() -> None:
    assert amount(wait_event(12)) == "12 s of 600 s"
    upload = Event(kind="progress", message="up", current=3 << 20, total=10 << 20, unit="bytes")
    assert amount(upload) == "3.0 MiB of 10.0 MiB"
    action = Event(kind="progress", message="create", current=40, total=100, unit="percent")
    assert amount(action) == "40%"
    assert amount(Event(kind="progress", message="steps", current=3, total=14)) == "3/14"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_a_wait_is_a_spinner_with_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    term = Terminal()
    monkeypatch.setattr(sys, "stderr", term)
    monkeypatch.setenv("TERM", "xterm-256color")
    with click.Context(click.Command("t")), progress_reporter() as reporter:
        for second in (1, 2, 3):
            reporter(wait_event(second, last=f"error {second}"))
        reporter(Event(kind="warning", message="one warning", phase="kexec"))
    out = term.getvalue()
    assert "3 s of 600 s" in out
    assert "bytes" not in out and "/600" not in out  # not a byte bar, not a fraction
    assert out.count("one warning") == 1
    assert out.count("waiting for the installer") >= 1


def hetzner(*args: str, tmp_path: Path, fake: FakeHetznerCloud, stderr: int | None) -> tuple:
    env = {
        **os.environ,
        "HCLOUD_TOKEN": DEFAULT_TOKEN,
        "HOME": str(tmp_path),
        "NIXREMOTE_HETZNER_POLL_INTERVAL": "0.3",
        "TERM": "xterm-256color",
        "COLUMNS": "120",
    }
    env.pop("NO_COLOR", None)
    argv = [sys.executable, "-m", "nixremote.cli.main", *args]
    argv += ["--endpoint", fake.endpoint, "--ssh-timeout", "0"]
    argv += ["--known-hosts", str(tmp_path / "kh")]
    if stderr is None:
        proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)
        return proc.returncode, proc.stderr
    proc2 = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=stderr, env=env)
    return proc2, ""


def test_warnings_once_with_and_without_v_outside_a_terminal(tmp_path: Path) -> None:
    with FakeHetznerCloud(action_polls=2) as fake:
        fake.add_server("web1")
        for extra in ((), ("-v",)):
            code, err = hetzner(
                "hetzner", "rescue", "web1", *extra, tmp_path=tmp_path, fake=fake, stderr=None
            )
            assert code == 0, err
            assert err.count("presents a new host key") == 1, err
            assert "bytes" not in err
            assert "%)" in err  # the action's progress, in percent


def test_warnings_once_on_a_terminal(tmp_path: Path) -> None:
    with FakeHetznerCloud(action_polls=4) as fake:
        fake.add_server("web1")
        master, slave = pty.openpty()
        proc, _ = hetzner("hetzner", "rescue", "web1", tmp_path=tmp_path, fake=fake, stderr=slave)
        os.close(slave)
        chunks = []
        while True:
            ready, _, _ = select.select([master], [], [], 60)
            if not ready:
                break
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed its side
                break
            if not data:
                break
            chunks.append(data)
        os.close(master)
        assert proc.wait(timeout=60) == 0
    out = b"".join(chunks).decode(errors="replace")
    assert "\x1b[" in out  # rich drew on the terminal
    assert out.count("presents a new host key") == 1, out
    assert "bytes" not in out and "/100" not in out
    assert "%" in out


def test_quiet_dry_run_still_prints_the_plan(loopback_sshd: LoopbackSshd, tmp_path: Path) -> None:
    server = loopback_sshd
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "nixremote.cli.main",
            "-q",
            "install",
            f"{server.user}@{server.host}",
            "-p",
            str(server.port),
            "-i",
            str(server.identity),
            "--known-hosts",
            str(server.known_hosts),
            "--dry-run",
            "--layout",
            "bios",
            "--bundle",
            str(make_bundle(tmp_path / "b")),
        ],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
        env={**os.environ, "HOME": str(tmp_path)},
    )
    assert proc.returncode == 0, proc.stderr
    assert "WIPE:" in proc.stderr  # the plan is the output of a dry run
    assert "[connect]" not in proc.stderr and "[collect]" not in proc.stderr


def test_v_adds_log_lines_without_doubling_events() -> None:
    capture = Path(__file__).resolve().parents[1] / "data" / "captures" / "netns-hoster-a.txt"
    for argv in (["-v", "info"], ["info", "-v"], ["info", "-vv"]):
        proc = subprocess.run(
            [sys.executable, "-m", "nixremote.cli.main", *argv, "--from-facts", str(capture)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 0, proc.stderr
        assert proc.stderr.count("hoster: generic") == 1, (argv, proc.stderr)
        assert "nixremote.progress" not in proc.stderr
