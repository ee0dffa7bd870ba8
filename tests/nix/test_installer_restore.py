"""The installer image's restore of the handoff archive (nix/modules/installer.nix).

The archive is built by the controller's own code (``nixremote.controller.handoff``), unpacked by
GNU cpio as the kernel would, and the restore scripts are taken out of the NixOS module by Nix
itself (the module evaluated with a minimal stand-in for nixpkgs' ``lib``) and run with bash, with
``/sysroot``, ``/etc`` and ``/var/lib`` moved under a temporary directory.
"""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from helpers.nix import CASES, REPO, nix_eval
from nixremote.controller.handoff import NetworkDump, archive_entries, build_archive
from nixremote.controller.keypair import generate_host_key
from nixremote.core.converter import load_runtime_info, loads_runtime_info

LIB_STANDIN = """{
  mkDefault = x: x; mkForce = x: x; mkIf = c: x: x; mkOption = x: x;
  literalExpression = x: x; trivial.release = "25.11";
  optionalString = c: s: if c then s else "";
  optional = c: x: if c then [ x ] else [ ];
  types = { package = null; str = null; bool = null; listOf = x: null; };
}"""


def _module_scripts() -> tuple[str, str]:
    expr = (
        f"let m = import {REPO}/nix/modules/installer.nix {{"
        f' lib = {LIB_STANDIN}; modulesPath = "/modules";'
        ' pkgs = { stdenv.hostPlatform.isx86 = true; writers.writePython3 = n: o: t: "/x"; };'
        " config = { nixremote.installer = { }; boot.zfs.package = null; }; };"
        " in [ m.config.boot.initrd.systemd.services.nixremote-restore-handoff.script"
        "      m.config.systemd.services.nixremote-host-key.script ]"
    )
    initrd, stage2 = nix_eval(expr)
    return initrd, stage2


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def unpacked(tmp_path: Path) -> tuple[Path, object]:
    key = generate_host_key("installer")
    info = load_runtime_info(CASES / "hoster" / "runtime-info.json")
    archive = build_archive(
        archive_entries(
            host_key=key,
            authorized_keys=["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAbc user@example"],
            info=info,
            network=NetworkDump(addrs='[{"ifname": "eth0"}]'),
            zipapp=b"PK\x05\x06" + b"\0" * 18,
        )
    )
    root = tmp_path / "initramfs"
    root.mkdir()
    subprocess.run(
        ["sh", "-c", "gzip -dc | cpio -idm --quiet"], input=archive, cwd=root, check=True
    )
    return root, key


def test_restore_follows_the_bundle_contract(tmp_path: Path, unpacked: tuple[Path, object]) -> None:
    root, key = unpacked
    initrd_script, stage2_script = _module_scripts()
    sysroot = tmp_path / "sysroot"
    sysroot.mkdir()
    script = initrd_script.replace("cd /\n", f"cd {root}\n").replace("/sysroot", str(sysroot))
    assert str(root) in script  # the script really works from the initramfs root
    subprocess.run(["bash", "-e", "-c", script], check=True, cwd=root)

    authorized = sysroot / "root/.ssh/authorized_keys"
    assert authorized.read_text() == "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAbc user@example\n"
    assert _mode(authorized) == 0o600
    assert _mode(sysroot / "root/.ssh") == 0o700
    network = sysroot / "root/network"
    assert sorted(p.name for p in network.iterdir()) == [
        "addrs.json",
        "routes-v4.json",
        "routes-v6.json",
        "runtime-info.json",
    ]
    assert loads_runtime_info((network / "runtime-info.json").read_text()).host_name == (
        "web1.example.com"
    )
    assert (sysroot / "root/nixremote.pyz").read_bytes().startswith(b"PK")

    # stage 2: the pinned key into /etc/ssh, with the contract's modes
    etc = sysroot / "etc"
    stage2 = stage2_script.replace("/var/lib", str(sysroot / "var/lib")).replace(
        "/etc/ssh", str(etc / "ssh")
    )
    subprocess.run(["bash", "-e", "-c", stage2], check=True)
    private = etc / "ssh/ssh_host_ed25519_key"
    public = etc / "ssh/ssh_host_ed25519_key.pub"
    assert private.read_text() == key.private_openssh  # type: ignore[attr-defined]
    assert public.read_text().split()[:2] == key.public_openssh.split()[:2]  # type: ignore[attr-defined]
    assert (_mode(private), _mode(public)) == (0o600, 0o644)
    # sshd would accept the key file as it is
    check = subprocess.run(
        ["ssh-keygen", "-l", "-f", str(private)], capture_output=True, text=True, check=False
    )
    assert check.returncode == 0, check.stderr


def test_restore_without_archive_changes_nothing_but_dirs(tmp_path: Path) -> None:
    initrd_script, _ = _module_scripts()
    empty = tmp_path / "initramfs"
    empty.mkdir()
    sysroot = tmp_path / "sysroot"
    sysroot.mkdir()
    script = initrd_script.replace("cd /\n", f"cd {empty}\n").replace("/sysroot", str(sysroot))
    subprocess.run(["bash", "-e", "-c", script], check=True, cwd=empty)
    files = [p for p in sysroot.rglob("*") if p.is_file()]
    assert files == []
    assert os.path.isdir(sysroot / "root/network")


def test_restore_network_script_passes_the_nix_writers_flake8() -> None:
    # pkgs.writers.writePython3 runs flake8 at build time with the module's flakeIgnore list;
    # a warning there would fail `nix build .#kexec`, which CI cannot run.
    import re
    import sys

    module = (REPO / "nix/modules/installer.nix").read_text()
    match = re.search(r"flakeIgnore = \[([^\]]*)\]", module)
    assert match is not None
    ignore = ",".join(re.findall(r'"([A-Z][0-9]+)"', match.group(1)))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "flake8",
            f"--ignore={ignore}",
            str(REPO / "src/nixremote/installers/restore_network.py"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
