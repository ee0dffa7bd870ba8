"""The Hetzner plugin's lifecycle hook: before the kexec it says where the server's console is
(if the host does not come back on the network, the console shows why), for its own hosts only;
and its setting, declared."""

from __future__ import annotations

import attrs

from helpers.diskplans import INFO
from nixremote.core.layout import default_layout
from nixremote.core.plan import build_plan
from nixremote.core.plugins import get_plugin_manager
from nixremote.core.progress import Event


def said_before_kexec(**changes: object) -> list[Event]:
    info = attrs.evolve(INFO, **changes)
    plan = build_plan(info, default_layout(info))
    events: list[Event] = []
    pm = get_plugin_manager(autoload=False)
    ran = pm.hooks.before_kexec(plan=plan, transport=None, settings={}, reporter=events.append)  # type: ignore[arg-type]
    assert "hetzner" in ran
    return events


def test_a_cloud_server_is_told_its_console() -> None:
    (event,) = said_before_kexec(
        hoster="hetzner",
        hoster_details=(("network", "cloud"), ("serverId", "4711"), ("serverName", "web1")),
    )
    assert event.phase == "kexec"
    assert event.message == (
        f"if {INFO.host_name} does not come back, its console is at "
        "https://console.hetzner.cloud: server web1 (id 4711), Console"
    )
    assert dict(event.data) == {"console": "https://console.hetzner.cloud"}


def test_a_dedicated_server_is_told_the_robot() -> None:
    (event,) = said_before_kexec(hoster="hetzner", hoster_details=(("network", "dedicated"),))
    assert "https://robot.hetzner.com/server" in event.message


def test_other_hosts_hear_nothing_from_hetzner() -> None:
    assert said_before_kexec(hoster="generic") == []


def test_the_metadata_url_is_a_declared_setting() -> None:
    declared = get_plugin_manager(autoload=False).hooks.plugin_settings()["hetzner"]
    assert [(s.key, s.type) for s in declared] == [("hetzner.metadata_url", str)]
