"""Bundles (directory and nixos-images tarball) and the installer zipapp in a clean Python."""

from __future__ import annotations

import io
import json
import lzma
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from helpers.bundles import fake_bzimage, make_bundle
from nixremote import __version__
from nixremote.controller import bundle as bundles
from nixremote.controller import zipapp
from nixremote.core.errors import InvalidInputError

INIT = "/nix/store/0a1b2c3d4f5g6h7i0a1b2c3d4f5g6h7i-nixos-system-nixos-kexec-25.05pre/init"

RUN_SCRIPT = f"""#!/bin/sh
set -eux
kexec_extra_flags=""
# provided by nix
init="{INIT}"
kernelParams="'console=ttyS0,115200n8' 'console=tty0' 'zswap.enabled=1' 'loglevel=4'"
SCRIPT_DIR=$(dirname "$(readlink -f "$0")")
"""


def make_tarball(path: Path, initrd_raw: bytes) -> Path:
    kernel = fake_bzimage(path.parent / "k")
    with tarfile.open(path, "w:gz") as tar:
        for name, data in (
            ("kexec/bzImage", kernel.read_bytes()),
            ("kexec/initrd", lzma.compress(initrd_raw, format=lzma.FORMAT_XZ)),
            ("kexec/run", RUN_SCRIPT.encode()),
            ("kexec/kexec", b"\x7fELF static kexec"),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_directory_bundle(tmp_path: Path) -> None:
    b = bundles.load_bundle(make_bundle(tmp_path / "b"))
    assert b.kind == "directory" and b.arch == "x86_64" and b.python == "python3"
    assert b.kernel_params.startswith("init=/nix/store/")
    # no initrdUnpackedBytes in bundle.json: counted from the gzip'd initrd
    assert b.initrd_unpacked_bytes > 256 * 1024
    assert b.files == (b.kernel, b.initrd)
    assert b.flake_sources == ()  # a bundle without flakeInputs: the installer resolves online


NAR_HASH = "sha256-" + "A" * 43 + "="


def test_the_flake_sources_of_a_bundle(tmp_path: Path) -> None:
    d = make_bundle(tmp_path / "b")
    meta = json.loads((d / "bundle.json").read_text())
    store = f"/nix/store/{'b' * 32}-source"
    meta["flakeInputs"] = {
        "nixremote": {"path": store, "narHash": NAR_HASH},
        "nixpkgs": {
            "path": store.replace("b", "c"),
            "narHash": NAR_HASH,
            "lastModified": 1763078400,
            "url": "github:NixOS/nixpkgs/nixos-25.11",
        },
    }
    (d / "bundle.json").write_text(json.dumps(meta))
    b = bundles.load_bundle(d)
    assert [(s.name, s.path, s.url) for s in b.flake_sources] == [
        ("nixpkgs", store.replace("b", "c"), "github:NixOS/nixpkgs/nixos-25.11"),
        ("nixremote", store, None),
    ]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"format": 2}, "format 2 is not supported"),
        ({"arch": 64}, r"expected str, got int @ \$\.arch"),
        ({"kernelParams": "loglevel=4"}, r"no init= @ \$\.kernelParams"),
        ({"surprise": 1}, r"unknown key 'surprise' @ \$\.surprise"),
        ({"initrd": "missing.gz"}, "missing.gz is missing"),
        ({"flakeInputs": []}, r"flakeInputs is not an object @ \$\.flakeInputs"),
        (
            {"flakeInputs": {"nixpkgs": {"path": "/tmp/x", "narHash": "sha256-AAAA"}}},
            r"@ \$\.flakeInputs\.nixpkgs",
        ),
        (
            {
                "flakeInputs": {
                    "nixpkgs": {"path": f"/nix/store/{'a' * 32}-source", "narHash": "md5:0"}
                }
            },
            r"@ \$\.flakeInputs\.nixpkgs",
        ),
        (
            {
                "flakeInputs": {
                    "nixpkgs": {
                        "path": f"/nix/store/{'a' * 32}-source",
                        "narHash": NAR_HASH,
                        "url": "https://x?y",
                    }
                }
            },
            r"unsupported flake reference .* @ \$\.flakeInputs\.nixpkgs",
        ),
        (
            {
                "flakeInputs": {
                    "nixpkgs": {
                        "path": f"/nix/store/{'a' * 32}-source",
                        "narHash": NAR_HASH,
                        "extra": 1,
                    }
                }
            },
            r"@ \$\.flakeInputs\.nixpkgs",
        ),
    ],
)
def test_bad_bundle_json(tmp_path: Path, change: dict[str, object], message: str) -> None:
    d = make_bundle(tmp_path / "b")
    meta = json.loads((d / "bundle.json").read_text())
    meta.update(change)
    (d / "bundle.json").write_text(json.dumps(meta))
    with pytest.raises(InvalidInputError, match=message):
        bundles.load_bundle(d)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("kernel", "../secret", r"kernel '\.\./secret' is not a file name in the bundle"),
        ("kernel", "/etc/shadow", r"kernel '/etc/shadow' is not a file name"),
        ("initrd", "sub/initrd.gz", r"initrd 'sub/initrd.gz' is not a file name"),
        ("initrd", "..", r"initrd '\.\.' is not a file name"),
        ("kernel", "-bzImage", r"kernel '-bzImage' is not a file name"),
        ("kernel", "outside", r"kernel 'outside' links out of the bundle directory"),
        ("kernelParams", "init=/x\nquiet", r"control character @ \$\.kernelParams"),
        ("python", "python3; id", r"not a command name or absolute path @ \$\.python"),
        ("python", "-c", r"not a command name or absolute path @ \$\.python"),
    ],
)
def test_bundle_paths_stay_in_the_bundle(
    tmp_path: Path, key: str, value: str, message: str
) -> None:
    """bundle.json cannot make nixremote upload a file from elsewhere on this machine."""
    secret = tmp_path / "secret"
    secret.write_bytes(b"a controller file")
    d = make_bundle(tmp_path / "b")
    (d / "outside").symlink_to(secret)
    (d / "inside").symlink_to(d / "bzImage")
    meta = json.loads((d / "bundle.json").read_text())
    with pytest.raises(InvalidInputError, match=message) as err:
        (d / "bundle.json").write_text(json.dumps({**meta, key: value}))
        bundles.load_bundle(d)
    assert "\n" not in str(err.value)
    # a link to a file of the bundle itself is fine
    (d / "bundle.json").write_text(json.dumps({**meta, "kernel": "inside"}))
    assert bundles.load_bundle(d).kernel == d / "inside"


def test_nixos_images_tarball(tmp_path: Path) -> None:
    raw = b"070701" + b"x" * 300_000
    tarball = make_tarball(
        tmp_path / "nixos-kexec-installer-noninteractive-x86_64-linux.tar.gz", raw
    )
    cache = tmp_path / "cache"
    b = bundles.load_bundle(tarball, cache_dir=cache)
    assert b.kind == "tarball" and b.arch == "x86_64" and b.python is None
    assert b.kernel_params == (
        f"init={INIT} console=ttyS0,115200n8 console=tty0 zswap.enabled=1 loglevel=4"
    )
    assert b.initrd_unpacked_bytes == len(raw)
    assert lzma.decompress(b.initrd.read_bytes()) == raw
    stamp = b.initrd.stat().st_mtime_ns
    again = bundles.load_bundle(tarball, cache_dir=cache)
    assert again == b and again.initrd.stat().st_mtime_ns == stamp  # extracted once


def test_run_script_parsing_and_errors(tmp_path: Path) -> None:
    assert (
        bundles.parse_run_script('init="/nix/store/a/init"\nkernelParams="a b"\n')
        == "init=/nix/store/a/init a b"
    )
    with pytest.raises(InvalidInputError, match="no init= assignment"):
        bundles.parse_run_script('init="@init@"\n')
    broken = tmp_path / "broken.tar.gz"
    with tarfile.open(broken, "w:gz") as tar:
        info = tarfile.TarInfo("kexec/bzImage")
        tar.addfile(info, io.BytesIO(b""))
    with pytest.raises(InvalidInputError, match="kexec/initrd is missing"):
        bundles.load_bundle(broken, cache_dir=tmp_path / "c")


def test_kernel_arch(tmp_path: Path) -> None:
    assert bundles.kernel_arch(fake_bzimage(tmp_path / "a")) == "x86_64"
    arm = bytearray(0x100)
    arm[0x38:0x3C] = b"ARM\x64"
    (tmp_path / "Image").write_bytes(bytes(arm))
    assert bundles.kernel_arch(tmp_path / "Image") == "aarch64"
    (tmp_path / "junk").write_bytes(b"junk")
    assert bundles.kernel_arch(tmp_path / "junk") is None


# --- the zipapp ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pyz(tmp_path_factory: pytest.TempPathFactory) -> zipapp.ZipappInfo:
    return zipapp.build_zipapp(tmp_path_factory.mktemp("pyz") / "nixremote.pyz")


def test_zipapp_contents(pyz: zipapp.ZipappInfo) -> None:
    assert set(pyz.modules) >= {"nixremote", "attr", "attrs", "cattrs", "click", "pluggy"}
    with zipfile.ZipFile(pyz.path) as zf:
        names = zf.namelist()
    tops = {n.split("/")[0] for n in names}
    assert not tops & {"fabric", "paramiko", "invoke", "hcloud", "rich", "cryptography"}
    assert "nixremote/installers/phases.py" in names
    assert "nixremote/core/cmdline.py" in names
    assert "nixremote/controller/ssh.py" not in names
    assert "nixremote/cli/install.py" not in names
    assert "nixremote/installers/phases.pyc" in names  # bytecode beside the source
    assert pyz.size < 2_000_000, pyz.size
    assert zipapp.build_bytes() == pyz.path.read_bytes()  # deterministic


WHERE = (
    "import sys; sys.path.insert(0, sys.argv[1]); import nixremote.installers.phases as m;"
    "print(m.__file__)"
)


def test_zipapp_bytecode_and_its_fallback(pyz: zipapp.ZipappInfo, tmp_path: Path) -> None:
    clean = [sys.executable, "-I", "-S", "-c", WHERE]
    out = subprocess.run([*clean, str(pyz.path)], capture_output=True, text=True, check=True)
    assert out.stdout.strip().endswith("nixremote/installers/phases.pyc")
    # another Python version (another magic number): zipimport uses the sources
    other = tmp_path / "other-magic.pyz"
    with zipfile.ZipFile(pyz.path) as src, zipfile.ZipFile(other, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename.endswith(".pyc"):
                data = b"\x00\x00\r\n" + data[4:]
            dst.writestr(item, data)
    out = subprocess.run([*clean, str(other)], capture_output=True, text=True, check=True)
    assert out.stdout.strip().endswith("nixremote/installers/phases.py")
    version = subprocess.run(
        [sys.executable, "-I", "-S", str(other), "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert version.stdout.strip() == f"nixremote, version {__version__}"


def test_zipapp_runs_in_a_clean_python(pyz: zipapp.ZipappInfo) -> None:
    clean = [sys.executable, "-I", "-S"]
    out = subprocess.run(
        [*clean, str(pyz.path), "--version"], capture_output=True, text=True, check=True, cwd="/"
    )
    assert out.stdout.strip() == f"nixremote, version {__version__}"
    # the installer's command, with every import it does, never touches the forbidden ones
    timed = subprocess.run(
        [*clean, "-X", "importtime", str(pyz.path), "installer", "run", "--help"],
        capture_output=True,
        text=True,
        check=True,
        cwd="/",
    )
    assert "--disk-key-file" in timed.stdout  # (--key-file, the old name, still parses)
    imported = {
        line.split("|")[-1].strip().split(".")[0]
        for line in timed.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert "nixremote" in imported and "click" in imported
    assert not imported & set(zipapp.FORBIDDEN), imported & set(zipapp.FORBIDDEN)
    report = zipapp.verify_zipapp(pyz.path)
    assert report == {"failed": {}, "forbidden": [], "outside": []}


def test_zipapp_decodes_the_command_line(pyz: zipapp.ZipappInfo, tmp_path: Path) -> None:
    """The installer side of the codec runs from the zipapp alone."""
    from helpers.sample_hosts import KERNEL_PARAMS, big_host
    from nixremote.core.cmdline import kernel_command_line

    info = big_host()
    line = kernel_command_line(KERNEL_PARAMS, info)
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "from nixremote.core.cmdline import runtime_info_from_cmdline;"
        "print(runtime_info_from_cmdline(sys.argv[2]).host_name)"
    )
    out = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code, str(pyz.path), line],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == info.host_name
