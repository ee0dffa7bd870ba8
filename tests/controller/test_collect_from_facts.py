"""Collecting from saved facts (no host), the order of the collect hooks, and the warning about
the disk to format, which is only given when no plugin chose one."""

from __future__ import annotations

import json
from collections.abc import Generator
from pathlib import Path
from typing import Any

import attrs
import pytest

from helpers.paths import CAPTURES, PLUGINS
from nixremote import hookimpl
from nixremote.controller.captures import load_facts, save_facts
from nixremote.controller.collect import collect_from_facts, runtime_info_from_facts
from nixremote.core.errors import InvalidInputError
from nixremote.core.models import BootMode, RuntimeInfo
from nixremote.core.plugins import get_plugin_manager
from nixremote.core.progress import Event

RESCUE = PLUGINS / "ovhlike" / "tests" / "data" / "captures" / "ovh-like-rescue.txt"
"""Two equal disks, / on tmpfs: the generic builder cannot tell which disk to format."""


class Recorder:
    """Records the order of the hooks and what each got; its wrapper refines the runtime info."""

    HOSTER = "rec"

    def __init__(self, disk: str | None = None) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.disk = disk

    @hookimpl
    def detect_hoster(self, facts):  # type: ignore[no-untyped-def]
        self.calls.append(("detect_hoster", facts.source))

    @hookimpl(wrapper=True)
    def collect_runtime_info(
        self, transport, settings
    ) -> Generator[None, RuntimeInfo | None, RuntimeInfo | None]:  # type: ignore[no-untyped-def]
        info = yield
        self.calls.append(("collect_runtime_info", (transport, dict(settings))))
        assert info is not None
        details = (("refined", "yes"),)
        return attrs.evolve(info, disk_to_format=self.disk or info.disk_to_format,
                            hoster_details=details)  # fmt: skip

    @hookimpl
    def boot_mode(self, info, settings):  # type: ignore[no-untyped-def]
        self.calls.append(("boot_mode", (info.detail("refined"), dict(settings))))
        return BootMode.BIOS


def test_saved_facts_collect_as_a_live_host_does_with_no_transport() -> None:
    facts = load_facts(CAPTURES / "netns-hoster-a.txt")
    recorder = Recorder()
    pm = get_plugin_manager(autoload=False, extra=[("rec", recorder)])
    events: list[Event] = []
    info = collect_from_facts(facts, pm, settings={"rec.x": "1"}, reporter=events.append)
    base = runtime_info_from_facts(facts, hoster="generic")
    assert info == attrs.evolve(base, hoster_details=(("refined", "yes"),), boot_mode=BootMode.BIOS)
    # the order the hook reference documents: detect, build and refine, then the boot mode of
    # the refined runtime info
    assert recorder.calls == [
        ("detect_hoster", facts.source),
        ("collect_runtime_info", (None, {"rec.x": "1"})),
        ("boot_mode", ("yes", {"rec.x": "1"})),
    ]
    assert events[0].message.startswith("hoster: generic")
    assert collect_from_facts(facts, pm, hoster="rec").hoster == "rec"  # by its HOSTER


def test_the_disk_warning_is_for_a_disk_nobody_chose() -> None:
    facts = load_facts(RESCUE)
    plain: list[Event] = []
    info = collect_from_facts(facts, get_plugin_manager(autoload=False), reporter=plain.append)
    assert info.disk_to_format == ""
    warnings = [e.message for e in plain if e.kind == "warning"]
    assert warnings == [
        "cannot tell which disk of ns3012345 to format: / is not on a disk and there are 2 "
        "disks (name it with --disk)"
    ]
    disk = info.disks[1].stable_path
    chosen: list[Event] = []
    pm = get_plugin_manager(autoload=False, extra=[("rec", Recorder(disk=disk))])
    info = collect_from_facts(facts, pm, reporter=chosen.append)
    assert info.disk_to_format == disk
    assert [e for e in chosen if e.kind == "warning"] == []  # a wrapper chose it: no warning


def test_saved_facts_round_trip_and_bad_files_are_one_line(tmp_path: Path) -> None:
    facts = load_facts(RESCUE)
    save_facts(facts, tmp_path / "again.txt")
    assert load_facts(tmp_path / "again.txt").sections == facts.sections
    (tmp_path / "bad.json").write_text(json.dumps({"source": "x"}))
    for path, says in (
        (tmp_path / "missing.txt", "cannot read the facts"),
        (tmp_path / "bad.json", "expected an object with a 'sections' object"),
    ):
        with pytest.raises(InvalidInputError, match=says) as caught:
            load_facts(path)
        assert "\n" not in str(caught.value)
