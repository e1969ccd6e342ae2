"""
The shipped routing's commands, answered from its state after a
scripted floor: three agents start, trade, open two positions and close
one, then one of them goes silent (its heartbeats stop, so its watch
fires). What ``ask`` prints is what is checked, line by line.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any

import pytest

from polybot_loghandler._config import load_config
from polybot_loghandler._console import embed_lines
from polybot_loghandler._events import LogEvent
from polybot_loghandler._floor.replies import reply_embed
from polybot_loghandler._floor.state import FloorState
from polybot_loghandler._model import Config
from tests.conftest import SHIPPED_ROUTING

T = datetime(2026, 2, 1, 14, 0, tzinfo=timezone.utc).timestamp()
ASKED = T + 420  # 14:07, seven minutes in
AGENTS = ("Momentum_BTC_v1", "Mean_Reversion_BTC_v1", "Volume_ETH_v1")


def _ev(event: str, when: float, **fields: Any) -> LogEvent:
    return LogEvent(
        event=event, level=logging.INFO, logger="trader", time=when,
        fields=fields,
    )  # fmt: skip


def scripted_floor() -> list[LogEvent]:
    """The floor of the module docstring; Volume_ETH_v1 goes silent."""
    events = [
        _ev("agent_started", T, agent=a, mode="paper", capital=100.0)
        for a in AGENTS
    ]
    events += [
        _ev("trade_executed", T + 10, agent=AGENTS[0], amount=20.0, fees=0.4),
        _ev("trade_executed", T + 20, agent=AGENTS[2], amount=15.0, fees=0.3),
        _ev("position_opened", T + 30, agent=AGENTS[0], market="BTC-UP",
            side="YES", entry_price=0.5423, size=20.0),
        _ev("position_opened", T + 40, agent=AGENTS[2], market="ETH-UP",
            side="NO", entry_price=0.4871, size=15.0),
        _ev("position_closed", T + 100, agent=AGENTS[0], market="BTC-UP",
            side="YES", pnl=2.42),
        _ev("position_closed", T + 110, agent=AGENTS[1], market="SOL-UP",
            side="NO", pnl=-1.05),
        _ev("health_check", T + 120, components={
            "database": {"ok": True, "latency_ms": 12},
            "polymarket_api": {"ok": False, "detail": "timeouts"},
            "redis": True,
        }),
    ]  # fmt: skip
    events += [
        _ev("heartbeat", t, agent=a)
        for t in (T + 200, T + 300, T + 400)
        for a in AGENTS[:2]
    ]
    return events


@pytest.fixture(scope="module")
def config() -> Config:
    return load_config(SHIPPED_ROUTING)


@pytest.fixture(scope="module")
def floor(config: Config) -> FloorState:
    assert config.state is not None
    state = FloorState(config.state)
    for ev in scripted_floor():
        state.feed(ev)
    assert not state.errors
    return state


def _asked(config: Config, floor: FloorState, name: str) -> list[str]:
    command = next(c for c in config.commands if c.name == name)
    return embed_lines(reply_embed(config, command, floor, ASKED))


@pytest.mark.parametrize(
    ("name", "lines"),
    [
        pytest.param(
            "status",
            [
                "🟠 Needs a look. 2 agents running, 1 position open.",
                "🔇 Volume_ETH_v1: silent, last heard of 6 minutes ago",
                "🔴 Polymarket API: timeouts",
            ],
            id="status",
        ),
        pytest.param(
            "pnl",
            [
                "💰 Today: +$1.37",
                (
                    "Today: +$1.37 from 2 closed   This week: +$1.37 from 2 "
                    "closed   In all: +$1.37"
                ),
                (
                    "Trades today: 2 ($35.00, fees $0.70)   Wins / losses "
                    "today: 1 / 1"
                ),
            ],
            id="pnl",
        ),
        pytest.param(
            "agents",
            [
                "🤖 Agents (3)",
                (
                    "🟢 **Mean_Reversion_BTC_v1** · running · paper · "
                    "$100.00 · last heard of 20 seconds ago"
                ),
                (
                    "🟢 **Momentum_BTC_v1** · running · paper · $100.00 · "
                    "last heard of 20 seconds ago"
                ),
                (
                    "🔇 **Volume_ETH_v1** · running · paper · $100.00 · last "
                    "heard of 6 minutes ago"
                ),
            ],
            id="agents",
        ),
        pytest.param(
            "positions",
            [
                "📂 Open positions (1)",
                (
                    "**Volume_ETH_v1** NO ETH-UP · $15.00 at 0.4871 · opened "
                    "6 minutes ago"
                ),
            ],
            id="positions",
        ),
    ],
)
def test_the_shipped_commands_answer_the_scripted_floor(
    config: Config, floor: FloorState, name: str, lines: list[str]
) -> None:
    assert _asked(config, floor, name) == [*lines, "2026-02-01 14:07:00 UTC"]


def test_an_empty_floor_is_answered_too(config: Config) -> None:
    assert config.state is not None
    empty = FloorState(config.state)

    assert _asked(config, empty, "status")[0] == (
        "🟢 All systems operational. 0 agents running, 0 positions open."
    )
    assert _asked(config, empty, "agents")[1] == (
        "No agent has been heard of yet."
    )
    assert _asked(config, empty, "positions")[1] == "No position is open."
    assert _asked(config, empty, "pnl")[0] == "💰 Today: $0.00"
