"""Where is the host? The first thing ``nixremote install`` finds out, so that a rerun of the same
command goes on from where an interrupted one stopped.

Over a connection verified by the host keys in known_hosts (never trust on first use for the
installer or the installed system: :func:`check_pinned`), one command (:data:`PROBE`) tells:

``old``
    the system the host ran before (a rescue or cloud image): go on from the kexec;
``installer``
    the nixremote installer (its kexec marker ``/root/network/nixremote-installer.json`` is
    there): its phase record (``/run/nixremote/state.json``) says which phases finished, and the
    run goes on with the first unfinished one;
``installed``
    the installed system (NixOS with the host flake in ``/persist/etc/nixos``): nothing to do
    unless the phases ask for ``verify`` (or ``--force-format`` for a new install).

:func:`parse_where` reads the probe's answer (untrusted text: the phase record is read strictly,
the marker's plan digest must be 64 hex digits); :func:`resume_line` is the one progress line a
resumed run reports.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from attrs import frozen

from ..core import jsontext
from ..core.errors import HostKeyError, InvalidInputError
from ..core.phases import INSTALLER_PHASES_OF
from ..core.plan import INSTALLER_MARKER
from ..core.transport import Transport
from ..installers.state import STATE_FILE, InstallState
from .known_hosts import load_known_hosts

OLD = "old"
INSTALLER = "installer"
INSTALLED = "installed"

MARKER_FILE = f"/root/network/{INSTALLER_MARKER}"
"""The kexec's marker in the installer (the handoff archive puts it there)."""

HOST_FLAKE = "/persist/etc/nixos/flake.nix"
"""What the installed system has and the old system does not."""

PROBE = r"""
marker=$1 state=$2 flake=$3
if [ -e "$marker" ]; then echo "where=installer"
elif [ -e "$flake" ] && { [ -e /etc/NIXOS ] || command -v nixos-version >/dev/null 2>&1; }
then echo "where=installed"
else echo "where=old"; fi
echo "@@marker"
head -c 4096 "$marker" 2>/dev/null
echo
echo "@@state"
head -c 65536 "$state" 2>/dev/null
echo
echo "@@end"
"""
"""``sh -c PROBE probe MARKER STATE FLAKE``: one round trip, read-only."""

_SHA256 = re.compile(r"[0-9a-f]{64}")


@frozen(kw_only=True)
class Where:
    """What the probe found: ``kind`` (:data:`OLD`, :data:`INSTALLER`, :data:`INSTALLED`), the
    digest of the plan the installer was handed, and its phase record (``None``: none yet)."""

    kind: str
    plan_sha256: str | None = None
    state: InstallState | None = None

    @property
    def finished(self) -> tuple[str, ...]:
        """The controller's phases the installer finished (``format``, ``install``, ``reboot``),
        the kexec included once the installer runs."""
        if self.kind == OLD:
            return ()
        if self.kind == INSTALLED:
            return ("kexec", "format", "install", "reboot")
        done = set(self.state.finished) if self.state else set()
        ran = [name for name, parts in INSTALLER_PHASES_OF.items() if set(parts) <= done]
        return ("kexec", *ran)

    @property
    def install_finished(self) -> bool:
        return "install" in self.finished


def _sections(text: str) -> dict[str, str]:
    parts: dict[str, str] = {}
    name = "head"
    lines: list[str] = []
    for line in text.splitlines():
        if line.startswith("@@"):
            parts[name] = "\n".join(lines).strip()
            name, lines = line[2:].strip(), []
        else:
            lines.append(line)
    parts[name] = "\n".join(lines).strip()
    return parts


def parse_where(text: str, *, host: str) -> Where:
    """The probe's answer as a :class:`Where`; a malformed answer is an error naming ``host``."""
    parts = _sections(text)
    if "end" not in parts:
        raise InvalidInputError(
            f"{host} answered the probe for where it is with something unexpected",
            hint="run again; if it persists, look at the host's console",
        )
    head = dict(line.split("=", 1) for line in parts.get("head", "").splitlines() if "=" in line)
    kind = head.get("where")
    if kind not in (OLD, INSTALLER, INSTALLED):
        raise InvalidInputError(
            f"{host} answered the probe for where it is without saying (where={kind!r})",
            hint="run again; if it persists, look at the host's console",
        )
    if kind != INSTALLER:
        return Where(kind=kind)
    digest = None
    if parts.get("marker"):
        source = f"{host}:{MARKER_FILE}"
        data = jsontext.loads(parts["marker"]) if _is_json(parts["marker"]) else None
        value = data.get("planSha256") if isinstance(data, dict) else None
        if not isinstance(value, str) or not _SHA256.fullmatch(value):
            raise InvalidInputError(
                f"{source}: expected a planSha256 of 64 hex digits",
                hint="the installer was not started by this nixremote; reboot the host "
                "into its rescue system and run again",
            )
        digest = value
    state = None
    if parts.get("state"):
        source = f"{host}:{STATE_FILE}"
        if not _is_json(parts["state"]):
            raise InvalidInputError(
                f"{source}: not valid JSON",
                hint="remove it on the host (the installer starts over) and run again",
            )
        state = InstallState.from_json_data(jsontext.loads(parts["state"]), source)
    return Where(kind=kind, plan_sha256=digest, state=state)


def _is_json(text: str) -> bool:
    try:
        jsontext.loads(text)
    except ValueError:
        return False
    return True


def probe(
    transport: Transport,
    *,
    host: str,
    marker: str = MARKER_FILE,
    state_file: str = str(STATE_FILE),
    host_flake: str = HOST_FLAKE,
) -> Where:
    """Ask the connected host where it is (one read-only command)."""
    result = transport.run(
        ["sh", "-c", PROBE, "probe", marker, state_file, host_flake], check=False, timeout=60
    )
    return parse_where(result.text, host=host)


def had_pinned_key(known_hosts: Path | Sequence[Path], host: str, port: int) -> bool:
    """Whether ``known_hosts`` (a file, or files) vouches for a key of ``host`` on ``port``
    (read before a connection that may trust on first use)."""
    paths = [known_hosts] if isinstance(known_hosts, Path) else list(known_hosts)
    return bool(load_known_hosts(paths, host, port).keys)


def check_pinned(where: Where, *, pinned_before: bool, policy: str, host: str, port: int) -> None:
    """The installer and the installed system are only recognised over a key pinned before
    this run (the kexec phase pins the installer's, the reboot phase the system's): a key
    learnt now (``accept-new``) proves nothing about who answers."""
    if where.kind == OLD or policy == "strict" or pinned_before:
        return
    raise HostKeyError(
        f"{host} port {port} answers as the nixremote {where.kind} but its host key was not "
        "recorded before this run",
        hint="use the known_hosts file of the run that started the install (--known-hosts), "
        "or reboot the host into its rescue system",
    )


def resume_line(where: Where, host: str, wanted: tuple[str, ...]) -> str:
    """One progress line: what the host runs, what finished, where this run goes on."""
    if where.kind == INSTALLED:
        rest = [p for p in wanted if p not in where.finished]
        then = f"; going on with {', '.join(rest)}" if rest else "; nothing to do"
        return f"{host} runs the installed system (installed by nixremote){then}"
    done = [p for p in where.finished if p != "kexec"]
    finished = ", ".join(["kexec", *done])
    rest = [p for p in wanted if p not in where.finished]
    then = f"going on with {rest[0]}" if rest else "nothing left to do"
    return f"{host} runs the nixremote installer: finished {finished}; {then}"


__all__ = [
    "HOST_FLAKE",
    "INSTALLED",
    "INSTALLER",
    "MARKER_FILE",
    "OLD",
    "PROBE",
    "Where",
    "check_pinned",
    "had_pinned_key",
    "parse_where",
    "probe",
    "resume_line",
]
