"""One vocabulary (issue 20): every command's options walked, the same name and short form for
the same thing everywhere, old and borrowed names only as hidden aliases, ports range-checked,
the same connection options on every command that connects, the global options after the
command, "did you mean" at every level and one refusal text without a terminal."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from nixremote.cli.main import GLOBAL_OPTIONS, cli
from nixremote.core.clialiases import AliasOption
from nixremote.core.phases import parse_phases

SHORT = {
    "--yes": "-y",
    "--identity": "-i",
    "--port": "-p",
    "--jump": "-J",
    "--ssh-config": "-F",
    "--output": "-o",
}
"""A long name and the short form it has wherever it appears."""

HIDDEN_ONLY = {"--key-file", "--ssh-port", "--kexec", "--post-kexec-ssh-port"}
"""Old or nixos-anywhere names: accepted, never shown in --help."""

CONNECTION = {"-p", "-i", "-J", "-F", "--known-hosts", "--connect-timeout"}
"""What every command that connects to a [USER@]HOST takes."""


def walk() -> list[tuple[str, click.Command, click.Context]]:
    """Every command, hidden ones too (``plan make`` is the hidden default of ``plan``)."""
    out: list[tuple[str, click.Command, click.Context]] = []

    def visit(cmd: click.Command, path: list[str], ctx: click.Context) -> None:
        out.append((" ".join(path), cmd, ctx))
        if isinstance(cmd, click.Group):
            for name in cmd.list_commands(ctx):
                sub = cmd.get_command(ctx, name)
                if sub is not None:
                    visit(sub, [*path, name], click.Context(sub, info_name=name, parent=ctx))

    visit(cli, [], click.Context(cli, info_name="nixremote"))
    return out


def options(cmd: click.Command, ctx: click.Context) -> list[click.Option]:
    return [p for p in cmd.get_params(ctx) if isinstance(p, click.Option)]


def shown(option: click.Option) -> set[str]:
    aliases = set(option.aliases) if isinstance(option, AliasOption) else set()
    return set(option.opts) - aliases


def test_the_walk_sees_every_command() -> None:
    names = {path for path, _, _ in walk()}
    assert {"info", "install", "plan make", "unlock", "disk apply", "hetzner delete"} <= names


def test_one_short_form_per_name_and_no_old_names_shown() -> None:
    shorts: dict[str, set[str]] = {}
    faults = []
    for path, cmd, ctx in walk():
        for opt in options(cmd, ctx):
            if opt.hidden:
                continue
            names = shown(opt)
            faults += [f"{path}: {n} shown" for n in names & HIDDEN_ONLY]
            for long, short in SHORT.items():
                if long in names and short not in names:
                    faults.append(f"{path}: {long} without {short}")
            longs = {n for n in names if n.startswith("--")}
            for short in (n for n in names if not n.startswith("--")):
                shorts.setdefault(short, set()).update(longs)
    faults += [f"{s} means {sorted(longs)}" for s, longs in shorts.items() if len(longs) > 1]
    assert not faults, faults


def test_aliases_parse_and_stay_out_of_help() -> None:
    runner = CliRunner()
    for argv, hidden in (
        (["disk", "apply", "--help"], "--key-file"),
        (["hetzner", "create", "--help"], "--ssh-port"),
        (["install", "--help"], "--kexec"),
        (["install", "--help"], "--post-kexec-ssh-port"),
    ):
        result = runner.invoke(cli, argv)
        assert result.exit_code == 0, result.output
        assert f"{hidden} " not in result.output and f"{hidden}," not in result.output
    for path, name, alias, value in (
        ("disk apply", "key_file", "--key-file", "/k"),
        ("hetzner create", "ssh_port", "--ssh-port", "2200"),
        ("install", "installer_port", "--post-kexec-ssh-port", "2201"),
    ):
        cmd = dict((p, c) for p, c, _ in walk())[path]
        args = [alias, value] + (["x"] if path != "disk apply" else ["f.json"])
        ctx = cmd.make_context(path, args)
        assert str(ctx.params[name]) == value


def test_ports_are_range_checked_everywhere() -> None:
    faults = []
    for path, cmd, ctx in walk():
        for opt in options(cmd, ctx):
            if opt.name and opt.name.endswith("port"):
                t = opt.type
                if not (isinstance(t, click.IntRange) and (t.min, t.max) == (1, 65535)):
                    faults.append(f"{path} {opt.opts}")
    assert not faults, faults
    result = CliRunner().invoke(cli, ["info", "root@127.0.0.1", "-p", "70000"])
    assert result.exit_code == 2
    assert "70000 is not in the range" in result.output
    assert "--ssh-port" not in result.output  # the error names the option as --help does


def test_every_connecting_command_has_the_connection_options() -> None:
    connecting = []
    for path, cmd, ctx in walk():
        args = [p for p in cmd.get_params(ctx) if isinstance(p, click.Argument)]
        if any(a.metavar == "[USER@]HOST" for a in args):
            connecting.append(path)
            names = {n for o in options(cmd, ctx) for n in shown(o)}
            assert names >= CONNECTION, (path, CONNECTION - names)
    assert {"info", "install", "plan make", "unlock"} <= set(connecting)


def test_every_json_option_is_the_shared_one() -> None:
    from nixremote.cli.output import json_option

    reference = json_option(click.Command("x")).params[0]
    found = 0
    for path, cmd, ctx in walk():
        if path.startswith("installer"):
            continue  # the installer's --json is its wire protocol to the controller
        for opt in options(cmd, ctx):
            if "--json" in opt.opts:
                found += 1
                assert opt.callback is reference.callback, path
                assert opt.help == reference.help, path
    assert found >= 15


def test_global_options_after_the_command() -> None:
    for path, cmd, ctx in walk():
        if not path or cmd.context_settings.get("ignore_unknown_options"):
            continue
        names = {n for p in cmd.get_params(ctx) for n in getattr(p, "opts", ())}
        assert set(GLOBAL_OPTIONS) <= names, path
    proc = subprocess.run(
        [sys.executable, "-m", "nixremote.cli.main", "plugins", "-v", "-q", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1].startswith('{"data"')


@pytest.mark.parametrize(
    ("argv", "best"),
    [(["instal"], "install"), (["hetzner", "creat"], "create"), (["disk", "aply"], "apply")],
)
def test_did_you_mean_at_every_level(argv: list[str], best: str) -> None:
    result = CliRunner().invoke(cli, argv)
    assert result.exit_code == 2
    assert "Did you mean" in result.output and repr(best) in result.output


def test_one_refusal_without_a_terminal(tmp_path: Path) -> None:
    key = tmp_path / "key"
    key.write_text("a good passphrase\n")
    runs = {
        "install": ["install", "root@127.0.0.1", "--phases", "format", "--disk-key-file", str(key)],
        "hetzner delete": ["hetzner", "delete", "web1"],
    }
    for name, argv in runs.items():
        proc = subprocess.run(
            [sys.executable, "-m", "nixremote.cli.main", *argv],
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=60,
            env={**os.environ, "HCLOUD_TOKEN": "x" * 64},
        )
        assert proc.returncode == 4, (name, proc.stderr)
        assert "without confirmation (no terminal to ask on)" in proc.stderr, name
        assert "pass --yes to confirm" in proc.stderr, name


def test_nixos_anywhere_phase_names() -> None:
    assert parse_phases("kexec,disko,install") == ("kexec", "format", "install")


def test_durations_are_range_checked_everywhere() -> None:
    faults = []
    for path, cmd, ctx in walk():
        if path.startswith("installer"):
            continue
        for opt in options(cmd, ctx):
            if opt.name and (opt.name.endswith("timeout") or opt.name == "wait"):
                t = opt.type
                if not (isinstance(t, click.FloatRange) and t.min == 0):
                    faults.append(f"{path} {opt.opts}")
    assert not faults, faults
    result = CliRunner().invoke(cli, ["info", "root@127.0.0.1", "--connect-timeout", "-1"])
    assert result.exit_code == 2 and "not in the range" in result.output
