"""Checks before the kexec: everything that would make the handoff fail, while nothing changed.

One exec on the target (:data:`PROBE`) reports architecture, memory, kexec, boot mode and where
the disk to format resolves to; :func:`check` compares that with the bundle and the runtime info
and raises a :class:`~nixremote.core.errors.PreflightError` for the first problem, with what to
do. It also asks the installer's own network restore
(:mod:`nixremote.installers.restore_network`) whether the network dump that goes into the
handoff archive describes the network (:func:`check_network`). :func:`parse_probe` and
:func:`check` are pure; :func:`run_preflight` does the one exec.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from attrs import frozen

from ..core.cmdline import kernel_command_line
from ..core.errors import PreflightError
from ..core.models import BootMode, RuntimeInfo
from ..core.progress import Reporter, report
from ..core.transport import Transport
from ..installers.restore_network import dump_problems
from .bundle import Bundle, normalize_arch

if TYPE_CHECKING:
    from .handoff import NetworkDump

log = logging.getLogger(__name__)

MIB = 1024 * 1024

INSTALLER_MARGIN = 512 * MIB
"""RAM the booted installer needs beyond its unpacked initrd (kernel, tmpfs, tools, Python)."""

LOAD_MARGIN = 64 * MIB
"""Free RAM the old system needs beyond the kernel and initrd that ``kexec -l`` copies in."""

PROBE = r"""
disk=$1
echo "arch=$(uname -m)"
awk '/^MemTotal:/ {printf "memtotal=%.0f\n", $2 * 1024}
     /^MemAvailable:/ {printf "memavail=%.0f\n", $2 * 1024}' /proc/meminfo
echo "kexec=$(command -v kexec 2>/dev/null)"
echo "kexec_load_disabled=$(cat /proc/sys/kernel/kexec_load_disabled 2>/dev/null)"
[ -d /sys/firmware/efi ] && echo efi=1 || echo efi=0
if [ -n "$disk" ]; then
  real=$(readlink -f -- "$disk" 2>/dev/null)
  echo "disk=$real"
  [ -b "$real" ] && echo disk_block=1 || echo disk_block=0
fi
if [ -n "$2" ]; then
  d=$2
  while [ ! -d "$d" ]; do d=$(dirname -- "$d"); done
  echo "upload_fs=$(stat -f -c %T -- "$d" 2>/dev/null)"
  df -Pk -- "$d" 2>/dev/null | awk 'NR == 2 {printf "upload_free=%.0f\n", $4 * 1024}'
  [ -d "$2" ] && du -sk -- "$2" 2>/dev/null | awk '{printf "upload_present=%.0f\n", $1 * 1024}'
fi
shift 2
for c in "$@"; do
  d=$c
  while [ ! -d "$d" ]; do d=$(dirname -- "$d"); done
  fs=$(stat -f -c %T -- "$d" 2>/dev/null)
  free=$(df -Pk -- "$d" 2>/dev/null | awk 'NR == 2 {printf "%.0f", $4 * 1024}')
  echo "secret=$fs $free $c"
done
for pm in apt-get dnf zypper apk; do
  command -v "$pm" >/dev/null 2>&1 && { echo "package_manager=$pm"; break; }
done
exit 0
"""


@frozen(kw_only=True)
class TargetState:
    """What the preflight probe saw on the target."""

    arch: str | None = None
    mem_total: int | None = None
    mem_available: int | None = None
    kexec: str | None = None
    kexec_load_disabled: bool = False
    efi: bool | None = None
    disk: str | None = None
    disk_is_block: bool = False
    package_manager: str | None = None
    upload_fs: str | None = None
    upload_free: int | None = None
    upload_present: int = 0
    secret_dirs: tuple[tuple[str, str, int | None], ...] = ()
    """``(path, filesystem type, free bytes)`` of each candidate directory for the archive."""

    @property
    def upload_in_ram(self) -> bool:
        """Whether the upload directory is on tmpfs/ramfs (a rescue system's usual root)."""
        return self.upload_fs in ("tmpfs", "ramfs", "rootfs")


def parse_probe(text: str) -> TargetState:
    """Parse the probe's ``key=value`` lines."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip()] = value.strip()

    def num(key: str) -> int | None:
        v = values.get(key, "")
        return int(v) if v.isdigit() else None

    secrets = []
    for line in text.splitlines():
        if line.startswith("secret="):
            fs, free, path = [*line[len("secret=") :].split(" ", 2), "", ""][:3]
            if path:
                secrets.append((path, fs, int(free) if free.isdigit() else None))

    efi = values.get("efi")
    return TargetState(
        arch=values.get("arch") or None,
        mem_total=num("memtotal"),
        mem_available=num("memavail"),
        kexec=values.get("kexec") or None,
        kexec_load_disabled=values.get("kexec_load_disabled") == "1",
        efi=None if efi is None else efi == "1",
        disk=values.get("disk") or None,
        disk_is_block=values.get("disk_block") == "1",
        package_manager=values.get("package_manager") or None,
        upload_fs=values.get("upload_fs") or None,
        upload_free=num("upload_free"),
        upload_present=num("upload_present") or 0,
        secret_dirs=tuple(secrets),
    )


def _gib(n: int) -> str:
    return f"{n / 1024**3:.2f} GiB" if n >= 1024**3 else f"{n / MIB:.0f} MiB"


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def check_network(network: NetworkDump, info: RuntimeInfo, *, host: str) -> None:
    """Raise :class:`PreflightError` when the installer could not restore the network from
    ``network`` (the dump that goes into the handoff archive), for the reason the installer's
    own restore code gives (:func:`~nixremote.installers.restore_network.dump_problems`)."""
    problems = dump_problems(
        _json(network.addrs),
        _json(network.routes_v4),
        _json(network.routes_v6),
        info.primary_interface,
    )
    if problems:
        raise PreflightError(
            f"the network dump of {host} cannot describe its network: {problems[0]}; "
            "the installer would come up unreachable",
            hint="collect again (nixremote info) and check `ip -j addr` and `ip -j route` on the "
            "host; nothing was changed",
        )


def check(
    state: TargetState,
    info: RuntimeInfo,
    bundle: Bundle,
    *,
    host: str,
    archive_bytes: int = 0,
    allow_kexec_install: bool = True,
    upload_dir: str | None = None,
    network: NetworkDump | None = None,
) -> str:
    """Raise :class:`PreflightError` for the first failed check; return the kernel command line.

    The checks, in order: architecture, memory for the installer, space in the upload
    directory, a secret directory on tmpfs with room for the handoff archive and the combined
    initrd (both hold the installer's private key: they never touch a disk;
    :func:`secret_dir`), free memory for the upload (when in RAM), the secret directory and
    the load, kexec present (or
    installable), kexec allowed, boot mode known, disk by-id resolves to the collected disk,
    the network dump describes the network (when ``network`` is given), kernel command line
    within budget.
    """
    arch = normalize_arch(state.arch or info.arch or "")
    if arch != bundle.arch:
        raise PreflightError(
            f"{host} is {arch or 'of unknown architecture'}, the bundle is for {bundle.arch}",
            hint=f"use a bundle built for {arch}" if arch else "check `uname -m` on the host",
        )
    total = state.mem_total or info.memory_bytes
    files = bundle.kernel_bytes + bundle.initrd_bytes + archive_bytes
    need = bundle.initrd_unpacked_bytes + files + INSTALLER_MARGIN
    if total is None or total < need:
        raise PreflightError(
            f"{host} has {_gib(total) if total else 'unknown'} RAM; the installer needs "
            f"{_gib(need)} (initrd unpacked {_gib(bundle.initrd_unpacked_bytes)} + images "
            f"{_gib(files)} + {_gib(INSTALLER_MARGIN)})",
            hint="use a host with more memory (or a smaller bundle)",
        )
    # on the old system: the uploaded kernel and initrd (what is not there yet) in the upload
    # directory; the archive and the combined initrd made for the load (initrd + archive,
    # removed after it) in the secret directory (tmpfs); and kexec's copy of all of it
    images = bundle.kernel_bytes + bundle.initrd_bytes
    combined = bundle.initrd_bytes + archive_bytes
    in_secret = bool(state.secret_dirs)
    secret = secret_bytes(bundle, archive_bytes) if in_secret else 0
    missing = max(0, images - state.upload_present)
    upload_need = missing + (0 if in_secret else combined)
    if state.upload_free is not None and state.upload_free < upload_need:
        raise PreflightError(
            f"{upload_dir or 'the upload directory'} on {host} has {_gib(state.upload_free)} "
            f"free; the bundle and the combined initrd take {_gib(upload_need)}",
            hint="free space there, or pick another directory",
        )
    if in_secret:
        secret_dir(state, secret, host=host)
    load = files + LOAD_MARGIN + secret + (upload_need if state.upload_in_ram else 0)
    if state.mem_available is not None and state.mem_available < load:
        where = " (the upload directory is in RAM)" if state.upload_in_ram else ""
        raise PreflightError(
            f"{host} has {_gib(state.mem_available)} free; loading the installer takes "
            f"{_gib(load)}{where}",
            hint="stop what uses memory on the host (or reboot its rescue system) and retry",
        )
    if not state.kexec and not (allow_kexec_install and state.package_manager):
        raise PreflightError(
            f"kexec is not installed on {host}"
            + ("" if state.package_manager else " and no package manager was found"),
            hint="install kexec-tools on the host"
            + ("" if allow_kexec_install else ", or allow nixremote to install it"),
        )
    if state.kexec_load_disabled:
        raise PreflightError(
            f"kexec is disabled on {host} (kernel.kexec_load_disabled=1)",
            hint="boot the host into a rescue system that allows kexec",
        )
    if info.boot_mode is BootMode.UNKNOWN:
        raise PreflightError(
            f"the boot mode (BIOS or UEFI) of {host} is unknown",
            hint="set bootMode in the runtime info, or collect it again",
        )
    if not state.disk or not state.disk_is_block:
        raise PreflightError(
            f"{info.disk_to_format} does not resolve to a block device on {host}",
            hint="collect the runtime info again, or pick another disk with --disk",
        )
    known = info.disk(info.disk_to_format)
    if known is not None and known.path and known.path != state.disk:
        raise PreflightError(
            f"{info.disk_to_format} now points to {state.disk}, it was {known.path} when "
            "the runtime info was collected",
            hint="collect the runtime info again before installing",
        )
    if network is not None:
        check_network(network, info, host=host)
    return kernel_command_line(bundle.kernel_params, info)


def secret_bytes(bundle: Bundle, archive_bytes: int) -> int:
    """What the secret directory holds at most: the archive and the combined initrd."""
    return 2 * archive_bytes + bundle.initrd_bytes


def secret_dir(state: TargetState, need: int = 0, *, host: str = "the host") -> str:
    """The first candidate directory for the handoff archive that is on tmpfs (or ramfs) with
    ``need`` bytes free; a :class:`PreflightError` when there is none."""
    for path, fs, free in state.secret_dirs:
        if fs in ("tmpfs", "ramfs") and (free is None or free >= need):
            return path
    seen = ", ".join(
        f"{path} on {fs or 'unknown'} ({_gib(free or 0)} free)"
        for path, fs, free in state.secret_dirs
    )
    raise PreflightError(
        f"no directory on tmpfs with {_gib(need)} free on {host} for the handoff archive, which "
        f"holds the installer's private host key and must not reach a disk ({seen})",
        hint="boot the host into a system with /run or /dev/shm on tmpfs (every systemd system "
        "and rescue system has them), with enough free memory",
    )


def probe(
    transport: Transport,
    info: RuntimeInfo,
    upload_dir: str = "",
    secret_dirs: tuple[str, ...] = (),
) -> TargetState:
    """Run the preflight probe on the target (one exec)."""
    result = transport.run(
        ["sh", "-c", PROBE, "preflight", info.disk_to_format, upload_dir, *secret_dirs],
        timeout=60,
    )
    return parse_probe(result.text)


def run_preflight(
    transport: Transport,
    info: RuntimeInfo,
    bundle: Bundle,
    *,
    archive_bytes: int = 0,
    allow_kexec_install: bool = True,
    upload_dir: str = "",
    secret_dirs: tuple[str, ...] = (),
    network: NetworkDump | None = None,
    reporter: Reporter | None = None,
) -> tuple[TargetState, str]:
    """Probe the target and run every check; returns the state and the kernel command line
    (:func:`secret_dir` of the state names where the archive goes). ``network``: the dump that
    goes into the handoff archive (checked by :func:`check_network`)."""
    report(reporter, "start", "preflight checks", phase="preflight")
    state = probe(transport, info, upload_dir, secret_dirs)
    line = check(
        state,
        info,
        bundle,
        host=transport.host,
        archive_bytes=archive_bytes,
        allow_kexec_install=allow_kexec_install,
        upload_dir=upload_dir or None,
        network=network,
    )
    report(
        reporter,
        "done",
        "preflight passed",
        phase="preflight",
        data={
            "arch": state.arch or "",
            "memoryBytes": state.mem_total,
            "kexec": state.kexec or f"(will install with {state.package_manager})",
            "cmdlineBytes": len(line),
        },
    )
    return state, line
