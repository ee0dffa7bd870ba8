"""Preflight refuses a kexec whose network dump the installer could not restore, before anything
changes: against the loopback sshd (this machine is the target), with this machine's own dump
and with that dump missing the device of the default route."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attrs
import pytest

from helpers.bundles import make_bundle
from helpers.ipdumps import HOSTER_DUMP
from nixremote.controller import collect as collect_module
from nixremote.controller import pipeline, preflight
from nixremote.controller.bundle import load_bundle
from nixremote.controller.handoff import NetworkDump
from nixremote.controller.ssh import SshTransport
from nixremote.core.errors import PreflightError
from nixremote.core.facts import Facts
from nixremote.core.models import BootMode, RuntimeInfo
from nixremote.testing.sshd import LoopbackSshd


def without_default_device(facts: Facts) -> Facts:
    """``facts`` with the device of the IPv4 default route taken out of ``ip -j addr``."""
    routes = json.loads(facts.get("ip-route4") or "[]")
    device = next(r["dev"] for r in routes if r.get("dst") == "default")
    addrs = [a for a in json.loads(facts.get("ip-addr") or "[]") if a.get("ifname") != device]
    return Facts(sections={**facts.sections, "ip-addr": json.dumps(addrs)}, source=facts.source)


def test_the_hoster_dump_passes_and_a_broken_one_is_refused_in_one_line(tmp_path: Path) -> None:
    info = RuntimeInfo(host_name="h", host_id="01234567", disk_to_format="/dev/vda")
    addrs, v4, v6 = HOSTER_DUMP
    good = NetworkDump(addrs=json.dumps(addrs), routes_v4=json.dumps(v4), routes_v6=json.dumps(v6))
    preflight.check_network(good, info, host="h")
    broken = NetworkDump(
        addrs=json.dumps([a for a in addrs if a["ifname"] != "eth0"]),
        routes_v4=json.dumps(v4),
        routes_v6=json.dumps(v6),
    )
    with pytest.raises(PreflightError) as err:
        preflight.check_network(broken, info, host="h")
    text = str(err.value)
    assert "\n" not in text
    assert text.startswith(
        "the network dump of h cannot describe its network: the IPv4 default route via "
        "172.31.1.1 goes through eth0, which the address dump lacks; the installer would come "
        "up unreachable"
    )
    assert "nothing was changed" in (err.value.hint or "")
    # ip's text instead of JSON reaches the archive as [] (the installer uses the runtime info)
    preflight.check_network(NetworkDump(), info, host="h")


def test_run_preflight_checks_the_dump(
    ssh: SshTransport, loopback_sshd: LoopbackSshd, tmp_path: Path
) -> None:
    collected, facts = collect_module.collect(ssh)
    # a rescue system knows its boot mode; this container's may be either
    info = attrs.evolve(collected, boot_mode=BootMode.BIOS)
    bundle = load_bundle(make_bundle(tmp_path / "b"))

    def dump(f: Facts) -> NetworkDump:
        return NetworkDump(
            addrs=f.get("ip-addr") or "[]",
            routes_v4=f.get("ip-route4") or "[]",
            routes_v6=f.get("ip-route6") or "[]",
        )

    state = preflight.probe(ssh, info)
    assert preflight.check(state, info, bundle, host="me", network=dump(facts))
    with pytest.raises(PreflightError, match=r"the primary interface \S+ is not in the address"):
        preflight.run_preflight(ssh, info, bundle, network=dump(without_default_device(facts)))


def test_the_pipeline_refuses_before_anything_changes(
    loopback_sshd: LoopbackSshd, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_collect = collect_module.collect

    def collect(*args: Any, **kwargs: Any) -> tuple[RuntimeInfo, Facts]:
        info, facts = real_collect(*args, **kwargs)
        return info, without_default_device(facts)

    monkeypatch.setattr(collect_module, "collect", collect)
    remote = tmp_path / "remote-kexec"
    before = loopback_sshd.known_hosts.read_text()
    with pytest.raises(PreflightError, match=r"the network dump of .* cannot describe") as err:
        pipeline.install(
            pipeline.Target(
                host=loopback_sshd.host,
                user=loopback_sshd.user,
                port=loopback_sshd.port,
                identity_file=loopback_sshd.identity,
                known_hosts=loopback_sshd.known_hosts,
            ),
            pipeline.InstallOptions(
                bundle=make_bundle(tmp_path / "b"),
                remote_dir=str(remote),
                layout="bios",
                phases=("kexec",),
                yes=True,
            ),
        )
    assert "\n" not in str(err.value)
    assert not remote.exists()  # nothing uploaded, not even a directory made
    assert loopback_sshd.known_hosts.read_text() == before
