"""``nixremote completion SHELL``: print the shell completion script for bash, zsh or fish."""

from __future__ import annotations

import click
from click.shell_completion import get_completion_class

COMPLETE_VAR = "_NIXREMOTE_COMPLETE"
"""The environment variable click's completion scripts set when they ask for completions."""

INSTALL = {
    "bash": 'eval "$(nixremote completion bash)"   # in ~/.bashrc',
    "zsh": 'eval "$(nixremote completion zsh)"    # in ~/.zshrc',
    "fish": "nixremote completion fish > ~/.config/fish/completions/nixremote.fish",
}


@click.command("completion")
@click.argument("shell", type=click.Choice(sorted(INSTALL)))
def completion_cmd(shell: str) -> None:
    """Print the completion script for SHELL (bash, zsh or fish).

    \b
    bash:  eval "$(nixremote completion bash)"   in ~/.bashrc
    zsh:   eval "$(nixremote completion zsh)"    in ~/.zshrc
    fish:  nixremote completion fish > ~/.config/fish/completions/nixremote.fish
    """
    from .main import cli

    cls = get_completion_class(shell)
    assert cls is not None  # the Choice above only admits shells click supports
    script = cls(cli, {}, "nixremote", COMPLETE_VAR).source()
    click.echo(script, nl=not script.endswith("\n"))
