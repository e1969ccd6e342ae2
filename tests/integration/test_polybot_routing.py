"""
The shipped routing against the Polybot contract (``polybot-events.md``).

- Every event of the vocabulary lands in the channel(s) the contract names,
  including the fallbacks by level, logger and field.
- The channels are the design's 37, in its 9 categories, with its names;
  nothing is routed to ``#bot-commands``.
- Only ``critical_alert`` pings ``@everyone``; the daily loss limit and a
  failed trade audit ping the admin role (``DISCORD_ADMIN_ROLE_ID``), and
  no one when it is unset; nothing else pings.
- Hostile values in any field of any event still give valid payloads that
  ping no one.
- End to end, ``examples/trading_floor.py`` in a subprocess reaches the
  loopback fake Discord: one webhook per channel, or a single webhook.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from fakes.discord import FakeDiscord
from fakes.discord_schema import payload_errors
from polybot_loghandler import Config, DiscordHandler, load_config
from polybot_loghandler.testing import RoutedMessage, capture
from tests.conftest import REPO, SHIPPED_ROUTING

ADMIN_ROLE = "112233445566778899"
DEBUG, INFO, WARNING, ERROR, CRITICAL = (
    logging.DEBUG,
    logging.INFO,
    logging.WARNING,
    logging.ERROR,
    logging.CRITICAL,
)

# -- the design's server: 9 categories, 37 channels ------------------------

SEED_CATEGORIES: dict[str, list[str]] = {
    "📋 SYSTEM STATUS": [
        "system-health",
        "alerts-critical",
        "alerts-warnings",
        "system-events",
    ],
    "💼 FLOOR BOSS": [
        "floor-boss-decisions",
        "floor-boss-logs",
        "capital-allocation",
    ],
    "🤖 TRADING AGENTS": [
        "agents-status",
        "agent-momentum",
        "agent-mean-reversion",
        "agent-volume",
        "agents-performance",
    ],
    "💰 TRADING ACTIVITY": [
        "trades-executed",
        "trades-paper",
        "trades-live",
        "positions-open",
        "positions-closed",
    ],
    "📈 PERFORMANCE & ANALYTICS": [
        "pnl-realtime",
        "pnl-daily",
        "pnl-weekly",
        "performance-alerts",
        "leaderboard",
    ],
    "🔍 AUDITING & COMPLIANCE": [
        "audit-trades",
        "audit-violations",
        "risk-management",
        "audit-reports",
    ],
    "📊 MARKET DATA": [
        "market-btc",
        "market-eth",
        "market-analysis",
        "market-anomalies",
    ],
    "🔧 OPERATIONS": [
        "database-status",
        "redis-status",
        "api-status",
        "performance-monitor",
    ],
    "📢 COMMANDS & CONTROL": ["bot-commands", "deployment", "admin"],
}
ALL_KEYS = [
    name.replace("-", "_")
    for names in SEED_CATEGORIES.values()
    for name in names
]
#: Every channel something is routed to.
ROUTED_KEYS = list(ALL_KEYS)
#: What the trading floor example reaches: every channel but the bot's.
FLOOR_KEYS = [key for key in ROUTED_KEYS if key != "bot_commands"]
#: The forum channels (type: forum): their messages go into posts.
FORUMS = (
    "alerts_critical",
    "agent_momentum",
    "agent_mean_reversion",
    "agent_volume",
)

# -- the vocabulary --------------------------------------------------------


@dataclass(frozen=True)
class Ev:
    """One event as the trading floor logs it, and where it must land."""

    level: int
    event: str
    fields: dict[str, Any]
    channels: tuple[str, ...]
    logger: str = "trader"


SIGNALS = {
    "momentum": {"signal": "BUY", "strength": 0.82},
    "mean_reversion": {"signal": "SELL", "strength": 0.45},
    "volume": {"signal": "NEUTRAL", "strength": 0.1},
}
SUMMARY: dict[str, Any] = {
    "starting_balance": 1000.0,
    "ending_balance": 1045.6,
    "total_pnl": 45.6,
    "roi": 4.56,
    "total_trades": 47,
    "win_rate": 55.3,
    "wins": 26,
    "losses": 21,
    "fees": 18.8,
    "top_performers": [
        {"name": "Momentum_BTC_v1", "pnl": 28.4, "trades": 18, "win_rate": 61}
    ],
    "underperformers": [
        {
            "name": "Mean_Reversion_ETH",
            "pnl": -8.2,
            "trades": 12,
            "win_rate": 42,
        }
    ],
    "best_trade": 8.9,
    "worst_trade": -5.3,
    "targets": {"pnl": {"target": 50.0, "actual": 45.6, "met": False}},
}
TRADE = {
    "agent": "Momentum_BTC_v1",
    "market": "BTC-USD-UP-15m",
    "side": "YES",
    "amount": 20.0,
    "price": 0.5423,
    "fees": 0.4,
    "is_paper": True,
    "trade_id": "paper_1738249425.123",
}
AUDIT = {
    "trade_id": "paper_1738249425.123",
    "agent": "Momentum_BTC_v1",
    "passed": True,
    "validations": {"position_size": {"ok": True, "detail": "$20"}},
}

VOCABULARY: dict[str, Ev] = {
    # 📋 SYSTEM STATUS
    "health_check": Ev(
        INFO,
        "health_check",
        {
            "components": {"database": {"ok": True, "latency_ms": 5}},
            "uptime_s": 3600.0,
            "last_restart": None,
        },
        ("system_health",),
    ),
    "health_check_legacy": Ev(
        INFO,
        "health_check",
        {"components": {"database": True, "redis": False}, "uptime_s": 60},
        ("system_health",),
    ),
    "critical_alert": Ev(
        CRITICAL,
        "critical_alert",
        {
            "component": "Trader Agent (Momentum)",
            "issue": "Agent stopped responding",
            "action": "Attempting restart",
            "last_heartbeat_s": 180.0,
            "attempt": 1,
            "max_attempts": 10,
        },
        ("alerts_critical",),
    ),
    "daily_loss_limit_reached": Ev(
        CRITICAL,
        "daily_loss_limit_reached",
        {"daily_loss": -105.5, "limit": -100.0, "action": "Paused"},
        ("alerts_critical",),
    ),
    "api_latency_high": Ev(
        WARNING,
        "api_latency_high",
        {
            "api": "Polymarket API",
            "latency_s": 2.3,
            "normal_ms": 500.0,
            "impact": "Delays",
        },
        ("alerts_warnings",),
    ),
    "other_warning": Ev(
        WARNING,
        "quote_stale",
        {"market": "ETH-USD-UP-15m", "age_s": 48.0},
        ("alerts_warnings",),
        logger="market_feed",
    ),
    "other_error": Ev(
        ERROR,
        "order_failed",
        {"agent": "Mean_Reversion_BTC_v1", "amount": 25.0},
        ("alerts_warnings",),
    ),
    "other_critical": Ev(
        CRITICAL,
        "exchange_unreachable",
        {"api": "Polymarket CLOB API"},
        ("alerts_critical",),
        logger="ops",
    ),
    "agent_deployed": Ev(
        INFO,
        "agent_deployed",
        {
            "agent": "Momentum_BTC_v2",
            "strategy": "momentum",
            "capital": 50.0,
            "mode": "paper",
        },
        ("system_events",),
        logger="ops",
    ),
    "system_event": Ev(
        INFO,
        "system_event",
        {"title": "Trading Floor Open", "capital": 1000.0},
        ("system_events",),
        logger="ops",
    ),
    # 💼 FLOOR BOSS
    "floor_boss_decision": Ev(
        INFO,
        "floor_boss_decision",
        {
            "decision": "Agent Removal",
            "agent": "Mean_Reversion_ETH_v1",
            "source_agent": "Momentum_BTC_v1",
            "new_agent": "Momentum_BTC_v2",
            "reason": "Win rate below threshold",
            "threshold": 45.0,
            "trades_analyzed": 156,
            "variation": "lookback 15",
            "capital": 75.0,
            "mode": "paper",
            "action": "Stopped",
        },
        ("floor_boss_decisions",),
        logger="floor_boss",
    ),
    "floor_boss_logger": Ev(
        DEBUG,
        "tick",
        {"open_positions": 3},
        ("floor_boss_logs",),
        logger="floor_boss",
    ),
    "floor_boss_child_logger": Ev(
        INFO,
        "rebalance_checked",
        {"allocated": 450.0},
        ("floor_boss_logs",),
        logger="floor_boss.capital",
    ),
    "floor_boss_component": Ev(
        INFO,
        "agents_reviewed",
        {"component": "floor_boss", "agents": 5},
        ("floor_boss_logs",),
        logger="ops",
    ),
    "floor_boss_logger_warning": Ev(
        WARNING,
        "agent_slow",
        {"agent": "Momentum_ETH_v2"},
        ("floor_boss_logs", "alerts_warnings"),
        logger="floor_boss",
    ),
    "floor_boss_logger_critical": Ev(
        CRITICAL,
        "floor_boss_crashed",
        {"error": "out of memory"},
        ("floor_boss_logs", "alerts_critical"),
        logger="floor_boss",
    ),
    "capital_reallocation": Ev(
        INFO,
        "capital_reallocation",
        {
            "changes": [
                {"agent": "Momentum_BTC_v1", "old": 50.0, "new": 100.0}
            ],
            "total_allocated": 450.0,
            "total_capital": 1000.0,
        },
        ("capital_allocation",),
        logger="floor_boss",
    ),
    # 🤖 TRADING AGENTS
    "agent_started": Ev(
        INFO,
        "agent_started",
        {
            "agent": "Momentum_BTC_v1",
            "mode": "paper",
            "capital": 50.0,
            "config": {"lookback": 10},
            "markets": ["BTC-15m-UP"],
        },
        ("agents_status",),
    ),
    "agent_stopped": Ev(
        INFO,
        "agent_stopped",
        {
            "agent": "Volume_ETH_v1",
            "reason": "Below threshold",
            "win_rate": 43.0,
            "pnl": -23.45,
            "runtime_s": 1209600.0,
            "total_trades": 87,
        },
        ("agents_status",),
    ),
    "strategy_momentum": Ev(
        DEBUG,
        "signal_taken",
        {"agent": "Momentum_BTC_v1", "strategy": "momentum"},
        ("agent_momentum",),
    ),
    "strategy_mean_reversion": Ev(
        DEBUG,
        "signal_taken",
        {"agent": "Mean_Reversion_BTC_v1", "strategy": "mean_reversion"},
        ("agent_mean_reversion",),
    ),
    "strategy_volume": Ev(
        INFO,
        "position_sizing_changed",
        {"agent": "Volume_ETH_v1", "strategy": "volume", "size_factor": 0.5},
        ("agent_volume",),
    ),
    "strategy_warning": Ev(
        WARNING,
        "signal_stale",
        {"agent": "Volume_ETH_v1", "strategy": "volume"},
        ("agent_volume", "alerts_warnings"),
    ),
    "agent_performance": Ev(
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
                    "pnl_1h": 12.3,
                    "pnl_24h": 45.6,
                    "status": "Healthy",
                }
            ],
        },
        ("agents_performance",),
        logger="pnl_tracker",
    ),
    # 💰 TRADING ACTIVITY
    "trade_executed_paper": Ev(
        INFO, "trade_executed", TRADE, ("trades_executed", "trades_paper")
    ),
    "trade_executed_live": Ev(
        INFO,
        "trade_executed",
        {**TRADE, "is_paper": False},
        ("trades_executed", "trades_live"),
    ),
    "position_opened": Ev(
        INFO,
        "position_opened",
        {
            "agent": "Momentum_BTC_v1",
            "market": "BTC-USD-UP-15m",
            "side": "YES",
            "entry_price": 0.5423,
            "size": 20.0,
        },
        ("positions_open",),
    ),
    "position_closed": Ev(
        INFO,
        "position_closed",
        {
            "agent": "Momentum_BTC_v1",
            "market": "BTC-USD-UP-15m",
            "side": "YES",
            "entry_price": 0.5423,
            "exit_price": 0.6891,
            "entry_time": "2026-01-30T14:23:45Z",
            "exit_time": 1769783892.0,
            "duration_s": 867.0,
            "size": 20.0,
            "pnl": 5.94,
            "pnl_pct": 29.7,
            "outcome": "Resolved YES",
        },
        # and its board in #positions-open, edited to say it closed
        ("positions_closed", "positions_open"),
    ),
    "position_closed_legacy": Ev(
        INFO,
        "position_closed",
        {"agent": "Volume_ETH_v1", "duration": "14m 27s", "pnl": -1.0},
        ("positions_closed", "positions_open"),
    ),
    # 📈 PERFORMANCE & ANALYTICS
    "pnl_update": Ev(
        INFO,
        "pnl_update",
        {
            "current_balance": 1045.6,
            "starting_balance": 1000.0,
            "total_pnl": 45.6,
            "total_pnl_pct": 4.56,
            "unrealized_pnl": 12.3,
            "realized_pnl": 33.3,
            "trades_today": 23,
            "wins": 13,
            "losses": 10,
            "best_trade": 8.9,
            "worst_trade": -4.2,
            "fees_today": 9.2,
        },
        ("pnl_realtime",),
        logger="pnl_tracker",
    ),
    "daily_summary": Ev(
        INFO,
        "daily_summary",
        {"date": "2026-01-30", **SUMMARY},
        ("pnl_daily",),
        logger="pnl_tracker",
    ),
    "weekly_summary": Ev(
        INFO,
        "weekly_summary",
        {"week": "2026-W05", **SUMMARY},
        ("pnl_weekly",),
        logger="pnl_tracker",
    ),
    "performance_alert": Ev(
        WARNING,
        "performance_alert",
        {
            "agent": "Mean_Reversion_ETH_v1",
            "metric": "win_rate_7d",
            "value": 37.0,
            "threshold": 45.0,
        },
        ("performance_alerts",),
        logger="pnl_tracker",
    ),
    "leaderboard": Ev(
        INFO,
        "leaderboard",
        {
            "period": "7d",
            "entries": [
                {
                    "agent": "Momentum_BTC_v1",
                    "pnl": 234.5,
                    "win_rate": 64.2,
                    "sharpe": 1.23,
                },
                {
                    "agent": "Mean_Reversion_ETH",
                    "pnl": -45.6,
                    "win_rate": 42.1,
                    "sharpe": -0.45,
                    "status": "Under Review",
                },
            ],
        },
        ("leaderboard",),
        logger="pnl_tracker",
    ),
    # 🔍 AUDITING & COMPLIANCE
    "trade_audit_passed": Ev(
        INFO, "trade_audit", AUDIT, ("audit_trades",), logger="auditor"
    ),
    "trade_audit_failed": Ev(
        ERROR,
        "trade_audit",
        {
            **AUDIT,
            "passed": False,
            "validations": {"position_size": {"ok": False, "detail": "$125"}},
            "issue": "Position size exceeded limit",
            "severity": "medium",
            "action": "Trade blocked",
        },
        ("audit_trades", "audit_violations"),
        logger="auditor",
    ),
    "audit_violation": Ev(
        ERROR,
        "audit_violation",
        {
            "agent": "Momentum_ETH_v2",
            "rule": "duplicate_order",
            "detail": "Re-sent 2 orders",
            "severity": "low",
            "action": "Cancelled",
        },
        ("audit_violations",),
        logger="auditor",
    ),
    "risk_alert": Ev(
        WARNING,
        "risk_alert",
        {
            "agent": "Volume_ETH_v1",
            "current_loss": -85.3,
            "limit": -100.0,
            "remaining": 14.7,
            "pct_used": 85.3,
            "action": "Halving sizes",
        },
        ("risk_management",),
        logger="auditor",
    ),
    "audit_report": Ev(
        INFO,
        "audit_report",
        {
            "period": "2026-01-30",
            "trades_audited": 40,
            "passed": 39,
            "failed": 1,
            "violations": 1,
        },
        ("audit_reports",),
        logger="auditor",
    ),
    # 📊 MARKET DATA
    "market_update_btc": Ev(
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
            "signals": SIGNALS,
        },
        ("market_btc",),
        logger="market_feed",
    ),
    "market_update_eth": Ev(
        INFO,
        "market_update",
        {
            "asset": "ETH",
            "market": "ETH-USD-UP-15m",
            "price": 0.4871,
            "change": -0.0129,
            "change_pct": -2.58,
            "volume": 30123.0,
            "liquidity": "Medium",
            "signals": SIGNALS,
        },
        ("market_eth",),
        logger="market_feed",
    ),
    "market_analysis": Ev(
        INFO,
        "market_analysis",
        {"asset": "BTC", "summary": "BTC 15m markets lean UP", "price": 0.57},
        ("market_analysis",),
        logger="market_feed",
    ),
    "market_anomaly": Ev(
        WARNING,
        "market_anomaly",
        {
            "asset": "ETH",
            "market": "ETH-USD-UP-15m",
            "anomaly": "Liquidity gap",
            "detail": "Book depth fell 78%",
        },
        ("market_anomalies",),
        logger="market_feed",
    ),
    # 🔧 OPERATIONS
    "database_health": Ev(
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
        ("database_status",),
        logger="ops",
    ),
    "redis_health": Ev(
        INFO,
        "redis_health",
        {
            "ok": True,
            "latency_ms": 2.0,
            "used_memory_mb": 48.0,
            "hit_rate": 97.5,
            "connected_clients": 8,
        },
        ("redis_status",),
        logger="ops",
    ),
    "api_status": Ev(
        INFO,
        "api_status",
        {"api": "Polymarket CLOB API", "ok": True, "latency_ms": 210.0},
        ("api_status",),
        logger="ops",
    ),
    "performance_monitor_logger": Ev(
        INFO,
        "resource_snapshot",
        {"cpu_pct": 21.5, "memory_mb": 420.0},
        ("performance_monitor",),
        logger="performance_monitor",
    ),
    "performance_monitor_component": Ev(
        INFO,
        "probe_finished",
        {"component": "performance_monitor", "took_ms": 12.0},
        ("performance_monitor",),
        logger="ops",
    ),
    "performance_monitor_debug": Ev(
        DEBUG,
        "sampling",
        {"every_s": 5},
        (),
        logger="performance_monitor",
    ),
    "deployment": Ev(
        INFO,
        "deployment",
        {
            "component": "performance_monitor",
            "version": "1.8.0",
            "status": "success",
            "by": "github-actions",
        },
        ("deployment",),
        logger="ops",
    ),
    # 📢 the bot's record of each command typed, and of the answers
    "bot_command_sent": Ev(
        INFO,
        "bot_command",
        {
            "asked": "/pause agent:Momentum_BTC_v1",
            "command": "pause",
            "agent": "Momentum_BTC_v1",
            "user": "ada",
            "user_id": "111111111111111111",
            "via": "slash",
            "outcome": "sent",
            "command_id": "1769956425123-0",
        },
        ("bot_commands",),
        logger="bot",
    ),
    "bot_command_refused": Ev(
        WARNING,
        "bot_command",
        {
            "asked": "/switch mode:live",
            "command": "switch",
            "mode": "live",
            "user": "eve",
            "user_id": "444444444444444444",
            "via": "prefix",
            "outcome": "refused",
            "reason": "/switch needs the role 'Floor Operator'.",
        },
        ("bot_commands",),
        logger="bot",
    ),
    "control_ack": Ev(
        WARNING,
        "control_ack",
        {
            "asked": "/switch mode:paper",
            "command": "switch",
            "command_id": "1769956425123-0",
            "user": "ada",
            "outcome": "partly",
            "done": ["Momentum_BTC_v1"],
            "failed": {"Volume_ETH_v1": "RuntimeError: order book closed"},
            "missing": ["Mean_Reversion_BTC_v1"],
            "seconds": 30.0,
        },
        ("bot_commands",),
        logger="bot",
    ),
    "admin_notice": Ev(
        INFO,
        "admin_notice",
        {"title": "Volume_ETH_v1 Awaiting Review", "agent": "Volume_ETH_v1"},
        ("admin",),
        logger="ops",
    ),
    "unrouted_info": Ev(INFO, "cache_warmed", {"entries": 10}, ()),
    # heartbeats feed the watches and reach no channel, whatever the
    # logger and the fields the fallbacks take
    "heartbeat_agent": Ev(
        INFO,
        "heartbeat",
        {
            "component": "trader",
            "agent": "Momentum_BTC_v1",
            "strategy": "momentum",
            "status": "healthy",
        },
        (),
    ),
    "heartbeat_floor_boss": Ev(
        INFO, "heartbeat", {"component": "floor_boss"}, (), logger="floor_boss"
    ),
    "heartbeat_auditor": Ev(
        INFO, "heartbeat", {"component": "auditor"}, (), logger="auditor"
    ),
    "heartbeat_performance_monitor": Ev(
        INFO,
        "heartbeat",
        {"component": "performance_monitor"},
        (),
        logger="performance_monitor",
    ),
    "heartbeat_market_feed": Ev(
        INFO,
        "heartbeat",
        {"component": "market_feed", "feed": "BTC"},
        (),
        logger="market_feed",
    ),
}


def expected_ping(
    name: str, channel: str, role: str | None
) -> tuple[str | None, dict[str, Any]]:
    """The ``content`` and ``allowed_mentions`` a message must carry."""
    if name == "critical_alert":
        return "@everyone", {"parse": ["everyone"]}
    admin = name == "daily_loss_limit_reached" or (
        name == "trade_audit_failed" and channel == "audit_violations"
    )
    if admin and role:
        return f"<@&{role}>", {"parse": [], "roles": [role]}
    return None, {"parse": []}


# -- fixtures ----------------------------------------------------------------

#: Logs an event (with other fields, if given); returns what was sent.
Emit = Callable[..., list[RoutedMessage]]


def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No webhook, role or routing from the developer's environment."""
    for key in list(os.environ):
        if key.startswith("DISCORD_") or key == "POLYBOT_ROUTING":
            monkeypatch.delenv(key)


@functools.cache
def shipped_config(role: str | None) -> Config:
    """
    The shipped routing, loaded once per admin role.

    Loading compiles every template (~0.2 s); the tables below log to it
    hundreds of times. Its environment is given, not read: no webhooks.
    """
    environ = {} if role is None else {"DISCORD_ADMIN_ROLE_ID": role}
    return load_config(SHIPPED_ROUTING, environ=environ)


@pytest.fixture
def shipped(
    monkeypatch: pytest.MonkeyPatch,
    make_routing: Callable[[str], Path],
    logger_with: Callable[..., logging.Logger],
) -> Callable[..., Emit]:
    """
    Build a handler for the shipped routing; return a function that logs.

    By default from a fresh copy of ``routing.yaml``, loaded after the
    admin role is set or removed in the environment (it is read when the
    routing loads); with ``cached=True`` from :func:`shipped_config`.
    """

    def build(role: str | None = None, *, cached: bool = False) -> Emit:
        clean_env(monkeypatch)
        if cached:
            handler = DiscordHandler(shipped_config(role))
        else:
            if role is not None:
                monkeypatch.setenv("DISCORD_ADMIN_ROLE_ID", role)
            copy = make_routing(SHIPPED_ROUTING.read_text())
            handler = DiscordHandler(copy)
        loggers: dict[str, logging.Logger] = {}

        def emit(ev: Ev, fields: dict[str, Any] | None = None) -> list[Any]:
            if ev.logger not in loggers:
                loggers[ev.logger] = logger_with(handler, ev.logger)
            with capture() as sent:
                loggers[ev.logger].log(
                    ev.level,
                    ev.event,
                    extra=ev.fields if fields is None else fields,
                )
            return sent

        return emit

    return build


# -- channels ----------------------------------------------------------------


def test_the_design_s_37_channels_in_its_9_categories() -> None:
    config = load_config(SHIPPED_ROUTING, environ={})
    assert 37 == len(ALL_KEYS)
    assert ALL_KEYS == list(config.channels)
    got: dict[str, list[str]] = {}
    for channel in config.channels.values():
        assert channel.category is not None, channel.key
        got.setdefault(channel.category, []).append(channel.name)
        assert channel.topic, channel.key
    assert SEED_CATEGORIES == got


@pytest.mark.parametrize("environ", [{}, {"POLYBOT_REDIS_URL": ""}])
def test_the_relay_is_on_only_with_polybot_redis_url_set(
    environ: dict[str, str],
) -> None:
    """Unset or empty, the shipped routing delivers in process."""
    off = load_config(SHIPPED_ROUTING, environ=environ)
    url = "redis://:secret@redis.example:6379/2"
    on = load_config(SHIPPED_ROUTING, environ={"POLYBOT_REDIS_URL": url})
    assert off.delivery.relay is None
    assert url == on.delivery.relay
    assert dataclasses.replace(on.delivery, relay=None) == off.delivery


def test_only_the_bots_events_go_to_bot_commands() -> None:
    """People type there: the bot's own record of it, and nothing else."""
    config = load_config(SHIPPED_ROUTING, environ={})
    there = {
        route.name
        for route in config.routes
        for t in route.to
        if "bot_commands" in t.source or "{{" in t.source
    }
    assert {"bot_command", "control_ack"} <= there
    assert not [t for t in there if "bot" in t and t.startswith("{{")]
    sent = {
        name: ev.channels
        for name, ev in VOCABULARY.items()
        if "bot_commands" in ev.channels
    }
    assert all(ev.logger == "bot" for ev in map(VOCABULARY.get, sent))
    assert all(channels == ("bot_commands",) for channels in sent.values())


def test_every_routed_channel_is_reached_by_the_vocabulary() -> None:
    reached = {c for ev in VOCABULARY.values() for c in ev.channels}
    assert set(ROUTED_KEYS) == reached


# -- routing -----------------------------------------------------------------


@pytest.mark.parametrize("name", VOCABULARY)
def test_event_lands_in_its_channels(
    name: str, shipped: Callable[..., Emit]
) -> None:
    ev = VOCABULARY[name]
    sent = shipped(cached=True)(ev)
    assert list(ev.channels) == [m.channel for m in sent]
    for message in sent:
        assert [] == payload_errors(message.payload)
        assert "template error" not in json.dumps(message.embed)


@pytest.mark.parametrize(
    ("asset", "channel"),
    [("BTC", "market_btc"), ("eth", "market_eth"), ("SOL", None)],
)
def test_market_updates_by_asset(
    asset: str, channel: str | None, shipped: Callable[..., Emit]
) -> None:
    ev = VOCABULARY["market_update_btc"]
    sent = shipped(cached=True)(ev, {**ev.fields, "asset": asset})
    assert ([channel] if channel else []) == [m.channel for m in sent]


def test_every_trade_is_its_own_embed(shipped: Callable[..., Emit]) -> None:
    emit = shipped()
    ev = VOCABULARY["trade_executed_paper"]
    sent = emit(ev) + emit(ev)
    assert 4 == len(sent)
    # delivery merges duplicates unless the route says coalesce: false
    assert all(m.coalesce is not None for m in sent)
    assert not [m for m in sent if m.coalesce and m.coalesce.enabled]


# -- what the messages say --------------------------------------------------


def _heads(message: RoutedMessage) -> list[str]:
    """The lines of a description that are not a tree's branches."""
    lines = message.embed["description"].splitlines()
    return [line for line in lines if line and line[0] not in "├└"]


@pytest.mark.parametrize(
    ("pnl_1h", "mark"),
    [
        pytest.param(12.3, "📈", id="gain"),
        pytest.param(-4.2, "📉", id="loss"),
        pytest.param(0.0, "➖", id="zero"),
        pytest.param(0, "➖", id="zero-int"),
        pytest.param(-0.004, "➖", id="shown-as-0.00"),
        pytest.param(0.004, "➖", id="shown-as-0.00-too"),
        pytest.param(0.006, "📈", id="shown-as-0.01"),
        pytest.param(None, "➖", id="missing"),
        pytest.param("n/a", "➖", id="not-a-number"),
    ],
)
def test_agent_performance_marks_gains_losses_and_neither(
    pnl_1h: Any, mark: str, shipped: Callable[..., Emit]
) -> None:
    """
    📈 for a gain, 📉 for a loss, ➖ for neither (as the P&L shows it,
    to the cent); the first agent is ⭐ whatever it made.
    """
    ev = VOCABULARY["agent_performance"]
    first = {**ev.fields["agents"][0], "pnl_1h": -1.0}
    other = {**first, "agent": "Volume_BTC_v2", "pnl_1h": pnl_1h}
    if pnl_1h is None:
        del other["pnl_1h"]

    (message,) = shipped(cached=True)(
        ev, {**ev.fields, "agents": [first, other]}
    )

    assert ["⭐ Momentum\\_BTC\\_v1", f"{mark} Volume\\_BTC\\_v2"] == (
        _heads(message)
    )


@pytest.mark.parametrize(
    ("metric", "value", "threshold"),
    [
        pytest.param("win_rate_7d", "37.0%", "45.0%", id="rate"),
        pytest.param("drawdown_pct", "37.0%", "45.0%", id="pct"),
        pytest.param("sharpe", "37", "45", id="plain"),
        pytest.param("accurate_trades", "37", "45", id="rate-in-a-word"),
    ],
)
def test_performance_alert_shows_a_rate_in_percent(
    metric: str, value: str, threshold: str, shipped: Callable[..., Emit]
) -> None:
    ev = VOCABULARY["performance_alert"]

    (message,) = shipped(cached=True)(ev, {**ev.fields, "metric": metric})

    fields = {f["name"]: f["value"] for f in message.embed["fields"]}
    assert (value, threshold) == (fields["Value"], fields["Threshold"])


@pytest.mark.parametrize(
    ("liquidity", "shown"),
    [
        pytest.param("High", "High", id="word"),
        pytest.param(125000.0, "$125,000", id="dollars"),
    ],
)
def test_market_update_liquidity(
    liquidity: Any, shown: str, shipped: Callable[..., Emit]
) -> None:
    ev = VOCABULARY["market_update_btc"]

    (message,) = shipped(cached=True)(
        ev, {**ev.fields, "liquidity": liquidity}
    )

    fields = {f["name"]: f["value"] for f in message.embed["fields"]}
    assert shown == fields["Liquidity"]


# -- pings -------------------------------------------------------------------


@pytest.mark.parametrize("role", [ADMIN_ROLE, None], ids=["role", "no-role"])
@pytest.mark.slow
def test_who_is_pinged(role: str | None, shipped: Callable[..., Emit]) -> None:
    emit = shipped(role)
    pinged = []
    for name, ev in VOCABULARY.items():
        for message in emit(ev):
            content, allowed = expected_ping(name, message.channel, role)
            where = f"{name} in {message.channel}"
            assert content == message.payload.get("content"), where
            assert allowed == message.payload["allowed_mentions"], where
            assert [] == payload_errors(message.payload), where
            if content:
                pinged.append((name, message.channel))
    admin = [
        ("daily_loss_limit_reached", "alerts_critical"),
        ("trade_audit_failed", "audit_violations"),
    ]
    everyone = [("critical_alert", "alerts_critical")]
    assert sorted(everyone + (admin if role else [])) == sorted(pinged)


def test_an_empty_admin_role_pings_no_one(
    shipped: Callable[..., Emit],
) -> None:
    emit = shipped("")
    for name in ("daily_loss_limit_reached", "trade_audit_failed"):
        for message in emit(VOCABULARY[name]):
            assert "content" not in message.payload
            assert {"parse": []} == message.payload["allowed_mentions"]


# -- hostile values ----------------------------------------------------------

HOSTILE: dict[str, Any] = {
    "everyone": "@everyone @here ping",
    "mentions": "<@&123> <@123> <@!123> <#123> </cmd:123>",
    "markdown": (
        "[click](https://evil.example/@everyone) **b** __u__ ~~s~~ "
        "||spoiler|| `x` ```\n# heading\n> quote\n-# small\n- item"
    ),
    "huge": "0123456789 *_`|[]~>#-@everyone\n" * 320,  # 10 kB
    "none": None,
    "nested": {
        "ok": "<@&123>",
        "status": {"deep": ["@everyone", None, {"x": float("nan")}]},
        "agent": "@here",
    },
    "list": ["@everyone", None, 1e308, {"agent": "<@&123>"}],
    "bytes": b"\xff\xfe\x80 @everyone \xc3\x28",
    "nan": float("nan"),
    "inf": float("inf"),
    "-inf": float("-inf"),
    "bool": True,
    "huge_int": 10**400,
}
#: A mention that would ping (broken ones have U+200B after the "@");
#: channel links (<#123>) and command links ping no one.
LIVE_MENTION = re.compile(r"@(everyone|here)|<@[!&]?\d+>")


def leaf_paths(
    value: Any, path: tuple[Any, ...] = ()
) -> Iterator[tuple[Any, ...]]:
    """Every place in a field's value where a hostile value can go."""
    yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from leaf_paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from leaf_paths(item, (*path, index))


def replaced(
    fields: dict[str, Any], path: tuple[Any, ...], new: Any
) -> dict[str, Any]:
    """A deep copy of *fields* with the value at *path* set to *new*."""

    def put(value: Any, rest: tuple[Any, ...]) -> Any:
        if not rest:
            return new
        head, *tail = rest
        if isinstance(value, dict):
            return {**value, head: put(value[head], tuple(tail))}
        copy = list(value)
        copy[head] = put(copy[head], tuple(tail))
        return copy

    result: dict[str, Any] = put(fields, path)
    return result


def check_safe(name: str, sent: list[RoutedMessage], where: str) -> None:
    for message in sent:
        if not name.startswith(("bot_command", "control_ack")):
            assert "bot_commands" != message.channel, where
        assert [] == payload_errors(message.payload), where
        content, allowed = expected_ping(name, message.channel, ADMIN_ROLE)
        assert content == message.payload.get("content"), where
        assert allowed == message.payload["allowed_mentions"], where
        text = json.dumps(message.embed, ensure_ascii=False)
        assert not LIVE_MENTION.search(text), where


@pytest.mark.parametrize("name", VOCABULARY)
@pytest.mark.slow
def test_hostile_values_render_safely(
    name: str, shipped: Callable[..., Emit]
) -> None:
    """Each hostile value in each field (and nested value), then in all."""
    emit = shipped(ADMIN_ROLE, cached=True)
    ev = VOCABULARY[name]
    paths = [p for p in leaf_paths(ev.fields) if p]
    for kind, value in HOSTILE.items():
        for path in paths:
            fields = replaced(ev.fields, path, value)
            check_safe(name, emit(ev, fields), f"{name}.{path} = {kind}")
        everywhere = dict.fromkeys(ev.fields, value)
        check_safe(name, emit(ev, everywhere), f"{name}.* = {kind}")


@pytest.mark.slow
def test_hostile_values_never_fail_a_template(
    shipped: Callable[..., Emit],
) -> None:
    """
    A field of the wrong type shows as it is, or not at all, never as
    "⚠ template error".

    Integers too large for a float (``10**400``) are left out: the
    templates' ratios (pass rate, disk usage, ...) cannot divide them,
    and the library then shows the template error in a valid payload.
    """
    emit = shipped(ADMIN_ROLE, cached=True)
    failures = []
    for name, ev in VOCABULARY.items():
        for kind, value in HOSTILE.items():
            if kind == "huge_int":
                continue
            for path in (p for p in leaf_paths(ev.fields) if p):
                for message in emit(ev, replaced(ev.fields, path, value)):
                    if "template error" in json.dumps(message.embed):
                        where = ".".join(map(str, path))
                        failures.append(f"{name}.{where} = {kind}")
    assert [] == failures


# -- end to end, against the loopback fake Discord ---------------------------

FLOOR = (
    "import sys; from trading_floor import main; "
    "raise SystemExit(main(sys.argv[1:]))"
)
#: Spot checks that a channel got its own kind of message.
TITLES = {
    "trades_paper": "📝 Trade Executed",
    "trades_live": "📝 Trade Executed",
    "positions_closed": "Position Closed - ",
    "system_health": "System Health Check - ",
    "leaderboard": "🏆 Agent Leaderboard",
    "pnl_daily": "📊 Daily Performance Report - ",
    "market_btc": "BTC Market Update",
    "market_eth": "ETH Market Update",
    "database_status": "🗄️ Database Health Check",
}


#: How a digest's embed differs from the demo's own reports there.
DIGESTS: dict[str, Callable[[dict[str, Any]], bool]] = {
    "agents_performance": lambda e: any(
        f["name"] == "Floor (1h)" for f in e.get("fields", ())
    ),
    "pnl_daily": lambda e: (
        "closed positions" in e["footer"]["text"] if "footer" in e else False
    ),
    "pnl_weekly": lambda e: e["title"].startswith(
        "📊 Weekly Performance Report - week of "
    ),
}


def run_floor(
    routing: Path, env: dict[str, str], *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run the example trading floor in a fresh interpreter."""
    child = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("DISCORD_") and k != "POLYBOT_ROUTING"
    }
    paths = [str(REPO), str(REPO / "examples"), child.get("PYTHONPATH", "")]
    child["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    child.update(env)
    argv = ["--delay", "0", "--routing", str(routing), *args]
    return subprocess.run(
        [sys.executable, "-c", FLOOR, *argv],
        env=child,
        cwd=routing.parent,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.mark.slow
def test_trading_floor_one_webhook_per_channel(
    fake_discord: FakeDiscord, make_routing: Callable[[str], Path]
) -> None:
    """
    A full simulated day, with a webhook of its own for each channel.

    Every channel but ``#bot-commands`` receives at least one message, no
    body is rejected, nothing is left undelivered, and the pings reach the
    alert and violation channels only. About 4 s.
    """
    webhooks = {str(7000 + i): key for i, key in enumerate(FLOOR_KEYS)}
    env = {
        f"DISCORD_WEBHOOK_{key.upper()}": fake_discord.webhook_url(
            webhook_id, f"tok-{key}"
        )
        for webhook_id, key in webhooks.items()
    }
    env["DISCORD_ADMIN_ROLE_ID"] = ADMIN_ROLE
    for webhook_id, key in webhooks.items():
        if key in FORUMS:  # each incident, each agent, a forum post
            fake_discord.forum(webhook_id)
    started = time.monotonic()
    done = run_floor(make_routing(SHIPPED_ROUTING.read_text()), env)
    took = time.monotonic() - started
    assert 0 == done.returncode, done.stderr[-2000:]
    assert "not delivered" not in done.stderr
    assert [] == fake_discord.rejected
    got: dict[str, list[dict[str, Any]]] = {}
    for message in fake_discord.messages:
        key = webhooks[str(message.webhook_id)]
        got.setdefault(key, []).append(message.json)
    assert set(FLOOR_KEYS) == set(got), (
        f"missing: {set(FLOOR_KEYS) - set(got)}"
    )
    pings = {
        (key, body.get("content"))
        for key, bodies in got.items()
        for body in bodies
        if body.get("content")
    }
    assert {
        ("alerts_critical", "@everyone"),
        ("alerts_critical", f"<@&{ADMIN_ROLE}>"),
        ("audit_violations", f"<@&{ADMIN_ROLE}>"),
    } == pings
    for key, prefix in TITLES.items():
        titles = [e["title"] for b in got[key] for e in b["embeds"]]
        assert all(prefix in t for t in titles), (key, titles)
    # the digests of the closed positions come too, at the latest when
    # the floor ends (partial): the day's beside its daily_summary, ...
    for key, digest in DIGESTS.items():
        embeds = [e for b in got[key] for e in b["embeds"]]
        assert [e for e in embeds if digest(e)], (key, embeds)
    # distinct destinations: no embed needs to say where it is
    assert not [e for e in fake_discord.embeds() if "author" in e]
    assert took < 60, took


@pytest.mark.slow
def test_trading_floor_one_webhook_for_everything(
    fake_discord: FakeDiscord, make_routing: Callable[[str], Path]
) -> None:
    """
    Only ``DISCORD_WEBHOOK_URL``: everything arrives at that one webhook,
    each embed naming its channel in its author line.

    A single webhook carries one message at a time, 5 per 2 s, and the
    handler keeps Discord's per-channel limit of about 30 messages a
    minute: the full day (~35 messages) would take over a minute, and
    more than the default 10 s flush timeout at exit. So this runs
    ``--hours 4``, which still reaches all 36 channels, with
    ``delivery.flush_timeout`` raised in the copy of the routing so a
    slow machine cannot lose the tail, and ``max_lag`` off. Boards,
    threads and identities send apart from the rest (a board's message
    and a thread's are their own, and a batch has one identity), so one
    shared channel takes about 45 messages, at the per-channel pace:
    about 2 minutes.
    The channel is not a forum: the threads' messages go into it with
    the thread's name in the author line, before the channel's.
    """
    text = SHIPPED_ROUTING.read_text()
    assert "\ndelivery:\n" in text
    # nothing folded either: every embed is one of the floor's own
    text = text.replace(
        "\ndelivery:\n", "\ndelivery:\n  flush_timeout: 200s\n"
    ).replace("\n  max_lag: 2m\n", "\n  max_lag: off\n")
    env = {"DISCORD_WEBHOOK_URL": fake_discord.webhook_url("4242", "tok")}
    started = time.monotonic()
    done = run_floor(make_routing(text), env, "--hours", "4", timeout=240)
    took = time.monotonic() - started
    assert 0 == done.returncode, done.stderr[-2000:]
    assert "not delivered" not in done.stderr
    # the demo says what it waits for rather than sitting silent
    assert re.search(
        r"^trading_floor: \d+ messages wait for Discord, which takes about "
        r"30 a minute per channel: (sending|the next send in \d+ s)$",
        done.stderr,
        re.MULTILINE,
    ), done.stderr[-2000:]
    assert [] == fake_discord.rejected
    assert {"4242"} == {m.webhook_id for m in fake_discord.messages}
    names = {f"#{key.replace('_', '-')}": key for key in FLOOR_KEYS}
    by_channel: dict[str, list[str]] = {}
    for embed in fake_discord.embeds():
        # a thread's name comes first: "BTC — feed down · #alerts-critical"
        author = embed.get("author", {}).get("name", "").split(" · ")[-1]
        assert author in names, embed
        by_channel.setdefault(names[author], []).append(embed["title"])
    assert set(FLOOR_KEYS) == set(by_channel)
    for key, prefix in TITLES.items():
        titles = by_channel[key]
        assert all(prefix in t for t in titles), (key, titles)
    assert took < 200, took
