"""Hook implementations of the Hetzner hoster (thin until the Hetzner stage lands)."""

from __future__ import annotations

from collections.abc import Generator, Mapping
from typing import TYPE_CHECKING

from ...core.facts import Facts
from ...core.hookspecs import hookimpl
from ...core.models import BootMode, HosterGuess, RuntimeInfo

if TYPE_CHECKING:
    from ...core.transport import Transport

HOSTER = "hetzner"


@hookimpl
def detect_hoster(facts: Facts) -> HosterGuess | None:
    vendor = (facts.get("dmi-sys-vendor") or "").strip()
    if vendor.lower().startswith("hetzner"):
        return HosterGuess(name=HOSTER, confidence=50, reason=f"DMI vendor {vendor!r}")
    return None


@hookimpl(wrapper=True)
def collect_runtime_info(
    facts: Facts, hoster: str, transport: Transport | None, settings: Mapping[str, str]
) -> Generator[None, RuntimeInfo | None, RuntimeInfo | None]:
    info = yield
    return info


@hookimpl
def boot_mode(info: RuntimeInfo, facts: Facts) -> BootMode | None:
    if info.hoster == HOSTER and info.arch == "aarch64":
        return BootMode.UEFI
    return None
