"""The example hoster plugin (``examples/hoster-plugin``) installs as its own distribution, is
picked up through its entry point, and its own test suite passes against this nixremote.

It is installed into a private ``--target`` directory that only the subprocesses see, so the
rest of the test session keeps its plugin set.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.json_output import result_data
from helpers.plugins import env_with, pip_install

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "hoster-plugin"


@pytest.fixture(scope="module")
def example_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return pip_install(EXAMPLE, tmp_path_factory.mktemp("example-site"))


def _env(site: Path) -> dict[str, str]:
    return env_with(site)


def test_example_is_listed_by_nixremote_plugins(example_site: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "nixremote.cli.main", "plugins", "--json"],
        env=_env(example_site),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    plugins = {p["name"]: p for p in result_data(out.stdout)["plugins"]}
    assert set(plugins) >= {"generic", "hetzner", "examplecloud"}
    mine = plugins["examplecloud"]
    assert mine["module"] == "nixremote_examplecloud.plugin"
    assert mine["version"] == "0.1.0"
    assert mine["builtin"] is False
    assert set(mine["hooks"]) == {
        "boot_mode",
        "collect_runtime_info",
        "detect_hoster",
        "host_flake_modules",
        "plugin_settings",
        "register_commands",
    }
    assert mine["hosters"] == ["examplecloud"]


def test_example_command_is_registered(example_site: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "nixremote.cli.main", "examplecloud", "regions", "--json"],
        env=_env(example_site),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert json.loads(out.stdout) == {"exa1": "Example City", "exb1": "Sample Town"}


def test_example_plugin_test_suite_passes(example_site: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:benchmark",
            "tests",
        ],
        cwd=EXAMPLE,
        env=_env(example_site),
        capture_output=True,
        text=True,
        timeout=600,
    )
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    passed = re.search(r"(\d+) passed", summary)
    assert passed and int(passed.group(1)) >= 10, summary
    assert "skipped" not in summary and "failed" not in summary, summary
