"""``nixremote kexec``: inspect kexec bundles (the contract of ``docs/kexec-bundle.md``)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import click
from attrs import frozen

from ..core import jsontext
from ..core.errors import InvalidInputError
from .output import json_option


@frozen(kw_only=True)
class BundleBoot:
    """What booting a bundle needs: kernel and initrd file names and the kernel parameters."""

    kernel: str
    initrd: str
    kernel_params: str


def _stock_run_params(run: Path) -> str:
    """``init=... <kernelParams>`` from a stock nixos-images ``kexec/run`` script."""
    text = run.read_text(encoding="utf-8", errors="replace")
    values: dict[str, str] = {}
    for key in ("init", "kernelParams"):
        match = re.search(rf"^\s*{key}=(.*)$", text, re.MULTILINE)
        if match:
            try:
                parts = shlex.split(match.group(1))
            except ValueError:
                parts = []
            values[key] = parts[0] if parts else ""
    if not values.get("init"):
        raise InvalidInputError(f"{run} sets no init=", hint="is this a nixos-images kexec/run?")
    return " ".join(p for p in (f"init={values['init']}", values.get("kernelParams", "")) if p)


def read_bundle(path: str | Path) -> BundleBoot:
    """Read a bundle directory (``bundle.json``) or an unpacked nixos-images tarball."""
    root = Path(path)
    meta_file = root / "bundle.json"
    if meta_file.is_file():
        try:
            meta: Any = jsontext.loads(meta_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InvalidInputError(
                f"cannot read {meta_file}: {exc}", hint="rebuild the bundle (nix build .#kexec)"
            ) from None
        if not isinstance(meta, dict):
            raise InvalidInputError(f"{meta_file}: expected a JSON object @ $", hint="rebuild it")
        for key in ("kernel", "initrd", "kernelParams"):
            if not isinstance(meta.get(key), str) or not meta[key]:
                raise InvalidInputError(
                    f"{meta_file}: missing or empty string @ $.{key}",
                    hint="rebuild the bundle (nix build .#kexec)",
                )
        if meta.get("format") != 1:
            raise InvalidInputError(
                f"{meta_file}: unsupported format {meta.get('format')!r} @ $.format",
                hint="use a bundle of format 1 or upgrade nixremote",
            )
        return BundleBoot(
            kernel=meta["kernel"], initrd=meta["initrd"], kernel_params=meta["kernelParams"]
        )
    for base in (root / "kexec", root):
        if (base / "run").is_file() and (base / "bzImage").is_file():
            prefix = "kexec/" if base != root else ""
            return BundleBoot(
                kernel=prefix + "bzImage",
                initrd=prefix + "initrd",
                kernel_params=_stock_run_params(base / "run"),
            )
    raise InvalidInputError(
        f"{root} is not a kexec bundle (no bundle.json, no kexec/run)",
        hint="pass the result of nix build .#kexec, or an unpacked nixos-images tarball",
    )


def grub_snippet(
    boot: BundleBoot, *, root: str = "hd0,gpt1", directory: str = "/root", extra: str = ""
) -> str:
    """The GRUB console lines that boot the bundle from ``directory`` on partition ``root``."""
    directory = "/" + directory.strip("/") if directory.strip("/") else ""
    params = " ".join(p for p in (boot.kernel_params, extra) if p)
    return (
        "\n".join(
            [
                "insmod gzio",
                "insmod part_gpt",
                "insmod part_msdos",
                "insmod ext2",
                f"set root='{root}'",
                f"linux {directory}/{boot.kernel} {params}",
                f"initrd {directory}/{boot.initrd}",
                "boot",
            ]
        )
        + "\n"
    )


@click.group("kexec")
def kexec_group() -> None:
    """Inspect kexec bundles."""


@kexec_group.command("grub-snippet")
@click.argument("bundle", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--root",
    "grub_root",
    default="hd0,gpt1",
    show_default=True,
    help="GRUB device of the partition that holds the bundle files.",
)
@click.option(
    "--dir",
    "directory",
    default="/root",
    show_default=True,
    help="Directory of the bundle files on that partition.",
)
@click.option("--append", default="", help="More kernel parameters (e.g. console=ttyS0).")
def grub_snippet_cmd(bundle: Path, grub_root: str, directory: str, append: str) -> None:
    """Print GRUB console lines that boot BUNDLE by hand (debugging the installer image).

    Copy the bundle's kernel and initrd to DIR on the old system, open the hoster's console,
    press `c` in GRUB and paste the lines.
    """
    click.echo(
        grub_snippet(read_bundle(bundle), root=grub_root, directory=directory, extra=append),
        nl=False,
    )


@kexec_group.command("url-bundle")
@click.argument("bundle", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("base_url", metavar="BASE_URL")
@click.option(
    "-o",
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Directory to write the URL bundle's bundle.json into (created).",
)
@json_option
def url_bundle_cmd(bundle: Path, base_url: str, output: Path, as_json: bool) -> None:
    """Write a URL bundle for BUNDLE: a bundle.json whose kernel and initrd the target downloads
    from BASE_URL/<file name> (put BUNDLE's files there) and checks by sha256 and size.

    Then `nixremote install --bundle OUTPUT` sends only the handoff archive; the target fetches
    the rest at its own speed.
    """
    import hashlib
    import json

    from ..controller.bundle import check_url, load_bundle
    from ..core.errors import InvalidInputError
    from .output import emit_result

    loaded = load_bundle(bundle)
    if loaded.kind != "directory" or loaded.fetched:
        raise InvalidInputError(
            f"{bundle} is not a bundle directory with its files", hint="pass nix build .#kexec"
        )
    meta = json.loads((bundle / "bundle.json").read_text(encoding="utf-8"))
    for key, path in (("kernel", loaded.kernel), ("initrd", loaded.initrd)):
        digest = hashlib.sha256()
        with path.open("rb") as f:
            while block := f.read(1 << 20):
                digest.update(block)
        url = check_url(f"{base_url.rstrip('/')}/{path.name}", "BASE_URL")
        meta[key] = {"url": url, "sha256": digest.hexdigest(), "size": path.stat().st_size}
    meta["initrdUnpackedBytes"] = loaded.initrd_unpacked_bytes
    output.mkdir(parents=True, exist_ok=True)
    (output / "bundle.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    load_bundle(output)  # what was written reads back
    message = f"wrote {output / 'bundle.json'}: the target fetches {base_url}"
    if as_json:
        emit_result(message, meta)
    else:
        click.echo(message, err=True)
