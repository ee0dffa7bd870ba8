"""Saved facts: reading back what ``nixremote info --save-facts`` (or a capture) stored.

:func:`load_facts` reads a capture in any of three forms:

* a file holding the raw output of nixremote's probe (what ``--save-facts`` writes; split into
  sections by :func:`~nixremote.controller.probe.split_probe_output`);
* a ``.json`` file ``{"source": "...", "sections": {"uname-m": "x86_64\\n", ...}}``;
* a directory with one file per section (the file name is the section's name).

With :func:`~nixremote.controller.collect.collect_from_facts` it gives the runtime info of a
host that is not there: ``nixremote info --from-facts FILE``, and a plugin's tests.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..core.errors import InvalidInputError
from ..core.facts import Facts
from .probe import format_facts, split_probe_output


def load_facts(path: str | Path) -> Facts:
    """The :class:`~nixremote.core.facts.Facts` saved in ``path`` (see the module
    documentation); a missing or malformed capture is an :class:`InvalidInputError`."""
    p = Path(path)
    try:
        if p.is_dir():
            sections = {
                f.name: f.read_text(encoding="utf-8")
                for f in sorted(p.iterdir())
                if f.is_file() and not f.name.startswith(".")
            }
            return Facts(sections=sections, source=f"capture:{p.name}")
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInputError(
            f"cannot read the facts {p}: {exc.strerror}",
            hint="give a file written by nixremote info --save-facts",
        ) from None
    if p.suffix == ".json":
        try:
            data: Any = json.loads(text)
        except ValueError as exc:
            raise InvalidInputError(f"{p}: not JSON ({exc})", hint="fix the file") from None
        found = data.get("sections") if isinstance(data, dict) else None
        if not isinstance(found, dict):
            raise InvalidInputError(
                f"{p}: expected an object with a 'sections' object @ $.sections",
                hint='{"source": "...", "sections": {"uname-m": "x86_64"}}',
            )
        return Facts(
            sections={str(k): str(v) for k, v in found.items()},
            source=str(data.get("source", f"capture:{p.stem}")),
        )
    return split_probe_output(text, source=f"capture:{p.name}")


def save_facts(facts: Facts, path: str | Path) -> None:
    """Write ``facts`` as the probe prints them (what :func:`load_facts` reads back)."""
    Path(path).write_text(format_facts(facts), encoding="utf-8")
