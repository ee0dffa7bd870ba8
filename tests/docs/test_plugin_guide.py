"""The plugin guide reads as plain Markdown in the repository: the code it shows is the
example's own (verbatim excerpts, no include directives), it names every hook, and the fact
sections table of ``plugin-testing.md`` is complete and names parsers that exist."""

from __future__ import annotations

import importlib
import re

import pytest

from helpers.paths import REPO
from nixremote.controller.probe import SECTIONS
from nixremote.core import hookspecs

DOCS = REPO / "docs"
GUIDE = (DOCS / "plugins.md").read_text(encoding="utf-8")
TESTING = (DOCS / "plugin-testing.md").read_text(encoding="utf-8")
EXCERPT = re.compile(r"<!-- from: (\S+) -->\n```\w*\n(.*?)^```", re.M | re.S)
EXCERPTS = EXCERPT.findall(GUIDE)


def test_the_guides_include_nothing() -> None:
    for text in (GUIDE, TESTING):
        assert "--8<--" not in text


def test_the_guide_shows_the_examples_code() -> None:
    files = {path for path, _ in EXCERPTS}
    assert {
        "examples/hoster-plugin/pyproject.toml",
        "examples/hoster-plugin/src/nixremote_examplecloud/plugin.py",
        "examples/hoster-plugin/tests/test_plugin.py",
    } <= files
    assert len(EXCERPTS) >= 9


@pytest.mark.parametrize(
    ("path", "code"), EXCERPTS, ids=[f"{p}[{i}]" for i, (p, _) in enumerate(EXCERPTS)]
)
def test_each_excerpt_is_verbatim_in_its_file(path: str, code: str) -> None:
    source = (REPO / path).read_text(encoding="utf-8")
    assert code in source, f"the guide's excerpt of {path} is not in the file:\n{code}"


def test_the_guide_names_every_hook() -> None:
    names = [n for n, f in vars(hookspecs).items() if hasattr(f, f"{hookspecs.PROJECT}_spec")]
    table = GUIDE.split("## What a plugin can do", 1)[1].split("\n## ", 1)[0]
    for name in names:
        assert f"| `{name}` |" in table, name


ROW = re.compile(r"^\| `([a-z0-9-]+)` \| (.+?) \| (.+?) \|$", re.M)


def _resolve(reference: str) -> object:
    dotted = (
        reference if reference.startswith("nixremote.") else ("nixremote.controller." + reference)
    )
    module, _, attr = dotted.rpartition(".")
    return getattr(importlib.import_module(module), attr)


def test_every_fact_section_is_documented_with_what_reads_it() -> None:
    table = TESTING.split("## The fact sections", 1)[1].split("\n## ", 1)[0]
    rows = ROW.findall(table)
    assert [name for name, _, _ in rows] == [*(n for n, _ in SECTIONS), "probe-status"]
    for name, _produced, read in rows:
        references = re.findall(r"`((?:nixremote\.|parsers\.)[\w.]+)`", read)
        if name.startswith("dmi-"):
            assert "detect_hoster" in read
            continue
        assert references, name
        for reference in references:
            assert callable(_resolve(reference)), reference
