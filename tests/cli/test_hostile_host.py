"""A host that lies: its facts are refused by every reader before anything changes.

The "host" is a loopback sshd whose commands find first an ``ip`` that reports an interface
named ``eth0;reboot`` (what a compromised rescue system could say; the probe puts the system's
directories first on PATH, so a ForceCommand puts ours before them). ``nixremote info`` and
``nixremote install --dry-run`` both stop with one line naming the value; the install uploads
nothing. The same bad value in a runtime-info.json or a plan.json is refused by ``runtime-info
check``, ``disk plan`` and the installer (``installer run``), each with exit code 2.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import attrs
import pytest

from helpers.bundles import make_bundle
from helpers.diskplans import INFO
from helpers.keys import KEYS
from nixremote.controller.collect import runtime_info_from_facts
from nixremote.core.converter import dumps_plan, runtime_info_to_json_data
from nixremote.core.errors import InvalidInputError
from nixremote.core.facts import Facts
from nixremote.core.layout import default_layout
from nixremote.core.plan import build_plan
from nixremote.testing.sshd import LoopbackSshd

HOSTILE_IP = """#!/bin/sh
case "$*" in
  *addr*) echo '[{"ifindex":2,"ifname":"eth0;reboot","address":"52:54:00:12:34:56",
"link_type":"ether","flags":["UP"],"addr_info":[{"family":"inet","local":"203.0.113.5",
"prefixlen":24,"scope":"global"}]}]' ;;
  *) echo '[]' ;;
esac
"""


FORCE = """#!/bin/sh
path='PATH="/usr/local/sbin:'
cmd=$(printf '%s' "$SSH_ORIGINAL_COMMAND" | sed "s#$path#PATH=\\"{bin}:/usr/local/sbin:#")
exec /bin/sh -c "$cmd"
"""


@pytest.fixture
def lying_host(tmp_path: Path) -> Iterator[LoopbackSshd]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "ip").write_text(HOSTILE_IP)
    (bin_dir / "ip").chmod(0o755)
    force = tmp_path / "force"
    force.write_text(FORCE.format(bin=bin_dir))
    force.chmod(0o755)
    server = LoopbackSshd(tmp_path / "sshd", extra_config=[f"ForceCommand {force}"])
    server.start()
    try:
        yield server
    finally:
        server.stop()


def nixremote(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nixremote.cli.main", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "HOME": str(home)},
        stdin=subprocess.DEVNULL,
        timeout=120,
        check=False,
    )


def ssh_args(server: LoopbackSshd) -> list[str]:
    return [
        f"{server.user}@{server.host}",
        "-p",
        str(server.port),
        "-i",
        str(server.identity),
        "--known-hosts",
        str(server.known_hosts),
    ]


def test_info_and_install_refuse_the_lying_host(lying_host: LoopbackSshd, tmp_path: Path) -> None:
    info = nixremote("info", *ssh_args(lying_host), home=tmp_path)
    assert info.returncode == 2, info.stderr
    errors = [line for line in info.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "interface name 'eth0;reboot'" in errors[0]
    assert "Traceback" not in info.stderr and info.stdout == ""
    remote = tmp_path / "remote"
    install = nixremote(
        "install",
        *ssh_args(lying_host),
        "--bundle",
        str(make_bundle(tmp_path / "b")),
        "--dry-run",
        home=tmp_path,
    )
    assert install.returncode == 2, install.stderr
    assert "interface name 'eth0;reboot'" in install.stderr
    assert "Traceback" not in install.stderr
    assert not remote.exists() and not Path("/root/nixremote-kexec").exists()
    # info's probe, install's where-is-the-host probe and its collect probe; nothing else ran
    time.sleep(0.3)  # sshd's log lags the client a little
    assert lying_host.sessions_started() == 3


Write = Callable[[dict[str, object]], Path]


@pytest.fixture
def bad_file(tmp_path: Path) -> Write:
    def write(data: dict[str, object]) -> Path:
        path = tmp_path / "bad.json"
        path.write_text(json.dumps(data))
        return path

    return write


@pytest.mark.parametrize(
    ("field", "value", "path"),
    [
        ("hostName", "a.$(reboot)", "$.hostName"),
        ("diskToFormat", "--zap-all", "$.diskToFormat"),
        ("nameservers", ["1.1.1.1\nnameserver 6.6.6.6"], "$.nameservers[0]"),
        ("rootAuthorizedKeys", [f"{KEYS[0]}\n{KEYS[1]}"], "$.rootAuthorizedKeys[0]"),
    ],
)
def test_every_reader_refuses_the_same_runtime_info(
    bad_file: Write, tmp_path: Path, field: str, value: object, path: str
) -> None:
    data = runtime_info_to_json_data(INFO)
    data[field] = value
    file = bad_file(data)
    for args in (
        ["runtime-info", "check", str(file)],
        ["disk", "plan", str(file)],
        ["installer", "run", "--runtime-info", str(file), "--dry-run", "--yes"],
    ):
        proc = nixremote(*args, home=tmp_path)
        assert proc.returncode == 2, (args, proc.stderr)
        errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and path in errors[0], (args, proc.stderr)
    # the installer reads a plan with the same value the same way
    plan = json.loads(dumps_plan(build_plan(INFO, default_layout(INFO))))
    plan["runtimeInfo"][field] = value
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(json.dumps(plan))
    proc = nixremote("installer", "run", "--plan", str(plan_file), "--dry-run", home=tmp_path)
    assert proc.returncode == 2
    assert f"$.runtimeInfo.{path[2:]}" in proc.stderr


def test_collect_refuses_or_cleans_what_the_facts_say(
    caplog: pytest.LogCaptureFixture, dev_dir: Path
) -> None:
    keys = "\n".join(
        [
            "# root's keys",
            f"command=\"echo 'Please login as ubuntu'\",no-pty {KEYS[0]} cloud",
            "ssh-ed25519 AAAA!!! broken",
            f"{KEYS[1]} admin",
        ]
    )
    disk = json.dumps(
        {"blockdevices": [{"name": "vda", "path": "/dev/vda", "type": "disk", "size": 10**10}]}
    )
    by_id = "/dev/disk/by-id/virtio-a b -> ../../vda\n/dev/disk/by-id/virtio-ok -> ../../vda\n"
    with caplog.at_level(logging.WARNING):
        info = runtime_info_from_facts(
            Facts(
                sections={"authorized-keys": keys, "lsblk": disk, "disk-by-id": by_id},
                source="h",
            )
        )
    assert info.root_authorized_keys == (f"{KEYS[0]} cloud", f"{KEYS[1]} admin")
    text = caplog.text
    assert "removed the options command=\"echo 'Please login as ubuntu'\",no-pty" in text
    assert "leaving out a line of root's authorized_keys" in text
    with pytest.raises(InvalidInputError, match=r"interface name 'eth0;reboot'") as err:
        runtime_info_from_facts(
            Facts(
                sections={"ip-addr": '[{"ifname": "eth0;reboot", "address": "52:54:00:12:34:56"}]'},
                source="h",
            )
        )
    assert err.value.hint and "stricter than the kernel" in err.value.hint


def test_the_installer_refuses_a_plan_without_keys(tmp_path: Path) -> None:
    """A plan for the disks alone (no key) is not one to install a system with."""
    keyless = attrs.evolve(INFO, root_authorized_keys=())
    plan = build_plan(keyless, default_layout(keyless), require_authorized_keys=False)
    path = tmp_path / "plan.json"
    path.write_text(dumps_plan(plan))
    proc = nixremote("installer", "run", "--plan", str(path), "--dry-run", home=tmp_path)
    assert proc.returncode == 1
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "would trust no SSH key" in errors[0]
    proc = nixremote(
        "installer", "run", "--plan", str(path), "--phases", "format", "--dry-run", home=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
