"""Validation by meaning: each text field of the models checked as its reader will read it.

The runtime info comes from a machine that may be compromised, and its texts end up in NixOS
options, systemd-networkd units, ``resolv.conf``, the initrd's shell and argv lists. The checks
here accept what each of those accepts and nothing else, so a value can never become syntax:

- a host name as NixOS's ``networking.hostName`` accepts it (its type is
  ``strMatching "^[[:alnum:]]([[:alnum:]_-]{0,61}[[:alnum:]])?$"``); a name with dots is an
  FQDN whose first label is the host name and the rest the domain, each label like that;
- a host id of 8 hex digits; a MAC of six hex octets;
- an interface name the kernel accepts (at most 15 bytes, no ``/``, ``:``, whitespace or control
  character), and, stricter than the kernel, letters, digits, ``-``, ``_`` and ``.`` only (no
  shell metacharacter such as ``$``, ``;`` or a backquote), not starting with ``-``;
- IP addresses without a zone (``%eth0``), route destinations (``default`` or a prefix of the
  route's family), kernel module (driver) names, the architecture (:data:`ARCHES`);
- disk paths: absolute under ``/dev/``, of the characters udev puts into its links
  (letters, digits and ``#+-.:=@_/``), no ``..``, never starting with ``-``;
- free text (a disk model, a hoster detail): no control character.

Each check returns the value unchanged or raises
:class:`~nixremote.core.errors.InvalidValueError` with what is wrong and what to do. The models
use them through the attrs validators :func:`check` (one value), :func:`each` (a tuple) and
:func:`optional`; the converter adds the JSON path (``@ $.interfaces[0].mac``).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import Any

from .errors import InvalidValueError

Check = Callable[[Any], object]
Validator = Callable[[Any, Any, Any], None]

ARCHES = (
    "x86_64",
    "aarch64",
    "i686",
    "armv7l",
    "armv6l",
    "riscv64",
    "ppc64le",
    "s390x",
    "loongarch64",
)
"""The architectures (``uname -m``) a runtime info may name."""

MAX_TEXT = 1024
"""The longest free-text value (a disk model, a hoster detail)."""

_LABEL = re.compile(r"[A-Za-z0-9]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?")
_HOST_ID = re.compile(r"[0-9a-f]{8}")
_MAC = re.compile(r"[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}")
_IFNAME = re.compile(r"[A-Za-z0-9_.][A-Za-z0-9_.-]{0,14}")
_MODULE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")
_DISK = re.compile(r"/dev/[A-Za-z0-9#+.:=@_/-]+")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029]")


def _short(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "...'"


def _bad(what: str, value: object, reason: str, hint: str) -> InvalidValueError:
    return InvalidValueError(f"{what} {_short(value)} {reason}", hint=hint)


def _string(value: object, what: str, hint: str) -> str:
    if not isinstance(value, str):
        raise InvalidValueError(f"{what} must be a string, not {type(value).__name__}", hint=hint)
    return value


# --- the checks --------------------------------------------------------------------------------

HOST_NAME_HINT = (
    "use letters, digits, '-' and '_' (at most 63, first and last a letter or digit), as "
    "NixOS's networking.hostName accepts; a domain may follow the first dot"
)


def host_name(value: object) -> str:
    """A host name NixOS accepts, or an FQDN (host name, then the domain) of such labels."""
    text = _string(value, "host name", HOST_NAME_HINT)
    if not text:
        raise InvalidValueError("host name is empty", hint=HOST_NAME_HINT)
    if len(text) > 253:
        raise _bad("host name", text, "is longer than 253 characters", HOST_NAME_HINT)
    for label in text.split("."):
        if not _LABEL.fullmatch(label):
            reason = (
                "has an empty label"
                if not label
                else f"has a label {_short(label, 30)} that NixOS does not accept"
            )
            raise _bad("host name", text, reason, HOST_NAME_HINT)
    return text


def split_host_name(name: str) -> tuple[str, str | None]:
    """``(host name, domain or None)`` of a checked name: the first label, and the rest (as
    ``nix/lib/network.nix`` splits it for ``networking.hostName`` and ``networking.domain``)."""
    head, dot, rest = name.partition(".")
    return head, rest if dot else None


def host_id(value: object) -> str:
    """ZFS's ``networking.hostId``: 8 lowercase hex digits."""
    hint = "use 8 lowercase hex digits, e.g. 8425e349"
    text = _string(value, "host id", hint)
    if not _HOST_ID.fullmatch(text):
        raise _bad("host id", text, "is not 8 lowercase hex digits", hint)
    return text


def mac(value: object) -> str:
    """A MAC address: six hex octets separated by colons."""
    hint = "use six hex octets separated by colons, e.g. 52:54:00:12:34:56"
    text = _string(value, "MAC address", hint)
    if not _MAC.fullmatch(text):
        raise _bad("MAC address", text, "is not six hex octets", hint)
    return text


IFNAME_HINT = (
    "use at most 15 letters, digits, '-', '_' or '.', not starting with '-' "
    "(nixremote is stricter than the kernel: no shell metacharacters)"
)


def interface_name(value: object) -> str:
    """A network interface name (see the module documentation)."""
    text = _string(value, "interface name", IFNAME_HINT)
    if len(text.encode("utf-8")) > 15 or text in (".", "..") or not _IFNAME.fullmatch(text):
        raise _bad("interface name", text, "is not one nixremote accepts", IFNAME_HINT)
    return text


def driver(value: object) -> str:
    """A kernel module (driver) name, or a link kind (``veth``)."""
    hint = "use a kernel module name (letters, digits, '_', '-')"
    text = _string(value, "driver", hint)
    if not _MODULE.fullmatch(text):
        raise _bad("driver", text, "is not a kernel module name", hint)
    return text


IP_HINT = "use an IPv4 or IPv6 address, without a zone (%...)"


def ip_address(value: object, *, what: str = "address", family: int | None = None) -> str:
    """An IPv4 or IPv6 address (of ``family`` when given), without a zone index."""
    text = _string(value, what, IP_HINT)
    if "%" in text:
        raise _bad(what, text, "has a zone index", IP_HINT)
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        raise _bad(what, text, "is not an IP address", IP_HINT) from None
    if family is not None and addr.version != family:
        raise _bad(what, text, f"is not an IPv{family} address", f"use an IPv{family} address")
    return text


def nameserver(value: object) -> str:
    return ip_address(value, what="nameserver")


def route_destination(value: object, family: int | None = None) -> str:
    """``default`` or a prefix (of ``family`` when given)."""
    hint = "use 'default' or a prefix like 198.51.100.0/24 (of the route's family)"
    text = _string(value, "route destination", hint)
    if text == "default":
        return text
    if "%" in text or "/" not in text:
        raise _bad("route destination", text, "is not a prefix", hint)
    try:
        net = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise _bad("route destination", text, "is not a prefix", hint) from None
    if family is not None and net.version != family:
        raise _bad("route destination", text, f"is not an IPv{family} prefix", hint)
    return text


def arch(value: object) -> str:
    hint = "use one of " + ", ".join(ARCHES)
    text = _string(value, "architecture", hint)
    if text not in ARCHES:
        raise _bad("architecture", text, "is not one nixremote knows", hint)
    return text


DISK_HINT = (
    "use an absolute path under /dev/ (e.g. /dev/disk/by-id/nvme-...) of letters, digits "
    "and #+-.:=@_/, as udev names disks"
)


def disk_path(value: object, *, what: str = "disk") -> str:
    """A device path (see the module documentation)."""
    text = _string(value, what, DISK_HINT)
    if (
        not _DISK.fullmatch(text)
        or "//" in text
        or text.endswith("/")
        or ".." in text.split("/")
        or "." in text.split("/")
    ):
        raise _bad(what, text, "is not a device path nixremote accepts", DISK_HINT)
    return text


def name(value: object, *, what: str = "name") -> str:
    """A plain name (a hoster, a detail key): letters, digits, ``_``, ``.``, ``-``."""
    hint = "use letters, digits, '_', '.' and '-' (at most 64)"
    text = _string(value, what, hint)
    if not _NAME.fullmatch(text):
        raise _bad(what, text, "is not a plain name", hint)
    return text


def text(value: object, *, what: str = "text") -> str:
    """Free text of one line: no control character, at most :data:`MAX_TEXT` characters."""
    hint = "remove control characters (newlines, tabs, escapes)"
    value = _string(value, what, hint)
    if _CONTROL.search(value):
        raise _bad(what, value, "contains a newline or another control character", hint)
    if len(value) > MAX_TEXT:
        raise _bad(what, value, f"is longer than {MAX_TEXT} characters", "shorten it")
    return value


def machine_id(value: object) -> str:
    hint = "use the 32 hex digits of /etc/machine-id"
    value = _string(value, "machine id", hint)
    if not re.fullmatch(r"[0-9a-f]{32}", value):
        raise _bad("machine id", value, "is not 32 lowercase hex digits", hint)
    return value


# --- attrs validators --------------------------------------------------------------------------


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def check(fn: Check) -> Validator:
    """An attrs validator running ``fn`` on the value; its error names the field."""

    def run(instance: Any, attribute: Any, value: Any) -> None:
        try:
            fn(value)
        except InvalidValueError as exc:
            raise exc.at(camel(attribute.name)) from None

    return run


def optional(fn: Check) -> Check:
    """``fn`` for a value that may be ``None``."""

    def run(value: Any) -> object:
        return None if value is None else fn(value)

    return run


def each(fn: Check) -> Validator:
    """An attrs validator running ``fn`` on every item of a tuple; the error names the index."""

    def run(instance: Any, attribute: Any, value: Any) -> None:
        for index, item in enumerate(value):
            try:
                fn(item)
            except InvalidValueError as exc:
                raise exc.at(f"{camel(attribute.name)}[{index}]") from None

    return run


def pairs(key: Check, value: Check) -> Validator:
    """An attrs validator for ``((key, value), ...)`` (a JSON object of strings)."""

    def run(instance: Any, attribute: Any, items: Any) -> None:
        for k, v in items:
            where = camel(attribute.name)
            try:
                key(k)
            except InvalidValueError as exc:
                raise exc.at(where) from None
            try:
                value(v)
            except InvalidValueError as exc:
                raise exc.at(f"{where}.{k}") from None

    return run
