"""The installer's phases driven from the controller (:mod:`nixremote.controller.drive`): the
host keys the installer reports go into the user's known_hosts, each when it is safe to."""

from __future__ import annotations

import subprocess
from pathlib import Path

from nixremote.controller.drive import record_host_keys
from nixremote.controller.keypair import generate_host_key
from nixremote.controller.run import InstallOptions, Run
from nixremote.controller.target import Target, ssh_connector
from nixremote.core.hostkeys import HostKey, host_keys_data


def test_installer_host_keys_go_into_known_hosts(tmp_path: Path) -> None:
    host = generate_host_key()
    initrd = generate_host_key()
    known = tmp_path / "known_hosts"
    known.write_text(
        "203.0.113.7 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOldOldOldOldOldOldOldOld"
        "OldOldOldOldOldOld\nother.example ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKeep"
        "KeepKeepKeepKeepKeepKeepKeepKeepKeepKeep\n"
    )
    data = host_keys_data(
        [
            HostKey(
                role="host",
                type="ed25519",
                public=host.known_hosts_key,
                fingerprint=host.fingerprint,
                port=22,
            ),
            HostKey(
                role="initrd",
                type="ed25519",
                public=initrd.known_hosts_key,
                fingerprint=initrd.fingerprint,
                port=2222,
            ),
        ]
    )
    run = Run(Target(host="203.0.113.7", known_hosts=known), InstallOptions(), None, ssh_connector)
    try:
        # Without the reboot phase the installer keeps answering on port 22: only the initrd's
        # key (its own port) is recorded, the installer's key stays for a verified rerun.
        record_host_keys(run, data, rebooting=False)
        lines = known.read_text().splitlines()
        assert any("Old" in line for line in lines)
        assert f"[203.0.113.7]:2222 {initrd.known_hosts_key}" in lines
        assert f"203.0.113.7 {host.known_hosts_key}" not in lines
        record_host_keys(run, data, rebooting=True)
    finally:
        run.close()
    lines = known.read_text().splitlines()
    assert f"203.0.113.7 {host.known_hosts_key}" in lines
    assert f"[203.0.113.7]:2222 {initrd.known_hosts_key}" in lines
    assert not any("Old" in line for line in lines)  # the rescue system's key is replaced
    assert any(line.startswith("other.example") for line in lines)
    assert {k.fingerprint for k in run.host_keys} == {host.fingerprint, initrd.fingerprint}
    # ssh-keygen reads the file and finds the host under both names
    for name in ("203.0.113.7", "[203.0.113.7]:2222"):
        found = subprocess.run(
            ["ssh-keygen", "-F", name, "-f", str(known)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert found.returncode == 0, name
