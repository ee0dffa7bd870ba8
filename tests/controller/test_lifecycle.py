"""The lifecycle hooks in the install pipeline, in the order the hook reference documents.

A whole ``nixremote install`` run on loopback: the rescue system's kexec is a test double that
boots an "installer" sshd (``helpers.rescue``), and the installer's Python is a test double
that reports the phases it is asked for as the installer does (JSON events) instead of
formatting this machine's disks. Everything the controller does is the production path. The
plugin is the pip-installed OVH-like test plugin: its lifecycle hooks append to an inventory
file (its setting ``ovh-like.inventory``), which the doubles append to as well, so the file
records the order of everything.

The verify phase is not on this branch yet (the pipeline calls ``after_verify`` at the end of a
run whose phases include ``verify``): the test adds it to the run's phases.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from helpers.bundles import make_bundle
from helpers.plugins import imported
from helpers.rescue import rescue_system
from nixremote.controller import pipeline, verify_phase
from nixremote.controller.keypair import generate_host_key
from nixremote.controller.run import Run
from nixremote.core.errors import NixremoteError
from nixremote.core.hookspecs import hookimpl
from nixremote.core.hostkeys import HostKey, host_keys_data
from nixremote.core.phases import parse_phases
from nixremote.core.plugins import PluginManager, get_plugin_manager
from nixremote.core.progress import Event
from nixremote.testing.sshd import LoopbackSshd

INSTALLER_DOUBLE = r"""#!{python}
# the installer's Python, as a test double: reports the phases it is asked for
import json, os, sys

args = sys.argv[1:]
if args and (args[0] == "-c" or args[2:3] == ["follow"]):
    # the controller's check for Python >= 3.11; following the detached run (the real zipapp)
    os.execv({python!r}, [{python!r}, *args])
phases = args[args.index("--phases") + 1].split(",")
with open({events!r}, "a") as f:
    f.write(json.dumps({{"event": "installer", "phases": phases}}) + "\n")
for phase in phases:
    print(json.dumps({{"kind": "start", "message": phase, "phase": phase}}))
    print(json.dumps({{"kind": "done", "message": phase + " finished", "phase": phase}}))
data = dict({keys!r}, host="test", ran=",".join(phases))
print(json.dumps({{"kind": "done", "message": "installed test", "data": data}}))
"""


@pytest.fixture
def ovhlike(ovhlike_site: Path) -> Iterator[ModuleType]:
    with imported(ovhlike_site, "nixremote_ovhlike") as plugin:
        yield plugin


def host_keys() -> list[HostKey]:
    host, initrd = generate_host_key(), generate_host_key()
    return [
        HostKey(role="host", type="ed25519", public=host.known_hosts_key,
                fingerprint=host.fingerprint, port=22),
        HostKey(role="initrd", type="ed25519", public=initrd.known_hosts_key,
                fingerprint=initrd.fingerprint, port=2222),
    ]  # fmt: skip


def run_install(
    tmp_path: Path,
    server: LoopbackSshd,
    pm: PluginManager,
    inventory: Path,
    keys: list[HostKey],
    hoster: str | None = "ovh-like",
    **options: Any,
) -> tuple[pipeline.InstallResult, list[Event]]:
    double = tmp_path / "installer-python"
    double.write_text(
        INSTALLER_DOUBLE.format(
            python=sys.executable, events=str(inventory), keys=host_keys_data(keys)
        )
    )
    double.chmod(0o755)
    bundle = make_bundle(tmp_path / "bundle")
    meta = json.loads((bundle / "bundle.json").read_text())
    (bundle / "bundle.json").write_text(json.dumps(meta | {"python": str(double)}))
    known = tmp_path / "known_hosts"
    known.write_text(server.known_hosts.read_text())
    events: list[Event] = []
    result = pipeline.install(
        pipeline.Target(
            host=server.host,
            user=server.user,
            port=server.port,
            identity_file=server.identity,
            known_hosts=known,
        ),
        pipeline.InstallOptions(
            bundle=bundle,
            yes=True,
            disk_key=b"correct horse battery staple",
            hoster=hoster,
            settings={"ovh-like.inventory": str(inventory)},
            plugins=pm,
            remote_dir=str(tmp_path / "remote"),
            installer_zipapp=str(tmp_path / "installer" / "nixremote.pyz"),
            key_file=str(tmp_path / "run" / "disk.key"),
            plan_file=str(tmp_path / "run" / "plan.json"),
            kexec_deadline=60,
            **options,
        ),
        events.append,
    )
    return result, events


def booted_standin(run: Run) -> None:
    """Test double of the verify phase: the rescue double has no installed system to reboot
    into (the verify phase itself is proven on the VM, tests/vm/test_e2e_install.py); it
    reports what a good boot reports."""
    run.verified = {"hostName": "standin", "nixosVersion": "25.11"}


def records(inventory: Path) -> list[dict[str, Any]]:
    if not inventory.exists():
        return []
    return [json.loads(line) for line in inventory.read_text().splitlines()]


def test_the_lifecycle_hooks_run_in_their_documented_order(
    ovhlike: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inventory = tmp_path / "inventory.jsonl"
    keys = host_keys()
    pm = get_plugin_manager(autoload=False, extra=[("ovh-like", ovhlike)])
    monkeypatch.setattr(pipeline, "parse_phases", lambda p: (*parse_phases(p), "verify"))
    monkeypatch.setattr(verify_phase, "verify", booted_standin)
    with rescue_system(tmp_path / "rescue", events=inventory) as (server, _state):
        result, events = run_install(tmp_path, server, pm, inventory, keys)
    got = records(inventory)
    assert [(r["event"], r.get("args") or r.get("phases")) for r in got] == [
        ("before_kexec", None),  # the plan approved, nothing uploaded or loaded yet
        ("kexec", ["-l"]),
        ("kexec", ["-e"]),
        ("installer", ["format", "keys", "flake", "install"]),
        ("after_install", None),  # the system installed, the reboot waits for the hook
        ("installer", ["reboot"]),
        ("after_verify", None),  # the last
    ]
    # before the kexec the rescue system, after the install the installer: same address
    assert got[0]["target"] == got[4]["target"] == f"{server.user}@127.0.0.1:{server.port}"
    assert got[-1]["keys"] == sorted(k.fingerprint for k in keys)  # what verify recorded
    assert {k.fingerprint for k in result.host_keys} == {k.fingerprint for k in keys}
    said = [e.message for e in events if e.kind == "step"]
    assert f"ovh-like: {got[0]['host']} is about to kexec" in said
    assert "ovh-like: boot from disk from now on" in said
    assert any(m.startswith("after_verify: ovh-like") for m in said)
    # Hetzner's before_kexec ran too, and said nothing: the host is not Hetzner's
    assert not any("console" in m for m in said)


def test_a_dry_run_names_the_hooks_and_runs_none(
    ovhlike: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inventory = tmp_path / "inventory.jsonl"
    pm = get_plugin_manager(autoload=False, extra=[("ovh-like", ovhlike)])
    monkeypatch.setattr(pipeline, "parse_phases", lambda p: (*parse_phases(p), "verify"))
    with rescue_system(tmp_path / "rescue", events=inventory) as (server, state):
        result, _ = run_install(tmp_path, server, pm, inventory, host_keys(), dry_run=True)
    assert records(inventory) == [] and not (state / "calls.jsonl").exists()
    assert "[kexec] run the before_kexec hooks of ovh-like, hetzner" in result.steps
    assert "[verify] run the after_verify hooks of ovh-like" in result.steps


class Refuses:
    """A plugin whose before_kexec refuses to go on (say, the hoster's API disagrees)."""

    @hookimpl
    def before_kexec(self) -> None:
        raise NixremoteError("the hoster has this server locked", hint="unlock it first")


def test_a_before_kexec_hook_can_stop_the_install_before_anything_changes(
    tmp_path: Path,
) -> None:
    inventory = tmp_path / "inventory.jsonl"
    pm = get_plugin_manager(autoload=False, extra=[("refuses", Refuses())])
    with (
        rescue_system(tmp_path / "rescue", events=inventory) as (server, state),
        pytest.raises(NixremoteError, match="locked"),
    ):
        run_install(tmp_path, server, pm, inventory, host_keys(), hoster=None)
    assert not (state / "calls.jsonl").exists()  # no kexec
    assert not (tmp_path / "remote").exists()  # nothing uploaded
