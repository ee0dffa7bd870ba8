"""Interrupted anywhere, rerun the same command, and it finishes: fault injection on the VM.

One rescue VM (one disk) for the module; its tests run in file order and share it:

1. ``nixremote install ... --phases kexec,format,install --yes`` is killed (SIGKILL, its whole
   process group: the laptop that lost its connection) in the middle of the format phase, right
   when the installer starts creating the pool. The installer's run is detached and goes on.
   The *same* command, run again, recognises the nixremote installer (not "kexec is not
   installed"), says where it goes on, follows the run still going instead of starting a
   second one, and ends in an uninterrupted run's state (partition table, pool and datasets,
   keys in /persist, host flake, one recorded ``nixos-install``, known_hosts).
2. The same command once more on the finished install formats nothing (the pool's GUID stays,
   nothing new is recorded).
3. An explicit ``--phases format`` there is refused even with ``--yes`` (no terminal to ask on),
   naming the disk, until ``--force-format``.
4. The same command with ``--force-format``, its SSH connection cut in the middle of the format
   (the test's own TCP proxy between the controller and the VM drops it), then the installer's
   phase process killed on the target: the same command again starts the format over on the
   half-made pool and installs: a new pool (another GUID), one ``nixos-install`` on it, the end
   state of step 1.
5. The host reset in the middle of the format (the controller killed, then the machine switched
   off and booted into its rescue system, as a hoster's "reset into rescue" does): the same
   command reaches the rescue system, still verified (the installer's key was pinned beside its
   key, not instead), kexecs again and formats and installs from the start.

``nixos-install`` is the test installer's recording stand-in, as in the acceptance test.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import Any

import pytest

from nixremote.core.hostkeys import fingerprint
from nixremote.testing.vm import RescueVm, VmArtifacts

pytestmark = pytest.mark.vm

DISK_SIZE = 4 * 1024**3


@pytest.fixture(scope="module")
def machine(vm_artifacts: VmArtifacts, tmp_path_factory: pytest.TempPathFactory):
    vm = RescueVm(
        vm_artifacts,
        workdir=tmp_path_factory.mktemp("resume"),
        disk_size=DISK_SIZE,
        boot_timeout=400,
        no_reboot=True,
    )
    vm.start()
    try:
        yield vm
    finally:
        vm.stop()


@pytest.fixture(scope="module")
def state(machine: RescueVm, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    work = tmp_path_factory.mktemp("controller")
    known_hosts = work / "known_hosts"
    known_hosts.write_text(machine.known_hosts_line + "\n")  # the rescue system, pinned
    key = secrets.token_hex(16).encode()
    key_file = work / "disk.key"
    key_file.write_bytes(key + b"\n")
    key_file.chmod(0o600)
    return {"work": work, "known_hosts": known_hosts, "key": key, "key_file": key_file}


def command(machine: RescueVm, artifacts: VmArtifacts, state: dict[str, Any]) -> list[str]:
    """The one command the user runs, and runs again."""
    return [
        sys.executable,
        "-m",
        "nixremote.cli.main",
        "install",
        f"root@{machine.host}",
        "-p",
        str(machine.ssh_port),
        "-i",
        str(machine.identity_file),
        "--known-hosts",
        str(state["known_hosts"]),
        "--bundle",
        str(artifacts.bundle_dir),
        "--disk-key-file",
        str(state["key_file"]),
        "--unlock-port",
        str(machine.unlock_port),
        "--phases",
        "kexec,format,install",
        "--yes",
        "--json",
    ]


def events_of(stdout: str) -> list[dict[str, Any]]:
    out = []
    for line in stdout.splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


def host_keys_of(events: list[dict[str, Any]]) -> dict[str, str]:
    """The installed system's host keys the run's ``result`` event names, by role and type."""
    final = events[-1]
    assert final["kind"] == "result", final
    return {f"{k['role']}.{k['type']}.sha256": k["sha256"] for k in final["data"]["hostKeys"]}


def run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=900, stdin=subprocess.DEVNULL
    )


def sh(machine: RescueVm, state: dict[str, Any], script: str) -> str:
    """A script on the installer, reached with the key the kexec phase pinned."""
    return machine.ssh(["sh", "-c", script], known_hosts=state["known_hosts"]).stdout


def kill_when(argv: list[str], seen: str, timeout: float = 900) -> list[dict[str, Any]]:
    """Run ``argv`` and SIGKILL its process group as soon as an event's message contains
    ``seen``; the events printed until then."""
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    assert proc.stdout is not None
    events: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    try:
        for line in proc.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            events.append(event)
            if seen in event.get("message", ""):
                os.killpg(proc.pid, signal.SIGKILL)
                break
            assert time.monotonic() < deadline, "the run never got there"
        else:
            pytest.fail("the run ended before the fault: " + json.dumps(events[-3:]))
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    return events


class CuttingProxy:
    """The test's TCP proxy from a loopback port to the VM's SSH port: :meth:`cut` drops every
    connection it carries (a lost network, as the controller and the installer see it)."""

    def __init__(self, port: int) -> None:
        self.target = port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target))
            self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a: socket.socket, b: socket.socket) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        for s in (a, b):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        for s in self.sockets:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()
        self.sockets.clear()

    def close(self) -> None:
        self.cut()
        self.listener.close()


def pool_guid(machine: RescueVm, state: dict[str, Any]) -> str:
    return sh(machine, state, "zpool get -H -o value guid rpool").strip()


def install_records(machine: RescueVm, state: dict[str, Any]) -> list[dict[str, Any]]:
    text = sh(machine, state, "cat /mnt/persist/nixos-install.log")
    return [json.loads(line) for line in text.splitlines()]


def check_installed(
    machine: RescueVm, state: dict[str, Any], host_keys: dict[str, str] | None = None
) -> None:
    """What an uninterrupted ``kexec,format,install`` leaves (as the acceptance test checks)."""
    table = sh(machine, state, f"sgdisk -p {machine.disk_by_id}")
    codes = re.findall(r"^\s+(\d+)\s+\d+\s+\d+\s+\S+ \S+\s+([0-9A-F]{4})", table, re.M)
    assert sorted(codes) == [("1", "BF01"), ("2", "EF02"), ("3", "EF00")], table
    props = sh(machine, state, "zfs get -H -o property,value encryption,keyformat rpool")
    values = dict(line.split("\t") for line in props.strip().splitlines())
    assert values["encryption"].startswith("aes-") and values["keyformat"] == "passphrase"
    names = sh(machine, state, "zfs list -H -o name -r rpool").split()
    for ds in ("rpool/local/root", "rpool/local/nix", "rpool/safe/home", "rpool/safe/persist"):
        assert ds in names
    assert "rpool/local/root@blank" in sh(machine, state, "zfs list -H -t snapshot -o name")
    status = sh(machine, state, "zpool status -P rpool")
    assert f"{machine.disk_by_id}-part1" in status
    # keys in /persist, the ones the final event named
    host_keys = host_keys or state["host_keys"]
    pub = sh(machine, state, "cat /mnt/persist/etc/ssh/ssh_host_ed25519_key.pub")
    assert fingerprint(pub) == host_keys["host.ed25519.sha256"]
    initrd = sh(machine, state, "cat /mnt/persist/etc/secrets/initrd/ssh_host_ed25519_key.pub")
    assert fingerprint(initrd) == host_keys["initrd.ed25519.sha256"]
    # the host flake and the one recorded nixos-install
    flake = sh(machine, state, "cat /mnt/persist/etc/nixos/flake.nix")
    assert "nixosConfigurations" in flake
    records = install_records(machine, state)
    assert [r["ok"] for r in records] == [True]
    assert records[0]["flake"] == "/mnt/persist/etc/nixos#installed"
    record = json.loads(sh(machine, state, "cat /run/nixremote/state.json"))
    assert record["finished"] == ["format", "keys", "flake", "install"]
    # known_hosts: the installer's key (beside the rescue's until the reboot) and the initrd's
    kh = state["known_hosts"].read_text()
    installer = sh(machine, state, "cat /etc/ssh/ssh_host_ed25519_key.pub")
    assert f"{machine.host}]:{machine.ssh_port} ssh-ed25519 {installer.split()[1]}" in kh
    assert f"[{machine.host}]:{machine.unlock_port} ssh-ed25519 {initrd.split()[1]}" in kh
    # the disk key is nowhere on the installer
    leftovers = sh(
        machine,
        state,
        "ls -a /run/nixremote/; grep -rl "
        + state["key"].decode()
        + " /run /mnt/persist /root 2>/dev/null; true",
    )
    assert "disk.key" not in leftovers.split() and state["key"].decode() not in leftovers


KILL_RUN = "import os, signal, sys; os.killpg(int(open(sys.argv[1]).read()), signal.SIGKILL)"
"""On the installer: SIGKILL the detached run's process group (its shell, the installer)."""

RESUMED = re.compile(
    r"runs the nixremote installer: finished kexec(, format(, install)?)?; "
    r"(going on with (format|install)|nothing left to do)$"
)


def test_killed_in_the_format_phase_the_same_command_finishes(
    machine: RescueVm, vm_artifacts: VmArtifacts, state: dict[str, Any]
) -> None:
    """The installer's phases run detached: the killed controller's format goes on without it.
    The same command again recognises the installer, follows the run still going (or finds it
    finished) instead of starting a second one, and ends in the installed state."""
    started = time.monotonic()
    argv = command(machine, vm_artifacts, state)
    before = kill_when(argv, "pool rpool on")
    assert any(e.get("phase") == "format" and e["kind"] == "start" for e in before)
    state["timings"] = {"killed": time.monotonic() - started}

    again = run(argv)
    assert again.returncode == 0, again.stderr[-3000:] + again.stdout[-2000:]
    assert "kexec is not installed" not in again.stderr + again.stdout
    events = events_of(again.stdout)
    resumed = [e["message"] for e in events if "runs the nixremote installer" in e["message"]]
    assert len(resumed) == 1 and RESUMED.search(resumed[0]), resumed
    assert not [e for e in events if e.get("phase") == "kexec" and e["kind"] == "start"]
    attached = [e for e in events if e["message"].startswith("re-attached to the installer run")]
    state["attached"] = bool(attached)
    # one run at a time: a follower of the earlier run, or that run had finished already
    assert attached or resumed[0].endswith("nothing left to do") or "going on" in resumed[0]
    state["host_keys"] = host_keys_of(events)
    assert len(state["host_keys"]) == 3
    state["timings"]["resumed"] = time.monotonic() - started
    check_installed(machine, state, state["host_keys"])
    state["guid"] = pool_guid(machine, state)


def test_the_same_command_on_the_finished_install_formats_nothing(
    machine: RescueVm, vm_artifacts: VmArtifacts, state: dict[str, Any]
) -> None:
    proc = run(command(machine, vm_artifacts, state))
    assert proc.returncode == 0, proc.stderr[-3000:]
    events = events_of(proc.stdout)
    assert any(
        e["message"] == f"{machine.host} runs the nixremote installer: finished kexec, format, "
        "install; nothing left to do"
        for e in events
    )
    assert not [e for e in events if e["kind"] == "start" and e.get("phase") == "format"]
    assert any(
        e["kind"] == "skip" and e["message"].startswith("format: the install on") for e in events
    )
    assert pool_guid(machine, state) == state["guid"]
    check_installed(machine, state, state["host_keys"])  # one nixos-install, the same keys


def test_an_explicit_format_of_the_finished_install_asks_again(
    machine: RescueVm, vm_artifacts: VmArtifacts, state: dict[str, Any]
) -> None:
    argv = command(machine, vm_artifacts, state)
    argv[argv.index("kexec,format,install")] = "format"
    proc = run(argv)
    assert proc.returncode == 4, proc.stdout[-3000:]  # a SafetyError
    error = events_of(proc.stdout)[-1]  # under --json: the error event, stderr stays quiet
    assert error["kind"] == "error" and error["data"]["exitCode"] == 4
    said = error["message"] + " " + str(error["data"].get("hint"))
    assert "formatting again WIPES " + machine.disk_by_id in said and "--force-format" in said
    assert pool_guid(machine, state) == state["guid"]
    assert len(install_records(machine, state)) == 1


def test_cut_then_the_phase_killed_on_the_target_the_same_command_finishes(
    machine: RescueVm, vm_artifacts: VmArtifacts, state: dict[str, Any]
) -> None:
    """``--force-format`` through the test's TCP proxy: the connection is cut in the middle of
    the format (the controller fails; the detached run goes on), then the installer's phase
    process is killed on the target. The same command again starts the format over on the
    half-made pool and installs: a new pool, one nixos-install on it, the installed state."""
    proxy = CuttingProxy(machine.ssh_port)
    try:
        # the pinned installer key, for the proxy's port as well
        kh = state["known_hosts"]
        ours = f"[{machine.host}]:{machine.ssh_port} "
        pinned = [ln for ln in kh.read_text().splitlines() if ln.startswith(ours)]
        assert pinned
        kh.write_text(
            kh.read_text()
            + "".join(f"[{machine.host}]:{proxy.port} {ln[len(ours) :]}\n" for ln in pinned)
        )
        argv = command(machine, vm_artifacts, state)
        argv[argv.index("-p") + 1] = str(proxy.port)
        argv.append("--force-format")
        proc = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            stdin=subprocess.DEVNULL,
        )
        assert proc.stdout is not None
        cut = False
        for line in proc.stdout:
            try:
                message = json.loads(line).get("message", "")
            except ValueError:
                continue
            if "pool rpool on" in message:
                proxy.cut()
                cut = True
                break
        # the phase process, killed on the target (the run's whole process group)
        machine.ssh(
            ["python3", "-c", KILL_RUN, "/run/nixremote/phase.pid"],
            known_hosts=state["known_hosts"],
        )
        out, err = proc.communicate(timeout=300)
        assert cut, out[-2000:] + err[-2000:]
        assert proc.returncode not in (0, -signal.SIGKILL), err[-2000:]
        assert not sh(machine, state, "ls /run/nixremote/phase.rc 2>/dev/null; true").strip()

        again = run(argv)
        assert again.returncode == 0, again.stderr[-3000:] + again.stdout[-2000:]
        events = events_of(again.stdout)
        assert any(
            e["message"]
            == f"{machine.host} runs the nixremote installer: finished kexec; going on with format"
            for e in events
        )
        assert not [e for e in events if e["message"].startswith("re-attached")]
        assert any(e.get("phase") == "format" and e["kind"] == "start" for e in events)
        state["host_keys"] = host_keys_of(events)
        assert pool_guid(machine, state) != state["guid"]  # formatted anew, as forced
        check_installed(machine, state)
    finally:
        proxy.close()


def test_reset_into_rescue_during_the_format_the_same_command_finishes(
    machine: RescueVm, vm_artifacts: VmArtifacts, state: dict[str, Any]
) -> None:
    machine.power_cycle()  # from the installed state of step 4: the rescue system again
    argv = command(machine, vm_artifacts, state)
    before = kill_when(argv, "pool rpool on")
    assert any(e.get("phase") == "kexec" and e["kind"] == "start" for e in before)
    machine.power_cycle()  # the detached format dies with the machine, half-done
    assert sh(machine, state, "hostname").strip() == "rescue"  # verified by its pinned key

    again = run(argv)
    assert again.returncode == 0, again.stderr[-3000:] + again.stdout[-2000:]
    events = events_of(again.stdout)
    assert not [e for e in events if "runs the nixremote installer" in e["message"]]
    assert any(e.get("phase") == "kexec" and e["kind"] == "start" for e in events)
    assert any(e.get("phase") == "format" and e["kind"] == "start" for e in events)
    state["host_keys"] = host_keys_of(events)
    guid = pool_guid(machine, state)
    check_installed(machine, state)
    assert guid != state["guid"]
