"""The typed hook calls (``pm.hooks``): typed results, checked, failures naming the plugin."""

from __future__ import annotations

from typing import Any

import pytest

from helpers.diskplans import INFO
from nixremote import hookimpl
from nixremote.core.errors import NixremoteError, PluginError
from nixremote.core.facts import Facts
from nixremote.core.flakeparts import FlakeFile, FlakeInput
from nixremote.core.hookcalls import HostFlakeContribution
from nixremote.core.layout import default_layout
from nixremote.core.models import BootMode
from nixremote.core.plugins import get_plugin_manager
from nixremote.core.settings import Setting

LAYOUT = default_layout(INFO)


def pm_with(*plugins: tuple[str, object]) -> Any:
    return get_plugin_manager(autoload=False, extra=plugins)


class Parts:
    @hookimpl
    def host_flake_modules(self, layout):  # type: ignore[no-untyped-def]
        return [
            "{ a = 1; }",
            "  ",
            FlakeFile(path="x.nix", text="{ }"),
            FlakeInput(name="tools", url="github:a/b"),
            f"# {layout.name}",
        ]


class Second:
    @hookimpl(tryfirst=True)
    def host_flake_modules(self, info):  # type: ignore[no-untyped-def]
        return ["{ b = 2; }"] if info.hoster == "generic" else None


def test_host_flake_answers_are_sorted_by_plugin_and_kind() -> None:
    hooks = pm_with(("parts", Parts()), ("second", Second())).hooks
    got = hooks.host_flake_modules(info=INFO, layout=LAYOUT)
    assert got == [
        HostFlakeContribution(plugin="second", modules=("{ b = 2; }",)),  # tryfirst: first
        HostFlakeContribution(
            plugin="parts",
            modules=("{ a = 1; }", "# default"),  # the layout reached the hook
            files=(FlakeFile(path="x.nix", text="{ }"),),
            inputs=(FlakeInput(name="tools", url="github:a/b"),),
        ),
    ]
    assert hooks.implementers("host_flake_modules")[:2] == ["second", "parts"]


class WrongTypes:
    @hookimpl
    def boot_mode(self):  # type: ignore[no-untyped-def]
        return "uefi"

    @hookimpl
    def host_flake_modules(self):  # type: ignore[no-untyped-def]
        return "{ a = 1; }"  # a string, not a list

    @hookimpl
    def plugin_settings(self):  # type: ignore[no-untyped-def]
        return [{"key": "wrong.x"}]


def test_answers_of_the_wrong_type_are_plugin_errors() -> None:
    hooks = pm_with(("wrong", WrongTypes())).hooks
    with pytest.raises(PluginError, match="a boot_mode hook returned str, not a BootMode"):
        hooks.boot_mode(info=INFO, facts=Facts(sections={}))
    with pytest.raises(PluginError, match="plugin 'wrong': host_flake_modules returned str"):
        hooks.host_flake_modules(info=INFO, layout=LAYOUT)
    with pytest.raises(PluginError, match="plugin 'wrong': plugin_settings returned a dict"):
        hooks.plugin_settings()


class Crashes:
    @hookimpl
    def disk_layout(self, info):  # type: ignore[no-untyped-def]
        return {}["missing"]

    @hookimpl
    def after_verify(self):  # type: ignore[no-untyped-def]
        raise ValueError("inventory unreachable")

    @hookimpl
    def before_kexec(self):  # type: ignore[no-untyped-def]
        raise NixremoteError("refused on purpose", hint="a hint")


def test_a_plugins_bug_is_a_plugin_error_naming_it() -> None:
    hooks = pm_with(("crashes", Crashes())).hooks
    with pytest.raises(PluginError, match="plugin 'crashes' failed in disk_layout: KeyError"):
        hooks.disk_layout(info=INFO)  # found from the traceback (a firstresult hook)
    with pytest.raises(PluginError, match="plugin 'crashes' failed in after_verify: ValueError"):
        hooks.after_verify(plan=None, host_keys=(), settings={}, reporter=print)  # type: ignore[arg-type]
    with pytest.raises(NixremoteError, match="refused on purpose") as caught:  # kept as it is
        hooks.before_kexec(plan=None, transport=None, settings={}, reporter=print)  # type: ignore[arg-type]
    assert not isinstance(caught.value, PluginError)


class Declares:
    @hookimpl
    def plugin_settings(self):  # type: ignore[no-untyped-def]
        return [Setting(key="declares.size", type=int, help="A size.")]


class Trespasses:
    @hookimpl
    def plugin_settings(self):  # type: ignore[no-untyped-def]
        return [Setting(key="declares.size", type=str, help="Not mine.")]


def test_settings_are_declared_per_plugin_under_its_own_name() -> None:
    declared = pm_with(("declares", Declares())).hooks.plugin_settings()
    assert declared["declares"] == (Setting(key="declares.size", type=int, help="A size."),)
    assert declared["generic"] == ()  # every plugin, declaring or not
    assert [s.key for s in declared["hetzner"]] == ["hetzner.metadata_url"]
    with pytest.raises(PluginError, match="plugin 'trespasses' declares the setting 'declares"):
        pm_with(("trespasses", Trespasses())).hooks.plugin_settings()


def test_the_typed_calls_give_what_pluggy_gives() -> None:
    pm = get_plugin_manager(autoload=False)
    facts = Facts(sections={"efi": "1\n", "dmi-sys-vendor": "Hetzner\n"})
    assert pm.hooks.boot_mode(info=INFO, facts=facts) is BootMode.UEFI
    assert pm.hooks.disk_layout(info=INFO) == LAYOUT
    assert [g.name for g in pm.hooks.detect_hoster(facts=facts)] == ["hetzner", "generic"]
