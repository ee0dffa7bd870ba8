"""The documentation site builds with ``mkdocs build --strict``: every page, link, anchor,
included example file and API page resolves, and the generated references are in it."""

from __future__ import annotations

import re
from pathlib import Path

from nixremote.core import hookspecs

ROOT = Path(__file__).resolve().parents[2]


def _page(site: Path, name: str) -> str:
    return (site / name / "index.html").read_text(encoding="utf-8")


def test_every_nav_page_is_built(site: Path) -> None:
    for name in (
        "getting-started",
        "architecture",
        "commands",
        "hetzner",
        "fleets",
        "security",
        "troubleshooting",
        "exit-codes",
        "plugins",
        "plugin-testing",
        "python-api",
        "kexec-bundle",
        "nix",
        "reference/cli",
        "reference/hooks",
        "reference/runtime-info",
    ):
        assert (site / name / "index.html").is_file(), name
    assert (site / "index.html").is_file()
    assert not (site / "hooks.py").exists(), "the MkDocs hook must not be published"


def test_hook_reference_is_generated(site: Path) -> None:
    page = _page(site, "reference/hooks")
    names = [n for n, f in vars(hookspecs).items() if hasattr(f, "nixremote_spec")]
    assert len(names) >= 4
    for name in names:
        assert f'id="{name}"' in page, name


def test_runtime_info_reference_marks_original_fields(site: Path) -> None:
    page = _page(site, "reference/runtime-info")
    marked = re.findall(r"<code>(\w+)</code> <strong>original</strong>", page)
    assert sorted(marked) == ["diskToFormat", "hostId", "hostName", "rootAuthorizedKeys"]
    assert "networkInterfaceModule" in page and "prefixLength" in page


def test_cli_reference_lists_the_commands(site: Path) -> None:
    page = _page(site, "reference/cli")
    for command in ("nixremote completion", "nixremote plugins", "nixremote runtime-info check"):
        assert command in page


def test_plugin_guide_includes_the_example_sources(site: Path) -> None:
    page = _page(site, "plugins")
    source = (ROOT / "examples/hoster-plugin/src/nixremote_examplecloud/plugin.py").read_text()
    assert "nixremote_examplecloud.plugin" in page
    # The first hook implementation's docstring is on the page verbatim.
    assert "Claim hosts whose DMI vendor is ExampleCloud" in source
    assert "Claim hosts whose DMI vendor is ExampleCloud" in page


def test_python_api_is_rendered_from_docstrings(site: Path) -> None:
    page = _page(site, "python-api")
    for ident in (
        "nixremote.load_runtime_info",
        "nixremote.RuntimeInfo",
        "nixremote.core.errors.TransportError",
        "nixremote.controller.collect.collect",
    ):
        assert f'id="{ident}"' in page, ident


def test_no_raw_rest_roles_on_any_page(site: Path) -> None:
    import html
    import re

    for page in site.rglob("index.html"):
        raw = re.sub(r"<script.*?</script>", "", page.read_text(encoding="utf-8"), flags=re.S)
        text = html.unescape(re.sub(r"<[^>]+>", "", raw))
        for role in (":class:`", ":func:`", ":meth:`", ":mod:`", ":data:`", "--8<--"):
            assert role not in text, f"{page.relative_to(site)} shows {role!r} raw"
