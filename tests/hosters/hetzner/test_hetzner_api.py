"""Provisioning through the real ``hcloud`` client against the fake Hetzner Cloud API.

Every test's fake asserts at teardown that each response it sent matched the spec
(the copy in ``tests/data/hetzner``) and that each request was well formed.
"""

from __future__ import annotations

import ipaddress
import socket
import subprocess
import sys
import time

import pytest

from helpers.fakes.hetzner_api import DEFAULT_TOKEN, FakeHetznerCloud, SchemaMismatchError
from nixremote.controller.keypair import KeyPair, generate_host_key
from nixremote.core.errors import ApiError, InvalidInputError
from nixremote.core.progress import Event
from nixremote.hosters.hetzner.api import (
    HetznerCloud,
    ServerInfo,
    host_key_user_data,
)
from nixremote.hosters.hetzner.metadata import load_yaml

OPERATOR_KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHcVfsfF4R1P7qKVkVq0Xq7m0Fhx6VnqkIuFGJ6r8r9F op@ctl"
)
DOC_V4 = ipaddress.ip_network("203.0.113.0/24")
DOC_V6 = ipaddress.ip_network("2001:db8::/32")


def _requests(fake: FakeHetznerCloud, method: str, path_prefix: str) -> list[tuple]:
    return [r for r in fake.requests if r[0] == method and r[1].startswith(path_prefix)]


# -- full flows ------------------------------------------------------------------------------


def test_create_waits_for_its_actions_and_returns_a_running_server(
    hetzner_api: FakeHetznerCloud, cloud: HetznerCloud, events: list[Event]
) -> None:
    key = hetzner_api.add_ssh_key("operator", OPERATOR_KEY)

    result = cloud.create(
        "web1", server_type="cx22", image="debian-12", location="nbg1", ssh_keys=["operator"]
    )

    server = result.server
    assert server.name == "web1"
    assert server.status == "running"
    assert (server.server_type, server.location, server.architecture) == ("cx22", "nbg1", "x86")
    assert server.image == "debian-12"
    assert ipaddress.ip_address(server.ipv4) in DOC_V4
    assert ipaddress.ip_network(server.ipv6_network).subnet_of(DOC_V6)
    assert ipaddress.ip_network(server.ipv6_network).prefixlen == 64
    assert server.ssh_host == server.ipv4
    assert result.root_password is None  # SSH keys given: no password
    assert result.host_key is None
    # Both the create action and its next action (start) were waited for, and the server booted.
    assert hetzner_api.commands() == ["create_server", "start_server"]
    assert all(a.status == "success" for a in hetzner_api.actions.values())
    assert hetzner_api.boots[server.id] == ["disk"]
    # The SSH key went to the API by id (the spec's "ID or name").
    post = _requests(hetzner_api, "POST", "/v1/servers")[0]
    assert post[3]["ssh_keys"] == [key["id"]]
    assert post[3]["server_type"] == "cx22" and post[3]["location"] == "nbg1"
    # Progress: a start step, per-action progress up to 100 %, a done event with the address.
    kinds = [e.kind for e in events]
    assert kinds[0] == "step" and kinds[-1] == "done"
    assert server.ipv4 in events[-1].message
    progress = [e for e in events if e.kind == "progress"]
    assert {dict(e.data)["action"] for e in progress} == {"create_server", "start_server"}
    assert progress[-1].current == 100 and progress[-1].total == 100
    assert all(e.phase == "hetzner" for e in events)


def test_create_arm_server_type_gets_the_arm_image(
    hetzner_api: FakeHetznerCloud, cloud: HetznerCloud
) -> None:
    server = cloud.create("arm1", server_type="cax11", image="debian-12", location="fsn1").server
    assert server.architecture == "arm"
    raw = hetzner_api.server_by_name("arm1")
    assert raw is not None and raw["image"]["architecture"] == "arm"


def test_create_without_ssh_keys_returns_the_root_password(cloud: HetznerCloud) -> None:
    result = cloud.create("pw1", server_type="cx22", image="debian-12")
    assert isinstance(result.root_password, str) and len(result.root_password) >= 12
    assert "root_password" not in repr(result)  # secrets stay out of reprs


def test_create_with_host_key_passes_cloud_config_that_installs_it(
    hetzner_api: FakeHetznerCloud, cloud: HetznerCloud
) -> None:
    host_key = generate_host_key("web1")

    result = cloud.create("web1", server_type="cx22", image="debian-12", host_key=host_key)

    assert result.host_key == host_key
    user_data = hetzner_api.user_data[result.server.id]
    assert user_data is not None and user_data.startswith("#cloud-config\n")
    config = load_yaml(user_data, what="user-data")
    assert config["ssh_deletekeys"] is True
    assert config["ssh_genkeytypes"] == []
    assert config["ssh_keys"]["ed25519_private"] == host_key.private_openssh.strip() + "\n"
    assert config["ssh_keys"]["ed25519_public"] == host_key.public_openssh
    assert host_key.known_hosts_key.startswith("ssh-ed25519 AAAA")
    assert "PRIVATE" not in repr(host_key)


def test_recreate_deletes_the_exact_name_waits_then_creates(
    hetzner_api: FakeHetznerCloud, cloud: HetznerCloud
) -> None:
    old = hetzner_api.add_server("web1")
    neighbours = [hetzner_api.add_server(n) for n in ("web10", "web1-old", "xweb1", "web")]

    result = cloud.recreate("web1", server_type="cx32", image="debian-12", location="hel1")

    assert result.server.id != old["id"]
    assert (result.server.server_type, result.server.location) == ("cx32", "hel1")
    assert old["id"] not in hetzner_api.servers
    assert all(n["id"] in hetzner_api.servers for n in neighbours)
    deletes = _requests(hetzner_api, "DELETE", "/v1/servers/")
    assert [d[1] for d in deletes] == [f"/v1/servers/{old['id']}"]
    # The create came only after the delete action was seen finished (the name was free).
    order = [(r[0], r[1]) for r in hetzner_api.requests]
    create_at = order.index(("POST", "/v1/servers"))
    delete_action = next(a for a in hetzner_api.actions.values() if a.command == "delete_server")
    polls = [i for i, r in enumerate(order) if r == ("GET", f"/v1/actions/{delete_action.id}")]
    assert polls and max(polls) < create_at
    assert hetzner_api.commands() == ["delete_server", "create_server", "start_server"]


def test_recreate_never_deletes_a_server_it_did_not_find_by_exact_name(
    hetzner_api: FakeHetznerCloud, cloud: HetznerCloud, events: list[Event]
) -> None:
    others = [hetzner_api.add_server(n) for n in ("web10", "web1-old", "WEB1x", "web")]

    result = cloud.recreate("web1", server_type="cx22", image="debian-12")

    assert result.server.name == "web1"
    assert _requests(hetzner_api, "DELETE", "/v1/") == []
    assert "delete_server" not in hetzner_api.commands()
    assert all(o["id"] in hetzner_api.servers for o in others)
    assert any(e.kind == "skip" and "nothing to delete" in e.message for e in events)


def test_rescue_enables_linux64_with_key_ids_then_resets(
    hetzner_api: FakeHetznerCloud, cloud: HetznerCloud
) -> None:
    key = hetzner_api.add_ssh_key("operator", OPERATOR_KEY)
    server = hetzner_api.add_server("web1")

    result = cloud.rescue("web1", ssh_keys=["operator"])

    assert hetzner_api.commands() == ["enable_rescue", "reset_server"]
    body = _requests(hetzner_api, "POST", f"/v1/servers/{server['id']}/actions/enable_rescue")[0][3]
    assert body == {"type": "linux64", "ssh_keys": [key["id"]]}
    assert hetzner_api.boots[server["id"]] == ["disk", "rescue"]
    assert result.server.status == "running"
    assert result.host_key is None  # a rescue system's key cannot be known in advance
    assert isinstance(result.root_password, str)


def test_rescue_powers_on_a_server_that_is_off(
    hetzner_api: FakeHetznerCloud, cloud: HetznerCloud
) -> None:
    server = hetzner_api.add_server("web1", status="off")
    cloud.rescue("web1")
    assert hetzner_api.commands() == ["enable_rescue", "start_server"]
    assert hetzner_api.boots[server["id"]][-1] == "rescue"


def test_reset_delete_and_list(hetzner_api: FakeHetznerCloud, cloud: HetznerCloud) -> None:
    a = hetzner_api.add_server("b-server")
    hetzner_api.add_server("a-server", server_type="cax11", location="fsn1")

    listed = cloud.list_servers()
    assert [s.name for s in listed] == ["a-server", "b-server"]
    assert listed[0].architecture == "arm" and listed[0].location == "fsn1"
    assert all(isinstance(s, ServerInfo) for s in listed)

    info = cloud.reset("b-server")
    assert info.id == a["id"] and hetzner_api.boots[a["id"]] == ["disk", "disk"]

    deleted = cloud.delete("b-server")
    assert deleted.id == a["id"]
    assert [s.name for s in cloud.list_servers()] == ["a-server"]
    assert cloud.find("b-server") is None
    assert cloud.get("a-server").name == "a-server"


def test_list_follows_pagination(hetzner_api: FakeHetznerCloud, cloud: HetznerCloud) -> None:
    for i in range(57):  # hcloud asks for 50 a page
        hetzner_api.add_server(f"s{i:02d}")
    assert len(cloud.list_servers()) == 57
    pages = [r[2].get("page") for r in _requests(hetzner_api, "GET", "/v1/servers") if r[2]]
    assert pages == [["1"], ["2"]]


# -- error paths -----------------------------------------------------------------------------


def test_wrong_token_is_an_api_error_that_names_the_token_variable(
    hetzner_api: FakeHetznerCloud,
) -> None:
    cloud = HetznerCloud("not-the-token", endpoint=hetzner_api.endpoint, poll_interval=0.01)
    with pytest.raises(ApiError) as caught:
        cloud.list_servers()
    err = caught.value
    assert "rejected the token" in err.message and "(unauthorized)" in err.message
    assert "HCLOUD_TOKEN" in (err.hint or "")
    assert err.exit_code == 5
    assert "\n" not in str(err)


@pytest.mark.parametrize("operation", ["rescue", "reset", "delete", "get"])
def test_unknown_server_name_is_an_api_error(
    hetzner_api: FakeHetznerCloud, cloud: HetznerCloud, operation: str
) -> None:
    hetzner_api.add_server("web10")
    with pytest.raises(ApiError) as caught:
        getattr(cloud, operation)("web1")
    assert "no server named 'web1'" in caught.value.message
    assert "nixremote hetzner list" in (caught.value.hint or "")
    assert hetzner_api.commands() == []  # nothing was started on the neighbour


def test_api_404_is_mapped(hetzner_api: FakeHetznerCloud, cloud: HetznerCloud) -> None:
    hetzner_api.add_server("web1")
    hetzner_api.inject("POST", r"/servers/\d+/actions/reset", status=404, code="not_found")
    with pytest.raises(ApiError) as caught:
        cloud.reset("web1")
    assert caught.value.message.startswith("resetting server 'web1': not found")
    assert "(not_found)" in caught.value.message


def test_locked_server_is_an_api_error_that_says_retry_later(
    hetzner_api: FakeHetznerCloud, cloud: HetznerCloud
) -> None:
    hetzner_api.add_server("web1")
    hetzner_api.inject("POST", r"/servers/\d+/actions/enable_rescue", status=423, code="locked")
    with pytest.raises(ApiError) as caught:
        cloud.rescue("web1")
    assert "locked" in caught.value.message
    assert "retry" in (caught.value.hint or "")
    assert hetzner_api.fault_hits() == 1  # 423 is not retried by hcloud


def test_action_that_never_finishes_times_out_then_the_server_is_locked(
    hetzner_api: FakeHetznerCloud,
) -> None:
    hetzner_api.add_server("web1")
    hetzner_api.plan_action("reset_server", "never")
    cloud = HetznerCloud(
        DEFAULT_TOKEN, endpoint=hetzner_api.endpoint, poll_interval=0.02, timeout=0.3
    )

    started = time.monotonic()
    with pytest.raises(ApiError) as caught:
        cloud.reset("web1")
    elapsed = time.monotonic() - started

    message = caught.value.message
    assert "action reset_server #" in message and "still running after" in message
    assert "timeout 0.3 s" in message
    assert 0.3 <= elapsed < 3.0
    # The action still runs, so the real API (and the fake) lock the server: 423, mapped.
    with pytest.raises(ApiError) as locked:
        cloud.reset("web1")
    assert "locked" in locked.value.message


def test_action_that_ends_in_error_is_an_api_error_with_its_reason(
    hetzner_api: FakeHetznerCloud, cloud: HetznerCloud
) -> None:
    hetzner_api.plan_action(
        "start_server", "error", error=("action_failed", "host system failure, try again")
    )
    with pytest.raises(ApiError) as caught:
        cloud.create("web1", server_type="cx22", image="debian-12")
    message = caught.value.message
    assert message.startswith("creating server 'web1': action start_server #")
    assert "failed: host system failure, try again (action_failed)" in message


def test_rate_limit_is_retried_by_hcloud(
    hetzner_api: FakeHetznerCloud, cloud: HetznerCloud
) -> None:
    hetzner_api.add_server("web1")
    hetzner_api.inject("GET", r"/servers", status=429, code="rate_limit_exceeded", times=1)

    started = time.monotonic()
    servers = cloud.list_servers()

    assert [s.name for s in servers] == ["web1"]
    assert hetzner_api.fault_hits() == 1
    assert len(_requests(hetzner_api, "GET", "/v1/servers")) == 2
    assert time.monotonic() - started >= 0.9  # hcloud's first backoff is 1 s


def test_rate_limit_error_message_when_not_retried(
    hetzner_api: FakeHetznerCloud, cloud: HetznerCloud
) -> None:
    # hcloud retries on the *code*; a 429 whose body has another code surfaces at once.
    hetzner_api.inject("GET", r"/servers", status=429, code="rate_limit", times=1)
    with pytest.raises(ApiError) as caught:
        cloud.list_servers()
    assert "rate_limit" in caught.value.message


def test_unknown_ssh_key_server_type_and_taken_name_are_clear(
    hetzner_api: FakeHetznerCloud, cloud: HetznerCloud
) -> None:
    with pytest.raises(ApiError) as key:
        cloud.create("web1", server_type="cx22", image="debian-12", ssh_keys=["nobody"])
    assert "no SSH key named 'nobody'" in key.value.message

    with pytest.raises(ApiError) as stype:
        cloud.create("web1", server_type="cx999", image="debian-12")
    assert "server_type" in stype.value.message and "(invalid_input)" in stype.value.message

    hetzner_api.add_server("web2")
    with pytest.raises(ApiError) as taken:
        cloud.create("web2", server_type="cx22", image="debian-12")
    assert "already used" in taken.value.message
    assert "recreate" in (taken.value.hint or "")
    assert "create_server" not in hetzner_api.commands()


def test_invalid_server_name_is_refused_before_any_request(
    hetzner_api: FakeHetznerCloud, cloud: HetznerCloud
) -> None:
    with pytest.raises(InvalidInputError):
        cloud.create("bad_name!", server_type="cx22", image="debian-12")
    assert hetzner_api.requests == []


def test_unreachable_endpoint_is_an_api_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cloud = HetznerCloud(DEFAULT_TOKEN, endpoint=f"http://127.0.0.1:{port}/v1", poll_interval=0.01)
    with pytest.raises(ApiError) as caught:
        cloud.list_servers()
    assert "cannot reach the Hetzner Cloud API" in caught.value.message
    assert str(port) in caught.value.message


# -- the fake's contract checks can fail -----------------------------------------------------


def test_the_schema_check_catches_a_bad_response_body(hetzner_api: FakeHetznerCloud) -> None:
    server = hetzner_api.add_server("web1")
    good = {"server": server}
    assert hetzner_api.validate_response("/servers/{id}", "get", 200, good) == []
    bad = {"server": {**server, "public_net": {"ipv4": None}, "status": "exploded"}}
    problems = hetzner_api.validate_response("/servers/{id}", "get", 200, bad)
    assert any("floating_ips" in p for p in problems)
    assert any("exploded" in p for p in problems)
    error_body = {"error": {"code": "locked", "message": "server is locked", "details": None}}
    assert hetzner_api.validate_response("/servers/{id}", "get", 423, error_body) == []
    assert hetzner_api.validate_response("/servers/{id}", "get", 423, {"error": {}}) != []


def test_assert_clean_fails_on_a_recorded_mismatch() -> None:
    with FakeHetznerCloud() as fake:
        fake.schema_mismatches.append("GET /servers 200: <root>: example")
        with pytest.raises(SchemaMismatchError, match="1 contract violation"):
            fake.assert_clean()


def test_request_bodies_are_checked_loosely(hetzner_api: FakeHetznerCloud) -> None:
    loose = {"name": "a", "server_type": 104, "image": "debian-12", "ssh_keys": [1, "k"]}
    assert hetzner_api.validate_request("/servers", "post", loose) == []
    assert hetzner_api.validate_request("/servers", "post", {"name": "a"}) != []
    assert (
        hetzner_api.validate_request(
            "/servers/{id}/actions/enable_rescue", "post", {"type": "linux64", "ssh_keys": ["1"]}
        )
        != []
    )


# -- host keys ---------------------------------------------------------------------------------


def test_host_key_validation() -> None:
    key = generate_host_key()
    with pytest.raises(InvalidInputError):
        KeyPair(private_openssh="not a key", public_openssh=key.public_openssh)
    with pytest.raises(InvalidInputError):
        KeyPair(private_openssh=key.private_openssh, public_openssh="ssh-rsa AAAAB3Nza x")
    text = host_key_user_data(key)
    assert text.count("BEGIN OPENSSH PRIVATE KEY") == 1
    assert len(text) < 32 * 1024


def test_user_data_and_host_key_are_exclusive(cloud: HetznerCloud) -> None:
    with pytest.raises(InvalidInputError):
        cloud.create(
            "web1",
            server_type="cx22",
            image="debian-12",
            user_data="#cloud-config\n",
            host_key=generate_host_key(),
        )


def test_ipv6_address_is_the_first_of_the_network() -> None:
    info = ServerInfo(
        id=1,
        name="a",
        status="running",
        ipv4=None,
        ipv6_network="2001:db8:5::/64",
        server_type="cx22",
        architecture="x86",
        location="nbg1",
        image="debian-12",
    )
    assert info.ipv6_address == "2001:db8:5::1"
    assert info.ssh_host == "2001:db8:5::1"


def test_importing_the_api_module_does_not_import_hcloud() -> None:
    code = (
        "import sys, nixremote.hosters.hetzner.api as m, nixremote.hosters.hetzner.metadata;"
        "assert 'hcloud' not in sys.modules, 'hcloud imported';"
        "assert 'requests' not in sys.modules, 'requests imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_rebuild_keeps_the_server_and_installs_a_new_host_key(
    hetzner_api: FakeHetznerCloud, cloud: HetznerCloud
) -> None:
    old = hetzner_api.add_server("web1", image="ubuntu-24.04")
    host_key = generate_host_key("web1")

    result = cloud.rebuild("web1", image="debian-12", host_key=host_key)

    assert result.server.id == old["id"]
    assert result.server.ipv4 == old["public_net"]["ipv4"]["ip"]
    assert result.server.image == "debian-12" and result.server.status == "running"
    assert result.host_key == host_key
    assert hetzner_api.commands() == ["rebuild_server"]
    assert hetzner_api.user_data[old["id"]] == host_key_user_data(host_key)
    assert hetzner_api.boots[old["id"]] == ["disk", "disk"]


def test_the_fake_sends_rate_limit_headers_with_429(hetzner_api: FakeHetznerCloud) -> None:
    import json
    import urllib.error
    import urllib.request

    hetzner_api.inject("GET", r"/servers", status=429, code="rate_limit_exceeded")
    request = urllib.request.Request(
        f"{hetzner_api.endpoint}/servers", headers={"Authorization": f"Bearer {DEFAULT_TOKEN}"}
    )
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=5)
    response = caught.value
    assert response.code == 429
    assert response.headers["RateLimit-Limit"] == "3600"
    assert response.headers["RateLimit-Remaining"] == "0"
    assert int(response.headers["RateLimit-Reset"]) >= int(time.time())
    assert json.loads(response.read())["error"]["code"] == "rate_limit_exceeded"


@pytest.mark.parametrize(
    ("code", "summary", "hint"),
    [
        ("rate_limit_exceeded", "rate-limited", "wait a few minutes"),
        (429, "rate-limited", "wait a few minutes"),  # a 429 without a JSON body
        (401, "rejected the token", "HCLOUD_TOKEN"),
        (423, "locked", "retry"),
        ("forbidden", "may not do this", "Read & Write"),
        ("service_error", "answered with an error", "retry later"),
    ],
)
def test_api_exceptions_map_to_one_line_errors(code: str | int, summary: str, hint: str) -> None:
    from hcloud import APIException

    from nixremote.hosters.hetzner.api import api_error_from

    err = api_error_from(
        APIException(code=code, message="first line\nsecond line", details=None), "listing servers"
    )
    assert err.message.startswith("listing servers: ")
    assert summary in err.message and hint in (err.hint or "")
    assert "first line second line" in err.message and "\n" not in str(err)


def test_the_fake_serves_the_other_endpoints_hcloud_uses(hetzner_api: FakeHetznerCloud) -> None:
    """ssh_keys, power and rescue actions, action lists and the catalogues, via hcloud itself."""
    from hcloud import APIException, Client

    client = Client(DEFAULT_TOKEN, api_endpoint=hetzner_api.endpoint, poll_interval=0.01)
    key = client.ssh_keys.create(name="operator", public_key=OPERATOR_KEY)
    assert key.fingerprint is not None and len(key.fingerprint.split(":")) == 16
    assert client.ssh_keys.get_by_name("operator").id == key.id
    assert client.ssh_keys.get_by_id(key.id).public_key == OPERATOR_KEY
    with pytest.raises(APIException) as duplicate:
        client.ssh_keys.create(name="operator", public_key=OPERATOR_KEY)
    assert duplicate.value.code == "uniqueness_error"

    server = client.servers.get_by_id(hetzner_api.add_server("web1")["id"])
    client.servers.power_off(server).wait_until_finished()
    assert client.servers.get_by_id(server.id).status == "off"
    client.servers.power_on(server).wait_until_finished()
    assert client.servers.get_by_id(server.id).status == "running"
    client.servers.enable_rescue(
        server, type="linux64", ssh_keys=[key.id]
    ).action.wait_until_finished()
    assert client.servers.get_by_id(server.id).rescue_enabled is True
    client.servers.disable_rescue(server).wait_until_finished()
    assert client.servers.get_by_id(server.id).rescue_enabled is False

    actions = client.servers.get_actions(server)
    assert [a.command for a in actions] == [
        "stop_server",
        "start_server",
        "enable_rescue",
        "disable_rescue",
    ]
    assert all(a.status == "success" for a in actions)
    assert client.actions.get_by_id(actions[0].id).command == "stop_server"

    assert client.server_types.get_by_name("cax11").architecture == "arm"
    assert client.images.get_by_name_and_architecture("debian-12", "arm").architecture == "arm"
    assert client.locations.get_by_name("hel1").network_zone == "eu-central"
    with pytest.raises(APIException) as missing:
        client.servers.get_by_id(999999)
    assert missing.value.code == "not_found"
