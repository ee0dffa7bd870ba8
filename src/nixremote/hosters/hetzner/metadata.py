"""Pure parsers of the Hetzner Cloud metadata service's answers.

Inside a Hetzner Cloud server, ``http://169.254.169.254/hetzner/v1/metadata`` answers a YAML
document (hostname, instance-id, public-ipv4, public-keys, availability-zone, region, and the
cloud-init v1 ``network-config``), and ``.../metadata/<key>`` answers one item:
``hostname``, ``instance-id`` and ``public-ipv4`` as plain text, ``network-config`` and
``private-networks`` as YAML. This module turns those texts into frozen models; fetching them
(over the SSH transport, from the target) is the caller's part.

The YAML is parsed by :func:`load_yaml_subset`, a small strict parser of the subset the service
emits (block mappings and sequences, plain scalars that may wrap over lines, quoted scalars,
literal blocks, flow sequences of scalars), so that PyYAML is not a dependency. Anything outside
the subset (anchors, tags, flow mappings with content, tabs) is an
:class:`~nixremote.core.errors.InvalidInputError` that names the line.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from attrs import frozen

from ...core.errors import InvalidInputError

METADATA_URL = "http://169.254.169.254/hetzner/v1/metadata"
"""The metadata service as a Hetzner Cloud server sees it (tests use a loopback fake instead)."""

METADATA_ITEMS = ("hostname", "instance-id", "public-ipv4", "network-config", "private-networks")
"""The items nixremote reads, each at ``<base>/<item>``."""

HETZNER_IPV6_GATEWAY = "fe80::1"


def metadata_url(base: str = METADATA_URL, item: str | None = None) -> str:
    """The URL of ``item`` under the metadata ``base`` URL (the whole document for ``None``)."""
    base = base.rstrip("/")
    if item is None:
        return base
    if item not in METADATA_ITEMS:
        raise InvalidInputError(
            f"unknown metadata item {item!r}", hint=f"use one of {METADATA_ITEMS}"
        )
    return f"{base}/{item}"


# ---------------------------------------------------------------------------------------------
# Models


@frozen(kw_only=True)
class PrivateNetwork:
    """One private network the server is attached to (``/metadata/private-networks``)."""

    ip: str
    alias_ips: tuple[str, ...] = ()
    interface_num: int | None = None
    mac_address: str | None = None
    network_id: int | None = None
    network_name: str | None = None
    network: str | None = None
    subnet: str | None = None
    gateway: str | None = None


@frozen(kw_only=True)
class PublicInterface:
    """The public interface from ``network-config``: IPv4 by DHCP, IPv6 static.

    ``name`` is the name the network-config uses (``eth0``); match the NIC by ``mac_address``,
    since the installed system names it differently (``enp1s0``).
    """

    name: str | None
    mac_address: str | None
    ipv4_dhcp: bool
    ipv6_address: str | None = None
    ipv6_prefix_length: int | None = None
    ipv6_gateway: str | None = None
    nameservers: tuple[str, ...] = ()


@frozen(kw_only=True)
class HetznerMetadata:
    """What the metadata service says about the server."""

    hostname: str
    instance_id: int
    public_ipv4: str | None
    interface: PublicInterface | None = None
    private_networks: tuple[PrivateNetwork, ...] = ()
    public_keys: tuple[str, ...] = ()
    availability_zone: str | None = None
    region: str | None = None

    @property
    def ipv6_address(self) -> str | None:
        return self.interface.ipv6_address if self.interface else None

    @property
    def ipv6_prefix_length(self) -> int | None:
        return self.interface.ipv6_prefix_length if self.interface else None

    @property
    def ipv6_gateway(self) -> str | None:
        return self.interface.ipv6_gateway if self.interface else None


# ---------------------------------------------------------------------------------------------
# Parsers of the items


def _fail(what: str, problem: str) -> InvalidInputError:
    return InvalidInputError(
        f"metadata {what}: {problem}",
        hint="the Hetzner metadata service answered something unexpected; check the metadata URL",
    )


_HOSTNAME = re.compile(
    r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
)


def parse_hostname(text: str) -> str:
    """``/metadata/hostname``: the server's name (plain text)."""
    name = text.strip()
    if not _HOSTNAME.fullmatch(name) or len(name) > 253:
        raise _fail("hostname", f"{name[:80]!r} is not a hostname")
    return name


def parse_instance_id(text: str | int) -> int:
    """``/metadata/instance-id``: the server's ID (plain text)."""
    value = str(text).strip()
    if not value.isdigit() or int(value) < 1:
        raise _fail("instance-id", f"{value[:80]!r} is not a server ID")
    return int(value)


def parse_public_ipv4(text: str | None) -> str | None:
    """``/metadata/public-ipv4``: the public IPv4 address, ``None`` if the server has none."""
    value = (text or "").strip()
    if not value:
        return None
    try:
        return str(ipaddress.IPv4Address(value))
    except ValueError:
        raise _fail("public-ipv4", f"{value[:80]!r} is not an IPv4 address") from None


def _str(value: Any, what: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise _fail(what, f"expected a string, got {value!r}")
    return str(value)


def _opt_str(value: Any, what: str) -> str | None:
    return None if value is None else _str(value, what)


def _opt_int(value: Any, what: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(what, f"expected a number, got {value!r}")
    return value


def _str_list(value: Any, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise _fail(what, f"expected a list, got {value!r}")
    return tuple(_str(v, what) for v in value)


def network_config_from_data(data: Any) -> PublicInterface | None:
    """The public interface of a cloud-init v1 network-config (already parsed)."""
    if not isinstance(data, dict):
        raise _fail("network-config", "not a mapping")
    if data.get("version") != 1:
        raise _fail("network-config", f"version {data.get('version')!r}, expected 1")
    config = data.get("config")
    if not isinstance(config, list):
        raise _fail("network-config", "'config' is not a list")
    for entry in config:
        if not isinstance(entry, dict):
            raise _fail("network-config", "a 'config' entry is not a mapping")
        if entry.get("type") != "physical":
            continue
        subnets = entry.get("subnets") or []
        if not isinstance(subnets, list):
            raise _fail("network-config", "'subnets' is not a list")
        ipv4_dhcp = False
        v6_addr: str | None = None
        v6_len: int | None = None
        v6_gw: str | None = None
        nameservers: list[str] = []
        for subnet in subnets:
            if not isinstance(subnet, dict):
                raise _fail("network-config", "a subnet is not a mapping")
            kind = subnet.get("type")
            for ns in _str_list(subnet.get("dns_nameservers"), "network-config dns_nameservers"):
                if ns not in nameservers:
                    nameservers.append(ns)
            if kind in ("dhcp", "dhcp4") or (kind is None and subnet.get("ipv4") is True):
                ipv4_dhcp = True
            elif subnet.get("ipv6") is True or kind in ("static6", "static"):
                address = subnet.get("address")
                if address is None:
                    continue
                try:
                    iface = ipaddress.IPv6Interface(_str(address, "network-config address"))
                except ValueError:
                    raise _fail("network-config", f"{address!r} is not an IPv6 address") from None
                v6_addr = str(iface.ip)
                v6_len = iface.network.prefixlen
                gateway = _opt_str(subnet.get("gateway"), "network-config gateway")
                if gateway is not None:
                    try:
                        v6_gw = str(ipaddress.IPv6Address(gateway))
                    except ValueError:
                        raise _fail("network-config", f"gateway {gateway!r} is not IPv6") from None
        return PublicInterface(
            name=_opt_str(entry.get("name"), "network-config name"),
            mac_address=_opt_str(entry.get("mac_address"), "network-config mac_address"),
            ipv4_dhcp=ipv4_dhcp,
            ipv6_address=v6_addr,
            ipv6_prefix_length=v6_len,
            ipv6_gateway=v6_gw,
            nameservers=tuple(nameservers),
        )
    return None


def parse_network_config(text: str) -> PublicInterface | None:
    """``/metadata/network-config``: cloud-init v1 YAML to the public interface."""
    return network_config_from_data(load_yaml_subset(text, what="network-config"))


def private_networks_from_data(data: Any) -> tuple[PrivateNetwork, ...]:
    if data is None:
        return ()
    if not isinstance(data, list):
        raise _fail("private-networks", "not a list")
    out = []
    for entry in data:
        if not isinstance(entry, dict) or "ip" not in entry:
            raise _fail("private-networks", f"entry without 'ip': {entry!r}")
        w = "private-networks"
        out.append(
            PrivateNetwork(
                ip=_str(entry["ip"], w),
                alias_ips=_str_list(entry.get("alias_ips"), w),
                interface_num=_opt_int(entry.get("interface_num"), w),
                mac_address=_opt_str(entry.get("mac_address"), w),
                network_id=_opt_int(entry.get("network_id"), w),
                network_name=_opt_str(entry.get("network_name"), w),
                network=_opt_str(entry.get("network"), w),
                subnet=_opt_str(entry.get("subnet"), w),
                gateway=_opt_str(entry.get("gateway"), w),
            )
        )
    return tuple(out)


def parse_private_networks(text: str) -> tuple[PrivateNetwork, ...]:
    """``/metadata/private-networks``: YAML list to models (empty answer: none)."""
    if not text.strip():
        return ()
    return private_networks_from_data(load_yaml_subset(text, what="private-networks"))


def parse_metadata(text: str, *, private_networks: str | None = None) -> HetznerMetadata:
    """The whole ``/metadata`` document (plus, optionally, the ``private-networks`` answer)."""
    data = load_yaml_subset(text, what="metadata")
    if not isinstance(data, dict):
        raise _fail("metadata", "not a mapping")
    for key in ("hostname", "instance-id"):
        if key not in data:
            raise _fail("metadata", f"no {key!r}")
    network = data.get("network-config")
    return HetznerMetadata(
        hostname=parse_hostname(_str(data["hostname"], "hostname")),
        instance_id=parse_instance_id(_str(data["instance-id"], "instance-id")),
        public_ipv4=parse_public_ipv4(_opt_str(data.get("public-ipv4"), "public-ipv4")),
        interface=None if network is None else network_config_from_data(network),
        private_networks=(
            parse_private_networks(private_networks) if private_networks is not None else ()
        ),
        public_keys=_str_list(data.get("public-keys"), "public-keys"),
        availability_zone=_opt_str(data.get("availability-zone"), "availability-zone"),
        region=_opt_str(data.get("region"), "region"),
    )


def metadata_from_items(
    *,
    hostname: str,
    instance_id: str,
    public_ipv4: str | None,
    network_config: str | None,
    private_networks: str | None,
) -> HetznerMetadata:
    """A :class:`HetznerMetadata` from the answers of the single-item endpoints."""
    return HetznerMetadata(
        hostname=parse_hostname(hostname),
        instance_id=parse_instance_id(instance_id),
        public_ipv4=parse_public_ipv4(public_ipv4),
        interface=None if network_config is None else parse_network_config(network_config),
        private_networks=parse_private_networks(private_networks or ""),
    )


# ---------------------------------------------------------------------------------------------
# The YAML subset


class _Line:
    __slots__ = ("content", "indent", "number")

    def __init__(self, number: int, indent: int, content: str) -> None:
        self.number = number
        self.indent = indent
        self.content = content


_KEY = re.compile(r"([A-Za-z0-9_][A-Za-z0-9_.\-/]*):(?:[ ]+(.*))?$")
_INT = re.compile(r"[-+]?[0-9]+")
_ESCAPES = {
    "0": "\0", "a": "\a", "b": "\b", "t": "\t", "\t": "\t", "n": "\n", "v": "\v", "f": "\f",
    "r": "\r", "e": "\x1b", " ": " ", '"': '"', "/": "/", "\\": "\\", "N": "\x85",
    "_": "\xa0", "L": "\u2028", "P": "\u2029",
}  # fmt: skip


class _YamlSubset:
    def __init__(self, text: str, what: str) -> None:
        self.what = what
        self.lines: list[_Line] = []
        for number, raw in enumerate(text.splitlines(), start=1):
            stripped = raw.lstrip(" ")
            if stripped.startswith("\t") and stripped.strip():
                raise self.error(number, "tab in indentation")
            self.lines.append(_Line(number, len(raw) - len(stripped), stripped.rstrip()))
        markers = [x for x in self.lines if x.indent == 0 and x.content in ("---", "...")]
        significant = [x for x in self.lines if self._significant(x)]
        if markers and significant and markers[0] is significant[0] and markers[0].content == "---":
            markers[0].content = ""
            markers.pop(0)
        if markers:
            raise self.error(markers[0].number, "more than one document (or a document marker)")
        self.pos = 0

    def error(self, number: int, problem: str) -> InvalidInputError:
        return InvalidInputError(
            f"metadata {self.what}: line {number}: {problem}",
            hint="the metadata service answered YAML outside the subset nixremote reads;"
            " report it with the answer attached",
        )

    # -- line cursor -------------------------------------------------------------------------

    def _significant(self, line: _Line) -> bool:
        return bool(line.content) and not line.content.startswith("#")

    def peek(self) -> _Line | None:
        while self.pos < len(self.lines):
            line = self.lines[self.pos]
            if self._significant(line):
                return line
            self.pos += 1
        return None

    # -- structure ---------------------------------------------------------------------------

    def document(self) -> Any:
        first = self.peek()
        if first is None:
            return None
        if first.indent != 0:
            raise self.error(first.number, "the document does not start at column 0")
        value = self.node(first.indent)
        rest = self.peek()
        if rest is not None:
            raise self.error(rest.number, "unexpected content (bad indentation?)")
        return value

    def node(self, indent: int) -> Any:
        line = self.peek()
        assert line is not None
        if line.content == "-" or line.content.startswith("- "):
            return self.sequence(line.indent)
        if _KEY.match(line.content):
            return self.mapping(line.indent)
        self.pos += 1
        return self.scalar(line.content, line, owner_indent=line.indent - 1)

    def mapping(self, indent: int) -> dict[str, Any]:
        result: dict[str, Any] = {}
        while True:
            line = self.peek()
            if line is None or line.indent < indent:
                return result
            if line.indent > indent:
                raise self.error(line.number, "unexpected indentation")
            match = _KEY.match(line.content)
            if match is None:
                raise self.error(line.number, f"expected 'key: value', got {line.content[:40]!r}")
            key, rest = match.group(1), match.group(2)
            if key in result:
                raise self.error(line.number, f"duplicate key {key!r}")
            self.pos += 1
            if rest is None or rest.startswith("#"):
                result[key] = self.block_value(indent, line)
            else:
                result[key] = self.scalar(rest, line, owner_indent=indent)

    def block_value(self, indent: int, owner: _Line) -> Any:
        nxt = self.peek()
        if nxt is None:
            return None
        if nxt.indent > indent:
            return self.node(nxt.indent)
        if nxt.indent == indent and (nxt.content == "-" or nxt.content.startswith("- ")):
            return self.sequence(indent)
        return None

    def sequence(self, indent: int) -> list[Any]:
        items: list[Any] = []
        while True:
            line = self.peek()
            if line is None or line.indent < indent:
                return items
            if line.indent > indent:
                raise self.error(line.number, "unexpected indentation")
            if not (line.content == "-" or line.content.startswith("- ")):
                return items
            rest = line.content[1:].lstrip(" ")
            if not rest or rest.startswith("#"):
                self.pos += 1
                nxt = self.peek()
                items.append(
                    self.node(nxt.indent) if nxt is not None and nxt.indent > indent else None
                )
                continue
            column = line.indent + (len(line.content) - len(rest))
            if rest == "-" or rest.startswith("- ") or _KEY.match(rest):
                # "- key: value" opens a mapping at the column of "key"; rewrite the line so.
                self.lines[self.pos] = _Line(line.number, column, rest)
                items.append(self.node(column))
                continue
            self.pos += 1
            items.append(self.scalar(rest, line, owner_indent=indent))

    # -- scalars -----------------------------------------------------------------------------

    def continuation(self, owner_indent: int) -> list[_Line]:
        """Lines that continue a scalar: more indented than its owner (blank lines kept)."""
        out: list[_Line] = []
        while self.pos < len(self.lines):
            line = self.lines[self.pos]
            if line.content and line.indent <= owner_indent:
                break
            out.append(line)
            self.pos += 1
        while out and not out[-1].content:
            out.pop()
            self.pos -= 1
        return out

    def scalar(self, text: str, line: _Line, owner_indent: int) -> Any:
        first = text[:1]
        if first == '"':
            return self.double_quoted(text, line, owner_indent)
        if first == "'":
            return self.single_quoted(text, line, owner_indent)
        if first == "[":
            return self.flow_sequence(text, line)
        if first == "{":
            if text.split("#", 1)[0].strip() == "{}":
                return {}
            raise self.error(line.number, "flow mappings are not supported")
        if first in ("|", ">"):
            return self.block_scalar(text, line, owner_indent)
        if first in ("&", "*", "!", "%", "@", "`", "?"):
            raise self.error(line.number, f"{first!r} (anchors, aliases, tags) is not supported")
        parts = [_strip_comment(text)]
        for cont in self.continuation(owner_indent):
            if cont.content.startswith("#"):
                raise self.error(cont.number, "comment inside a scalar")
            if _KEY.match(cont.content) or cont.content.startswith("- "):
                raise self.error(cont.number, "unexpected indentation")
            parts.append(_strip_comment(cont.content) if cont.content else "")
        return _resolve_plain(_fold(parts))

    def _quoted_lines(self, text: str, line: _Line, owner_indent: int, quote: str) -> list[str]:
        """The raw lines of a quoted scalar, from after the opening quote to the closing one."""
        body = text[1:]
        segments = [body]
        if _closing_quote(body, quote) is not None:
            return segments
        for cont in self.continuation(owner_indent):
            segments.append(cont.content)
            if cont.content and _closing_quote(cont.content, quote) is not None:
                return segments
        raise self.error(line.number, f"unterminated {quote} string")

    def double_quoted(self, text: str, line: _Line, owner_indent: int) -> str:
        segments = self._quoted_lines(text, line, owner_indent, '"')
        last = segments[-1]
        end = _closing_quote(last, '"')
        assert end is not None
        tail = last[end + 1 :].strip()
        if tail and not tail.startswith("#"):
            raise self.error(line.number, f"text after a closing quote: {tail[:20]!r}")
        segments[-1] = last[:end]
        out: list[str] = []
        pending_break = False
        blank_lines = 0
        for index, segment in enumerate(segments):
            seg = segment if index == 0 else segment.lstrip(" \t")
            if index > 0:
                if not seg and index < len(segments) - 1:
                    blank_lines += 1
                    continue
                if pending_break:
                    out.append("\n" * blank_lines if blank_lines else " ")
                blank_lines = 0
            if index < len(segments) - 1:
                stripped = seg.rstrip(" \t")
                escaped_break = _ends_with_escape(stripped)
                if escaped_break:
                    out.append(self._unescape(stripped[:-1], line))
                    pending_break = False
                else:
                    out.append(self._unescape(stripped, line))
                    pending_break = True
            else:
                out.append(self._unescape(seg, line))
        return "".join(out)

    def _unescape(self, text: str, line: _Line) -> str:
        out: list[str] = []
        i = 0
        while i < len(text):
            ch = text[i]
            if ch != "\\":
                out.append(ch)
                i += 1
                continue
            if i + 1 >= len(text):
                raise self.error(line.number, "dangling backslash")
            esc = text[i + 1]
            if esc in _ESCAPES:
                out.append(_ESCAPES[esc])
                i += 2
                continue
            width = {"x": 2, "u": 4, "U": 8}.get(esc)
            if width is None:
                raise self.error(line.number, f"unknown escape \\{esc}")
            digits = text[i + 2 : i + 2 + width]
            if len(digits) != width or not all(c in "0123456789abcdefABCDEF" for c in digits):
                raise self.error(line.number, f"bad escape \\{esc}{digits}")
            out.append(chr(int(digits, 16)))
            i += 2 + width
        return "".join(out)

    def single_quoted(self, text: str, line: _Line, owner_indent: int) -> str:
        segments = self._quoted_lines(text, line, owner_indent, "'")
        last = segments[-1]
        end = _closing_quote(last, "'")
        assert end is not None
        tail = last[end + 1 :].strip()
        if tail and not tail.startswith("#"):
            raise self.error(line.number, f"text after a closing quote: {tail[:20]!r}")
        segments[-1] = last[:end]
        parts = [segments[0].rstrip()] + [s.strip() for s in segments[1:]]
        if len(segments) == 1:
            parts = [segments[0]]
        return _fold(parts).replace("''", "'")

    def flow_sequence(self, text: str, line: _Line) -> list[Any]:
        body = _strip_comment(text)
        if not body.endswith("]"):
            raise self.error(line.number, "a flow sequence must close on its line")
        inner = body[1:-1].strip()
        if not inner:
            return []
        items: list[Any] = []
        for raw in _split_flow(inner):
            item = raw.strip()
            if not item:
                raise self.error(line.number, "empty item in a flow sequence")
            if item[0] in "[{&*!|>":
                raise self.error(line.number, f"unsupported flow item {item[:20]!r}")
            if item[0] == '"':
                items.append(self.double_quoted(item, line, 1 << 30))
            elif item[0] == "'":
                items.append(self.single_quoted(item, line, 1 << 30))
            else:
                items.append(_resolve_plain(item))
        return items

    def block_scalar(self, text: str, line: _Line, owner_indent: int) -> str:
        header = _strip_comment(text)
        if header not in ("|", "|-", "|+"):
            raise self.error(line.number, f"block scalar {header!r} is not supported")
        lines = self.continuation(owner_indent)
        if header == "|+":
            # Keep trailing blank lines: take them back.
            while self.pos < len(self.lines) and not self.lines[self.pos].content:
                lines.append(self.lines[self.pos])
                self.pos += 1
        content_lines = [x for x in lines if x.content]
        if not content_lines:
            return ""
        block_indent = content_lines[0].indent
        out = []
        for x in lines:
            if x.content and x.indent < block_indent:
                raise self.error(x.number, "a literal block line is less indented than the first")
            out.append(" " * (x.indent - block_indent) + x.content if x.content else "")
        body = "\n".join(out)
        if header == "|-":
            return body.rstrip("\n")
        if header == "|+":
            return body + "\n"
        return body.rstrip("\n") + "\n"


def _strip_comment(text: str) -> str:
    match = re.search(r"\s#", text)
    return (text[: match.start()] if match else text).rstrip()


def _fold(parts: list[str]) -> str:
    """Fold the lines of a multi-line flow scalar: one break is a space, n blank lines n breaks."""
    out = parts[0]
    blanks = 0
    for part in parts[1:]:
        if not part:
            blanks += 1
            continue
        out += ("\n" * blanks if blanks else " ") + part
        blanks = 0
    return out


def _closing_quote(text: str, quote: str) -> int | None:
    i = 0
    while i < len(text):
        ch = text[i]
        if quote == '"' and ch == "\\":
            i += 2
            continue
        if ch == quote:
            if quote == "'" and text[i + 1 : i + 2] == "'":
                i += 2
                continue
            return i
        i += 1
    return None


def _ends_with_escape(text: str) -> bool:
    count = len(text) - len(text.rstrip("\\"))
    return count % 2 == 1


def _split_flow(text: str) -> list[str]:
    items: list[str] = []
    current = ""
    quote: str | None = None
    i = 0
    while i < len(text):
        ch = text[i]
        if quote:
            current += ch
            if quote == '"' and ch == "\\" and i + 1 < len(text):
                current += text[i + 1]
                i += 2
                continue
            if ch == quote:
                quote = None
        elif ch in "\"'" and not current.strip():
            quote = ch
            current += ch
        elif ch == ",":
            items.append(current)
            current = ""
        else:
            current += ch
        i += 1
    items.append(current)
    if items and not items[-1].strip():
        items.pop()  # a trailing comma
    return items


def _resolve_plain(text: str) -> Any:
    if text in ("", "~", "null", "Null", "NULL"):
        return None
    if text in ("true", "True", "TRUE"):
        return True
    if text in ("false", "False", "FALSE"):
        return False
    if _INT.fullmatch(text):
        return int(text)
    return text


def load_yaml_subset(text: str, *, what: str = "document") -> Any:
    """Parse the YAML subset the metadata service emits into dicts, lists and scalars.

    Plain scalars resolve to ``None`` (empty, ``~``, ``null``), booleans (``true``/``false``),
    decimal integers, or strings; quoted scalars are always strings. Anything outside the subset
    is an :class:`InvalidInputError` naming ``what`` and the line.
    """
    return _YamlSubset(text, what).document()
