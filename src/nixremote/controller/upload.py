"""Upload files to the target: skip what is already there, resume what broke off.

One ``sha256sum`` exec on the target looks at every file at once (size and hash of the file and
of its ``.part``, where :meth:`SshTransport.put <nixremote.controller.ssh.SshTransport.put>` writes
until a file is complete). A file whose hash matches is skipped, so a rerun uploads nothing. A
``.part`` (or a file an interrupted copy left short) whose content is the local file's prefix
(its hash equals the hash of the local file's first bytes) is resumed: only the rest is sent.
Anything else is uploaded whole. The files that were sent are checked with one more
``sha256sum`` exec.
"""

from __future__ import annotations

import hashlib
import inspect
import logging
import posixpath
from collections.abc import Callable, Sequence
from pathlib import Path

from attrs import frozen

from ..core.errors import TransportError
from ..core.progress import Reporter, report
from ..core.transport import Transport

log = logging.getLogger(__name__)

_CHUNK = 1 << 20


@frozen(kw_only=True)
class UploadItem:
    """A local file and where it goes on the target, with its mode there."""

    local: Path
    remote: str
    mode: int = 0o644


@frozen(kw_only=True)
class RemoteFile:
    """What the target has at a path: ``size`` is ``None`` when there is no file."""

    path: str
    size: int | None
    sha256: str | None


@frozen(kw_only=True)
class UploadResult:
    """What an upload did: bytes sent, and the remote paths skipped, resumed or sent whole."""

    transferred_bytes: int
    skipped: tuple[str, ...] = ()
    resumed: tuple[str, ...] = ()
    uploaded: tuple[str, ...] = ()


def sha256_file(path: Path, limit: int | None = None) -> str:
    """The sha256 of ``path`` (of its first ``limit`` bytes when given)."""
    h = hashlib.sha256()
    left = limit
    with path.open("rb") as f:
        while left is None or left > 0:
            chunk = f.read(_CHUNK if left is None else min(_CHUNK, left))
            if not chunk:
                break
            h.update(chunk)
            if left is not None:
                left -= len(chunk)
    return h.hexdigest()


_STAT = r"""
mkdirs=$1; shift
for p in "$@"; do
  [ "$mkdirs" = 0 ] || mkdir -p "$(dirname "$p")" || exit 1
  for f in "$p" "$p.part"; do
    if [ -f "$f" ]; then
      printf '%s %s %s\n' "$(wc -c < "$f" | tr -d ' ')" "$(sha256sum < "$f" | cut -d' ' -f1)" "$f"
    else
      printf -- '- - %s\n' "$f"
    fi
  done
done
"""


def parse_stat(text: str) -> dict[str, RemoteFile]:
    """Parse the lines of the stat script (``<size> <sha256> <path>`` or ``- - <path>``)."""
    out: dict[str, RemoteFile] = {}
    for line in text.splitlines():
        size, digest, path = [*line.split(" ", 2), "", ""][:3]
        if not path:
            continue
        if size == "-":
            out[path] = RemoteFile(path=path, size=None, sha256=None)
        elif size.isdigit() and len(digest) == 64:
            out[path] = RemoteFile(path=path, size=int(size), sha256=digest)
    return out


def remote_state(
    transport: Transport, paths: Sequence[str], *, create_dirs: bool = True
) -> dict[str, RemoteFile]:
    """Size and sha256 of each path and its ``.part`` on the target, in one exec (parent
    directories are created unless ``create_dirs`` is false)."""
    result = transport.run(
        ["sh", "-c", _STAT, "stat", "1" if create_dirs else "0", *paths], timeout=1800
    )
    state = parse_stat(result.text)
    missing = [p for p in paths if p not in state or p + ".part" not in state]
    if missing:
        raise TransportError(
            f"cannot inspect {missing[0]} on {transport.host}",
            hint="check that sha256sum and wc exist on the target",
        )
    return state


def pending(transport: Transport, items: Sequence[UploadItem]) -> list[tuple[UploadItem, bool]]:
    """``(item, already there)`` for each item, changing nothing on the target (for dry runs)."""
    state = remote_state(transport, [it.remote for it in items], create_dirs=False)
    return [(it, state[it.remote].sha256 == sha256_file(it.local)) for it in items]


def _put_options(transport: Transport) -> set[str]:
    try:
        return set(inspect.signature(transport.put).parameters)
    except (TypeError, ValueError):
        return set()


def _put(
    transport: Transport,
    local: Path,
    remote: str,
    mode: int,
    on_progress: Callable[[int, int], None],
    *,
    resume: bool = False,
) -> None:
    """``transport.put``, with progress and resume when the transport offers them."""
    options = _put_options(transport)
    kwargs: dict[str, object] = {"mode": mode}
    if "on_progress" in options:
        kwargs["on_progress"] = on_progress
    if resume:
        kwargs["resume"] = True
    transport.put(local, remote, **kwargs)  # type: ignore[arg-type]
    if "on_progress" not in options:
        size = local.stat().st_size
        on_progress(size, size)


def upload(
    transport: Transport,
    items: Sequence[UploadItem],
    *,
    reporter: Reporter | None = None,
    phase: str = "upload",
) -> UploadResult:
    """Upload ``items``, skipping files already there and resuming broken uploads."""
    if not items:
        return UploadResult(transferred_bytes=0)
    local_size = {it.remote: it.local.stat().st_size for it in items}
    local_hash = {it.remote: sha256_file(it.local) for it in items}
    state = remote_state(transport, [it.remote for it in items])
    plan: list[tuple[UploadItem, int]] = []  # (item, offset to send from)
    skipped: list[str] = []
    for it in items:
        have = state[it.remote]
        if have.sha256 == local_hash[it.remote]:
            skipped.append(it.remote)
            report(reporter, "skip", f"{it.remote} is already on the target", phase=phase)
            continue
        offset = 0
        if "resume" in _put_options(transport):
            # the transport's .part, or a file that an interrupted copy left short
            for candidate in (state[it.remote + ".part"], have):
                if (
                    candidate.size
                    and candidate.size < local_size[it.remote]
                    and candidate.sha256 == sha256_file(it.local, candidate.size)
                ):
                    offset = candidate.size
                    if candidate is have:
                        transport.run(["mv", "-f", it.remote, it.remote + ".part"])
                    break
        plan.append((it, offset))
    total = sum(local_size[it.remote] - offset for it, offset in plan)
    sent = 0
    resumed: list[str] = []
    uploaded: list[str] = []
    for it, offset in plan:
        name = posixpath.basename(it.remote)
        base = sent

        def progress(done: int, _total: int, base: int = base, name: str = name) -> None:
            report(
                reporter,
                "progress",
                f"uploading {name}",
                phase=phase,
                current=base + done,
                total=total,
                unit="bytes",
            )

        if offset:
            report(reporter, "step", f"resuming {name} at byte {offset}", phase=phase)

            def progress_rest(
                done: int, total_: int, base: int = base, offset: int = offset, name: str = name
            ) -> None:
                report(
                    reporter,
                    "progress",
                    f"uploading {name}",
                    phase=phase,
                    current=base + max(0, done - offset),
                    total=total,
                    unit="bytes",
                )

            _put(transport, it.local, it.remote, it.mode, progress_rest, resume=True)
            resumed.append(it.remote)
        else:
            report(
                reporter, "step", f"uploading {name} ({local_size[it.remote]} bytes)", phase=phase
            )
            _put(transport, it.local, it.remote, it.mode, progress)
            uploaded.append(it.remote)
        sent += local_size[it.remote] - offset
    if plan:
        _verify(transport, [it for it, _ in plan], local_hash)
        report(
            reporter,
            "done",
            f"uploaded {sent} bytes ({len(skipped)} files already there)",
            phase=phase,
        )
    return UploadResult(
        transferred_bytes=sent,
        skipped=tuple(skipped),
        resumed=tuple(resumed),
        uploaded=tuple(uploaded),
    )


def _verify(transport: Transport, items: Sequence[UploadItem], local_hash: dict[str, str]) -> None:
    state = remote_state(transport, [it.remote for it in items])
    for it in items:
        if state[it.remote].sha256 != local_hash[it.remote]:
            raise TransportError(
                f"{it.remote} on {transport.host} does not match {it.local} after the upload",
                hint="run the command again (the upload resumes), or check the target's disk",
            )
