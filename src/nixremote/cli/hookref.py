"""The hook reference as Markdown, from the hook specs (:mod:`nixremote.core.hookspecs`).

``nixremote plugins --hooks`` prints it; the documentation site's ``reference/hooks.md`` is the
same text, generated at build time (``docs/hooks.py``). :func:`rst_to_md` turns the reST of
nixremote's docstrings into Markdown.
"""

from __future__ import annotations

import inspect
import re
import textwrap
from typing import Any


def rst_to_md(text: str) -> str:
    """The reST of nixremote's docstrings (``code``, :func:`x`, :class:`~a.B`) as Markdown."""

    def role(match: re.Match[str]) -> str:
        kind, target = match.group(1), match.group(2)
        short = target.lstrip("~")
        if target.startswith("~"):
            short = short.rsplit(".", 1)[-1]
        return f"`{short}()`" if kind in ("func", "meth") else f"`{short}`"

    text = re.sub(r":(?:py:)?(\w+):`([^`]+)`", role, text)
    text = re.sub(r"``([^`]+)``", r"`\1`", text)
    # reST "::" literal blocks to fenced code.
    out: list[str] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.rstrip().endswith("::"):
            out.append(line.rstrip()[:-1])
            i += 1
            block: list[str] = []
            while i < len(lines) and (not lines[i].strip() or lines[i].startswith("    ")):
                block.append(lines[i])
                i += 1
            out += [
                "",
                "```python",
                *textwrap.dedent("\n".join(block)).strip().splitlines(),
                "```",
                "",
            ]
            continue
        out.append(line)
        i += 1
    return "\n".join(out)


def hook_specs() -> list[tuple[str, Any, dict[str, Any]]]:
    """(name, function, spec options) of every hook spec, in source order."""
    from ..core import hookspecs

    specs = []
    for name, func in vars(hookspecs).items():
        opts = getattr(func, f"{hookspecs.PROJECT}_spec", None)
        if opts is not None and inspect.isfunction(func):
            specs.append((name, func, dict(opts)))
    specs.sort(key=lambda s: s[1].__code__.co_firstlineno)
    return specs


def _signature(name: str, func: Any) -> str:
    sig = inspect.signature(func)
    params = ",\n    ".join(
        f"{p.name}: {p.annotation}" if p.annotation is not inspect.Parameter.empty else p.name
        for p in sig.parameters.values()
    )
    ret = (
        f" -> {sig.return_annotation}"
        if sig.return_annotation is not inspect.Signature.empty
        else ""
    )
    return f"def {name}(\n    {params},\n){ret}: ..."


def _builtin_implementations() -> dict[str, list[str]]:
    """hook name -> the built-in plugins implementing it, with their ordering marks."""
    from ..core.plugins import get_plugin_manager

    pm = get_plugin_manager(autoload=False)
    out: dict[str, list[str]] = {}
    for name in pm.hook.__dict__:
        caller = getattr(pm.hook, name)
        for impl in caller.get_hookimpls():
            marks = [
                m
                for m in ("wrapper", "hookwrapper", "tryfirst", "trylast")
                if getattr(impl, m, False)
            ]
            label = f"`{impl.plugin_name}`" + (f" ({', '.join(marks)})" if marks else "")
            out.setdefault(name, []).append(label)
    return out


def hook_reference(*, site: bool = False) -> str:
    """Markdown of every hook spec: signature, how results combine, documentation (``site``:
    with the note the documentation site shows)."""
    from ..core import hookspecs

    note = [
        '!!! note "Generated"',
        "    This page is generated from `src/nixremote/core/hookspecs.py` at build time "
        "(`docs/hooks.py`); edit the docstrings there. `nixremote plugins --hooks` prints it.",
        "",
    ]
    parts = [
        "# Hook reference",
        "",
        *(note if site else []),
        rst_to_md(inspect.cleandoc(hookspecs.__doc__ or "")),
        "",
        "| Hook | Results | Arguments |",
        "| --- | --- | --- |",
    ]
    specs = hook_specs()
    for name, func, opts in specs:
        combine = (
            "first non-`None` result"
            if opts.get("firstresult")
            else "each plugin's answer"
            if name in hookspecs.PER_PLUGIN_HOOKS
            else "list of results"
        )
        args = ", ".join(f"`{p}`" for p in inspect.signature(func).parameters)
        parts.append(f"| [`{name}`](#{name}) | {combine} | {args} |")
    for name, func, opts in specs:
        flags = []
        if opts.get("firstresult"):
            flags.append("`firstresult`")
        if opts.get("historic"):
            flags.append("`historic`")
        parts += [
            "",
            f"## {name}",
            "",
            "```python",
            "@hookimpl",
            _signature(name, func),
            "```",
            "",
        ]
        if flags:
            parts += ["Spec options: " + ", ".join(flags) + ".", ""]
        builtin = _builtin_implementations().get(name, [])
        if builtin:
            parts += ["Built-in implementations: " + ", ".join(builtin) + ".", ""]
        parts.append(rst_to_md(inspect.cleandoc(func.__doc__ or "")))
    return "\n".join(parts) + "\n"
