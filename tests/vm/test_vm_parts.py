"""The pure parts of the VM machinery: the cpio writer, ldd/modules.dep parsing, sizes.

No VM here: these run in every test run, fast.
"""

from __future__ import annotations

import gzip
import os
import stat
import subprocess
from pathlib import Path

import pytest

from nixremote.core.errors import InvalidInputError
from nixremote.testing.vm import cpio, scripts
from nixremote.testing.vm.builder import artifacts_key
from nixremote.testing.vm.cli import parse_size
from nixremote.testing.vm.rootfs import (
    module_closure,
    module_name,
    parse_ldd,
    parse_modules_dep,
)


def test_cpio_archive_unpacks_with_gnu_cpio(tmp_path: Path) -> None:
    data = cpio.write_entries(
        [
            cpio.file_entry("ssh/ssh_host_ed25519_key", b"PRIVATE\n", 0o600),
            cpio.file_entry("nixremote/nixremote.pyz", b"PK\x05\x06" + b"\0" * 18),
            cpio.symlink_entry("etc/link", "../ssh/ssh_host_ed25519_key"),
            cpio.dir_entry("empty", 0o700),
        ]
    )
    raw = gzip.decompress(data)
    assert raw.startswith(b"070701")
    assert len(raw) % 512 == 0
    out = tmp_path / "out"
    out.mkdir()
    subprocess.run(
        ["cpio", "-idm", "--quiet", "--no-absolute-filenames"], input=raw, cwd=out, check=True
    )
    key = out / "ssh/ssh_host_ed25519_key"
    assert key.read_bytes() == b"PRIVATE\n"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert (out / "nixremote/nixremote.pyz").read_bytes().startswith(b"PK")
    assert os.readlink(out / "etc/link") == "../ssh/ssh_host_ed25519_key"
    assert stat.S_IMODE((out / "empty").stat().st_mode) == 0o700


def test_cpio_tree_round_trip_and_concatenation(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "usr/bin").mkdir(parents=True)
    (tree / "usr/bin/tool").write_bytes(b"#!/bin/sh\necho hi\n")
    (tree / "usr/bin/tool").chmod(0o755)
    (tree / "bin").symlink_to("usr/bin")
    dest = tmp_path / "a.cpio.gz"
    unpacked = cpio.write_tree(tree, dest)
    assert unpacked == len(b"#!/bin/sh\necho hi\n")
    extra = cpio.write_entries([cpio.file_entry("runtime-info.json", b"{}")])
    entries = cpio.read_entries(dest.read_bytes() + extra)
    by_path = {e.path: e for e in entries}
    assert by_path["usr/bin/tool"].data == b"#!/bin/sh\necho hi\n"
    assert stat.S_IMODE(by_path["usr/bin/tool"].mode) == 0o755
    assert stat.S_ISLNK(by_path["bin"].mode) and by_path["bin"].data == b"usr/bin"
    assert by_path["runtime-info.json"].data == b"{}"
    # equal input, equal archive (no mtimes)
    again = tmp_path / "b.cpio.gz"
    cpio.write_tree(tree, again)
    assert again.read_bytes() == dest.read_bytes()


def test_parse_ldd() -> None:
    out = """/usr/sbin/sshd:
\tlinux-vdso.so.1 (0x00007ffd)
\tlibcrypto.so.3 => /lib/x86_64-linux-gnu/libcrypto.so.3 (0x00007f)
\tlibz.so.1 => /lib/x86_64-linux-gnu/libz.so.1 (0x00007f)
\t/lib64/ld-linux-x86-64.so.2 (0x00007f)
/usr/bin/busybox:
\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f)
"""
    assert parse_ldd(out) == [
        "/lib/x86_64-linux-gnu/libcrypto.so.3",
        "/lib/x86_64-linux-gnu/libz.so.1",
        "/lib64/ld-linux-x86-64.so.2",
        "/lib/x86_64-linux-gnu/libc.so.6",
    ]


def test_module_closure_follows_dependencies() -> None:
    deps = parse_modules_dep(
        "updates/dkms/zfs.ko: updates/dkms/spl.ko updates/dkms/zcommon.ko\n"
        "updates/dkms/zcommon.ko: updates/dkms/spl.ko\n"
        "updates/dkms/spl.ko:\n"
        "kernel/drivers/block/virtio_blk.ko:\n"
        "kernel/crypto/xts.ko:\n"
        "kernel/crypto/sub/gf128mul.ko:\n"
        "kernel/fs/nls/nls_iso8859-1.ko:\n"
    )
    assert module_name("kernel/fs/nls/nls_iso8859-1.ko") == "nls_iso8859_1"
    assert module_closure(deps, ["zfs", "nls_iso8859_1", "builtin_thing"]) == [
        "kernel/fs/nls/nls_iso8859-1.ko",
        "updates/dkms/spl.ko",
        "updates/dkms/zcommon.ko",
        "updates/dkms/zfs.ko",
    ]
    assert module_closure(deps, [], ["kernel/crypto"]) == [
        "kernel/crypto/sub/gf128mul.ko",
        "kernel/crypto/xts.ko",
    ]


def test_cache_key_follows_the_scripts(monkeypatch: pytest.MonkeyPatch) -> None:
    before = artifacts_key()
    assert before == artifacts_key()
    monkeypatch.setattr(scripts, "INITTAB", scripts.INITTAB + "# changed\n")
    assert artifacts_key() != before


def test_init_scripts_parse_with_sh(tmp_path: Path) -> None:
    for early in (True, False):
        script = tmp_path / f"init-{early}"
        script.write_text(scripts.init_script(name="t", marker="M", early_udev=early))
        subprocess.run(["sh", "-n", str(script)], check=True)
        assert "@" not in script.read_text().replace("$@", "")
    subprocess.run(["sh", "-n", "-c", scripts.UDHCPC_SCRIPT], check=True)


def test_parse_size() -> None:
    assert parse_size("8G") == 8 * 1024**3
    assert parse_size("512M") == 512 * 1024**2
    assert parse_size("4096") == 4096
    assert parse_size("1GiB") == 1024**3
    with pytest.raises(InvalidInputError):
        parse_size("lots")
