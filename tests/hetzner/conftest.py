"""Fixtures for the Hetzner tests: the fake Cloud API and the fake metadata service (test doubles).

Both fakes listen on 127.0.0.1 only. The API fixture's finaliser fails the test if any response
the fake sent did not match its schema in ``../shared/hetzner/cloud.spec.json`` or any request
was malformed.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# The shared fakes live in tests/fakes; tests/ is not a package, so put it on the path.
_TESTS = Path(__file__).resolve().parents[1]
if str(_TESTS) not in sys.path:
    sys.path.insert(0, str(_TESTS))

from fakes.hetzner_api import DEFAULT_TOKEN, FakeHetznerCloud, fake_hetzner_cloud  # noqa: E402
from fakes.metadata import FakeMetadataService  # noqa: E402
from nixremote.core.progress import Event  # noqa: E402
from nixremote.hosters.hetzner.api import HetznerCloud  # noqa: E402

POLL = 0.01


@pytest.fixture
def hetzner_api() -> Iterator[FakeHetznerCloud]:
    """The fake API; asserts zero schema mismatches when the test ends."""
    yield from fake_hetzner_cloud(action_polls=2)


@pytest.fixture
def events() -> list[Event]:
    return []


@pytest.fixture
def cloud(hetzner_api: FakeHetznerCloud, events: list[Event]) -> HetznerCloud:
    """The production client, pointed at the fake, polling fast."""
    return HetznerCloud(
        DEFAULT_TOKEN,
        endpoint=hetzner_api.endpoint,
        poll_interval=POLL,
        timeout=5.0,
        reporter=events.append,
    )


@pytest.fixture
def metadata_service() -> Iterator[FakeMetadataService]:
    with FakeMetadataService() as fake:
        yield fake
