"""
The shipped routing's watches and digests, on the clock a test moves on.

- A heartbeat of each part of the floor (a trader agent, the floor boss,
  the auditor, the performance monitor, the market feed) silent for
  longer than 3 minutes is one critical alert in ``#alerts-critical``,
  pinging the admin role (no one while ``DISCORD_ADMIN_ROLE_ID`` is
  unset); its return is one recovery that pings no one. A heartbeat in
  time, another agent's, or an agent that stopped is never told.
- The closed positions of an hour, a day and a week are one digest each,
  per agent, in ``#agents-performance``, ``#pnl-daily`` and
  ``#pnl-weekly``, laid out as the seed's messages.
- Every such message is a valid Discord body within Discord's limits,
  for a crowded floor too, and values from events (agent names,
  statuses) never ping or inject markup.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import re
from collections.abc import Callable
from typing import Any

import pytest

from fakes.discord_schema import payload_errors
from polybot_loghandler import Config, DiscordHandler, _pipeline, load_config
from polybot_loghandler._watching.periods import DAY, WEEK, period_of
from polybot_loghandler.testing import RoutedMessage, capture
from tests.conftest import SHIPPED_ROUTING

ADMIN_ROLE = "112233445566778899"
ALERT_AFTER = 180.0
#: A mention that would ping (a broken one has U+200B after the "@").
LIVE_MENTION = r"@(everyone|here)|<@[!&]?\d+>"


@functools.cache
def shipped_config(role: str | None) -> Config:
    """The shipped routing, loaded once per admin role, no webhooks."""
    environ = {} if role is None else {"DISCORD_ADMIN_ROLE_ID": role}
    return load_config(SHIPPED_ROUTING, environ=environ)


#: Logs one event: its name, logger and fields.
Log = Callable[..., None]


@pytest.fixture
def floor(logger_with: Callable[..., logging.Logger]) -> Callable[..., Log]:
    """Build a handler for the shipped routing; return a function that logs."""

    def build(role: str | None = ADMIN_ROLE) -> Log:
        handler = DiscordHandler(shipped_config(role))
        loggers: dict[str, logging.Logger] = {}

        def log(event: str, logger: str = "trader", **fields: Any) -> None:
            if logger not in loggers:
                loggers[logger] = logger_with(handler, logger)
            loggers[logger].info(event, extra=fields)

        return log

    return build


def until_closed(every: float) -> float:
    """Seconds until the current period of *every* (UTC) is sent."""
    now = _now()
    return period_of(now, every).end + 2.0 + 0.5 - now


def _now() -> float:
    """The watches' clock: the time, as far as tests advanced it."""
    return _pipeline.CAPTURES.now()


def by_route(sent: list[RoutedMessage], route: str) -> list[RoutedMessage]:
    return [m for m in sent if m.route == route]


def fields_of(message: RoutedMessage) -> dict[str, str]:
    return {f["name"]: f["value"] for f in message.embed.get("fields", ())}


def assert_safe(message: RoutedMessage, role: str | None) -> None:
    """A valid body that pings the role only if it is an alert with one."""
    assert [] == payload_errors(message.payload), message.payload
    text = json.dumps(message.embed, ensure_ascii=False)
    assert not re.search(LIVE_MENTION, text), text
    if message.event.event == "watch_alert" and role:
        assert f"<@&{role}>" == message.payload["content"]
        assert {"parse": [], "roles": [role]} == (
            message.payload["allowed_mentions"]
        )
    else:
        assert "content" not in message.payload
        assert {"parse": []} == message.payload["allowed_mentions"]


# -- heartbeats --------------------------------------------------------------

#: Each part's heartbeat: logger, fields, its watch, its Component field.
PARTS = {
    "trader agent": (
        "trader",
        {"component": "trader", "agent": "Momentum_BTC_v1",
         "strategy": "momentum", "status": "healthy"},
        "agent_heartbeat",
        "Trader Agent (Momentum\\_BTC\\_v1)",
    ),
    "floor boss": (
        "floor_boss", {"component": "floor_boss"}, "component_heartbeat",
        "Floor Boss",
    ),
    "auditor": (
        "auditor", {"component": "auditor"}, "component_heartbeat",
        "Auditor",
    ),
    "performance monitor": (
        "performance_monitor", {"component": "performance_monitor"},
        "component_heartbeat", "Performance Monitor",
    ),
    "market feed": (
        "market_feed", {"component": "market_feed"},
        "market_feed_heartbeat", "Market Data Feed",
    ),
    "one of the market feeds": (
        "market_feed", {"component": "market_feed", "feed": "BTC"},
        "market_feed_heartbeat", "Market Data Feed (BTC)",
    ),
}  # fmt: skip


@pytest.mark.parametrize("part", PARTS)
def test_a_silent_part_is_one_alert_then_one_recovery(
    part: str, floor: Callable[..., Log]
) -> None:
    """
    Silent past 3 minutes: one alert pinging the admin role, as the
    seed's critical alert; heard from again: one recovery, no ping.
    """
    logger, fields, watch, component = PARTS[part]
    log = floor()
    with capture() as sent:
        log("heartbeat", logger, **fields)
        assert [] == sent  # a heartbeat reaches no channel itself
        assert [] == sent.advance(ALERT_AFTER - 10)
        (alert,) = sent.advance(20)
        assert [] == sent.advance(3600)  # told once
        log("heartbeat", logger, **fields)
    (back,) = sent[1:]
    assert (watch, "alerts_critical") == (alert.route, alert.channel)
    assert "watch_alert" == alert.event.event
    assert "🚨 CRITICAL ALERT" == alert.embed["title"]
    shown = fields_of(alert)
    assert component == shown["Component"]
    assert "3 minutes ago" == shown["Last Heartbeat"]
    assert shown["Time"].endswith(" UTC")
    assert (watch, "alerts_critical") == (back.route, back.channel)
    assert "watch_recovery" == back.event.event
    assert back.embed["title"].startswith("✅ Responding Again: ")
    assert "after 1h 3m of silence" in back.embed["description"]
    for message in sent:
        assert_safe(message, ADMIN_ROLE)


def test_without_the_admin_role_an_alert_pings_no_one(
    floor: Callable[..., Log],
) -> None:
    log = floor(None)
    with capture() as sent:
        log("heartbeat", "floor_boss", component="floor_boss")
        (alert,) = sent.advance(ALERT_AFTER + 1)
    assert "content" not in alert.payload
    assert {"parse": []} == alert.payload["allowed_mentions"]


def test_a_heartbeat_a_minute_is_never_told(
    floor: Callable[..., Log],
) -> None:
    log = floor()
    with capture() as sent:
        for _ in range(30):
            log("heartbeat", agent="Momentum_BTC_v1", component="trader")
            log("heartbeat", "auditor", component="auditor")
            sent.advance(60)
        assert [] == sent
        sent.advance(ALERT_AFTER)  # and then they stop
    assert ["agent_heartbeat", "component_heartbeat"] == [
        m.route for m in sent
    ]


def test_each_agent_is_watched_on_its_own(floor: Callable[..., Log]) -> None:
    """The agent that goes on beating is not told; the other one is."""
    log = floor()
    with capture() as sent:
        log("heartbeat", agent="Volume_ETH_v1", component="trader")
        for _ in range(4):
            log("heartbeat", agent="Momentum_BTC_v1", component="trader")
            sent.advance(60)
    (alert,) = sent
    assert "Trader Agent (Volume\\_ETH\\_v1)" == fields_of(alert)["Component"]


def test_a_stopped_agent_is_forgotten(floor: Callable[..., Log]) -> None:
    """agent_stopped ends its watch: its silence is not told."""
    log = floor()
    with capture() as sent:
        log("heartbeat", agent="Volume_ETH_v1", component="trader")
        log("heartbeat", agent="Momentum_BTC_v1", component="trader")
        log("agent_stopped", agent="Volume_ETH_v1", reason="Paused")
        sent.advance(3600)
    stopped, alert = sent
    assert "agents_status" == stopped.channel
    assert (
        "Trader Agent (Momentum\\_BTC\\_v1)" == (fields_of(alert)["Component"])
    )


def test_the_alert_shows_the_last_status_as_a_word(
    floor: Callable[..., Log],
) -> None:
    log = floor()
    with capture() as sent:
        log("heartbeat", "auditor", component="auditor", status="degraded")
        (alert,) = sent.advance(ALERT_AFTER + 1)
    assert "Degraded" == fields_of(alert)["Last Status"]


# -- digests -----------------------------------------------------------------

#: Closed positions: agent, P&L, size.
CLOSED = [
    ("Momentum_BTC_v1", 5.94, 20.0),
    ("Momentum_BTC_v1", -2.5, 20.0),
    ("Volume_ETH_v1", -4.2, 25.0),
    ("Mean_Reversion_BTC_v1", 0.85, 15.0),
]


def close_positions(log: Log) -> None:
    for agent, pnl, size in CLOSED:
        log("position_closed", agent=agent, pnl=pnl, size=size)


def test_the_hour_s_positions_per_agent(floor: Callable[..., Log]) -> None:
    """One message when the hour is over: each agent, the best first."""
    log = floor()
    with capture() as sent:
        close_positions(log)
        assert [] == sent.advance(0)  # the hour is not over yet
        sent.advance(until_closed(3600))
    (digest,) = by_route(sent, "hourly_agent_performance")
    assert "agents_performance" == digest.channel
    assert "📊 Agent Performance Update (Hourly)" == digest.embed["title"]
    lines = digest.embed["description"].splitlines()
    heads = [line for line in lines if line and line[0] not in "├└"]
    assert [
        "⭐ Momentum\\_BTC\\_v1",
        "📈 Mean\\_Reversion\\_BTC\\_v1",
        "📉 Volume\\_ETH\\_v1",
    ] == heads
    assert lines[1:5] == [
        "├─ Trades (1h): 2",
        "├─ P&L (1h): +$3.44",
        "├─ Best / Worst: +$5.94 / -$2.50",
        "└─ Volume: $40.00",
    ]
    assert (
        "Trades: 4 · P&L: +$0.09 · Volume: $80.00"
        == (fields_of(digest)["Floor (1h)"])
    )
    assert digest.embed["footer"]["text"].endswith(" UTC")
    assert_safe(digest, ADMIN_ROLE)


@pytest.mark.parametrize(
    ("every", "route", "channel", "title"),
    [
        pytest.param(
            DAY, "daily_pnl_report", "pnl_daily",
            "📊 Daily Performance Report - ", id="daily",
        ),
        pytest.param(
            WEEK, "weekly_pnl_report", "pnl_weekly",
            "📊 Weekly Performance Report - week of ", id="weekly",
        ),
    ],
)  # fmt: skip
def test_the_daily_and_weekly_reports(
    every: float,
    route: str,
    channel: str,
    title: str,
    floor: Callable[..., Log],
) -> None:
    """The day's and the week's positions, as the seed's daily report."""
    log = floor()
    with capture() as sent:
        close_positions(log)
        sent.advance(until_closed(every))
    (report,) = by_route(sent, route)
    assert channel == report.channel
    assert report.embed["title"].startswith(title)
    assert 0xED4245 != report.embed["color"]  # the floor made money
    shown = fields_of(report)
    assert "+$0.09" in shown["💰 Overall Performance"]
    assert "Total Trades: 4" in shown["💰 Overall Performance"]
    assert [
        "1. Momentum\\_BTC\\_v1: +$3.44 (2 trades)",
        "2. Mean\\_Reversion\\_BTC\\_v1: +$0.85 (1 trade)",
    ] == shown["🏆 Top Performers"].splitlines()
    assert (
        "1. Volume\\_ETH\\_v1: -$4.20 (1 trade)"
        == (shown["📉 Underperformers"])
    )
    assert "+$5.94 (Momentum\\_BTC\\_v1)" == shown["📈 Best Trade"]
    assert "-$4.20 (Volume\\_ETH\\_v1)" == shown["📉 Worst Trade"]
    assert_safe(report, ADMIN_ROLE)


def test_a_period_without_positions_sends_nothing(
    floor: Callable[..., Log],
) -> None:
    log = floor()
    with capture() as sent:
        close_positions(log)
        made = sent.advance(until_closed(WEEK))
        assert 3 == len(made)  # the hour's, the day's, the week's
        assert [] == sent.advance(WEEK)


# -- limits and hostile values -----------------------------------------------

HOSTILE: dict[str, Any] = {
    "everyone": "@everyone @here ping",
    "mentions": "<@&123> <@123> <@!123>",
    "markdown": "**b** __u__ `x` ```\n# heading\n> quote\n-# small",
    "huge": "0123456789 *_`|[]~>#-@everyone\n" * 320,
    "nan": math.nan,
    "nested": {"agent": "@here", "deep": ["<@&123>"]},
}


def _everything(log: Log, value: Any) -> None:
    """Heartbeats and positions whose values are *value*."""
    log("heartbeat", agent=value, component="trader", status=value)
    log("heartbeat", "market_feed", component="market_feed", feed=value)
    log("position_closed", agent=value, pnl=value, size=value)
    log("position_closed", agent=value, pnl=1.5, size=10.0)


@pytest.mark.parametrize("kind", HOSTILE)
def test_hostile_values_never_ping_nor_break_a_message(
    kind: str, floor: Callable[..., Log]
) -> None:
    log = floor()
    with capture() as sent:
        _everything(log, HOSTILE[kind])
        sent.advance(ALERT_AFTER + 1)
        _everything(log, HOSTILE[kind])
        sent.advance(until_closed(WEEK))
    kinds = {m.event.event for m in sent}
    assert {"watch_alert", "watch_recovery", "digest"} <= kinds
    for message in sent:
        assert_safe(message, ADMIN_ROLE)
        assert "template error" not in json.dumps(message.embed)


def test_a_crowded_floor_stays_within_discord_s_limits(
    floor: Callable[..., Log],
) -> None:
    """
    150 agents with long names: the digests keep 100 groups and the rest
    in (others), every text within its limit; 150 alerts, one each.
    """
    log = floor()
    names = [f"Agent_{n:03d}_" + "x" * 240 for n in range(150)]
    with capture() as sent:
        for n, name in enumerate(names):
            log("heartbeat", agent=name, component="trader")
            log("position_closed", agent=name, pnl=n - 75.5, size=100.0)
        told = sent.advance(ALERT_AFTER + 1)  # an hour may end meanwhile
        sent.advance(until_closed(WEEK))
    alerts = [m for m in told if m.event.event == "watch_alert"]
    assert 150 == len(alerts)
    digests = [m for m in sent if m.event.event == "digest"]
    assert {"hourly_agent_performance", "daily_pnl_report"} <= {
        m.route for m in digests
    }
    for message in sent:
        assert_safe(message, ADMIN_ROLE)
    hourly = by_route(digests, "hourly_agent_performance")[0]
    assert "… and " in hourly.embed["description"]
    assert 150 == hourly.event.fields["events"]
    assert 50 == hourly.event.fields["crowded"]
