"""SshTransport against a real OpenSSH sshd on loopback."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from nixremote.controller.collect import collect
from nixremote.controller.ssh import SshTransport, connect, parse_target
from nixremote.core.errors import (
    CommandFailedError,
    HostKeyError,
    InvalidInputError,
    TransportError,
)
from nixremote.core.progress import Event


def _connect(server, **kw):  # type: ignore[no-untyped-def]
    kw.setdefault("identity_file", server.identity)
    kw.setdefault("known_hosts", server.known_hosts)
    return connect(server.target, port=server.port, connect_timeout=5, **kw)


def test_run_stdin_exit_codes_and_lines(sshd) -> None:  # type: ignore[no-untyped-def]
    server = sshd()
    with _connect(server) as t:
        assert t.run(["echo", "hello world"]).stdout == b"hello world\n"
        blob = os.urandom(300_000)
        assert t.run(["cat"], stdin=blob).stdout == blob
        assert t.run(["sh", "-c", "read x; echo got:$x"]).stdout == b"got:\n"  # stdin closed
        failed = t.run(["sh", "-c", "echo oops >&2; exit 7"], check=False)
        assert (failed.returncode, failed.stderr) == (7, b"oops\n")
        with pytest.raises(CommandFailedError, match="exit code 7"):
            t.run(["sh", "-c", "exit 7"])
        lines: list[str] = []
        t.run(["sh", "-c", "printf 'a\\nb\\nc'"], on_line=lines.append)
        assert lines == ["a", "b", "c"]
        assert t.run(["printf", "%s", "it's $HOME; rm -rf /"]).stdout == b"it's $HOME; rm -rf /"
        assert t.commands_run == 7
    assert server.wait_for_sessions(7) == 7


def test_collect_opens_exactly_one_exec_channel(sshd) -> None:  # type: ignore[no-untyped-def]
    server = sshd()
    with _connect(server) as t:
        info, facts = collect(t)
        assert t.commands_run == 1
    assert server.wait_for_sessions(1) == 1
    assert info.host_name and info.arch
    assert facts.source == t.host


def test_put_streams_with_progress_and_resumes(sshd, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    server = sshd()
    data = os.urandom(1_500_000)
    local = tmp_path / "bundle.bin"
    local.write_bytes(data)
    remote = tmp_path / "remote" / "bundle.bin"
    remote.parent.mkdir()
    seen: list[tuple[int, int]] = []
    with _connect(server) as t:
        t.put(local, str(remote), mode=0o640, on_progress=lambda a, b: seen.append((a, b)))
        assert remote.read_bytes() == data
        assert remote.stat().st_mode & 0o777 == 0o640
        assert seen[0] == (0, len(data)) and seen[-1] == (len(data), len(data))
        assert len(seen) > 3
        # A broken earlier upload left a partial file: only the rest is sent.
        remote.unlink()
        Path(f"{remote}.part").write_bytes(data[:1_000_000])
        seen.clear()
        before = t.commands_run
        t.put(local, str(remote), resume=True, on_progress=lambda a, b: seen.append((a, b)))
        assert t.commands_run == before + 2  # the size check and the upload
        assert seen[0] == (1_000_000, len(data))
        assert hashlib.sha256(remote.read_bytes()).digest() == hashlib.sha256(data).digest()
        got = tmp_path / "back.bin"
        t.get(str(remote), got)
        assert got.read_bytes() == data
        with pytest.raises(CommandFailedError, match="cannot read"):
            t.get(str(tmp_path / "missing"), got)


def test_unknown_host_key_is_refused(sshd, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    server = sshd()
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    with pytest.raises(HostKeyError, match="is not in") as err:
        _connect(server, known_hosts=empty)
    assert "\n" not in str(err.value)
    assert "SHA256:" in str(err.value)
    assert empty.read_text() == ""


def test_accept_new_records_the_key_and_says_so(sshd, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    server = sshd()
    known = tmp_path / "ssh" / "known_hosts"
    events: list[Event] = []
    with _connect(
        server, known_hosts=known, host_key_policy="accept-new", reporter=events.append
    ) as t:
        assert t.accepted_new_key and t.accepted_new_key.startswith("SHA256:")
        assert t.run(["true"]).ok
    assert known.read_text().split()[0] == f"[127.0.0.1]:{server.port}"
    assert any(e.kind == "warning" and "accepted the new host key" in e.message for e in events)
    # Now it is known: strict works, and nothing new is recorded.
    with _connect(server, known_hosts=known) as t:
        assert t.accepted_new_key is None
    assert len(known.read_text().splitlines()) == 1


@pytest.mark.parametrize("policy", ["strict", "accept-new"])
def test_changed_host_key_is_refused(sshd, policy: str) -> None:  # type: ignore[no-untyped-def]
    server = sshd()
    with _connect(server) as t:
        assert t.run(["true"]).ok
    server.replace_host_key()
    before = server.known_hosts.read_text()
    with pytest.raises(HostKeyError, match="has CHANGED") as err:
        _connect(server, host_key_policy=policy)
    assert "ssh-keygen -R" in str(err.value)
    assert server.known_hosts.read_text() == before


def test_auth_refused(sshd, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from nixremote.testing.sshd import keygen

    server = sshd()
    other = keygen(tmp_path / "other_key")
    with pytest.raises(TransportError, match="refused authentication as root") as err:
        _connect(server, identity_file=other)
    assert err.value.hint and "authorized_keys" in err.value.hint


def test_connection_refused() -> None:
    from nixremote.testing.sshd import free_port

    port = free_port()
    with pytest.raises(TransportError, match=f"connection to 127.0.0.1 port {port} refused"):
        connect("root@127.0.0.1", port=port, connect_timeout=3)


def test_probe_timeout(sshd) -> None:  # type: ignore[no-untyped-def]
    server = sshd(extra_config=["ForceCommand sleep 30"])
    with _connect(server) as t, pytest.raises(TransportError, match="did not finish within 1 s"):
        collect(t, timeout=1)


def test_jump_host(sshd) -> None:  # type: ignore[no-untyped-def]
    jump = sshd()
    target = sshd(identity=jump.identity)
    known = target.known_hosts
    known.write_text(known.read_text() + jump.known_hosts.read_text())
    with connect(
        target.target,
        port=target.port,
        identity_file=target.identity,
        known_hosts=known,
        jump=f"root@127.0.0.1:{jump.port}",
        connect_timeout=5,
    ) as t:
        assert t.run(["echo", "via jump"]).stdout == b"via jump\n"
    assert jump.wait_for_log("direct-tcpip", 5) or "Connection from" in jump.log_text()
    assert target.wait_for_sessions(1) == 1
    assert jump.exec_sessions() == 0


def test_jump_host_key_is_checked_too(sshd, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    jump = sshd()
    target = sshd(identity=jump.identity)
    with pytest.raises(HostKeyError, match="is not in"):
        connect(
            target.target,
            port=target.port,
            identity_file=target.identity,
            known_hosts=target.known_hosts,  # knows the target, not the jump host
            jump=f"root@127.0.0.1:{jump.port}",
            connect_timeout=5,
        )


def test_parse_target() -> None:
    assert parse_target("root@203.0.113.7") == ("root", "203.0.113.7", None)
    assert parse_target("admin@[2001:db8::1]:2222") == ("admin", "2001:db8::1", 2222)
    assert parse_target("host:2200") == (None, "host", 2200)
    assert parse_target("2001:db8::1") == (None, "2001:db8::1", None)
    assert parse_target("[::1]") == (None, "::1", None)
    for bad, message in (
        ("[::1", "bracket is not closed"),
        ("root@[::1", "bracket is not closed"),
        ("host:99999", "port from 1 to 65535"),
        ("host:0", "port from 1 to 65535"),
        ("[::1]:70000", "port from 1 to 65535"),
        ("[::1]x", "cannot read the host"),
        ("a]b", "cannot read the host"),
        ("-oProxyCommand=id", "cannot read the host"),
        ("-l@host", "cannot read the user"),
        ("host\n", "cannot read the target"),
        ("", "cannot read the host"),
    ):
        with pytest.raises(InvalidInputError, match=message):
            parse_target(bad)


def test_sudo_password_never_in_argv() -> None:
    t = SshTransport("203.0.113.7", user="admin", sudo=True, sudo_password="s3cret pass")
    line, prefix = t.command_line(["cat", "/etc/shadow"])
    assert "s3cret" not in line
    assert prefix == b"s3cret pass\n"
    assert line.endswith("sh cat /etc/shadow")
    nopw = SshTransport("203.0.113.7", user="admin", sudo=True)
    os.environ.pop("NIXREMOTE_SUDO_PASSWORD", None)
    assert nopw.command_line(["id"])[0] == "sudo -n -- id"
    assert SshTransport("h", user="root", sudo=True).command_line(["id"])[0] == "id"


def test_silent_server_is_a_handshake_error() -> None:
    """A port that accepts but never speaks SSH: a one-line error after the timeout."""
    import socket
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    accepted: list[socket.socket] = []
    thread = threading.Thread(target=lambda: accepted.append(server.accept()[0]), daemon=True)
    thread.start()
    try:
        with pytest.raises(TransportError, match=r"SSH handshake with 127\.0\.0\.1") as err:
            connect("root@127.0.0.1", port=port, connect_timeout=1)
        assert "\n" not in str(err.value)
    finally:
        for sock in accepted:
            sock.close()
        server.close()


def test_not_an_ssh_server() -> None:
    """A server that answers with something else (an HTTP banner)."""
    import socket
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]

    def answer() -> None:
        conn, _ = server.accept()
        conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")
        conn.close()

    threading.Thread(target=answer, daemon=True).start()
    try:
        with pytest.raises(TransportError, match=r"SSH handshake with 127\.0\.0\.1"):
            connect("root@127.0.0.1", port=port, connect_timeout=3)
    finally:
        server.close()


def test_killed_command_has_no_exit_status(sshd) -> None:  # type: ignore[no-untyped-def]
    server = sshd()
    with _connect(server) as t:
        result = t.run(["sh", "-c", "echo before; kill -9 $$"], check=False, timeout=10)
        assert result.returncode == 255
        assert result.stdout == b"before\n"
        assert t.run(["true"]).ok  # the connection is still usable
