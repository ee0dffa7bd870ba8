"""The phase names of an install, on each side, and the one parser of ``--phases`` lists.

The controller runs :data:`CONTROLLER_PHASES`; each of them after the kexec is carried out by one
or more :data:`INSTALLER_PHASES` (:data:`INSTALLER_PHASES_OF`) inside the installer.
"""

from __future__ import annotations

from collections.abc import Sequence

from .errors import InvalidInputError

CONTROLLER_PHASES: tuple[str, ...] = ("kexec", "format", "install", "reboot", "verify")
"""The phases of ``nixremote install``, in order (``verify``: after the reboot, unlock the pool
through the initrd's SSH and check the running system)."""

INSTALLER_PHASES: tuple[str, ...] = ("format", "keys", "flake", "install", "reboot")
"""The phases of ``nixremote installer run``, in order."""

INSTALLER_PHASES_OF: dict[str, tuple[str, ...]] = {
    "format": ("format",),
    "install": ("keys", "flake", "install"),
    "reboot": ("reboot",),
}
"""The installer's phases each controller phase runs."""


PHASE_ALIASES = {"disko": "format"}
"""Other tools' names of a phase: nixos-anywhere's ``disko`` is ``format`` here."""


def parse_phases(
    text: str | Sequence[str] | None, known: Sequence[str] = CONTROLLER_PHASES
) -> tuple[str, ...]:
    """``"kexec,format"`` (or a list of names) -> the phases in ``known``'s order; all of them
    when ``text`` is ``None`` or empty. An unknown name is an error that lists the known ones;
    nixos-anywhere's ``disko`` means ``format`` (:data:`PHASE_ALIASES`)."""
    if text is None:
        return tuple(known)
    names = [p.strip() for p in (text.split(",") if isinstance(text, str) else text)]
    names = [PHASE_ALIASES.get(n, n) if PHASE_ALIASES.get(n) in known else n for n in names if n]
    if not names:
        return tuple(known)
    unknown = [n for n in names if n not in known]
    if unknown:
        raise InvalidInputError(
            f"unknown phase {unknown[0]!r}",
            hint=f"use a comma-separated subset of {','.join(known)}",
        )
    return tuple(p for p in known if p in names)
