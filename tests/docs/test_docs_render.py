"""The built site, rendered in headless Chromium at a phone's and a laptop's width: no page is
wider than the window, and every code block fits or scrolls (long commands are never cut off).

The site is served from 127.0.0.1 only and Chromium's host resolver maps every other name to
nothing, so the browser talks to loopback alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from helpers.chromium import measure_pages
from helpers.httpserve import serve

MAIN_PAGES = [
    "/index.html",
    "/getting-started/",
    "/commands/",
    "/unlock/",
    "/hetzner/",
    "/troubleshooting/",
    "/reference/cli/",
]
VIEWPORTS = {"phone": (390, 844), "laptop": (1280, 800)}


@pytest.fixture(scope="module", params=sorted(VIEWPORTS))
def rendered(
    request: pytest.FixtureRequest, site: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[tuple[int, int], dict[str, Any]]:
    width, height = VIEWPORTS[request.param]
    with serve(site) as (base, _requests):
        data = measure_pages(
            base, site, MAIN_PAGES, width, height, tmp_path_factory.mktemp("chromium")
        )
    return (width, height), data


def test_main_pages_fit_the_window_and_code_blocks_scroll(
    rendered: tuple[tuple[int, int], dict[str, Any]],
) -> None:
    (width, _), data = rendered
    assert sorted(data) == sorted(MAIN_PAGES)
    for page, got in data.items():
        assert "error" not in got, (page, got)
        assert got["viewport"] == width, (page, got)
        assert got["title"].endswith("nixremote"), (page, got["title"])
        # clientWidth: the window less its vertical scrollbar.
        assert 0 < got["clientWidth"] <= width, (page, got)
        assert got["scrollWidth"] <= got["clientWidth"], (
            f"{page} is {got['scrollWidth']}px wide in a {got['clientWidth']}px window"
        )
        assert got["bad"] == [], (page, got["bad"])
    # The measurement saw the code blocks it is about.
    assert data["/commands/"]["shown"] >= 3
    assert data["/getting-started/"]["shown"] >= 3


# The probe itself can fail: the same measurement of pages made to overflow.
_LONG = "nixremote install --host root@203.0.113.10 " + "--flag-with-a-long-name " * 30
_PAGES = {
    "wide.html": f"<pre style='overflow:visible;white-space:pre'>{_LONG}</pre>",
    "clipped.html": f"<pre style='overflow:hidden;white-space:pre'><code>{_LONG}</code></pre>",
    "scrolls.html": f"<pre style='overflow-x:auto;white-space:pre'><code>{_LONG}</code></pre>",
    "wraps.html": f"<pre style='white-space:pre-wrap;overflow-wrap:anywhere'>{_LONG}</pre>",
}


def test_the_probe_reports_overflowing_and_cut_off_code(tmp_path: Path) -> None:
    pages = tmp_path / "pages"
    pages.mkdir()
    for name, body in _PAGES.items():
        (pages / name).write_text(
            f"<!doctype html><html><head><meta charset=utf-8><title>{name}</title>"
            '<meta name="viewport" content="width=device-width"></head>'
            f"<body style='margin:8px'>{body}</body></html>",
            encoding="utf-8",
        )
    with serve(pages) as (base, requests):
        data = measure_pages(base, pages, [f"/{n}" for n in _PAGES], 390, 844, tmp_path)
    wide, clipped = data["/wide.html"], data["/clipped.html"]
    assert wide["scrollWidth"] > wide["clientWidth"] + 500, wide
    assert clipped["scrollWidth"] <= clipped["clientWidth"], clipped
    assert [b["why"] for b in clipped["bad"]] == ["cut off: wider than its box and not scrollable"]
    for fine in ("/scrolls.html", "/wraps.html"):
        assert data[fine]["scrollWidth"] <= data[fine]["clientWidth"], data[fine]
        assert data[fine]["bad"] == [] and data[fine]["shown"] == 1, data[fine]
    assert {f"/{n}" for n in _PAGES} <= set(requests)
