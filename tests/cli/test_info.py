"""``nixremote info`` through the installed command: results and one-line errors."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from helpers.json_output import result_data, warnings
from nixremote.controller.probe import split_probe_output
from nixremote.core.converter import load_runtime_info


def nixremote(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["nixremote", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def assert_one_line_error(proc: subprocess.CompletedProcess[str], pattern: str) -> str:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, proc.stderr
    assert pattern in errors[0], proc.stderr
    assert proc.stdout == ""
    return errors[0]


def test_local_info_json_and_files(tmp_path: Path) -> None:
    out = tmp_path / "runtime-info.json"
    facts_file = tmp_path / "facts.txt"
    proc = nixremote("info", "--local", "--json", "-o", str(out), "--save-facts", str(facts_file))
    assert proc.returncode == 0, proc.stderr
    data = result_data(proc.stdout)
    assert data["schemaVersion"] == 1
    assert data["primaryInterface"] == "eth0"
    assert load_runtime_info(out).host_name == data["hostName"]
    facts = split_probe_output(facts_file.read_text())
    assert facts.get("uname-m") == data["arch"]


def test_local_info_with_an_unknown_disk_is_an_error() -> None:
    proc = nixremote("info", "--local", "--disk", "/dev/nonexistent")
    assert_one_line_error(proc, "is not a disk of this host")
    assert proc.returncode == 2


def test_target_or_local_is_required() -> None:
    assert_one_line_error(nixremote("info"), "give one of a HOST, --local or --from-facts FILE")


def test_connection_refused() -> None:
    from nixremote.testing.sshd import free_port

    port = free_port()
    proc = nixremote("info", "root@127.0.0.1", "-p", str(port), "--connect-timeout", "3")
    assert_one_line_error(proc, f"connection to 127.0.0.1 port {port} refused")
    assert proc.returncode == 3


def test_auth_refused(sshd, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from nixremote.testing.sshd import keygen

    server = sshd()
    other = keygen(tmp_path / "other")
    proc = nixremote(
        "info",
        server.target,
        "-p",
        str(server.port),
        "-i",
        str(other),
        "--known-hosts",
        str(server.known_hosts),
    )
    assert_one_line_error(proc, "refused authentication as root")
    assert server.exec_sessions() == 0


def test_unknown_host_key(sshd, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    server = sshd()
    known = tmp_path / "known_hosts"
    known.write_text("")
    proc = nixremote(
        "info",
        server.target,
        "-p",
        str(server.port),
        "-i",
        str(server.identity),
        "--known-hosts",
        str(known),
    )
    line = assert_one_line_error(proc, "is not in")
    assert "--accept-new" in line
    assert known.read_text() == ""
    # With --accept-new it is recorded and the collect goes on.
    proc = nixremote(
        "info",
        server.target,
        "-p",
        str(server.port),
        "-i",
        str(server.identity),
        "--known-hosts",
        str(known),
        "--accept-new",
        "--json",
    )
    assert proc.returncode == 0, proc.stderr
    assert any("accepted the new host key" in w for w in warnings(proc.stdout))
    assert proc.stderr == ""  # quiet under --json
    assert known.read_text().startswith(f"[127.0.0.1]:{server.port} ssh-ed25519 ")


def test_host_key_changed(sshd) -> None:  # type: ignore[no-untyped-def]
    server = sshd()
    server.replace_host_key()
    for extra in ((), ("--accept-new",)):
        proc = nixremote(
            "info",
            server.target,
            "-p",
            str(server.port),
            "-i",
            str(server.identity),
            "--known-hosts",
            str(server.known_hosts),
            *extra,
        )
        assert_one_line_error(proc, "has CHANGED")
    assert server.exec_sessions() == 0


def test_probe_timeout(sshd) -> None:  # type: ignore[no-untyped-def]
    server = sshd(extra_config=["ForceCommand sleep 30"])
    proc = nixremote(
        "info",
        server.target,
        "-p",
        str(server.port),
        "-i",
        str(server.identity),
        "--known-hosts",
        str(server.known_hosts),
        "--timeout",
        "1",
    )
    assert_one_line_error(proc, "did not finish within 1 s")
    assert proc.returncode == 3


@pytest.mark.parametrize("option", ["-o", "--save-facts"])
def test_unwritable_output(option: str, tmp_path: Path) -> None:
    proc = nixremote("info", "--local", option, str(tmp_path / "missing" / "x.json"))
    assert_one_line_error(proc, "cannot write")


def test_jump_host_through_the_cli(sshd) -> None:  # type: ignore[no-untyped-def]
    jump = sshd()
    target = sshd(identity=jump.identity)
    known = target.known_hosts
    known.write_text(known.read_text() + jump.known_hosts.read_text())
    proc = nixremote(
        "info",
        target.target,
        "-p",
        str(target.port),
        "-i",
        str(target.identity),
        "--known-hosts",
        str(known),
        "-J",
        f"root@127.0.0.1:{jump.port}",
        "--json",
    )
    assert proc.returncode == 0, proc.stderr
    assert result_data(proc.stdout)["hostName"]
    assert target.wait_for_sessions(1) == 1
    assert jump.exec_sessions() == 0
