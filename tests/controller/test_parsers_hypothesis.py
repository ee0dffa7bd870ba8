"""Malformed input: every parser returns "unknown" instead of raising; the builder raises at
most a NixremoteError."""

from __future__ import annotations

import contextlib
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nixremote.controller import parsers
from nixremote.controller.collect import runtime_info_from_facts
from nixremote.controller.probe import SECTIONS, split_probe_output
from nixremote.core.blockdev import parse_lsblk
from nixremote.core.errors import NixremoteError
from nixremote.core.facts import Facts
from nixremote.core.mounts import parse_mountinfo, root_mount

TEXT_PARSERS = [
    parsers.parse_hostname,
    parsers.parse_fqdn,
    parsers.parse_os_release,
    parsers.parse_meminfo,
    parsers.parse_arch,
    parsers.parse_efi,
    parsers.parse_machine_id,
    parsers.parse_uid,
    parsers.parse_authorized_keys,
    parsers.parse_resolv_conf,
    parsers.parse_kexec,
    parsers.parse_ip_addr,
    lambda t: parsers.parse_routes(t, 4),
    lambda t: parsers.parse_routes(t, 6),
    parsers.parse_nics,
    parse_lsblk,
    parsers.parse_sys_block,
    parsers.parse_disk_by_id,
    root_mount,
    parse_mountinfo,
    parsers.ip_addr_text_to_json,
    parsers.ip_route_text_to_json,
]

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True)
    | st.text(max_size=20)
    | st.sampled_from(
        [
            "default",
            "eth0",
            "inet",
            "inet6",
            "unicast",
            "disk",
            "part",
            "8:0",
            "::/0",
            "203.0.113.7",
            "2001:db8::1",
            "fe80::1",
            "onlink",
            "UP",
            "loopback",
            "veth",
        ]
    ),
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(
            st.sampled_from(
                [
                    "ifname",
                    "address",
                    "addr_info",
                    "family",
                    "local",
                    "prefixlen",
                    "scope",
                    "dynamic",
                    "linkinfo",
                    "info_kind",
                    "flags",
                    "dst",
                    "gateway",
                    "dev",
                    "metric",
                    "type",
                    "protocol",
                    "via",
                    "blockdevices",
                    "name",
                    "kname",
                    "path",
                    "maj:min",
                    "size",
                    "model",
                    "serial",
                    "rota",
                    "rm",
                    "children",
                    "pkname",
                    "mountpoint",
                    "ifindex",
                    "link_type",
                ]
            ),
            children,
            max_size=8,
        )
    ),
    max_leaves=30,
)

line_words = st.sampled_from(
    [
        "2: eth0@if5: <UP,LOWER_UP>",
        "link/ether",
        "inet",
        "inet6",
        "10.0.0.1/24",
        "fe80::1/64",
        "scope",
        "global",
        "via",
        "dev",
        "metric",
        "onlink",
        "unreachable",
        "proto",
        "src",
        "iface",
        "address",
        "ifindex",
        "type",
        "driver",
        "virtual",
        "udev",
        "ID_NET_NAME_PATH=",
        "nameserver",
        "MemTotal:",
        "kB",
        "-",
        "/",
        "/dev/sda",
        "/dev/disk/by-id/x",
        "8:1",
        "1",
        "0",
        "ext4",
        "ssh-ed25519",
        "AAAA",
        " ",
        "\t",
        "=",
        '"',
        "\\",
        "é",
        "\x00",
    ]
)
structured_text = st.lists(
    st.lists(line_words | st.text(max_size=6), max_size=8).map(" ".join), max_size=12
).map("\n".join)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.one_of(st.text(), structured_text, json_values.map(json.dumps)))
def test_parsers_never_raise(text: str) -> None:
    for parser in TEXT_PARSERS:
        parser(text)
        if parser not in (parsers.ip_addr_text_to_json, parsers.ip_route_text_to_json):
            parser(None)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(
    sections=st.dictionaries(
        st.sampled_from([name for name, _ in SECTIONS]),
        st.one_of(st.text(max_size=80), structured_text, json_values.map(json.dumps)),
        max_size=12,
    ),
    disk=st.one_of(st.none(), st.text(max_size=12)),
)
def test_builder_raises_only_project_errors(sections: dict[str, str], disk: str | None) -> None:
    settings_ = {"disk": disk} if disk else {}
    try:
        info = runtime_info_from_facts(Facts(sections=sections), settings=settings_)
    except NixremoteError:
        return
    assert len(info.host_id) == 8


@settings(max_examples=150)
@given(text=st.one_of(st.text(), structured_text))
def test_split_raises_only_project_errors(text: str) -> None:
    header = "@@NIXREMOTE-0123456789abcdef probe 1\n"
    facts = split_probe_output(header + text)
    assert facts.has("probe-status")
    with contextlib.suppress(NixremoteError):
        split_probe_output(text)
