"""The plan as data: built from decisions, saved, read back, its faults named by JSON path."""

from __future__ import annotations

import json

import pytest

from helpers.diskplans import DISK, INFO
from helpers.keys import KEYS
from nixremote.core.converter import dumps_plan, loads_plan, plan_digest
from nixremote.core.errors import PlanError, RuntimeInfoError
from nixremote.core.layout import LayoutOptions, default_layout
from nixremote.core.plan import FlakeSource, PluginRecord, build_plan


def test_a_plan_round_trips() -> None:
    layout = default_layout(INFO, LayoutOptions(variant="uefi"))
    source = FlakeSource(
        name="nixpkgs",
        path=f"/nix/store/{'a' * 32}-source",
        nar_hash="sha256-" + "A" * 43 + "=",
        url="github:NixOS/nixpkgs",
    )
    plan = build_plan(
        INFO,
        layout,
        target="root@203.0.113.7:22",
        extra_modules=["nixremote.nixosModules.hetzner"],
        authorized_keys=[f"{KEYS[0]} me"],
        plugins=[PluginRecord(name="acme", version="1.2")],
        flake_sources=[source],
    )
    text = dumps_plan(plan)
    assert loads_plan(text) == plan
    data = json.loads(text)
    assert data["schemaVersion"] == 1
    assert data["identity"]["disks"][0]["path"] == DISK
    assert data["steps"][0]["argv"][0] == "mkdir"
    assert data["hostFlake"]["extraModules"] == ["nixremote.nixosModules.hetzner"]
    assert plan_digest(plan) == plan_digest(loads_plan(text))


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"schemaVersion": 2}, r"\$\.schemaVersion"),
        ({"identity": {"hostName": 7}}, r"\$\.identity\.hostName"),
        ({"steps": [{"stage": "nuke", "description": "x", "argv": []}]}, r"\$\.steps"),
        ({"surprise": True}, "unknown key 'surprise'"),
    ],
)
def test_a_bad_plan_is_one_line_with_the_json_path(change: dict[str, object], where: str) -> None:
    data = json.loads(dumps_plan(build_plan(INFO, default_layout(INFO))))
    data.update(change)
    with pytest.raises(RuntimeInfoError, match=where):
        loads_plan(json.dumps(data), source="plan.json")


def test_a_plan_names_only_collected_disks() -> None:
    layout = default_layout(INFO, LayoutOptions(variant="mirror", disks=("/dev/disk/by-id/x",)))
    with pytest.raises(PlanError, match="not among the disks of web1"):
        build_plan(INFO, layout)
