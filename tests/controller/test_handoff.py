"""The handoff archive (newc cpio written in Python) read by GNU cpio, and the kexec steps on
the target through the loopback sshd (with a kexec test double: the real one would replace this
machine's kernel; the real kexec runs in the VM test)."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import time
import zlib
from pathlib import Path

import pytest

from helpers.bundles import real_initrd
from helpers.sample_hosts import big_host
from helpers.ssh import open_ssh
from nixremote.controller import handoff
from nixremote.controller.keypair import generate_host_key
from nixremote.controller.known_hosts import record_known_host
from nixremote.controller.ssh import SshTransport
from nixremote.core.converter import loads_runtime_info
from nixremote.core.errors import TransportError
from nixremote.testing.sshd import LoopbackSshd

EXPECTED_MODES = {
    "ssh": 0o040755,
    "ssh/ssh_host_ed25519_key": 0o100600,
    "ssh/ssh_host_ed25519_key.pub": 0o100644,
    "ssh/authorized_keys": 0o100600,
    "runtime-info.json": 0o100644,
    "addrs.json": 0o100644,
    "routes-v4.json": 0o100644,
    "routes-v6.json": 0o100644,
    "iproute2": 0o040755,
    "iproute2/addrs.json": 0o100644,
    "iproute2/routes-v4.json": 0o100644,
    "iproute2/routes-v6.json": 0o100644,
    "nixremote": 0o040755,
    "nixremote/nixremote.pyz": 0o100644,
}


def gzip_members(data: bytes) -> list[bytes]:
    """The decompressed members of concatenated gzip streams (as the kernel reads them)."""
    out = []
    while data:
        d = zlib.decompressobj(wbits=31)
        out.append(d.decompress(data))
        assert d.eof
        data = d.unused_data
    return out


@pytest.fixture
def archive_parts(tmp_path: Path) -> dict[str, object]:
    key = generate_host_key("nixremote-installer")
    info = big_host(nics=2, disks=2)
    zipapp = os.urandom(5000)
    entries = handoff.archive_entries(
        host_key=key,
        authorized_keys=[*info.root_authorized_keys, info.root_authorized_keys[0]],
        info=info,
        network=handoff.NetworkDump(addrs='[{"ifname": "eth0"}]', routes_v4="[]", routes_v6=""),
        zipapp=zipapp,
    )
    return {"key": key, "info": info, "zipapp": zipapp, "archive": handoff.build_archive(entries)}


def test_archive_is_deterministic(archive_parts: dict[str, object]) -> None:
    key, info, zipapp = archive_parts["key"], archive_parts["info"], archive_parts["zipapp"]
    again = handoff.build_archive(
        handoff.archive_entries(
            host_key=key,
            authorized_keys=[*info.root_authorized_keys],
            info=info,  # type: ignore
            network=handoff.NetworkDump(addrs='[{"ifname": "eth0"}]', routes_v4="[]", routes_v6=""),
            zipapp=zipapp,
        )
    )  # type: ignore[arg-type]
    assert again == archive_parts["archive"]


def test_gnu_cpio_lists_and_unpacks_the_archive(
    tmp_path: Path, archive_parts: dict[str, object]
) -> None:
    archive = archive_parts["archive"]
    assert isinstance(archive, bytes)
    raw = gzip.decompress(archive)
    listing = (
        subprocess.run(["cpio", "-t", "--quiet"], input=raw, capture_output=True, check=True)
        .stdout.decode()
        .split()
    )
    assert sorted(listing) == sorted(EXPECTED_MODES)
    verbose = subprocess.run(
        ["cpio", "-tv", "--quiet"], input=raw, capture_output=True, check=True
    ).stdout.decode()
    assert "root" in verbose  # owner root:root
    out = tmp_path / "unpacked"
    out.mkdir()
    subprocess.run(
        ["cpio", "-i", "-d", "--quiet", "--no-absolute-filenames"], input=raw, cwd=out, check=True
    )
    for name, mode in EXPECTED_MODES.items():
        assert os.lstat(out / name).st_mode == mode, name
    key = archive_parts["key"]
    assert (out / "ssh/ssh_host_ed25519_key").read_text() == key.private_openssh  # type: ignore
    assert (out / "ssh/ssh_host_ed25519_key.pub").read_text().split()[
        :2
    ] == key.public_openssh.split()[:2]  # type: ignore[attr-defined]
    # ssh-keygen accepts the private key and derives the same public key
    derived = subprocess.run(
        ["ssh-keygen", "-y", "-f", str(out / "ssh/ssh_host_ed25519_key")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert derived.split()[:2] == key.public_openssh.split()[:2]  # type: ignore[attr-defined]
    keys = (out / "ssh/authorized_keys").read_text().splitlines()
    assert keys == list(archive_parts["info"].root_authorized_keys)  # type: ignore  # deduped
    assert loads_runtime_info((out / "runtime-info.json").read_text()) == archive_parts["info"]
    assert json.loads((out / "addrs.json").read_text()) == [{"ifname": "eth0"}]
    assert json.loads((out / "routes-v6.json").read_text()) == []
    assert (out / "nixremote/nixremote.pyz").read_bytes() == archive_parts["zipapp"]


def test_appended_after_a_bundle_initrd(tmp_path: Path, archive_parts: dict[str, object]) -> None:
    base = tmp_path / "initrd.gz"
    base_raw = real_initrd(base, {"init": b"#!/bin/sh\n", "etc/ssh/x": b"1"})
    combined = base.read_bytes() + archive_parts["archive"]  # type: ignore[operator]
    first, second = gzip_members(combined)
    assert first == base_raw
    names = (
        subprocess.run(["cpio", "-t", "--quiet"], input=second, capture_output=True, check=True)
        .stdout.decode()
        .split()
    )
    assert "ssh/ssh_host_ed25519_key" in names


KEXEC_DOUBLE = """#!/bin/sh
# test double of kexec: records its calls (the real kexec would replace this machine's kernel)
log={log}
printf '%s\\n' "$*" >> "$log"
for a in "$@"; do
  case "$a" in --initrd=*) cp "${{a#--initrd=}}" {copy} ;; esac
done
exit 0
"""


def test_load_and_exec_on_the_target(
    tmp_path: Path, ssh: SshTransport, archive_parts: dict[str, object]
) -> None:
    remote = tmp_path / "remote"
    remote.mkdir()
    log = tmp_path / "kexec.log"
    copy = tmp_path / "loaded-initrd"
    double = tmp_path / "kexec"
    double.write_text(KEXEC_DOUBLE.format(log=log, copy=copy))
    double.chmod(0o755)
    (remote / "bzImage").write_bytes(b"kernel")
    real_initrd(remote / "initrd.gz", {"init": b"x"})
    archive = archive_parts["archive"]
    (remote / "handoff.cpio.gz").write_bytes(archive)  # type: ignore[arg-type]
    line = "init=/nix/store/x/init nixremote.info=z1.abc"
    pinned: list[list[str]] = []
    started = time.monotonic()
    handoff.load_and_exec(
        ssh,
        kexec=str(double),
        kernel=str(remote / "bzImage"),
        initrd=str(remote / "initrd.gz"),
        archive=str(remote / "handoff.cpio.gz"),
        combined=str(remote / "initrd.combined"),
        cmdline=line,
        delay=1.0,
        before_exec=lambda: pinned.append(log.read_text().splitlines()),
    )
    returned = time.monotonic() - started
    calls = log.read_text().splitlines()
    assert calls == [f"-l {remote}/bzImage --initrd={remote}/initrd.combined --append={line}"]
    assert copy.read_bytes() == (remote / "initrd.gz").read_bytes() + archive  # type: ignore[operator]
    # the combined initrd and the archive (the installer's private key) are gone once loaded
    assert not (remote / "initrd.combined").exists()
    assert not (remote / "handoff.cpio.gz").exists()
    assert (remote / "initrd.gz").exists()
    # the pin ran after the load and before kexec -e
    assert pinned == [calls]
    # kexec -e runs detached, after the command returned
    assert returned < 5
    deadline = time.monotonic() + 10
    while len(log.read_text().splitlines()) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert log.read_text().splitlines()[1] == "-e"


def test_wait_for_installer_checks_the_generated_key(
    tmp_path: Path, loopback_sshd: LoopbackSshd
) -> None:
    from nixremote.controller.ssh import connect

    wrong = generate_host_key()
    pinned = tmp_path / "kh"
    record_known_host(pinned, loopback_sshd.host, loopback_sshd.port, [wrong.public_openssh])

    def connect_pinned(path: Path) -> SshTransport:
        return connect(
            loopback_sshd.host,
            user=loopback_sshd.user,
            port=loopback_sshd.port,
            identity_file=loopback_sshd.identity,
            known_hosts=path,
        )

    start = time.monotonic()
    with pytest.raises(TransportError, match="console") as err:
        handoff.wait_for_installer(
            lambda: connect_pinned(pinned), deadline=start + 2, host="127.0.0.1", interval=0.5
        )
    assert "host key" in str(err.value)
    good = handoff.wait_for_installer(
        lambda: connect_pinned(loopback_sshd.known_hosts),
        deadline=time.monotonic() + 5,
        host="127.0.0.1",
    )
    try:
        assert good.run(["echo", "ok"]).text.strip() == "ok"
    finally:
        good.close()


def test_find_python_and_which(ssh: SshTransport) -> None:
    python = handoff.find_python(ssh, "no-such-python")
    out = ssh.run([python, "-c", "import sys; print(sys.version_info >= (3, 11))"]).text
    assert out.strip() == "True"
    assert handoff.which(ssh, "no-such-tool", "sh") is not None
    assert handoff.which(ssh, "no-such-tool") is None


def test_ensure_kexec_installs_with_the_package_manager(
    tmp_path: Path, loopback_sshd: LoopbackSshd
) -> None:
    """With no kexec on PATH, the package manager found there is asked for kexec-tools.

    ``apt-get`` here is a test double on the session's PATH (the real one would reach Debian's
    mirrors): it records its argv and puts a ``kexec`` beside itself.
    """
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    record = tmp_path / "apt.log"
    (bin_dir / "apt-get").write_text(
        f"#!/bin/sh\nprintf '%s\\n' \"$*\" >> {record}\n"
        f"case \"$1\" in install) printf '#!/bin/sh\\n' > {bin_dir}/kexec; "
        f"chmod 755 {bin_dir}/kexec ;; esac\n"
    )
    (bin_dir / "apt-get").chmod(0o755)
    server = LoopbackSshd(tmp_path / "sshd2", extra_config=[f"SetEnv PATH={bin_dir}:/bin"])
    with server:
        transport = open_ssh(server)
        try:
            assert handoff.which(transport, "kexec") is None
            path = handoff.ensure_kexec(transport)
        finally:
            transport.close()
    assert path == f"{bin_dir}/kexec"
    assert record.read_text().splitlines() == ["update -q", "install -y -q kexec-tools"]
