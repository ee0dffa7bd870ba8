"""Build ``nixremote.pyz``: the installer side of nixremote as one file for any kexec image.

The zipapp holds the packages ``nixremote.core`` and ``nixremote.installers``, whole (what runs
on both sides and what runs inside the installer; see DESIGN's layout by side), and the
pure-Python libraries they import (attrs, cattrs, click, pluggy, typing_extensions).
It never contains fabric, paramiko, invoke, hcloud, rich or cryptography.
``python3 nixremote.pyz installer run ...`` runs it (:func:`nixremote.installers.cli.main`;
Python >= 3.11, standard library only otherwise); :func:`verify_zipapp` proves that in an
isolated interpreter.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import logging
import py_compile
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterable
from pathlib import Path

from attrs import frozen

from ..core.errors import NixremoteError

log = logging.getLogger(__name__)

DEPENDENCIES: tuple[str, ...] = (
    "attr",
    "attrs",
    "cattr",
    "cattrs",
    "click",
    "pluggy",
    "typing_extensions",
)
"""Top-level modules/packages of the pure-Python libraries the installer side imports."""

FORBIDDEN: tuple[str, ...] = (
    "fabric",
    "paramiko",
    "invoke",
    "hcloud",
    "rich",
    "cryptography",
    "nacl",
    "bcrypt",
    "yaml",
)
"""Modules the installer must never import (and the zipapp never contains)."""

PACKAGES: tuple[str, ...] = ("nixremote/core/", "nixremote/installers/", "nixremote/data/")
"""The parts of the package in the zipapp: the shared core and the installer side, whole, plus
the package data (the host flake template)."""

TOP_FILES: tuple[str, ...] = ("nixremote/__init__.py", "nixremote/py.typed")

MAIN = """\
import sys
import tempfile
from nixremote.installers.cli import main
sys.exit(main())
"""


class ZipappError(NixremoteError):
    """The zipapp could not be built, or does not run in a clean interpreter."""


@frozen(kw_only=True)
class ZipappInfo:
    """A built zipapp: its path, size, sha256 and the top-level modules it contains."""

    path: Path
    size: int
    sha256: str
    modules: tuple[str, ...]


def _source_of(top: str) -> tuple[Path, bool]:
    """(path, is_package) of an importable top-level module."""
    spec = importlib.util.find_spec(top)
    if spec is None or spec.origin is None:
        raise ZipappError(f"{top} is not installed", hint="pip install nixremote's dependencies")
    origin = Path(spec.origin)
    if spec.submodule_search_locations:
        return origin.parent, True
    return origin, False


def _files(top: str) -> Iterable[tuple[Path, str]]:
    """(local file, path in the archive) of a module or package, sources only."""
    path, is_pkg = _source_of(top)
    if not is_pkg:
        yield path, path.name
        return
    for f in sorted(path.rglob("*")):
        if not f.is_file() or "__pycache__" in f.parts:
            continue
        rel = f.relative_to(path.parent).as_posix()
        if f.suffix in (".so", ".pyd"):
            raise ZipappError(
                f"{top} has a compiled extension ({rel})",
                hint="the installer zipapp takes pure-Python libraries only",
            )
        if (
            f.suffix in (".py", ".typed")
            or f.name.endswith(".json")
            or rel.startswith("nixremote/data/")
        ):  # the host flake template (flake phase)
            yield f, rel


def _wanted(arc: str) -> bool:
    return arc in TOP_FILES or arc.startswith(PACKAGES)


def zipapp_members() -> list[tuple[Path, str]]:
    """(local file, archive path) of everything that goes into the zipapp."""
    members = [(f, arc) for f, arc in _files("nixremote") if _wanted(arc)]
    for top in DEPENDENCIES:
        members.extend(_files(top))
    return members


def _bytecode(local: Path, arc: str, tmp: Path) -> bytes:
    """``local`` compiled by this Python as an unchecked hash-based ``.pyc`` (PEP 552).

    zipimport takes such a ``.pyc`` without comparing timestamps and falls back to the ``.py``
    beside it when the interpreter's magic number differs, so the zipapp works with any
    Python >= 3.11 and starts about twice as fast with the controller's minor version.
    """
    out = tmp / "out.pyc"
    py_compile.compile(
        str(local),
        cfile=str(out),
        dfile=arc,
        doraise=True,
        invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
    )
    return out.read_bytes()


def build_bytes(*, bytecode: bool = True) -> bytes:
    """The zipapp as bytes (sorted members, fixed timestamps); with ``bytecode`` each module
    also as a ``.pyc`` of this interpreter."""
    buf = io.BytesIO()
    tmp_dir = tempfile.TemporaryDirectory(prefix="nixremote-pyz-")
    tmp = Path(tmp_dir.name)
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:

        def add(arc: str, data: bytes) -> None:
            zi = zipfile.ZipInfo(arc, date_time=(1980, 1, 1, 0, 0, 0))
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o644 << 16
            zf.writestr(zi, data, compresslevel=9)

        add("__main__.py", MAIN.encode())
        try:
            for local, arc in sorted(zipapp_members(), key=lambda m: m[1]):
                add(arc, local.read_bytes())
                if bytecode and arc.endswith(".py"):
                    add(arc + "c", _bytecode(local, arc, tmp))
        finally:
            tmp_dir.cleanup()
    return b"#!/usr/bin/env python3\n" + buf.getvalue()


def build_zipapp(target: Path, *, bytecode: bool = True) -> ZipappInfo:
    """Write ``nixremote.pyz`` to ``target`` (a file path)."""
    data = build_bytes(bytecode=bytecode)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".part")
    tmp.write_bytes(data)
    tmp.chmod(0o755)
    tmp.replace(target)
    with zipfile.ZipFile(target) as zf:
        tops = sorted({n.split("/")[0] for n in zf.namelist() if n != "__main__.py"})
    info = ZipappInfo(
        path=target, size=len(data), sha256=hashlib.sha256(data).hexdigest(), modules=tuple(tops)
    )
    log.info("built %s: %d bytes", target, info.size)
    return info


_CHECK = r"""
import importlib, json, sys, zipfile
pyz = sys.argv[1]
sys.path.insert(0, pyz)
failed = {}
with zipfile.ZipFile(pyz) as zf:
    names = [n[:-3].replace("/", ".").removesuffix(".__init__")
             for n in zf.namelist() if n.startswith("nixremote/") and n.endswith(".py")]
    pycs = sum(n.endswith(".pyc") for n in zf.namelist())
for name in sorted(names):
    try:
        importlib.import_module(name)
    except Exception as exc:
        failed[name] = f"{type(exc).__name__}: {exc}"
forbidden = sorted(m for m in sys.modules if m.split(".")[0] in json.loads(sys.argv[2]))
outside = sorted(
    m for m, mod in sys.modules.items()
    if m.split(".")[0] in ("nixremote",) + tuple(json.loads(sys.argv[3]))
    and getattr(mod, "__file__", None) and not mod.__file__.startswith(pyz)
)
print(json.dumps({"failed": failed, "forbidden": forbidden, "outside": outside}))
print(json.dumps({"bytecode": pycs}), file=sys.stderr)
"""


def verify_zipapp(path: Path, python: str = sys.executable) -> dict[str, object]:
    """Import every nixremote module of the zipapp in ``python -I -S`` (no site-packages).

    Raises :class:`ZipappError` when a module fails to import, a forbidden module gets imported,
    or a module is loaded from outside the zipapp. Returns the check's report.
    """
    proc = subprocess.run(
        [
            python,
            "-I",
            "-S",
            "-c",
            _CHECK,
            str(path),
            json.dumps(FORBIDDEN),
            json.dumps(DEPENDENCIES),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if proc.returncode != 0:
        raise ZipappError(f"zipapp check crashed: {proc.stderr.strip()[-300:]}")
    result: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    if result["failed"] or result["forbidden"] or result["outside"]:
        raise ZipappError(
            f"zipapp {path} is not self-contained: {result}",
            hint="add the missing pure-Python dependency or drop the import",
        )
    return result
