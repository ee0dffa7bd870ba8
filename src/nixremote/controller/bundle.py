"""Kexec bundles: this project's bundle directory, or a stock nixos-images kexec tarball.

A bundle directory has ``bundle.json`` (see ``docs/kexec-bundle.md``) beside the kernel and the
initrd. A nixos-images tarball (``nixos-kexec-installer-*-<system>.tar.gz``) holds
``kexec/bzImage``, ``kexec/initrd`` and ``kexec/run``; its ``init=`` and ``kernelParams=`` are read
from ``run`` and its
kernel and initrd are extracted into a cache directory (once per tarball content) so they can be
uploaded like a directory bundle's.

:func:`load_bundle` is pure apart from reading those files; it never touches a host.
"""

from __future__ import annotations

import hashlib
import json
import logging
import lzma
import os
import re
import shlex
import shutil
import tarfile
import zlib
from pathlib import Path
from typing import Any, BinaryIO

from attrs import frozen

from ..core import jsontext
from ..core.errors import InvalidInputError
from ..core.flakelock import LockedSource, parse_flake_ref
from ..core.plan import FlakeSource

log = logging.getLogger(__name__)

BUNDLE_FORMAT = 1

ARCH_ALIASES = {
    "x86_64": "x86_64",
    "amd64": "x86_64",
    "x86_64-linux": "x86_64",
    "aarch64": "aarch64",
    "arm64": "aarch64",
    "aarch64-linux": "aarch64",
}


@frozen(kw_only=True)
class Bundle:
    """A kexec bundle ready to upload.

    ``kernel`` and ``initrd`` are local files; ``kernel_params`` is the whole parameter string the
    bundle boots with (``init=...`` first); ``python`` is the interpreter inside the booted
    installer when the bundle names one (a stock tarball does not: see
    :mod:`nixremote.controller.handoff`); ``initrd_unpacked_bytes`` is what the initramfs takes in
    RAM once unpacked; ``source`` is the directory or tarball it came from.
    """

    source: Path
    kind: str
    arch: str
    kernel: Path
    initrd: Path
    kernel_params: str
    python: str | None = None
    initrd_unpacked_bytes: int
    restores_archive: bool = True
    flake_sources: tuple[FlakeSource, ...] = ()
    fetch: tuple[RemoteFile, ...] = ()

    @property
    def files(self) -> tuple[Path, ...]:
        """The files to upload (kernel, initrd)."""
        return (self.kernel, self.initrd)

    @property
    def fetched(self) -> bool:
        """Whether the target downloads the kernel and initrd itself (a URL bundle)."""
        return bool(self.fetch)

    def size(self, path: Path) -> int:
        """The size of the kernel or the initrd (a URL bundle's as its bundle.json says)."""
        for remote in self.fetch:
            if remote.name == path.name:
                return remote.size
        return path.stat().st_size

    @property
    def kernel_bytes(self) -> int:
        return self.size(self.kernel)

    @property
    def initrd_bytes(self) -> int:
        return self.size(self.initrd)


@frozen(kw_only=True)
class RemoteFile:
    """A file of a URL bundle that the target downloads: its name there, URL, sha256, size."""

    name: str
    url: str
    sha256: str
    size: int


MAX_URL = 2048
_URL = re.compile(r"https?://[A-Za-z0-9._~:/?#\[\]@&+,=%-]+")
"""An http(s) URL without characters a shell reads (``$ ' ( ) ! * ;``, quotes, spaces): it is
passed quoted anyway, and no bundle URL needs them."""
_HEX64 = re.compile(r"[0-9a-f]{64}")


def check_url(url: object, where: str = "url") -> str:
    """An http(s) URL of printable ASCII without whitespace or quotes; one line otherwise."""
    from urllib.parse import urlsplit

    hint = "use an http:// or https:// URL"
    if not isinstance(url, str) or len(url) > MAX_URL or not _URL.fullmatch(url):
        raise InvalidInputError(f"{where}: {str(url)[:80]!r} is not an http(s) URL", hint=hint)
    if not urlsplit(url).hostname:
        raise InvalidInputError(f"{where}: {url[:80]!r} names no host", hint=hint)
    return url


def check_sha256(value: object, where: str = "sha256") -> str:
    """64 hex digits (lowercased)."""
    text = value.lower() if isinstance(value, str) else ""
    if not _HEX64.fullmatch(text):
        raise InvalidInputError(
            f"{where}: {str(value)[:80]!r} is not a sha256", hint="use 64 hex digits"
        )
    return text


def normalize_arch(value: str) -> str:
    """``amd64``/``x86_64-linux`` -> ``x86_64``; unknown names are returned unchanged."""
    return ARCH_ALIASES.get(value.strip().lower(), value.strip().lower())


def kernel_arch(path: Path) -> str | None:
    """The architecture of a kernel image from its header, or ``None`` when unknown.

    x86 bzImage: ``HdrS`` at 0x202 (64-bit when ``xloadflags`` has ``XLF_KERNEL_64``);
    arm64 ``Image``: ``ARM\\x64`` at 0x38; an EFI zboot image: ``zimg`` at 4 (arch at 0x18 of
    the PE header is not parsed: arm64 is the only one nixos-images ships that way).
    """
    try:
        with path.open("rb") as f:
            head = f.read(0x240)
    except OSError:
        return None
    if len(head) >= 0x238 and head[0x202:0x206] == b"HdrS":
        xloadflags = int.from_bytes(head[0x236:0x238], "little")
        return "x86_64" if xloadflags & 1 else "i686"
    if head[0x38:0x3C] == b"ARM\x64":
        return "aarch64"
    if head[4:8] == b"zimg":
        return "aarch64"
    return None


# --- unpacked size of an initrd ----------------------------------------------------------------


_XZ_MAGIC = b"\xfd7zXZ\x00"


def _decompressor(head: bytes) -> Any:
    if head[:2] == b"\x1f\x8b":
        return zlib.decompressobj(wbits=31)
    if head[:6] == _XZ_MAGIC:
        return lzma.LZMADecompressor(format=lzma.FORMAT_XZ)
    return None


def unpacked_size(path: Path) -> int:
    """Bytes the initrd takes once decompressed (the RAM the new kernel's rootfs needs).

    Each concatenated member is counted: gzip and xz members are decompressed, a plain cpio
    member counts its size; a member in another compression (zstd, lz4) is estimated at 4x its
    compressed size.
    """
    total = 0
    try:
        with path.open("rb") as f:
            pending = b""
            dec: Any = None
            while True:
                if not pending:
                    pending = f.read(1 << 20)
                    if not pending:
                        break
                if dec is None:
                    pending = pending.lstrip(b"\x00")  # padding between members
                    if len(pending) < 6:
                        more = f.read(1 << 20)
                        if not more:
                            total += len(pending)
                            break
                        pending += more
                        continue
                    dec = _decompressor(pending)
                    if dec is None:
                        rest = len(pending) + _rest_size(f)
                        if pending.startswith(b"0707"):
                            return total + rest
                        log.info("%s: unknown compression, estimating 4x", path)
                        return total + 4 * rest
                total += len(dec.decompress(pending))
                pending = b""
                if dec.eof:
                    pending, dec = dec.unused_data, None
            if dec is not None:
                raise EOFError("compressed data ends early")
    except (OSError, EOFError, lzma.LZMAError, zlib.error) as exc:
        raise InvalidInputError(
            f"{path}: cannot decompress the initrd: {exc}",
            hint="check that the bundle is complete",
        ) from None
    return total


def _rest_size(f: BinaryIO) -> int:
    here = f.tell()
    f.seek(0, os.SEEK_END)
    return f.tell() - here


# --- loading -----------------------------------------------------------------------------------


def _bad(source: Path, what: str, hint: str = "check the bundle") -> InvalidInputError:
    return InvalidInputError(f"{source}: {what}", hint=hint)


def _read_bundle_json(directory: Path) -> dict[str, Any]:
    path = directory / "bundle.json"
    try:
        data = jsontext.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise _bad(path, f"cannot read: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise _bad(path, f"not valid JSON: {exc.msg} at line {exc.lineno}") from None
    except ValueError as exc:
        raise _bad(path, f"not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise _bad(path, "expected a JSON object @ $")
    return data


def _field(data: dict[str, Any], path: Path, key: str, kind: type, required: bool = True) -> Any:
    if key not in data:
        if required:
            raise _bad(path, f"required field missing @ $.{key}")
        return None
    value = data[key]
    if type(value) is not kind:
        raise _bad(path, f"expected {kind.__name__}, got {type(value).__name__} @ $.{key}")
    return value


def _inside(directory: Path, name: str, key: str) -> Path:
    """``directory / name`` when it is a file of the bundle directory itself: a plain relative
    name (no ``/``, no ``..``), not a link out of the directory. ``bundle.json`` could otherwise
    make nixremote upload any file of this machine to the target."""
    meta = directory / "bundle.json"
    if not name or "/" in name or "\\" in name or name in (".", "..") or name.startswith("-"):
        raise _bad(
            meta,
            f"{key} {name!r} is not a file name in the bundle directory @ $.{key}",
            hint="name a file beside bundle.json (rebuild the bundle with nix build .#kexec)",
        )
    path = directory / name
    if path.is_symlink() and os.path.realpath(path).rpartition("/")[0] != os.path.realpath(
        directory
    ):
        raise _bad(
            meta,
            f"{key} {name!r} links out of the bundle directory @ $.{key}",
            hint="put the file itself beside bundle.json",
        )
    return path


def load_directory(directory: Path) -> Bundle:
    """A bundle directory with ``bundle.json``."""
    meta = directory / "bundle.json"
    data = _read_bundle_json(directory)
    known = {
        "format",
        "arch",
        "kernel",
        "initrd",
        "kernelParams",
        "python",
        "initrdUnpackedBytes",
        "flakeInputs",
    }
    extra = sorted(set(data) - known)
    if extra:
        raise _bad(meta, f"unknown key {extra[0]!r} @ $.{extra[0]}")
    fmt = _field(data, meta, "format", int)
    if fmt != BUNDLE_FORMAT:
        raise _bad(
            meta,
            f"format {fmt} is not supported (this nixremote reads {BUNDLE_FORMAT})",
            hint="use a bundle built by this version of nixremote",
        )
    fetch = _remote_files(data, meta)
    if fetch:
        kernel, initrd = directory / fetch[0].name, directory / fetch[1].name
    else:
        kernel_name = _field(data, meta, "kernel", str, False) or "bzImage"
        kernel = _inside(directory, kernel_name, "kernel")
        initrd_name = _field(data, meta, "initrd", str, False)
        if initrd_name is None:
            initrd_name = "initrd.gz" if (directory / "initrd.gz").exists() else "initrd"
        initrd = _inside(directory, initrd_name, "initrd")
        for f in (kernel, initrd):
            if not f.is_file():
                raise _bad(directory, f"{f.name} is missing")
    params = _field(data, meta, "kernelParams", str)
    if "init=" not in params:
        raise _bad(meta, "kernelParams has no init= @ $.kernelParams")
    if any((ord(c) < 0x20 and c not in " \t") or ord(c) == 0x7F for c in params):
        raise _bad(meta, "kernelParams holds a control character @ $.kernelParams")
    python = _field(data, meta, "python", str, False)
    if python is not None and not re.fullmatch(
        r"/[A-Za-z0-9._+/-]*|[A-Za-z0-9_][A-Za-z0-9._+-]*", python
    ):
        raise _bad(meta, f"python {python!r} is not a command name or absolute path @ $.python")
    arch = normalize_arch(_field(data, meta, "arch", str))
    unpacked = _field(data, meta, "initrdUnpackedBytes", int, bool(fetch))
    if unpacked is None:
        unpacked = unpacked_size(initrd)
    return Bundle(
        source=directory,
        kind="directory",
        arch=arch,
        kernel=kernel,
        initrd=initrd,
        kernel_params=" ".join(params.split()),
        python=python,
        initrd_unpacked_bytes=unpacked,
        flake_sources=_flake_sources(data.get("flakeInputs"), meta),
        fetch=fetch,
    )


def _remote_files(data: dict[str, Any], meta: Path) -> tuple[RemoteFile, ...]:
    """A URL bundle's ``kernel`` and ``initrd``: objects ``{"url", "sha256", "size"}`` (both,
    or neither: a directory bundle names its files)."""
    entries = [data.get("kernel"), data.get("initrd")]
    kinds = [isinstance(e, dict) for e in entries]
    if not any(kinds):
        return ()
    if not all(kinds):
        raise _bad(meta, "kernel and initrd must both be URL objects, or both file names")
    out = []
    for key, entry, name in zip(("kernel", "initrd"), entries, ("bzImage", "initrd"), strict=True):
        assert isinstance(entry, dict)
        extra = sorted(set(entry) - {"url", "sha256", "size"})
        if extra:
            raise _bad(meta, f"unknown key {extra[0]!r} @ $.{key}.{extra[0]}")
        size = entry.get("size")
        if type(size) is not int or size <= 0:
            raise _bad(meta, f"size must be a positive integer @ $.{key}.size")
        try:
            url = check_url(entry.get("url"), f"$.{key}.url")
            sha = check_sha256(entry.get("sha256"), f"$.{key}.sha256")
        except InvalidInputError as exc:
            raise _bad(meta, exc.message, hint=exc.hint or "check the bundle") from None
        out.append(RemoteFile(name=name, url=url, sha256=sha, size=size))
    return tuple(out)


def _flake_sources(data: Any, meta: Path) -> tuple[FlakeSource, ...]:
    """``flakeInputs``: the flake sources in the installer's store (see ``nix/packages/
    flake-inputs.nix``), checked as :mod:`~nixremote.core.flakelock` will lock them."""
    if data is None:
        return ()
    if not isinstance(data, dict):
        raise _bad(meta, "flakeInputs is not an object @ $.flakeInputs")
    out = []
    for name, entry in sorted(data.items()):
        where = f"$.flakeInputs.{name}"
        if not isinstance(entry, dict) or set(entry) - {"path", "narHash", "lastModified", "url"}:
            raise _bad(meta, f"expected {{path, narHash, lastModified?, url?}} @ {where}")
        path, nar_hash = entry.get("path"), entry.get("narHash")
        last, url = entry.get("lastModified"), entry.get("url")
        try:
            if not isinstance(path, str) or not isinstance(nar_hash, str):
                raise ValueError("path and narHash must be strings")
            if last is not None and (type(last) is not int or last < 0):
                raise ValueError("lastModified must be a whole number")
            if url is not None and (not isinstance(url, str) or not url):
                raise ValueError("url must be a flake reference")
            locked = LockedSource(path=path, nar_hash=nar_hash, last_modified=last)
            if url is not None:
                parse_flake_ref(url)
        except ValueError as exc:
            raise _bad(meta, f"{exc} @ {where}") from None
        out.append(
            FlakeSource(
                name=name, path=locked.path, nar_hash=locked.nar_hash, last_modified=last, url=url
            )
        )
    return tuple(out)


_ASSIGN = re.compile(r"^\s*(init|kernelParams)=(.*)$", re.MULTILINE)


def parse_run_script(text: str) -> str:
    """``init=<init> <kernelParams>`` from a nixos-images ``kexec/run`` script.

    The values are shell words (``init="/nix/store/.../init"``, ``kernelParams="a b 'c d'"``,
    the latter escaped with ``lib.escapeShellArgs`` in newer images).
    """
    values: dict[str, str] = {}
    for match in _ASSIGN.finditer(text):
        try:
            words = shlex.split(match.group(2), comments=True)
        except ValueError:
            raise InvalidInputError(
                f"kexec/run: cannot parse {match.group(1)}=", hint="check the tarball"
            ) from None
        if words and "@" not in words[0]:
            values.setdefault(match.group(1), " ".join(words))
    init = values.get("init")
    if not init or not init.startswith("/"):
        raise InvalidInputError(
            "kexec/run: no init= assignment found", hint="is this a nixos-images kexec tarball?"
        )
    # kernelParams is itself a string of words, shell-escaped per word
    try:
        params = shlex.split(values.get("kernelParams", ""))
    except ValueError:
        params = values.get("kernelParams", "").split()
    return " ".join([f"init={init}", *params])


def _arch_from_name(name: str) -> str | None:
    for key in ("x86_64", "aarch64"):
        if key in name:
            return key
    return None


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "nixremote" / "bundles"


def load_tarball(tarball: Path, *, cache_dir: Path | None = None) -> Bundle:
    """A nixos-images kexec tarball, extracted (once) into ``cache_dir``."""
    target = (cache_dir or default_cache_dir()) / _digest(tarball)[:16]
    meta_path = target / "tarball.json"
    if not meta_path.is_file():
        tmp = target.with_name(target.name + ".part")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        try:
            with tarfile.open(tarball) as tar:
                names = {m.name.lstrip("./"): m for m in tar.getmembers() if m.isfile()}
                for need in ("kexec/bzImage", "kexec/initrd", "kexec/run"):
                    if need not in names:
                        raise _bad(
                            tarball,
                            f"{need} is missing",
                            hint="expected a nixos-images kexec installer tarball",
                        )
                for name in ("bzImage", "initrd", "run"):
                    src = tar.extractfile(names[f"kexec/{name}"])
                    assert src is not None
                    with src, (tmp / name).open("wb") as dst:
                        shutil.copyfileobj(src, dst, 1 << 20)
        except (tarfile.TarError, OSError, EOFError) as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            raise _bad(tarball, f"cannot read the tarball: {exc}") from None
        params = parse_run_script((tmp / "run").read_text(encoding="utf-8", errors="replace"))
        arch = kernel_arch(tmp / "bzImage") or _arch_from_name(tarball.name)
        if arch is None:
            raise _bad(tarball, "cannot tell the kernel's architecture")
        meta = {
            "arch": arch,
            "kernelParams": params,
            "initrdUnpackedBytes": unpacked_size(tmp / "initrd"),
        }
        (tmp / "tarball.json").write_text(json.dumps(meta, indent=2) + "\n")
        shutil.rmtree(target, ignore_errors=True)
        tmp.rename(target)
    meta = json.loads(meta_path.read_text())
    return Bundle(
        source=tarball,
        kind="tarball",
        arch=meta["arch"],
        kernel=target / "bzImage",
        initrd=target / "initrd",
        kernel_params=meta["kernelParams"],
        python=None,
        initrd_unpacked_bytes=meta["initrdUnpackedBytes"],
    )


def load_bundle(path: str | Path, *, cache_dir: Path | None = None) -> Bundle:
    """Load a bundle directory (with ``bundle.json``) or a nixos-images kexec tarball."""
    p = Path(path).expanduser()
    if p.is_dir():
        if (p / "bundle.json").is_file():
            return load_directory(p)
        if (p / "kexec" / "run").is_file():
            raise _bad(
                p, "an unpacked nixos-images folder is not a bundle", hint="pass the .tar.gz itself"
            )
        raise _bad(
            p,
            "no bundle.json in this directory",
            hint="pass a bundle directory (nix build .#kexec) or a kexec tarball",
        )
    if p.is_file():
        return load_tarball(p, cache_dir=cache_dir)
    raise _bad(p, "no such file or directory", hint="check the --bundle path")
