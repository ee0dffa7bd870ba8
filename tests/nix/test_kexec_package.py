"""nix/packages/kexec.nix: its build script, taken out by Nix and run with stand-in inputs.

The real inputs (the installer's kernel and initrd) cannot be built here. Nix evaluates the
package with stand-ins for nixpkgs' ``runCommand``/``stdenv`` and an installer whose store paths
are replaced by local files (test doubles); the build script then runs with bash, and the bundle
it writes is read by the controller's own reader (``nixremote.controller.bundle``) and by
``nixremote kexec grub-snippet``.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
from pathlib import Path
from typing import Any

from helpers.nix import REPO, nix_eval
from nixremote.cli.kexec import grub_snippet, read_bundle
from nixremote.controller.bundle import load_directory, unpacked_size

TOPLEVEL = "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-nixos-system-nixremote-25.11"
PYTHON = "/nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-python3-3.12.10"
NIXREMOTE = "/nix/store/cccccccccccccccccccccccccccccccc-nixremote-0.1.0"
FLAKE_INPUTS = {
    "nixpkgs": {
        "path": "/nix/store/dddddddddddddddddddddddddddddddd-source",
        "narHash": "sha256:0nsy761asxiaf69gl85myl326xagrvy5iv3kpm0gq1dz06s6xv29",
        "lastModified": 1763078400,
        "url": "github:NixOS/nixpkgs/nixos-25.11",
    },
    "nixremote": {
        "path": "/nix/store/ffffffffffffffffffffffffffffffff-source",
        "narHash": "sha256-SexutAG/BfxAvXPsWPzOT3UjBvW1IPqScSp2rYI5Xls=",
    },
}


def _package() -> Any:
    return nix_eval(
        f"import {REPO}/nix/packages/kexec.nix {{"
        ' lib.escapeShellArg = s: "\'" + builtins.replaceStrings [ "\'" ] [ "\'\\\\\'\'" ] s'
        ' + "\'";'
        ' stdenv = { hostPlatform = { system = "x86_64-linux"; parsed.cpu.name = "x86_64"; };'
        '   shell = "/bin/sh"; };'
        " runCommand = name: env: script: { inherit name script; };"
        ' gzip = "gzip"; jq = "jq";'
        f' nixremote = "{NIXREMOTE}";'
        " installer.config = {"
        '   system.build = { kernel = "@KERNEL@"; netbootRamdisk = "@RAMDISK@";'
        '     nixremoteFlakeInputs = "@FLAKE_INPUTS@";'
        f'     toplevel = "{TOPLEVEL}"; }};'
        '   system.boot.loader.kernelFile = "bzImage";'
        '   boot.kernelParams = [ "console=ttyS0,115200n8" "console=tty0" ];'
        f'   nixremote.installer.python = "{PYTHON}";'
        " }; }"
    )


def _fake_bzimage(path: Path) -> None:
    head = bytearray(0x400)
    head[0x202:0x206] = b"HdrS"
    head[0x236:0x238] = (1).to_bytes(2, "little")  # XLF_KERNEL_64
    path.write_bytes(bytes(head))


def _build(tmp_path: Path) -> Path:
    pkg = _package()
    assert pkg["name"] == "nixremote-kexec-x86_64-linux"
    kernel = tmp_path / "kernel"
    kernel.mkdir()
    _fake_bzimage(kernel / "bzImage")
    ramdisk = tmp_path / "ramdisk"
    ramdisk.mkdir()
    # like makeInitrdNG with `prepend`: two concatenated gzip members
    (ramdisk / "initrd").write_bytes(
        gzip.compress(b"stage-1 cpio " * 1000) + gzip.compress(b"squashfs " * 5000)
    )
    inputs = tmp_path / "flake-inputs.json"
    inputs.write_text(json.dumps(FLAKE_INPUTS))
    script = (
        pkg["script"]
        .replace("@KERNEL@", str(kernel))
        .replace("@RAMDISK@", str(ramdisk))
        .replace("@FLAKE_INPUTS@", str(inputs))
    )
    out = tmp_path / "result"
    env = dict(os.environ, out=str(out))
    subprocess.run(["bash", "-e", "-c", script], check=True, env=env, cwd=tmp_path)
    return out


def test_bundle_has_the_contracts_files(tmp_path: Path) -> None:
    out = _build(tmp_path)
    assert sorted(p.name for p in out.iterdir()) == [
        "bundle.json",
        "bzImage",
        "initrd.gz",
        "run-installer",
        "write-runtime-info",
    ]
    meta = json.loads((out / "bundle.json").read_text())
    assert meta == {
        "format": 1,
        "arch": "x86_64",
        "kernel": "bzImage",
        "initrd": "initrd.gz",
        "kernelParams": f"init={TOPLEVEL}/init console=ttyS0,115200n8 console=tty0",
        "python": f"{PYTHON}/bin/python3",
        "initrdUnpackedBytes": len(b"stage-1 cpio " * 1000) + len(b"squashfs " * 5000),
        "flakeInputs": FLAKE_INPUTS,
    }
    assert os.access(out / "run-installer", os.X_OK)
    run = (out / "run-installer").read_text()
    assert f'exec {NIXREMOTE}/bin/nixremote install --bundle "{out}" "$@"' in run
    assert f"exec {NIXREMOTE}/bin/nixremote info" in (out / "write-runtime-info").read_text()


def test_the_controller_reads_the_bundle(tmp_path: Path) -> None:
    out = _build(tmp_path)
    bundle = load_directory(out)
    assert {s.name: s.path for s in bundle.flake_sources} == {
        name: entry["path"] for name, entry in FLAKE_INPUTS.items()
    }
    assert bundle.arch == "x86_64"
    assert bundle.kernel == out / "bzImage" and bundle.initrd == out / "initrd.gz"
    assert bundle.kernel_params.startswith(f"init={TOPLEVEL}/init ")
    assert bundle.python == f"{PYTHON}/bin/python3"
    # the size the package measured with gzip equals what the controller computes itself
    assert bundle.initrd_unpacked_bytes == unpacked_size(out / "initrd.gz")
    boot = read_bundle(out)
    assert f"linux /root/bzImage init={TOPLEVEL}/init" in grub_snippet(boot)


def test_run_installer_passes_arguments(tmp_path: Path) -> None:
    out = _build(tmp_path)
    # run the script with a stand-in nixremote that prints its argv
    standin = tmp_path / NIXREMOTE.lstrip("/")
    fake = standin / "bin"
    fake.mkdir(parents=True)
    script = (out / "run-installer").read_text().replace(NIXREMOTE, str(standin))
    (fake / "nixremote").write_text('#!/bin/sh\nprintf "%s\\n" "$@"\n')
    (fake / "nixremote").chmod(0o755)
    result = subprocess.run(
        ["sh", "-c", script, "run-installer", "root@203.0.113.7", "--yes"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.splitlines() == [
        "install",
        "--bundle",
        str(out),
        "root@203.0.113.7",
        "--yes",
    ]
