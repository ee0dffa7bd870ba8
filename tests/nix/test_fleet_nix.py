"""The fleet flake's host discovery (nix/lib/fleet.nix) evaluated by Nix over a generated fleet."""

from __future__ import annotations

import shutil
from pathlib import Path

from helpers.nix import CASES, REPO, nix_eval
from nixremote.controller import fleet


def _summary(hosts: Path) -> object:
    return nix_eval(f"(import {REPO}/nix/lib/fleet.nix).summary (/. + hosts)", hosts=str(hosts))


def test_discovery_over_a_generated_fleet(tmp_path: Path) -> None:
    root = tmp_path / "fleet"
    fleet.init_fleet(root)
    fleet.add_host(root, CASES / "hoster" / "runtime-info.json")  # -> web1
    fleet.add_host(root, CASES / "two-nics" / "runtime-info.json", name="db-1")
    fleet.add_host(root, CASES / "legacy" / "runtime-info.json")  # flat-only file
    # not hosts: a template directory, a hidden one, a directory without runtime info, a file
    shutil.copytree(root / "hosts" / "web1", root / "hosts" / "_template")
    shutil.copytree(root / "hosts" / "web1", root / "hosts" / ".old")
    (root / "hosts" / "notes").mkdir()
    (root / "hosts" / "stray.json").write_text("{}")
    (root / "hosts" / "db-1" / "configuration.nix").unlink()

    got = _summary(root / "hosts")
    assert got == {
        "db-1": {
            "name": "db-1",
            "hostName": "db1",
            "hostId": "0badcafe",
            "hasConfiguration": False,
        },
        "legacy1": {
            "name": "legacy1",
            "hostName": "legacy1",
            "hostId": "a1b2c3d4",
            "hasConfiguration": True,
        },
        "web1": {
            "name": "web1",
            "hostName": "web1.example.com",
            "hostId": "8425e349",
            "hasConfiguration": True,
        },
    }
    # the Python mirror of the rule agrees
    assert fleet.discover(root) == tuple(sorted(got))


def test_adding_a_host_needs_no_flake_edit(tmp_path: Path) -> None:
    root = tmp_path / "fleet"
    fleet.init_fleet(root)
    before = (root / "flake.nix").read_bytes()
    assert _summary(root / "hosts") == {}
    fleet.add_host(root, CASES / "dhcp" / "runtime-info.json")
    assert list(_summary(root / "hosts")) == ["dyn"]  # type: ignore[call-overload]
    assert (root / "flake.nix").read_bytes() == before


def test_missing_hosts_dir_is_an_empty_fleet(tmp_path: Path) -> None:
    assert _summary(tmp_path / "nothing") == {}


def test_discovered_runtime_info_feeds_the_network_function(tmp_path: Path) -> None:
    root = tmp_path / "fleet"
    fleet.init_fleet(root)
    fleet.add_host(root, CASES / "legacy" / "runtime-info.json")
    got = nix_eval(
        f"let hosts = (import {REPO}/nix/lib/fleet.nix).discoverHosts (/. + dir); "
        f"in builtins.mapAttrs (n: h: (import {REPO}/nix/lib/network.nix).toNixos h.runtimeInfo) "
        "hosts",
        dir=str(root / "hosts"),
    )
    # fleet add rewrote the flat-only file in the current shape; the network is the same
    expected = (CASES / "legacy" / "expected.json").read_text()
    import json

    legacy = json.loads(expected)
    got_units = got["legacy1"]["systemd"]["network"]["networks"]  # type: ignore[index]
    assert list(got_units) == ["10-ens3"]
    unit = got_units["10-ens3"]
    want = legacy["systemd"]["network"]["networks"]["10-ens3"]
    assert unit["address"] == want["address"]
    assert unit["routes"] == want["routes"]
    assert unit["matchConfig"] == want["matchConfig"]
