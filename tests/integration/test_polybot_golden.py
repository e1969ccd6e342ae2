"""
Golden tests: the shipped routing renders the Polybot design's messages.

Each case logs one event of the Polybot vocabulary with the values of an
example message in the design document (``seed/polybot-discord-design.md``)
through ``DiscordHandler(SHIPPED_ROUTING)``, at a fixed event time, and
compares every captured message (channel, route and the exact JSON body:
embed, ``content``, ``allowed_mentions``) with ``tests/golden/<case>.json``.

``POLYBOT_UPDATE_GOLDEN=1 pytest tests/integration/test_polybot_golden.py``
rewrites the files; review the diff before committing it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import pytest

from fakes.discord_schema import payload_errors
from polybot_loghandler import DiscordHandler
from polybot_loghandler._watching.render import LOGGER as WATCHING_LOGGER
from polybot_loghandler.testing import RoutedMessage, capture
from tests.conftest import SHIPPED_ROUTING
from tests.support.golden import assert_golden

#: The admin role the golden files ping (the seed's "@admin").
ADMIN_ROLE = "987654321098765432"
#: The seed's usual event time.
AT = datetime(2026, 1, 30, 14, 23, 45, tzinfo=timezone.utc)


def at(hour: int, minute: int, second: int) -> datetime:
    """A time on the seed's day, 2026-01-30, in UTC."""
    return AT.replace(hour=hour, minute=minute, second=second)


class FixedClock(logging.Filter):
    """Stamps every record with :attr:`now`, so times render the same."""

    def __init__(self) -> None:
        super().__init__()
        self.now = AT

    def filter(self, record: logging.LogRecord) -> bool:
        record.created = self.now.timestamp()
        record.msecs = 0.0
        return True


@dataclass(frozen=True)
class Case:
    """One logged event: its level, name, fields and time."""

    level: int
    event: str
    fields: dict[str, Any] = field(default_factory=dict)
    when: datetime = AT


INFO, WARNING, ERROR, CRITICAL = (
    logging.INFO,
    logging.WARNING,
    logging.ERROR,
    logging.CRITICAL,
)

HEALTHY_COMPONENTS = {
    "database": {"ok": True, "latency_ms": 5},
    "redis": {"ok": True, "latency_ms": 2},
    "polymarket_api": {"ok": True},
    "floor_boss": {"ok": True, "detail": "Running (last heartbeat 15s ago)"},
    "trader_agents": {"ok": True, "detail": "3/3 running"},
    "performance_monitor": {"ok": True, "detail": "Running"},
    "auditor": {"ok": True, "detail": "Running"},
}
SEVEN_DAYS_14_HOURS = (7 * 24 + 14) * 3600.0

TRADE = {
    "agent": "Momentum_BTC_v1",
    "market": "BTC-USD-UP-15m",
    "side": "YES",
    "amount": 20.0,
    "price": 0.5423,
    "fees": 0.40,
    "is_paper": True,
    "trade_id": "paper_1738249425.123",
}

CLOSED = {
    "agent": "Momentum_BTC_v1",
    "market": "BTC-USD-UP-15m",
    "side": "YES",
    "entry_price": 0.5423,
    "exit_price": 0.6891,
    "entry_time": "2026-01-30T14:23:45Z",
    "exit_time": "2026-01-30T14:38:12Z",
    "duration_s": 867.0,
    "size": 20.0,
    "pnl": 5.94,
    "pnl_pct": 29.7,
    "outcome": "Market resolved YES ✅",
}

CASES: dict[str, Case] = {
    # 📋 SYSTEM STATUS
    "system_health": Case(
        INFO,
        "health_check",
        {
            "components": HEALTHY_COMPONENTS,
            "uptime_s": SEVEN_DAYS_14_HOURS,
            "last_restart": None,
        },
    ),
    # the older notifier's shape: name -> bool
    "system_health_legacy": Case(
        INFO,
        "health_check",
        {
            "components": dict.fromkeys(HEALTHY_COMPONENTS, True),
            "uptime_s": SEVEN_DAYS_14_HOURS,
            "last_restart": None,
        },
    ),
    "system_health_failing": Case(
        INFO,
        "health_check",
        {
            "components": {
                **HEALTHY_COMPONENTS,
                "redis": {"ok": False, "detail": "Connection refused"},
                "trader_agents": {"ok": False, "detail": "2/3 running"},
            },
            "uptime_s": 3 * 3600.0 + 5 * 60,
            "last_restart": "2026-01-30 11:18:45 UTC",
        },
    ),
    "alerts_critical": Case(
        CRITICAL,
        "critical_alert",
        {
            "component": "Trader Agent (Momentum)",
            "issue": "Agent stopped responding",
            "last_heartbeat_s": 180.0,
            "action": "Attempting restart",
            "attempt": 1,
            "max_attempts": 10,
        },
    ),
    "alerts_critical_daily_loss": Case(
        CRITICAL,
        "daily_loss_limit_reached",
        {
            "daily_loss": -105.50,
            "limit": -100.0,
            "action": "All trading PAUSED",
        },
        when=at(16, 45, 12),
    ),
    "alerts_warnings": Case(
        WARNING,
        "api_latency_high",
        {
            "api": "Polymarket API",
            "latency_s": 2.3,
            "normal_ms": 500.0,
            "impact": "Potential trade execution delays",
        },
    ),
    # an event no route describes: its name and keys as labels, its
    # numbers as its keys say (fields: auto)
    "alerts_warnings_other": Case(
        WARNING,
        "ws_reconnect_failed",
        {
            "error": "connection reset",
            "attempt": 3,
            "backoff_s": 2.5,
            "latency_ms": 230,
        },
    ),
    "system_events": Case(
        INFO,
        "agent_deployed",
        {
            "agent": "Momentum_BTC_v2",
            "strategy": "momentum",
            "capital": 50.0,
            "mode": "paper",
        },
    ),
    # 💼 FLOOR BOSS
    "floor_boss_decision_removal": Case(
        INFO,
        "floor_boss_decision",
        {
            "decision": "Agent Removal",
            "agent": "Mean_Reversion_ETH_v1",
            "reason": "Win rate below threshold (42% over 7 days)",
            "threshold": 45.0,
            "trades_analyzed": 156,
            "action": "Agent stopped and archived",
        },
        when=at(9, 15, 33),
    ),
    "floor_boss_decision_cloning": Case(
        INFO,
        "floor_boss_decision",
        {
            "decision": "Agent Cloning",
            "source_agent": "Momentum_BTC_v1",
            # not in the vocabulary's list; the older notifier sent it
            "performance": "64% win rate, +$234.50 P&L (14 days)",
            "new_agent": "Momentum_BTC_v2",
            "variation": "Increased lookback period (10 → 15)",
            "capital": 75.0,
            "mode": "paper",
        },
    ),
    "capital_allocation": Case(
        INFO,
        "capital_reallocation",
        {
            "changes": [
                {
                    "agent": "Momentum_BTC_v1",
                    "old": 50.0,
                    "new": 100.0,
                    "reason": "Consistent outperformance",
                },
                {
                    "agent": "Mean_Reversion_ETH",
                    "old": 75.0,
                    "new": 50.0,
                    "reason": "Decreasing win rate",
                },
            ],
            "total_allocated": 450.0,
            "total_capital": 1000.0,
        },
    ),
    # 🤖 TRADING AGENTS
    "agents_status_started": Case(
        INFO,
        "agent_started",
        {
            "agent": "Momentum_BTC_v1",
            "mode": "paper",
            "capital": 50.0,
            "config": {"lookback": 10, "threshold": 0.02},
            "markets": ["BTC-15m-UP", "BTC-15m-DOWN"],
        },
    ),
    "agents_status_stopped": Case(
        INFO,
        "agent_stopped",
        {
            "agent": "Volume_ETH_v1",
            "reason": "Performance below threshold",
            "win_rate": 43.0,
            "pnl": -23.45,
            "runtime_s": 14 * 86400.0,
            "total_trades": 87,
        },
    ),
    "agents_performance": Case(
        INFO,
        "agent_performance",
        {
            "period": "1h",
            "agents": [
                {
                    "agent": "Momentum_BTC_v1",
                    "trades": 4,
                    "wins": 3,
                    "losses": 1,
                    "pnl_1h": 12.30,
                    "pnl_24h": 45.60,
                    "status": "Healthy",
                },
                {
                    "agent": "Mean_Reversion_ETH",
                    "trades": 2,
                    "wins": 1,
                    "losses": 1,
                    "pnl_1h": 2.10,
                    "pnl_24h": -8.20,
                    "status": "Monitoring",
                },
                {
                    "agent": "Volume_BTC_v2",
                    "trades": 0,
                    "wins": 0,
                    "losses": 0,
                    "pnl_1h": 0.0,
                    "pnl_24h": -15.30,
                    "status": "Under Review",
                },
            ],
        },
    ),
    # 💰 TRADING ACTIVITY
    "trades_executed": Case(INFO, "trade_executed", TRADE),
    "trades_executed_live": Case(
        INFO,
        "trade_executed",
        {**TRADE, "is_paper": False, "trade_id": "live_1738249567.456"},
    ),
    "positions_closed": Case(INFO, "position_closed", CLOSED),
    # the older notifier's shape: a preformatted duration
    "positions_closed_legacy": Case(
        INFO,
        "position_closed",
        {
            **{k: v for k, v in CLOSED.items() if k != "duration_s"},
            "duration": "14m 27s",
        },
    ),
    "positions_closed_loss": Case(
        INFO,
        "position_closed",
        {
            **CLOSED,
            "exit_price": 0.4912,
            "pnl": -2.28,
            "pnl_pct": -11.4,
            "outcome": "Stop loss",
        },
    ),
    # 📈 PERFORMANCE & ANALYTICS
    "pnl_realtime": Case(
        INFO,
        "pnl_update",
        {
            "current_balance": 1045.60,
            "starting_balance": 1000.0,
            "total_pnl": 45.60,
            "total_pnl_pct": 4.56,
            "unrealized_pnl": 12.30,
            "realized_pnl": 33.30,
            "trades_today": 23,
            "wins": 13,
            "losses": 10,
            "best_trade": 8.90,
            "worst_trade": -4.20,
            "fees_today": 9.20,
        },
        when=at(14, 45, 0),
    ),
    "pnl_daily": Case(
        INFO,
        "daily_summary",
        {
            "date": "2026-01-30",
            "starting_balance": 1000.0,
            "ending_balance": 1045.60,
            "total_pnl": 45.60,
            "roi": 4.56,
            "total_trades": 47,
            "win_rate": 55.3,
            "wins": 26,
            "losses": 21,
            "fees": 18.80,
            "top_performers": [
                {
                    "name": "Momentum_BTC_v1",
                    "pnl": 28.40,
                    "trades": 18,
                    "win_rate": 61.1,
                },
                {
                    "name": "Volume_ETH_v1",
                    "pnl": 12.30,
                    "trades": 15,
                    "win_rate": 60.0,
                },
                {
                    "name": "Mean_Reversion_BTC",
                    "pnl": 4.90,
                    "trades": 14,
                    "win_rate": 50.0,
                },
            ],
            "underperformers": [
                {
                    "name": "Mean_Reversion_ETH",
                    "pnl": -8.20,
                    "trades": 12,
                    "win_rate": 41.7,
                },
            ],
            "best_trade": 8.90,
            "best_trade_agent": "Momentum_BTC_v1",
            "worst_trade": -5.30,
            "worst_trade_agent": "Mean_Reversion_ETH",
            "targets": {
                "pnl": {"target": 50.0, "actual": 45.60, "met": False},
                "win_rate": {"target": 52.0, "actual": 55.3, "met": True},
                "max_drawdown": {
                    "target": 100.0,
                    "actual": 21.4,
                    "met": True,
                },
            },
        },
        when=at(0, 0, 0).replace(day=31),
    ),
    "leaderboard": Case(
        INFO,
        "leaderboard",
        {
            "period": "7d",
            "entries": [
                {
                    "agent": "Momentum_BTC_v1",
                    "pnl": 234.50,
                    "win_rate": 64.2,
                    "sharpe": 1.23,
                },
                {
                    "agent": "Volume_ETH_v1",
                    "pnl": 156.30,
                    "win_rate": 58.7,
                    "sharpe": 0.87,
                },
                {
                    "agent": "Momentum_ETH_v2",
                    "pnl": 89.20,
                    "win_rate": 56.1,
                    "sharpe": 0.65,
                },
                {
                    "agent": "Mean_Reversion_BTC",
                    "pnl": 23.40,
                    "win_rate": 51.3,
                    "sharpe": 0.34,
                },
                {
                    "agent": "Volume_BTC_v1",
                    "pnl": -15.70,
                    "win_rate": 47.2,
                    "sharpe": -0.12,
                },
                {
                    "agent": "Mean_Reversion_ETH",
                    "pnl": -45.60,
                    "win_rate": 42.1,
                    "sharpe": -0.45,
                    "status": "Under Review",
                },
            ],
        },
    ),
    # 🔍 AUDITING & COMPLIANCE
    "audit_trades_passed": Case(
        INFO,
        "trade_audit",
        {
            "trade_id": "paper_1738249425.123",
            "agent": "Momentum_BTC_v1",
            "passed": True,
            "validations": {
                "strategy_logic": {"ok": True, "detail": "Matches"},
                "risk_limits": {"ok": True, "detail": "Within bounds"},
                "position_size": {"ok": True, "detail": "$20 (limit: $100)"},
                "daily_loss": {"ok": True, "detail": "-$5.20 (limit: -$200)"},
                "market_validation": {"ok": True, "detail": "Valid market"},
            },
        },
    ),
    "audit_trades_failed": Case(
        ERROR,
        "trade_audit",
        {
            "trade_id": "live_1738249567.456",
            "agent": "Mean_Reversion_ETH",
            "passed": False,
            "validations": {
                "strategy_logic": {"ok": True, "detail": "Matches"},
                "position_size": {"ok": False, "detail": "$125 (limit: $100)"},
            },
            "issue": "Position size exceeded limit",
            # not in the vocabulary's list; the trading floor sends it
            "overage": "+$25 (25%)",
            "action": "Trade blocked, agent flagged",
            "severity": "medium",
        },
    ),
    "risk_management": Case(
        WARNING,
        "risk_alert",
        {
            "agent": "Volume_ETH_v1",
            "current_loss": -85.30,
            "limit": -100.0,
            "remaining": 14.70,
            "pct_used": 85.3,
            "action": "Reducing position sizes by 50%",
        },
    ),
    # 📊 MARKET DATA
    "market_btc": Case(
        INFO,
        "market_update",
        {
            "asset": "BTC",
            "market": "BTC-USD-UP-15m",
            "price": 0.5734,
            "change": 0.0234,
            "change_pct": 4.26,
            "volume": 45234.0,
            "liquidity": "High",
            "signals": {
                "momentum": {"signal": "BUY", "strength": 0.82},
                "mean_reversion": {"signal": "SELL", "strength": 0.45},
                "volume": {"signal": "NEUTRAL", "strength": 0.12},
            },
        },
        when=at(14, 45, 0),
    ),
    # 🔧 OPERATIONS
    "database_status": Case(
        INFO,
        "database_health",
        {
            "ok": True,
            "latency_ms": 5.0,
            "connections_active": 8,
            "connections_max": 50,
            "slow_queries": 0,
            "last_checkpoint_s": 120.0,
            "disk_used_mb": 234.0,
            "disk_total_mb": 10240.0,
        },
    ),
    "admin": Case(
        INFO,
        "admin_notice",
        {
            "title": "Volume_ETH_v1 Awaiting Review",
            "agent": "Volume_ETH_v1",
            "daily_loss": -102.18,
            "detail": "Hit its daily loss limit; resume once reviewed",
        },
    ),
}


Logged = Callable[[Case], list[RoutedMessage]]


@pytest.fixture
def log_case(
    monkeypatch: pytest.MonkeyPatch,
    logger_with: Callable[..., logging.Logger],
) -> Logged:
    """Log a :class:`Case` through the shipped routing; return the capture."""
    for key in list(os.environ):
        if key.startswith("DISCORD_") or key == "POLYBOT_ROUTING":
            monkeypatch.delenv(key)
    # read when the routing loads, i.e. when this handler is built
    monkeypatch.setenv("DISCORD_ADMIN_ROLE_ID", ADMIN_ROLE)
    handler = DiscordHandler(SHIPPED_ROUTING)
    clock = FixedClock()
    handler.addFilter(clock)
    log = logger_with(handler, "trader")

    def log_one(case: Case) -> list[RoutedMessage]:
        clock.now = case.when
        with capture() as sent:
            log.log(case.level, case.event, extra=case.fields)
        # the routes' messages: a position closed on the seed's day also
        # counts in that day's digests, whose periods are long over and
        # so sent at once (test_polybot_watching.py looks at those)
        return [m for m in sent if m.event.logger != WATCHING_LOGGER]

    return log_one


def as_golden(sent: list[RoutedMessage]) -> dict[str, Any]:
    """What a golden file holds: each message's channel, route and body."""
    return {
        "messages": [
            {"channel": m.channel, "route": m.route, "payload": m.payload}
            for m in sent
        ]
    }


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.slow
def test_seed_message(name: str, log_case: Logged) -> None:
    sent = log_case(CASES[name])
    assert sent, "no route took the event"
    for message in sent:
        assert [] == payload_errors(message.payload)
        # the time is said once: in a Time field or as the timestamp
        # (which Discord shows beside the footer), never both
        embed = message.embed
        said = [f for f in embed.get("fields", ()) if f["name"] == "Time"]
        assert 1 == len(said) + ("timestamp" in embed), embed
        if "timestamp" in embed:  # the event time is pinned: so is this
            expected = CASES[name].when.strftime("%Y-%m-%dT%H:%M:%S")
            assert embed["timestamp"].startswith(expected)
    assert_golden(name, as_golden(sent))


# The points of the design that matter most, stated on their own, so a
# careless golden update cannot accept a regression of them silently.

PROFIT_GREEN, LOSS_RED = 0x57F287, 0xED4245
PAPER_BLUE, LIVE_GOLD = 0x3498DB, 0xF1C40F
CRITICAL_RED, WARNING_AMBER = 0xED4245, 0xFFA000


def fields_of(message: RoutedMessage) -> dict[str, str]:
    return {f["name"]: f["value"] for f in message.embed.get("fields", ())}


@pytest.mark.parametrize(
    ("name", "title", "color"),
    [
        ("trades_executed", "📝 Trade Executed", PAPER_BLUE),
        ("trades_executed_live", "📝 Trade Executed", LIVE_GOLD),
        ("positions_closed", "💰 Position Closed - PROFIT", PROFIT_GREEN),
        ("positions_closed_loss", "📉 Position Closed - LOSS", LOSS_RED),
        ("alerts_critical", "🚨 CRITICAL ALERT", CRITICAL_RED),
        ("alerts_critical_daily_loss", "🚨 DAILY LOSS LIMIT REACHED", None),
        ("alerts_warnings", "⚠️ Warning: High API Latency", WARNING_AMBER),
        ("risk_management", None, WARNING_AMBER),
        ("leaderboard", "🏆 Agent Leaderboard (7 Days)", None),
        ("database_status", "🗄️ Database Health Check", PROFIT_GREEN),
        ("market_btc", "📈 BTC Market Update", None),
        ("audit_trades_passed", "✅ Trade Audit Passed", None),
        ("audit_trades_failed", "❌ Trade Audit FAILED", None),
        (
            "pnl_daily",
            "📊 Daily Performance Report - 2026-01-30",
            PROFIT_GREEN,
        ),
        (
            "floor_boss_decision_removal",
            "🎯 Floor Boss Decision: Agent Removal",
            None,
        ),
        (
            "system_health",
            "✅ System Health Check - All Systems Operational",
            PROFIT_GREEN,
        ),
        (
            "system_health_legacy",
            "✅ System Health Check - All Systems Operational",
            PROFIT_GREEN,
        ),
        (
            "system_health_failing",
            "❌ System Health Check - Failing: Redis, Trader Agents",
            LOSS_RED,
        ),
    ],
)
@pytest.mark.slow
def test_titles_and_colours(
    name: str, title: str | None, color: int | None, log_case: Logged
) -> None:
    first = log_case(CASES[name])[0]
    if title is not None:
        assert title == first.embed["title"]
    if color is not None:
        assert color == first.embed["color"]


@pytest.mark.slow
def test_number_formats(log_case: Logged) -> None:
    trade = fields_of(log_case(CASES["trades_executed"])[0])
    assert ("$20.00", "0.5423", "$0.40") == (
        trade["Amount"],
        trade["Price"],
        trade["Fees"],
    )
    assert "2026-01-30 14:23:45 UTC" == trade["Time"]
    closed = fields_of(log_case(CASES["positions_closed"])[0])
    assert "+$5.94 (+29.7%)" == closed["P&L"]
    assert "14m 27s" == closed["Duration"]
    legacy = fields_of(log_case(CASES["positions_closed_legacy"])[0])
    assert "14m 27s" == legacy["Duration"]
    pnl = fields_of(log_case(CASES["pnl_realtime"])[0])
    assert "Win Rate: 56.5% (13W/10L)" in pnl["Today's Performance"]


@pytest.mark.slow
def test_auto_fields_read_as_a_person_expects(log_case: Logged) -> None:
    admin = fields_of(log_case(CASES["admin"])[0])
    assert {"Agent", "Daily Loss", "Detail"} == set(admin)
    assert "-$102.18" == admin["Daily Loss"]
    other = log_case(CASES["alerts_warnings_other"])[0]
    assert "⚠️ WebSocket Reconnect Failed" == other.embed["title"]
    assert {
        "Error": "connection reset",
        "Attempt": "3",
        "Backoff": "2.5s",
        "Latency": "230 ms",
    } == fields_of(other)


def test_lists_render_as_the_design_shows(log_case: Logged) -> None:
    board = log_case(CASES["leaderboard"])[0].embed["description"]
    ranks = [
        line.split()[0]
        for line in board.splitlines()
        if line and not line[0].isspace()
    ]
    assert ["🥇", "🥈", "🥉", "4️⃣", "5️⃣", "6️⃣"] == ranks
    daily = fields_of(log_case(CASES["pnl_daily"])[0])
    tops = daily["🏆 Top Performers"].splitlines()
    assert ["1.", "2.", "3."] == [line.split()[0] for line in tops]
    health = log_case(CASES["system_health_legacy"])[0]
    lines = health.embed["description"].splitlines()
    assert 7 == len(lines)
    assert all(line.startswith("🟢 ") for line in lines)
    failing = log_case(CASES["system_health_failing"])[0]
    marks = [line[0] for line in failing.embed["description"].splitlines()]
    assert 2 == marks.count("🔴")
