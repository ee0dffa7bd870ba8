"""A nixos-anywhere user's habits on the VM: their own flake, extra files, a bundle the target
downloads itself.

One rescue VM (QEMU user network, ``restrict=on``) whose guest reaches a loopback HTTP server on
this machine through ``guestfwd`` at 10.0.2.100:80 (:class:`RescueVm` ``http_forward``). The
server serves the test installer bundle's kernel and initrd; ``nixremote kexec url-bundle``
makes the URL bundle. First a bundle with a wrong sha256 is refused before ``kexec -l``, the
rescue system running on; then a fleet from ``nixremote fleet init`` gets the host through
``plan --flake FLEET#web1 --extra-files TREE``, and ``install --plan`` runs it: the target
fetches the bundle, the controller sends only the handoff archive and the trees, the installer
copies the fleet and the extra files and runs ``nixos-install --flake`` on the fleet's copy (the
image's stand-in records its argv). The plan and the install log in as ``admin`` with
``--sudo`` (a password sudo asks for, given in ``NIXREMOTE_SUDO_PASSWORD``); the installer is
then reached as root.

The tests share the VM and run in file order.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from helpers.httpserve import serve
from helpers.nixremote_cli import events
from nixremote.testing.vm import RescueVm, VmArtifacts, sampled_argv

pytestmark = pytest.mark.vm

MIB = 1024 * 1024
SUDO_USER = "admin"
PASSWORD = "sudo pw " + secrets.token_hex(6)

ADD_SUDO_USER = r"""set -e
echo "admin:x:1001:1001:admin:/home/admin:/bin/sh" >> /etc/passwd
echo "admin:x:1001:" >> /etc/group
echo "admin:$1:19000:0:99999:7:::" >> /etc/shadow
mkdir -p /home/admin/.ssh
cat > /home/admin/.ssh/authorized_keys
chown -R 1001:1001 /home/admin
chmod 700 /home/admin/.ssh
echo "admin ALL=(ALL:ALL) ALL" > /etc/sudoers.d/admin
chmod 440 /etc/sudoers.d/admin
"""
"""Run as root on the rescue system: the user ``admin`` whose sudo wants its password (as a
cloud image's ``admin``/``ubuntu`` login), let in with the VM's client key."""


@pytest.fixture(scope="module")
def http(vm_artifacts: VmArtifacts) -> Iterator[tuple[str, list[str]]]:
    with serve(vm_artifacts.bundle_dir) as found:
        yield found


@pytest.fixture(scope="module")
def machine(
    vm_artifacts: VmArtifacts,
    tmp_path_factory: pytest.TempPathFactory,
    http: tuple[str, list[str]],
) -> Iterator[RescueVm]:
    port = int(http[0].rsplit(":", 1)[1])
    vm = RescueVm(
        vm_artifacts,
        workdir=tmp_path_factory.mktemp("byo"),
        disk_size=4 * 1024**3,
        boot_timeout=400,
        no_reboot=True,
        http_forward=port,
        sample_argv=True,
    )
    vm.start()
    try:
        yield vm
    finally:
        vm.stop()


@pytest.fixture(scope="module")
def state(
    machine: RescueVm, vm_artifacts: VmArtifacts, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    work = tmp_path_factory.mktemp("controller")
    known_hosts = work / "known_hosts"
    known_hosts.write_text(machine.known_hosts_line + "\n")
    key_file = work / "disk.key"
    key_file.write_bytes(secrets.token_hex(16).encode() + b"\n")
    key_file.chmod(0o600)
    url = work / "url-bundle"
    proc = nixremote(
        "kexec", "url-bundle", str(vm_artifacts.bundle_dir), "http://10.0.2.100", "-o", str(url)
    )
    assert proc.returncode == 0, proc.stderr
    wrong = work / "wrong-bundle"
    wrong.mkdir()
    meta = json.loads((url / "bundle.json").read_text())
    meta["initrd"]["sha256"] = "0" * 64
    (wrong / "bundle.json").write_text(json.dumps(meta))
    hashed = subprocess.run(
        ["openssl", "passwd", "-6", "-stdin"],
        input=PASSWORD,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    machine.ssh(
        ["sh", "-c", ADD_SUDO_USER, "add-user", hashed],
        input=Path(f"{machine.identity_file}.pub").read_text(),
    )
    return {
        "work": work,
        "known_hosts": known_hosts,
        "key_file": key_file,
        "url": url,
        "wrong": wrong,
    }


def nixremote(*args: str, timeout: float = 1500) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nixremote.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        env={
            **os.environ,
            "NIXREMOTE_DISABLE_PLUGIN_AUTOLOAD": "1",
            "NIXREMOTE_SUDO_PASSWORD": PASSWORD,
        },
    )


def target_args(vm: RescueVm, known_hosts: Path, user: str = "root") -> list[str]:
    return [
        *(["--sudo"] if user != "root" else []),
        f"{user}@{vm.host}",
        "-p",
        str(vm.ssh_port),
        "-i",
        str(vm.identity_file),
        "--known-hosts",
        str(known_hosts),
    ]


def test_a_wrong_sha256_is_refused_before_kexec(
    machine: RescueVm, state: dict[str, Any], http: tuple[str, list[str]]
) -> None:
    boot_id = machine.ssh(["cat", "/proc/sys/kernel/random/boot_id"]).stdout
    proc = nixremote(
        "install",
        *target_args(machine, state["known_hosts"]),
        "--bundle",
        str(state["wrong"]),
        "--disk",
        machine.disk_by_id,
        "--phases",
        "kexec",
        "--yes",
    )
    assert proc.returncode != 0
    assert "does not match the bundle's sha256" in proc.stderr, proc.stderr
    assert "/initrd.gz" in http[1]  # the target did download it, from this machine
    # the old system runs on, nothing loaded, and the bad download is gone
    assert machine.ssh(["cat", "/proc/sys/kernel/random/boot_id"]).stdout == boot_id
    assert machine.ssh(["cat", "/sys/kernel/kexec_loaded"]).stdout.strip() == "0"
    left = machine.ssh(["ls", "/root/nixremote-kexec"], check=False).stdout.split()
    assert "initrd" not in left and "initrd.part" not in left


def test_plan_with_the_users_fleet_and_extra_files(
    machine: RescueVm, state: dict[str, Any]
) -> None:
    work = state["work"]
    fleet = work / "fleet"
    proc = nixremote("fleet", "init", str(fleet))
    assert proc.returncode == 0, proc.stderr
    tree = work / "extra"
    (tree / "etc").mkdir(parents=True)
    (tree / "etc/motd").write_text("brought along\n")
    (tree / "secrets").mkdir(mode=0o700)
    (tree / "secrets").chmod(0o700)
    (tree / "secrets/token").write_text("s3cret\n")
    (tree / "secrets/token").chmod(0o600)
    os.chown(tree / "secrets", 1000, 100)
    os.chown(tree / "secrets/token", 1000, 100)
    plan_file = work / "plan.json"
    proc = nixremote(
        "plan",
        *target_args(machine, state["known_hosts"], SUDO_USER),
        "--bundle",
        str(state["url"]),
        "--disk",
        machine.disk_by_id,
        "--flake",
        f"{fleet}#web1",
        "--extra-files",
        str(tree),
        "-o",
        str(plan_file),
    )
    assert proc.returncode == 0, proc.stderr
    written = json.loads((fleet / "hosts/web1/runtime-info.json").read_text())
    assert written["rootAuthorizedKeys"]  # the keys the installed system will trust
    assert (fleet / "hosts/web1/configuration.nix").is_file()
    assert f"flake:     {fleet}#web1 (copied: " in proc.stdout
    assert "bundle:    fetched by the target itself" in proc.stdout
    assert "  0700 1000:100 /persist/secrets/" in proc.stdout
    state.update(plan_file=plan_file, fleet=fleet, written=written)


def test_install_fetches_the_bundle_and_builds_the_users_flake(
    machine: RescueVm, state: dict[str, Any], http: tuple[str, list[str]]
) -> None:
    before = len(http[1])
    proc = nixremote(
        "install",
        *target_args(machine, state["known_hosts"], SUDO_USER),
        "--plan",
        str(state["plan_file"]),
        "--bundle",
        str(state["url"]),
        "--disk-key-file",
        str(state["key_file"]),
        "--phases",
        "kexec,format,install",
        "--yes",
        "--json",
    )
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-3000:]
    # the sudo password went on stdin only: in no argv on the VM, no output here
    argvs = sampled_argv(machine.console_text())
    assert argvs  # the sampler ran during the install
    assert not [a for a in argvs if any(PASSWORD in x for x in a)]
    assert PASSWORD not in proc.stdout + proc.stderr
    final = events(proc)[-1]
    assert final["kind"] == "result"
    # the target fetched the initrd again (the bad download was removed); the kernel from the
    # first attempt had the right sha256 and was kept
    assert http[1][before:] == ["/initrd.gz"]
    # the controller sent the archive, the trees and nothing of the bundle
    assert int(final["data"]["uploadedBytes"]) < 2 * MIB
    kh = state["known_hosts"]

    def sh(script: str) -> str:
        return machine.ssh(["sh", "-c", script], known_hosts=kh).stdout

    record = json.loads(sh("tail -n 1 /run/nixos-install.log"))
    assert record["flake"] == "/mnt/persist/etc/nixos#web1"
    assert record["ok"] is True
    copied = json.loads(sh("cat /mnt/persist/etc/nixos/hosts/web1/runtime-info.json"))
    assert copied == state["written"]
    assert "hosts/web1/configuration.nix" in record["flakeFiles"]
    modes = sh(
        "stat -c '%a %u:%g %n' /mnt/persist/etc/motd /mnt/persist/secrets "
        "/mnt/persist/secrets/token"
    ).splitlines()
    assert modes == [
        "644 0:0 /mnt/persist/etc/motd",
        "700 1000:100 /mnt/persist/secrets",
        "600 1000:100 /mnt/persist/secrets/token",
    ]
    assert sh("cat /mnt/persist/secrets/token") == "s3cret\n"
    # the archives are gone from the installer's tmpfs
    left = sh("ls /run/nixremote").split()
    assert "extra-files.tar" not in left and "user-flake.tar" not in left
