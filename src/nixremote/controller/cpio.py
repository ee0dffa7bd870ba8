"""A small writer (and reader) of ``newc`` cpio archives, the format the kernel unpacks as
initramfs.

Used for the handoff archive appended to a kexec bundle's initrd (host key, authorized_keys,
the runtime info, the zipapp: :mod:`.handoff`) and by the test machine to pack its initramfs
trees. Every entry is written in full with ``nlink=1`` (hard links become copies), owned by root
unless the caller says otherwise, with mtime 0 so that equal input gives an equal archive.
"""

from __future__ import annotations

import gzip
import os
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

from attrs import frozen

_TRAILER = "TRAILER!!!"


@frozen(kw_only=True)
class Entry:
    """One archive member: ``path`` relative to the archive root (no leading slash)."""

    path: str
    mode: int  # full st_mode, file type bits included
    data: bytes = b""
    rdev_major: int = 0
    rdev_minor: int = 0
    uid: int = 0
    gid: int = 0


def file_entry(path: str, data: bytes, mode: int = 0o644) -> Entry:
    return Entry(path=path, mode=stat.S_IFREG | mode, data=data)


def dir_entry(path: str, mode: int = 0o755) -> Entry:
    return Entry(path=path, mode=stat.S_IFDIR | mode)


def symlink_entry(path: str, target: str) -> Entry:
    return Entry(path=path, mode=stat.S_IFLNK | 0o777, data=target.encode())


class CpioWriter:
    """Write ``newc`` entries to a binary stream; call :meth:`close` to write the trailer."""

    def __init__(self, stream: BinaryIO) -> None:
        self._out = stream
        self._ino = 1
        self._offset = 0
        self._seen_dirs: set[str] = set()

    def _write(self, data: bytes) -> None:
        self._out.write(data)
        self._offset += len(data)

    def _pad(self) -> None:
        rest = (-self._offset) % 4
        if rest:
            self._write(b"\0" * rest)

    def _header(
        self,
        name: str,
        mode: int,
        size: int,
        *,
        uid: int = 0,
        gid: int = 0,
        rmaj: int = 0,
        rmin: int = 0,
        nlink: int = 1,
    ) -> None:
        encoded = name.encode() + b"\0"
        fields = (
            self._ino,
            mode,
            uid,
            gid,
            nlink,
            0,
            size,
            0,
            0,
            rmaj,
            rmin,
            len(encoded),
            0,
        )
        self._ino += 1
        self._write(b"070701" + b"".join(b"%08X" % value for value in fields))
        self._write(encoded)
        self._pad()

    def add(self, entry: Entry) -> None:
        name = entry.path.strip("/") or "."
        if stat.S_ISDIR(entry.mode):
            self._seen_dirs.add(name)
        self._header(
            name,
            entry.mode,
            len(entry.data),
            uid=entry.uid,
            gid=entry.gid,
            rmaj=entry.rdev_major,
            rmin=entry.rdev_minor,
            nlink=2 if stat.S_ISDIR(entry.mode) else 1,
        )
        if entry.data:
            self._write(entry.data)
            self._pad()

    def add_parents(self, path: str) -> None:
        """Add directory entries (0755) for every parent of ``path`` not added yet."""
        parts = path.strip("/").split("/")[:-1]
        for i in range(1, len(parts) + 1):
            parent = "/".join(parts[:i])
            if parent not in self._seen_dirs:
                self.add(dir_entry(parent))

    def add_tree(self, root: Path) -> int:
        """Add everything below ``root`` (sorted, root itself excluded); returns the byte count
        of file contents added. Ownership and modes come from the tree; mtimes are dropped."""
        total = 0
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            base = Path(dirpath)
            rel_base = base.relative_to(root).as_posix()
            names = sorted([*dirnames, *filenames])
            for name in names:
                full = base / name
                rel = name if rel_base == "." else f"{rel_base}/{name}"
                st = full.lstat()
                if stat.S_ISLNK(st.st_mode):
                    self.add(
                        Entry(
                            path=rel,
                            mode=st.st_mode,
                            data=os.readlink(full).encode(),
                            uid=st.st_uid,
                            gid=st.st_gid,
                        )
                    )
                elif stat.S_ISDIR(st.st_mode):
                    self.add(Entry(path=rel, mode=st.st_mode, uid=st.st_uid, gid=st.st_gid))
                elif stat.S_ISREG(st.st_mode):
                    data = full.read_bytes()
                    total += len(data)
                    self.add(
                        Entry(path=rel, mode=st.st_mode, data=data, uid=st.st_uid, gid=st.st_gid)
                    )
                elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                    self.add(
                        Entry(
                            path=rel,
                            mode=st.st_mode,
                            rdev_major=os.major(st.st_rdev),
                            rdev_minor=os.minor(st.st_rdev),
                            uid=st.st_uid,
                            gid=st.st_gid,
                        )
                    )
                # sockets and fifos are skipped: nothing in an initramfs needs them
        return total

    def close(self) -> None:
        self._header(_TRAILER, 0, 0, nlink=1)
        # the kernel reads compressed archives in whole blocks; pad to 512 like GNU cpio
        rest = (-self._offset) % 512
        if rest:
            self._write(b"\0" * rest)


def write_entries(entries: Iterable[Entry], *, compresslevel: int = 6) -> bytes:
    """Return a gzip'd ``newc`` archive of ``entries`` (parents are added automatically)."""
    import io

    raw = io.BytesIO()
    writer = CpioWriter(raw)
    for entry in entries:
        writer.add_parents(entry.path)
        writer.add(entry)
    writer.close()
    return gzip.compress(raw.getvalue(), compresslevel=compresslevel, mtime=0)


def write_tree(root: Path, dest: Path, *, compresslevel: int = 6) -> int:
    """Pack the tree ``root`` into the gzip'd ``newc`` archive ``dest``; returns the unpacked
    size in bytes (file contents), which the bundle records as ``initrdUnpackedBytes``."""
    tmp = dest.with_name(dest.name + ".tmp")
    with (
        open(tmp, "wb") as raw,
        gzip.GzipFile(
            filename="", mode="wb", fileobj=raw, compresslevel=compresslevel, mtime=0
        ) as out,
    ):
        writer = CpioWriter(out)  # type: ignore[arg-type]
        total = writer.add_tree(root)
        writer.close()
    tmp.replace(dest)
    return total


def read_entries(data: bytes) -> list[Entry]:
    """Parse a (possibly gzip'd, possibly concatenated) ``newc`` archive; for tests and checks."""
    out: list[Entry] = []
    while data:
        if data[:2] == b"\x1f\x8b":
            import zlib

            d = zlib.decompressobj(wbits=31)
            raw = d.decompress(data)
            data = d.unused_data
        else:
            raw, data = data, b""
        pos = 0
        while pos + 110 <= len(raw):
            if raw[pos : pos + 6] != b"070701":
                if raw[pos : pos + 4] == b"\0\0\0\0":
                    pos += 4
                    continue
                raise ValueError(f"not a newc cpio header at offset {pos}")
            f = [int(raw[pos + 6 + 8 * i : pos + 14 + 8 * i], 16) for i in range(13)]
            mode, uid, gid, size, rmaj, rmin, namesize = f[1], f[2], f[3], f[6], f[9], f[10], f[11]
            pos += 110
            name = raw[pos : pos + namesize - 1].decode()
            pos += namesize
            pos += (-pos) % 4
            body = raw[pos : pos + size]
            pos += size
            pos += (-pos) % 4
            if name == _TRAILER:
                break
            out.append(
                Entry(
                    path=name,
                    mode=mode,
                    data=body,
                    rdev_major=rmaj,
                    rdev_minor=rmin,
                    uid=uid,
                    gid=gid,
                )
            )
        # skip padding between concatenated members
        data = data.lstrip(b"\0")
    return out
