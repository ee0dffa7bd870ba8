"""The metadata parsers, fed by the loopback fake of the Hetzner metadata service."""

from __future__ import annotations

import urllib.request

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers.fakes.hetzner_api import FakeHetznerCloud
from helpers.fakes.metadata import FakeMetadataService, to_yaml
from nixremote.core.errors import InvalidInputError
from nixremote.hosters.hetzner.api import HetznerCloud
from nixremote.hosters.hetzner.metadata import (
    METADATA_URL,
    HetznerMetadata,
    PrivateNetwork,
    load_yaml,
    metadata_from_items,
    metadata_url,
    parse_hostname,
    parse_instance_id,
    parse_metadata,
    parse_network_config,
    parse_private_networks,
    parse_public_ipv4,
)

PRIVATE = (
    {
        "ip": "10.0.0.2",
        "alias_ips": ["10.0.0.3", "10.0.0.4"],
        "interface_num": 1,
        "mac_address": "86:00:00:2a:7d:e0",
        "network_id": 1234,
        "network_name": "nw-test1",
        "network": "10.0.0.0/8",
        "subnet": "10.0.0.0/24",
        "gateway": "10.0.0.1",
    },
)


def _get(url: str) -> str:
    assert url.startswith("http://127.0.0.1:")  # loopback only, never 169.254.169.254
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.read().decode()


def _check_hetzner_addressing(meta: HetznerMetadata) -> None:
    assert meta.interface is not None
    assert meta.interface.ipv4_dhcp is True
    assert meta.ipv6_gateway == "fe80::1"
    assert meta.ipv6_prefix_length == 64
    assert meta.interface.nameservers == (
        "185.12.64.1",
        "185.12.64.2",
        "2a01:4ff:ff00::add:2",
        "2a01:4ff:ff00::add:1",
    )


def test_whole_document_and_private_networks_from_the_service() -> None:
    with FakeMetadataService(private_networks=PRIVATE) as service:
        meta = parse_metadata(
            _get(service.base_url),
            private_networks=_get(metadata_url(service.base_url, "private-networks")),
        )
        assert service.requests == ["/hetzner/v1/metadata", "/hetzner/v1/metadata/private-networks"]
    assert meta.hostname == "web1"
    assert meta.instance_id == 1001
    assert meta.public_ipv4 == "203.0.113.10"
    assert meta.ipv6_address == "2001:db8:a::1"
    assert meta.interface is not None and meta.interface.mac_address == "96:00:03:a1:b2:c3"
    assert meta.interface.name == "eth0"
    _check_hetzner_addressing(meta)
    assert meta.availability_zone == "nbg1-dc3" and meta.region == "eu-central"
    # The fake wraps the long key over three lines, as PyYAML does; it folds back into one.
    assert meta.public_keys == (
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHcVfsfF4R1P7qKVkVq0Xq7m0Fhx6VnqkIuFGJ6r8r9F"
        " operator@controller.example.org",
    )
    assert meta.private_networks == (
        PrivateNetwork(
            ip="10.0.0.2",
            alias_ips=("10.0.0.3", "10.0.0.4"),
            interface_num=1,
            mac_address="86:00:00:2a:7d:e0",
            network_id=1234,
            network_name="nw-test1",
            network="10.0.0.0/8",
            subnet="10.0.0.0/24",
            gateway="10.0.0.1",
        ),
    )


def test_single_items_from_the_service_give_the_same_answer() -> None:
    with FakeMetadataService(private_networks=PRIVATE) as service:
        base = service.base_url
        items = {name: _get(metadata_url(base, name)) for name in ("hostname", "instance-id")}
        meta = metadata_from_items(
            hostname=items["hostname"],
            instance_id=items["instance-id"],
            public_ipv4=_get(metadata_url(base, "public-ipv4")),
            network_config=_get(metadata_url(base, "network-config")),
            private_networks=_get(metadata_url(base, "private-networks")),
        )
        whole = parse_metadata(_get(base), private_networks=_get(f"{base}/private-networks"))
    assert (meta.hostname, meta.instance_id, meta.public_ipv4) == ("web1", 1001, "203.0.113.10")
    assert meta.interface == whole.interface
    assert meta.private_networks == whole.private_networks
    _check_hetzner_addressing(meta)


def test_metadata_matches_the_server_the_api_created(hetzner_api: FakeHetznerCloud) -> None:
    cloud = HetznerCloud("fake-hcloud-token-0123456789abcdef", endpoint=hetzner_api.endpoint,
                         poll_interval=0.01)  # fmt: skip
    server = cloud.create("db1", server_type="cx22", image="debian-12", location="fsn1").server
    raw = hetzner_api.server_by_name("db1")
    assert raw is not None
    with FakeMetadataService.for_server(raw) as service:
        meta = parse_metadata(_get(service.base_url))
    assert meta.hostname == server.name
    assert meta.instance_id == server.id
    assert meta.public_ipv4 == server.ipv4
    assert meta.ipv6_address == server.ipv6_address
    assert meta.availability_zone == "fsn1-dc3"


def test_server_without_public_ipv4_or_ipv6() -> None:
    with FakeMetadataService(public_ipv4=None, ipv6_network=None) as service:
        meta = parse_metadata(_get(service.base_url))
        assert parse_public_ipv4(_get(f"{service.base_url}/public-ipv4")) is None
        assert parse_private_networks(_get(f"{service.base_url}/private-networks")) == ()
    assert meta.public_ipv4 is None
    assert meta.ipv6_address is None and meta.ipv6_gateway is None
    assert meta.interface is not None and meta.interface.ipv4_dhcp


def test_unknown_path_is_404_and_the_base_is_configurable() -> None:
    with FakeMetadataService(base_path="/custom/meta") as service:
        assert service.base_url.endswith("/custom/meta")
        assert parse_hostname(_get(f"{service.base_url}/hostname")) == "web1"
        with pytest.raises(urllib.error.HTTPError) as caught:
            _get(f"{service.base_url}/nothing")
        assert caught.value.code == 404


# The shape cloud-init's own Hetzner tests use: no "type" on the IPv6 subnet, a long
# double-quoted value continued with escaped line breaks.
CLOUD_INIT_SHAPE = """\
hostname: cloudinit-test
instance-id: 123456
local-ipv4: ''
network-config:
  config:
  - mac_address: 96:00:00:08:19:da
    name: eth0
    subnets:
    - dns_nameservers:
      - 185.12.64.1
      - 185.12.64.2
      ipv4: true
      type: dhcp
    - address: 2001:db8:beef:beef::1/64
      gateway: fe80::1
      ipv6: true
    type: physical
  version: 1
network-sysconfig: "DEVICE='eth0'\\nTYPE=Ethernet\\nBOOTPROTO=dhcp\\n\\
  ONBOOT='yes'\\nHWADDR=96:00:00:08:19:da\\n\\
  IPV6INIT=yes\\n"
public-ipv4: 198.51.100.2
public-keys:
- ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHcVfsfF4R1P7qKVkVq0Xq7m0Fhx6VnqkIuFGJ6r8r9F
  test-key@workstation
vendor_data: "test"
"""


def test_cloud_init_shaped_document() -> None:
    meta = parse_metadata(CLOUD_INIT_SHAPE)
    assert meta.instance_id == 123456
    assert meta.ipv6_address == "2001:db8:beef:beef::1"
    assert meta.ipv6_gateway == "fe80::1"
    assert meta.interface is not None and meta.interface.nameservers == (
        "185.12.64.1",
        "185.12.64.2",
    )
    data = load_yaml(CLOUD_INIT_SHAPE)
    assert data["local-ipv4"] == ""
    assert data["network-sysconfig"] == (
        "DEVICE='eth0'\nTYPE=Ethernet\nBOOTPROTO=dhcp\nONBOOT='yes'\nHWADDR=96:00:00:08:19:da\n"
        "IPV6INIT=yes\n"
    )
    assert meta.public_keys[0].endswith(" test-key@workstation")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("a: *alias\n", "line 1"),
        ("a: 1\n b: 2\n", "line 2"),
        ('a: "open\n', "line 2"),
        ("a: !!python/object:os.system x\n", "line 1"),
        ("[" * 2000, "nested too deeply"),
    ],
)
def test_bad_yaml_is_one_line_naming_where(text: str, problem: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        load_yaml(text, what="network-config")
    message = caught.value.message
    assert message.startswith("metadata network-config: ")
    assert problem in message and "\n" not in message
    assert load_yaml("---\n# only a comment\nk: v # trailing\n") == {"k": "v"}


@pytest.mark.parametrize(
    ("call", "text"),
    [
        (parse_hostname, "not a host!"),
        (parse_instance_id, "abc"),
        (parse_instance_id, "0"),
        (parse_public_ipv4, "203.0.113.300"),
        (parse_network_config, "config: []\nversion: 2\n"),
        (parse_network_config, "- 1\n"),
        (parse_private_networks, "- network: 10.0.0.0/8\n"),
        (parse_metadata, "hostname: web1\n"),
    ],
)
def test_bad_answers_are_invalid_input(call: object, text: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        call(text)  # type: ignore[operator]
    assert caught.value.message.startswith("metadata ")
    assert caught.value.hint


def test_metadata_url() -> None:
    assert metadata_url() == METADATA_URL
    assert (
        metadata_url("http://127.0.0.1:8080/x/", "hostname") == "http://127.0.0.1:8080/x/hostname"
    )
    with pytest.raises(InvalidInputError):
        metadata_url(item="userdata-secrets")


_keys = st.from_regex(r"[a-z_][a-z0-9_.-]{0,11}", fullmatch=True)
_text = st.text(
    alphabet=st.characters(min_codepoint=32, max_codepoint=126) | st.sampled_from("\n\téü"),
    max_size=120,
)
_scalars = st.none() | st.booleans() | st.integers(-(10**12), 10**12) | _text
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_keys, inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(_keys, _values, min_size=1, max_size=5) | st.lists(_values, min_size=1))
def test_the_parser_reads_back_what_the_service_emits(data: object) -> None:
    assert load_yaml(to_yaml(data)) == data
