"""The acceptance test: ``nixremote plan`` then ``nixremote install --plan`` against a real
(virtual) machine with two disks, and a third-party plugin that mirrors them.

A Debian rescue system under QEMU lets root in over SSH on a loopback port. The real
``nixremote`` command, with a third-party plugin distribution pip-installed beside it
(``tests/data/plugins/mirrorcloud``: a mirror of two equal disks and a host-flake module),
collects the host's runtime info and writes the plan; ``install --plan`` runs exactly that plan:
it kexecs the host into the test installer bundle with a host key generated on the controller,
formats both disks with an encrypted mirrored ZFS pool and writes the host flake with the
plugin's module; ``nixos-install`` is the one stand-in (it records its call). No hook runs in the
installer: its zipapp does not even contain the plugin. Everything is then checked from
outside, over SSH with strict host key checking. At the end the VM comes back with another second
disk, and the same plan is refused before anything changes.

The tests of this module share one VM and run in file order.
"""

from __future__ import annotations

import json
import re
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from helpers.json_output import result_text
from helpers.paths import PLUGINS
from helpers.plugins import env_with, pip_install
from nixremote.core.cmdline import runtime_info_from_cmdline
from nixremote.core.converter import load_plan, loads_runtime_info
from nixremote.core.hostkeys import fingerprint
from nixremote.core.models import BootMode, RuntimeInfo
from nixremote.testing.vm import RescueVm, VmArtifacts, sampled_argv
from nixremote.testing.vm.standin import NIXOS_VERSION, SYSTEM_READY_MARKER

pytestmark = pytest.mark.vm

DISK_SIZE = 4 * 1024**3
SECOND = "nixremote-disk1"


class Run:
    """What one ``nixremote install --json`` printed: its events, in order."""

    def __init__(self, proc: subprocess.CompletedProcess[str]) -> None:
        self.proc = proc
        self.events: list[dict[str, Any]] = []
        for line in proc.stdout.splitlines():
            try:
                self.events.append(json.loads(line))
            except ValueError:
                continue

    @property
    def final(self) -> dict[str, Any]:
        return self.events[-1]

    def phases_started(self) -> list[str]:
        return [e.get("phase", "") for e in self.events if e["kind"] == "start"]


@pytest.fixture(scope="module")
def machine(vm_artifacts: VmArtifacts, tmp_path_factory: pytest.TempPathFactory):
    vm = RescueVm(
        vm_artifacts,
        workdir=tmp_path_factory.mktemp("e2e"),
        disk_size=DISK_SIZE,
        extra_disks=[(SECOND, DISK_SIZE)],
        boot_timeout=400,
        sample_argv=True,
        no_reboot=True,
    )
    vm.start()
    try:
        yield vm
    finally:
        vm.stop()


@pytest.fixture(scope="module")
def state(machine: RescueVm, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Shared between the tests of this module: files and what the first run did."""
    work = tmp_path_factory.mktemp("controller")
    known_hosts = work / "known_hosts"
    known_hosts.write_text(machine.known_hosts_line + "\n")  # the rescue system, pinned
    key = secrets.token_hex(16).encode()
    key_file = work / "disk.key"
    key_file.write_bytes(key + b"\n")
    key_file.chmod(0o600)
    return {"work": work, "known_hosts": known_hosts, "key": key, "key_file": key_file}


@pytest.fixture(scope="module", autouse=True)
def plugin_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The third-party plugin, installed with pip where this module's nixremote runs see it."""
    global _ENV
    site = pip_install(PLUGINS / "mirrorcloud", tmp_path_factory.mktemp("plugin-site"))
    _ENV = env_with(site)
    return site


_ENV: dict[str, str] | None = None


def nixremote(*args: str, timeout: float = 1500) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nixremote.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=_ENV,
        stdin=subprocess.DEVNULL,
    )


def target_args(vm: RescueVm, known_hosts: Path) -> list[str]:
    return [
        f"root@{vm.host}",
        "-p",
        str(vm.ssh_port),
        "-i",
        str(vm.identity_file),
        "--known-hosts",
        str(known_hosts),
    ]


def test_info_matches_the_machine(machine: RescueVm, state: dict[str, Any]) -> None:
    proc = nixremote("info", *target_args(machine, state["known_hosts"]), "--json")
    assert proc.returncode == 0, proc.stderr
    info = loads_runtime_info(result_text(proc.stdout))
    state["info"] = info
    nic = info.primary
    assert nic is not None and nic.name == "eth0" and nic.mac == machine.mac
    assert nic.predictable_name and nic.predictable_name.startswith("enp")
    # two disks and a rescue system running from RAM: nixremote does not guess which to format
    assert info.disk_to_format == ""
    disk = info.disk(machine.disk_by_id)
    assert disk is not None and disk.size_bytes == DISK_SIZE
    assert info.boot_mode is BootMode.BIOS
    assert info.memory_bytes is not None and 1.5 * 2**30 < info.memory_bytes <= 2 * 2**30
    assert info.arch == "x86_64"


def test_the_plan_mirrors_both_disks(
    machine: RescueVm, vm_artifacts: VmArtifacts, state: dict[str, Any]
) -> None:
    plan_file = state["work"] / "plan.json"
    proc = nixremote(
        "plan",
        *target_args(machine, state["known_hosts"]),
        "--bundle",
        str(vm_artifacts.bundle_dir),
        "-o",
        str(plan_file),
    )
    assert proc.returncode == 0, proc.stderr
    state["plan_file"] = plan_file
    plan = state["plan"] = load_plan(plan_file)
    second = machine.disks[1][1]
    assert [d.path for d in plan.identity.disks] == [machine.disk_by_id, second]
    assert [d.serial for d in plan.identity.disks] == ["nixremote-disk0", SECOND]
    assert plan.layout.name == "mirrorcloud-mirror" and plan.layout.pool.vdev == "mirror"
    assert {p.name: p.version for p in plan.plugins}["mirrorcloud"] == "0.3.0"
    wipes = [line for line in proc.stdout.splitlines() if line.startswith("WIPE:")]
    assert len(wipes) == 2 and machine.disk_by_id in wipes[0] and second in wipes[1]
    assert 'module:    { environment.etc."mirrorcloud"' in proc.stdout


def test_kexec_and_format(
    machine: RescueVm, vm_artifacts: VmArtifacts, state: dict[str, Any]
) -> None:
    boot_id = machine.ssh(["cat", "/proc/sys/kernel/random/boot_id"]).stdout.strip()
    proc = nixremote(
        "install",
        *target_args(machine, state["known_hosts"]),
        "--plan",
        str(state["plan_file"]),
        "--bundle",
        str(vm_artifacts.bundle_dir),
        "--disk-key-file",
        str(state["key_file"]),
        "--phases",
        "kexec,format",
        "--yes",
        "--json",
    )
    run = Run(proc)
    state["runs"] = [run]
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-3000:]
    final = run.final
    assert final["kind"] == "result", final
    data = final["data"]

    # The kexec happened, and the installer is the machine the controller pinned.
    kh = state["known_hosts"]
    new_boot = machine.ssh(["cat", "/proc/sys/kernel/random/boot_id"], known_hosts=kh)
    assert new_boot.stdout.strip() != boot_id
    installer_pub = machine.ssh(["cat", "/etc/ssh/ssh_host_ed25519_key.pub"], known_hosts=kh)
    assert fingerprint(installer_pub.stdout) == data["installerFingerprint"]
    assert installer_pub.stdout.split()[1] in kh.read_text()
    # the rescue key stays beside it (the way back if the installer had not come up)
    assert machine.host_public_key.split()[1] in kh.read_text()

    # The runtime info came through the kernel command line, whole.
    cmdline = machine.ssh(["cat", "/proc/cmdline"], known_hosts=kh).stdout
    assert "nixremote.info=z1." in cmdline
    carried = runtime_info_from_cmdline(cmdline)
    assert isinstance(carried, RuntimeInfo)
    assert carried.primary is not None and carried.primary.mac == machine.mac
    assert carried.disk_to_format == machine.disk_by_id
    # The installer ran the plan it was handed; the plugin decided on the controller only.
    zipped = machine.ssh(
        [
            "python3",
            "-c",
            "import sys, zipfile; print(*zipfile.ZipFile(sys.argv[1]).namelist())",
            "/root/nixremote.pyz",
        ],
        known_hosts=kh,
    ).stdout.split()
    assert "nixremote/installers/cli.py" in zipped
    assert not [n for n in zipped if "mirrorcloud" in n or n.startswith("nixremote/hosters")]
    held = machine.ssh(["cat", "/run/nixremote/plan.json"], known_hosts=kh).stdout
    assert json.loads(held) == json.loads(state["plan_file"].read_text())


def sh(
    machine: RescueVm,
    state: dict[str, Any] | None,
    script: str,
    *,
    input: bytes | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run a script on the installer (pinned in ``state``), or on the rescue system (None)."""
    known_hosts = state["known_hosts"] if state is not None else machine.known_hosts_file
    return machine.ssh(["sh", "-c", script], known_hosts=known_hosts, input=input, check=check)


def test_both_disks_have_the_original_layout(machine: RescueVm, state: dict[str, Any]) -> None:
    for _image, by_id in machine.disks:
        table = sh(machine, state, f"sgdisk -p {by_id}").stdout
        rows = {
            int(m[0]): (int(m[1]), int(m[2]), m[3])
            for m in re.findall(r"^\s+(\d+)\s+(\d+)\s+(\d+)\s+\S+ \S+\s+([0-9A-F]{4})", table, re.M)
        }
        sectors = DISK_SIZE // 512
        assert rows == {
            2: (34, 2047, "EF02"),
            3: (2048, 2048 + 512 * 2048 - 1, "EF00"),
            1: (2048 + 512 * 2048, rows[1][1], "BF01"),
        }, by_id
        assert sectors - 34 - 2048 < rows[1][1] <= sectors - 34


def test_the_pool_is_encrypted_with_the_datasets(machine: RescueVm, state: dict[str, Any]) -> None:
    props = sh(
        machine, state, "zfs get -H -o property,value encryption,keyformat,keylocation rpool"
    ).stdout
    values = dict(line.split("\t") for line in props.strip().splitlines())
    assert values["encryption"].startswith("aes-")
    assert values["keyformat"] == "passphrase"
    assert values["keylocation"] == "prompt"
    names = sh(machine, state, "zfs list -H -o name -r rpool").stdout.split()
    for ds in ("rpool/local/root", "rpool/local/nix", "rpool/safe/home", "rpool/safe/persist"):
        assert ds in names
    snaps = sh(machine, state, "zfs list -H -t snapshot -o name").stdout.split()
    assert "rpool/local/root@blank" in snaps
    options = sh(machine, state, "zpool get -H -o value ashift rpool").stdout.strip()
    assert options == "12"
    # a mirror of the ZFS partitions of both disks
    status = sh(machine, state, "zpool status -P rpool").stdout
    assert re.search(r"^\s+mirror-0\s+ONLINE", status, re.M), status
    for _image, by_id in machine.disks:
        assert f"{by_id}-part1" in status


def test_install_resumes_without_formatting(machine: RescueVm, state: dict[str, Any]) -> None:
    """A second run, for the install phase only: it goes on where the first stopped, on the
    same installer (reached with the pinned key) and the same pool, without formatting."""
    sh(machine, state, "echo still-here > /mnt/persist/marker")
    proc = nixremote(
        "install",
        *target_args(machine, state["known_hosts"]),
        "--disk-key-file",
        str(state["key_file"]),
        "--phases",
        "install",
        "--unlock-port",
        str(machine.unlock_port),
        "--yes",
        "--json",
    )
    run = Run(proc)
    state["runs"].append(run)
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-3000:]
    started = run.phases_started()
    assert "install" in started and "format" not in started
    assert sh(machine, state, "cat /mnt/persist/marker").stdout.strip() == "still-here"
    data = run.final["data"]
    # The host keys of the installed system, for the first login after the reboot.
    keys = {f"{k['role']}.{k['type']}.sha256": k["sha256"] for k in data["hostKeys"]}
    for role in ("host.ed25519", "host.rsa", "initrd.ed25519"):
        assert keys[f"{role}.sha256"].startswith("SHA256:")
    state["host_keys"] = keys
    # The initrd's key (port 2222, here forwarded) is recorded at once; the system's waits for
    # the reboot.
    assert f"[127.0.0.1]:{machine.unlock_port} ssh-ed25519" in state["known_hosts"].read_text()


def test_persist_holds_keys_flake_and_the_install_record(
    machine: RescueVm, state: dict[str, Any], tmp_path: Path
) -> None:
    modes = sh(
        machine,
        state,
        "stat -c '%a %n' /mnt/persist/etc/ssh/ssh_host_* "
        "/mnt/persist/etc/secrets/initrd/ssh_host_ed25519_key",
    ).stdout.splitlines()
    for line in modes:
        mode, name = line.split(" ", 1)
        assert mode == ("644" if name.endswith(".pub") else "600"), line
    pub = sh(machine, state, "cat /mnt/persist/etc/ssh/ssh_host_ed25519_key.pub").stdout
    assert fingerprint(pub) == state["host_keys"]["host.ed25519.sha256"]

    flake = sh(machine, state, "cat /mnt/persist/etc/nixos/flake.nix").stdout
    # the third-party plugin's module (decided on the controller) and the mirror's boot disks
    assert '({ environment.etc."mirrorcloud".text = "installed by the mirrorcloud plugin"; })' in (
        flake
    )
    assert f'nixremote.boot.devices = [ "{machine.disk_by_id}" "{machine.disks[1][1]}" ];' in flake
    (tmp_path / "flake.nix").write_text(flake)
    subprocess.run(
        ["nix-instantiate", "--parse", str(tmp_path / "flake.nix")], check=True, capture_output=True
    )
    info_text = sh(machine, state, "cat /mnt/persist/etc/nixos/runtime-info.json").stdout
    info = loads_runtime_info(info_text)
    assert info.disk_to_format == machine.disk_by_id
    state["flake_texts"] = flake + info_text

    record = [
        json.loads(line)
        for line in sh(machine, state, "cat /mnt/persist/nixos-install.log").stdout.splitlines()
    ]
    assert len(record) == 1
    assert record[0]["flake"] == "/mnt/persist/etc/nixos#installed"
    assert record[0]["ok"] is True
    assert "--no-root-passwd" in record[0]["argv"]


def test_the_disk_key_is_nowhere(machine: RescueVm, state: dict[str, Any]) -> None:
    key = state["key"].decode()
    for run in state["runs"]:
        assert key not in run.proc.stdout and key not in run.proc.stderr
    assert key not in sh(machine, state, "cat /proc/cmdline").stdout
    argvs = sampled_argv(machine.console_text())
    assert len(argvs) > 20  # the sampler saw the installer's commands
    assert any("zpool" in " ".join(a) for a in argvs)
    assert not [a for a in argvs if key in " ".join(a)]
    assert key not in machine.console_text()
    assert key not in state["flake_texts"]
    leftovers = sh(
        machine,
        state,
        "ls /run/nixremote/; grep -rl "
        + key
        + " /run/nixremote /mnt/persist /root /tmp 2>/dev/null; true",
    ).stdout
    assert "disk.key" not in leftovers.split()
    assert key not in leftovers


def test_reboot_then_verify_the_running_system(machine: RescueVm, state: dict[str, Any]) -> None:
    """The reboot and verify phases: the installer records the installed system's keys and
    reboots; the machine boots the installed system (its stand-in: NixOS cannot be built here),
    whose initrd waits for the key on port 2222; the controller unlocks it over the pinned
    initrd key, reaches the system over its pinned key and checks what it runs."""
    machine.reboot_into_installed()
    proc = nixremote(
        "install",
        *target_args(machine, state["known_hosts"]),
        "--plan",
        str(state["plan_file"]),
        "--phases",
        "reboot,verify",
        "--disk-key-file",
        str(state["key_file"]),
        "--unlock-port",
        str(machine.unlock_port),
        "--verify-timeout",
        "300",
        "--yes",
        "--json",
    )
    run = Run(proc)
    state["runs"].append(run)
    assert proc.returncode == 0, (
        f"ports {machine.ssh_port} {machine.unlock_port}\n"
        + proc.stderr[-3000:]
        + proc.stdout[-1000:]
        + machine.console_text()[-3000:]
    )
    recorded = [line.split() for line in state["known_hosts"].read_text().splitlines()]
    ours = [
        fingerprint(" ".join(f[1:3]))
        for f in recorded
        if f[0] == f"[{machine.host}]:{machine.ssh_port}"
    ]
    assert state["host_keys"]["host.ed25519.sha256"] in ours
    # the reboot phase replaced the rescue system's and the installer's keys
    assert machine.host_public_key.split()[1] not in state["known_hosts"].read_text()
    verified = next(e for e in run.events if "hostName" in e.get("data", {}))
    data = verified["data"]
    assert data["hostName"] == "rescue"  # the name the plan collected
    assert data["nixosVersion"] == NIXOS_VERSION
    assert data["root"] == "rpool/local/root" and data["rootReset"] == "true"
    assert data["persistKeys"] == "3" and data["pool"] == "pool 'rpool' is healthy"
    assert data["initrd"] == "scripted"
    assert (
        0 < int(data["initrdSeconds"]) <= int(data["unlockSeconds"]) <= int(data["systemSeconds"])
    )
    assert run.final["data"]["verified"]["rootReset"] == "true"


def test_unlock_after_a_later_reboot(machine: RescueVm, state: dict[str, Any]) -> None:
    """nixremote unlock: a changed initrd key gets nothing, a wrong passphrase is one line and
    the initrd keeps waiting, the right one unlocks and the system answers on its pinned key."""
    kh = state["known_hosts"]
    machine.reboot_into_installed()
    machine.ssh(["sh", "-c", "reboot &"], known_hosts=kh)
    unlock = [
        "unlock",
        f"root@{machine.host}",
        "-p",
        str(machine.unlock_port),
        "--system-port",
        str(machine.ssh_port),
        "-i",
        str(machine.identity_file),
        "--wait",
        "300",
    ]
    # a changed key of the initrd: refused before the passphrase leaves this machine
    stale = state["work"] / "stale_known_hosts"
    lines = [
        line
        for line in kh.read_text().splitlines()
        if not line.startswith(f"[{machine.host}]:{machine.unlock_port} ")
    ]
    lines.append(f"[{machine.host}]:{machine.unlock_port} {machine.host_public_key}")
    stale.write_text("\n".join(lines) + "\n")
    proc = nixremote(
        *unlock, "--known-hosts", str(stale), "--disk-key-file", str(state["key_file"])
    )
    assert proc.returncode == 3 and "CHANGED" in proc.stderr.splitlines()[-1], proc.stderr
    # a wrong passphrase: one line, nothing unlocked, a retry possible
    wrong = state["work"] / "wrong.key"
    wrong.write_bytes(b"not the passphrase\n")
    proc = nixremote(*unlock, "--known-hosts", str(kh), "--disk-key-file", str(wrong))
    assert proc.returncode == 2, proc.stderr
    last = proc.stderr.splitlines()[-1]
    assert (
        last.startswith("error: rpool refused the passphrase")
        and [line.startswith("error:") for line in proc.stderr.splitlines()].count(True) == 1
    )
    proc = nixremote(
        *unlock, "--known-hosts", str(kh), "--disk-key-file", str(state["key_file"]), "--json"
    )
    state["runs"].append(Run(proc))
    assert proc.returncode == 0, proc.stderr
    final = json.loads(proc.stdout.splitlines()[-1])["data"]
    assert final["unlocked"] is True and final["initrd"] == "scripted"
    assert final["systemSeconds"] >= final["unlockSeconds"] >= final["initrdSeconds"]
    machine.wait_for_console(SYSTEM_READY_MARKER, start=0, timeout=120)
    assert machine.ssh(["findmnt", "-n", "-o", "SOURCE", "/"], known_hosts=kh).stdout.strip() == (
        "rpool/local/root"
    )
    # the passphrase in no argv of the machine and not on its console (the argv sampler ran)
    key = state["key"].decode()
    argvs = sampled_argv(machine.console_text())
    assert any(a[:2] == ["zfs", "load-key"] for a in argvs)
    assert not [a for a in argvs if key in " ".join(a)]
    assert key not in machine.console_text() and "not the passphrase" not in " ".join(
        " ".join(a) for a in argvs
    )


def _sha256(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(8 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def test_a_drifted_host_is_refused_before_the_kexec(
    machine: RescueVm, vm_artifacts: VmArtifacts, state: dict[str, Any]
) -> None:
    """The VM comes back with another second disk (another serial): the approved plan no longer
    describes it, and ``install --plan`` refuses before anything changes."""
    machine.stop()
    image, _serial, size = machine.extra_disks[0]
    machine.extra_disks = ((image, "nixremote-other-disk", size),)
    machine.start()
    before = {str(image): _sha256(image) for image, _ in machine.disks}
    boot_id = machine.ssh(["cat", "/proc/sys/kernel/random/boot_id"]).stdout.strip()
    proc = nixremote(
        "install",
        *target_args(machine, machine.known_hosts_file),
        "--plan",
        str(state["plan_file"]),
        "--bundle",
        str(vm_artifacts.bundle_dir),
        "--disk-key-file",
        str(state["key_file"]),
        "--phases",
        "kexec,format",
        "--yes",
    )
    assert proc.returncode == 4, proc.stderr[-2000:]
    last = proc.stderr.splitlines()[-1]
    assert "does not match the plan" in last and f"virtio-{SECOND} is gone" in last
    assert machine.ssh(["cat", "/proc/sys/kernel/random/boot_id"]).stdout.strip() == boot_id
    nothing = machine.ssh(["sh", "-c", "ls -d /root/nixremote-kexec /run/nixremote-kexec; true"])
    assert nothing.stdout == ""  # nothing was uploaded
    assert {str(image): _sha256(image) for image, _ in machine.disks} == before
