"""The whole kexec phase of the pipeline on loopback, with a kexec test double.

The "rescue system" (the ``rescue`` fixture, ``helpers.rescue``) is a loopback sshd whose session
PATH has a ``kexec`` test double (the real
kexec would replace this machine's kernel; it runs for real in the VM test). The double records
``kexec -l``; on ``kexec -e`` it does what booting the installer does for SSH: it stops the
rescue sshd, unpacks the appended archive from the loaded initrd and starts an "installer"
sshd on the same port with the archive's host key and authorized_keys. The pipeline must then
reconnect with strict checking against the key it generated, and record it.
"""

from __future__ import annotations

import json
import stat
import subprocess
from pathlib import Path

from helpers.bundles import make_bundle
from nixremote.controller import pipeline
from nixremote.core.cmdline import runtime_info_from_cmdline
from nixremote.core.converter import loads_runtime_info
from nixremote.core.progress import Event
from nixremote.testing.sshd import LoopbackSshd


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
    # beside the rescue system's key: a failed kexec leaves the way back verified
    assert f"[{server.host}]:{server.port} {' '.join(server.host_public_key.split()[:2])}" in lines
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
