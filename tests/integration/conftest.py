"""
Fixtures for tests that talk HTTP: a loopback fake Discord.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.fake_discord import FakeDiscord


@pytest.fixture
def fake_discord() -> Iterator[FakeDiscord]:
    """A started FakeDiscord on 127.0.0.1, stopped after the test."""
    with FakeDiscord() as fake:
        yield fake
    assert [] == fake.server_errors, "the fake itself failed"
