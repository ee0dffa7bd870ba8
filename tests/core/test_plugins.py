"""The plugin manager: built-ins, a real third-party distribution, blocking, rejection."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.paths import PLUGINS
from helpers.plugins import pip_install
from nixremote import Facts, hookimpl
from nixremote.core.errors import NixremoteError, PluginError
from nixremote.core.plugins import detect_hoster, get_plugin_manager, list_plugins

HERE = PLUGINS


@pytest.fixture(scope="module")
def thirdparty_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """An environment (PYTHONPATH) into which pip installed the third-party test plugin."""
    target = tmp_path_factory.mktemp("site-thirdparty")
    pip_install(HERE / "thirdparty", target)
    return {**os.environ, "PYTHONPATH": str(target)}


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
    plugins = {p["name"]: p for p in json.loads(proc.stdout)}
    assert list(plugins)[:2] == ["generic", "hetzner"]
    assert {"collect_runtime_info", "disk_layout", "boot_mode", "detect_hoster"} <= set(
        plugins["generic"]["hooks"]
    )
    assert plugins["hetzner"]["module"] == "nixremote.hosters.hetzner"
    assert all(p["builtin"] for p in plugins.values())


def test_third_party_plugin_is_picked_up(thirdparty_env: dict[str, str]) -> None:
    proc = nixremote("plugins", "--json", env=thirdparty_env)
    assert proc.returncode == 0, proc.stderr
    plugins = {p["name"]: p for p in json.loads(proc.stdout)}
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
        names = [p["name"] for p in json.loads(proc.stdout)]
        assert names == ["generic", "hetzner"], extra


def test_builtin_plugins_can_be_blocked_too() -> None:
    pm = get_plugin_manager(autoload=False, disabled=["hetzner"])
    assert [p.name for p in list_plugins(pm)] == ["generic"]


def test_plugin_with_unknown_hook_is_rejected(tmp_path: Path) -> None:
    pip_install(HERE / "badplugin", tmp_path)
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    proc = nixremote("plugins", env=env)
    assert proc.returncode == 1
    assert "badplugin" in proc.stderr and "colect_runtime_info" in proc.stderr
    assert "NIXREMOTE_DISABLE_PLUGINS=badplugin" in proc.stderr
    assert "Traceback" not in proc.stderr
    ok = nixremote("plugins", env={**env, "NIXREMOTE_DISABLE_PLUGINS": "badplugin"})
    assert ok.returncode == 0, ok.stderr


def test_unknown_hook_rejected_for_an_object_plugin_too() -> None:
    class Typo:
        @hookimpl
        def disk_layuot(self, info):  # misspelt
            return None

    with pytest.raises(PluginError, match="disk_layuot"):
        get_plugin_manager(autoload=False, extra=[("typo", Typo())])


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
