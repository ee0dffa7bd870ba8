"""Packaging: ``python -m build`` makes an sdist and a wheel; the wheel carries ``py.typed`` and
the Nix templates; installed into a fresh venv (dependencies from PyPI) it runs
``nixremote --version`` and ``nixremote plugins``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

import nixremote

ROOT = Path(__file__).resolve().parents[2]
FRESH = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
"""The environment of the fresh venv's commands: without the PYTHONPATH of this test run, which
may name the source tree (and its build's ``nixremote.egg-info``: pip would take nixremote for
installed)."""


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    result = subprocess.run(
        # No --sdist/--wheel: build makes the sdist, then the wheel from the sdist (so the sdist
        # must be complete, and no stale build/ directory of the tree leaks into the wheel).
        [sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def venv(dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    env_dir = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", str(env_dir)], check=True, timeout=300)
    (wheel,) = dist.glob("nixremote-*.whl")
    result = subprocess.run(
        [
            str(env_dir / "bin/python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            str(wheel),
        ],
        capture_output=True,
        text=True,
        timeout=900,
        env=FRESH,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return env_dir


def _wheel_names(dist: Path) -> set[str]:
    (wheel,) = dist.glob(f"nixremote-{nixremote.__version__}-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        return set(zf.namelist())


def test_wheel_carries_py_typed(dist: Path) -> None:
    assert "nixremote/py.typed" in _wheel_names(dist)


def test_wheel_carries_the_nix_templates(dist: Path) -> None:
    names = _wheel_names(dist)
    data = ROOT / "src" / "nixremote" / "data"
    expected = {
        "nixremote/" + p.relative_to(data.parent).as_posix()
        for p in data.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    assert "nixremote/data/templates/host/flake.nix" in expected
    missing = expected - names
    assert not missing, f"not in the wheel: {sorted(missing)}"


def test_wheel_has_the_entry_points(dist: Path) -> None:
    (wheel,) = dist.glob("nixremote-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        ep = next(n for n in zf.namelist() if n.endswith(".dist-info/entry_points.txt"))
        text = zf.read(ep).decode()
    assert "nixremote = nixremote.cli:main" in text
    assert "[pytest11]" in text and "nixremote.testing.pytest_plugin" in text


def test_sdist_carries_the_sources(dist: Path) -> None:
    (sdist,) = dist.glob("nixremote-*.tar.gz")
    with tarfile.open(sdist) as tf:
        names = {n.split("/", 1)[1] for n in tf.getnames() if "/" in n}
    assert "pyproject.toml" in names
    assert "src/nixremote/py.typed" in names
    assert "src/nixremote/core/hookspecs.py" in names


def test_installed_wheel_runs(venv: Path) -> None:
    exe = venv / "bin" / "nixremote"
    version = subprocess.run(
        [str(exe), "--version"], capture_output=True, text=True, timeout=120, check=True, env=FRESH
    )
    assert version.stdout.strip() == f"nixremote, version {nixremote.__version__}"
    plugins = subprocess.run(
        [str(exe), "plugins", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        env=FRESH,
    )
    names = [p["name"] for p in json.loads(plugins.stdout.splitlines()[-1])["data"]["plugins"]]
    assert names[:2] == ["generic", "hetzner"]
    table = subprocess.run(
        [str(exe), "plugins"], capture_output=True, text=True, timeout=120, check=True, env=FRESH
    )
    assert "nixremote.hosters.hetzner" in table.stdout


def test_installed_wheel_is_not_the_source_tree(venv: Path) -> None:
    where = subprocess.run(
        [str(venv / "bin/python"), "-c", "import nixremote, sys; print(nixremote.__file__)"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd="/",
        env=FRESH,
    ).stdout.strip()
    assert where.startswith(str(venv)), where
    # The templates are readable through importlib.resources from the installed wheel.
    check = subprocess.run(
        [
            str(venv / "bin/python"),
            "-c",
            "from importlib.resources import files;"
            "print(files('nixremote').joinpath('data/templates/host/flake.nix').is_file())",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd="/",
        env=FRESH,
    )
    assert check.stdout.strip() == "True"
