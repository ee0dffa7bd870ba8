"""Planning on the controller: the layout the plugins choose, and the plan made of it."""

from __future__ import annotations

import attrs
import pytest

from helpers.diskplans import DISK, INFO
from helpers.keys import KEYS
from nixremote.controller.planning import (
    PlanOptions,
    check_drift,
    choose_layout,
    make_plan,
    resolve_disks,
)
from nixremote.core.errors import PlanError, PluginError, SafetyError
from nixremote.core.layout import DiskLayout, LayoutOptions, default_layout
from nixremote.core.models import Disk, Interface, RuntimeInfo
from nixremote.core.plugins import get_plugin_manager


class AcmePlugin:
    """A hoster plugin that mirrors its own hosts' disks and declines everyone else's."""

    from nixremote import hookimpl

    @hookimpl
    def disk_layout(self, info: RuntimeInfo, options: LayoutOptions) -> DiskLayout | None:
        if info.hoster != "acme":
            return None
        return default_layout(
            info, attrs.evolve(options, variant="mirror", disks=("/dev/disk/by-id/acme-2",))
        )


class BrokenPlugin:
    from nixremote import hookimpl

    @hookimpl
    def disk_layout(self, info: RuntimeInfo, options: LayoutOptions) -> object:
        return {"not": "a layout"}


def test_a_hoster_plugin_chooses_its_own_layout(nixremote_pm):
    pm = nixremote_pm(AcmePlugin())
    acme = attrs.evolve(INFO, hoster="acme")
    layout = choose_layout(acme, pm=pm)
    assert layout.pool.vdev == "mirror"
    assert [d.path for d in layout.disks] == [DISK, "/dev/disk/by-id/acme-2"]
    assert choose_layout(INFO, pm=pm) == default_layout(INFO)  # declined: the generic answer
    with pytest.raises(PluginError, match="returned dict, not a DiskLayout"):
        choose_layout(INFO, pm=nixremote_pm(BrokenPlugin()))


SDA = Disk(
    path="/dev/sda",
    by_id="/dev/disk/by-id/ata-ONE",
    size_bytes=20 * 2**30,
    serial="ONE",
    model="Disk One",
)
SDB = Disk(
    path="/dev/sdb",
    by_id="/dev/disk/by-id/ata-TWO",
    size_bytes=20 * 2**30,
    serial="TWO",
    model="Disk Two",
)
SDC = Disk(path="/dev/sdc", size_bytes=40 * 2**30)
HOST = RuntimeInfo(
    host_name="web1",
    host_id="deadbeef",
    disk_to_format=SDA.stable_path,
    disks=(SDA, SDB, SDC),
    interfaces=(Interface(name="eth0", mac="96:00:00:00:00:01"),),
    root_authorized_keys=(KEYS[0],),
)


def test_disk_names_resolve_to_one_stable_path_each() -> None:
    assert resolve_disks(HOST, ["/dev/sda", "ata-TWO", "sdc"]) == (
        SDA.stable_path,
        SDB.stable_path,
        "/dev/sdc",
    )
    assert resolve_disks(HOST, []) == ()
    with pytest.raises(PlanError, match="not a disk of web1"):
        resolve_disks(HOST, ["/dev/sdz"])


@pytest.mark.parametrize(
    "names", [["/dev/sda", "/dev/sda"], ["/dev/sda", "/dev/disk/by-id/ata-ONE"], ["sda", "ata-ONE"]]
)
def test_a_disk_named_twice_is_no_mirror(names: list[str]) -> None:
    with pytest.raises(PlanError, match="cannot mirror itself"):
        resolve_disks(HOST, names)
    with pytest.raises(PlanError, match="cannot mirror itself"):
        make_plan(HOST, PlanOptions(disks=tuple(names)), pm=get_plugin_manager(autoload=False))


def test_disk_means_the_disks_to_format_everywhere() -> None:
    pm = get_plugin_manager(autoload=False)
    # one --disk: that disk, and only it, is wiped (not the collected disk to format as well)
    plan = make_plan(HOST, PlanOptions(disks=("/dev/sdb",)), pm=pm)
    assert [d.path for d in plan.identity.disks] == [SDB.stable_path]
    assert plan.runtime_info.disk_to_format == SDB.stable_path
    assert {s.argv[-1] for s in plan.steps if s.stage == "wipe"} == {SDB.stable_path}
    # two: a mirror of exactly those two
    plan = make_plan(HOST, PlanOptions(disks=("/dev/sdb", "/dev/sda")), pm=pm)
    assert [d.path for d in plan.identity.disks] == [SDB.stable_path, SDA.stable_path]
    assert plan.layout.pool.vdev == "mirror"
    assert {s.argv[-1] for s in plan.steps if s.stage == "wipe"} == {
        SDA.stable_path,
        SDB.stable_path,
    }
    # none: the collected disk to format
    plan = make_plan(HOST, PlanOptions(), pm=pm)
    assert [d.path for d in plan.identity.disks] == [SDA.stable_path]
    assert plan.identity.disks[0].serial == "ONE" and plan.identity.macs == ("96:00:00:00:00:01",)


class MirrorPlugin:
    """A third party's hoster: its hosts get a mirror of two disks and a module of its own."""

    from nixremote import hookimpl

    @hookimpl
    def disk_layout(self, info: RuntimeInfo, options: LayoutOptions) -> DiskLayout | None:
        if options.variant is not None or options.disks:
            return None
        return default_layout(
            info, attrs.evolve(options, variant="mirror", disks=("/dev/disk/by-id/ata-TWO",))
        )

    @hookimpl
    def host_flake_modules(self, info: RuntimeInfo) -> list[str]:
        return ["{ services.acme.enable = true; }"]


def test_the_hooks_decide_once_into_the_plan(nixremote_pm) -> None:  # type: ignore[no-untyped-def]
    plan = make_plan(HOST, PlanOptions(), pm=nixremote_pm(("acme", MirrorPlugin())))
    assert [d.path for d in plan.identity.disks] == [SDA.stable_path, SDB.stable_path]
    assert plan.host_flake.extra_modules == ("{ services.acme.enable = true; }",)
    assert plan.host_flake.layout_module is not None and "ata-TWO" in plan.host_flake.layout_module
    # the plugins that took part are named (the built-in ones too), with their versions
    assert {p.name for p in plan.plugins} == {"generic", "hetzner", "acme"}


def test_drift_is_refused_with_one_line() -> None:
    plan = make_plan(HOST, PlanOptions(), pm=get_plugin_manager(autoload=False))
    check_drift(plan, HOST)  # unchanged: fine
    for changed, message in (
        (attrs.evolve(HOST, host_name="web2"), "its name is web2"),
        (attrs.evolve(HOST, disks=(attrs.evolve(SDA, serial="NEW"), SDB)), "serial NEW"),
        (attrs.evolve(HOST, disks=(attrs.evolve(SDA, size_bytes=1), SDB)), "has 1 bytes"),
        # (the model refuses a disk to format that is not collected: the host names another)
        (attrs.evolve(HOST, disks=(SDB,), disk_to_format=SDB.stable_path), "is gone"),
        (
            attrs.evolve(HOST, interfaces=(Interface(name="eth0", mac="96:00:00:00:00:02"),)),
            "no NIC with MAC 96:00:00:00:00:01",
        ),
    ):
        with pytest.raises(SafetyError, match=message) as caught:
            check_drift(plan, changed)
        assert "\n" not in str(caught.value)


class Tuned:
    """Decides with its settings, ships a file and an input."""

    from nixremote import FlakeFile, FlakeInput, Setting, hookimpl

    SIZE = Setting(key="tuned.size", type=int, default=512, help="ESP size in MiB.")
    TOKEN = Setting(key="tuned.auth", type=str, secret=True, help="Declared secret.")

    @hookimpl
    def plugin_settings(self):  # type: ignore[no-untyped-def]
        return [self.SIZE, self.TOKEN]

    @hookimpl
    def disk_layout(self, info, options, settings):  # type: ignore[no-untyped-def]
        return attrs.evolve(default_layout(info, options), name=f"tuned-{self.SIZE.get(settings)}")

    @hookimpl
    def host_flake_modules(self, layout, settings):  # type: ignore[no-untyped-def]
        return [
            f"{{ tuned.layout = {layout.name!r}; }}".replace("'", '"'),
            self.FlakeFile(path="nix/tuned.nix", text="{ lib, ... }: { }"),
            self.FlakeFile(path="tuned.json", text="{}", module=False),
            self.FlakeInput(name="tools", url="github:tuned/tools"),
        ]


def test_settings_decide_and_the_plan_records_them_redacted(nixremote_pm) -> None:  # type: ignore[no-untyped-def]
    pm = nixremote_pm(("tuned", Tuned()))
    settings = {"tuned.size": "1024", "tuned.auth": "hunter2", "disk": "/dev/sda"}
    plan = make_plan(HOST, PlanOptions(settings=settings), pm=pm)
    assert plan.layout.name == "tuned-1024"
    assert plan.settings == (("tuned.auth", "<redacted>"), ("tuned.size", "1024"))
    flake = plan.host_flake
    assert flake.extra_modules == ('{ tuned.layout = "tuned-1024"; }',)
    assert [(f.path, f.module) for f in flake.files] == [
        ("plugins/tuned/nix/tuned.nix", True),
        ("plugins/tuned/tuned.json", False),
    ]
    assert "./plugins/tuned/nix/tuned.nix" in flake.modules
    assert "{ nixremote.flake.inputs.tools = inputs.tools; }" in flake.modules
    assert make_plan(HOST, pm=pm).layout.name == "tuned-512"  # the declared default
    from nixremote.core.converter import dumps_plan, loads_plan

    text = dumps_plan(plan)
    assert '"settings": {\n    "tuned.auth": "<redacted>"' in text and "hunter2" not in text
    assert loads_plan(text) == plan


class SameInput:
    from nixremote import FlakeInput, hookimpl

    def __init__(self, url: str) -> None:
        self.url = url

    @hookimpl
    def host_flake_modules(self):  # type: ignore[no-untyped-def]
        return [self.FlakeInput(name="tools", url=self.url)]


def test_two_plugins_declaring_one_input_differently_is_an_error(nixremote_pm) -> None:  # type: ignore[no-untyped-def]
    pm = nixremote_pm(("a", SameInput("github:a/tools")), ("b", SameInput("github:a/tools")))
    assert len(make_plan(HOST, pm=pm).host_flake.inputs) == 1  # the same: once
    pm = nixremote_pm(("a", SameInput("github:a/tools")), ("b", SameInput("github:b/tools")))
    with pytest.raises(PlanError, match="plugins 'b' and 'a' both declare the flake input 'tools'"):
        make_plan(HOST, pm=pm)


def test_a_hoster_layout_only_when_no_layout_was_asked_for() -> None:
    """Hetzner's dedicated servers with two equal disks get a mirror unless --layout is given;
    --layout default is the generic default."""
    dedicated = attrs.evolve(
        HOST, hoster="hetzner", hoster_details=(("network", "dedicated"),), disks=(SDA, SDB)
    )
    pm = get_plugin_manager(autoload=False)
    assert make_plan(dedicated, pm=pm).layout.name == "hetzner-dedicated-mirror"
    assert make_plan(dedicated, PlanOptions(layout="default"), pm=pm).layout.name == "default"
    assert LayoutOptions().variant is None
    with pytest.raises(ValueError, match="variant"):
        LayoutOptions(variant="raid5")
