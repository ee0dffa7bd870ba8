"""``nixremote kexec grub-snippet``: GRUB lines with the bundle's own init= path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nixremote.cli.kexec import grub_snippet, read_bundle
from nixremote.cli.main import main
from nixremote.core.errors import InvalidInputError

INIT = "/nix/store/0123456789abcdfghijklmnpqrsvwxyz-nixos-system-nixos-25.11.20251120.abcdef0/init"


def _bundle(tmp_path: Path, **over: object) -> Path:
    meta = {
        "format": 1,
        "arch": "x86_64",
        "kernel": "bzImage",
        "initrd": "initrd.gz",
        "kernelParams": f"init={INIT} console=ttyS0,115200n8 console=tty0",
        "python": "/nix/store/xyz-python3-3.12.8/bin/python3",
        "initrdUnpackedBytes": 412345678,
    }
    meta.update(over)
    (tmp_path / "bundle.json").write_text(json.dumps(meta))
    return tmp_path


def test_snippet_from_bundle_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["kexec", "grub-snippet", str(_bundle(tmp_path))])
    out = capsys.readouterr().out
    assert out.splitlines() == [
        "insmod gzio",
        "insmod part_gpt",
        "insmod part_msdos",
        "insmod ext2",
        "set root='hd0,gpt1'",
        f"linux /root/bzImage init={INIT} console=ttyS0,115200n8 console=tty0",
        "initrd /root/initrd.gz",
        "boot",
    ]


def test_snippet_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bundle = _bundle(tmp_path, kernel="Image")
    main(
        [
            "kexec",
            "grub-snippet",
            str(bundle),
            "--root",
            "hd0,msdos1",
            "--dir",
            "/boot/nr/",
            "--append",
            "loglevel=7",
        ]
    )
    lines = capsys.readouterr().out.splitlines()
    assert "set root='hd0,msdos1'" in lines
    params = f"init={INIT} console=ttyS0,115200n8 console=tty0 loglevel=7"
    assert f"linux /boot/nr/Image {params}" in lines
    assert "initrd /boot/nr/initrd.gz" in lines


def test_snippet_from_stock_nixos_images_tarball(tmp_path: Path) -> None:
    kexec = tmp_path / "kexec"
    kexec.mkdir()
    (kexec / "bzImage").write_bytes(b"\0")
    (kexec / "initrd").write_bytes(b"\0")
    (kexec / "run").write_text(
        "#!/bin/sh\nset -eu\n"
        f"init='{INIT}'\n"
        "kernelParams='console=tty0 zswap.enabled=1'\n"
        'kexec --load bzImage --command-line "init=$init $kernelParams"\n'
    )
    boot = read_bundle(tmp_path)
    assert boot.kernel == "kexec/bzImage" and boot.initrd == "kexec/initrd"
    assert boot.kernel_params == f"init={INIT} console=tty0 zswap.enabled=1"
    text = grub_snippet(boot, directory="/")
    assert f"linux /kexec/bzImage init={INIT}" in text


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"format": 2}, "unsupported format"),
        ({"kernelParams": ""}, r"\$\.kernelParams"),
        ({"kernel": None}, r"\$\.kernel"),
    ],
)
def test_bad_bundle_json(tmp_path: Path, over: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        read_bundle(_bundle(tmp_path, **over))


def test_not_a_bundle(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["kexec", "grub-snippet", str(tmp_path)])
    assert exc.value.code == 2
    assert "is not a kexec bundle" in capsys.readouterr().err


def test_kexec_package_writes_what_the_reader_expects() -> None:
    # nix/packages/kexec.nix cannot be built here; check that it writes the fields we read
    text = (Path(__file__).resolve().parents[2] / "nix/packages/kexec.nix").read_text()
    for field in (
        "format: 1",
        "arch: $arch",
        "kernel: $kernel",
        'initrd: "initrd.gz"',
        "kernelParams: $params",
        "python: $python",
        "initrdUnpackedBytes: $unpacked",
    ):
        assert field in text
    assert 'kernelParams = "init=${build.toplevel}/init' in text
