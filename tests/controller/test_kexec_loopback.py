"""The whole kexec phase of the pipeline on loopback, with a kexec test double.

The "rescue system" is a loopback sshd whose session PATH has a ``kexec`` test double (the real
kexec would replace this machine's kernel; it runs for real in the VM test). The double records
``kexec -l``; on ``kexec -e`` it does what booting the installer does for SSH: it stops the
rescue sshd, unpacks the appended archive from the loaded initrd and starts an "installer"
sshd on the same port with the archive's host key and authorized_keys. The pipeline must then
reconnect with strict checking against the key it generated, and record it.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers.bundles import make_bundle
from nixremote.controller import pipeline
from nixremote.core.cmdline import runtime_info_from_cmdline
from nixremote.core.converter import loads_runtime_info
from nixremote.core.progress import Event
from nixremote.testing.sshd import LoopbackSshd, find_sshd

KEXEC_DOUBLE = r"""#!/usr/bin/env python3
# kexec test double: records calls; "-e" swaps the rescue sshd for an installer sshd
import json, os, signal, subprocess, sys, time, zlib
from pathlib import Path

state = Path({state!r})
calls = state / "calls.jsonl"
with calls.open("a") as f:
    f.write(json.dumps(sys.argv[1:]) + "\n")
args = sys.argv[1:]
if args[0] == "-l":
    initrd = next(a.split("=", 1)[1] for a in args if a.startswith("--initrd="))
    st = os.stat(initrd)
    (state / "loaded-initrd-mode").write_text(oct(st.st_mode & 0o777))
    (state / "loaded-initrd").write_bytes(Path(initrd).read_bytes())
    sys.exit(0)
known = {known!r}
(state / "known-hosts-at-exec").write_text(Path(known).read_text())
if args[0] != "-e":
    sys.exit(2)
os.kill({rescue_pid}, signal.SIGTERM)
data = (state / "loaded-initrd").read_bytes()
members = []
while data:
    d = zlib.decompressobj(wbits=31)
    members.append(d.decompress(data))
    data = d.unused_data
root = state / "installer-root"
root.mkdir()
subprocess.run(["cpio", "-i", "-d", "--quiet"], input=members[-1], cwd=root, check=True)
config = state / "installer_sshd_config"
config.write_text("\n".join([
    "ListenAddress 127.0.0.1:{port}",
    f"HostKey {{root}}/ssh/ssh_host_ed25519_key",
    f"AuthorizedKeysFile {{root}}/ssh/authorized_keys",
    f"PidFile {{state}}/installer-sshd.pid",
    "PermitRootLogin prohibit-password", "PasswordAuthentication no", "UsePAM no",
    "StrictModes no", "LogLevel VERBOSE",
]) + "\n")
for _ in range(100):  # the port is free once the rescue sshd is gone
    if subprocess.run([{sshd!r}, "-f", str(config), "-E", str(state / "installer-sshd.log")]
                      ).returncode == 0:
        break
    time.sleep(0.1)
"""


@pytest.fixture
def rescue(tmp_path: Path) -> Iterator[tuple[LoopbackSshd, Path]]:
    state = tmp_path / "kexec-state"
    bin_dir = tmp_path / "bin"
    state.mkdir()
    bin_dir.mkdir()
    server = LoopbackSshd(
        tmp_path / "rescue", extra_config=[f"SetEnv PATH={bin_dir}:/usr/sbin:/usr/bin:/sbin:/bin"]
    )
    server.start()
    assert server._proc is not None
    (bin_dir / "kexec").write_text(
        KEXEC_DOUBLE.format(
            state=str(state),
            rescue_pid=server._proc.pid,
            port=server.port,
            sshd=find_sshd(),
            known=str(tmp_path / "known_hosts"),
        )
    )
    (bin_dir / "kexec").chmod(0o755)
    try:
        yield server, state
    finally:
        server.stop()
        pid_file = state / "installer-sshd.pid"
        if pid_file.exists():
            os.kill(int(pid_file.read_text().split()[0]), signal.SIGTERM)


def test_kexec_phase_reconnects_to_the_pinned_installer_key(
    rescue: tuple[LoopbackSshd, Path], tmp_path: Path, dev_dir: Path
) -> None:
    server, state = rescue
    known = tmp_path / "known_hosts"
    known.write_text(server.known_hosts.read_text())
    events: list[Event] = []
    remote = tmp_path / "remote"
    result = pipeline.install(
        pipeline.Target(
            host=server.host,
            user=server.user,
            port=server.port,
            identity_file=server.identity,
            known_hosts=known,
        ),
        pipeline.InstallOptions(
            bundle=make_bundle(tmp_path / "b"),
            phases=("kexec",),
            yes=True,
            remote_dir=str(remote),
            secret_dirs=(str(tmp_path / "not-tmpfs"), str(dev_dir / "kexec")),
            kexec_deadline=60,
        ),
        events.append,
    )
    calls = [json.loads(line) for line in (state / "calls.jsonl").read_text().splitlines()]
    assert [c[0] for c in calls] == ["-l", "-e"]
    load = calls[0]
    assert load[1] == f"{remote}/bzImage"
    # the archive and the combined initrd (the installer's private key) went to tmpfs, the
    # first candidate on tmpfs, in a 0700 directory, 0600, and are gone after the load
    secret = dev_dir / "kexec"
    assert load[2] == f"--initrd={secret}/initrd.combined"
    assert (state / "loaded-initrd-mode").read_text() == "0o600"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o700 and list(secret.iterdir()) == []
    assert not (tmp_path / "not-tmpfs").exists()
    assert sorted(p.name for p in remote.iterdir()) == ["bzImage", "initrd.gz"]
    # the installer's key was in the user's known_hosts when kexec -e ran
    at_exec = (state / "known-hosts-at-exec").read_text()
    cmdline = load[3].removeprefix("--append=")
    assert cmdline.startswith("init=/nix/store/")
    info = runtime_info_from_cmdline(cmdline)
    assert info is not None and result.runtime_info == info
    # the loaded initrd was the bundle's with the handoff archive appended
    loaded = (state / "loaded-initrd").read_bytes()
    assert loaded.startswith((tmp_path / "b" / "initrd.gz").read_bytes())
    assert not (remote / "initrd.combined").exists()
    # the installer answered with the generated key, and only that key was accepted
    served = (state / "installer-root" / "ssh" / "ssh_host_ed25519_key.pub").read_text()
    fp = subprocess.run(
        [
            "ssh-keygen",
            "-l",
            "-E",
            "sha256",
            "-f",
            str(state / "installer-root/ssh/ssh_host_ed25519_key.pub"),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()[1]
    assert result.installer_fingerprint == fp
    assert f"[{server.host}]:{server.port} {' '.join(served.split()[:2])}" in at_exec.splitlines()
    lines = known.read_text().splitlines()
    assert f"[{server.host}]:{server.port} {' '.join(served.split()[:2])}" in lines
    assert server.host_public_key not in known.read_text()  # the rescue key is replaced
    assert any(
        e.kind == "done"
        and e.message.startswith("the installer on")
        and "answers over SSH" in e.message
        for e in events
    )
    assert "Accepted publickey" in (state / "installer-sshd.log").read_text()
    # the archive carried the full runtime info and the old system's ip --json dumps
    root = state / "installer-root"
    assert loads_runtime_info((root / "runtime-info.json").read_text()) == info
    addrs = json.loads((root / "addrs.json").read_text())
    assert any(a.get("ifname") == "lo" for a in addrs)
    assert isinstance(json.loads((root / "iproute2" / "routes-v4.json").read_text()), list)
    assert result.uploaded_bytes > 0

    # a later run (--phases format,install) connects to the installer strictly through the
    # user's known_hosts, where the kexec phase recorded the installer's key
    target = pipeline.Target(
        host=server.host,
        user=server.user,
        port=server.port,
        identity_file=server.identity,
        known_hosts=known,
    )
    transport = pipeline.ssh_connector(target, known_hosts=known, policy="strict", port=server.port)
    try:
        assert transport.run(["echo", "verified"]).text.strip() == "verified"
    finally:
        transport.close()
