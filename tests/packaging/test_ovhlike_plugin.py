"""The OVH-like test plugin (``tests/data/plugins/ovhlike``), a third-party distribution written
against the public API only, installed with pip and used the way its users would: listed, its
settings given with ``--set`` and in the config file, a saved capture collected offline, a plan
made over SSH, its own test suite run with nixremote's fixtures, ``mypy --strict`` clean.

Its ``.nix`` file in a rendered host flake is evaluated in ``tests/nix/test_plugin_flake.py``;
its lifecycle hooks run in ``tests/controller/test_lifecycle.py``.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from helpers.json_output import result_data
from helpers.netns import NetnsHost
from helpers.paths import REPO
from helpers.plugins import OVHLIKE, env_with

SOURCE = OVHLIKE / "src" / "nixremote_ovhlike"
CAPTURE = OVHLIKE / "tests" / "data" / "captures" / "ovh-like-rescue.txt"
THIRD_PARTY = {"attrs", "click"}


def nixremote(
    site: Path, *args: str, home: Path | None = None, **extra: str
) -> subprocess.CompletedProcess[str]:
    env = env_with(site) | extra
    if home is not None:
        env["XDG_CONFIG_HOME"] = str(home)
    return subprocess.run(
        [sys.executable, "-m", "nixremote.cli.main", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )


def test_it_imports_nothing_of_nixremote_but_the_public_api() -> None:
    seen: set[str] = set()
    for path in sorted(SOURCE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                seen |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                assert node.level == 0, f"{path.name}: a relative import"
                seen.add(node.module or "")
    ours = {m for m in seen if m.split(".")[0] == "nixremote"}
    assert ours == {"nixremote.plugin"} or ours == {"nixremote", "nixremote.plugin"}, ours
    others = {m.split(".")[0] for m in seen} - {"nixremote"}
    assert others <= set(sys.stdlib_module_names) | THIRD_PARTY | {"__future__"}, others


def test_it_is_mypy_strict_clean(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--cache-dir",
            str(tmp_path / "cache"),
            str(SOURCE),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "MYPYPATH": str(REPO / "src")},
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success: no issues found in 1 source file" in result.stdout


def test_its_own_test_suite_passes(ovhlike_site: Path, tmp_path: Path) -> None:
    """With nixremote's fixtures: the plugin named by its entry point, a capture, no host."""
    project = tmp_path / "ovhlike"
    shutil.copytree(OVHLIKE / "tests", project / "tests")
    shutil.copy(OVHLIKE / "pyproject.toml", project)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=project,
        env=env_with(ovhlike_site),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "3 passed" in result.stdout.splitlines()[-1], result.stdout[-2000:]


def test_listed_with_its_hooks_hosters_and_settings(ovhlike_site: Path) -> None:
    proc = nixremote(ovhlike_site, "plugins", "--json")
    assert proc.returncode == 0, proc.stderr
    mine = {p["name"]: p for p in result_data(proc.stdout)["plugins"]}["ovh-like"]
    assert mine["version"] == "0.4.0" and mine["hosters"] == ["ovh-like"]
    assert set(mine["hooks"]) == {
        "plugin_settings",
        "detect_hoster",
        "collect_runtime_info",
        "boot_mode",
        "disk_layout",
        "host_flake_modules",
        "before_kexec",
        "after_install",
        "after_verify",
        "register_commands",
    }
    proc = nixremote(ovhlike_site, "plugins", "--settings", "--json")
    rows = result_data(proc.stdout)["settings"]
    settings = {s["key"]: s for s in rows if s["plugin"] == "ovh-like"}
    assert set(settings) == {
        "ovh-like.rack",
        "ovh-like.mirror",
        "ovh-like.uefi",
        "ovh-like.api_token",
        "ovh-like.inventory",
    }
    assert settings["ovh-like.mirror"] == {
        "plugin": "ovh-like",
        "key": "ovh-like.mirror",
        "type": "bool",
        "default": True,
        "secret": False,
        "help": "Mirror two equal disks by default.",
    }
    assert settings["ovh-like.api_token"]["secret"] is True  # by its name
    table = nixremote(ovhlike_site, "plugins", "--settings")
    assert "ovh-like.rack" in table.stdout and "hetzner.metadata_url" in table.stdout
    racks = nixremote(ovhlike_site, "ovh-like", "racks")
    assert racks.stdout.split() == ["A12", "B07", "C03"]


def test_settings_from_the_command_line_and_the_config_file(
    ovhlike_site: Path, tmp_path: Path
) -> None:
    home = tmp_path / "config"
    (home / "nixremote").mkdir(parents=True)
    (home / "nixremote" / "config.toml").write_text(
        '[plugins.ovh-like]\nrack = "C03"\nuefi = false\n'
    )
    info = nixremote(ovhlike_site, "info", "--from-facts", str(CAPTURE), "--json", home=home)
    assert info.returncode == 0, info.stderr
    data = result_data(info.stdout)
    assert data["hoster"] == "ovh-like"  # detected from the capture's DMI vendor
    assert data["hosterDetails"]["rack"] == "C03"  # the config file (the default one)
    assert data["bootMode"] == "bios"  # ovh-like.uefi = false from the file
    assert data["diskToFormat"].endswith("S64FNE0R100001")
    assert "cannot tell which disk" not in info.stderr  # the plugin chose it
    # --set wins over the file; --config names another file
    other = tmp_path / "other.toml"
    other.write_text('[plugins.ovh-like]\nrack = "A12"\n')
    info = nixremote(
        ovhlike_site,
        "info",
        "--from-facts",
        str(CAPTURE),
        "--json",
        "--config",
        str(other),
        "--set",
        "ovh-like.rack=B07",
        home=home,
    )
    data = result_data(info.stdout)
    assert data["hosterDetails"]["rack"] == "B07" and data["bootMode"] == "uefi"


def _one_error(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 2, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in proc.stderr, proc.stderr
    return errors[0]


def test_typos_in_settings_are_one_line_errors(ovhlike_site: Path, tmp_path: Path) -> None:
    def info(*args: str) -> str:
        return _one_error(
            nixremote(ovhlike_site, "info", "--from-facts", str(CAPTURE), *args, home=tmp_path)
        )

    line = info("--set", "ovh-lik.rack=A12")
    assert "no plugin 'ovh-lik'" in line and "did you mean 'ovh-like'?" in line
    line = info("--set", "ovh-like.rak=A12")
    assert "has no setting 'rak' (did you mean 'rack'?)" in line and "--set ovh-like.rak" in line
    assert "is not true or false" in info("--set", "ovh-like.mirror=maybe")
    assert "is not PLUGIN.KEY=VALUE" in info("--set", "rack=A12")
    bad = tmp_path / "bad.toml"
    bad.write_text("[plugins.ovh-like]\nrak = 1\n")
    line = info("--config", str(bad))
    assert str(bad) in line and "did you mean 'rack'?" in line
    bad.write_text("[plugin.ovh-like]\nrack = 1\n")
    assert "unknown table [plugin] (did you mean 'plugins'?)" in info("--config", str(bad))
    # a disabled plugin's settings are left out, not an error
    off = nixremote(
        ovhlike_site,
        "info",
        "--from-facts",
        str(CAPTURE),
        "--set",
        "ovh-like.rack=A12",
        "--json",
        home=tmp_path,
        NIXREMOTE_DISABLE_PLUGINS="ovh-like",
    )
    assert off.returncode == 0, off.stderr
    assert result_data(off.stdout)["hoster"] == "generic"


def test_a_plan_over_ssh_decides_with_the_settings_and_records_them(
    ovhlike_site: Path, hoster_like_host: NetnsHost, tmp_path: Path
) -> None:
    host = hoster_like_host
    connection = [
        f"root@{host.address}",
        "-i",
        str(host.sshd.identity),
        "--known-hosts",
        str(host.sshd.known_hosts),
        "--hoster",
        "ovh-like",
    ]
    config = tmp_path / "config.toml"
    config.write_text('[plugins.ovh-like]\nrack = "C03"\napi_token = "s3cr3t-from-file"\n')
    out = tmp_path / "plan.json"
    proc = nixremote(
        ovhlike_site,
        "plan",
        *connection,
        "--config",
        str(config),
        "--set",
        "ovh-like.rack=B07",
        "-o",
        str(out),
        home=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    plan = json.loads(out.read_text())
    assert plan["settings"] == {"ovh-like.api_token": "<redacted>", "ovh-like.rack": "B07"}
    assert "s3cr3t" not in out.read_text() and "s3cr3t" not in proc.stdout + proc.stderr
    assert plan["layout"]["name"] == "ovh-like-single"  # one disk: the plugin's own layout
    flake = plan["hostFlake"]
    assert flake["extraModules"][:2] == [
        '{ ovhLike.rack = "B07"; }',
        '{ environment.etc."ovh-like/layout".text = "ovh-like-single"; }',
    ]
    (file,) = flake["files"]
    assert file["path"] == "plugins/ovh-like/ovh-like.nix" and file["module"] is True
    assert file["text"] == (SOURCE / "nix" / "ovh-like.nix").read_text()
    assert flake["inputs"] == [
        {
            "name": "ovhtools",
            "url": "github:example/ovh-tools",
            "flake": True,
            "followsNixpkgs": True,
        }
    ]
    assert "setting:   ovh-like.rack = B07" in proc.stdout
    assert "file:      plugins/ovh-like/ovh-like.nix (module)" in proc.stdout
    # an explicit --layout default is the generic default, even on this hoster
    proc = nixremote(ovhlike_site, "plan", *connection, "--layout", "default", "--json")
    assert proc.returncode == 0, proc.stderr
    assert result_data(proc.stdout)["layout"]["name"] == "default"


def test_install_checks_the_settings_before_it_connects(ovhlike_site: Path, tmp_path: Path) -> None:
    # port 9 of 127.0.0.1 (discard) has nobody listening: a connection attempt would fail
    # differently; the setting is refused first
    line = _one_error(
        nixremote(
            ovhlike_site,
            "install",
            "root@127.0.0.1",
            "-p",
            "9",
            "--dry-run",
            "--set",
            "ovh-like.mirorr=false",
            home=tmp_path,
        )
    )
    assert "plugin 'ovh-like' has no setting 'mirorr' (did you mean 'mirror'?)" in line
