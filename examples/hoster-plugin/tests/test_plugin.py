"""Tests of the ExampleCloud plugin, with the fixtures of nixremote's pytest plugin.

``nixremote_pm``, ``captured_facts`` and ``loopback_sshd`` come from ``nixremote.testing``,
which pytest loads automatically once nixremote is installed.
"""

from __future__ import annotations

import json
from importlib.metadata import entry_points

import click
import pytest
from click.testing import CliRunner
from nixremote_examplecloud import plugin

import nixremote
from nixremote.plugin import (
    LocalTransport,
    PlanOptions,
    PluginError,
    collect_from_facts,
    detect_hoster,
    list_plugins,
    make_plan,
)

CAPTURE = "examplecloud-small"  # tests/data/captures/examplecloud-small.txt: raw probe output
# the key the installed system will trust (a plan without one is refused); nobody holds it
OPERATOR_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHlKf8qQ+6NAKyVZE+zOwVTUBFIeVhbbfHrY8S6qgBei"


def test_entry_point_is_advertised() -> None:
    (ep,) = [e for e in entry_points(group="nixremote") if e.name == "examplecloud"]
    assert ep.value == "nixremote_examplecloud.plugin"
    assert ep.load() is plugin


def test_plugin_implements_its_hooks(nixremote_pm) -> None:
    pm = nixremote_pm(plugin)  # registered under its entry point's name
    (mine,) = [p for p in list_plugins(pm) if p.name == "examplecloud"]
    assert mine.hooks == (
        "boot_mode",
        "collect_runtime_info",
        "detect_hoster",
        "host_flake_modules",
        "plugin_settings",
        "register_commands",
    )
    assert mine.hosters == ("examplecloud",)
    assert not mine.builtin
    assert nixremote_pm(plugin, disabled=("examplecloud",)).get_plugin("examplecloud") is None


def test_detects_examplecloud_hosts(nixremote_pm, captured_facts) -> None:
    pm = nixremote_pm(plugin)
    guess = detect_hoster(pm, captured_facts(CAPTURE))
    assert (guess.name, guess.confidence) == ("examplecloud", 50)
    assert "ExampleCloud" in guess.reason


def test_leaves_other_hosts_alone(nixremote_pm) -> None:
    pm = nixremote_pm(plugin)
    other = nixremote.Facts(sections={"dmi-sys-vendor": "QEMU"}, source="test")
    assert detect_hoster(pm, other).name == "generic"


def test_refines_the_generic_runtime_info(nixremote_pm, captured_facts) -> None:
    pm = nixremote_pm(plugin)
    # what `nixremote info --from-facts` does: detection, the hooks, no host
    info = collect_from_facts(captured_facts(CAPTURE), pm)
    assert info.hoster == "examplecloud"
    # The generic plugin read the facts ...
    assert info.host_name == "excl-4711"
    assert info.primary.mac == "52:54:00:ec:01:23"
    assert info.disk_to_format == "/dev/disk/by-id/virtio-excl-4711"
    # ... and the wrapper added what ExampleCloud guarantees.
    assert info.nameservers == ("198.51.100.53", "2001:db8:53::53")
    default4 = [r for r in info.routes if r.family == 4 and r.is_default]
    assert [(r.gateway, r.on_link) for r in default4] == [("198.51.100.1", True)]
    # The original installer's fields are derived from the refined model.
    legacy = json.loads(nixremote.dumps_runtime_info(info))
    assert legacy["ipv4"] == {
        "address": "198.51.100.23",
        "prefixLength": 32,
        "gateway": "198.51.100.1",
        "netmask": "255.255.255.255",
    }
    assert legacy["ipv6"]["gateway"] == "fe80::1"


def _base_info(hoster: str) -> nixremote.RuntimeInfo:
    return nixremote.RuntimeInfo(
        host_name="h",
        host_id="0123abcd",
        disk_to_format="/dev/vda",
        routes=(nixremote.Route(family=4, destination="default", gateway="198.51.100.1"),),
        nameservers=("192.0.2.53",),
        hoster=hoster,
    )


class FixedBase:
    """Test double standing in for the generic plugin's result, so only the wrapper varies."""

    def __init__(self, info: nixremote.RuntimeInfo) -> None:
        self.info = info

    @nixremote.hookimpl
    def collect_runtime_info(self) -> nixremote.RuntimeInfo:
        return self.info


def test_other_hosters_pass_through_unchanged(nixremote_pm) -> None:
    base = _base_info("generic")
    pm = nixremote_pm(plugin, ("fixed", FixedBase(base)))
    facts = nixremote.Facts(sections={}, source="test")
    got = pm.hooks.collect_runtime_info(facts=facts, hoster="generic")
    assert got is base


def test_reads_the_server_id_through_the_transport(nixremote_pm, tmp_path) -> None:
    server_id = tmp_path / "server-id"
    server_id.write_text("4711\n")
    pm = nixremote_pm(plugin, ("fixed", FixedBase(_base_info("examplecloud"))))
    info = pm.hooks.collect_runtime_info(
        facts=nixremote.Facts(sections={}, source="test"),
        hoster="examplecloud",
        transport=LocalTransport(),
        settings={"examplecloud.server_id_file": str(server_id)},
    )
    assert info is not None and info.detail("serverId") == "4711"
    assert info.routes[0].on_link


def test_reads_the_server_id_over_ssh(nixremote_pm, loopback_sshd, tmp_path) -> None:
    from nixremote.controller import ssh

    server_id = tmp_path / "server-id"
    server_id.write_text("4712\n")
    transport = ssh.connect(
        loopback_sshd.host,
        user=loopback_sshd.user,
        port=loopback_sshd.port,
        identity_file=str(loopback_sshd.identity),
        known_hosts=str(loopback_sshd.known_hosts),
    )
    try:
        pm = nixremote_pm(plugin, ("fixed", FixedBase(_base_info("examplecloud"))))
        info = pm.hooks.collect_runtime_info(
            facts=nixremote.Facts(sections={}, source="test"),
            hoster="examplecloud",
            transport=transport,
            settings={"examplecloud.server_id_file": str(server_id)},
        )
    finally:
        transport.close()
    assert info is not None and info.detail("serverId") == "4712"
    assert loopback_sshd.sessions_started() == 1


def test_boot_mode_is_uefi_on_examplecloud_only(nixremote_pm) -> None:
    pm = nixremote_pm(plugin)
    facts = nixremote.Facts(sections={"efi": "0"}, source="test")
    ours = pm.hooks.boot_mode(info=_base_info("examplecloud"), facts=facts)
    theirs = pm.hooks.boot_mode(info=_base_info("generic"), facts=facts)
    assert (ours, theirs) == (nixremote.BootMode.UEFI, nixremote.BootMode.BIOS)


def test_regions_command(nixremote_pm) -> None:
    pm = nixremote_pm(plugin)
    root = click.Group("nixremote")
    pm.hooks.register_commands(cli=root)
    result = CliRunner().invoke(root, ["examplecloud", "regions", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == plugin.REGIONS


def test_a_misspelt_hook_is_refused(nixremote_pm) -> None:
    class Typo:
        @nixremote.hookimpl
        def boot_mdoe(self) -> None: ...

    with pytest.raises(PluginError, match=r"boot_mdoe.*did you mean 'boot_mode'"):
        nixremote_pm(("typo", Typo()))


def test_the_host_flake_gets_the_shipped_module(nixremote_pm, captured_facts) -> None:
    pm = nixremote_pm(plugin)
    info = collect_from_facts(captured_facts(CAPTURE), pm)
    options = PlanOptions(
        settings={"examplecloud.server_id_file": "/x"}, authorized_keys=(OPERATOR_KEY,)
    )
    plan = make_plan(info, options, pm=pm)
    (file,) = plan.host_flake.files
    assert file.path == "plugins/examplecloud/examplecloud.nix"
    assert "console=ttyS0,115200" in file.text
    assert "./plugins/examplecloud/examplecloud.nix" in plan.host_flake.modules
    assert plan.settings == (("examplecloud.server_id_file", "/x"),)
