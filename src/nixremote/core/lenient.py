"""Lenient readers of untrusted values: JSON that a host printed, in, typed values or ``None`` out.

They never raise: what they cannot read is unknown. The parsers of both sides use them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .jsontext import loads


def json_or_none(text: str | None) -> Any:
    """The JSON value of ``text``, or ``None`` when it is empty, malformed or nested too deep."""
    if not text:
        return None
    try:
        return loads(text)
    except (ValueError, RecursionError):
        return None


def str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def int_or_none(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None


def bool_or_none(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if value in ("1", 1, "true"):
        return True
    if value in ("0", 0, "false"):
        return False
    return None


def dicts(value: Any) -> Iterator[dict[str, Any]]:
    """The objects of a JSON list (anything else is skipped)."""
    if isinstance(value, list):
        for item in value:
            if isinstance(item, dict):
                yield item
