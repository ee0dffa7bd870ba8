"""known_hosts as OpenSSH reads it, and rewritten without losing what it holds.

Each reading case connects to the loopback sshd twice with the same file: with nixremote's
transport, and with OpenSSH's client (``ssh -o StrictHostKeyChecking=yes``); both must decide
the same (and the expected outcome is stated, so that agreeing on a wrong answer fails too).
The writing cases check the file afterwards, and that OpenSSH (and ``ssh-keygen -F``) still
read it as meant.
"""

from __future__ import annotations

import fcntl
import multiprocessing
import os
import stat
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from nixremote.controller.keypair import generate_host_key
from nixremote.controller.known_hosts import hash_name, hosts_match, record_known_host
from nixremote.controller.ssh import connect
from nixremote.core.errors import HostKeyError, InvalidInputError
from nixremote.core.progress import Event
from nixremote.testing.sshd import LoopbackSshd

OTHER = generate_host_key().known_hosts_key
"""A key nobody serves."""


def openssh_accepts(server: LoopbackSshd, known: Path) -> bool:
    """What OpenSSH decides: strict checking, this file only, nothing written back."""
    argv = server.ssh_argv("true")
    argv[argv.index(f"UserKnownHostsFile={server.known_hosts}")] = f"UserKnownHostsFile={known}"
    argv[1:1] = ["-F", "/dev/null", "-o", "UpdateHostKeys=no", "-o", "CheckHostIP=no"]
    before = known.read_bytes()
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    assert known.read_bytes() == before
    assert proc.returncode in (0, 255), proc.stderr
    return proc.returncode == 0


def nixremote_accepts(server: LoopbackSshd, known: Path, events: list[Event] | None = None) -> bool:
    try:
        transport = connect(
            server.target,
            port=server.port,
            identity_file=server.identity,
            known_hosts=known,
            connect_timeout=5,
            reporter=None if events is None else events.append,
        )
    except HostKeyError:
        return False
    try:
        assert transport.run(["true"]).ok
    finally:
        transport.close()
    return True


def hashed(path: Path) -> None:
    """Hash every host name of ``path`` with OpenSSH's own ssh-keygen -H."""
    subprocess.run(["ssh-keygen", "-H", "-f", str(path)], capture_output=True, check=True)
    Path(f"{path}.old").unlink()


Lines = Callable[[LoopbackSshd], list[str]]


def name(s: LoopbackSshd) -> str:
    return f"[{s.host}]:{s.port}"


READING: list[tuple[str, Lines, bool, bool]] = [
    # (case, lines of the file, hash them with ssh-keygen -H, accepted)
    ("plain", lambda s: [f"{name(s)} {s.host_public_key}"], False, True),
    ("hashed", lambda s: [f"{name(s)} {s.host_public_key}"], True, True),
    ("alias", lambda s: [f"web1.example,{name(s)} {s.host_public_key}"], False, True),
    ("wildcard", lambda s: [f"[127.0.0.*]:{s.port} {s.host_public_key}"], False, True),
    ("negated", lambda s: [f"[127.0.0.*]:*,!{name(s)} {s.host_public_key}"], False, False),
    ("without the port", lambda s: [f"{s.host} {s.host_public_key}"], False, True),
    (
        "without the port, another key with it",
        lambda s: [f"{name(s)} {OTHER}", f"{s.host} {s.host_public_key}"],
        False,
        False,
    ),
    ("without the port, another key", lambda s: [f"{s.host} {OTHER}"], False, False),
    ("another port", lambda s: [f"[{s.host}]:1 {s.host_public_key}"], False, False),
    ("stale", lambda s: [f"{name(s)} {OTHER}"], False, False),
    ("stale hashed", lambda s: [f"{name(s)} {OTHER}"], True, False),
    (
        "stale and current",
        lambda s: [f"{name(s)} {OTHER}", f"{name(s)} {s.host_public_key}"],
        False,
        True,
    ),
    (
        "revoked",
        lambda s: [f"@revoked * {s.host_public_key}", f"{name(s)} {s.host_public_key}"],
        False,
        False,
    ),
    (
        "revoked other key",
        lambda s: [f"@revoked * {OTHER}", f"{name(s)} {s.host_public_key}"],
        False,
        True,
    ),
    (
        "cert-authority and key",
        lambda s: [f"@cert-authority * {OTHER}", f"{name(s)} {s.host_public_key}"],
        False,
        True,
    ),
    ("cert-authority only", lambda s: [f"@cert-authority * {OTHER}"], False, False),
    (
        "broken line of another host",
        lambda s: ["other.example ssh-ed25519 AAAA!!!not-base64", f"{name(s)} {s.host_public_key}"],
        False,
        True,
    ),
    (
        "comments, blanks, unknown types",
        lambda s: [
            "# a comment",
            "",
            f"{name(s)} ssh-dss AAAAB3NzaC1kc3M=",
            f"{name(s)} {s.host_public_key} a comment",
        ],
        False,
        True,
    ),
]


@pytest.mark.parametrize(
    ("case", "lines", "hash_it", "accepted"), READING, ids=[c[0] for c in READING]
)
def test_reading_decides_as_openssh(
    sshd: Callable[..., LoopbackSshd],
    tmp_path: Path,
    case: str,
    lines: Lines,
    hash_it: bool,
    accepted: bool,
) -> None:
    server = sshd()
    known = tmp_path / "known_hosts"
    known.write_text("\n".join(lines(server)) + "\n")
    if hash_it:
        hashed(known)
        assert known.read_text().startswith("|1|")
    assert openssh_accepts(server, known) is accepted
    events: list[Event] = []
    assert nixremote_accepts(server, known, events) is accepted
    if case.startswith("cert-authority"):
        assert any(
            e.kind == "warning" and "@cert-authority" in e.message and "line 1 of" in e.message
            for e in events
        )


def test_refusals_say_why(sshd: Callable[..., LoopbackSshd], tmp_path: Path) -> None:
    server = sshd()
    known = tmp_path / "known_hosts"
    known.write_text(
        f"@revoked * {server.host_public_key}\n{name(server)} {server.host_public_key}\n"
    )
    with pytest.raises(HostKeyError, match=r"is REVOKED \(line 1 of") as err:
        nixremote_accepts_strict(server, known)
    assert "\n" not in str(err.value)
    known.write_text(f"{name(server)} {OTHER}\n")
    hashed(known)
    with pytest.raises(HostKeyError, match="has CHANGED") as err:
        nixremote_accepts_strict(server, known)
    assert "ssh-keygen -R" in (err.value.hint or "")
    # a line for this host that holds no readable key is an error naming it, not a traceback
    known.write_text(f"{name(server)} ssh-ed25519 AAAA!!!\n")
    with pytest.raises(HostKeyError, match=r"line 1 of .* not base64"):
        nixremote_accepts_strict(server, known)
    known.write_text(f"@bogus {name(server)} {server.host_public_key}\n")
    with pytest.raises(HostKeyError, match="unknown marker"):
        nixremote_accepts_strict(server, known)


def nixremote_accepts_strict(server: LoopbackSshd, known: Path) -> None:
    connect(
        server.target,
        port=server.port,
        identity_file=server.identity,
        known_hosts=known,
        connect_timeout=5,
    ).close()


def test_hashed_names_match_as_ssh_keygen_hashes_them() -> None:
    line = hash_name("[127.0.0.1]:2222")
    assert hosts_match(line, "[127.0.0.1]:2222")
    assert not hosts_match(line, "[127.0.0.1]:2223")
    assert hosts_match("WEB1.example,x", "web1.EXAMPLE")
    assert hosts_match("web?.example", "web1.example") and not hosts_match("web?", "web12")
    assert not hosts_match("*.example,!db.example", "db.example")


# --- /dev/null, links, special files -----------------------------------------------------------


def test_dev_null_means_do_not_record(sshd: Callable[..., LoopbackSshd]) -> None:
    server = sshd()
    null = Path("/dev/null")
    record_known_host(null, "203.0.113.7", 22, [OTHER])
    assert stat.S_ISCHR(null.stat().st_mode)
    # strict: nothing is known; accept-new: trust on first use, recorded nowhere
    with pytest.raises(HostKeyError, match="is not in /dev/null"):
        nixremote_accepts_strict(server, null)
    transport = connect(
        server.target,
        port=server.port,
        identity_file=server.identity,
        known_hosts=null,
        host_key_policy="accept-new",
        connect_timeout=5,
    )
    transport.close()
    assert transport.accepted_new_key
    assert stat.S_ISCHR(null.stat().st_mode) and null.read_bytes() == b""


def test_a_symlink_is_followed(sshd: Callable[..., LoopbackSshd], tmp_path: Path) -> None:
    server = sshd()
    real = tmp_path / "dotfiles" / "known_hosts"
    real.parent.mkdir()
    real.write_text(f"other.example {OTHER}\n")
    real.chmod(0o644)
    link = tmp_path / "known_hosts"
    link.symlink_to(real)
    record_known_host(link, server.host, server.port, [server.host_public_key])
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert real.read_text() == f"other.example {OTHER}\n{name(server)} {server.host_public_key}\n"
    assert stat.S_IMODE(real.stat().st_mode) == 0o644  # its mode is kept
    assert openssh_accepts(server, link) and nixremote_accepts(server, link)


@pytest.mark.parametrize("kind", ["fifo", "directory"])
def test_other_special_files_are_refused(
    sshd: Callable[..., LoopbackSshd], tmp_path: Path, kind: str
) -> None:
    server = sshd()
    path = tmp_path / "known_hosts"
    if kind == "fifo":
        os.mkfifo(path)
    else:
        path.mkdir()
    with pytest.raises(InvalidInputError, match="is not a regular file"):
        record_known_host(path, "203.0.113.7", 22, [OTHER])
    with pytest.raises(InvalidInputError, match="is not a regular file"):  # and no hang
        nixremote_accepts_strict(server, path)
    assert stat.S_ISFIFO(path.stat().st_mode) if kind == "fifo" else path.is_dir()


# --- rewriting -----------------------------------------------------------------------------------


def test_a_stale_hashed_entry_is_replaced_by_a_hashed_one(
    sshd: Callable[..., LoopbackSshd], tmp_path: Path
) -> None:
    server = sshd()
    known = tmp_path / "known_hosts"
    known.write_text(f"{name(server)} {OTHER}\nkeep.example {OTHER}\n")
    hashed(known)
    assert not openssh_accepts(server, known)
    record_known_host(known, server.host, server.port, [server.host_public_key])
    lines = known.read_text().splitlines()
    assert len(lines) == 2 and all(line.startswith("|1|") for line in lines)
    assert OTHER in lines[0] and server.host_public_key in lines[1]
    found = subprocess.run(
        ["ssh-keygen", "-F", name(server), "-f", str(known)], capture_output=True, text=True
    )
    assert found.returncode == 0 and server.host_public_key in found.stdout
    assert OTHER not in found.stdout
    keep = subprocess.run(
        ["ssh-keygen", "-F", "keep.example", "-f", str(known)], capture_output=True
    )
    assert keep.returncode == 0
    assert openssh_accepts(server, known) and nixremote_accepts(server, known)


def test_alias_lines_lose_only_the_host_concerned(
    sshd: Callable[..., LoopbackSshd], tmp_path: Path
) -> None:
    server = sshd()
    known = tmp_path / "known_hosts"
    ca = generate_host_key().known_hosts_key
    known.write_text(
        f"# my hosts\nweb1.example,{name(server)},WEB2.example {OTHER} old\n"
        f"@cert-authority *.example {ca}\n@revoked * {OTHER}\n"
        "odd line that is no entry\n"
    )
    record_known_host(known, server.host, server.port, [server.host_public_key])
    assert known.read_text() == (
        f"# my hosts\nweb1.example,WEB2.example {OTHER} old\n"
        f"@cert-authority *.example {ca}\n@revoked * {OTHER}\n"
        "odd line that is no entry\n"
        f"{name(server)} {server.host_public_key}\n"
    )
    assert openssh_accepts(server, known) and nixremote_accepts(server, known)
    # removing the host (no keys) keeps everything else
    record_known_host(known, server.host, server.port, [])
    assert (
        name(server) not in known.read_text() and "web1.example,WEB2.example" in known.read_text()
    )


def test_the_rewrite_holds_an_flock(tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    known.write_text(f"other.example {OTHER}\n")
    fd = os.open(known, os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)
    done = threading.Event()

    def record() -> None:
        record_known_host(known, "203.0.113.7", 22, [OTHER])
        done.set()

    thread = threading.Thread(target=record)
    thread.start()
    try:
        assert not done.wait(0.5)  # waits for the lock
        assert known.read_text() == f"other.example {OTHER}\n"
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
    thread.join(10)
    assert done.is_set()
    assert known.read_text().splitlines()[-1] == f"203.0.113.7 {OTHER}"


def _record_many(path: str, first: int) -> None:
    for i in range(first, first + 15):
        record_known_host(Path(path), f"198.51.100.{i}", 22, [OTHER])


def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_record_many, args=(str(known), n * 15)) for n in range(4)]
    started = time.monotonic()
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert time.monotonic() - started < 60
    hosts = {line.split()[0] for line in known.read_text().splitlines()}
    assert hosts == {f"198.51.100.{i}" for i in range(60)}
    assert stat.S_IMODE(known.stat().st_mode) == 0o600
