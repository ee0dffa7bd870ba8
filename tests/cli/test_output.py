"""Text from the target through the real renderer: shown as it is, never read as markup.

A line the installer prints (here: a ``nixos-install`` line holding rich markup and an escape
sequence) travels as a JSON event, is parsed back by the controller and rendered by the rich
progress renderer on a terminal: it must not crash it, ``[link=...]`` must not become a link,
and no escape sequence of the target's may reach the terminal.
"""

from __future__ import annotations

import io
import json
import sys

import click
import pytest

from nixremote.cli.output import plain, progress_reporter, safe
from nixremote.core.progress import Event, event_from_json

HOSTILE = (
    "copying path '/nix/store/abc-[/bold]' [link=https://evil.example]click[/link] "
    "[bold red]FAKE ERROR[/] \\[x] \x1b]0;pwned\x07\x1b[2J end\\"
)


class Terminal(io.StringIO):
    """A stderr that says it is a terminal (so the rich renderer is used)."""

    def isatty(self) -> bool:
        return True


def render(events: list[Event], monkeypatch: pytest.MonkeyPatch) -> str:
    term = Terminal()
    monkeypatch.setattr(sys, "stderr", term)
    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.delenv("NO_COLOR", raising=False)
    with click.Context(click.Command("test")), progress_reporter() as reporter:
        for event in events:
            reporter(event)
    return term.getvalue()


def installer_line(message: str, kind: str = "step") -> Event:
    event = event_from_json(json.dumps({"kind": kind, "message": message, "phase": "install"}))
    assert event is not None
    return event


def test_markup_in_an_installer_line_is_shown_not_read(monkeypatch: pytest.MonkeyPatch) -> None:
    events = [
        installer_line(HOSTILE),
        installer_line(HOSTILE, kind="warning"),
        installer_line("[/]", kind="done"),
        Event(kind="progress", message="upload [/x] [link=y]z", phase="[/p]", current=1, total=2),
    ]
    out = render(events, monkeypatch)
    assert "\x1b]8;" not in out  # no hyperlink
    assert "\x1b]0;" not in out and "\x1b[2J" not in out and "\x07" not in out
    assert "[link=https://evil.example]click[/link]" in out
    assert "[bold red]FAKE ERROR[/]" in out and "[/bold]" in out and "\\[x]" in out
    assert "\\x1b]0;pwned\\x07" in out  # the escape sequence shown, harmless
    assert "end\\" in out


def test_unescaped_markup_would_have_crashed_the_renderer() -> None:
    """The case above is a real one: rich refuses such text as markup."""
    from rich.console import Console
    from rich.errors import MarkupError

    with pytest.raises(MarkupError):
        Console(file=io.StringIO()).print(f"[green]{HOSTILE}[/green]")
    Console(file=io.StringIO()).print(f"[green]{safe(HOSTILE)}[/green]")


def test_plain_lines_show_control_characters(capsys: pytest.CaptureFixture[str]) -> None:
    with click.Context(click.Command("test")), progress_reporter() as reporter:
        reporter(installer_line("a\x1b[31mb\nc [/x]"))
    err = capsys.readouterr().err
    assert err == "[install] a\\x1b[31mb\\x0ac [/x]\n"
    assert plain("tab\tstays") == "tab\tstays"


def test_fields_of_the_wrong_type_are_dropped() -> None:
    event = event_from_json(
        json.dumps({"kind": "step", "message": "m", "phase": ["x"], "current": "1", "data": [1, 2]})
    )
    assert event == Event(kind="step", message="m")
    assert event_from_json("[" * 100_000) is None
