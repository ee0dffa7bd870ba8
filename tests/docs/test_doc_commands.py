"""Every ``nixremote ...`` command line shown in the docs exists, with the options it uses.

The docs must never show a command or a flag that this version does not have. This walks the
real click command tree (built-in commands and the commands the built-in plugins register) for
each command line in a shell code block of ``docs/*.md``, without running anything.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest

from nixremote.cli.main import cli

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
SHELL_BLOCK = re.compile(r"^```(?:sh|bash|console|shell)\s*\n(.*?)^```", re.M | re.S)
OPERATORS = {"|", "||", "&&", ";", ">", ">>", "<", "2>", "&"}
# Command lines of plugins that are not installed in the test environment.
FOREIGN = ("nixremote examplecloud",)


def command_lines() -> list[tuple[str, str]]:
    found = []
    for page in sorted(DOCS.rglob("*.md")):
        for block in SHELL_BLOCK.findall(page.read_text(encoding="utf-8")):
            for line in block.replace("\\\n", " ").splitlines():
                line = line.strip()
                line = re.sub(r"^\$\s+", "", line)
                line = re.sub(r"^(?:[A-Z_]+=\S*\s+)+", "", line)  # VAR=value prefixes
                line = re.sub(r"^(?:\S*/)?(?:\.venv/bin/)?nixremote\b", "nixremote", line)
                line = line.replace("$(", "").replace('"', " ")
                if not line.startswith("nixremote ") and line != "nixremote":
                    continue
                if line.startswith(FOREIGN):
                    continue
                found.append((f"{page.relative_to(ROOT)}", line))
    return found


def _options(cmd: click.Command, ctx: click.Context) -> dict[str, click.Parameter]:
    out: dict[str, click.Parameter] = {}
    for param in cmd.get_params(ctx):
        if isinstance(param, click.Option):
            for name in (*param.opts, *param.secondary_opts):
                out[name] = param
    return out


def _takes_value(param: click.Parameter) -> bool:
    return not (isinstance(param, click.Option) and (param.is_flag or param.count))


def _check_choice(param: click.Parameter, value: str, where: str) -> None:
    if isinstance(param.type, click.Choice) and value not in param.type.choices:
        pytest.fail(f"{where}: {value!r} is not one of {list(param.type.choices)}")


def check(line: str, where: str) -> None:
    words = shlex.split(line, comments=True)
    tokens = []
    for word in words[1:]:
        if word in OPERATORS or word.startswith((">", "2>")):
            break
        tokens.append(word)
    cmd: click.Command = cli
    ctx = click.Context(cli, info_name="nixremote", **cli.context_settings)
    path = ["nixremote"]
    positional = 0
    i = 0
    while i < len(tokens):
        token = tokens[i]
        opts = _options(cmd, ctx)
        if token.startswith("-") and token != "-":
            name, eq, _ = token.partition("=")
            param = opts.get(name)
            if (
                param is None
                and re.fullmatch(r"-[A-Za-z]{2,}", token)
                and all(f"-{c}" in opts and not _takes_value(opts[f"-{c}"]) for c in token[1:])
            ):
                i += 1  # bundled short flags such as -vv
                continue
            if param is None:
                pytest.fail(f"{where}: `{' '.join(path)}` has no option {name!r} ({line})")
            if _takes_value(param) and not eq:
                i += 1
                if i >= len(tokens):
                    pytest.fail(f"{where}: option {name} needs a value ({line})")
                _check_choice(param, tokens[i], where)
            i += 1
            continue
        if isinstance(cmd, click.Group):
            sub = cmd.get_command(ctx, token)
            default = getattr(cmd, "default_command", None)
            if sub is None and default is not None:  # `nixremote plan HOST`: the default command
                sub = cmd.get_command(ctx, default)
                assert sub is not None
                cmd, path = sub, [*path, default]
                ctx = click.Context(sub, info_name=default, parent=ctx)
                continue
            if sub is None:
                pytest.fail(f"{where}: `{' '.join(path)}` has no command {token!r} ({line})")
            cmd, path = sub, [*path, token]
            ctx = click.Context(sub, info_name=token, parent=ctx)
            i += 1
            continue
        args = [p for p in cmd.get_params(ctx) if isinstance(p, click.Argument)]
        if (
            args
            and args[-1].nargs == -1
            and positional >= len(args) - 1
            and (cmd.context_settings.get("ignore_unknown_options"))
        ):
            break  # the rest is passed through verbatim (nixremote vm ssh COMMAND...)
        capacity = sum(a.nargs for a in args) if all(a.nargs >= 0 for a in args) else None
        if capacity is not None and positional >= capacity:
            pytest.fail(f"{where}: `{' '.join(path)}` takes {capacity} argument(s) ({line})")
        if positional < len(args):
            _check_choice(args[positional], token, where)
        positional += 1
        i += 1


LINES = command_lines()


def test_the_docs_show_commands() -> None:
    assert len(LINES) >= 20, LINES


@pytest.mark.parametrize(("where", "line"), LINES, ids=[line for _, line in LINES])
def test_documented_command_exists(where: str, line: str) -> None:
    check(line, where)


def test_the_checker_catches_a_made_up_flag() -> None:
    with pytest.raises(pytest.fail.Exception, match="no option '--frobnicate'"):
        check("nixremote plugins --frobnicate", "test")
    with pytest.raises(pytest.fail.Exception, match="no command 'teleport'"):
        check("nixremote teleport", "test")
    with pytest.raises(pytest.fail.Exception, match="not one of"):
        check("nixremote completion tcsh", "test")


def test_cli_reference_lists_every_command_and_option() -> None:
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location("nixremote_docs_hooks", DOCS / "hooks.py")
    assert spec is not None and spec.loader is not None
    docs = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = docs
    spec.loader.exec_module(docs)
    page = docs.cli_reference()
    commands = docs.commands()
    assert len(commands) >= 10
    for path, cmd, ctx in commands:
        title = " ".join(["nixremote", *path])
        assert f"`{title}`" in page, title
        for param in cmd.get_params(ctx):
            if isinstance(param, click.Option) and not param.hidden:
                hidden_aliases = getattr(param, "aliases", ())  # shown only as the main name
                for opt in (o for o in param.opts if o not in hidden_aliases):
                    assert opt in page, f"{title} {opt}"


def test_the_readme_starts_with_the_two_commands_of_a_new_machine() -> None:
    """The README's first commands: set up and run the main job (the demo on the test VM), then
    the tests; CI runs exactly the second (.ci/run); CONTRIBUTING.md says the same."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    first = SHELL_BLOCK.findall(readme)[0].strip().splitlines()
    assert first == ["bash scripts/setup.sh && bash scripts/demo.sh", "bash scripts/test.sh"]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert ci[-2:] == ["bash scripts/setup.sh", "bash scripts/test.sh"]


def test_getting_started_repeats_the_readme_user_commands() -> None:
    """The README's second and third blocks (install nixremote, then plan/install/unlock) are
    where getting started begins."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    user_blocks = SHELL_BLOCK.findall(readme)[1:3]
    assert len(user_blocks) == 2
    page = (DOCS / "getting-started.md").read_text(encoding="utf-8")
    for block in user_blocks:
        for line in block.strip().splitlines():
            assert line in page, f"getting-started.md must show the README's {line!r}"
