"""The OVH-like plugin's own tests, as its author would write them: nixremote's pytest fixtures,
the plugin named by its entry point, a real capture, no host."""

from __future__ import annotations

import nixremote_ovhlike
import pytest

from nixremote.plugin import (
    BootMode,
    LayoutOptions,
    PlanOptions,
    PluginManager,
    collect_from_facts,
    detect_hoster,
    make_plan,
)

CAPTURE = "ovh-like-rescue"  # tests/data/captures/ovh-like-rescue.txt (raw probe output)


def test_the_fixture_knows_the_plugin_by_its_entry_point_name(nixremote_pm) -> None:
    # the module itself, registered under the name users see
    pm: PluginManager = nixremote_pm(nixremote_ovhlike)
    assert pm.get_plugin("ovh-like") is nixremote_ovhlike
    # the installed entry point, by name
    assert nixremote_pm("ovh-like").get_plugin("ovh-like") is nixremote_ovhlike
    # and the names users see disable it
    assert nixremote_pm(nixremote_ovhlike, disabled=("ovh-like",)).get_plugin("ovh-like") is None
    with pytest.raises(ValueError, match="did you mean 'ovh-like'"):
        nixremote_pm(nixremote_ovhlike, disabled=("ovhlike",))


def test_detects_and_refines_a_capture(nixremote_pm, captured_facts) -> None:
    pm = nixremote_pm("ovh-like")
    facts = captured_facts(CAPTURE)
    assert detect_hoster(pm, facts).name == "ovh-like"
    info = collect_from_facts(facts, pm, settings={"ovh-like.rack": "B07"})
    assert info.hoster == "ovh-like" and info.detail("rack") == "B07"
    assert info.nameservers == nixremote_ovhlike.NAMESERVERS
    # the rescue system's / is on no disk: the plugin chose the first one
    assert info.disk_to_format.endswith("S64FNE0R100001")
    assert info.boot_mode is BootMode.UEFI  # the capture's firmware flag
    forced = collect_from_facts(facts, pm, settings={"ovh-like.uefi": "false"})
    assert forced.boot_mode is BootMode.BIOS


def test_plans_a_mirror_unless_told_otherwise(nixremote_pm, captured_facts) -> None:
    pm = nixremote_pm("ovh-like")
    info = collect_from_facts(captured_facts(CAPTURE), pm)
    assert make_plan(info, pm=pm).layout.name == "ovh-like-mirror"
    off = make_plan(info, PlanOptions(settings={"ovh-like.mirror": "false"}), pm=pm)
    assert off.layout.name == "ovh-like-single"
    assert make_plan(info, PlanOptions(layout="default"), pm=pm).layout.name == "default"
    typed = pm.hooks.disk_layout(info=info, options=LayoutOptions(variant="uefi"))
    assert typed is not None and typed.name == "uefi"  # the generic plugin's answer
