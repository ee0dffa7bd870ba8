"""Where the installer finds its runtime info.

Inside the kexec'd installer the runtime info of the host arrives by one of three ways, tried in
this order:

1. ``--runtime-info FILE``: a file named by the caller (the controller may upload one);
2. ``/root/network/runtime-info.json``: the appended initrd archive's ``runtime-info.json``, which
   the installer image (this project's, or a stock nixos-images one) copies there at boot; it has
   no size limit, so it is preferred over the kernel command line;
3. ``/proc/cmdline``: the ``nixremote.info=`` parameter (see :mod:`.cmdline`), compact and always
   there when the controller did the kexec.

The paths are parameters so that tests (and unusual images) can point elsewhere. This module is
part of the installer side: it imports neither fabric, paramiko, hcloud nor rich.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from attrs import frozen

from ..core.cmdline import PARAM, find_param, runtime_info_from_cmdline
from ..core.converter import load_runtime_info
from ..core.errors import RuntimeInfoError
from ..core.models import RuntimeInfo

log = logging.getLogger(__name__)

NETWORK_DIR_FILE = Path("/root/network/runtime-info.json")
"""Where an installer image puts the archive's ``runtime-info.json``."""

PROC_CMDLINE = Path("/proc/cmdline")

DEFAULT_FILES: tuple[Path, ...] = (NETWORK_DIR_FILE,)


@frozen(kw_only=True)
class RuntimeSource:
    """The runtime info and where it came from (``file /root/network/runtime-info.json``)."""

    info: RuntimeInfo
    source: str


def find_runtime_info(
    explicit: Path | None = None,
    *,
    files: Sequence[Path] = DEFAULT_FILES,
    cmdline: Path = PROC_CMDLINE,
) -> RuntimeSource:
    """The runtime info from ``explicit``, else the first of ``files`` that exists, else the
    ``nixremote.info=`` parameter of ``cmdline``.

    An explicit file that is missing or invalid is an error (never a silent fallback); so is an
    existing default file that is invalid. A missing ``nixremote.info=`` is an error that names
    every place looked at.
    """
    if explicit is not None:
        return RuntimeSource(info=load_runtime_info(explicit), source=f"file {explicit}")
    for path in files:
        if path.is_file():
            info = load_runtime_info(path)
            _compare_with_cmdline(info, path, cmdline)
            return RuntimeSource(info=info, source=f"file {path}")
    try:
        text = cmdline.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise RuntimeInfoError(
            f"cannot read {cmdline}: {exc.strerror}",
            hint="pass --runtime-info FILE",
        ) from None
    info_or_none = runtime_info_from_cmdline(text)
    if info_or_none is None:
        looked = ", ".join(str(p) for p in files)
        raise RuntimeInfoError(
            f"no runtime info: no {PARAM}= on {cmdline} and none of {looked} exists",
            hint="pass --runtime-info FILE, or boot the installer with nixremote install",
        )
    return RuntimeSource(info=info_or_none, source=f"kernel command line ({cmdline})")


def _compare_with_cmdline(info: RuntimeInfo, path: Path, cmdline: Path) -> None:
    """Warn when the file and the kernel command line describe different hosts or disks.

    Both come from the same controller run, so a difference means a stale file (from an earlier
    kexec); the file still wins, as documented, but the log says so.
    """
    try:
        value = find_param(cmdline.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return
    if value is None:
        return
    try:
        other = runtime_info_from_cmdline(f"{PARAM}={value}")
    except RuntimeInfoError as exc:
        log.warning("ignoring %s= on %s: %s", PARAM, cmdline, exc.message)
        return
    if other is None:
        return
    if (other.host_name, other.disk_to_format) != (info.host_name, info.disk_to_format):
        log.warning(
            "%s (host %s, disk %s) differs from %s on %s (host %s, disk %s); using the file",
            path,
            info.host_name,
            info.disk_to_format,
            PARAM,
            cmdline,
            other.host_name,
            other.disk_to_format,
        )
