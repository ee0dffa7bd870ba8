"""Whether third-party plugins may be installed, found without loading them (standard library
only, so that ``nixremote --help`` stays fast)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ENTRY_POINT_GROUP = "nixremote"
"""The entry-point group third-party plugins register under."""


def may_have_entry_points(group: str = ENTRY_POINT_GROUP) -> bool:
    """Whether any distribution on ``sys.path`` may advertise entry points of ``group``.

    A quick look at the ``entry_points.txt`` files of the installed distributions (reading
    every distribution's metadata through :mod:`importlib.metadata` takes ten times longer), so
    that commands start fast when no third-party plugin is installed. ``True`` whenever unsure
    (a zip on the path, an unreadable file).
    """
    header = f"[{group}]"
    for entry in sys.path:
        path = Path(entry or ".")
        if path.is_file():
            return True  # a zip or egg: let importlib.metadata look
        try:
            names = [e.name for e in os.scandir(path)]
        except OSError:
            continue
        for name in names:
            if not name.endswith((".dist-info", ".egg-info")):
                continue
            try:
                text = (path / name / "entry_points.txt").read_text(encoding="utf-8")
            except FileNotFoundError:
                continue
            except OSError:
                return True
            if any(line.strip() == header for line in text.splitlines()):
                return True
    return False
