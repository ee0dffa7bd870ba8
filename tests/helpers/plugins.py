"""Installing plugin distributions for a test, the way a user would (pip), into a directory that
the test puts on ``PYTHONPATH``."""

from __future__ import annotations

import contextlib
import importlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

from .paths import PLUGINS

OVHLIKE = PLUGINS / "ovhlike"
"""The OVH-like test plugin: every seam of the plugin API, through the public API only."""


def pip_install(project: Path, target: Path) -> Path:
    """Install the distribution at ``project`` into ``target`` with pip (no dependencies:
    nixremote is already importable). It is built from a copy, so no ``build/`` or
    ``*.egg-info`` lands in the source tree."""
    with tempfile.TemporaryDirectory(prefix="nixremote-plugin-build-") as tmp:
        source = Path(tmp) / project.name
        shutil.copytree(project, source, ignore=shutil.ignore_patterns("build", "*.egg-info"))
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--no-deps",
                "--no-build-isolation",
                "--disable-pip-version-check",
                "--target",
                str(target),
                str(source),
            ],
            check=True,
            capture_output=True,
            timeout=300,
        )
    return target


def env_with(site: Path) -> dict[str, str]:
    """The environment with ``site`` first on ``PYTHONPATH`` and plugin loading enabled."""
    env = dict(os.environ)
    # absolute, so that a subprocess in another directory imports the same nixremote
    inherited = [str(Path(p).resolve()) for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join([str(site), *inherited])
    env.pop("NIXREMOTE_DISABLE_PLUGINS", None)
    env.pop("NIXREMOTE_DISABLE_PLUGIN_AUTOLOAD", None)
    return env


@contextlib.contextmanager
def imported(site: Path, module: str) -> Iterator[ModuleType]:
    """``module`` imported from the pip-installed ``site`` (on ``sys.path`` for the block only,
    so no other test's plugin manager autoloads it afterwards)."""
    sys.path.insert(0, str(site))
    try:
        yield importlib.import_module(module)
    finally:
        sys.path.remove(str(site))
