"""The test machine's serial console: markers and the argv sampler's lines."""

from __future__ import annotations

import json

from . import scripts


def _find_outside_argv(data: bytes, needle: bytes) -> int:
    """Offset of ``needle`` in ``data``, skipping lines of the argv sampler (a process whose
    argv names a marker must not count as the marker)."""
    prefix = scripts.ARGV_PREFIX.encode()
    pos = data.find(needle)
    while pos >= 0:
        line_start = data.rfind(b"\n", 0, pos) + 1
        if not data.startswith(prefix, line_start):
            return pos
        pos = data.find(needle, pos + 1)
    return -1


def sampled_argv(console_text: str) -> list[list[str]]:
    """The argv lists the sampler wrote on the console (``nixremote-argv: [...]`` lines)."""
    out: list[list[str]] = []
    for line in console_text.splitlines():
        idx = line.find(scripts.ARGV_PREFIX)
        if idx < 0:
            continue
        try:
            argv = json.loads(line[idx + len(scripts.ARGV_PREFIX) :])
        except ValueError:
            continue  # a line cut by other console output
        if isinstance(argv, list):
            out.append([str(a) for a in argv])
    return out
