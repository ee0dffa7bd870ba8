"""The kexec handoff, controller side: the appended archive, ``kexec -l`` + ``kexec -e``, reconnect.

For each kexec the controller

1. generates the installer's ed25519 host key
   (:func:`nixremote.controller.keypair.generate_host_key`),
2. builds a gzip'd ``newc`` cpio archive (:func:`build_archive`, written here in pure Python,
   deterministic: mtime 0, uid/gid 0, sorted) with that key, the authorized keys, the runtime
   info, the old system's ``ip --json`` dumps and the installer zipapp,
3. uploads it into a directory on tmpfs (``/run/nixremote-kexec``, mode 0700, files 0600 under
   ``umask 077``: it holds the installer's private host key, which must never reach the old
   disk), concatenates it after the bundle's initrd there, loads kernel and combined initrd with
   ``kexec -l``, removes both the archive and the combined initrd, records the installer's key
   in the user's known_hosts (``before_exec``) and starts ``kexec -e`` detached (so the SSH
   channel closes cleanly before the old system goes away),
4. waits for the installer's SSH with a deadline and reconnects with strict host key checking
   against the generated key (a known_hosts file of its own; no trust on first use).

The paths and modes of the archive are the contract in ``docs/kexec-bundle.md``.
"""

from __future__ import annotations

import json
import logging
import shlex
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from attrs import frozen

from ..core.converter import dumps_plan, dumps_runtime_info, plan_digest
from ..core.errors import CommandFailedError, PreflightError
from ..core.models import RuntimeInfo
from ..core.plan import INSTALLER_MARKER, Plan
from ..core.progress import Reporter, report
from ..core.transport import Transport
from . import cpio
from .keypair import KeyPair
from .wait import wait_for_ssh

log = logging.getLogger(__name__)

# --- the handoff archive -----------------------------------------------------------------------

ZIPAPP_PATH = "nixremote/nixremote.pyz"

PLAN_PATH = "/root/network/plan.json"
"""Where the installer image puts the archive's ``plan.json`` (every ``*.json`` of the archive's
root is copied to ``/root/network/``)."""


@frozen(kw_only=True)
class NetworkDump:
    """The old system's ``ip --json addr``, ``ip -4 --json route``, ``ip -6 --json route``."""

    addrs: str = "[]"
    routes_v4: str = "[]"
    routes_v6: str = "[]"


def archive_entries(
    *,
    host_key: KeyPair,
    authorized_keys: Sequence[str],
    info: RuntimeInfo,
    network: NetworkDump,
    zipapp: bytes | None,
    plan: Plan | None = None,
) -> list[cpio.Entry]:
    """The members of the handoff archive with the contract's modes."""
    keys = "".join(k.strip() + "\n" for k in dict.fromkeys(authorized_keys) if k.strip())
    entries = [
        cpio.dir_entry("ssh"),
        cpio.file_entry("ssh/ssh_host_ed25519_key", host_key.private_openssh.encode(), 0o600),
        cpio.file_entry(
            "ssh/ssh_host_ed25519_key.pub", (host_key.public_openssh.strip() + "\n").encode()
        ),
        cpio.file_entry("ssh/authorized_keys", keys.encode(), 0o600),
        cpio.file_entry("runtime-info.json", dumps_runtime_info(info).encode()),
    ]
    if plan is not None:
        entries.append(cpio.file_entry("plan.json", dumps_plan(plan).encode()))
        marker = json.dumps({"planSha256": plan_digest(plan)}, sort_keys=True) + "\n"
        entries.append(cpio.file_entry(INSTALLER_MARKER, marker.encode()))
    for name, text in (
        ("addrs.json", network.addrs),
        ("routes-v4.json", network.routes_v4),
        ("routes-v6.json", network.routes_v6),
    ):
        data = (text.strip() or "[]").encode() + b"\n"
        entries.append(cpio.file_entry(name, data))
        # newer nixos-images read the dumps from iproute2/ (kexec-run.sh since 2025)
        entries.append(cpio.file_entry(f"iproute2/{name}", data))
    if zipapp is not None:
        entries.append(cpio.dir_entry("nixremote"))
        entries.append(cpio.file_entry(ZIPAPP_PATH, zipapp))
    return entries


def build_archive(entries: Iterable[cpio.Entry]) -> bytes:
    """The gzip'd newc archive (deterministic: owner root, mtime 0, gzip mtime 0)."""
    return cpio.write_entries(entries, compresslevel=9)


# --- on the target -----------------------------------------------------------------------------

KEXEC_PACKAGES: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    # (package manager, refresh argv or (), install argv)
    (
        "apt-get",
        ("apt-get", "update", "-q"),
        ("env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "-q", "kexec-tools"),
    ),
    ("dnf", (), ("dnf", "install", "-y", "kexec-tools")),
    ("zypper", (), ("zypper", "--non-interactive", "install", "kexec-tools")),
    ("apk", (), ("apk", "add", "kexec-tools")),
)

_FIND = 'for c in "$@"; do command -v "$c" 2>/dev/null && exit 0; done; exit 1'


def which(transport: Transport, *names: str) -> str | None:
    """The path of the first of ``names`` found on the target's PATH, or ``None``."""
    result = transport.run(["sh", "-c", _FIND, "which", *names], check=False)
    path = result.text.strip().splitlines()
    return path[0] if result.ok and path else None


def ensure_kexec(transport: Transport, reporter: Reporter | None = None) -> str:
    """The path of ``kexec`` on the target, installing ``kexec-tools`` when it is missing."""
    found = which(transport, "kexec")
    if found:
        return found
    manager = which(transport, *(name for name, _, _ in KEXEC_PACKAGES))
    if manager is None:
        raise PreflightError(
            f"kexec is not installed on {transport.host} and no known package manager "
            "(apt-get, dnf, zypper, apk) was found",
            hint="install kexec-tools on the target by hand",
        )
    name = Path(manager).name
    for pm, refresh, install in KEXEC_PACKAGES:
        if pm != name:
            continue
        report(reporter, "step", f"installing kexec-tools with {pm}", phase="kexec")
        if refresh:
            transport.run(list(refresh), timeout=600)
        transport.run(list(install), timeout=900)
    found = which(transport, "kexec")
    if not found:
        raise PreflightError(
            f"kexec is still missing on {transport.host} after installing kexec-tools",
            hint="install kexec-tools on the target by hand",
        )
    return found


def load_and_exec(
    transport: Transport,
    *,
    kexec: str,
    kernel: str,
    initrd: str,
    archive: str,
    combined: str,
    cmdline: str,
    delay: float = 2.0,
    reporter: Reporter | None = None,
    before_exec: Callable[[], None] | None = None,
) -> None:
    """Concatenate ``archive`` after ``initrd``, ``kexec -l`` it and start ``kexec -e`` detached.

    The combined initrd (written under ``umask 077``) and the archive are removed once loaded,
    whether the load worked or not (kexec copied them into kernel memory; each run makes a new
    archive). ``before_exec`` runs after a successful load and before ``kexec -e``: the
    pipeline records the installer's host key there, so that the pin survives an SSH
    connection that drops with the old system. After this returns the target goes down within
    ``delay`` seconds; the caller closes ``transport``.
    """
    report(reporter, "step", "loading the installer kernel (kexec -l)", phase="kexec")
    transport.run(
        ["sh", "-c", 'umask 077; cat -- "$1" "$2" > "$3"', "concat", initrd, archive, combined]
    )
    load = [kexec, "-l", kernel, f"--initrd={combined}", f"--append={cmdline}"]
    try:
        result = transport.run(load, timeout=300, check=False)
        if not result.ok and "not permitted" in result.tail().lower():
            # a locked-down kernel (Secure Boot) refuses kexec_load but may take a signed
            # kernel through kexec_file_load; the command line budget covers both
            report(
                reporter,
                "warning",
                "kexec_load was refused; trying kexec_file_load (-s)",
                phase="kexec",
            )
            result = transport.run([kexec, "-s", *load[2:]], timeout=300, check=False)
        if not result.ok:
            raise CommandFailedError(
                f"kexec could not load the installer: {result.tail(3)}",
                argv=result.argv,
                returncode=result.returncode,
                output=result.tail(),
                hint="see `dmesg | tail` on the host; Secure Boot (lockdown) or too little "
                "memory are the usual causes",
            )
    finally:
        transport.run(["rm", "-f", "--", combined, archive], check=False)
    if before_exec is not None:
        before_exec()
    report(reporter, "step", "starting the installer (kexec -e)", phase="kexec")
    # Detached from the SSH session (setsid, output to /dev/null) so the channel closes before
    # the old kernel goes away; the short sleep lets this command return first.
    detached = f"sleep {delay:g}; exec {shlex.quote(kexec)} -e"
    transport.run(
        ["sh", "-c", 'setsid sh -c "$1" </dev/null >/dev/null 2>&1 &', "kexec-e", detached],
        timeout=30,
    )


def wait_for_installer(
    connect: Callable[[], Transport],
    *,
    deadline: float,
    host: str,
    interval: float = 3.0,
    reporter: Reporter | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Transport:
    """Call ``connect`` until the installer answers, or ``deadline`` passes.

    ``connect`` checks the host key strictly against the generated one: until the old system is
    gone its sshd answers with the old key, which means "not yet". On timeout the error says
    where to look (the hoster's console) and the way back (its rescue system).
    """
    return wait_for_ssh(
        connect,
        deadline=deadline,
        what=f"the installer on {host}",
        phase="kexec",
        hint="look at the host's console (the hoster's web/serial console): the installer may "
        "hang (too little RAM, an unsupported NIC) or be up without its network; to get back, "
        "boot the host into the hoster's rescue system again and rerun nixremote install",
        interval=interval,
        reporter=reporter,
        clock=clock,
    )


PYTHON_CANDIDATES = (
    "python3",
    "/run/current-system/sw/bin/python3",
)
_FIND_PYTHON = r"""
ok() { "$1" -c 'import sys, zlib; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; }
for c in "$@"; do
  p=$(command -v "$c" 2>/dev/null) || continue
  ok "$p" && { echo "$p"; exit 0; }
done
for p in /nix/store/*-python3-*/bin/python3 /nix/store/*-python3-minimal-*/bin/python3; do
  [ -x "$p" ] && ok "$p" && { echo "$p"; exit 0; }
done
exit 1
"""


def find_python(transport: Transport, preferred: str | None = None) -> str:
    """A Python >= 3.11 in the booted installer: the bundle's, else PATH, else the Nix store.

    A stock nixos-images installer has no ``python3`` on PATH but ``python3Minimal`` in its
    store (its network-restore service is a Python script), which this finds.
    """
    names = ([preferred] if preferred else []) + list(PYTHON_CANDIDATES)
    result = transport.run(["sh", "-c", _FIND_PYTHON, "find-python", *names], check=False)
    found = result.text.strip().splitlines()
    if not result.ok or not found:
        raise PreflightError(
            f"no Python >= 3.11 in the installer on {transport.host}",
            hint="use a kexec image with python3 (this project's bundle, or nixos-images, whose "
            "store has python3Minimal)",
        )
    return found[0]
