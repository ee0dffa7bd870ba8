"""A tree of files the plan copies into the installed system (``--extra-files DIR``), as data.

:class:`FileTree` lists every entry of the tree (directory, regular file or symlink) with its
path relative to the tree, mode, owner, size and sha256: the controller makes the listing while
planning (:func:`nixremote.controller.filetree_scan.scan_tree`), the user approves it with the
plan, and the installer copies exactly what is listed into ``destination`` (a path of the
installed system, ``/persist``) from the archive the controller sends
(:mod:`nixremote.installers.filetree_apply`), refusing any member the listing does not name or
whose content differs.

Every path is checked by meaning, as the installer will use it: relative, of ``/``-separated
components, none empty, ``.`` or ``..``, no control character; a directory's entries follow it;
nothing lies below a symlink; a symlink's target is relative and, read component by component,
stays inside the tree and passes through no other symlink. So nothing listed can point or write
outside ``destination``.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable

from attrs import field, frozen

from . import validate as v
from .errors import InvalidValueError

KINDS = ("dir", "file", "symlink")
EXTRA_FILES_ARCHIVE = "/run/nixremote/extra-files.tar"
"""Where the controller puts the ``--extra-files`` archive in the installer (tmpfs, 0600)."""
USER_FLAKE_ARCHIVE = "/run/nixremote/user-flake.tar"
"""Where the controller puts a local ``--flake`` source tree in the installer (tmpfs, 0600)."""
MAX_PATH = 4096
_SHA256 = re.compile(r"[0-9a-f]{64}")


def tree_path(value: object, *, what: str = "path") -> str:
    """A path inside a tree: relative, ``/``-separated, no empty, ``.`` or ``..`` component,
    no control character, at most :data:`MAX_PATH` characters."""
    hint = "use a relative path inside the tree (no '..', no leading '/')"
    if not isinstance(value, str) or not value:
        raise InvalidValueError(f"the {what} must be a non-empty string", hint=hint)
    if len(value) > MAX_PATH or re.search(r"[\x00-\x1f\x7f]", value):
        raise InvalidValueError(
            f"the {what} {value[:60]!r} is too long or holds a control character", hint=hint
        )
    if value.startswith("/") or any(c in ("", ".", "..") for c in value.split("/")):
        raise InvalidValueError(
            f"the {what} {value[:60]!r} leaves the tree or is not normalised", hint=hint
        )
    return value


def _mode(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 0o7777:
        raise InvalidValueError(f"mode {value!r} is not a permission mode", hint="use 0..0o7777")
    return value


def _id(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**32:
        raise InvalidValueError(f"owner {value!r} is not a uid/gid", hint="use 0..2^32-1")
    return value


def _kind(value: object) -> str:
    if value not in KINDS:
        raise InvalidValueError(
            f"kind {value!r} is not one of {', '.join(KINDS)}",
            hint="list directories, files and symlinks only",
        )
    return str(value)


def _sha256(value: object) -> str:
    if not isinstance(value, str) or not _SHA256.fullmatch(value):
        raise InvalidValueError(f"{value!r} is not a sha256", hint="use 64 lowercase hex digits")
    return value


@frozen(kw_only=True)
class TreeEntry:
    """One entry of a :class:`FileTree`: ``kind`` ``dir``, ``file`` (with ``size`` and
    ``sha256``) or ``symlink`` (with ``target``)."""

    path: str = field(validator=v.check(tree_path))
    kind: str = field(validator=v.check(_kind))
    mode: int = field(default=0o644, validator=v.check(_mode))
    uid: int = field(default=0, validator=v.check(_id))
    gid: int = field(default=0, validator=v.check(_id))
    size: int = 0
    sha256: str | None = field(default=None, validator=v.check(v.optional(_sha256)))
    target: str | None = field(default=None, validator=v.check(v.optional(v.text)))


def _destination(value: object) -> str:
    if (
        not isinstance(value, str)
        or not value.startswith("/")
        or value != posixpath.normpath(value)
        or re.search(r"[\x00-\x1f\x7f]", value)
    ):
        raise InvalidValueError(
            f"destination {value!r} is not a normalised absolute path",
            hint="use an absolute path such as /persist",
        )
    return value


def check_entries(entries: Iterable[TreeEntry]) -> tuple[TreeEntry, ...]:
    """The entries, checked as a whole (see the module documentation); raises
    :class:`InvalidValueError` naming the first fault."""
    out = tuple(entries)
    kinds: dict[str, str] = {}
    for entry in out:
        if entry.path in kinds:
            raise InvalidValueError(f"{entry.path} is listed twice", hint="list each path once")
        parent = posixpath.dirname(entry.path)
        if parent and kinds.get(parent) != "dir":
            raise InvalidValueError(
                f"{entry.path}: its directory {parent} is not listed before it as a directory",
                hint="list a directory before its entries; nothing may lie below a symlink",
            )
        if entry.kind == "file" and entry.sha256 is None:
            raise InvalidValueError(f"{entry.path}: a file without its sha256", hint="scan again")
        kinds[entry.path] = entry.kind
    for entry in out:  # against the whole tree: a link may name a later symlink
        if entry.kind == "symlink":
            _check_link(entry, kinds)
    return out


def _check_link(entry: TreeEntry, kinds: dict[str, str]) -> None:
    target = entry.target
    hint = "only relative symlinks that stay inside the tree are copied"
    if not target or target.startswith("/"):
        raise InvalidValueError(f"{entry.path}: symlink to {target!r} leaves the tree", hint=hint)
    parts = posixpath.dirname(entry.path).split("/") if "/" in entry.path else []
    for comp in target.split("/"):
        if comp in ("", "."):
            continue
        if comp == "..":
            if not parts:
                raise InvalidValueError(
                    f"{entry.path}: symlink to {target!r} leaves the tree", hint=hint
                )
            parts.pop()
            continue
        parts.append(comp)
        here = "/".join(parts)
        if kinds.get(here) == "symlink" or here == entry.path:
            raise InvalidValueError(
                f"{entry.path}: symlink to {target!r} passes through the symlink {here}", hint=hint
            )


@frozen(kw_only=True)
class FileTree:
    """A tree the installer copies into ``destination`` (a path of the installed system):
    ``source`` is the directory on the controller it was read from, ``entries`` every entry
    (:func:`check_entries`)."""

    source: str = field(validator=v.check(v.text))
    destination: str = field(default="/persist", validator=v.check(_destination))
    entries: tuple[TreeEntry, ...] = field(default=(), validator=v.check(check_entries))

    @property
    def total_bytes(self) -> int:
        return sum(e.size for e in self.entries if e.kind == "file")


__all__ = [
    "EXTRA_FILES_ARCHIVE",
    "KINDS",
    "USER_FLAKE_ARCHIVE",
    "FileTree",
    "TreeEntry",
    "check_entries",
    "tree_path",
]
