"""
Fixtures for tests that talk HTTP: a loopback fake Discord.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from polybot_loghandler import DiscordHandler
from tests.support.connect import Connect
from tests.support.fake_discord import FakeDiscord


@pytest.fixture
def fake_discord() -> Iterator[FakeDiscord]:
    """A started FakeDiscord on 127.0.0.1, stopped after the test."""
    with FakeDiscord() as fake:
        yield fake
    assert [] == fake.server_errors, "the fake itself failed"


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No routing, webhook or bot settings leak in from the environment."""
    for name in list(os.environ):
        if name == "POLYBOT_ROUTING" or name.startswith("DISCORD_"):
            monkeypatch.delenv(name)


@pytest.fixture
def connect(
    make_routing: Callable[..., Path],
    logger_with: Callable[..., logging.Logger],
) -> Connect:
    """Build a DiscordHandler from routing YAML, and a logger wearing it."""

    def make(text: str) -> tuple[DiscordHandler, logging.Logger]:
        handler = DiscordHandler(make_routing(text))
        return handler, logger_with(handler)

    return make
