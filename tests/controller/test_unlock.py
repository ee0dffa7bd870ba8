"""``nixremote unlock`` against loopback sshds playing an initrd and the booted system.

The "initrd" is a real OpenSSH sshd in a PID namespace of its own whose PATH has a ``zfs`` test
double (this machine has no ZFS): it keeps a key status, checks the passphrase it reads on
stdin, records its argv; a process named ``zfs`` waits the way stage 1's ``zfs load-key -a``
waits on the console. Everything else is real: SSH, strict host keys, the /proc it reads.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from nixremote.controller.target import Target, ssh_connector
from nixremote.controller.unlock import UnlockRefusedError, UnlockStageError, unlock
from nixremote.core.diskkey import DiskKey
from nixremote.core.errors import HostKeyError
from nixremote.core.progress import Event
from nixremote.testing.sshd import LoopbackSshd, keygen

PASSPHRASE = b"correct horse battery staple"

ZFS = r"""#!/bin/sh
# zfs test double: keystatus and load-key of one pool; argv recorded, passphrase checked
echo "$*" >> "$STATE/argv"
case "$1 $2" in
  "get -H") cat "$STATE/keystatus" ;;
  "load-key "*)
    IFS= read -r given
    if [ "$given" = "$(cat "$STATE/expected")" ]; then echo available > "$STATE/keystatus"
    else echo "Key load error: Incorrect key provided for '$2'." >&2; exit 255; fi ;;
  *) exit 1 ;;
esac
"""


@pytest.fixture
def initrd(tmp_path: Path) -> Iterator[tuple[LoopbackSshd, Path]]:
    state = tmp_path / "state"
    bin_dir = tmp_path / "bin"
    state.mkdir()
    bin_dir.mkdir()
    (state / "keystatus").write_text("unavailable\n")
    (state / "expected").write_text(PASSPHRASE.decode() + "\n")
    (bin_dir / "zfs").write_text(ZFS)
    (bin_dir / "zfs").chmod(0o755)
    waiter = tmp_path / "waiter" / "zfs"  # a process named zfs that waits, like stage 1's
    waiter.parent.mkdir()
    waiter.write_bytes(Path("/bin/sleep").read_bytes())
    waiter.chmod(0o755)
    server = LoopbackSshd(
        tmp_path / "initrd",
        prefix=["unshare", "--pid", "--fork", "--mount-proc"],
        setup=f"{waiter} 3600 &",
        extra_config=[f"SetEnv PATH={bin_dir}:/usr/sbin:/usr/bin:/sbin:/bin STATE={state}"],
    ).start()
    try:
        yield server, state
    finally:
        server.stop()


def connector(server: LoopbackSshd, known_hosts: Path | None = None) -> Callable[[], object]:
    target = Target(
        host=server.host,
        user=server.user,
        port=server.port,
        identity_file=server.identity,
        connect_timeout=5,
    )
    return lambda: ssh_connector(
        target, known_hosts=known_hosts or server.known_hosts, policy="strict", port=server.port
    )


def waiting(server: LoopbackSshd) -> bool:
    found = subprocess.run(server.ssh_argv("pgrep", "-x", "zfs"), capture_output=True)
    return found.returncode == 0


def test_a_wrong_passphrase_then_the_right_one(initrd, sshd) -> None:  # type: ignore[no-untyped-def]
    server, state = initrd
    system = sshd()
    events: list[Event] = []
    with pytest.raises(UnlockRefusedError, match="rpool refused the passphrase") as caught:
        unlock(
            connector(server),
            None,
            DiskKey.from_bytes(b"not the passphrase"),
            host="web1",
            wait=30,
            interval=0.2,
            reporter=events.append,
        )
    assert "\n" not in str(caught.value) and "run nixremote unlock again" in str(caught.value)
    assert (state / "keystatus").read_text().strip() == "unavailable"
    assert waiting(server)  # the initrd still waits: a retry is possible
    result = unlock(
        connector(server),
        connector(system),
        DiskKey.from_bytes(PASSPHRASE),
        host="web1",
        wait=30,
        interval=0.2,
        reporter=events.append,
    )
    assert result.flavor == "scripted" and result.unlocked
    assert 0 <= result.initrd_seconds <= result.unlock_seconds <= result.system_seconds
    assert (state / "keystatus").read_text().strip() == "available"
    assert not waiting(server)  # stage 1's waiting zfs was ended, so the boot goes on
    # the passphrase reached zfs on stdin only: not in any argv, event or log
    assert (state / "argv").read_text().count("load-key rpool") == 2
    for text in (
        (state / "argv").read_text(),
        server.log_text(),
        json.dumps([e.to_json() for e in events]),
    ):
        assert PASSPHRASE.decode() not in text and "not the passphrase" not in text
    # once unlocked, a second run does nothing to the pool and says so
    again = unlock(
        connector(server), None, DiskKey.from_bytes(PASSPHRASE), host="web1", wait=30, interval=0.2
    )
    assert not again.unlocked


def test_a_changed_initrd_key_gets_no_passphrase(initrd, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    server, state = initrd
    other = keygen(tmp_path / "other_key")
    stale = tmp_path / "known_hosts"
    pub = Path(f"{other}.pub").read_text().split()
    stale.write_text(f"[{server.host}]:{server.port} {pub[0]} {pub[1]}\n")
    before = server.exec_sessions()
    with pytest.raises(HostKeyError, match="CHANGED"):
        unlock(
            connector(server, stale),
            None,
            DiskKey.from_bytes(PASSPHRASE),
            host="web1",
            wait=30,
            interval=0.2,
        )
    time.sleep(0.3)
    assert server.exec_sessions() == before  # not even a command: the passphrase never left
    assert not (state / "argv").exists()
    assert (state / "keystatus").read_text().strip() == "unavailable"


def test_each_stage_that_does_not_come_is_named(initrd, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    server, _state = initrd
    closed = Target(
        host="127.0.0.1", user="root", port=1, identity_file=server.identity, connect_timeout=2
    )

    def nothing() -> object:
        return ssh_connector(closed, known_hosts=server.known_hosts, policy="strict", port=1)

    with pytest.raises(UnlockStageError) as caught:
        unlock(nothing, None, DiskKey.from_bytes(PASSPHRASE), host="web1", wait=1, interval=0.2)
    assert caught.value.stage == "initrd SSH" and "console" in (caught.value.hint or "")
    with pytest.raises(UnlockStageError) as caught:
        unlock(
            connector(server),
            nothing,
            DiskKey.from_bytes(PASSPHRASE),
            host="web1",
            wait=2,
            interval=0.2,
        )
    assert caught.value.stage == "system SSH"
    assert "was unlocked but its system does not answer" in caught.value.message


def test_the_command_line(initrd, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    server, state = initrd
    key = tmp_path / "key"
    key.write_bytes(PASSPHRASE + b"\n")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "nixremote.cli.main",
            "unlock",
            f"root@{server.host}",
            "-p",
            str(server.port),
            "-i",
            str(server.identity),
            "--known-hosts",
            str(server.known_hosts),
            "--disk-key-file",
            str(key),
            "--no-system",
            "--json",
            "--wait",
            "30",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stderr
    final = json.loads(proc.stdout.splitlines()[-1])
    assert final["kind"] == "result"
    assert final["data"]["unlocked"] is True and final["data"]["initrd"] == "scripted"
    assert (state / "keystatus").read_text().strip() == "available"
    assert PASSPHRASE.decode() not in proc.stdout + proc.stderr
