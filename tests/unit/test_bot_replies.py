"""
The bot's own embeds: valid, within Discord's limits, and safe whatever
a person types or an agent answers. Pure.

Agent names, who asked and an agent's error come from outside: each is
drawn from the hostile texts every sink is tested with, and the embeds
must still be bodies Discord accepts, hold no token, and ping no one.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fakes.discord_schema import payload_errors
from polybot_loghandler import Config, load_config
from polybot_loghandler._bot.asking import Asker, Request
from polybot_loghandler._bot.replies import (
    GREEN,
    ORANGE,
    RED,
    acks_embed,
    cancelled_embed,
    confirm_embed,
    help_embed,
    refused_embed,
    sent_embed,
    unanswered_embed,
)
from tests.conftest import SHIPPED_ROUTING
from tests.support.hostile import HOSTILE_TEXT, leaked
from tests.unit.test_hostile_values import LIVE_MENTION, SETTINGS, _texts

ADA = Asker("ada", "111111111111111111", frozenset({"Floor Operator"}))
PAUSE = Request("pause", ADA, {"agent": "Momentum_BTC_v1"})
SWITCH = Request("switch", ADA, {"mode": "live"})


def assert_sendable(embed: dict[str, Any]) -> None:
    """*embed*, sent as the bot sends it, is accepted, safe and pings none."""
    payload = {"embeds": [embed], "allowed_mentions": {"parse": []}}
    assert payload_errors(payload) == []
    assert leaked(json.dumps(payload, ensure_ascii=False)) is None
    for text in _texts(payload["embeds"]):
        assert LIVE_MENTION.search(text) is None, text


@pytest.fixture(scope="module")
def shipped() -> Config:
    return load_config(SHIPPED_ROUTING)


def test_help_lists_every_command_and_who_may_control(shipped: Config) -> None:
    embed = help_embed(shipped)
    text = embed["description"]
    for name in ("status", "pnl", "agents", "positions", "help"):
        assert f"`/{name}`" in text
    for usage in ("/pause agent:NAME", "/resume agent:NAME", "/switch"):
        assert usage in text
    assert "Floor Operator" in text
    assert_sendable(embed)


def test_help_says_when_nobody_may_control(shipped: Config) -> None:
    config = load_config(
        SHIPPED_ROUTING, environ={"POLYBOT_CONTROL_ROLE": "Ops"}
    )
    assert "role Ops" in help_embed(config)["description"]


@pytest.mark.parametrize(
    ("done", "failed", "missing", "title", "color"),
    [
        (["A"], {}, [], "⏸️ Paused agent: Momentum\\_BTC\\_v1", GREEN),
        ([], {}, ["A"], "not acknowledged", ORANGE),
        ([], {}, [], "not acknowledged", ORANGE),
        ([], {"A": "ValueError: no"}, [], "not obeyed by all", RED),
        (["A"], {}, ["B"], "not obeyed by all", ORANGE),
    ],
)
def test_the_acknowledgements_as_told(
    done: list[str],
    failed: dict[str, str],
    missing: list[str],
    title: str,
    color: int,
) -> None:
    embed = acks_embed(PAUSE, "1-0", done, failed, missing)
    assert embed["title"].endswith(title)
    assert embed["color"] == color
    text = embed["description"]
    for agent in done:
        assert f"✅ {agent}" in text
    for agent, error in failed.items():
        assert f"❌ {agent}: {error}" in text
    for agent in missing:
        assert f"🔇 {agent}: no answer" in text
    assert "`1-0`" in text
    assert_sendable(embed)


@pytest.mark.parametrize(
    ("request_", "title"),
    [
        (PAUSE, "⏸️ Paused agent: Momentum\\_BTC\\_v1"),
        (
            Request("resume", ADA, {"agent": "Vol"}),
            "▶️ Resumed agent: Vol",
        ),
        (SWITCH, "🔴 Switched to live trading"),
        (
            Request("switch", ADA, {"mode": "paper"}),
            "📄 Switched to paper trading",
        ),
    ],
)
def test_what_was_done_once_all_obeyed(request_: Request, title: str) -> None:
    assert acks_embed(request_, "1-0", ["A"], {}, [])["title"] == title


def test_nobody_answering_is_said() -> None:
    embed = acks_embed(SWITCH, "1-0", [], {}, [])
    assert "No agent acknowledged it." in embed["description"]


def test_the_waits_read_as_people_say_them() -> None:
    assert "30 seconds" in sent_embed(PAUSE, "1-0", 30)["description"]
    assert "1 minute" in confirm_embed(SWITCH, 60)["description"]
    assert "2 minutes" in sent_embed(PAUSE, "1-0", 120)["description"]
    assert "1 second " in sent_embed(PAUSE, "1-0", 1)["description"]


@SETTINGS
@given(
    agent=HOSTILE_TEXT,
    asker=HOSTILE_TEXT,
    error=HOSTILE_TEXT,
    reason=HOSTILE_TEXT,
    command_id=st.sampled_from(["1733489700123-0", "0-1"]),
)
def test_every_embed_is_safe_with_any_value(
    agent: str, asker: str, error: str, reason: str, command_id: str
) -> None:
    who = Asker(asker, "1", frozenset())
    pause = Request("pause", who, {"agent": agent})
    for embed in (
        refused_embed(pause, reason),
        confirm_embed(Request("switch", who, {"mode": "live"}), 60),
        cancelled_embed(pause, reason),
        sent_embed(pause, command_id, 30),
        acks_embed(pause, command_id, [agent], {agent: error}, [agent]),
        unanswered_embed(error),
    ):
        assert_sendable(embed)


def test_a_floor_of_many_agents_is_cut_to_the_limit() -> None:
    """A switch answered by a thousand agents still fits, its id kept."""
    names = [f"Agent_{i:04d}_" + "x" * 80 for i in range(1000)]
    failed = dict.fromkeys(names[:300], "RuntimeError: " + "y" * 200)
    embed = acks_embed(SWITCH, "1-0", names[300:600], failed, names[600:])
    assert_sendable(embed)
    assert len(embed["description"]) == 4096
    assert embed["description"].startswith("Command `1-0`\n")
    assert embed["description"].endswith("…")
