"""The runtime info on the kernel command line: encoding, decoding and the x86 size budget.

The controller hands the runtime info to the installer as one kernel parameter,
``nixremote.info=<value>``. The value is the runtime info as minified JSON (keys sorted, no
whitespace, empty and null fields left out), compressed with zlib (level 9) and written in
URL-safe base64 without padding, prefixed ``z1.`` (the version of this encoding). The decoder also
accepts what the original installer put there: the plain (standard, padded) base64 of the JSON.

The budget. x86 kernels take at most ``COMMAND_LINE_SIZE`` = 2048 bytes including the terminating
NUL; the boot protocol's ``cmdline_size`` field says 2047 and both kexec paths compare the length
*including* the NUL against it:

- ``kexec_load`` (``kexec -l``, kexec-tools' bzImage64 loader): ``strlen + 1 <= 2047``;
- ``kexec_file_load`` (``kexec -s``, and ``--kexec-syscall-auto`` on kernels >= 6.1, which the
  nixos-images ``run`` script uses): the kernel's ``bzImage64_load`` also reserves
  ``MAX_ELFCOREHDR_STR_LEN`` = 30 bytes for an ``elfcorehdr=0x<addr> `` parameter it would prepend
  for a crash kernel, and checks that reserve for every image type:
  ``strlen + 1 + 30 <= 2047``.

So a line of at most :data:`CMDLINE_MAX_CHARS` = 2016 characters loads with either syscall, which
is the budget this module enforces.
"""

from __future__ import annotations

import base64
import binascii
import json
import shlex
import zlib
from typing import Any

from . import jsontext
from .converter import runtime_info_from_json_data, unstructure
from .errors import PreflightError, RuntimeInfoError
from .models import RuntimeInfo

PARAM = "nixremote.info"
"""The kernel parameter that carries the encoded runtime info."""

PREFIX = "z1."
"""Marks the compact encoding (zlib + URL-safe base64); anything else is read as plain base64."""

COMMAND_LINE_SIZE = 2048
"""x86's kernel command line limit, in bytes including the terminating NUL."""

SETUP_CMDLINE_SIZE = COMMAND_LINE_SIZE - 1
"""The boot protocol's ``cmdline_size`` (2047), which kexec compares the length incl. NUL with."""

KEXEC_FILE_RESERVED = 30
"""Bytes ``kexec_file_load`` keeps free for ``elfcorehdr=0x<addr> ``
(``MAX_ELFCOREHDR_STR_LEN`` in ``arch/x86/kernel/kexec-bzimage64.c``)."""

CMDLINE_MAX_CHARS = SETUP_CMDLINE_SIZE - 1 - KEXEC_FILE_RESERVED
"""The longest command line (without NUL) that loads with both kexec syscalls: 2016."""

MAX_DECODED_BYTES = 4 * 1024 * 1024
"""A decoded runtime info larger than this is refused (a zlib bomb on the command line)."""


def _prune(value: Any) -> Any:
    """Drop null values and empty lists/objects (all of them are the models' defaults)."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            item = _prune(item)
            if item is None or item == [] or item == {}:
                continue
            out[key] = item
        return out
    if isinstance(value, list | tuple):
        return [_prune(item) for item in value]
    return value


def minified_json(info: RuntimeInfo) -> bytes:
    """The runtime info as compact JSON: sorted keys, no spaces, no null or empty fields.

    The original installer's flat fields are not included (they are derived from the rich ones),
    so this is smaller than ``runtime-info.json`` but reads back to the same model.
    """
    data = _prune(unstructure(info))
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def encode_runtime_info(info: RuntimeInfo) -> str:
    """``z1.`` + URL-safe base64 (no padding) of the zlib-compressed minified JSON."""
    packed = zlib.compress(minified_json(info), 9)
    return PREFIX + base64.urlsafe_b64encode(packed).rstrip(b"=").decode("ascii")


def encode_legacy(data: Any) -> str:
    """The original installer's encoding: the plain base64 of the JSON (for comparisons/tests)."""
    text = data if isinstance(data, str) else json.dumps(data)
    return base64.b64encode(text.encode()).decode("ascii")


def _b64decode(text: str, *, urlsafe: bool) -> bytes:
    padded = text + "=" * (-len(text) % 4)
    try:
        if urlsafe:
            return base64.b64decode(padded, altchars=b"-_", validate=True)
        return base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        raise RuntimeInfoError(
            f"{PARAM}: not valid base64",
            hint="the kernel command line was cut or altered; pass the runtime info as a file",
        ) from None


def _inflate(packed: bytes) -> bytes:
    decomp = zlib.decompressobj()
    try:
        raw = decomp.decompress(packed, MAX_DECODED_BYTES)
    except zlib.error:
        raise RuntimeInfoError(
            f"{PARAM}: compressed data is corrupt",
            hint="the kernel command line was cut or altered; pass the runtime info as a file",
        ) from None
    if decomp.unconsumed_tail:
        raise RuntimeInfoError(
            f"{PARAM}: decoded runtime info is larger than {MAX_DECODED_BYTES} bytes",
            hint="pass the runtime info as a file",
        )
    if not decomp.eof:
        raise RuntimeInfoError(
            f"{PARAM}: compressed data is truncated",
            hint="the kernel command line was cut; pass the runtime info as a file",
        )
    return raw


def decode_runtime_info(value: str) -> RuntimeInfo:
    """Read a ``nixremote.info`` value: the ``z1.`` encoding or the original plain base64."""
    value = value.strip()
    if value.startswith(PREFIX):
        raw = _inflate(_b64decode(value[len(PREFIX) :], urlsafe=True))
        source = f"{PARAM} ({PREFIX} encoding)"
    else:
        # The original installer used standard base64; accept the URL-safe alphabet too.
        raw = _b64decode(value, urlsafe="-" in value or "_" in value)
        source = f"{PARAM} (plain base64)"
    try:
        data = jsontext.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise RuntimeInfoError(
            f"{source}: decoded value is not JSON",
            hint="the kernel command line was cut or altered; pass the runtime info as a file",
        ) from None
    return runtime_info_from_json_data(data, source=source)


def find_param(cmdline: str, name: str = PARAM) -> str | None:
    """The value of ``name=`` on a kernel command line (the last one wins, as in the kernel)."""
    found = None
    try:
        words = shlex.split(cmdline)
    except ValueError:
        words = cmdline.split()
    for word in words:
        key, sep, value = word.partition("=")
        if sep and key == name:
            found = value
    return found


def runtime_info_from_cmdline(cmdline: str) -> RuntimeInfo | None:
    """The runtime info carried by a kernel command line (``/proc/cmdline``), or ``None``."""
    value = find_param(cmdline)
    return None if value is None else decode_runtime_info(value)


def cmdline_budget_left(cmdline: str) -> int:
    """How many characters may still be added to ``cmdline`` (negative: over by that many)."""
    return CMDLINE_MAX_CHARS - len(cmdline.encode("utf-8"))


def check_budget(cmdline: str) -> None:
    """Raise :class:`PreflightError` when ``cmdline`` does not fit the x86 kexec budget."""
    left = cmdline_budget_left(cmdline)
    if left < 0:
        raise PreflightError(
            f"kernel command line is {len(cmdline.encode())} bytes, {-left} over the budget of "
            f"{CMDLINE_MAX_CHARS} (x86: {COMMAND_LINE_SIZE} incl. NUL, minus "
            f"{KEXEC_FILE_RESERVED} that kexec_file_load reserves)",
            hint="shorten the bundle's kernelParams, or drop unneeded keys, disks or "
            "interfaces from the runtime info",
        )


def strip_param(params: str, name: str = PARAM) -> str:
    """``params`` without any ``name=...`` word (a bundle must not bring its own)."""
    return " ".join(w for w in params.split() if w.partition("=")[0] != name)


def kernel_command_line(bundle_params: str, info: RuntimeInfo) -> str:
    """``<bundle params> nixremote.info=<encoded info>``, checked against the budget."""
    base = strip_param(bundle_params)
    line = f"{base} {PARAM}={encode_runtime_info(info)}".strip()
    check_budget(line)
    return line
