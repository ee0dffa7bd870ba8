"""Where things are in the repository, for tests in any folder."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
"""The repository's root."""
TESTS = REPO / "tests"
DATA = TESTS / "data"
"""Data files the tests read (``tests/data/README.md`` says where each came from)."""
CAPTURES = DATA / "captures"
PLUGINS = DATA / "plugins"
"""Third-party plugin distributions the tests install."""
