"""Raw facts: the texts a probe printed about a host, by section, before any parsing.

A probe (see :mod:`nixremote.controller.probe`) prints each fact under a named section; this holds
them as text. Parsers turn sections into models; a section that is absent means the fact is unknown
(the tool was missing on the host), which parsers handle without failing.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from attrs import field, frozen


def _freeze(value: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(value))


@frozen(kw_only=True)
class Facts:
    """Section name -> raw text, plus where the facts came from."""

    sections: Mapping[str, str] = field(factory=dict, converter=_freeze, hash=False)
    source: str = "unknown"

    def get(self, name: str) -> str | None:
        """The text of a section, or ``None`` when the probe could not collect it."""
        return self.sections.get(name)

    def has(self, name: str) -> bool:
        return name in self.sections
