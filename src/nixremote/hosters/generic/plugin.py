"""Hook implementations of the generic hoster: any Linux host reachable over SSH.

Every hook answers last (``trylast``): the runtime info from the facts alone
(:func:`nixremote.controller.collect.runtime_info_from_facts`), the boot mode from the firmware
flag, and the original installer's disk layout (:func:`nixremote.core.layout.default_layout`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from ...core.facts import Facts
from ...core.hookspecs import hookimpl
from ...core.models import BootMode, HosterGuess, RuntimeInfo

if TYPE_CHECKING:
    from ...core.layout import DiskLayout, LayoutOptions
    from ...core.transport import Transport

HOSTER = "generic"


@hookimpl(trylast=True)
def detect_hoster(facts: Facts) -> HosterGuess:
    return HosterGuess(name=HOSTER, confidence=0, reason="any Linux reachable over SSH")


@hookimpl(trylast=True)
def collect_runtime_info(
    facts: Facts, hoster: str, transport: Transport | None, settings: Mapping[str, str]
) -> RuntimeInfo | None:
    from ...controller.collect import runtime_info_from_facts

    return runtime_info_from_facts(facts, hoster=hoster, settings=settings)


@hookimpl(trylast=True)
def boot_mode(info: RuntimeInfo, facts: Facts) -> BootMode:
    from ...controller.parsers import parse_efi

    efi = parse_efi(facts.get("efi"))
    return BootMode.UNKNOWN if efi is None else BootMode.UEFI if efi else BootMode.BIOS


@hookimpl(trylast=True)
def disk_layout(info: RuntimeInfo, options: LayoutOptions) -> DiskLayout | None:
    from ...core.layout import default_layout

    return default_layout(info, options)
