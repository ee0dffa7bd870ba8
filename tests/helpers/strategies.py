"""Hypothesis strategies for runtime infos: every value valid by meaning, and hostile texts.

``runtime_infos`` builds models the validators accept, as wide as they accept them (FQDNs,
interface names of every allowed character, by-id paths, free text in any script); the tests of
the codecs and the converter draw from it. ``hostile_texts`` draws the strings an attacker who
controls the target would try: shell, Nix and unit-file syntax, control characters, options.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from hypothesis import strategies as st

from helpers.keys import KEYS
from nixremote.core.models import BootMode, Disk, Interface, IPAddress, Route, RuntimeInfo

labels = st.from_regex(r"[A-Za-z0-9]([A-Za-z0-9_-]{0,20}[A-Za-z0-9])?", fullmatch=True)
host_names = st.lists(labels, min_size=1, max_size=3).map(".".join)
ifnames = st.from_regex(r"[A-Za-z0-9_.][A-Za-z0-9_.-]{0,14}", fullmatch=True).filter(
    lambda n: n not in (".", "..")
)
drivers = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}", fullmatch=True)
macs = st.lists(st.integers(0, 255), min_size=6, max_size=6).map(
    lambda b: ":".join(f"{x:02x}" for x in b)
)
free_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), max_size=20
)
segments = st.from_regex(r"[A-Za-z0-9#+:=@_-][A-Za-z0-9#+.:=@_-]{0,30}", fullmatch=True)
disk_paths = st.one_of(
    segments.map(lambda s: f"/dev/{s}"), segments.map(lambda s: f"/dev/disk/by-id/{s}")
)
comments = st.from_regex(r"[A-Za-z0-9@._-]{0,20}", fullmatch=True)
keys = st.builds(lambda k, c: f"{k} {c}".strip(), st.sampled_from(KEYS), comments)
ipv4 = st.ip_addresses(v=4).map(str)
ipv6 = st.ip_addresses(v=6).map(str)
addr4 = st.builds(IPAddress, address=ipv4, prefix_length=st.integers(0, 32), dynamic=st.booleans())
addr6 = st.builds(IPAddress, address=ipv6, prefix_length=st.integers(0, 128), dynamic=st.booleans())
interfaces = st.builds(
    Interface,
    name=ifnames,
    mac=st.none() | macs,
    driver=st.none() | drivers,
    predictable_name=st.none() | ifnames,
    ipv4=st.lists(addr4, max_size=3).map(tuple),
    ipv6=st.lists(addr6, max_size=3).map(tuple),
)


@st.composite
def routes(draw: Any) -> Route:
    family = draw(st.sampled_from((4, 6)))
    limit = 32 if family == 4 else 128
    net = st.builds(
        lambda a, n: str(ipaddress.ip_network(f"{a}/{n}", strict=False)),
        st.ip_addresses(v=family),
        st.integers(1, limit),
    )
    return Route(
        family=family,
        destination=draw(st.just("default") | net),
        gateway=draw(st.none() | (ipv4 if family == 4 else ipv6)),
        device=draw(st.none() | ifnames),
        on_link=draw(st.booleans()),
        metric=draw(st.none() | st.integers(0, 2**32 - 1)),
    )


disks = st.builds(
    Disk,
    path=disk_paths,
    by_id=st.none() | disk_paths,
    size_bytes=st.none() | st.integers(0, 2**62),
    model=st.none() | free_text,
    serial=st.none() | free_text,
    rotational=st.none() | st.booleans(),
    removable=st.booleans(),
)
names = st.from_regex(r"[a-z0-9][a-z0-9_.-]{0,15}", fullmatch=True)


@st.composite
def runtime_infos(draw: Any) -> RuntimeInfo:
    disk_list = tuple(draw(st.lists(disks, max_size=3)))
    choices = [d.stable_path for d in disk_list] or [draw(disk_paths)]
    return RuntimeInfo(
        host_name=draw(host_names),
        host_id=draw(st.text(alphabet="0123456789abcdef", min_size=8, max_size=8)),
        disk_to_format=draw(st.sampled_from(["", *choices])),
        root_authorized_keys=tuple(draw(st.lists(keys, max_size=3))),
        interfaces=tuple(draw(st.lists(interfaces, max_size=3))),
        primary_interface=draw(st.none() | ifnames),
        routes=tuple(draw(st.lists(routes(), max_size=3))),
        nameservers=tuple(draw(st.lists(ipv4 | ipv6, max_size=3))),
        disks=disk_list,
        arch=draw(st.none() | st.sampled_from(["x86_64", "aarch64"])),
        memory_bytes=draw(st.none() | st.integers(0, 2**50)),
        boot_mode=draw(st.sampled_from(list(BootMode))),
        hoster=draw(names),
        hoster_details=tuple(sorted(draw(st.dictionaries(names, free_text, max_size=3)).items())),
    )


HOSTILE = (
    "$(reboot)",
    "`id`",
    "a;touch${IFS}/tmp/x;#",
    '${builtins.abort "x"}',
    "a\nb",
    "a\r\n[Network]\nDNS=1.1.1.1",
    '";rm -rf /;"',
    "'",
    "--zap-all",
    "-o",
    "../../etc/passwd",
    "a b",
    "\x00",
    "\x1b[31m",
    "[/red]",
    "[link=https://example.com]x[/link]",
    "a%eth0",
    "*",
    "\\",
    "\u2028",
)
"""Strings an attacker on the target would try in every text field."""

hostile_texts = (
    st.sampled_from(HOSTILE)
    | st.text(max_size=24)
    | st.builds(
        lambda a, b, c: a + b + c,
        st.text(max_size=6),
        st.sampled_from(HOSTILE),
        st.text(max_size=6),
    )
)
