"""
Fixtures for tests that talk HTTP: a loopback fake Discord.

The fake answers as Discord does, so it accepts bodies that break our own
stricter rules (``fakes.discord_schema.rule_errors``). Every test
here fails if any fake saw such a body while it ran, unless it is marked
``foreign_payloads`` because it posts bodies of its own making.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from fakes.discord import FakeDiscord, rule_violation_log
from polybot_loghandler import DiscordHandler
from tests.support.connect import Connect

FOREIGN_PAYLOADS = "foreign_payloads"


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker that lifts the rule check for one test."""
    config.addinivalue_line(
        "markers",
        f"{FOREIGN_PAYLOADS}: the test posts bodies that are not the "
        "library's, so the fake's rule violations are not checked",
    )


@pytest.fixture(autouse=True)
def _payloads_follow_our_rules(
    request: pytest.FixtureRequest,
) -> Iterator[None]:
    """
    Fail the test if a fake received a body breaking our own rules.

    Discord accepts a body without ``allowed_mentions`` (and the fake
    does too), but ours always carry it; this keeps every test that sends
    through the fake a test of our payloads.
    """
    before = len(rule_violation_log())
    yield
    if request.node.get_closest_marker(FOREIGN_PAYLOADS):
        return
    broken = rule_violation_log()[before:]
    assert [] == broken, "a body broke our payload rules"


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
