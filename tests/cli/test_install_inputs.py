"""``nixremote install`` refuses bad arguments and files before it touches the host.

Each case runs the real command against a loopback sshd standing for the host: the command exits
non-zero with one ``error:`` line and a hint, and the server saw no connection at all (nothing
can have changed there). The keys given with ``--authorized-key`` and
``--authorized-keys-file`` reach the plan the installed system is built from.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.bundles import make_bundle
from helpers.json_output import result_data, warnings
from helpers.keys import KEYS
from nixremote.testing.sshd import LoopbackSshd

GOOD_KEY = b"a long enough passphrase\n"


def install(
    server: LoopbackSshd, tmp_path: Path, *args: str, target: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "nixremote.cli.main",
            "install",
            target or f"{server.user}@{server.host}",
            *([] if target else ["-p", str(server.port)]),
            "-i",
            str(server.identity),
            "--known-hosts",
            str(server.known_hosts),
            *args,
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "HOME": str(tmp_path)},
        stdin=subprocess.DEVNULL,
        timeout=120,
        check=False,
    )


def refused_before_anything(
    server: LoopbackSshd, proc: subprocess.CompletedProcess[str], code: int = 2
) -> str:
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    assert "Connection from" not in server.log_text()  # the host was never reached
    return proc.stderr


BAD_KEYS: list[tuple[str, bytes, str]] = [
    ("two lines", b"first line passphrase\nsecond line\n", "more than one line"),
    ("a NUL", b"pass\x00phrase-long", "NUL"),
    ("a CR in the middle", b"pass\rphrase-long\n", "carriage return"),
    ("too long", b"x" * 513, "513 bytes long"),
    ("too short", b"short\n", "5 bytes long"),
    ("empty", b"", "is empty"),
]


@pytest.mark.parametrize(("what", "content", "message"), BAD_KEYS, ids=[c[0] for c in BAD_KEYS])
def test_bad_disk_key_files_are_refused_before_the_kexec(
    loopback_sshd: LoopbackSshd, tmp_path: Path, what: str, content: bytes, message: str
) -> None:
    key = tmp_path / "disk.key"
    key.write_bytes(content)
    bundle = make_bundle(tmp_path / "b")
    before = loopback_sshd.known_hosts.read_text()
    proc = install(
        loopback_sshd, tmp_path, "--bundle", str(bundle), "--disk-key-file", str(key), "--yes"
    )
    err = refused_before_anything(loopback_sshd, proc)
    assert message in err and f"the disk key file {key}" in err
    assert "passphrase" not in err.replace("one-line passphrase", "")  # never echoes the key
    assert loopback_sshd.known_hosts.read_text() == before


def test_a_missing_disk_key_file_is_refused(loopback_sshd: LoopbackSshd, tmp_path: Path) -> None:
    proc = install(
        loopback_sshd,
        tmp_path,
        "--bundle",
        str(make_bundle(tmp_path / "b")),
        "--disk-key-file",
        str(tmp_path / "absent"),
        "--yes",
    )
    assert "cannot read the disk key file" in refused_before_anything(loopback_sshd, proc)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--authorized-key", "not a key"], "unknown key type"),
        (["--authorized-key", f"{KEYS[0]}\n{KEYS[1]}"], "control character"),
        (["--authorized-key", "ssh-ed25519 AAAA"], "whose blob holds no type"),
        (["--nixremote-flake", "a${b}"], "invalid flake reference"),
        (["--nixremote-flake", "github:a/b c"], "invalid flake reference"),
        (["--flake", "github:me/fleet"], "expected REF#NAME"),
        (["--flake", "github:a/b c#web1"], "invalid flake reference"),
        (["--flake", "github:me/fleet#a;b"], "invalid configuration name"),
        (["--flake", "./no-such-dir#web1"], "holds no flake.nix"),
        (["--extra-files", "./no-such-dir"], "--extra-files"),
    ],
)
def test_bad_keys_and_flakes_are_refused(
    loopback_sshd: LoopbackSshd, tmp_path: Path, args: list[str], message: str
) -> None:
    proc = install(
        loopback_sshd, tmp_path, "--dry-run", "--bundle", str(make_bundle(tmp_path / "b")), *args
    )
    assert message in refused_before_anything(loopback_sshd, proc)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (f"{KEYS[0]}\nnot a key\n", "line 2 of"),
        ("# only a comment\n\n", "holds no key"),
        (None, "cannot read the authorized keys file"),
    ],
)
def test_bad_authorized_keys_files_are_refused(
    loopback_sshd: LoopbackSshd, tmp_path: Path, content: str | None, message: str
) -> None:
    path = tmp_path / "keys"
    if content is not None:
        path.write_text(content)
    proc = install(
        loopback_sshd,
        tmp_path,
        "--dry-run",
        "--bundle",
        str(make_bundle(tmp_path / "b")),
        "--authorized-keys-file",
        str(path),
    )
    assert message in refused_before_anything(loopback_sshd, proc)


@pytest.mark.parametrize(
    ("target", "args", "message"),
    [
        ("root@[::1", [], "bracket is not closed"),
        ("root@127.0.0.1:99999", [], "port from 1 to 65535"),
        ("root@127.0.0.1", ["-p", "70000"], "70000 is not in the range 1<=x<=65535"),
        ("root@-oProxyCommand=id", [], "cannot read the host"),
    ],
)
def test_bad_targets_are_refused(
    loopback_sshd: LoopbackSshd, tmp_path: Path, target: str, args: list[str], message: str
) -> None:
    proc = install(loopback_sshd, tmp_path, "--dry-run", *args, target=target)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert "Connection from" not in loopback_sshd.log_text()


def test_the_keys_options_reach_the_plan(loopback_sshd: LoopbackSshd, tmp_path: Path) -> None:
    """The plan the kexec phase makes lists the keys the installed system trusts."""
    from nixremote.controller import pipeline
    from nixremote.controller.run import Run
    from nixremote.core.errors import PlanError

    bundle = make_bundle(tmp_path / "b")
    target = pipeline.Target(
        host=loopback_sshd.host,
        user=loopback_sshd.user,
        port=loopback_sshd.port,
        identity_file=loopback_sshd.identity,
        known_hosts=loopback_sshd.known_hosts,
    )
    identity = loopback_sshd.identity.with_name(loopback_sshd.identity.name + ".pub")
    identity_key = " ".join(identity.read_text().split()[:2])

    def planned(**options: object) -> tuple[str, ...]:
        run = Run(
            target,
            pipeline.InstallOptions(bundle=bundle, dry_run=True, **options),  # type: ignore[arg-type]
            None,
            pipeline.ssh_connector,
        )
        try:
            transport = run.connect_running()
            try:
                info = run.collect(transport)
            finally:
                transport.close()
            assert run.facts is not None
            return run.make_plan(info, run.facts).authorized_keys
        finally:
            run.close()

    # root on the loopback host trusts nothing of ours: the identity's .pub and the given key
    keys = planned(authorized_keys=(KEYS[1],))
    assert KEYS[1] in keys and any(k.startswith(identity_key) for k in keys)
    # a key file replaces the old root's keys and the identity
    keys = planned(authorized_keys=(KEYS[2],), replace_authorized_keys=True)
    assert keys == (KEYS[2],)
    with pytest.raises(PlanError, match="would trust no SSH key"):
        planned(authorized_keys=(), replace_authorized_keys=True)


def test_key_file_options_are_removed_with_a_warning(
    loopback_sshd: LoopbackSshd, tmp_path: Path
) -> None:
    path = tmp_path / "keys"
    path.write_text(f'command="echo no",no-pty {KEYS[3]} carol\n')
    proc = install(
        loopback_sshd,
        tmp_path,
        "--dry-run",
        "--json",
        "--layout",
        "bios",
        "--bundle",
        str(make_bundle(tmp_path / "b")),
        "--authorized-keys-file",
        str(path),
    )
    assert proc.returncode == 0, proc.stderr
    (warning,) = [w for w in warnings(proc.stdout) if "removed the options" in w]
    assert 'removed the options command="echo no",no-pty' in warning
    assert f"{path}:1" in warning
    assert proc.stderr == ""  # under --json the warning is an event on stdout
    assert result_data(proc.stdout)["dryRun"] is True
