"""Checking Nix text from plugins while planning, so a typo fails the plan, not the install.

:func:`check_nix` parses a Nix expression or file with Nix's own parser,
``nix-instantiate --parse`` (with ``--store dummy://``: nothing is read or written), when Nix is
installed on the controller. Most controllers have no Nix: then :func:`sanity_check` looks at
what a syntax error usually is, in pure Python: brackets (``( ) [ ] { } ${ }``) that do not
pair up, a string (``"..."``, ``''...''``) or a comment (``/* */``) left open, and empty text.
It accepts some text Nix would refuse (``{ a = ; }``); the installer's ``nixos-install`` parses
everything again, and nixremote's tests parse every module with Nix itself.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from ..core.errors import PlanError

NIX_INSTANTIATE_ENV = "NIXREMOTE_NIX_INSTANTIATE"
"""Names the ``nix-instantiate`` to use; empty: use none (the Python check only)."""

_PAIRS = {"(": ")", "[": "]", "{": "}", "${": "}"}
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_'-]*")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class NixSyntaxError(ValueError):
    """What is wrong, and where (1-based line and column)."""

    def __init__(self, message: str, line: int, column: int) -> None:
        super().__init__(f"{message} at line {line}, column {column}")


def _position(text: str, index: int) -> tuple[int, int]:
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


def sanity_check(text: str) -> None:
    """Raise :class:`NixSyntaxError` for unpaired brackets, open strings or comments, or text
    with no expression (see the module documentation)."""
    stack: list[tuple[str, int]] = []  # ("(" | "[" | "{" | "${", index) or ('"' | "''", index)
    i, n = 0, len(text)
    saw_code = False

    def fail(message: str, at: int) -> NixSyntaxError:
        return NixSyntaxError(message, *_position(text, at))

    while i < n:
        mode = stack[-1][0] if stack else None
        c = text[i]
        if mode == '"':
            if c == "\\":
                i += 2
            elif c == '"':
                stack.pop()
                i += 1
            elif text.startswith("${", i):
                stack.append(("${", i))
                i += 2
            elif c == "$" and i + 1 < n and text[i + 1] not in '"\\':
                i += 2
            else:
                i += 1
            continue
        if mode == "''":
            if text.startswith("'''", i) or text.startswith("''$", i):
                i += 3
            elif text.startswith("''\\", i):
                i += 4
            elif text.startswith("''", i):
                stack.pop()
                i += 2
            elif text.startswith("${", i):
                stack.append(("${", i))
                i += 2
            elif c == "$" and i + 1 < n and text[i + 1] != "'":
                i += 2
            else:
                i += 1
            continue
        # expression context
        if c.isspace():
            i += 1
        elif c == "#":
            end = text.find("\n", i)
            i = n if end < 0 else end + 1
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            if end < 0:
                raise fail("comment /* is never closed", i)
            i = end + 2
        elif c == '"' or text.startswith("''", i):
            saw_code = True
            stack.append((c if c == '"' else "''", i))
            i += 1 if c == '"' else 2
        elif text.startswith("${", i) or c in "([{":
            saw_code = True
            token = "${" if c == "$" else c
            stack.append((token, i))
            i += len(token)
        elif c in ")]}":
            if not stack or _PAIRS.get(stack[-1][0]) != c:
                opened = ""
                if stack:
                    opened = f" (the {stack[-1][0]} at line {_position(text, stack[-1][1])[0]})"
                raise fail(f"unexpected {c!r}{opened}", i)
            stack.pop()
            i += 1
        else:
            saw_code = True
            match = _IDENT.match(text, i)
            i = match.end() if match else i + 1
    if stack:
        token, at = stack[-1]
        what = {'"': "string", "''": "indented string ''"}.get(token, f"{token!r}")
        raise fail(f"{what} is never closed", at)
    if not saw_code:
        raise NixSyntaxError("no expression", 1, 1)


def nix_instantiate() -> str | None:
    """The ``nix-instantiate`` to parse with: ``$NIXREMOTE_NIX_INSTANTIATE`` when set (empty:
    none), else the one on ``PATH``."""
    if NIX_INSTANTIATE_ENV in os.environ:
        return os.environ[NIX_INSTANTIATE_ENV] or None
    return shutil.which("nix-instantiate")


EXPRESSION_SCOPE = "inputs@{ self, nixremote, ... }:"
"""What is in scope of a module expression in the host flake's ``modules`` list."""


def nix_parse(text: str, nix: str, *, scope: str = "") -> None:
    """Parse ``text`` with ``nix-instantiate --parse`` (``scope``: a function head whose
    arguments are in scope, on a line of its own before ``text``); a syntax error (or a
    variable that is not defined) raises :class:`NixSyntaxError` with Nix's message. Nix's own
    failures raise ``OSError``."""
    with tempfile.TemporaryDirectory(prefix="nixremote-parse-") as tmp:
        path = Path(tmp) / "plugin.nix"
        path.write_text(f"{scope}\n(\n{text}\n)\n" if scope else text, encoding="utf-8")
        result = subprocess.run(
            [nix, "--parse", "--store", "dummy://", str(path)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env={**os.environ, "NIX_REMOTE": ""},
        )
    if result.returncode == 0:
        return
    lines = [_ANSI.sub("", line).strip() for line in result.stderr.splitlines()]
    errors = [line.removeprefix("error: ") for line in lines if line.startswith("error:")]
    where = next((line for line in lines if line.startswith("at ") and str(path) in line), "")
    found = re.search(r":(\d+):(\d+)", where)
    if errors and found:
        line, column = int(found.group(1)) - (2 if scope else 0), int(found.group(2))
        last = text.count("\n") + 1
        if line > last:  # in the closing parenthesis around an expression: at its end
            line, column = last, len(text.rsplit("\n", 1)[-1]) + 1
        raise NixSyntaxError(errors[0], max(line, 1), column)
    raise OSError(f"{nix} --parse failed: {' | '.join(lines[-3:]) or result.returncode}")


def check_nix(text: str, *, what: str, nix: str | None = None, expression: bool = False) -> str:
    """Check Nix ``text`` (``what`` names it in the error: ``plugin 'x': file a.nix``); with
    ``expression``, as an element of the host flake's ``modules`` list (``inputs``, ``self``
    and ``nixremote`` in scope). Returns which checker ran (``nix-instantiate`` or
    ``python``); ``nix`` is the ``nix-instantiate`` to use (default: :func:`nix_instantiate`).
    A syntax error is a :class:`~nixremote.core.errors.PlanError`."""
    nix = nix if nix is not None else nix_instantiate()
    try:
        if nix:
            try:
                nix_parse(text, nix, scope=EXPRESSION_SCOPE if expression else "")
                return "nix-instantiate"
            except OSError:
                pass  # Nix itself is broken here: the Python check still runs
        sanity_check(text)
        return "python"
    except NixSyntaxError as exc:
        raise PlanError(f"{what} does not parse: {exc}", hint="fix the plugin's Nix text") from None
