"""``nixremote info`` against test hosts in network namespaces, each with its own sshd."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from helpers.json_output import result_data
from helpers.netns import NetnsHost, route_device
from nixremote.controller.collect import collect
from nixremote.controller.ssh import connect


def nixremote(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nixremote.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def info_json(host: NetnsHost, *extra: str, address: str | None = None) -> dict[str, Any]:
    target = f"root@{address or host.address}"
    before = host.sshd.exec_sessions()
    proc = nixremote(
        "info",
        target,
        "-i",
        str(host.sshd.identity),
        "--known-hosts",
        str(host.sshd.known_hosts),
        "--json",
        *extra,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    # One SSH exec for the whole collect, as sshd logged it.
    assert host.sshd.wait_for_sessions(before + 1) == before + 1
    data: dict[str, Any] = result_data(proc.stdout)
    return data


def test_routes_to_the_test_hosts_use_their_own_veths(
    hoster_like_host: NetnsHost, two_nic_host: NetnsHost
) -> None:
    assert route_device("203.0.113.10") == hoster_like_host.peers["eth0"]
    assert route_device("2001:db8:a::2") == hoster_like_host.peers["eth0"]
    assert route_device("198.51.100.10") == two_nic_host.peers["eth0"]
    assert route_device("2001:db8:b::10") == two_nic_host.peers["eth0"]


def test_info_of_hoster_like_host(hoster_like_host: NetnsHost) -> None:
    data = info_json(hoster_like_host)
    assert data["hostName"] == "hoster-a"
    assert data["primaryInterface"] == "eth0"
    (eth0,) = data["interfaces"]
    assert eth0["mac"] == "96:00:00:12:34:56"
    assert eth0["predictableName"] == "enp1s0"
    assert {"address": "203.0.113.10", "prefixLength": 32, "dynamic": False} in eth0["ipv4"]
    assert {"address": "2001:db8:a::2", "prefixLength": 64, "dynamic": False} in eth0["ipv6"]
    routes = {
        (r["family"], r["destination"], r["gateway"], r["device"], r["onLink"])
        for r in data["routes"]
    }
    assert (4, "default", "172.31.1.1", "eth0", True) in routes
    assert (4, "172.31.1.1/32", None, "eth0", False) in routes
    assert (6, "default", "fe80::1", "eth0", False) in routes
    assert data["nameservers"] == ["198.51.100.53", "2001:db8:53::1"]
    assert data["rootAuthorizedKeys"] == list(hoster_like_host.authorized_keys)
    # The original installer's fields.
    assert data["networkInterface"] == "enp1s0"
    assert data["networkInterfaceModule"] == "veth"
    assert data["ipv4"] == {
        "address": "203.0.113.10",
        "prefixLength": 32,
        "gateway": "172.31.1.1",
        "netmask": "255.255.255.255",
    }
    assert data["ipv6"] == {"address": "2001:db8:a::2", "prefixLength": 64, "gateway": "fe80::1"}
    assert len(data["hostId"]) == 8
    assert data["diskToFormat"]


def test_info_of_hoster_like_host_over_ipv6(hoster_like_host: NetnsHost, tmp_path) -> None:  # type: ignore[no-untyped-def]
    known = tmp_path / "known_hosts"
    key = (hoster_like_host.sshd.host_key.with_suffix(".pub")).read_text().split()[:2]
    known.write_text(f"2001:db8:a::2 {' '.join(key)}\n")
    proc = nixremote(
        "info",
        "root@2001:db8:a::2",
        "-i",
        str(hoster_like_host.sshd.identity),
        "--known-hosts",
        str(known),
        "--json",
    )
    assert proc.returncode == 0, proc.stderr
    assert result_data(proc.stdout)["interfaces"][0]["mac"] == "96:00:00:12:34:56"


def test_info_of_two_nic_host(two_nic_host: NetnsHost, tmp_path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "runtime-info.json"
    data = info_json(two_nic_host, "-o", str(out))
    assert json.loads(out.read_text()) == data
    assert [i["name"] for i in data["interfaces"]] == ["eth0", "eth1"]
    assert [i["mac"] for i in data["interfaces"]] == ["02:00:00:00:0b:01", "02:00:00:00:0b:02"]
    eth1 = data["interfaces"][1]
    assert {"address": "203.0.113.130", "prefixLength": 25, "dynamic": False} in eth1["ipv4"]
    assert {"address": "2001:db8:c::10", "prefixLength": 64, "dynamic": False} in eth1["ipv6"]
    routes = {(r["destination"], r["gateway"], r["device"]) for r in data["routes"]}
    assert routes == {
        ("default", "198.51.100.1", "eth0"),
        ("default", "2001:db8:b::1", "eth0"),
        ("203.0.113.64/26", "203.0.113.129", "eth1"),
        ("2001:db8:d::/48", "2001:db8:c::1", "eth1"),
    }
    assert data["primaryInterface"] == "eth0"
    assert data["networkInterface"] == "eth0"
    assert data["ipv4"]["gateway"] == "198.51.100.1"
    assert data["ipv6"]["gateway"] == "2001:db8:b::1"


def test_human_summary(two_nic_host: NetnsHost) -> None:
    proc = nixremote(
        "info",
        f"root@{two_nic_host.address}",
        "-i",
        str(two_nic_host.sshd.identity),
        "--known-hosts",
        str(two_nic_host.sshd.known_hosts),
    )
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    assert "host:        dual-b" in text
    assert "* eth0  mac 02:00:00:00:0b:01  driver veth" in text
    assert "203.0.113.64/26 via 203.0.113.129 dev eth1" in text
    assert "boot mode:" in text and "memory:" in text and "hoster:      generic" in text


def test_library_collect_counts_one_channel(hoster_like_host: NetnsHost) -> None:
    server = hoster_like_host.sshd
    before = server.exec_sessions()
    with connect(server.target, identity_file=server.identity, known_hosts=server.known_hosts) as t:
        info, _facts = collect(t)
        assert t.commands_run == 1
    assert server.wait_for_sessions(before + 1) == before + 1
    assert info.primary is not None and info.primary.mac == "96:00:00:12:34:56"
