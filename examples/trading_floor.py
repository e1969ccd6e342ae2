"""
A simulated Polybot trading floor logging one accelerated trading day.

It shows how an application uses polybot_loghandler: its usual logging and
structlog setup plus one handler entry (see configure_logging).  The actors
then log as they always do, with structlog or the standard library, and the
routing file decides which Discord channel each event reaches and how it
looks.  The actors are the floor boss, five trader agents (six once one is
cloned), an auditor, a performance monitor, a BTC/ETH market feed and
health probes.  Between them they log every event of the Polybot
vocabulary, plus a warning and an error that only the generic rules catch
and a burst of identical warnings that delivery coalesces.  Each of them
logs a heartbeat every simulated hour, which the routing's watches
follow (one agent stops for a while: its heartbeats stop with it), and
the closed positions add up in the routing's digests, which are sent
when the demo ends, marked partial since their hour, day and week are
not over.

    python examples/trading_floor.py [--routing FILE] [--seed N]
                                     [--hours H] [--delay SECONDS] [--all]
                                     [--rush]

or ``polybot-loghandler demo``.  With no DISCORD_WEBHOOK_* variables set
nothing is sent: the messages render on the console instead, the first of
each channel in full and the others counted (--all shows every one).  A
run is deterministic for a given seed and takes about three seconds
(--delay 0 removes the pause between simulated hours).

--rush shows, instead of the day, what a channel does with ten times the
trades Discord lets it carry: its oldest ones are folded into summaries.
The console has no rate limit, so #trades-executed goes to a small
stand-in for Discord on 127.0.0.1 (DiscordStandIn, below) for the rush,
which takes under a minute.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import itertools
import json
import logging
import logging.config
import math
import os
import random
import re
import statistics
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import structlog

from polybot_loghandler import Config, ConfigError, DiscordHandler, load_config

boss_log = structlog.stdlib.get_logger("floor_boss")
trader_log = structlog.stdlib.get_logger("trader")
feed_log = structlog.stdlib.get_logger("market_feed")
ops_log = structlog.stdlib.get_logger("ops")
pnl_log = structlog.stdlib.get_logger("pnl_tracker")
auditor = logging.getLogger("auditor")
perf_monitor = logging.getLogger("performance_monitor")
ACTORS = ["floor_boss", "trader", "market_feed", "ops", "pnl_tracker"]
ACTORS += ["auditor", "performance_monitor"]

DAY_START = datetime(2026, 2, 1, tzinfo=timezone.utc)  # a Sunday
UP_SINCE = DAY_START - timedelta(days=7, hours=14)
BALANCE = 1000.0  # the floor's capital when the day starts
MAX_POSITION = 100.0
LOSS_LIMIT = -100.0  # per agent and day
FEE_RATE = 0.02
CLOB_API = "Polymarket CLOB API"
DELIVERY_WAIT = 300.0  # seconds the demo waits for Discord at the end
PROGRESS_EVERY = 10.0  # seconds between its words while it waits
ROSTER = [  # Strategy_ASSET_version, mode, capital, chance a trade wins
    ("Momentum_BTC_v1", "live", 100.0, 0.64),
    ("Momentum_ETH_v2", "paper", 50.0, 0.56),
    ("Mean_Reversion_BTC_v1", "paper", 75.0, 0.52),
    ("Mean_Reversion_ETH_v1", "paper", 75.0, 0.40),
    ("Volume_ETH_v1", "paper", 50.0, 0.42),
]
CONFIGS: dict[str, dict[str, float]] = {
    "momentum": {"lookback": 10, "threshold": 0.02},
    "mean_reversion": {"window": 20, "z_entry": 2.0},
    "volume": {"spike_ratio": 2.5, "min_volume": 10_000},
}


def configure_logging(routing: Config) -> None:
    """Set up logging as the application does, plus the Discord handler."""
    shared: list[Any] = [
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    console = {
        "()": structlog.stdlib.ProcessorFormatter,
        "processors": [
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            # plain tracebacks, whatever is installed (rich draws pages)
            structlog.dev.ConsoleRenderer(
                colors=False,
                exception_formatter=structlog.dev.plain_traceback,
            ),
        ],
        "foreign_pre_chain": [*shared, structlog.stdlib.ExtraAdder()],
    }
    handlers = {
        "console": {
            "class": "logging.StreamHandler",
            "level": "WARNING",
            "formatter": "console",
        },
        # The one line that is polybot_loghandler (an application names
        # its file: "routing": "routing.yaml", or leaves it to the lookup)
        "discord": {
            "class": "polybot_loghandler.DiscordHandler",
            "routing": routing,
        },
    }
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {"console": console},
            "handlers": handlers,
            "root": {"level": "DEBUG", "handlers": ["console", "discord"]},
        }
    )
    structlog.configure(
        processors=[
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


# -- The floor's state


@dataclass
class Tally:
    """Closed trades and their P&L over some period."""

    trades: int = 0
    wins: int = 0
    pnl: float = 0.0
    fees: float = 0.0
    best: float = 0.0
    worst: float = 0.0
    peak: float = 0.0
    drawdown: float = 0.0  # the largest fall of P&L from a peak

    def record(self, pnl: float, fees: float) -> None:
        self.trades += 1
        self.wins += pnl > 0
        self.pnl = round(self.pnl + pnl, 2)
        self.fees = round(self.fees + fees, 2)
        self.best = max(self.best, pnl)
        self.worst = min(self.worst, pnl)
        self.peak = max(self.peak, self.pnl)
        self.drawdown = max(self.drawdown, round(self.peak - self.pnl, 2))

    @property
    def losses(self) -> int:
        return self.trades - self.wins

    @property
    def win_rate(self) -> float:
        return round(100 * self.wins / self.trades, 1) if self.trades else 0.0


@dataclass
class Agent:
    """A trader agent; its name says its strategy and asset."""

    name: str
    mode: str  # "paper" or "live"
    capital: float
    edge: float  # the chance that a trade closes in profit
    config: dict[str, float] = field(default_factory=dict)
    status: str = "Healthy"
    size_factor: float = 1.0
    hour: Tally = field(default_factory=Tally)
    today: Tally = field(default_factory=Tally)
    week: Tally = field(default_factory=Tally)
    daily_pnl: list[float] = field(default_factory=list)

    @property
    def strategy(self) -> str:
        return self.name.rsplit("_", 2)[0].lower()

    @property
    def market(self) -> str:
        return f"{self.name.rsplit('_', 2)[1]}-USD-UP-15m"

    @property
    def active(self) -> bool:
        return self.status in {"Healthy", "Monitoring"}


@dataclass
class Position:
    """An open position in the agent's 15-minute UP market."""

    agent: Agent
    side: str
    entry_price: float
    size: float
    opened_at: datetime
    closes_at: datetime


@dataclass
class Floor:
    """Everything the floor knows at the current simulated time."""

    rng: random.Random
    agents: list[Agent]
    now: datetime = DAY_START
    prices: dict[str, float] = field(default_factory=dict)  # market: YES
    signals: dict[str, dict[str, Any]] = field(default_factory=dict)
    positions: list[Position] = field(default_factory=list)
    today: Tally = field(default_factory=Tally)
    week: Tally = field(default_factory=Tally)
    audits: list[bool] = field(default_factory=list)
    violations: int = 0
    last_trade_ts: float = 0.0

    def agent(self, name: str) -> Agent:
        return next(a for a in self.agents if a.name == name)

    def allocated(self) -> float:
        return sum(a.capital for a in self.agents if a.active)

    def trade_id(self, mode: str, at: datetime) -> str:
        self.last_trade_ts = max(at.timestamp(), self.last_trade_ts + 0.001)
        return f"{mode}_{self.last_trade_ts:.3f}"


Incident = Callable[[Floor], None]


def new_floor(seed: int) -> Floor:
    """Build the floor, each agent with the six days before this one."""
    rng = random.Random(seed)
    floor = Floor(rng, [Agent(*entry) for entry in ROSTER])
    floor.prices = {"BTC-USD-UP-15m": 0.5423, "ETH-USD-UP-15m": 0.4871}
    for agent in floor.agents:
        agent.config = CONFIGS[agent.strategy]
        size = agent.capital * 0.3
        for _ in range(6):
            trades = rng.randint(6, 10)
            wins = round(trades * agent.edge)
            day = [trade_pnl(rng, size, i < wins) for i in range(trades)]
            for pnl in day:
                agent.week.record(pnl, round(size * FEE_RATE, 2))
                floor.week.record(pnl, round(size * FEE_RATE, 2))
            agent.daily_pnl.append(round(sum(day), 2))
    return floor


def trade_pnl(rng: random.Random, size: float, won: bool) -> float:
    """Take profit at 5-35 %, stop loss at 5-20 %, less fees."""
    move = rng.uniform(0.05, 0.35) if won else -rng.uniform(0.05, 0.20)
    return round(size * (move - FEE_RATE), 2)


def usd(amount: float, *, plus: bool = False) -> str:
    sign = "-" if amount < 0 else "+" if plus and amount > 0 else ""
    return f"{sign}${abs(amount):,.2f}"


# -- The market feed


def signal(score: float) -> dict[str, Any]:
    strength = round(min(abs(score), 1.0), 2)
    if abs(score) < 0.25:
        return {"signal": "NEUTRAL", "strength": strength}
    return {"signal": "BUY" if score > 0 else "SELL", "strength": strength}


def market_feed(floor: Floor) -> None:
    """Move both UP markets and publish their prices and signals."""
    rng = floor.rng
    for market, old in floor.prices.items():
        price = round(min(0.95, max(0.05, old + rng.gauss(0, 0.03))), 4)
        floor.prices[market] = price
        floor.signals[market] = signals = {
            "momentum": signal((price - old) * 25),
            "mean_reversion": signal((0.5 - price) * 6),
            "volume": signal(rng.uniform(-1.0, 1.0)),
        }
        feed_log.info(
            "market_update",
            asset=market[:3],
            market=market,
            price=price,
            change=round(price - old, 4),
            change_pct=round(100 * (price - old) / old, 2),
            volume=round(rng.uniform(20_000, 60_000), 2),
            liquidity=rng.choice(["High", "High", "Medium"]),
            signals=signals,
        )


def market_analysis(floor: Floor, asset: str) -> None:
    price = floor.prices[f"{asset}-USD-UP-15m"]
    feed_log.info(
        "market_analysis",
        asset=asset,
        summary=f"{asset} 15m markets lean {'UP' if price > 0.5 else 'DOWN'}",
        price=price,
        volatility_pct=round(floor.rng.uniform(1.5, 4.0), 1),
    )


# -- Trader agents


def agent_started(agent: Agent) -> None:
    trader_log.info(
        "agent_started",
        agent=agent.name,
        mode=agent.mode,
        capital=agent.capital,
        config=agent.config,
        markets=[agent.market, agent.market.replace("UP", "DOWN")],
    )


def stop_agent(floor: Floor, agent: Agent, reason: str, status: str) -> None:
    agent.status = status
    trader_log.info(
        "agent_stopped",
        agent=agent.name,
        reason=reason,
        win_rate=agent.week.win_rate,
        pnl=agent.week.pnl,
        runtime_s=(floor.now - DAY_START + timedelta(days=6)).total_seconds(),
        total_trades=agent.week.trades,
    )


def trader_turn(floor: Floor, agent: Agent) -> None:
    """Trade when the agent's strategy signal is strong enough."""
    sig = floor.signals[agent.market][agent.strategy]
    if sig["signal"] == "NEUTRAL" or floor.rng.random() > sig["strength"] / 2:
        return
    trader_log.debug(
        "signal_taken",
        agent=agent.name,
        strategy=agent.strategy,
        market=agent.market,
        **sig,
    )
    open_position(floor, agent, "YES" if sig["signal"] == "BUY" else "NO")


def open_position(floor: Floor, agent: Agent, side: str) -> Position:
    rng, yes = floor.rng, floor.prices[agent.market]
    stake = agent.capital * agent.size_factor
    size = round(stake * rng.uniform(0.2, 0.4), 0)
    price = round(yes if side == "YES" else 1 - yes, 4)
    opened = floor.now + timedelta(seconds=rng.uniform(0, 3300))
    closes = opened + timedelta(seconds=rng.uniform(300, 900))
    trade_id = floor.trade_id(agent.mode, opened)
    trader_log.info(
        "trade_executed",
        agent=agent.name,
        market=agent.market,
        side=side,
        amount=size,
        price=price,
        fees=round(size * FEE_RATE, 2),
        is_paper=agent.mode == "paper",
        trade_id=trade_id,
    )
    trader_log.info(
        "position_opened",
        agent=agent.name,
        market=agent.market,
        side=side,
        entry_price=price,
        size=size,
    )
    audit_trade(floor, agent, trade_id, size)
    floor.positions.append(Position(agent, side, price, size, opened, closes))
    return floor.positions[-1]


def close_position(floor: Floor, pos: Position, *, lose: bool = False) -> None:
    """Close at take-profit or stop-loss, or (*lose*) resolve against it."""
    agent, fees = pos.agent, round(pos.size * FEE_RATE, 2)
    won = not lose and floor.rng.random() < agent.edge
    pnl = trade_pnl(floor.rng, pos.size, won)
    exit_price = round(min(0.99, pos.entry_price * (1 + pnl / pos.size)), 4)
    outcome = "Take profit" if won else "Stop loss"
    if lose:
        pnl, exit_price, outcome = -pos.size - fees, 0.0, "Resolved NO"
    seconds = round((pos.closes_at - pos.opened_at).total_seconds(), 1)
    duration: dict[str, Any] = {"duration_s": seconds}
    if agent.strategy == "volume":  # still sends the older notifier's field
        minutes, rest = divmod(int(seconds), 60)
        duration = {"duration": f"{minutes}m {rest}s"}
    trader_log.info(
        "position_closed",
        agent=agent.name,
        market=agent.market,
        side=pos.side,
        entry_price=pos.entry_price,
        exit_price=exit_price,
        entry_time=pos.opened_at.isoformat(timespec="seconds"),
        exit_time=pos.closes_at.isoformat(timespec="seconds"),
        **duration,
        size=pos.size,
        pnl=pnl,
        pnl_pct=round(100 * pnl / pos.size, 1),
        outcome=outcome,
    )
    tallies = (agent.hour, agent.today, agent.week, floor.today, floor.week)
    for tally in tallies:
        tally.record(pnl, fees)
    floor.positions.remove(pos)


def settle(floor: Floor, until: datetime) -> None:
    for pos in [p for p in floor.positions if p.closes_at <= until]:
        close_position(floor, pos)


def lose_until(floor: Floor, agent: Agent, loss: float) -> None:
    """Let the agent's positions resolve against it until it is *loss* down."""
    while agent.today.pnl > loss:
        close_position(floor, open_position(floor, agent, "YES"), lose=True)


ORDER_ATTEMPTS = 4


def place_order(market: str, amount: float, attempt: int = 1) -> None:
    # The exchange stalls now and then; in this simulation, right now.
    # Each retry is made while handling the last timeout, so the final
    # traceback chains every attempt: longer than an embed shows, so
    # the whole of it goes beside the message as traceback.txt.
    try:
        submit_order(market, amount, attempt)
    except TimeoutError:
        if attempt < ORDER_ATTEMPTS:
            place_order(market, amount, attempt + 1)
            return
        raise


def submit_order(market: str, amount: float, attempt: int) -> None:
    raise TimeoutError(
        f"{CLOB_API}: ${amount:.2f} {market} order timed out "
        f"(attempt {attempt} of {ORDER_ATTEMPTS}, no answer in 10 s)"
    )


# -- The auditor


def audit_trade(
    floor: Floor, agent: Agent, trade_id: str, size: float
) -> None:
    """Validate a trade: info when it passes, error (trade blocked) if not."""
    loss = min(agent.today.pnl, 0.0)
    checks = {
        "Strategy logic": (True, "Entry follows the signal"),
        "Position size": (size <= MAX_POSITION, f"{usd(size)} (limit $100)"),
        "Daily loss": (loss > LOSS_LIMIT, f"{usd(loss)} (limit -$100)"),
        "Market validation": (True, "Market open and listed"),
    }
    audit: dict[str, Any] = {
        "trade_id": trade_id,
        "agent": agent.name,
        "passed": all(ok for ok, _ in checks.values()),
        "validations": {
            k: {"ok": ok, "detail": d} for k, (ok, d) in checks.items()
        },
    }
    floor.audits.append(audit["passed"])
    if audit["passed"]:
        auditor.info("trade_audit", extra=audit)
        return
    audit["issue"] = "Order above the per-position limit"
    audit["overage"] = usd(size - MAX_POSITION)
    audit["severity"] = "medium"
    audit["action"] = "Order blocked; agent flagged for review"
    auditor.error("trade_audit", extra=audit)


def risk_alert(agent: Agent, action: str) -> None:
    loss = agent.today.pnl
    auditor.warning(
        "risk_alert",
        extra={
            "agent": agent.name,
            "current_loss": loss,
            "limit": LOSS_LIMIT,
            "remaining": round(loss - LOSS_LIMIT, 2),
            "pct_used": round(100 * loss / LOSS_LIMIT, 1),
            "action": action,
        },
    )


# -- Operations: health probes and the performance monitor


def health_check(floor: Floor, *, legacy: bool = False) -> None:
    """Report every component; *legacy* sends the older name -> bool shape."""
    ms = floor.rng.uniform  # a latency in milliseconds
    agents = [a for a in floor.agents if a.status != "Removed"]
    running = sum(a.status != "Unresponsive" for a in agents)
    components: dict[str, Any] = {
        "Database": {"ok": True, "latency_ms": round(ms(3, 8), 1)},
        "Redis": {"ok": True, "latency_ms": round(ms(1, 3), 1)},
        "Polymarket API": {"ok": True, "latency_ms": round(ms(150, 400), 1)},
        "Floor Boss": {"ok": True, "detail": "heartbeat 12s ago"},
        "Trader Agents": {"ok": running == len(agents)},
        "Performance Monitor": {"ok": True},
        "Auditor": {"ok": True},
    }
    components["Trader Agents"]["detail"] = f"{running}/{len(agents)} running"
    if legacy:
        components = {name: c["ok"] for name, c in components.items()}
    ops_log.info(
        "health_check",
        components=components,
        uptime_s=(floor.now - UP_SINCE).total_seconds(),
        last_restart=None,
    )


def probe_services(floor: Floor, api_latency_ms: float = 0.0) -> None:
    rng = floor.rng
    ops_log.info(
        "database_health",
        ok=True,
        latency_ms=round(rng.uniform(3, 8), 1),
        connections_active=rng.randint(6, 14),
        connections_max=50,
        slow_queries=rng.choice([0, 0, 0, 1]),
        last_checkpoint_s=round(rng.uniform(30, 300), 1),
        disk_used_mb=round(234 + floor.now.hour * 0.8, 1),
        disk_total_mb=10_240.0,
    )
    ops_log.info(
        "redis_health",
        ok=True,
        latency_ms=round(rng.uniform(1, 3), 1),
        used_memory_mb=round(rng.uniform(40, 60), 1),
        hit_rate=round(rng.uniform(95, 99.5), 1),
        connected_clients=len(floor.agents) + 3,
    )
    latency = api_latency_ms or round(rng.uniform(150, 400), 1)
    slow = latency > 1000
    ops_log.info(
        "api_status",
        api=CLOB_API,
        ok=True,
        latency_ms=latency,
        detail="Responding slowly" if slow else "Responding normally",
    )


def resource_snapshot(floor: Floor) -> None:
    perf_monitor.info(
        "resource_snapshot",
        extra={
            "cpu_pct": round(floor.rng.uniform(12, 35), 1),
            "memory_mb": round(floor.rng.uniform(380, 460), 1),
            "open_positions": len(floor.positions),
        },
    )


# -- Heartbeats


def heartbeats(floor: Floor) -> None:
    """
    Every part of the floor that runs says so, as the watches expect.

    An agent that is stopped or not responding says nothing: a stopped
    one logged agent_stopped (the watch forgets it), an unresponsive
    one would be told after three minutes of silence, longer than the
    simulated day lasts here.
    """
    for agent in floor.agents:
        if agent.active:
            trader_log.info(
                "heartbeat",
                component="trader",
                agent=agent.name,
                strategy=agent.strategy,
                status=agent.status.lower(),
            )
    boss_log.info("heartbeat", component="floor_boss")
    feed_log.info("heartbeat", component="market_feed")
    auditor.info("heartbeat", extra={"component": "auditor"})
    perf_monitor.info("heartbeat", extra={"component": "performance_monitor"})


# -- Performance and analytics


def hourly_reports(floor: Floor) -> None:
    """Each agent's last hour, then the floor's P&L."""
    rows = [
        {
            "agent": a.name,
            "trades": a.hour.trades,
            "wins": a.hour.wins,
            "losses": a.hour.losses,
            "pnl_1h": a.hour.pnl,
            "pnl_24h": a.today.pnl,
            "status": a.status,
        }
        for a in floor.agents
        if a.status != "Removed"
    ]
    pnl_log.info("agent_performance", period="1h", agents=rows)
    unrealized = 0.0
    for p in floor.positions:
        yes = floor.prices[p.agent.market]
        mark = yes if p.side == "YES" else 1 - yes
        unrealized += p.size * (mark / p.entry_price - 1)
    total, today = floor.today.pnl + unrealized, floor.today
    pnl_log.info(
        "pnl_update",
        current_balance=round(BALANCE + total, 2),
        starting_balance=BALANCE,
        total_pnl=round(total, 2),
        total_pnl_pct=round(100 * total / BALANCE, 2),
        unrealized_pnl=round(unrealized, 2),
        realized_pnl=today.pnl,
        trades_today=today.trades,
        wins=today.wins,
        losses=today.losses,
        best_trade=today.best,
        worst_trade=today.worst,
        fees_today=today.fees,
    )
    for agent in floor.agents:
        agent.hour = Tally()


def summary(
    total: Tally, tallies: dict[str, Tally], start: float, pnl_target: float
) -> dict[str, Any]:
    """The fields that the daily and the weekly summary share."""
    rows: list[dict[str, Any]] = [
        {
            "name": name,
            "pnl": t.pnl,
            "trades": t.trades,
            "win_rate": t.win_rate,
        }
        for name, t in sorted(tallies.items(), key=lambda item: -item[1].pnl)
    ]
    return {
        "starting_balance": round(start, 2),
        "ending_balance": round(start + total.pnl, 2),
        "total_pnl": total.pnl,
        "roi": round(100 * total.pnl / start, 2),
        "total_trades": total.trades,
        "win_rate": total.win_rate,
        "wins": total.wins,
        "losses": total.losses,
        "fees": total.fees,
        "top_performers": [r for r in rows if r["pnl"] > 0][:3],
        "underperformers": [r for r in reversed(rows) if r["pnl"] <= 0],
        "best_trade": total.best,
        "best_trade_agent": max(tallies, key=lambda n: tallies[n].best),
        "worst_trade": total.worst,
        "worst_trade_agent": min(tallies, key=lambda n: tallies[n].worst),
        "targets": {
            "pnl": {
                "target": pnl_target,
                "actual": total.pnl,
                "met": total.pnl >= pnl_target,
            },
            "win_rate": {
                "target": 52.0,
                "actual": total.win_rate,
                "met": total.win_rate > 52.0,
            },
            "max_drawdown": {
                "target": 100.0,
                "actual": total.drawdown,
                "met": total.drawdown < 100.0,
            },
        },
    }


def end_of_day_reports(floor: Floor) -> None:
    """The daily and weekly summaries, then the auditor's report."""
    date, day = DAY_START.date(), floor.today
    by_agent = {a.name: a.today for a in floor.agents}
    daily = summary(day, by_agent, BALANCE, pnl_target=50.0)
    pnl_log.info("daily_summary", date=date.isoformat(), **daily)
    start = BALANCE - (floor.week.pnl - day.pnl)
    by_agent = {a.name: a.week for a in floor.agents}
    weekly = summary(floor.week, by_agent, start, pnl_target=250.0)
    year, week, _ = date.isocalendar()
    pnl_log.info("weekly_summary", week=f"{year}-W{week:02d}", **weekly)
    auditor.info(
        "audit_report",
        extra={
            "period": date.isoformat(),
            "trades_audited": len(floor.audits),
            "passed": floor.audits.count(True),
            "failed": floor.audits.count(False),
            "violations": floor.violations,
        },
    )
    perf_monitor.info("Day closed after %d trades", day.trades)


def leaderboard(floor: Floor) -> None:
    """Rank the agents over 7 days; Sharpe ratio of their daily P&L."""
    entries = []
    for agent in sorted(floor.agents, key=lambda a: -a.week.pnl):
        days = [*agent.daily_pnl, agent.today.pnl]
        spread = statistics.pstdev(days)
        sharpe = round(statistics.mean(days) / spread, 2) if spread else 0.0
        entry: dict[str, Any] = {
            "agent": agent.name,
            "pnl": agent.week.pnl,
            "win_rate": agent.week.win_rate,
            "sharpe": sharpe,
        }
        if agent.status != "Healthy":
            entry["status"] = agent.status
        entries.append(entry)
    pnl_log.info("leaderboard", period="7d", entries=entries)


# -- The floor boss


def remove_underperformer(floor: Floor) -> None:
    agent = floor.agent("Mean_Reversion_ETH_v1")
    win_rate = agent.week.win_rate
    boss_log.info("reviewing_agent", agent=agent.name, win_rate=win_rate)
    boss_log.info(
        "floor_boss_decision",
        decision="Agent Removal",
        agent=agent.name,
        reason=f"7-day win rate of {win_rate}% is under 45%",
        threshold=45.0,
        trades_analyzed=agent.week.trades,
        action="Stopped; configuration archived",
    )
    stop_agent(floor, agent, "Removed by the floor boss", "Removed")


def clone_winner(floor: Floor) -> None:
    source = floor.agent("Momentum_BTC_v1")
    config = {**source.config, "lookback": 15}
    clone = Agent("Momentum_BTC_v2", "paper", 75.0, 0.6, config)
    week = source.week
    boss_log.info(
        "floor_boss_decision",
        decision="Agent Cloning",
        source_agent=source.name,
        new_agent=clone.name,
        reason=f"{week.win_rate}% win rate, {usd(week.pnl, plus=True)} P&L",
        variation="Lookback 15 instead of 10",
        capital=clone.capital,
        mode=clone.mode,
        action="7-day paper trial",
    )
    floor.agents.append(clone)
    ops_log.info(
        "agent_deployed",
        agent=clone.name,
        strategy=clone.strategy,
        capital=clone.capital,
        mode=clone.mode,
    )
    agent_started(clone)
    changes = [
        {"agent": name, "old": old, "new": new, "reason": reason}
        for name, old, new, reason in [
            (
                source.name,
                source.capital,
                150.0,
                "Best 7-day record on the floor",
            ),
            ("Mean_Reversion_ETH_v1", 75.0, 0.0, "Agent removed"),
            (clone.name, 0.0, clone.capital, "New paper trial"),
        ]
    ]
    source.capital = 150.0
    open_position(floor, source, "YES")  # puts the new capital to work
    boss_log.info(
        "capital_reallocation",
        changes=changes,
        total_allocated=floor.allocated(),
        total_capital=BALANCE,
    )


# -- Incidents: one-off events at fixed points of the day


def api_slowdown(floor: Floor) -> None:
    ops_log.warning(
        "api_latency_high",
        api=CLOB_API,
        latency_s=2.3,
        normal_ms=500.0,
        impact="Orders may fill late",
    )
    probe_services(floor, api_latency_ms=2310.0)
    # Not in the vocabulary: the generic warning rule picks it up.
    feed_log.warning("quote_stale", market="ETH-USD-UP-15m", age_s=48.0)


def agent_unresponsive(floor: Floor) -> None:
    agent = floor.agent("Momentum_ETH_v2")
    agent.status = "Unresponsive"
    ops_log.critical(
        "critical_alert",
        component=f"Trader Agent ({agent.name})",
        issue="No heartbeat for 3 minutes",
        last_heartbeat_s=180.0,
        action="Restarting the agent",
        attempt=1,
        max_attempts=10,
    )
    # the follow-up: the same incident, so the same thread (forum post)
    ops_log.critical(
        "critical_alert",
        component=f"Trader Agent ({agent.name})",
        issue="No heartbeat for 3 minutes",
        last_heartbeat_s=240.0,
        action="Restarting the agent",
        attempt=2,
        max_attempts=10,
    )
    health_check(floor)


def agent_restarted(floor: Floor) -> None:
    agent = floor.agent("Momentum_ETH_v2")
    agent.status = "Healthy"
    ops_log.info("system_event", title="Agent Restarted", agent=agent.name)
    agent_started(agent)
    floor.violations += 1
    auditor.error(
        "audit_violation",
        extra={
            "agent": agent.name,
            "rule": "duplicate_order",
            "detail": "Re-sent 2 orders placed before the restart",
            "severity": "low",
            "action": "Duplicates cancelled, agent warned",
        },
    )


def order_timeout(floor: Floor) -> None:
    agent = floor.agent("Mean_Reversion_BTC_v1")
    try:
        place_order(agent.market, 25.0)
    except TimeoutError:
        trader_log.exception("order_failed", agent=agent.name, amount=25.0)


def underperformer_flagged(floor: Floor) -> None:
    agent = floor.agent("Mean_Reversion_ETH_v1")
    agent.status = "Monitoring"
    audit_trade(floor, agent, floor.trade_id("paper", floor.now), 125.0)
    pnl_log.warning(
        "performance_alert",
        agent=agent.name,
        metric="win_rate_7d",
        value=agent.week.win_rate,
        threshold=45.0,
    )


def reconnect_storm(floor: Floor) -> None:
    # Twenty identical warnings in a row: delivery coalesces them.
    for _ in range(20):
        feed_log.warning("ws_reconnect_failed", error="connection reset")
    feed_log.info("ws_resubscribed", markets=list(floor.prices))


def liquidity_gap(floor: Floor) -> None:
    feed_log.warning(
        "market_anomaly",
        asset="ETH",
        market="ETH-USD-UP-15m",
        anomaly="Liquidity gap",
        detail="Book depth fell 78% in 3 minutes; spread widened to 0.09",
    )
    agent = floor.agent("Volume_ETH_v1")
    lose_until(floor, agent, 0.75 * LOSS_LIMIT)
    risk_alert(agent, "Position sizes halved")
    agent.size_factor = 0.5
    trader_log.info(
        "position_sizing_changed",
        agent=agent.name,
        strategy=agent.strategy,
        size_factor=agent.size_factor,
    )


def release(floor: Floor) -> None:
    ops_log.info(
        "deployment",
        component="performance_monitor",
        version="1.8.0",
        status="success",
        by="github-actions",
    )
    perf_monitor.info("Watching %d agents", len(floor.agents))


def loss_limit(floor: Floor) -> None:
    agent = floor.agent("Volume_ETH_v1")
    lose_until(floor, agent, LOSS_LIMIT)
    auditor.critical(
        "daily_loss_limit_reached",
        extra={
            "agent": agent.name,
            "daily_loss": agent.today.pnl,
            "limit": LOSS_LIMIT,
            "action": f"{agent.name} paused until reviewed",
        },
    )
    stop_agent(floor, agent, "Daily loss limit reached", "Paused")


def legacy_watchdog(floor: Floor) -> None:
    # An older watchdog, still on the shape the first notifier sent.
    health_check(floor, legacy=True)


def admin_review(floor: Floor) -> None:
    agent = floor.agent("Volume_ETH_v1")
    ops_log.info(
        "admin_notice",
        title=f"{agent.name} Awaiting Review",
        agent=agent.name,
        daily_loss=agent.today.pnl,
        detail="Hit its daily loss limit; resume with !resume once reviewed",
    )


INCIDENTS: list[tuple[float, Incident]] = [
    (0.05, order_timeout),
    (0.10, api_slowdown),
    (0.20, agent_unresponsive),
    (0.22, agent_restarted),
    (0.30, underperformer_flagged),
    (0.35, reconnect_storm),
    (0.45, liquidity_gap),
    (0.50, remove_underperformer),
    (0.55, release),
    (0.60, clone_winner),
    (0.70, loss_limit),
    (0.75, legacy_watchdog),
    (0.85, admin_review),
]


# -- The day


def trading_hour(floor: Floor, step: int, incidents: list[Incident]) -> None:
    heartbeats(floor)
    market_feed(floor)
    for agent in floor.agents:
        if agent.active:
            trader_turn(floor, agent)
    for incident in incidents:
        incident(floor)
    settle(floor, floor.now + timedelta(hours=1))
    boss_log.debug("tick", open_positions=len(floor.positions))
    if step % 6 == 0:
        health_check(floor)
        probe_services(floor)
    if step % 3 == 0:
        resource_snapshot(floor)
    if step % 8 == 0:
        market_analysis(floor, "BTC" if step % 16 == 0 else "ETH")
    hourly_reports(floor)


def run_day(floor: Floor, hours: int, delay: float) -> None:
    due: dict[int, list[Incident]] = {}
    for fraction, incident in INCIDENTS:
        step = min(hours - 1, int(fraction * hours))
        due.setdefault(step, []).append(incident)
    ops_log.info("system_event", title="Trading Floor Open", capital=BALANCE)
    boss_log.info("day_started", allocated=floor.allocated())
    for agent in floor.agents:
        agent_started(agent)
    for step in range(hours):
        trading_hour(floor, step, due.get(step, []))
        floor.now += timedelta(hours=1)
        time.sleep(delay)
    settle(floor, floor.now + timedelta(days=1))
    end_of_day_reports(floor)
    leaderboard(floor)


def demo_routing(
    path: str | None,
    *,
    show_all: bool,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """
    The routing file, set to show one message of each channel.

    A simulated day logs hundreds of messages: on the console the demo
    shows the first of each channel and counts the others, unless --all
    or the file's own ``delivery.console_per_channel`` says otherwise.
    An application sets that key in its routing file instead.
    """
    config = load_config(path, environ)
    if show_all or config.delivery.console_per_channel is not None:
        return config
    delivery = dataclasses.replace(config.delivery, console_per_channel=1)
    return dataclasses.replace(config, delivery=delivery)


def wait_for_discord(
    handler: DiscordHandler, limit: float, keep_alive: Callable[[], None]
) -> None:
    """
    Wait for the messages still on their way, saying what is left.

    A simulated day is a burst, and Discord takes about 30 messages a
    minute in each channel: carrying it takes longer than the exit's
    usual flush timeout, so the demo waits, up to *limit* seconds, and
    says what it waits for (from ``handler.stats()``). Meanwhile the
    floor is still up: *keep_alive* logs its heartbeats, so that the
    watches do not take a wait of minutes for a silent floor.
    """
    if not any(c.destination for c in handler.config.channels.values()):
        return  # all on the console: the exit's flush shows the rest
    deadline = time.monotonic() + limit
    handler.flush(timeout=1.0)  # a quick floor needs no word
    while True:
        stats = handler.stats()
        left = stats["queued"] + stats["pending"]
        remaining = deadline - time.monotonic()
        if not left or remaining <= 0:
            return
        wait = stats.get("rate_limit.wait_s", 0)
        doing = f"the next send in {wait} s" if wait else "sending"
        print(
            f"trading_floor: {left} messages wait for Discord, which takes "
            f"about 30 a minute per channel: {doing}",
            file=sys.stderr,
        )
        keep_alive()
        handler.flush(timeout=min(PROGRESS_EVERY, remaining))


# -- The rush: ten times what #trades-executed can carry
#
# The console has no rate limit, so nothing folds there. --rush points
# #trades-executed at a stand-in for Discord on 127.0.0.1, which limits
# it as Discord does; the traders log ten times what it can carry, and
# the demo shows what arrives, and when.

RUSH_CHANNEL = "trades_executed"
RUSH_VARIABLE = "DISCORD_WEBHOOK_TRADES_EXECUTED"  # as routing.yaml says
RUSH_HOOK = ("1471000000000000001", "rush-stand-in")  # its id and token
RUSH_TRADES = 3_000  # ten times the 300 embeds a channel takes a minute
RUSH_SECONDS = 20.0
RUSH_WARNINGS = 5  # of those trades, the ones logged at warning level
RUSH_MAX_LAG = 30.0  # delivery.max_lag for the rush (the shipped: 2m)
RUSH_SLACK = 10.0  # how long past max_lag the demo waits, at most
#: Discord's limits: requests per webhook (its bucket, which the headers
#: describe), and messages per channel (which no header describes).
BUCKET_REQUESTS, BUCKET_SECONDS = 5, 2.0
CHANNEL_MESSAGES, CHANNEL_SECONDS = 30, 60.0
DISCORD_EPOCH_MS = 1_420_070_400_000
WEBHOOK_PATH = re.compile(r"/api(?:/v\d+)?/webhooks/(\d+)/([^/]+)/?")
FOLDED_FOOTER = re.compile(r"folded: (\d+) · route ")

Answer = tuple[int, dict[str, str], Any]  # status, headers, JSON body


class DiscordStandIn(ThreadingHTTPServer):
    """
    Discord's Execute Webhook on 127.0.0.1 (a free port), for --rush.

    It answers as Discord does, and checks no more than Discord does:
    a webhook has a bucket of 5 requests per 2 s, described by the
    ``X-RateLimit-*`` headers of every answer (past it: a 429 of scope
    ``user``), and its channel takes 30 messages in any 60 s (past them:
    a 429 of code 20028 and scope ``shared``, which no header foretells).
    A message it takes is answered 204, or 200 and the message with
    ``?wait=true``, and handed to *on_message*.
    """

    daemon_threads = True

    def __init__(self, on_message: Callable[[dict[str, Any]], None]) -> None:
        super().__init__(("127.0.0.1", 0), _StandInRequest)
        self.on_message = on_message
        self.too_many = 0  # 429s answered
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, int]] = {}  # resets at, used
        self._sent: dict[str, deque[float]] = {}  # by channel, the times
        self._ids = itertools.count()

    def url(self, webhook_id: str, token: str) -> str:
        port = self.server_address[1]
        return f"http://127.0.0.1:{port}/api/webhooks/{webhook_id}/{token}"

    def start(self) -> None:
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def execute(self, path: str, body: bytes) -> Answer:
        """``POST /api/webhooks/{id}/{token}``."""
        url = urlsplit(path)
        hook = WEBHOOK_PATH.fullmatch(url.path)
        if hook is None:
            return 404, {}, {"message": "404: Not Found", "code": 0}
        with self._lock:
            answer = self._limit(hook[0], hook[1], time.monotonic())
            if answer[0] != 429:
                answer = self._take(hook[1], body, answer[1])
        if answer[0] == 200:
            self.on_message(answer[2])
            if dict(parse_qsl(url.query)).get("wait") not in ("true", "1"):
                return 204, answer[1], None
        return answer

    def _limit(self, bucket: str, channel: str, now: float) -> Answer:
        """Count a request against the webhook and its channel."""
        resets_at, used = self._buckets.get(bucket, (0.0, 0))
        if now >= resets_at:
            resets_at, used = now + BUCKET_SECONDS, 0
        full = used >= BUCKET_REQUESTS  # the bucket's own 429 is free
        used += not full
        self._buckets[bucket] = resets_at, used
        headers = {
            "X-RateLimit-Limit": str(BUCKET_REQUESTS),
            "X-RateLimit-Remaining": str(BUCKET_REQUESTS - used),
            "X-RateLimit-Reset": f"{time.time() + resets_at - now:.3f}",
            "X-RateLimit-Reset-After": f"{resets_at - now:.3f}",
            "X-RateLimit-Bucket": hashlib.sha256(bucket.encode()).hexdigest(),
        }
        sent = self._sent.setdefault(channel, deque())
        while sent and sent[0] <= now - CHANNEL_SECONDS:
            sent.popleft()
        if not full and len(sent) < CHANNEL_MESSAGES:
            sent.append(now)  # taken back if the message is refused
            return 200, headers, None
        self.too_many += 1
        wait = resets_at - now if full else sent[0] + CHANNEL_SECONDS - now
        headers["Retry-After"] = str(math.ceil(wait))
        headers["X-RateLimit-Scope"] = "user" if full else "shared"
        said: dict[str, Any] = {"message": "You are being rate limited."}
        if not full:
            said = {
                "message": "The channel you are writing has hit the write "
                "rate limit",
                "code": 20028,
            }
        return 429, headers, {**said, "retry_after": wait, "global": False}

    def _take(
        self, channel: str, body: bytes, headers: dict[str, str]
    ) -> Answer:
        """The message Discord makes of *body*, or why it refuses it."""
        try:
            message = json.loads(body)
        except ValueError:
            message = None
        refused = None
        if not isinstance(message, dict):
            refused = {"message": "Invalid Form Body", "code": 50035}
        elif not message.get("content") and not message.get("embeds"):
            refused = {
                "message": "Cannot send an empty message",
                "code": 50006,
            }
        if refused is not None:
            self._sent[channel].pop()
            return 400, headers, refused
        snowflake = int(time.time() * 1000) - DISCORD_EPOCH_MS << 22
        message |= {
            "id": str(snowflake | next(self._ids) % 4096),
            "type": 0,
            "channel_id": channel,
            "webhook_id": channel,
            "timestamp": datetime.now(timezone.utc).isoformat(),
        }
        return 200, headers, message


class _StandInRequest(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # connections are kept, as Discord's
    server: DiscordStandIn

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        status, headers, data = self.server.execute(self.path, body)
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        text = b"" if status == 204 else json.dumps(data).encode()
        if status != 204:
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(text)))
        self.end_headers()
        self.wfile.write(text)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """Say nothing: the rush shows what arrives."""


@dataclass
class RushWatch:
    """What reaches the stand-in: one line per message, and a tally."""

    started: float  # time.monotonic() when the rush began
    warnings: dict[str, int] = field(default_factory=dict)  # trade id: N
    logged: dict[str, float] = field(default_factory=dict)  # warnings'
    arrived: dict[str, float] = field(default_factory=dict)  # idem
    one_by_one: int = 0  # trades in embeds of their own
    folded: int = 0  # trades inside summaries
    summaries: int = 0
    messages: int = 0
    quiet: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def on_message(self, message: dict[str, Any]) -> None:
        now = time.monotonic()
        with self.lock:
            self.messages += 1
            shown = [self.embed(e, now) for e in message.get("embeds") or []]
            if not self.quiet:  # one write: other threads write too
                line = " · ".join(counted(shown))
                sys.stderr.write(f"{now - self.started:7.1f} s  {line}\n")

    def embed(self, embed: dict[str, Any], now: float) -> str:
        """Count *embed*; what its line shows of it."""
        title = str(embed.get("title") or "(no title)")
        footer = str((embed.get("footer") or {}).get("text") or "")
        summary = FOLDED_FOOTER.match(footer)
        if summary is not None:
            self.folded += int(summary[1])
            self.summaries += 1
            return title  # it says how many it stands for
        self.one_by_one += 1
        fields = {f["name"]: f["value"] for f in embed.get("fields") or []}
        trade_id = str(fields.get("Trade ID") or "").replace("\\", "")
        if trade_id not in self.warnings:
            return title
        late = self.arrived[trade_id] = now - self.logged[trade_id]
        number = self.warnings[trade_id]
        return (
            f"⚠️ {title} (warning {number}, {late:.1f} s after it was logged)"
        )

    def done(self) -> bool:
        with self.lock:
            trades = self.one_by_one + self.folded
            return trades >= RUSH_TRADES and self.arrived.keys() >= set(
                self.warnings
            )


def counted(titles: list[str]) -> list[str]:
    """*titles*, a run of the same one said once with its count."""
    out: list[str] = []
    for title, run in itertools.groupby(titles):
        times = len(list(run))
        out.append(title if times == 1 else f"{title} ×{times}")
    return out


def rush_routing(path: str | None, url: str, *, show_all: bool) -> Config:
    """
    The routing file with #trades-executed at *url*, for the rush.

    Its webhook comes from the variable routing.yaml names for it; every
    other channel renders on the console, whatever DISCORD_* variables
    are set. ``delivery.max_lag`` is the rush's, and neither a spool
    nor the relay keeps the rush's messages for another process.
    """
    environ = {k: v for k, v in os.environ.items() if k[:8] != "DISCORD_"}
    config = demo_routing(
        path, show_all=show_all, environ=environ | {RUSH_VARIABLE: url}
    )
    channel = config.channels.get(RUSH_CHANNEL)
    if getattr(channel and channel.destination, "url", None) != url:
        raise ConfigError(
            f"{config.path}: --rush needs a channel {RUSH_CHANNEL} whose "
            f"webhook is ${{{RUSH_VARIABLE}}}, as in the shipped routing"
        )
    delivery = dataclasses.replace(
        config.delivery,
        max_lag=RUSH_MAX_LAG,
        spool=None,
        relay=None,
        reload_every=None,
    )
    return dataclasses.replace(config, delivery=delivery)


def rush_trade(floor: Floor, agent: Agent, at: datetime) -> dict[str, Any]:
    """One trade of *agent* in the rush, at *at* (simulated)."""
    rng, yes = floor.rng, floor.prices[agent.market]
    side = rng.choice(["YES", "NO"])
    amount = round(agent.capital * rng.uniform(0.05, 0.2), 0)
    return {
        "agent": agent.name,
        "market": agent.market,
        "side": side,
        "amount": amount,
        "price": round(yes if side == "YES" else 1 - yes, 4),
        "fees": round(amount * FEE_RATE, 2),
        "is_paper": agent.mode == "paper",
        "trade_id": floor.trade_id(agent.mode, at),
    }


def run_rush(floor: Floor, watch: RushWatch) -> None:
    """
    Log RUSH_TRADES trades, evenly over RUSH_SECONDS.

    A few of them, spread over the rush, are fills that slipped past
    the agent's tolerance, logged at warning level: they are never
    folded, and in their channel they go before the infos.
    """
    floor.now = DAY_START + timedelta(hours=14, minutes=30)  # news breaks
    gap = RUSH_SECONDS / RUSH_TRADES
    warned = {
        (2 * k + 1) * RUSH_TRADES // (2 * RUSH_WARNINGS): k + 1
        for k in range(RUSH_WARNINGS)
    }
    for n in range(RUSH_TRADES):
        agent = floor.rng.choice(floor.agents)
        trade = rush_trade(
            floor, agent, floor.now + timedelta(seconds=n * gap)
        )
        delay = watch.started + n * gap - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        if n not in warned:
            trader_log.info("trade_executed", **trade)
            continue
        with watch.lock:
            watch.warnings[trade["trade_id"]] = warned[n]
            watch.logged[trade["trade_id"]] = time.monotonic()
        slippage = round(floor.rng.uniform(2.5, 6.0), 1)
        trader_log.warning("trade_executed", **trade, slippage_pct=slippage)


def rush(path: str | None, seed: int, *, show_all: bool) -> int:
    """--rush: the rush, what arrives of it, and a tally; the status."""
    watch = RushWatch(started=0.0)
    stand_in = DiscordStandIn(watch.on_message)
    try:
        routing = rush_routing(
            path, stand_in.url(*RUSH_HOOK), show_all=show_all
        )
    except ConfigError:
        stand_in.server_close()
        raise
    stand_in.start()  # it stays up until the exit's flush is over
    configure_logging(routing)
    handler = next(
        h
        for h in logging.getLogger().handlers
        if isinstance(h, DiscordHandler)
    )
    floor = new_floor(seed)
    port = stand_in.server_address[1]
    print(
        f"trading_floor: the rush: {RUSH_TRADES:,} trades in "
        f"{RUSH_SECONDS:g} s to #trades-executed, ten times the "
        f"{CHANNEL_MESSAGES * 10} a minute it can carry ({CHANNEL_MESSAGES} "
        f"messages of 10 embeds); {RUSH_WARNINGS} of them are warnings\n"
        "trading_floor: #trades-executed goes to a stand-in for Discord on "
        f"127.0.0.1:{port}, with Discord's rate limits; delivery.max_lag: "
        f"{RUSH_MAX_LAG:g}s\n"
        "trading_floor: what arrives there: the seconds since the rush "
        "began, and each embed's title",
        file=sys.stderr,
    )
    watch.started = time.monotonic()
    run_rush(floor, watch)
    deadline = time.monotonic() + RUSH_MAX_LAG + RUSH_SLACK
    while not watch.done() and time.monotonic() < deadline:
        time.sleep(0.1)
    handler.flush(timeout=2.0)  # its counters: a summary counts once taken
    stats = handler.stats()
    with watch.lock:
        watch.quiet = True
        print(rush_tally(watch, stats, stand_in.too_many), file=sys.stderr)
    return 0


def rush_tally(watch: RushWatch, stats: dict[str, int], too_many: int) -> str:
    """The rush's closing lines."""
    took = [
        f"{watch.arrived[t]:.1f} s" if t in watch.arrived else "never"
        for t in sorted(watch.warnings, key=watch.warnings.__getitem__)
    ]
    return (
        f"trading_floor: {RUSH_TRADES:,} trades logged: {watch.one_by_one:,} "
        f"shown one by one, {watch.folded:,} inside {watch.summaries} "
        f"summaries; {watch.messages} messages\n"
        f"trading_floor: the {len(watch.warnings)} warnings arrived one by "
        f"one, {', '.join(took)} after they were logged\n"
        f"trading_floor: {too_many} 429s; handler.stats(): delivered "
        f"{stats.get('delivered', 0):,}, folded {stats.get('folded', 0):,}"
    )


class EventCounter(logging.Handler):
    """Counts the records the actors log, for the closing line."""

    count = 0

    def emit(self, record: logging.LogRecord) -> None:  # noqa: ARG002
        self.count += 1


def main(
    argv: list[str] | None = None,
    *,
    prog: str | None = None,
    routing: str | None = None,
) -> int:
    """
    Run the simulated day; returns the exit status.

    ``polybot-loghandler demo`` passes its own name as *prog* and the
    shipped routing file as *routing*, the default of --routing.
    """
    parser = argparse.ArgumentParser(
        prog=prog, description="Simulate a day on the Polybot trading floor."
    )
    parser.add_argument(
        "--routing",
        metavar="FILE",
        default=routing,
        help="default: the library's own lookup ($POLYBOT_ROUTING, else "
        "./routing.yaml, else the shipped Polybot routing)"
        if routing is None
        else "default: the shipped Polybot routing, whatever "
        "$POLYBOT_ROUTING or ./routing.yaml say",
    )
    parser.add_argument(
        "--seed", type=int, default=7, metavar="N", help="default: 7"
    )
    parser.add_argument(
        "--hours", type=int, default=24, metavar="H", help="default: 24"
    )
    parser.add_argument(
        "--delay",
        type=float,
        default=0.1,
        metavar="SECONDS",
        help="pause per simulated hour (default: 0.1)",
    )
    parser.add_argument(
        "--all",
        action="store_true",
        help="show every message on the console (default: the first of "
        "each channel, the others counted)",
    )
    parser.add_argument(
        "--rush",
        action="store_true",
        help="instead of the day, log ten times what #trades-executed can "
        "carry, to a stand-in for Discord on 127.0.0.1, and show how it "
        "folds (about a minute)",
    )
    args = parser.parse_args(argv)
    if args.hours < 1:
        parser.error("--hours must be at least 1")
    if args.rush:
        try:
            return rush(args.routing, args.seed, show_all=args.all)
        except ConfigError as exc:
            parser.exit(2, f"{parser.prog}: {exc}\n")
    try:
        config = demo_routing(args.routing, show_all=args.all)
    except ConfigError as exc:  # the file, the line and what is wrong
        parser.exit(2, f"{parser.prog}: {exc}\n")
    configure_logging(config)
    counter = EventCounter()
    for name in ACTORS:
        logging.getLogger(name).addHandler(counter)
    floor = new_floor(args.seed)
    try:
        run_day(floor, args.hours, args.delay)
    finally:
        for name in ACTORS:
            logging.getLogger(name).removeHandler(counter)
    print(f"trading_floor: logged {counter.count} events", file=sys.stderr)
    for handler in logging.getLogger().handlers:
        if isinstance(handler, DiscordHandler):
            wait_for_discord(handler, DELIVERY_WAIT, lambda: heartbeats(floor))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
