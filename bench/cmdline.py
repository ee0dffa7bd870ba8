"""Sizes of the runtime info on the kernel command line: the compact ``z1.`` encoding against the
original installer's plain base64, for its one-NIC example and for bigger hosts.

Run: ``python3 bench/cmdline.py``
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from helpers.sample_hosts import KERNEL_PARAMS, ORIGINAL_ONE_NIC, big_host
from nixremote.core import cmdline
from nixremote.core.converter import runtime_info_from_json_data


def row(name: str, plain: int, compact: int, line: int | None) -> None:
    ok = line is not None and line <= cmdline.CMDLINE_MAX_CHARS
    fits = "" if line is None else f"{line:>6} {'yes' if ok else 'NO'}"
    print(f"{name:<34} {plain:>8} {compact:>8} {compact / plain:>6.0%} {fits}")


def main() -> None:
    print(
        f"budget: {cmdline.CMDLINE_MAX_CHARS} characters (x86 {cmdline.COMMAND_LINE_SIZE} incl. "
        f"NUL, minus {cmdline.KEXEC_FILE_RESERVED} reserved by kexec_file_load)"
    )
    print(f"bundle kernel params: {len(KERNEL_PARAMS)} characters")
    print(f"{'host':<34} {'plain64':>8} {'z1.':>8} {'ratio':>6} {'line':>6} fits")
    one = runtime_info_from_json_data(ORIGINAL_ONE_NIC)
    row(
        "original one-NIC example (flat)",
        len(cmdline.encode_legacy(ORIGINAL_ONE_NIC)),
        len(cmdline.encode_runtime_info(one)),
        len(cmdline.kernel_command_line(KERNEL_PARAMS, one)),
    )
    for nics, disks in ((1, 1), (2, 2), (4, 8), (6, 12), (8, 16)):
        info = big_host(nics=nics, disks=disks)
        plain = len(cmdline.encode_legacy(json.loads(cmdline.minified_json(info))))
        compact = len(cmdline.encode_runtime_info(info))
        line = len(KERNEL_PARAMS) + 1 + len(cmdline.PARAM) + 1 + compact
        row(f"{nics} NICs dual stack, {disks} disks", plain, compact, line)


if __name__ == "__main__":
    main()
