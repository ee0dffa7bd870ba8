"""Picking files out of a Debian root for the test installer's initrd: ``ldd`` output and
``modules.dep`` parsed (pure), module closures, files copied with their symlinks kept."""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Iterable
from pathlib import Path

from nixremote.core.errors import NixremoteError


def parse_ldd(output: str) -> list[str]:
    """Library paths named by ``ldd`` output (pure)."""
    libs: list[str] = []
    for line in output.splitlines():
        line = line.strip()
        if line.endswith(":"):  # the file header when ldd is given several files
            continue
        if "=>" in line:
            target = line.split("=>", 1)[1].strip().split(" (", 1)[0].strip()
            if target.startswith("/"):
                libs.append(target)
        elif line.startswith("/"):
            libs.append(line.split(" (", 1)[0].strip())
    return libs


def parse_modules_dep(text: str) -> dict[str, tuple[str, ...]]:
    """``modules.dep`` as {module path: dependency paths} (pure)."""
    deps: dict[str, tuple[str, ...]] = {}
    for line in text.splitlines():
        if ":" not in line:
            continue
        mod, rest = line.split(":", 1)
        deps[mod.strip()] = tuple(rest.split())
    return deps


def module_name(path: str) -> str:
    base = path.rsplit("/", 1)[-1]
    for suffix in (".ko.xz", ".ko.zst", ".ko.gz", ".ko"):
        if base.endswith(suffix):
            base = base[: -len(suffix)]
            break
    return base.replace("-", "_")


def module_closure(
    deps: dict[str, tuple[str, ...]], names: Iterable[str], dirs: Iterable[str] = ()
) -> list[str]:
    """Module paths for ``names`` and every module below ``dirs``, with dependencies (pure).
    Names that are built into the kernel (absent from ``deps``) are skipped."""
    by_name = {module_name(p): p for p in deps}
    todo = [by_name[n.replace("-", "_")] for n in names if n.replace("-", "_") in by_name]
    for d in dirs:
        prefix = d.rstrip("/") + "/"
        todo.extend(p for p in deps if p.startswith(prefix))
    seen: set[str] = set()
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        todo.extend(deps.get(p, ()))
    return sorted(seen)


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)


def _is_elf(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(4) == b"\x7fELF"
    except OSError:
        return False


def _which_in(root: Path, prog: str) -> str | None:
    for d in ("usr/sbin", "usr/bin", "sbin", "bin", "usr/lib/systemd"):
        p = root / d / prog
        if p.exists():
            return "/" + (Path(d) / prog).as_posix()
    return None


def _resolve_in_root(root: Path, path: str) -> str:
    """Resolve symlinks of ``path`` inside ``root`` (absolute links are relative to root)."""
    parts = [p for p in path.split("/") if p]
    resolved: list[str] = []
    hops = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        if part == ".":
            continue
        candidate = root.joinpath(*resolved, part)
        if candidate.is_symlink():
            hops += 1
            if hops > 40:
                raise NixremoteError(f"symlink loop at {path} in {root}")
            target = os.readlink(candidate)
            if target.startswith("/"):
                resolved = []
            parts = [p for p in target.split("/") if p] + parts
            continue
        resolved.append(part)
    return "/" + "/".join(resolved)


def _copy_from_root(root: Path, path: str, tree: Path) -> None:
    """Copy ``path`` from ``root`` into ``tree`` at the same place, following symlinks but
    recreating them (so ``libfoo.so.1 -> libfoo.so.1.2.3`` stays a link)."""
    seen = 0
    current = path
    while True:
        seen += 1
        if seen > 40:
            raise NixremoteError(f"symlink loop at {path} in {root}")
        parent = _resolve_in_root(root, str(Path(current).parent))
        real = f"{parent.rstrip('/')}/{Path(current).name}"
        src = root / real.lstrip("/")
        dst = tree / real.lstrip("/")
        # the usrmerge links in ``tree`` map /lib to /usr/lib etc.
        dst = tree / _resolve_in_root(tree, str(Path(real).parent)).lstrip("/") / src.name
        if not src.exists() and not src.is_symlink():
            raise NixremoteError(f"{path} not found in {root}")
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_symlink():
            target = os.readlink(src)
            if not dst.exists() and not dst.is_symlink():
                dst.symlink_to(target)
            current = target if target.startswith("/") else f"{Path(real).parent}/{target}"
            continue
        if not dst.exists():
            shutil.copy2(src, dst)
            st = src.stat()
            if st.st_mode & (stat.S_ISUID | stat.S_ISGID):
                dst.chmod(stat.S_IMODE(st.st_mode) & ~(stat.S_ISUID | stat.S_ISGID))
        return
