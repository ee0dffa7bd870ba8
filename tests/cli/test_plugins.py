"""``nixremote plugins`` (--settings, --hooks), ``--help`` with a broken plugin, and
``nixremote info --from-facts``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.json_output import result_data
from helpers.paths import CAPTURES, PLUGINS
from helpers.plugins import env_with, pip_install
from nixremote.cli.hookref import hook_reference
from nixremote.controller.captures import load_facts
from nixremote.controller.collect import collect_from_facts
from nixremote.core import hookspecs
from nixremote.core.converter import loads_runtime_info
from nixremote.core.plugins import get_plugin_manager


def nixremote(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nixremote.cli.main", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture(scope="module")
def broken_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A working third-party plugin (with a command) next to one with a misspelt hook."""
    site = tmp_path_factory.mktemp("site-broken")
    pip_install(PLUGINS / "thirdparty", site)
    pip_install(PLUGINS / "badplugin", site)
    return site


def test_help_says_which_plugins_are_broken_and_their_commands_missing(
    broken_site: Path,
) -> None:
    proc = nixremote("--help", env=env_with(broken_site))
    assert proc.returncode == 0, proc.stderr
    commands, _, broken = proc.stdout.partition("Broken plugins (their commands are missing):")
    assert "example-hello" in commands  # the working plugin's command is there
    assert "badplugin" in broken and "did you mean 'collect_runtime_info'?" in broken
    assert "`nixremote plugins` lists them with their errors." in broken
    hello = nixremote("example-hello", env=env_with(broken_site))
    assert hello.stdout.strip() == "hello from nixremote-thirdparty"
    clean = nixremote(
        "--help", env={**env_with(broken_site), "NIXREMOTE_DISABLE_PLUGINS": "badplugin"}
    )
    assert "Broken plugins" not in clean.stdout


def test_the_hook_reference_is_a_command() -> None:
    proc = nixremote("plugins", "--hooks")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == hook_reference()
    names = [n for n, f in vars(hookspecs).items() if hasattr(f, "nixremote_spec")]
    assert len(names) >= 10
    for name in names:
        assert f"\n## {name}\n" in proc.stdout and f"def {name}(" in proc.stdout
    assert "!!! note" not in proc.stdout  # the site's admonition is for the site only


def test_settings_are_listed_with_their_types() -> None:
    proc = nixremote("plugins", "--settings", "--json")
    assert proc.returncode == 0, proc.stderr
    assert result_data(proc.stdout)["settings"] == [
        {
            "plugin": "hetzner",
            "key": "hetzner.metadata_url",
            "type": "str",
            "default": None,
            "secret": False,
            "help": "Base URL of the metadata service, asked from the host (default "
            "http://169.254.169.254/hetzner/v1/metadata).",
        }
    ]
    table = nixremote("plugins", "--settings")
    assert table.stdout.split()[:4] == ["setting", "type", "default", "help"]


def test_info_from_saved_facts(tmp_path: Path) -> None:
    capture = CAPTURES / "netns-hoster-a.txt"
    proc = nixremote("info", "--from-facts", str(capture), "--json")
    assert proc.returncode == 0, proc.stderr
    expected = collect_from_facts(load_facts(capture), get_plugin_manager(autoload=False))
    assert loads_runtime_info(json.dumps(result_data(proc.stdout))) == expected
    summary = nixremote("info", "--from-facts", str(capture), "--disk", expected.disks[0].path)
    assert summary.returncode == 0 and "host:        hoster-a" in summary.stdout
    both = nixremote("info", "--local", "--from-facts", str(capture))
    assert both.returncode == 2 and "give one of a HOST, --local or --from-facts" in both.stderr
