"""
A simulated Polybot trading floor logging one accelerated trading day.

It shows how an application uses polybot_loghandler: its usual logging
and structlog setup plus one handler entry (see configure_logging).  The
actors then log as they always would, with structlog or with the standard
library, and the routing file decides which Discord channel each event
reaches and how it looks.  They are the floor boss, five trader agents,
an auditor, a performance monitor, a BTC/ETH market feed and health
probes; between them they log every event of the Polybot vocabulary, a
warning and an error that only the generic rules catch, and a burst of
identical warnings that delivery coalesces.

    python examples/trading_floor.py [--routing FILE] [--seed N]
                                     [--hours H] [--delay SECONDS]

or ``polybot-loghandler demo``.  With no DISCORD_WEBHOOK_* variables set
nothing is sent: every message renders on the console instead.  A run is
deterministic for a seed and takes about three seconds (--delay 0: less).
"""

from __future__ import annotations

import argparse
import logging
import logging.config
import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import structlog

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
BALANCE = 1000.0  # the floor's capital at the start of the day
MAX_POSITION = 100.0
LOSS_LIMIT = -100.0  # per agent and day
FEE_RATE = 0.02
CLOB_API = "Polymarket CLOB API"
ROSTER = [  # name (strategy_asset_version), mode, capital, win chance
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


def configure_logging(routing: str | None) -> None:
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
            structlog.dev.ConsoleRenderer(colors=False),
        ],
        "foreign_pre_chain": [*shared, structlog.stdlib.ExtraAdder()],
    }
    where = {} if routing is None else {"routing": routing}
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {"console": console},
            "handlers": {
                "console": {
                    "class": "logging.StreamHandler",
                    "level": "WARNING",
                    "formatter": "console",
                },
                # The one line that is polybot_loghandler:
                "discord": {
                    "class": "polybot_loghandler.DiscordHandler",
                    **where,
                },
            },
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


# --- the floor's state ------------------------------------------------------


@dataclass
class Tally:
    """Closed trades and their P&L over some period."""

    trades: int = 0
    wins: int = 0
    pnl: float = 0.0
    fees: float = 0.0
    best: float = 0.0
    worst: float = 0.0

    def record(self, pnl: float, fees: float) -> None:
        self.trades += 1
        self.wins += pnl > 0
        self.pnl = round(self.pnl + pnl, 2)
        self.fees = round(self.fees + fees, 2)
        self.best = max(self.best, pnl)
        self.worst = min(self.worst, pnl)

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
    def asset(self) -> str:
        return self.name.rsplit("_", 2)[1]

    @property
    def active(self) -> bool:
        return self.status in {"Healthy", "Monitoring"}


@dataclass
class Position:
    """An open position in a 15-minute market."""

    agent: Agent
    side: str
    entry_price: float
    size: float
    opened_at: datetime
    closes_at: datetime

    @property
    def market(self) -> str:
        return f"{self.agent.asset}-USD-UP-15m"


@dataclass
class Floor:
    """Everything the floor knows at the current simulated time."""

    rng: random.Random
    agents: list[Agent]
    now: datetime = DAY_START
    prices: dict[str, float] = field(default_factory=dict)  # UP market, YES
    signals: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    positions: list[Position] = field(default_factory=list)
    today: Tally = field(default_factory=Tally)
    week: Tally = field(default_factory=Tally)
    last_trade_ts: float = 0.0
    audits: list[bool] = field(default_factory=list)
    violations: int = 0

    def agent(self, name: str) -> Agent:
        return next(a for a in self.agents if a.name == name)

    def allocated(self) -> float:
        return sum(a.capital for a in self.agents if a.active)

    def trade_id(self, mode: str, at: datetime) -> str:
        self.last_trade_ts = max(at.timestamp(), self.last_trade_ts + 0.001)
        return f"{mode}_{self.last_trade_ts:.3f}"


def new_floor(seed: int) -> Floor:
    """Build the floor, each agent with the six days before this one."""
    rng = random.Random(seed)
    agents = [Agent(*entry) for entry in ROSTER]
    floor = Floor(rng, agents, prices={"BTC": 0.5423, "ETH": 0.4871})
    for agent in agents:
        agent.config = CONFIGS[agent.strategy]
        for _ in range(6):
            trades = rng.randint(6, 10)
            wins = round(trades * agent.edge)
            day = [
                trade_pnl(rng, agent.capital * 0.3, i < wins)
                for i in range(trades)
            ]
            for pnl in day:
                for tally in (agent.week, floor.week):
                    tally.record(pnl, round(agent.capital * 0.3 * FEE_RATE, 2))
            agent.daily_pnl.append(round(sum(day), 2))
    return floor


def trade_pnl(rng: random.Random, size: float, won: bool) -> float:
    """Take profit at 5-35 %, stop loss at 5-20 %, less fees."""
    move = rng.uniform(0.05, 0.35) if won else -rng.uniform(0.05, 0.20)
    return round(size * (move - FEE_RATE), 2)


def usd(amount: float) -> str:
    return f"-${-amount:,.2f}" if amount < 0 else f"${amount:,.2f}"


# --- market feed --------------------------------------------------------------


def signal(score: float) -> dict[str, Any]:
    strength = round(min(abs(score), 1.0), 2)
    if abs(score) < 0.25:
        return {"signal": "NEUTRAL", "strength": strength}
    return {"signal": "BUY" if score > 0 else "SELL", "strength": strength}


def market_feed(floor: Floor) -> None:
    """Move both assets' UP markets and publish prices and signals."""
    rng = floor.rng
    for asset, old in floor.prices.items():
        price = round(min(0.95, max(0.05, old + rng.gauss(0, 0.03))), 4)
        floor.prices[asset] = price
        floor.signals[asset] = signals = {
            "momentum": signal((price - old) * 25),
            "mean_reversion": signal((0.5 - price) * 6),
            "volume": signal(rng.uniform(-1.0, 1.0)),
        }
        feed_log.info(
            "market_update",
            asset=asset,
            market=f"{asset}-USD-UP-15m",
            price=price,
            change=round(price - old, 4),
            change_pct=round(100 * (price - old) / old, 2),
            volume=round(rng.uniform(20_000, 60_000), 2),
            liquidity=rng.choice(["High", "High", "Medium"]),
            signals=signals,
        )


def market_analysis(floor: Floor, asset: str) -> None:
    price = floor.prices[asset]
    lean = "UP" if price > 0.5 else "DOWN"
    feed_log.info(
        "market_analysis",
        asset=asset,
        summary=f"{asset} 15m markets lean {lean}; momentum leads the signals",
        price=price,
        volatility_pct=round(floor.rng.uniform(1.5, 4.0), 1),
    )


# --- trader agents --------------------------------------------------------------


def agent_started(agent: Agent) -> None:
    trader_log.info(
        "agent_started",
        agent=agent.name,
        mode=agent.mode,
        capital=agent.capital,
        config=agent.config,
        markets=[f"{agent.asset}-USD-UP-15m", f"{agent.asset}-USD-DOWN-15m"],
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
    sig = floor.signals[agent.asset][agent.strategy]
    if sig["signal"] == "NEUTRAL" or floor.rng.random() > sig["strength"] / 2:
        return
    trader_log.debug(
        "signal_taken", agent=agent.name, strategy=agent.strategy, **sig
    )
    open_position(floor, agent, "YES" if sig["signal"] == "BUY" else "NO")


def open_position(floor: Floor, agent: Agent, side: str) -> Position:
    rng, up = floor.rng, floor.prices[agent.asset]
    size = float(
        round(agent.capital * rng.uniform(0.2, 0.4) * agent.size_factor)
    )
    opened = floor.now + timedelta(seconds=rng.uniform(0, 3300))
    closes = opened + timedelta(seconds=rng.uniform(300, 900))
    price = round(up if side == "YES" else 1 - up, 4)
    pos = Position(agent, side, price, size, opened, closes)
    trade_id = floor.trade_id(agent.mode, opened)
    trader_log.info(
        "trade_executed",
        agent=agent.name,
        market=pos.market,
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
        market=pos.market,
        side=side,
        entry_price=price,
        size=size,
    )
    audit_trade(floor, agent, trade_id, size)
    floor.positions.append(pos)
    return pos


def close_position(floor: Floor, pos: Position, *, lose: bool = False) -> None:
    """Close at take-profit or stop-loss, or (*lose*) resolve against it."""
    agent, fees = pos.agent, round(pos.size * FEE_RATE, 2)
    won = not lose and floor.rng.random() < agent.edge
    pnl = trade_pnl(floor.rng, pos.size, won)
    exit_price = round(min(0.99, pos.entry_price * (1 + pnl / pos.size)), 4)
    if lose:
        pnl, exit_price = -pos.size - fees, 0.0
    seconds = round((pos.closes_at - pos.opened_at).total_seconds(), 1)
    duration: dict[str, Any] = {"duration_s": seconds}
    if agent.name == "Volume_ETH_v1":  # still on the older notifier's fields
        duration = {"duration": f"{seconds // 60:.0f}m {seconds % 60:.0f}s"}
    trader_log.info(
        "position_closed",
        agent=agent.name,
        market=pos.market,
        side=pos.side,
        entry_price=pos.entry_price,
        exit_price=exit_price,
        entry_time=pos.opened_at.isoformat(timespec="seconds"),
        exit_time=pos.closes_at.isoformat(timespec="seconds"),
        **duration,
        size=pos.size,
        pnl=pnl,
        pnl_pct=round(100 * pnl / pos.size, 1),
        outcome="Resolved against us"
        if lose
        else "Take profit"
        if won
        else "Stop loss",
    )
    for tally in (
        agent.hour,
        agent.today,
        agent.week,
        floor.today,
        floor.week,
    ):
        tally.record(pnl, fees)
    floor.positions.remove(pos)


def settle(floor: Floor, until: datetime) -> None:
    for pos in [p for p in floor.positions if p.closes_at <= until]:
        close_position(floor, pos)


def lose_until(floor: Floor, agent: Agent, loss: float) -> None:
    """Let the agent's positions resolve against it until it is *loss* down."""
    while agent.today.pnl > loss:
        close_position(floor, open_position(floor, agent, "YES"), lose=True)


def submit_order(agent: Agent, amount: float) -> None:
    # The exchange stalls now and then, and this is that moment.
    raise TimeoutError(f"{CLOB_API}: no response to the order within 10.0s")


# --- the auditor ------------------------------------------------------------------


def audit_trade(
    floor: Floor, agent: Agent, trade_id: str, size: float
) -> None:
    """Validate a trade: info when it passes, error (trade blocked) when not."""
    loss = min(agent.today.pnl, 0.0)
    checks = {
        "Strategy logic": (True, "Matches signal"),
        "Position size": (
            size <= MAX_POSITION,
            f"{usd(size)} (limit {usd(MAX_POSITION)})",
        ),
        "Daily loss": (
            loss > LOSS_LIMIT,
            f"{usd(loss)} (limit {usd(LOSS_LIMIT)})",
        ),
        "Market validation": (True, "Valid market"),
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
    audit["issue"] = "Position size exceeded limit"
    audit["overage"] = f"+{usd(size - MAX_POSITION)}"
    audit["severity"] = "medium"
    audit["action"] = "Trade blocked, agent flagged"
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


# --- operations: health probes ------------------------------------------------------


def health_check(floor: Floor, *, legacy: bool = False) -> None:
    """Report every component; *legacy* is the older name -> bool shape."""
    rng = floor.rng
    agents = [a for a in floor.agents if a.status != "Removed"]
    running = sum(a.status != "Unresponsive" for a in agents)
    components: dict[str, Any] = {
        "Database": {"ok": True, "latency_ms": round(rng.uniform(3, 8), 1)},
        "Redis": {"ok": True, "latency_ms": round(rng.uniform(1, 3), 1)},
        "Polymarket API": {
            "ok": True,
            "latency_ms": round(rng.uniform(150, 400)),
        },
        "Floor Boss": {"ok": True, "detail": "last heartbeat 15s ago"},
        "Trader Agents": {
            "ok": running == len(agents),
            "detail": f"{running}/{len(agents)} running",
        },
        "Performance Monitor": {"ok": True},
        "Auditor": {"ok": True},
    }
    if legacy:
        components = {name: c["ok"] for name, c in components.items()}
    ops_log.info(
        "health_check",
        components=components,
        uptime_s=(floor.now - DAY_START).total_seconds()
        + 7 * 86_400
        + 14 * 3600,
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
    ops_log.info(
        "api_status",
        api=CLOB_API,
        ok=True,
        latency_ms=latency,
        detail="Responding slowly"
        if latency > 1000
        else "Responding normally",
    )


def resource_snapshot(floor: Floor) -> None:
    rng = floor.rng
    perf_monitor.info(
        "resource_snapshot",
        extra={
            "cpu_pct": round(rng.uniform(12, 35), 1),
            "memory_mb": round(rng.uniform(380, 460), 1),
            "event_loop_lag_ms": round(rng.uniform(0.5, 4), 2),
            "open_positions": len(floor.positions),
        },
    )


# --- performance and analytics ------------------------------------------------------


def hourly_reports(floor: Floor) -> None:
    """Per-agent performance for the hour, then the floor's P&L."""
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
        up = floor.prices[p.agent.asset]
        mark = up if p.side == "YES" else 1 - up
        unrealized += p.size * (mark / p.entry_price - 1)
    total = floor.today.pnl + unrealized
    pnl_log.info(
        "pnl_update",
        current_balance=round(BALANCE + total, 2),
        starting_balance=BALANCE,
        total_pnl=round(total, 2),
        total_pnl_pct=round(100 * total / BALANCE, 2),
        unrealized_pnl=round(unrealized, 2),
        realized_pnl=floor.today.pnl,
        trades_today=floor.today.trades,
        wins=floor.today.wins,
        losses=floor.today.losses,
        best_trade=floor.today.best,
        worst_trade=floor.today.worst,
        fees_today=floor.today.fees,
    )
    for agent in floor.agents:
        agent.hour = Tally()


def summary(
    total: Tally, by_agent: dict[str, Tally], starting: float, target: float
) -> dict[str, Any]:
    """The fields the daily and the weekly summary share."""
    rows = [
        {
            "name": name,
            "pnl": t.pnl,
            "trades": t.trades,
            "win_rate": t.win_rate,
        }
        for name, t in sorted(by_agent.items(), key=lambda item: -item[1].pnl)
    ]
    return {
        "starting_balance": round(starting, 2),
        "ending_balance": round(starting + total.pnl, 2),
        "total_pnl": total.pnl,
        "roi": round(100 * total.pnl / starting, 2),
        "total_trades": total.trades,
        "win_rate": total.win_rate,
        "wins": total.wins,
        "losses": total.losses,
        "fees": total.fees,
        "top_performers": [r for r in rows if r["pnl"] > 0][:3],
        "underperformers": [r for r in reversed(rows) if r["pnl"] <= 0],
        "best_trade": total.best,
        "best_trade_agent": max(by_agent, key=lambda n: by_agent[n].best),
        "worst_trade": total.worst,
        "worst_trade_agent": min(by_agent, key=lambda n: by_agent[n].worst),
        "targets": {
            "pnl": {"target": target, "met": total.pnl >= target},
            "win_rate": {"target": 52.0, "met": total.win_rate > 52.0},
        },
    }


def sharpe(daily_pnl: list[float]) -> float:
    if len(daily_pnl) < 2 or statistics.stdev(daily_pnl) == 0:
        return 0.0
    return round(statistics.mean(daily_pnl) / statistics.stdev(daily_pnl), 2)


def end_of_day_reports(floor: Floor) -> None:
    """Daily and weekly summaries, the 7-day leaderboard, the audit report."""
    date = DAY_START.date()
    today = {a.name: a.today for a in floor.agents}
    daily = summary(floor.today, today, BALANCE, 50.0)
    pnl_log.info("daily_summary", date=date.isoformat(), **daily)
    past = round(floor.week.pnl - floor.today.pnl, 2)
    week = {a.name: a.week for a in floor.agents}
    weekly = summary(floor.week, week, BALANCE - past, 250.0)
    year, number, _ = date.isocalendar()
    pnl_log.info("weekly_summary", week=f"{year}-W{number:02d}", **weekly)
    entries = []
    for a in sorted(floor.agents, key=lambda a: -a.week.pnl):
        a.daily_pnl.append(a.today.pnl)
        entry = {
            "agent": a.name,
            "pnl": a.week.pnl,
            "win_rate": a.week.win_rate,
        }
        entry["sharpe"] = sharpe(a.daily_pnl)
        if a.status != "Healthy":
            entry["status"] = a.status
        entries.append(entry)
    pnl_log.info("leaderboard", period="7d", entries=entries)
    auditor.info(
        "audit_report",
        extra={
            "period": date.isoformat(),
            "trades_audited": len(floor.audits),
            "passed": sum(floor.audits),
            "failed": floor.audits.count(False),
            "violations": floor.violations,
        },
    )
    perf_monitor.info(
        "Day closed: %d trades, %d audits",
        floor.today.trades,
        len(floor.audits),
    )


# --- the floor boss -------------------------------------------------------------------


def remove_underperformer(floor: Floor) -> None:
    agent = floor.agent("Mean_Reversion_ETH_v1")
    boss_log.info(
        "reviewing_agent", agent=agent.name, trades_7d=agent.week.trades
    )
    boss_log.info(
        "floor_boss_decision",
        decision="Agent Removal",
        agent=agent.name,
        reason=f"Win rate below threshold ({agent.week.win_rate}% over 7 days)",
        threshold=45.0,
        trades_analyzed=agent.week.trades,
        action="Agent stopped and archived",
    )
    stop_agent(floor, agent, "Removed by the floor boss", "Removed")


def clone_winner(floor: Floor) -> None:
    source = floor.agent("Momentum_BTC_v1")
    clone = Agent(
        "Momentum_BTC_v2",
        "paper",
        75.0,
        0.6,
        {**source.config, "lookback": 15},
    )
    boss_log.info(
        "floor_boss_decision",
        decision="Agent Cloning",
        source_agent=source.name,
        new_agent=clone.name,
        reason=f"{source.week.win_rate}% win rate, {usd(source.week.pnl)} P&L (7 days)",
        variation="Longer lookback (10 → 15)",
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
        {
            "agent": source.name,
            "old": source.capital,
            "new": 150.0,
            "reason": "Consistent outperformance",
        },
        {
            "agent": "Mean_Reversion_ETH_v1",
            "old": 75.0,
            "new": 0.0,
            "reason": "Agent removed",
        },
        {
            "agent": clone.name,
            "old": 0.0,
            "new": clone.capital,
            "reason": "New paper trial",
        },
    ]
    source.capital = 150.0
    boss_log.info(
        "capital_reallocation",
        changes=changes,
        total_allocated=floor.allocated(),
        total_capital=BALANCE,
    )


# --- incidents: one-off events at fixed points of the day -------------------------


def api_slowdown(floor: Floor) -> None:
    ops_log.warning(
        "api_latency_high",
        api=CLOB_API,
        latency_s=2.3,
        normal_ms=500.0,
        impact="Potential trade execution delays",
    )
    probe_services(floor, api_latency_ms=2310.0)
    # Not in the vocabulary: the generic warning rule picks it up.
    feed_log.warning(
        "quote_stale", asset="ETH", market="ETH-USD-UP-15m", age_s=48.0
    )


def agent_unresponsive(floor: Floor) -> None:
    agent = floor.agent("Momentum_ETH_v2")
    agent.status = "Unresponsive"
    ops_log.critical(
        "critical_alert",
        component=f"Trader Agent ({agent.name})",
        issue="Agent stopped responding",
        last_heartbeat_s=180.0,
        action="Attempting restart",
        attempt=1,
        max_attempts=10,
    )
    health_check(floor)


def agent_restarted(floor: Floor) -> None:
    agent = floor.agent("Momentum_ETH_v2")
    agent.status = "Healthy"
    ops_log.info(
        "system_event", title="Agent Restarted", agent=agent.name, attempt=1
    )
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
        submit_order(agent, 25.0)
    except TimeoutError:
        trader_log.exception(
            "order_submit_failed", agent=agent.name, amount=25.0
        )


def oversized_order(floor: Floor) -> None:
    agent = floor.agent("Mean_Reversion_ETH_v1")
    audit_trade(floor, agent, floor.trade_id("paper", floor.now), 125.0)
    agent.status = "Monitoring"


def reconnect_storm(floor: Floor) -> None:
    # Twenty identical warnings in a row: delivery coalesces them.
    for _ in range(20):
        feed_log.warning(
            "ws_reconnect_failed",
            feed="polymarket-clob-ws",
            error="connection reset",
        )


def underperformer_flagged(floor: Floor) -> None:
    agent = floor.agent("Mean_Reversion_ETH_v1")
    pnl_log.warning(
        "performance_alert",
        agent=agent.name,
        metric="win_rate_7d",
        value=agent.week.win_rate,
        threshold=45.0,
    )


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
    risk_alert(agent, "Reducing position sizes by 50%")
    agent.size_factor = 0.5


def release(floor: Floor) -> None:
    ops_log.info(
        "deployment",
        component="performance_monitor",
        version="1.8.0",
        status="success",
        by="github-actions",
    )
    perf_monitor.info("performance monitor %s started", "1.8.0")


def loss_limit(floor: Floor) -> None:
    agent = floor.agent("Volume_ETH_v1")
    lose_until(floor, agent, LOSS_LIMIT)
    auditor.critical(
        "daily_loss_limit_reached",
        extra={
            "agent": agent.name,
            "daily_loss": agent.today.pnl,
            "limit": LOSS_LIMIT,
            "action": f"Trading PAUSED for {agent.name}",
        },
    )
    stop_agent(floor, agent, "Daily loss limit reached", "Paused")


def legacy_watchdog(floor: Floor) -> None:
    # An older watchdog, written against the seed notifier's shape.
    health_check(floor, legacy=True)


def admin_review(floor: Floor) -> None:
    ops_log.info(
        "admin_notice",
        title="Manual Review Required",
        agent="Volume_ETH_v1",
        detail="Paused at its daily loss limit; review before resuming",
    )


INCIDENTS: list[tuple[float, Callable[[Floor], None]]] = [
    (0.10, api_slowdown),
    (0.20, agent_unresponsive),
    (0.22, agent_restarted),
    (0.25, order_timeout),
    (0.30, oversized_order),
    (0.35, reconnect_storm),
    (0.40, underperformer_flagged),
    (0.45, liquidity_gap),
    (0.50, remove_underperformer),
    (0.55, release),
    (0.60, clone_winner),
    (0.70, loss_limit),
    (0.75, legacy_watchdog),
    (0.85, admin_review),
]


# --- the day ----------------------------------------------------------------------


def trading_hour(
    floor: Floor, step: int, incidents: list[Callable[[Floor], None]]
) -> None:
    market_feed(floor)
    for agent in floor.agents:
        if agent.active:
            trader_turn(floor, agent)
    for incident in incidents:
        incident(floor)
    settle(floor, floor.now + timedelta(hours=1))
    boss_log.debug(
        "tick",
        active_agents=sum(a.active for a in floor.agents),
        open_positions=len(floor.positions),
    )
    if step % 6 == 0:
        health_check(floor)
        probe_services(floor)
    if step % 3 == 0:
        resource_snapshot(floor)
    if step % 8 == 0:
        market_analysis(floor, "BTC" if step % 16 == 0 else "ETH")
    hourly_reports(floor)


def run_day(floor: Floor, hours: int, delay: float) -> None:
    due: dict[int, list[Callable[[Floor], None]]] = {}
    for fraction, incident in INCIDENTS:
        due.setdefault(min(hours - 1, int(fraction * hours)), []).append(
            incident
        )
    ops_log.info(
        "system_event", title="Trading Floor Open", agents=len(floor.agents)
    )
    boss_log.info(
        "day_started", allocated=floor.allocated(), total_capital=BALANCE
    )
    for agent in floor.agents:
        agent_started(agent)
    for step in range(hours):
        trading_hour(floor, step, due.get(step, []))
        floor.now += timedelta(hours=1)
        time.sleep(delay)
    settle(floor, floor.now + timedelta(days=1))
    end_of_day_reports(floor)


class EventCounter(logging.Handler):
    """Counts the records the actors log, for the closing line."""

    count = 0

    def emit(self, record: logging.LogRecord) -> None:  # noqa: ARG002
        self.count += 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Log a simulated Polybot trading day."
    )
    parser.add_argument(
        "--routing",
        metavar="FILE",
        help="routing file (default: the library's lookup)",
    )
    parser.add_argument("--seed", type=int, default=7, help="random seed (7)")
    parser.add_argument(
        "--hours", type=int, default=24, help="simulated hours (24)"
    )
    parser.add_argument(
        "--delay",
        type=float,
        default=0.1,
        metavar="SECONDS",
        help="pause per simulated hour (0.1)",
    )
    args = parser.parse_args(argv)
    if args.hours < 1:
        parser.error("--hours must be at least 1")
    configure_logging(args.routing)
    counter = EventCounter()
    for name in ACTORS:
        logging.getLogger(name).addHandler(counter)
    try:
        run_day(new_floor(args.seed), args.hours, args.delay)
    finally:
        for name in ACTORS:
            logging.getLogger(name).removeHandler(counter)
    print(f"trading_floor: logged {counter.count} events", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
