"""Upload over the loopback sshd: skip-if-present, resume of an interrupted upload."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

from helpers.ssh import open_ssh
from nixremote.controller.ssh import SshTransport
from nixremote.controller.upload import UploadItem, parse_stat, upload
from nixremote.core.errors import TransportError
from nixremote.core.progress import Event
from nixremote.testing.sshd import LoopbackSshd

MIB = 1024 * 1024


def settled_size(*paths: Path) -> int:
    """The size of the first existing path once the server side stopped writing to it."""
    last, stable = -1, 0
    deadline = time.monotonic() + 20
    while stable < 5 and time.monotonic() < deadline:
        path = next((p for p in paths if p.exists()), None)
        size = path.stat().st_size if path else -1
        stable = stable + 1 if size == last else 0
        last = size
        time.sleep(0.1)
    return last


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def files(tmp_path: Path) -> list[UploadItem]:
    local = tmp_path / "local"
    local.mkdir()
    (local / "bzImage").write_bytes(os.urandom(3 * MIB + 17))
    (local / "initrd.gz").write_bytes(os.urandom(5 * MIB + 3))
    remote = tmp_path / "remote" / "kexec"  # created by the upload
    return [
        UploadItem(local=local / "bzImage", remote=str(remote / "bzImage")),
        UploadItem(local=local / "initrd.gz", remote=str(remote / "initrd.gz"), mode=0o600),
    ]


def test_second_run_transfers_nothing(
    ssh: SshTransport, loopback_sshd: LoopbackSshd, files: list[UploadItem]
) -> None:
    events: list[Event] = []
    first = upload(ssh, files, reporter=events.append)
    total = sum(it.local.stat().st_size for it in files)
    assert first.transferred_bytes == total
    assert first.uploaded == tuple(it.remote for it in files)
    for it in files:
        assert sha(Path(it.remote)) == sha(it.local)
        assert Path(it.remote).stat().st_mode & 0o777 == it.mode
    progress = [e for e in events if e.kind == "progress"]
    assert progress and progress[-1].current == total and progress[-1].total == total

    before = loopback_sshd.sessions_started()
    second = upload(ssh, files)
    assert second.transferred_bytes == 0
    assert second.skipped == tuple(it.remote for it in files)
    assert loopback_sshd.sessions_started() - before == 1  # one sha256sum exec for all files


def test_interrupted_upload_resumes(loopback_sshd: LoopbackSshd, files: list[UploadItem]) -> None:
    transport = open_ssh(loopback_sshd)
    big = files[1]
    size = big.local.stat().st_size

    def cut(event: Event) -> None:
        # the connection dies in the middle of the second file
        if (
            event.kind == "progress"
            and "initrd" in event.message
            and event.current
            and event.current > files[0].local.stat().st_size + 2 * MIB
        ):
            transport.close()

    with pytest.raises(TransportError):
        upload(transport, files, reporter=cut)
    transport.close()
    part = Path(big.remote + ".part")
    final = Path(big.remote)
    have = settled_size(part, final)
    assert 0 < have < size, "the interruption left a partial file"
    assert sha(Path(files[0].remote)) == sha(files[0].local)

    again = open_ssh(loopback_sshd)
    try:
        result = upload(again, files)
    finally:
        again.close()
    assert result.skipped == (files[0].remote,)
    assert result.resumed == (big.remote,)
    assert result.transferred_bytes == size - have
    assert sha(final) == sha(big.local)
    assert not part.exists()
    assert final.stat().st_mode & 0o777 == 0o600


def test_a_foreign_partial_file_is_replaced(ssh: SshTransport, files: list[UploadItem]) -> None:
    big = files[1]
    Path(big.remote).parent.mkdir(parents=True)
    Path(big.remote + ".part").write_bytes(b"not the prefix of the file" * 1000)
    result = upload(ssh, [big])
    assert result.resumed == ()
    assert result.uploaded == (big.remote,)
    assert result.transferred_bytes == big.local.stat().st_size
    assert sha(Path(big.remote)) == sha(big.local)


def test_parse_stat() -> None:
    digest = "a" * 64
    text = f"12 {digest} /root/x\n- - /root/x.part\n- - /root/with space\n"
    state = parse_stat(text)
    assert state["/root/x"].size == 12 and state["/root/x"].sha256 == digest
    assert state["/root/x.part"].size is None
    assert "/root/with space" in state
