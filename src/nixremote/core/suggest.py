"""Suggestions for misspelt names ("did you mean ..."), for one-line errors."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def closest(word: str, choices: Iterable[str]) -> str | None:
    """The known name closest to ``word`` (``None`` when nothing is close)."""
    found = difflib.get_close_matches(word, sorted(set(choices)), n=1, cutoff=0.6)
    return found[0] if found else None


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``choices``, or ``""``."""
    best = closest(word, choices)
    return f" (did you mean {best!r}?)" if best is not None else ""
