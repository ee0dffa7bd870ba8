"""Copying a planned :class:`~nixremote.core.filetree.FileTree` from its archive into place.

:func:`apply_tree` reads the tar archive the controller sent and writes exactly the entries the
plan lists, in the plan's order, below a directory (``/mnt/persist`` for ``/persist``): each
member must be listed, of the listed kind, size and sha256 (the archive is checked whole before
anything is written), and every directory on the way is opened relative to its parent with
``O_NOFOLLOW``, so nothing already there (a symlink an earlier attempt or the archive left) can
lead a write outside. Files are written to a temporary name and renamed into place; modes and
owners are set on the open file. A rerun writes the same tree again.

This module runs inside the installer: standard library only.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import tarfile
from collections.abc import Iterator
from pathlib import Path

from ..core.errors import SafetyError
from ..core.filetree import FileTree, TreeEntry

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_CHUNK = 1 << 20


def _refuse(archive: Path, what: str) -> SafetyError:
    return SafetyError(
        f"the extra files archive {archive} does not match the plan: {what}",
        hint="run the install again from the controller (it sends the archive anew)",
    )


def _check_archive(
    tree: FileTree, tar: tarfile.TarFile, archive: Path
) -> dict[str, tarfile.TarInfo]:
    listed = {e.path: e for e in tree.entries}
    members: dict[str, tarfile.TarInfo] = {}
    for m in tar.getmembers():
        entry = listed.get(m.name)
        if entry is None or m.name in members:
            raise _refuse(archive, f"{m.name!r} is not listed (or twice)")
        kind = "dir" if m.isdir() else "file" if m.isreg() else "symlink" if m.issym() else "?"
        if kind != entry.kind:
            raise _refuse(archive, f"{m.name} is a {kind}, the plan lists a {entry.kind}")
        if kind == "symlink" and m.linkname != entry.target:
            raise _refuse(archive, f"{m.name} points elsewhere than the plan lists")
        if kind == "file":
            if m.size != entry.size:
                raise _refuse(archive, f"{m.name} has {m.size} bytes, the plan {entry.size}")
            f = tar.extractfile(m)
            assert f is not None
            digest = hashlib.sha256()
            while block := f.read(_CHUNK):
                digest.update(block)
            if digest.hexdigest() != entry.sha256:
                raise _refuse(archive, f"{m.name} differs from the file the plan lists")
        members[m.name] = m
    missing = [p for p in listed if p not in members]
    if missing:
        raise _refuse(archive, f"{missing[0]} is missing")
    return members


@contextlib.contextmanager
def _open_dir(base: int, parts: list[str]) -> Iterator[int]:
    """The directory ``parts`` below ``base``, opened without following any symlink."""
    fds = [base]
    try:
        for part in parts:
            fds.append(os.open(part, _DIR_FLAGS, dir_fd=fds[-1]))
        yield fds[-1]
    finally:
        for fd in fds[1:]:
            os.close(fd)


def _remove(name: str, dir_fd: int) -> None:
    """Remove a non-directory ``name`` when present (a directory there is an error)."""
    try:
        st = os.lstat(name, dir_fd=dir_fd)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        raise SafetyError(
            f"cannot replace the directory {name} with a file or symlink",
            hint="remove it from the extra files, or from the target",
        )
    os.unlink(name, dir_fd=dir_fd)


def _place(entry: TreeEntry, tar: tarfile.TarFile, member: tarfile.TarInfo, dir_fd: int) -> None:
    name = entry.path.rsplit("/", 1)[-1]
    if entry.kind == "dir":
        with contextlib.suppress(FileExistsError):
            os.mkdir(name, 0o700, dir_fd=dir_fd)
        fd = os.open(name, _DIR_FLAGS, dir_fd=dir_fd)  # a symlink there: ELOOP, refused
        try:
            os.fchown(fd, entry.uid, entry.gid)
            os.fchmod(fd, entry.mode)
        finally:
            os.close(fd)
    elif entry.kind == "symlink":
        _remove(name, dir_fd)
        os.symlink(entry.target or "", name, dir_fd=dir_fd)
        os.chown(name, entry.uid, entry.gid, dir_fd=dir_fd, follow_symlinks=False)
    else:
        tmp = f".{name}.nixremote-tmp"
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp, dir_fd=dir_fd)
        fd = os.open(
            tmp,
            os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
            0o600,
            dir_fd=dir_fd,
        )
        try:
            src = tar.extractfile(member)
            assert src is not None
            while block := src.read(_CHUNK):
                os.write(fd, block)
            os.fchown(fd, entry.uid, entry.gid)
            os.fchmod(fd, entry.mode)
            os.fsync(fd)
        finally:
            os.close(fd)
        _remove(name, dir_fd)
        os.rename(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)


def apply_tree(tree: FileTree, archive: Path, target: Path) -> int:
    """Write ``tree`` from ``archive`` below the existing directory ``target`` (see the module
    documentation); the number of entries written."""
    try:
        tar = tarfile.open(archive, mode="r:")  # noqa: SIM115 (a with block below)
    except (OSError, tarfile.TarError) as exc:
        raise SafetyError(
            f"cannot read the extra files archive {archive}: {exc}",
            hint="run the install again from the controller (it sends the archive anew)",
        ) from None
    with tar:
        members = _check_archive(tree, tar, archive)
        base = os.open(target, _DIR_FLAGS)
        try:
            for entry in tree.entries:
                parts = entry.path.split("/")[:-1]
                try:
                    with _open_dir(base, parts) as dir_fd:
                        _place(entry, tar, members[entry.path], dir_fd)
                except OSError as exc:  # ELOOP: a symlink where a directory must be
                    raise SafetyError(
                        f"cannot write {target}/{entry.path}: {exc.strerror}",
                        hint="nothing is written through a symlink; remove what is in the way",
                    ) from None
        finally:
            os.close(base)
    return len(tree.entries)


__all__ = ["apply_tree"]
