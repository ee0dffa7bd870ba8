"""Fixtures for the Hetzner tests: the fake Cloud API and the fake metadata service (test doubles).

Both fakes listen on 127.0.0.1 only. The API fixture's finaliser fails the test if any response
the fake sent did not match its schema in Hetzner's OpenAPI spec (``tests/data/hetzner``) or any
request was malformed.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from helpers.fakes.hetzner_api import DEFAULT_TOKEN, FakeHetznerCloud, fake_hetzner_cloud
from helpers.fakes.metadata import FakeMetadataService
from nixremote.core.progress import Event
from nixremote.hosters.hetzner.api import HetznerCloud

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
