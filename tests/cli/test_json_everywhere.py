"""Every command that reports something takes ``--json`` (issue: command-line polish), and the
global ``-v``/``-q`` exist. Commands whose whole output is an artifact in another language (a
shell script, Nix, GRUB lines) are the exceptions, named here."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parents[2]
ARTIFACT_COMMANDS = {
    "completion",  # a shell script
    "disk disko",  # a Nix expression
    "kexec grub-snippet",  # GRUB console lines
    "vm ssh",  # an interactive shell, or the remote command's own output
    "installer follow",  # the followed run's own output (JSON lines when it runs with --json)
}


def _commands():
    spec = importlib.util.spec_from_file_location("nixremote_docs_hooks", ROOT / "docs/hooks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module.commands()


def test_every_reporting_command_has_json() -> None:
    leaves = {}
    for path, cmd, ctx in _commands():
        if isinstance(cmd, click.Group):
            continue
        opts = {o for p in cmd.get_params(ctx) if isinstance(p, click.Option) for o in p.opts}
        leaves[" ".join(path)] = "--json" in opts
    assert {"info", "install", "plugins", "runtime-info check"} <= set(leaves)
    missing = sorted(
        name for name, has in leaves.items() if not has and name not in ARTIFACT_COMMANDS
    )
    assert not missing, f"commands without --json: {missing}"


def test_global_verbosity_options() -> None:
    from nixremote.cli.main import cli

    opts = {o for p in cli.params for o in getattr(p, "opts", ())}
    assert {"-v", "--verbose", "-q", "--quiet", "-V", "--version"} <= opts


def test_json_output_parses() -> None:
    original = ROOT / "tests" / "data" / "original-shape.json"
    for argv in (["plugins", "--json"], ["runtime-info", "check", "--json", str(original)]):
        out = subprocess.run(
            [sys.executable, "-m", "nixremote.cli.main", *argv],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        json.loads(out.stdout)
        assert "\x1b[" not in out.stdout + out.stderr, "no terminal escapes when not on a tty"
