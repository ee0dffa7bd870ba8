"""JSON text from untrusted sources, read with a bound on its nesting.

Python's ``json`` decoder recurses once per nested array or object: a file nested 10,000 deep
ends in a :class:`RecursionError` traceback, not an error a user can act on. :func:`loads` refuses
anything nested deeper than :data:`MAX_DEPTH` before decoding, with a :class:`ValueError` (a
:class:`JsonDepthError`) like any other malformed JSON. Every reader of JSON that came from a
file, a host or the wire uses it.
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_DEPTH = 64
"""The deepest nesting read (nixremote's own files nest six levels at most)."""

_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = re.compile(rb"[\[\]{}]")


class JsonDepthError(ValueError):
    """JSON nested deeper than the limit."""

    def __init__(self, depth: int) -> None:
        super().__init__(f"nested deeper than {depth} levels")
        self.msg = str(self)
        self.depth = depth


def depth(text: str | bytes) -> int:
    """The deepest nesting of arrays and objects in ``text`` (strings skipped)."""
    raw = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    deepest = level = 0
    for match in _BRACKETS.finditer(_STRING.sub(b"", raw)):
        if match.group() in (b"[", b"{"):
            level += 1
            deepest = max(deepest, level)
        else:
            level -= 1
    return deepest


def loads(text: str | bytes, *, max_depth: int = MAX_DEPTH) -> Any:
    """``json.loads`` for untrusted text: :class:`JsonDepthError` when nested too deep,
    :class:`json.JSONDecodeError` (both ``ValueError``) when malformed."""
    if depth(text) > max_depth:
        raise JsonDepthError(max_depth)
    try:
        return json.loads(text)
    except RecursionError:  # the depth check comes first; this is a second guard
        raise JsonDepthError(max_depth) from None
