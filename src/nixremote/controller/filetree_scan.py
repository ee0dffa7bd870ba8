"""Reading a local tree for the plan (``--extra-files DIR``) and packing it for the installer.

:func:`scan_tree` lists a directory as a :class:`~nixremote.core.filetree.FileTree` (modes,
owners, sizes, sha256 of every file; symlinks are never followed, and one that points outside
the tree, a device, a FIFO or a socket is refused with one line). :func:`pack_tree` reads the
directory again, refuses it when it no longer matches the approved listing, and returns a tar
archive of exactly the listed entries, which the installer checks once more.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import tarfile
from pathlib import Path

from ..core.errors import InvalidInputError, InvalidValueError, PlanError
from ..core.filetree import FileTree, TreeEntry, check_entries

_CHUNK = 1 << 20


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def scan_tree(
    directory: Path,
    *,
    destination: str = "/persist",
    what: str = "--extra-files",
    keep_owner: bool = True,
    skip: frozenset[str] = frozenset(),
) -> FileTree:
    """The listing of ``directory`` (see the module documentation). ``keep_owner`` off records
    root as the owner of every entry; ``skip`` names entries of the top level left out
    (``.git``)."""
    root = Path(directory)
    try:
        top = root.lstat()
    except OSError as exc:
        raise InvalidInputError(f"{what} {root}: {exc.strerror}", hint="name a directory") from None
    if not stat.S_ISDIR(top.st_mode):
        raise InvalidInputError(f"{what} {root} is not a directory", hint="name a directory")
    entries: list[TreeEntry] = []

    def walk(rel: str) -> None:
        here = root / rel if rel else root
        try:
            names = sorted(os.listdir(here))
        except OSError as exc:
            raise InvalidInputError(
                f"{what}: cannot read {here}: {exc.strerror}", hint="check the permissions"
            ) from None
        for name in names:
            if not rel and name in skip:
                continue
            path = f"{rel}/{name}" if rel else name
            full = root / path
            st = full.lstat()
            uid, gid = (st.st_uid, st.st_gid) if keep_owner else (0, 0)
            mode = stat.S_IMODE(st.st_mode)
            try:
                if stat.S_ISDIR(st.st_mode):
                    entries.append(TreeEntry(path=path, kind="dir", mode=mode, uid=uid, gid=gid))
                    walk(path)
                elif stat.S_ISREG(st.st_mode):
                    entries.append(
                        TreeEntry(
                            path=path,
                            kind="file",
                            mode=mode,
                            size=st.st_size,
                            sha256=_sha256(full),
                            uid=uid,
                            gid=gid,
                        )
                    )
                elif stat.S_ISLNK(st.st_mode):
                    entries.append(
                        TreeEntry(
                            path=path,
                            kind="symlink",
                            mode=0o777,
                            target=os.readlink(full),
                            uid=uid,
                            gid=gid,
                        )
                    )
                else:
                    raise InvalidInputError(
                        f"{what}: {full} is neither a file, a directory nor a symlink",
                        hint="leave devices, FIFOs and sockets out of the tree",
                    )
            except InvalidValueError as exc:
                raise InvalidInputError(f"{what}: {full}: {exc.message}", hint=exc.hint) from None

    walk("")
    try:
        check_entries(entries)
        return FileTree(source=str(root.resolve()), destination=destination, entries=tuple(entries))
    except InvalidValueError as exc:
        raise InvalidInputError(f"{what} {root}: {exc.message}", hint=exc.hint) from None


def pack_tree(
    tree: FileTree,
    *,
    what: str = "--extra-files",
    keep_owner: bool = True,
    skip: frozenset[str] = frozenset(),
) -> bytes:
    """A tar archive of ``tree``'s entries, read again from ``tree.source`` (with the
    :func:`scan_tree` options it was listed with); refused when the directory changed since
    the plan listed it."""
    now = scan_tree(
        Path(tree.source),
        destination=tree.destination,
        what=what,
        keep_owner=keep_owner,
        skip=skip,
    )
    if now.entries != tree.entries:
        planned = {e.path: e for e in tree.entries}
        found = {e.path: e for e in now.entries}
        changed = sorted(p for p in planned.keys() | found.keys() if planned.get(p) != found.get(p))
        raise PlanError(
            f"{tree.source} changed since the plan listed it ({changed[0]}"
            + (f" and {len(changed) - 1} more" if len(changed) > 1 else "")
            + ")",
            hint="make a new plan and review it",
        )
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for e in tree.entries:
            info = tarfile.TarInfo(e.path)
            info.mode, info.uid, info.gid, info.mtime = e.mode, e.uid, e.gid, 0
            if e.kind == "dir":
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif e.kind == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, e.target or ""
                tar.addfile(info)
            else:
                info.size = e.size
                with (Path(tree.source) / e.path).open("rb") as f:
                    tar.addfile(info, f)
    return buf.getvalue()


__all__ = ["pack_tree", "scan_tree"]
