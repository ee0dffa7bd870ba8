"""The installer phases, run for real by ``nixremote installer run`` against a loop-device disk.

Real: sgdisk, wipefs, partx, mkfs.vfat, the FAT ESP (fusefat), ssh-keygen, shred, the state
file, the tmpfs key file. Test doubles (this kernel has no ZFS): zpool, zfs, ``mount -t zfs``;
the recorded ``nixos-install`` stand-in; ``reboot``. See ``installer_env.py``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.installer_env import CLI, KEY_FILE, STATE_FILE, CmdlineSampler, InstallerEnv, sh
from nixremote.core.cmdline import encode_runtime_info
from nixremote.core.converter import load_runtime_info
from nixremote.installers.phases import PHASES, host_keys_from_data

ROOT_KEYS = (
    "/persist/etc/ssh/ssh_host_ed25519_key",
    "/persist/etc/ssh/ssh_host_rsa_key",
    "/persist/etc/secrets/initrd/ssh_host_ed25519_key",
)


def persist(env: InstallerEnv, path: str) -> Path:
    """Where a /persist path of the installed system is on the (double's) pool."""
    assert path.startswith("/persist/")
    return env.dataset("safe/persist") / path[len("/persist/") :]


def fingerprint(pub: Path) -> str:
    return sh("ssh-keygen", "-l", "-E", "sha256", "-f", str(pub)).split()[1]


def partition_types(device: str) -> dict[int, str]:
    out = sh("sgdisk", "-p", device)
    return {
        int(n): code
        for n, code in re.findall(r"^\s+(\d+)\s+\d+\s+\d+\s+\S+ \S+\s+([0-9A-F]{4})", out, re.M)
    }


def test_full_run_installs_and_never_shows_the_key(installer_env: InstallerEnv) -> None:
    env = installer_env
    sampler = CmdlineSampler(env.key)
    sampler.start()
    try:
        result = env.run(verbose=True)  # debug logging on stderr
    finally:
        sampler.stop()
    assert result.returncode == 0, result.stderr
    assert "DEBUG nixremote.installers.phases: run ssh-keygen" in result.stderr
    assert "INFO nixremote.progress: [install]" in result.stderr

    # The key never appeared in any process's argv or environment, nor in any output or file.
    assert sampler.hits == []
    assert sampler.samples > 10
    assert any(b"installer\0run" in c for c in sampler.seen)  # it sampled during the run
    assert any(c.startswith(b"ssh-keygen") for c in sampler.seen)  # and caught child commands
    assert env.key not in result.stdout.encode() + result.stderr.encode()
    for path in env.tmp.rglob("*"):
        if path.is_file() and path != env.image:
            assert env.key not in path.read_bytes(), path
    assert env.key not in STATE_FILE.read_bytes()
    # ... but it reached zpool create (through the tmpfs key file), and was shredded afterwards.
    pools = json.loads((env.double_dir / "state.json").read_text())["pools"]
    assert pools["rpool"]["keySha256"] == hashlib.sha256(env.key).hexdigest()
    assert not KEY_FILE.exists()

    # Every phase started and finished, in order; the last event carries the host keys.
    starts = [e.phase for e in result.events if e.kind == "start"]
    assert starts == list(PHASES)
    final = result.final
    assert final.kind == "done" and final.phase is None
    keys = {(k.role, k.type): k for k in host_keys_from_data(final.data)}
    assert set(keys) == {("host", "ed25519"), ("host", "rsa"), ("initrd", "ed25519")}
    assert keys["initrd", "ed25519"].port == 2222 and keys["host", "rsa"].port == 22
    for rel, (role, kind) in zip(
        ROOT_KEYS, (("host", "ed25519"), ("host", "rsa"), ("initrd", "ed25519")), strict=True
    ):
        private = persist(env, rel)
        public = Path(f"{private}.pub")
        assert stat.S_IMODE(private.stat().st_mode) == 0o600
        assert stat.S_IMODE(public.stat().st_mode) == 0o644
        assert keys[role, kind].fingerprint == fingerprint(public)
        assert public.read_text().split()[:2] == keys[role, kind].public.split()
    assert sh("ssh-keygen", "-l", "-f", str(persist(env, ROOT_KEYS[1]))).startswith("4096 ")
    secrets_dir = persist(env, "/persist/etc/secrets")
    assert stat.S_IMODE(secrets_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE((secrets_dir / "initrd").stat().st_mode) == 0o700

    # The host flake in /persist/etc/nixos, with this host's runtime info.
    flake = persist(env, "/persist/etc/nixos")
    assert (flake / "flake.nix").is_file()
    assert load_runtime_info(flake / "runtime-info.json") == env.info

    # nixos-install ran once, exactly so.
    assert env.install_calls() == [
        [
            "nixos-install",
            "--no-root-passwd",
            "--root",
            str(env.root),
            "--flake",
            f"{env.root}/persist/etc/nixos#installed",
        ]
    ]
    assert (env.dataset("local/root") / "etc/NIXOS").exists()

    # The real partition table, and the real FAT ESP with what was installed into /boot.
    assert partition_types(env.device) == {1: "BF01", 2: "EF02", 3: "EF00"}
    esp = env.tmp / "esp"
    esp.mkdir()
    sh("fusefat", "-o", "ro", f"{env.device}p3", str(esp))
    try:
        assert (esp / "loader-installed-by-stand-in").read_text() == "ok\n"
    finally:
        sh("umount", str(esp))

    # The end state: nothing mounted, the pool exported, every phase recorded (0600, tmpfs).
    assert env.mounted() == []
    assert pools["rpool"]["imported"] is False
    assert env.calls()[-1] == ["zpool", "export", "rpool"]
    state = env.state()
    assert state["finished"] == list(PHASES)
    assert stat.S_IMODE(STATE_FILE.stat().st_mode) == 0o600
    assert host_keys_from_data(state["hostKeys"]) == host_keys_from_data(final.data)

    # A rerun has nothing left to do and still reports the host keys (from the state file).
    again = env.run()
    assert again.returncode == 0
    assert [e.phase for e in again.events if e.kind == "skip"] == list(PHASES)
    assert host_keys_from_data(again.final.data) == host_keys_from_data(final.data)
    assert "reboot" not in [c[0] for c in env.calls()]  # --no-reboot


@pytest.fixture(scope="module")
def zipapp_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from nixremote.controller.zipapp import build_zipapp

    path = tmp_path_factory.mktemp("pyz") / "nixremote.pyz"
    build_zipapp(path)
    return path


def test_full_run_from_the_zipapp(installer_env: InstallerEnv, zipapp_file: Path) -> None:
    """What the controller runs in the installer: ``python3 nixremote.pyz installer run``, with
    nothing but the standard library besides the zipapp."""
    env = installer_env
    result = env.run(pyz=zipapp_file)
    assert result.returncode == 0, result.stderr
    assert [e.phase for e in result.events if e.kind == "start"] == list(PHASES)
    assert len(host_keys_from_data(result.final.data)) == 3
    assert (persist(env, "/persist/etc/nixos") / "flake.nix").is_file()
    assert env.state()["finished"] == list(PHASES)


def test_reboot_command_runs_after_the_final_event(installer_env: InstallerEnv) -> None:
    result = installer_env.run(reboot=True)
    assert result.returncode == 0, result.stderr
    assert result.final.kind == "done" and "rebooting" in result.final.message
    calls = installer_env.calls()
    assert calls[-2:] == [["zpool", "export", "rpool"], ["reboot"]]


def _block_flake(env: InstallerEnv) -> Path:
    """A file where the flake directory must go: the flake phase fails for real."""
    blocker = persist(env, "/persist/etc/nixos")
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_text("not a directory\n")
    return blocker


FAILURES = {
    # phase: (how to fail it once)
    "format": {"fail_once": "mount -t vfat"},  # after the pool exists and / is mounted
    "keys": {"fail_once": "ssh-keygen -q -t rsa", "faults": True},  # after the ed25519 key
    "flake": {},  # a file in the way of /persist/etc/nixos
    "install": {"fail_once": "nixos-install"},
    "reboot": {"fail_once": "zpool export"},
}


@pytest.mark.parametrize("phase", PHASES)
def test_resume_after_a_failure_in_each_phase(installer_env: InstallerEnv, phase: str) -> None:
    env = installer_env
    how = FAILURES[phase]
    blocker = _block_flake(env) if phase == "flake" else None
    if blocker is not None:
        # The blocker must survive the format phase, which creates the datasets afresh.
        first = env.run(phases="format")
        assert first.returncode == 0, first.stderr
        blocker = _block_flake(env)

    failed = env.run(**how)
    assert failed.returncode != 0
    assert failed.final.kind == "error"
    assert any(e.kind == "error" and e.phase == phase for e in failed.events)
    before = list(PHASES[: PHASES.index(phase)])
    state = env.state()
    assert state["finished"] == before
    assert state["failed"]["phase"] == phase
    assert env.key not in json.dumps(state).encode()
    ed25519 = persist(env, ROOT_KEYS[0])
    kept = ed25519.read_bytes() if phase == "keys" else None

    if blocker is not None:
        blocker.unlink()
    env.write_key()  # the controller writes the key file again before every run
    env.clear_calls()
    resumed = env.run(**how)  # the same fault is armed again: it fails only once
    assert resumed.returncode == 0, resumed.stderr
    assert [e.phase for e in resumed.events if e.kind == "skip"] == before
    assert [e.phase for e in resumed.events if e.kind == "start"] == list(PHASES[len(before) :])
    assert env.state()["finished"] == list(PHASES)
    assert "failed" not in env.state()
    created = [c for c in env.calls() if c[:2] == ["zpool", "create"]]
    assert len(created) == (1 if phase == "format" else 0)  # never reformatted after format
    if phase == "format":
        # The attempt left the pool imported and / mounted; both were released first.
        calls = env.calls()
        assert calls.index(["zpool", "export", "rpool"]) < calls.index(created[0])
    if kept is not None:
        assert ed25519.read_bytes() == kept  # the finished key of the failed attempt is kept
    keys = host_keys_from_data(resumed.final.data)
    assert len(keys) == 3
    assert len(env.install_calls()) == (2 if phase == "install" else 1)
    assert env.mounted() == []
    assert not KEY_FILE.exists()


def test_resume_in_a_fresh_installer_imports_the_pool_and_loads_the_key(
    installer_env: InstallerEnv,
) -> None:
    env = installer_env
    assert env.run(phases="format,keys").returncode == 0
    env.export_like_a_reboot()
    env.clear_calls()

    # Without the key file the pool cannot be unlocked: a clear error, nothing recorded.
    missing = env.run()
    assert missing.returncode != 0
    assert "disk key file" in missing.final.message and str(KEY_FILE) in missing.final.message
    assert env.state()["finished"] == ["format", "keys"]
    # ... after importing the pool, which needs no key.
    assert env.calls()[:2] == [
        ["zpool", "list", "-H", "-o", "name", "rpool"],
        # the loop disk has no by-id name: its ZFS partition is named directly
        ["zpool", "import", "-d", f"{env.device}p1", "-N", "-R", str(env.root), "rpool"],
    ]

    # A wrong key is refused by zfs load-key.
    KEY_FILE.write_bytes(b"not the right passphrase\n")
    wrong = env.run()
    assert wrong.returncode != 0
    assert "zfs load-key rpool failed" in wrong.final.message

    env.write_key()
    env.clear_calls()
    result = env.run()
    assert result.returncode == 0, result.stderr
    records = env.call_records()
    argvs = [r["argv"] for r in records]
    assert not [a for a in argvs if a[:2] == ["zpool", "import"]]  # still imported
    load = next(r for r in records if r["argv"][:2] == ["zfs", "load-key"])
    assert load["argv"] == ["zfs", "load-key", "-L", "prompt", "rpool"]
    assert load["stdinSha256"] == hashlib.sha256(env.key).hexdigest()  # on stdin, not argv
    mounts = [a for a in argvs if a[0] == "mount"]
    assert mounts[0] == ["mount", "-t", "zfs", "rpool/local/root", str(env.root)]
    assert ["mount", "-t", "vfat", "--", f"{env.device}p3", f"{env.root}/boot"] in mounts
    assert argvs.index(load["argv"]) < argvs.index(mounts[0])
    assert [e.phase for e in result.events if e.kind == "start"] == ["flake", "install", "reboot"]
    assert not KEY_FILE.exists()


def test_phases_subset_needs_its_predecessors(installer_env: InstallerEnv) -> None:
    env = installer_env
    early = env.run(phases="keys,install")
    assert early.returncode != 0
    assert "phase keys needs format first" in early.final.message
    assert env.calls() == []  # nothing touched the disk
    assert partition_types(env.device) == {}
    assert not KEY_FILE.exists()  # shredded although the run failed

    env.write_key()  # the controller writes the key file again before every run
    only_format = env.run(phases="format")
    assert only_format.returncode == 0, only_format.stderr
    assert [e.phase for e in only_format.events if e.kind == "start"] == ["format"]
    assert env.mounted()  # left mounted for the next phases
    assert only_format.final.data and dict(only_format.final.data)["next"] == "keys"
    status = subprocess.run(
        [sys.executable, "-c", CLI, "installer", "status", "--json"],
        capture_output=True,
        check=True,
        env=env.env(),
    )
    data = json.loads(status.stdout)
    assert data["finished"] == ["format"] and data["next"] == "keys"

    rest = env.run(phases="keys,flake")
    assert rest.returncode == 0
    assert env.state()["finished"] == ["format", "keys", "flake"]
    assert env.install_calls() == []


def test_state_of_another_host_is_refused_until_restart(installer_env: InstallerEnv) -> None:
    env = installer_env
    STATE_FILE.write_text(
        json.dumps(
            {
                "format": 1,
                "hostName": "otherhost",
                "disk": "/dev/disk/by-id/other",
                "pool": "rpool",
                "root": str(env.root),
                "finished": ["format"],
            }
        )
    )
    refused = env.run()
    assert refused.returncode == 4
    assert "records an install of host otherhost" in refused.final.message
    assert env.calls() == []
    env.write_key()
    restarted = env.run("--restart", phases="format")
    assert restarted.returncode == 0, restarted.stderr
    assert env.state()["hostName"] == "looptest"


def test_without_yes_nothing_is_wiped(installer_env: InstallerEnv) -> None:
    env = installer_env
    result = env.run(yes=False)
    assert result.returncode == 4
    assert "without confirmation" in result.final.message
    assert env.calls() == []
    assert partition_types(env.device) == {}
    assert not STATE_FILE.exists()


def test_key_file_on_a_disk_is_refused(installer_env: InstallerEnv) -> None:
    env = installer_env
    on_disk = env.tmp / "disk.key"
    on_disk.write_bytes(env.key)
    result = env.run(key_file=on_disk)
    assert result.returncode == 4
    assert "not on tmpfs" in result.final.message
    assert partition_types(env.device) == {}


def test_runtime_info_from_the_kernel_command_line(installer_env: InstallerEnv) -> None:
    env = installer_env
    cmdline = env.tmp / "cmdline"
    cmdline.write_text(
        f"init=/nix/store/x-nixos-system/init loglevel=4 "
        f"nixremote.info={encode_runtime_info(env.info)}\n"
    )
    result = env.run(
        "--dry-run",
        "--cmdline",
        str(cmdline),
        "--network-runtime-info",
        str(env.tmp / "absent.json"),
        runtime_info=False,
    )
    assert result.returncode == 0, result.stderr
    first = dict(result.events[0].data)
    assert first["source"] == f"kernel command line ({cmdline})"
    assert first["host"] == "looptest" and first["disk"] == env.device
    assert any(e.data and dict(e.data).get("dryRun") for e in result.events)
    assert env.calls() == []  # a dry run changes nothing
    assert not STATE_FILE.exists()


def test_plain_output_is_lines_for_a_console(installer_env: InstallerEnv) -> None:
    env = installer_env
    result = env.run(phases="format,keys", json_lines=False)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert any(line.startswith("[format] ") for line in lines)
    assert any(line.startswith("[keys] generate the ed25519 key") for line in lines)
    assert any(line.strip().startswith("disk:") and "WIPED" in line for line in lines)
    assert not any(line.startswith("{") for line in lines)
    assert env.key.decode() not in result.stdout + result.stderr
    assert "initrd.ed25519.sha256: SHA256:" in result.stdout
    assert os.environ.get("DOUBLE_FAIL_ONCE") is None


def _on_a_terminal(
    env: InstallerEnv, answers: list[tuple[str, str]], *extra: str
) -> tuple[int, str]:
    """Run ``installer run`` on a pseudo terminal (its controlling tty, as on a console) and
    answer each prompt (``(text to wait for, answer)``); returns the exit code and the output."""
    import pty
    import select

    master, slave = pty.openpty()
    argv = [
        sys.executable,
        "-c",
        CLI,
        "installer",
        "run",
        "--root",
        str(env.root),
        "--runtime-info",
        str(env.info_file),
        "--no-reboot",
        *extra,
    ]
    proc = subprocess.Popen(
        argv, env=env.env(), preexec_fn=lambda: os.login_tty(slave), close_fds=True
    )
    os.close(slave)
    out = b""
    pending = list(answers)
    while True:
        ready, _, _ = select.select([master], [], [], 60)
        if not ready:
            proc.kill()
            raise AssertionError(f"no output for 60 s: {out.decode(errors='replace')}")
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
        if pending and pending[0][0].encode() in out.rsplit(b"\n", 1)[-1]:
            os.write(master, pending.pop(0)[1].encode() + b"\n")
            out += b"\n"
    os.close(master)
    return proc.wait(timeout=60), out.decode(errors="replace")


def test_on_a_console_the_host_name_confirms_and_the_passphrase_is_asked(
    installer_env: InstallerEnv,
) -> None:
    env = installer_env
    code, out = _on_a_terminal(env, [("Type the host name", "wrong-host")], "--phases", "format")
    assert code == 4, out
    assert "confirmation failed" in out
    assert env.calls() == [] and partition_types(env.device) == {}

    passphrase = "typed at the console " + env.key.decode()[-8:]
    code, out = _on_a_terminal(
        env,
        [
            ("Type the host name", "looptest"),
            ("Disk encryption passphrase", passphrase),
            ("Repeat for confirmation", passphrase),
        ],
        "--phases",
        "format",
    )
    assert code == 0, out
    assert passphrase not in out  # not echoed
    assert "host name:   looptest" in out and "WIPED" in out  # the summary came first
    pools = json.loads((env.double_dir / "state.json").read_text())["pools"]
    assert pools["rpool"]["keySha256"] == hashlib.sha256(passphrase.encode()).hexdigest()
    assert env.state()["finished"] == ["format"]


def test_an_unencrypted_layout_reaches_the_host_configuration(
    installer_env: InstallerEnv,
) -> None:
    """The host flake learns the layout: an unencrypted pool must not ask for a key at boot."""
    env = installer_env
    result = env.run("--unencrypted", phases="format,keys,flake")
    assert result.returncode == 0, result.stderr
    flake = (persist(env, "/persist/etc/nixos") / "flake.nix").read_text()
    assert "nixremote.zfs.encrypted = false;" in flake
    pools = json.loads((env.double_dir / "state.json").read_text())["pools"]
    assert "keySha256" not in pools["rpool"] or pools["rpool"]["keySha256"] is None
