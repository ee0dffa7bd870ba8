"""Measure rendered pages in headless Chromium (Debian package ``chromium``), loopback only.

A probe page, written next to the pages and served from the same 127.0.0.1 origin, loads each
page in a same-origin iframe of the viewport's size, measures it after load and writes the
result as JSON into ``<pre id="result">``, which ``--dump-dom`` returns.
"""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

PROBE_NAME = "_render_probe.html"

# Per page: the document's width against the viewport, and every <pre> whose content is wider
# than its box without a scrolling (overflow-x auto/scroll) element to scroll it, or whose box
# leaves the viewport.
_MEASURE_JS = r"""
function scrolls(el, w) {
  const o = w.getComputedStyle(el).overflowX;
  return o === "auto" || o === "scroll";
}
function measure(frame) {
  const w = frame.contentWindow, d = frame.contentDocument, vw = w.innerWidth;
  const bad = [];
  const pres = Array.from(d.querySelectorAll("pre"));
  let shown = 0;
  for (const pre of pres) {
    const r = pre.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;  // not displayed (closed details, tabs)
    shown++;
    const inner = pre.querySelector(":scope > code") || pre;
    const what = (pre.textContent || "").trim().slice(0, 60);
    if (r.left < -1 || r.right > vw + 1) {
      bad.push({what: what, why: "box leaves the viewport", right: r.right});
      continue;
    }
    let scroller = null;
    for (let el = inner; el; el = el.parentElement) {
      if (scrolls(el, w)) { scroller = el; break; }
      if (el === pre) break;
    }
    if (scroller === null && (inner.scrollWidth > inner.clientWidth + 1 ||
                              pre.scrollWidth > pre.clientWidth + 1)) {
      bad.push({what: what, why: "cut off: wider than its box and not scrollable",
                content: inner.scrollWidth, box: inner.clientWidth});
    }
  }
  return {
    title: d.title, viewport: vw,
    scrollWidth: d.documentElement.scrollWidth,
    clientWidth: d.documentElement.clientWidth,
    pre: pres.length, shown: shown, bad: bad,
  };
}
async function run() {
  const out = {};
  for (const frame of document.querySelectorAll("iframe")) {
    try {
      await frame.contentDocument.fonts.ready;
      out[frame.dataset.page] = measure(frame);
    } catch (e) {
      out[frame.dataset.page] = {error: String(e)};
    }
  }
  document.getElementById("result").textContent = JSON.stringify(out);
}
window.addEventListener("load", run);
"""


def write_probe(directory: Path, pages: list[str], width: int, height: int) -> str:
    """Write the probe page for ``pages`` (paths under ``directory``) and return its URL path."""
    frames = "\n".join(
        f'<iframe data-page="{html.escape(p)}" src="{html.escape(p)}" '
        f'style="width:{width}px;height:{height}px;border:0;display:block"></iframe>'
        for p in pages
    )
    (directory / PROBE_NAME).write_text(
        "<!doctype html><html><head><meta charset=utf-8><title>probe</title></head>"
        '<body style="margin:0">'
        f'{frames}<pre id="result"></pre><script>{_MEASURE_JS}</script></body></html>',
        encoding="utf-8",
    )
    return "/" + PROBE_NAME


def chromium_argv(url: str, width: int, height: int, profile: Path) -> list[str]:
    return [
        "chromium",
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-default-apps",
        "--disable-extensions",
        "--no-first-run",
        "--no-default-browser-check",
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
        f"--user-data-dir={profile}",
        f"--window-size={width},{height}",
        "--virtual-time-budget=5000",
        "--dump-dom",
        url,
    ]


def measure_pages(
    base_url: str, directory: Path, pages: list[str], width: int, height: int, tmp: Path
) -> dict[str, Any]:
    """Render ``pages`` at ``width`` x ``height`` and return the probe's JSON, page by page."""
    probe = write_probe(directory, pages, width, height)
    home = tmp / f"chromium-{width}x{height}"
    home.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_CACHE_HOME": str(home / "cache"),
    }
    result = subprocess.run(
        chromium_argv(base_url + probe, width, max(height, 600), home / "profile"),
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    found = re.search(r'<pre id="result">(.*?)</pre>', result.stdout, re.S)
    assert found and found.group(1), (
        f"chromium rc={result.returncode}: no result\n{result.stdout[-2000:]}"
        f"\n{result.stderr[-3000:]}"
    )
    data: dict[str, Any] = json.loads(html.unescape(found.group(1)))
    return data
