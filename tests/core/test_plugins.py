"""The plugin manager: built-ins, a real third-party distribution, blocking, and the
diagnostics of a broken plugin (listed, not fatal where only listing; the closest hook name for
a misspelt one; unknown names to disable warned about)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.json_output import result_data, warnings
from helpers.paths import PLUGINS
from helpers.plugins import env_with, pip_install
from nixremote import Facts, hookimpl
from nixremote.core.errors import NixremoteError, PluginError
from nixremote.core.plugins import detect_hoster, get_plugin_manager, known_hosters, list_plugins

HERE = PLUGINS


@pytest.fixture(scope="module")
def thirdparty_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """An environment (PYTHONPATH) into which pip installed the third-party test plugin."""
    target = tmp_path_factory.mktemp("site-thirdparty")
    pip_install(HERE / "thirdparty", target)
    return env_with(target)


def nixremote(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nixremote.cli.main", *args],
        capture_output=True,
        text=True,
        env=env,
    )


def test_builtin_plugins_are_listed_with_their_hooks() -> None:
    proc = nixremote(
        "plugins", "--json", env={**os.environ, "NIXREMOTE_DISABLE_PLUGIN_AUTOLOAD": "1"}
    )
    assert proc.returncode == 0, proc.stderr
    plugins = {p["name"]: p for p in result_data(proc.stdout)["plugins"]}
    assert list(plugins)[:2] == ["generic", "hetzner"]
    assert {"collect_runtime_info", "disk_layout", "boot_mode", "detect_hoster"} <= set(
        plugins["generic"]["hooks"]
    )
    assert plugins["hetzner"]["module"] == "nixremote.hosters.hetzner"
    assert all(p["builtin"] for p in plugins.values())


def test_third_party_plugin_is_picked_up(thirdparty_env: dict[str, str]) -> None:
    proc = nixremote("plugins", "--json", env=thirdparty_env)
    assert proc.returncode == 0, proc.stderr
    plugins = {p["name"]: p for p in result_data(proc.stdout)["plugins"]}
    assert plugins["thirdparty"]["module"] == "nixremote_thirdparty"
    assert plugins["thirdparty"]["version"] == "1.2.3"
    assert plugins["thirdparty"]["builtin"] is False
    assert plugins["thirdparty"]["hooks"] == ["boot_mode", "detect_hoster", "register_commands"]
    # Its command is on the command line too.
    hello = nixremote("example-hello", env=thirdparty_env)
    assert hello.stdout.strip() == "hello from nixremote-thirdparty"


def test_third_party_plugin_can_be_blocked(thirdparty_env: dict[str, str]) -> None:
    for extra in (
        {"NIXREMOTE_DISABLE_PLUGINS": "thirdparty"},
        {"NIXREMOTE_DISABLE_PLUGIN_AUTOLOAD": "1"},
    ):
        proc = nixremote("plugins", "--json", env={**thirdparty_env, **extra})
        assert proc.returncode == 0, proc.stderr
        names = [p["name"] for p in result_data(proc.stdout)["plugins"]]
        assert names == ["generic", "hetzner"], extra


def test_builtin_plugins_can_be_blocked_too() -> None:
    pm = get_plugin_manager(autoload=False, disabled=["hetzner"])
    assert [p.name for p in list_plugins(pm)] == ["generic"]


def test_a_misspelt_hook_names_the_closest_one_and_the_plugin_is_listed_as_broken(
    tmp_path: Path,
) -> None:
    pip_install(HERE / "badplugin", tmp_path)
    env = env_with(tmp_path)
    # listing shows it, broken, with its error (and does not fail)
    proc = nixremote("plugins", "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    bad = {p["name"]: p for p in result_data(proc.stdout)["plugins"]}["badplugin"]
    assert bad["hooks"] == [] and bad["version"] == "0.0.1"
    assert bad["error"].startswith(
        "plugin 'badplugin' implements 'colect_runtime_info', which is not a nixremote hook "
        "(did you mean 'collect_runtime_info'?)"
    )
    assert any("plugin badplugin is broken" in w for w in warnings(proc.stdout))
    # a command that decides refuses it, in one line that says how to switch it off
    info = nixremote("info", "--local", env=env)
    assert info.returncode == 1
    assert info.stderr.count("error:") == 1 and "Traceback" not in info.stderr
    assert "did you mean 'collect_runtime_info'?" in info.stderr
    assert "NIXREMOTE_DISABLE_PLUGINS=badplugin" in info.stderr
    ok = nixremote("plugins", env={**env, "NIXREMOTE_DISABLE_PLUGINS": "badplugin"})
    assert ok.returncode == 0 and "badplugin" not in ok.stdout + ok.stderr


def test_a_plugin_that_fails_to_import_is_listed_as_broken(tmp_path: Path) -> None:
    pip_install(HERE / "importfails", tmp_path)
    proc = nixremote("plugins", env=env_with(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert "importfails" in proc.stdout and "BROKEN" in proc.stdout
    assert (
        "plugin 'importfails' (nixremote_importfails) failed to load: ModuleNotFoundError: "
        "No module named 'nixremote_importfails_missing_dependency'"
    ) in proc.stderr


def test_unknown_hook_rejected_for_an_object_plugin_too() -> None:
    class Typo:
        @hookimpl
        def disk_layuot(self, info):  # misspelt
            return None

    with pytest.raises(PluginError, match=r"'disk_layuot'.*did you mean 'disk_layout'\?"):
        get_plugin_manager(autoload=False, extra=[("typo", Typo())])
    pm = get_plugin_manager(autoload=False, extra=[("typo", Typo())], strict=False)
    assert "did you mean 'disk_layout'" in str(pm.broken["typo"].error)
    assert [(p.name, p.error is not None) for p in list_plugins(pm)][-1] == ("typo", True)
    assert pm.get_plugin("typo") is None  # not half-registered


def test_unknown_names_to_disable_are_warned_about(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NIXREMOTE_DISABLE_PLUGINS", "hetzner,hetzer,nosuchplugin")
    with caplog.at_level("WARNING", logger="nixremote.core.plugins"):
        pm = get_plugin_manager(autoload=False)
    assert pm.unknown_disabled == ("hetzer", "nosuchplugin")
    assert [p.name for p in list_plugins(pm)] == ["generic"]
    warned = [r.getMessage() for r in caplog.records]
    assert (
        "NIXREMOTE_DISABLE_PLUGINS names 'hetzer', which is no plugin (did you mean " in (warned[0])
        and "'hetzner'" in warned[0]
    )
    assert warned[1] == "NIXREMOTE_DISABLE_PLUGINS names 'nosuchplugin', which is no plugin"


def test_unknown_names_to_disable_reach_the_user(thirdparty_env: dict[str, str]) -> None:
    proc = nixremote(
        "plugins", env={**thirdparty_env, "NIXREMOTE_DISABLE_PLUGINS": "thirdparty,thirdpary"}
    )
    assert proc.returncode == 0
    assert "'thirdpary', which is no plugin (did you mean 'thirdparty'?)" in proc.stderr
    assert "thirdparty" not in proc.stdout
    # an installed plugin is known even with autoloading off
    quiet = nixremote(
        "plugins",
        env={
            **thirdparty_env,
            "NIXREMOTE_DISABLE_PLUGINS": "thirdparty",
            "NIXREMOTE_DISABLE_PLUGIN_AUTOLOAD": "1",
        },
    )
    assert "no plugin" not in quiet.stderr, quiet.stderr


class _Wraps:
    @hookimpl(wrapper=True)
    def host_flake_modules(self):  # type: ignore[no-untyped-def]
        return (yield)


class _BadHoster:
    HOSTER = 42


def test_per_plugin_hooks_take_no_wrapper_and_hoster_must_be_names() -> None:
    with pytest.raises(PluginError, match="host_flake_modules is called plugin by plugin"):
        get_plugin_manager(autoload=False, extra=[("wraps", _Wraps())])
    with pytest.raises(PluginError, match="HOSTER is 42, not a name or a tuple of names"):
        get_plugin_manager(autoload=False, extra=[("badhoster", _BadHoster())])


class _TwoHosters:
    HOSTER = ("alpha", "beta")

    @hookimpl
    def boot_mode(self):  # type: ignore[no-untyped-def]
        return None


def test_hoster_names_are_declared_by_the_hoster_attribute() -> None:
    pm = get_plugin_manager(autoload=False, extra=[("two", _TwoHosters())])
    assert known_hosters(pm) == ["generic", "hetzner", "alpha", "beta"]
    assert detect_hoster(pm, Facts(sections={}), name="beta").name == "beta"
    assert list_plugins(pm)[-1].hosters == ("alpha", "beta")
    with pytest.raises(NixremoteError, match="unknown hoster 'alpah' \\(did you mean 'alpha'"):
        detect_hoster(pm, Facts(sections={}), name="alpah")


class _Claim:
    def __init__(self, name: str, confidence: int) -> None:
        self.name, self.confidence = name, confidence

    @hookimpl
    def detect_hoster(self, facts):
        from nixremote import HosterGuess

        return HosterGuess(name=self.name, confidence=self.confidence, reason="test")


def test_hoster_is_detected_by_confidence_not_load_order() -> None:
    facts = Facts(sections={"dmi-sys-vendor": "Hetzner\n"})
    for order in ([("a", _Claim("low", 10))], []):
        pm = get_plugin_manager(autoload=False, extra=order)
        assert detect_hoster(pm, facts).name == "hetzner"
    pm = get_plugin_manager(autoload=False)
    assert detect_hoster(pm, Facts(sections={})).name == "generic"


def test_a_tie_is_an_error_not_a_coin_toss() -> None:
    pm = get_plugin_manager(
        autoload=False, extra=[("a", _Claim("alpha", 70)), ("b", _Claim("beta", 70))]
    )
    with pytest.raises(NixremoteError, match=r"alpha, beta.*--hoster"):
        detect_hoster(pm, Facts(sections={}))
    assert detect_hoster(pm, Facts(sections={}), name="beta").name == "beta"
    with pytest.raises(NixremoteError, match="unknown hoster 'gamma'"):
        detect_hoster(pm, Facts(sections={}), name="gamma")


def test_version_imports_nothing_heavy() -> None:
    code = (
        "import sys\n"
        "from nixremote.cli.main import main\n"
        "try:\n    main(['--version'])\nexcept SystemExit:\n    pass\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('fabric', 'paramiko', 'invoke', 'hcloud', 'rich'))\n"
        "print('HEAVY', heavy)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "nixremote, version" in proc.stdout
    assert "HEAVY []" in proc.stdout, proc.stdout
