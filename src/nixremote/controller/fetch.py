"""A URL bundle: the target downloads the kernel and the initrd itself, at its own speed.

:func:`fetch_on_target` runs :data:`FETCH` on the running system for each file of the bundle
(:attr:`~.bundle.Bundle.fetch`): a file already there with the right sha256 is kept; otherwise
it is downloaded into ``<file>.part`` with ``curl``, ``wget`` or busybox ``wget`` (whichever the
host has), resuming a partial download where the server allows it (else from the start), then
checked against the sha256 of ``bundle.json`` and only then renamed into place. A wrong sha256
is refused with one line before ``kexec -l``: the old system keeps running.

The URL and the hash were validated when the bundle was loaded (:func:`.bundle.check_url`,
:func:`.bundle.check_sha256`) and reach the host only as positional arguments of ``sh -c``
(never interpolated into the script); ``--`` ends the downloader's options before the URL.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..core.errors import CommandFailedError, PreflightError, TransportError
from ..core.progress import Reporter, report
from ..core.transport import Transport
from .bundle import RemoteFile

FETCH = r"""
url=$1; want=$2; dest=$3; part="$dest.part"
bb() { command -v busybox >/dev/null 2>&1 && busybox "$1" --help >/dev/null 2>&1; }
if command -v sha256sum >/dev/null 2>&1; then sum() { sha256sum "$1" | cut -d' ' -f1; }
elif bb sha256sum; then sum() { busybox sha256sum "$1" | cut -d' ' -f1; }
else echo "no sha256sum on the host" >&2; exit 12; fi
if [ -f "$dest" ] && [ "$(sum "$dest")" = "$want" ]; then echo present; exit 0; fi
mkdir -p -- "$(dirname -- "$dest")" || exit 13
get() {  # $1: resume (1) or not (0)
  if command -v curl >/dev/null 2>&1; then
    if [ "$1" = 1 ]; then curl -fsSL --retry 3 -C - -o "$part" -- "$url"
    else curl -fsSL --retry 3 -o "$part" -- "$url"; fi
  elif command -v wget >/dev/null 2>&1; then
    if [ "$1" = 1 ]; then wget -q -c -O "$part" -- "$url"
    else wget -q -O "$part" -- "$url"; fi
  elif bb wget; then
    if [ "$1" = 1 ]; then busybox wget -q -c -O "$part" -- "$url"
    else busybox wget -q -O "$part" -- "$url"; fi
  else
    echo "neither curl nor wget on the host" >&2; exit 12
  fi
}
if [ -s "$part" ] && [ "$(sum "$part")" = "$want" ]; then :
elif [ -s "$part" ] && get 1 && [ "$(sum "$part")" = "$want" ]; then :
else
  rm -f -- "$part"
  get 0 || { rc=$?; rm -f -- "$part"; echo "download failed (exit $rc)" >&2; exit 10; }
fi
got=$(sum "$part")
if [ "$got" != "$want" ]; then
  rm -f -- "$part"
  echo "sha256 mismatch: got $got" >&2; exit 11
fi
mv -f -- "$part" "$dest" && echo fetched
"""
"""``sh -c`` text: ``$1`` URL, ``$2`` sha256, ``$3`` destination (see the module doc)."""

FETCH_TIMEOUT = 3600.0


def fetch_on_target(
    transport: Transport,
    files: Sequence[RemoteFile],
    remote_dir: str,
    *,
    reporter: Reporter | None = None,
    phase: str = "upload",
) -> int:
    """Have the host download ``files`` into ``remote_dir``; the number it downloaded (the rest
    were there already). Raises :class:`PreflightError` on a wrong sha256 or a failed download
    (nothing is loaded then)."""
    fetched = 0
    for f in files:
        dest = f"{remote_dir.rstrip('/')}/{f.name}"
        report(reporter, "step", f"the host downloads {f.url} to {dest}", phase=phase)
        try:
            result = transport.run(
                ["sh", "-c", FETCH, "fetch", f.url, f.sha256, dest],
                timeout=FETCH_TIMEOUT,
                check=False,
            )
        except CommandFailedError as exc:  # pragma: no cover - check=False
            raise TransportError(exc.message, hint=exc.hint) from None
        err = result.stderr.decode("utf-8", "replace").strip().splitlines()
        last = err[-1] if err else f"exit code {result.returncode}"
        if result.returncode == 11:
            raise PreflightError(
                f"{f.url}: the downloaded file does not match the bundle's sha256 {f.sha256} "
                f"({last}); nothing was loaded, {transport.host} runs as before",
                hint="check the URL and the sha256 in bundle.json (or --bundle-sha256)",
            )
        if result.returncode != 0:
            raise PreflightError(
                f"{transport.host} could not download {f.url}: {last}",
                hint="check that the host reaches the URL (curl or wget must be installed)",
            )
        if result.stdout.strip() == b"present":
            report(reporter, "skip", f"{dest} is already on the host", phase=phase)
        else:
            fetched += 1
            report(reporter, "step", f"{dest}: sha256 {f.sha256} checked", phase=phase)
    return fetched


__all__ = ["FETCH", "fetch_on_target"]
