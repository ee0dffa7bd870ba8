"""``nixremote completion SHELL`` prints click's completion script, and the script's protocol
answers completions from the real command tree."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

NIXREMOTE = [sys.executable, "-m", "nixremote.cli.main"]


@pytest.mark.parametrize(
    ("shell", "marker"),
    [
        ("bash", "complete -o nosort -F _nixremote_completion nixremote"),
        ("zsh", "compdef _nixremote_completion nixremote"),
        ("fish", "complete --no-files --command nixremote"),
    ],
)
def test_prints_the_script(shell: str, marker: str) -> None:
    out = subprocess.run(
        [*NIXREMOTE, "completion", shell], capture_output=True, text=True, check=True
    )
    assert marker in out.stdout
    assert "_NIXREMOTE_COMPLETE" in out.stdout


def test_unknown_shell_is_a_usage_error() -> None:
    out = subprocess.run([*NIXREMOTE, "completion", "tcsh"], capture_output=True, text=True)
    assert out.returncode == 2
    assert "'tcsh' is not one of" in out.stderr


def _complete(words: str, cword: int) -> list[str]:
    env = dict(
        os.environ, COMP_WORDS=words, COMP_CWORD=str(cword), _NIXREMOTE_COMPLETE="bash_complete"
    )
    out = subprocess.run(NIXREMOTE, env=env, capture_output=True, text=True, check=True)
    return out.stdout.split()


def test_completes_command_names() -> None:
    assert "plain,plugins" in _complete("nixremote pl", 1)
    assert "plain,runtime-info" in _complete("nixremote run", 1)


def test_completes_choices_and_options() -> None:
    assert _complete("nixremote completion ", 2) == ["plain,bash", "plain,fish", "plain,zsh"]
    assert "plain,--json" in _complete("nixremote plugins --", 2)


def test_bash_accepts_the_script() -> None:
    assert shutil.which("bash"), "bash is needed to load the completion script"
    script = subprocess.run(
        [*NIXREMOTE, "completion", "bash"], capture_output=True, text=True, check=True
    ).stdout
    check = subprocess.run(
        ["bash", "-c", script + "\ncomplete -p nixremote"], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stderr
    assert "_nixremote_completion" in check.stdout
