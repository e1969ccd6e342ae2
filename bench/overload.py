"""
Freshness under overload (#15): a floor that offers channels more than
Discord carries, against a loopback fake Discord with Discord's limits.

The fake, ``FakeDiscord(rate_limit=(5, 2.0), channel_limit=(30, 60.0))``,
runs in this script's process on 127.0.0.1: Discord's webhook bucket (5
requests per 2 s, its headers and 429s) and its hidden per-channel limit
(30 messages a minute, a 429 of scope ``shared``). It answers as Discord
does, and nothing here changes its answers. The library runs in a child
process of this script (``--scenario NAME``), so the RSS measured is the
library's and its application's, not the fake's.

1. soak: the shipped ``routing.yaml`` with a webhook of the fake per
   channel (``DISCORD_WEBHOOK_<KEY>``) and a spool of its own
   (``POLYBOT_SPOOL``); about 300 events a second for 3 minutes
   (``--quick``: 30 s; ``--seconds N``), the floor's events of
   ``shared/polybot-events.md``: mostly ``trade_executed`` (each goes to
   two channels), then positions, audits, market updates, strategy logs,
   P&L updates, and about 6 % warnings. When the logging stops, the
   handler is closed as at exit (a flush of at most ``flush_timeout``);
   what is left stays in the spool. Per channel: what arrived, coalesced
   and folded; how far behind it was when the logging stopped (the newest
   event it was given against the newest it had shown) and how old the
   oldest message still waiting was; the messages left in the spool; the
   429s the fake answered. And the process's RSS, before and after.
2. lag: one channel (the shipped trade embed, ``coalesce: false``, and a
   route that sends warnings to the same channel), 3,000 distinct
   ``info`` trades logged evenly over 20 s with 5 warnings among them,
   watched for 80 s (``--watch S``) from the first log call: when each
   warning arrived, the newest message's lag over time (how long before
   its arrival the newest event it covers was logged), and where the
   trades are (one by one, inside summaries, not yet).
   The other libraries of ``bench/alternatives.py`` run the same scenario
   at the same time, each with a fake of its own.

``--max-lag DURATION|off`` writes ``delivery.max_lag`` into the routing
(the soak's copy of the shipped file, and the lag scenario's); without it
the key is left out, so the library's default applies, and a library that
has no such key runs as it is.

    python bench/overload.py [--quick] [--seconds N] [--max-lag D|off]
                             [--only soak lag] [--watch S]

A fold summary is read by ``bench/_common.fold_summary``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import os
import random
import re
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from array import array
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from _common import (
    REPO,
    RESULT,
    TRADE,
    fold_summary,
    machine_lines,
    make_logger,
    run_in_child,
)

sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from delivery import (
    BURST_ROUTING,
    Report,
    channel_keys,
    embed_count,
)

#: The fake's webhook limit, and its per-channel limit (Discord's).
RATE_LIMIT = (5, 2.0)
CHANNEL_LIMIT = (30, 60.0)
#: The routing the soak runs.
SHIPPED = REPO / "routing.yaml"
#: The default ``delivery.max_lag`` of #15's contract (seconds), for the
#: soak's targets when neither ``--max-lag`` nor the routing says.
DEFAULT_MAX_LAG = 120.0
#: The spool's target: at exit, what it holds for a channel takes
#: Discord's limits at most this many minutes to carry.
SPOOL_MINUTES = 3.0
#: Embeds a message carries (Discord's most, and the library's batch).
EMBEDS_PER_MESSAGE = 10

SOAK_SECONDS, SOAK_QUICK_SECONDS = 180.0, 30.0
SOAK_RATE = 300.0  # events a second
SOAK_SEED = 15
LAG_TRADES, LAG_OVER, LAG_WARNINGS, LAG_WATCH = 3_000, 20.0, 5, 80.0
#: Seconds between the lag child's start and its first log call.
LAG_LEAD = 0.5

_TRADE_ID = re.compile(r"\b([TW])(\d{5})\b")
_SOAK_ID = re.compile(r"^T(\d{7})$")
#: The footer of the summary of duplicates a coalescing window held.
_HELD = re.compile(r"×\d+ more")


def footer_text(embed: dict[str, Any]) -> str:
    footer = embed.get("footer")
    return str(footer.get("text") or "") if isinstance(footer, dict) else ""


# -- the child: the library and its application ------------------------------


def rss_mb() -> float:
    """This process's resident set now, in MB (Linux), else its peak."""
    try:
        statm = Path("/proc/self/statm").read_text(encoding="ascii")
        pages = int(statm.split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 1e6
    except OSError:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / 1e6 if sys.platform == "darwin" else peak / 1e3


class RssSampler(threading.Thread):
    """The RSS every 0.2 s: its peak, and a point every 5 s."""

    def __init__(self, started: float) -> None:
        super().__init__(name="bench.rss", daemon=True)
        self.started = started
        self.peak = rss_mb()
        self.series: list[tuple[float, float]] = []
        self.halt = threading.Event()

    def run(self) -> None:
        last = -math.inf
        while not self.halt.wait(0.2):
            now, rss = time.monotonic(), rss_mb()
            self.peak = max(self.peak, rss)
            if now - last >= 5.0:
                self.series.append((now - self.started, rss))
                last = now


AGENTS = [
    ("Momentum_BTC_v1", "momentum", "BTC"),
    ("Momentum_ETH_v2", "momentum", "ETH"),
    ("Mean_Reversion_BTC_v1", "mean_reversion", "BTC"),
    ("Mean_Reversion_ETH_v1", "mean_reversion", "ETH"),
    ("Volume_ETH_v1", "volume", "ETH"),
]


@dataclass
class Draw:
    """What one event of the floor is about: drawn, then shaped."""

    rng: random.Random
    seq: int
    trade_id: str
    agent: str
    strategy: str
    asset: str
    side: str
    price: float
    size: float

    @property
    def market(self) -> str:
        return f"{self.asset}-USD-UP-15m"

    def pnl(self) -> float:
        return round(self.rng.uniform(-20, 20), 2)


def _trade(d: Draw) -> dict[str, Any]:
    return {
        "agent": d.agent,
        "market": d.market,
        "side": d.side,
        "amount": d.size,
        "price": d.price,
        "fees": round(d.size * 0.02, 2),
        "is_paper": d.rng.random() < 0.8,
        "trade_id": d.trade_id,
    }


def _audit(d: Draw) -> dict[str, Any]:
    return {
        "trade_id": f"A{d.seq:07d}",
        "agent": d.agent,
        "passed": True,
        "validations": {
            "position_size": {"ok": True, "detail": f"${d.size} ≤ $100"},
            "daily_loss": {"ok": True, "detail": "within limit"},
        },
    }


def _opened(d: Draw) -> dict[str, Any]:
    return {
        "agent": d.agent,
        "market": d.market,
        "side": d.side,
        "entry_price": d.price,
        "size": d.size,
    }


def _closed(d: Draw) -> dict[str, Any]:
    pnl = d.pnl()
    return {
        **_opened(d),
        "exit_price": round(d.rng.uniform(0.05, 0.95), 4),
        "duration_s": d.rng.uniform(60, 900),
        "pnl": pnl,
        "pnl_pct": round(pnl / d.size * 100, 1),
        "outcome": "win" if pnl > 0 else "loss",
    }


def _market(d: Draw) -> dict[str, Any]:
    return {
        "asset": d.asset,
        "market": d.market,
        "price": d.price,
        "change": round(d.rng.uniform(-0.05, 0.05), 4),
        "change_pct": round(d.rng.uniform(-5, 5), 2),
        "volume": d.rng.randint(1_000, 90_000),
        "liquidity": d.rng.randint(10_000, 500_000),
        "signals": {"momentum": {"signal": "buy", "strength": 0.7}},
    }


def _signal(d: Draw) -> dict[str, Any]:
    return {
        "strategy": d.strategy,
        "agent": d.agent,
        "market": d.market,
        "score": round(d.rng.uniform(-1, 1), 3),
    }


def _pnl(d: Draw) -> dict[str, Any]:
    return {
        "current_balance": round(1000 + d.pnl(), 2),
        "starting_balance": 1000.0,
        "total_pnl": d.pnl(),
        "trades_today": d.seq // 2,
        "wins": d.seq // 4,
        "losses": d.seq // 5,
    }


def _risk(d: Draw) -> dict[str, Any]:
    used = round(d.rng.uniform(50, 95), 1)
    return {
        "agent": d.agent,
        "current_loss": used,
        "limit": 100.0,
        "remaining": round(100 - used, 2),
        "pct_used": used,
        "action": "reducing position size",
    }


def _latency(d: Draw) -> dict[str, Any]:
    return {
        "api": d.rng.choice(["Polymarket CLOB API", "Gamma API"]),
        "latency_s": round(d.rng.uniform(2, 9), 1),
        "normal_ms": 200,
        "impact": "orders may fill late",
    }


def _performance(d: Draw) -> dict[str, Any]:
    return {
        "agent": d.agent,
        "metric": d.rng.choice(["win_rate_7d", "drawdown"]),
        "value": round(d.rng.uniform(20, 45), 1),
        "threshold": 45.0,
    }


def _anomaly(d: Draw) -> dict[str, Any]:
    return {
        "asset": d.asset,
        "market": d.market,
        "anomaly": "price_spike",
        "detail": f"moved {d.rng.uniform(5, 30):.1f}% in 10 s",
    }


def _slow_order(d: Draw) -> dict[str, Any]:
    """A warning that only the routing's catch-all takes."""
    return {
        "order_id": f"O{d.seq:07d}",
        "market": d.market,
        "waited_s": round(d.rng.uniform(2, 9), 2),
    }


#: event → (weight out of 100, level, its fields): mostly trades.
MIX = {
    "trade_executed": (55, logging.INFO, _trade),
    "trade_audit": (10, logging.INFO, _audit),
    "position_opened": (8, logging.INFO, _opened),
    "position_closed": (8, logging.INFO, _closed),
    "market_update": (6, logging.INFO, _market),
    "signal_evaluated": (5, logging.DEBUG, _signal),
    "pnl_update": (2, logging.INFO, _pnl),
    "risk_alert": (2, logging.WARNING, _risk),
    "api_latency_high": (1, logging.WARNING, _latency),
    "performance_alert": (1, logging.WARNING, _performance),
    "market_anomaly": (1, logging.WARNING, _anomaly),
    "order_slow": (1, logging.WARNING, _slow_order),
}
_NAMES = list(MIX)
_WEIGHTS = [weight for weight, _, _ in MIX.values()]


def floor_event(
    rng: random.Random, seq: int, trade_id: str
) -> tuple[int, str, dict[str, Any]]:
    """One event of the floor: its level, name and fields."""
    event = rng.choices(_NAMES, weights=_WEIGHTS)[0]
    agent, strategy, asset = rng.choice(AGENTS)
    draw = Draw(
        rng,
        seq,
        trade_id,
        agent,
        strategy,
        asset,
        rng.choice(["YES", "NO"]),
        round(rng.uniform(0.05, 0.95), 4),
        round(rng.uniform(5, 100), 2),
    )
    _, level, shape = MIX[event]
    return level, event, shape(draw)


def child_soak(args: argparse.Namespace) -> dict[str, Any]:
    from polybot_loghandler import DiscordHandler

    seconds = args.seconds or (SOAK_QUICK_SECONDS if args.quick else 180.0)
    handler = DiscordHandler(args.routing)
    log = make_logger("overload", handler)
    rng = random.Random(SOAK_SEED)
    times = array("d")  # trade n's time.time() when logged
    offered: Counter[str] = Counter()
    samples: list[dict[str, Any]] = []
    before = rss_mb()
    started, started_wall = time.monotonic(), time.time()
    rss = RssSampler(started)
    rss.start()
    end, seq, next_sample = started + seconds, 0, started
    while True:
        now = time.monotonic()
        if now >= end:
            break
        if now >= next_sample:
            stats = handler.stats()
            samples.append(
                {
                    "at_s": now - started,
                    **{
                        k: stats.get(k, 0)
                        for k in ("queued", "pending", "spool.pending")
                    },
                    "delivered": stats.get("delivered", 0),
                    "folded": stats.get("folded", 0),
                }
            )
            next_sample += 10.0
        due = started + seq / SOAK_RATE
        if due > now:
            time.sleep(min(due - now, end - now))
            continue
        level, event, fields = floor_event(rng, seq, f"T{len(times):07d}")
        if event == "trade_executed":
            times.append(time.time())
        log.log(level, event, extra=fields)
        offered[event] += 1
        seq += 1
    ended, ended_wall = time.monotonic(), time.time()
    at_end = handler.stats()
    rss_end = rss_mb()
    handler.close()
    closed = time.monotonic()
    rss.halt.set()
    rss.join()
    with Path(args.times).open("wb") as out:
        times.tofile(out)
    return {
        "seconds": seconds,
        "logged": seq,
        "offered": dict(offered),
        "t0": started,
        "t0_wall": started_wall,
        "ended": ended,
        "ended_wall": ended_wall,
        "close_s": closed - ended,
        "stats_end": at_end,
        "stats_closed": handler.stats(),
        "samples": samples,
        "rss_before": before,
        "rss_end": rss_end,
        "rss_closed": rss_mb(),
        "rss_peak": rss.peak,
        "rss_series": rss.series,
    }


def lag_routing(url: str, max_lag: str | None) -> str:
    """The shipped trade embed on one channel, and its warnings."""
    text = BURST_ROUTING.format(url=url)
    if max_lag is not None:
        text = text.replace(
            "delivery:\n", f"delivery:\n  max_lag: {max_lag}\n"
        )
    return text + (
        "  - name: warnings\n"
        "    match: {level: warning}\n"
        "    to: trades\n"
        "    coalesce: false\n"
        "    embed:\n"
        '      title: "⚠️ {{ event | humanize }}"\n'
        "      color: warning\n"
        "      fields: auto\n"
    )


def lag_plan(
    trades: int = LAG_TRADES,
    over: float = LAG_OVER,
    warnings: int = LAG_WARNINGS,
) -> list[tuple[float, str]]:
    """``(seconds after the first call, id)``: trades and warnings."""
    gap = over / trades
    plan = [(i * gap, f"T{i:05d}") for i in range(trades)]
    for k in range(warnings):
        after = (2 * k + 1) * trades // (2 * warnings)
        plan.append(((after + 0.5) * gap, f"W{k + 1:05d}"))
    return sorted(plan)


def child_lag(args: argparse.Namespace) -> dict[str, Any]:
    logging.getLogger("discord_webhook").disabled = True
    if args.variant == "polybot_loghandler":
        from polybot_loghandler import DiscordHandler

        path = Path(tempfile.mkdtemp(prefix="bench-overload-")) / "r.yaml"
        path.write_text(lag_routing(args.url, args.max_lag), encoding="utf-8")
        handler: logging.Handler = DiscordHandler(path)
    else:
        from alternatives import make_handler

        handler, _ = make_handler(args.variant, args.url)
    log = make_logger("lag", handler)
    plan = lag_plan()
    calls: list[tuple[float, float]] = []
    t0 = time.monotonic() + LAG_LEAD

    def run() -> None:
        for at, ident in plan:
            delay = t0 + at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            extra = {**TRADE, "trade_id": ident}
            c0 = time.monotonic()
            if ident.startswith("W"):
                extra["current_loss"] = 91.5
                log.warning("risk_alert", extra=extra)
            else:
                log.info("trade_executed", extra=extra)
            calls.append((c0 - t0, time.monotonic() - t0))

    # a synchronous library may block the logging thread for minutes: it
    # runs in a thread, and the process ends when the watch does
    logger = threading.Thread(target=run, name="bench.lag", daemon=True)
    logger.start()
    logger.join(max(0.0, t0 + args.watch - time.monotonic()))
    time.sleep(max(0.0, t0 + args.watch - time.monotonic()))
    stats = getattr(handler, "stats", dict)()
    return {"t0": t0, "calls": list(calls), "stats": stats}


def run_child(args: argparse.Namespace) -> int:
    result = (child_soak if args.scenario == "soak" else child_lag)(args)
    print(RESULT + json.dumps({"scenario": args.scenario, **result}))
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # a blocked alternative's thread must not hold the exit


# -- the parent: the fake, the child, and what arrived ------------------------


def _foreign(name: str) -> bool:
    upper = name.upper()
    return (
        upper.startswith("DISCORD_")
        or upper.endswith("_PROXY")
        or upper in {"POLYBOT_ROUTING", "POLYBOT_REDIS_URL", "POLYBOT_SPOOL"}
    )


def child_environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not _foreign(k)}
    paths = [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env.update(extra)
    return env


@contextlib.contextmanager
def fake_discord() -> Iterator[Any]:
    from fakes.discord import FakeDiscord

    with FakeDiscord(rate_limit=RATE_LIMIT, channel_limit=CHANNEL_LIMIT) as f:
        yield f


def parse_duration(text: str | None) -> float | None:
    """``30s``, ``2m``, ``1h``, ``90`` as seconds; ``off`` as infinity."""
    if text is None:
        return None
    if text.strip().lower() == "off":
        return math.inf
    found = re.fullmatch(r"\s*([\d.]+)\s*(ms|s|m|h)?\s*", text)
    if not found:
        raise SystemExit(f"--max-lag: not a duration: {text!r}")
    unit = {"ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}[found[2] or "s"]
    return float(found[1]) * unit


_MAX_LAG_LINE = re.compile(r"^  max_lag:[^\n]*\n", re.MULTILINE)


def _delivery(text: str) -> tuple[str, str, str]:
    """*text* cut around its top-level ``delivery:`` section."""
    found = re.search(
        r"^delivery:\n(?:(?:[ #][^\n]*)?\n)*", text, re.MULTILINE
    )
    if found is None:
        raise SystemExit("the routing has no top-level delivery: section")
    return text[: found.start()], found[0], text[found.end() :]


def routing_max_lag(text: str) -> str | None:
    """The ``delivery.max_lag`` a routing file sets, if any."""
    found = _MAX_LAG_LINE.search(_delivery(text)[1])
    return found[0].split(":", 1)[1].split("#")[0].strip() if found else None


def with_max_lag(text: str, max_lag: str | None) -> str:
    """The shipped routing, its ``delivery.max_lag`` as asked for."""
    if max_lag is None:
        return text
    head, section, tail = _delivery(text)
    line = f"  max_lag: {max_lag}\n"
    if _MAX_LAG_LINE.search(section):
        section = _MAX_LAG_LINE.sub(line, section, count=1)
    else:
        section = section.replace("delivery:\n", "delivery:\n" + line, 1)
    return head + section + tail


def _iso(text: str) -> float | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _shown_time(text: str, near: float) -> float | None:
    """A ``Time`` field's value (``2026-02-01 14:23:45 UTC`` or
    ``14:23:45 UTC``) as epoch seconds, the latter on *near*'s day."""
    for fmt in ("%Y-%m-%d %H:%M:%S UTC", "%H:%M:%S UTC"):
        try:
            shown = datetime.strptime(text, fmt)  # noqa: DTZ007 - it says UTC
        except ValueError:
            continue
        if fmt.startswith("%H"):
            day = datetime.fromtimestamp(near, timezone.utc)
            shown = shown.replace(year=day.year, month=day.month, day=day.day)
        when = shown.replace(tzinfo=timezone.utc).timestamp()
        return when - 86_400 if when > near + 60 else when
    return None


def event_time(
    embed: dict[str, Any], trades: array, near: float
) -> float | None:
    """
    When the (newest) event an embed shows was logged, in epoch seconds:
    a soak trade's by its id, else the embed's timestamp, else its
    ``Time`` field (whole seconds; *near*: about when it arrived).
    """
    fields = {
        str(item.get("name")): str(item.get("value", ""))
        for item in embed.get("fields") or ()
    }
    found = _SOAK_ID.match(fields.get("Trade ID", ""))
    if found and int(found[1]) < len(trades):
        return trades[int(found[1])]
    stamp = embed.get("timestamp")
    if isinstance(stamp, str) and _iso(stamp) is not None:
        return _iso(stamp)
    if "Time" in fields:
        return _shown_time(fields["Time"], near)
    return None


@dataclass
class Channel:
    """What one channel got, and what it still owed, in a soak."""

    messages: int = 0
    embeds: int = 0
    events: int = 0  # ×N counted
    coalesced: int = 0
    folded: int = 0
    summaries: int = 0
    status_429: int = 0
    newest_given: float = -math.inf  # every event it was to show
    newest_shown: float = -math.inf  # ... shown by the end of the logging
    oldest_owed: float = math.inf  # not shown by the end of the logging
    spooled: int = 0
    spool_minutes: float = 0.0  # Discord's limits take this long for them
    behind: list[tuple[float, float]] = field(default_factory=list)


@dataclass
class Spooled:
    """What one channel left in the spool."""

    rows: int = 0
    #: the rows that will go as embeds of their own: duplicates that will
    #: merge into one (held by a coalescing window) count once
    embeds: int = 0
    oldest: float = math.inf  # of the rows that are no such duplicates
    newest: float = -math.inf


def spool_minutes(embeds: int) -> float:
    """Minutes Discord's per-channel limit takes for *embeds*, batched."""
    messages = math.ceil(embeds / EMBEDS_PER_MESSAGE)
    return messages / CHANNEL_LIMIT[0] * CHANNEL_LIMIT[1] / 60.0


def read_spool(directory: Path) -> dict[str, Spooled]:
    """Per channel, what is left in the spool (none: no spool)."""
    path = directory / "spool.db"
    if not path.exists():
        return {}
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT channel, time, body FROM messages")
        groups: dict[tuple[str, str], list[float]] = defaultdict(list)
        for channel, logged, body in rows:
            kept = json.loads(body)
            if "by" in kept:
                same = json.dumps([kept.get("route"), kept["by"]])
            else:
                embed = {
                    k: v
                    for k, v in (kept.get("embed") or {}).items()
                    if k not in {"timestamp", "footer"}
                }
                same = json.dumps([kept.get("route"), embed], sort_keys=True)
            groups[channel, same].append(logged)
    finally:
        db.close()
    out: dict[str, Spooled] = defaultdict(Spooled)
    for (channel, _), times in groups.items():
        spooled = out[channel]
        spooled.rows += len(times)
        spooled.embeds += 1
        if len(times) == 1:
            spooled.oldest = min(spooled.oldest, times[0])
            spooled.newest = max(spooled.newest, times[0])
    return dict(out)


def newest_by(
    seen: list[tuple[float, float]], times: list[float]
) -> list[float]:
    """
    For each of *times* (ascending), the newest event among the
    ``(arrival, event time)`` of *seen* that arrived by then; ``-inf``
    before the first.
    """
    seen = sorted(seen)
    out, newest, i = [], -math.inf, 0
    for t in times:
        while i < len(seen) and seen[i][0] <= t:
            newest = max(newest, seen[i][1])
            i += 1
        out.append(newest)
    return out


@dataclass
class SoakReading:
    """A soak's fake and spool, read against what the child logged."""

    hooks: dict[str, str]  # webhook id → channel key
    trades: array  # trade n → when it was logged (epoch seconds)
    offset: float  # time.time() - time.monotonic()
    end: float  # when the logging stopped (epoch seconds)
    channels: dict[str, Channel] = field(
        default_factory=lambda: defaultdict(Channel)
    )
    seen: dict[str, list[tuple[float, float]]] = field(
        default_factory=lambda: defaultdict(list)
    )

    def message(self, message: Any) -> None:
        key = self.hooks.get(message.webhook_id or "", "?")
        ch = self.channels[key]
        arrived = message.time + self.offset
        ch.messages += 1
        for embed in message.json.get("embeds") or ():
            ch.embeds += 1
            summary = fold_summary(embed)
            if summary is not None:
                ch.summaries += 1
                ch.folded += summary[0]
                logged = summary[1]
            else:
                n = embed_count(embed)
                ch.events += n
                ch.coalesced += n - 1
                logged = event_time(embed, self.trades, arrived)
            if logged is None:
                continue
            if arrived > self.end and _HELD.search(footer_text(embed)):
                # duplicates held by a coalescing window: a message per
                # window is the promise, not a backlog
                continue
            ch.newest_given = max(ch.newest_given, logged)
            if arrived <= self.end:
                ch.newest_shown = max(ch.newest_shown, logged)
                self.seen[key].append((arrived, logged))
            else:
                ch.oldest_owed = min(ch.oldest_owed, logged)

    def request(self, request: Any) -> None:
        if request.status == 429:
            hook = request.path.rstrip("/").split("/")[-2]
            self.channels[self.hooks.get(hook, "?")].status_429 += 1

    def spool(self, spool: dict[str, Spooled]) -> None:
        for key, spooled in spool.items():
            ch = self.channels[key]
            ch.spooled = spooled.rows
            ch.spool_minutes = spool_minutes(spooled.embeds)
            ch.newest_given = max(ch.newest_given, spooled.newest)
            ch.oldest_owed = min(ch.oldest_owed, spooled.oldest)

    def behind(self, t0: float, seconds: float, every: int = 30) -> None:
        """How old the newest event shown was, every *every* seconds."""
        steps = list(range(every, int(seconds) + 1, every))
        for key, seen in self.seen.items():
            newest = newest_by(seen, [t0 + at for at in steps])
            self.channels[key].behind = [
                (at, t0 + at - shown if shown > -math.inf else float(at))
                for at, shown in zip(steps, newest, strict=True)
            ]


def run_soak(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="bench-overload-"))
    routing = work / "routing.yaml"
    shipped = SHIPPED.read_text(encoding="utf-8")
    routing.write_text(with_max_lag(shipped, args.max_lag), encoding="utf-8")
    keys = channel_keys(routing)
    seconds = args.seconds or (SOAK_QUICK_SECONDS if args.quick else 180.0)
    with fake_discord() as fake:
        hooks = {str(7000 + n): key for n, key in enumerate(keys)}
        env = child_environment(
            POLYBOT_SPOOL=str(work / "spool"),
            **{
                f"DISCORD_WEBHOOK_{key.upper()}": fake.webhook_url(
                    hook, f"tok-{key}"
                )
                for hook, key in hooks.items()
            },
        )
        offset = time.time() - time.monotonic()
        argv = ["--routing", str(routing), "--times", str(work / "times")]
        argv += ["--seconds", str(seconds)]
        r = run_in_child(
            __file__,
            "soak",
            quick=args.quick,
            timeout=seconds + 300.0,
            env=env,
            args=argv,
        )
        if "error" in r:
            return {**r, "seconds": seconds}
        trades = array("d")
        with (work / "times").open("rb") as f:
            trades.frombytes(f.read())
        reading = SoakReading(hooks, trades, offset, r["ended_wall"])
        for message in fake.messages:
            reading.message(message)
        for request in fake.requests:
            reading.request(request)
        spool = read_spool(work / "spool")
        reading.spool(spool)
        reading.behind(r["t0_wall"], r["seconds"])
        channels = reading.channels
        refused = fake.count(401) + fake.count(403)
        r.update(
            channels={k: vars(v) for k, v in channels.items()},
            requests=fake.count(),
            status_429=fake.count(429),
            status_429_bucket=fake.invalid_requests - refused,
            rejected=len(fake.rejected),
            rejections=[errors for _, errors in fake.rejected[:3]],
            server_errors=len(fake.server_errors),
            spooled=sum(x.rows for x in spool.values()),
        )
    return r


def lag_outcome(
    fake: Any, r: dict[str, Any], watch: float, offset: float
) -> dict[str, Any]:
    """What arrived of the lag scenario's events within *watch* s."""
    t0 = r["t0"]
    plan = lag_plan()
    due = {ident: t0 + at for at, ident in plan}
    first_seen: dict[str, float] = {}
    own_embed: set[str] = set()
    copies: Counter[str] = Counter()
    folded = summaries = 0
    units: list[tuple[float, float]] = []  # (arrival, newest covered)
    messages = [m for m in fake.messages if m.time <= t0 + watch]
    for message in messages:
        body = message.json
        parts: list[Any] = list(body.get("embeds") or ())
        if body.get("content"):  # the alternatives' text
            parts.append({"content": body["content"]})
        for part in parts:
            summary = fold_summary(part)
            if summary is not None:
                folded += summary[0]
                summaries += 1
                if summary[1] is not None:
                    units.append((message.time, summary[1] - offset))
                continue
            ids = {a + b for a, b in _TRADE_ID.findall(json.dumps(part))}
            ids &= due.keys()
            for ident in ids:
                copies[ident] += 1
                first_seen[ident] = min(
                    first_seen.get(ident, math.inf), message.time
                )
            if len(ids) == 1:  # an embed (or a text) of its own
                own_embed |= ids
            if ids:
                units.append((message.time, max(due[i] for i in ids)))
    # the newest message's lag: the last to arrive by then, how late
    units.sort()
    checks = sorted({at for at in (10, 20, 40, 60) if at < watch} | {watch})
    newest_lag = {}
    for at in checks:
        arrived = [u for u in units if u[0] <= t0 + at]
        last = max((a for a, _ in arrived), default=None)
        newest_lag[f"{at:g}"] = (
            None
            if last is None
            else last - max(c for a, c in arrived if a == last)
        )
    # what the channel had not shown at the end: the newest event logged
    # against the newest shown
    shown = max((c for a, c in units), default=t0)
    # the calls made, in the plan's order (a blocked one makes fewer)
    made = zip(plan, r["calls"], strict=False)
    called = {ident: t0 + c0 for (_, ident), (c0, _) in made}
    warnings = sorted(k for k in due if k.startswith("W"))
    one_by_one = sum(1 for k in first_seen if k.startswith("T"))
    calls = r["calls"]
    return {
        "warnings": [
            {
                "id": w,
                "after_s": first_seen[w] - called[w]
                if w in first_seen and w in called
                else None,
                "logged": w in called,
                "own_embed": w in own_embed,
            }
            for w in warnings
        ],
        "one_by_one": one_by_one,
        "twice": sum(n - 1 for k, n in copies.items() if k.startswith("T")),
        "folded": folded,
        "summaries": summaries,
        "missing": LAG_TRADES - one_by_one - folded,
        "messages": len(messages),
        "status_429": sum(
            1
            for q in fake.requests
            if q.status == 429 and q.time <= t0 + watch
        ),
        "unshown_end": max(0.0, min(max(due.values()), t0 + watch) - shown),
        "newest_lag": newest_lag,
        "late_max": max((at - c for at, c in units), default=0.0),
        "logged": len(calls),
        "log_busy_s": sum(b - a for a, b in calls),
        "log_median_ms": statistics.median(b - a for a, b in calls) * 1e3
        if calls
        else 0.0,
        "last_call_s": max((b for _, b in calls), default=0.0),
        "stats": r.get("stats", {}),
    }


def run_lag(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    from alternatives import VARIANTS, installed

    wanted = VARIANTS if args.alternatives else ["polybot_loghandler"]
    variants = [v for v in wanted if installed(VARIANTS[v])]
    results: dict[str, dict[str, Any]] = {}
    skipped = [v for v in wanted if v not in variants]

    def one(variant: str) -> None:
        try:
            results[variant] = lag_variant(variant, args)
        except Exception as exc:  # reported, as a child's failure is
            results[variant] = {"error": f"{type(exc).__name__}: {exc}"}

    threads = [threading.Thread(target=one, args=(v,)) for v in variants]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for variant in skipped:
        results[variant] = {"error": "not installed (pip install -e .[bench])"}
    return {v: results[v] for v in VARIANTS if v in results}


def lag_variant(variant: str, args: argparse.Namespace) -> dict[str, Any]:
    """One library through the lag scenario, with a fake of its own."""
    with fake_discord() as fake:
        offset = time.time() - time.monotonic()
        argv = ["--variant", variant, "--url"]
        argv += [fake.webhook_url("8001", "tok-lag")]
        argv += ["--watch", str(args.watch)]
        if args.max_lag is not None:
            argv += ["--max-lag", args.max_lag]
        r = run_in_child(
            __file__,
            "lag",
            quick=False,
            timeout=args.watch + 120.0,
            env=child_environment(),
            args=argv,
        )
        if "error" not in r:
            r.update(lag_outcome(fake, r, args.watch, offset))
            r["rejected"] = len(fake.rejected)
        return r


# -- the report ---------------------------------------------------------------


def _s(value: float | None, unit: str = " s") -> str:
    if value is None or math.isinf(value):
        return "—"
    return f"{value:,.1f}{unit}"


def _mb(value: float) -> str:
    return f"{value:,.1f} MB"


def soak_table(
    rep: Report, r: dict[str, Any]
) -> tuple[list[tuple[str, dict[str, Any]]], tuple[float, float, float]]:
    """
    The soak's table, a row per channel; the rows, busiest first, and the
    worst channel's lag, oldest message waiting and minutes of spool.
    """
    end = r["ended_wall"]
    channels = {k: v for k, v in r["channels"].items() if k != "?"}
    rows = sorted(
        channels.items(),
        key=lambda kv: -(kv[1]["events"] + kv[1]["folded"] + kv[1]["spooled"]),
    )
    rep.add(
        "| channel | messages | embeds | events in them | coalesced | "
        "folded | behind at exit | oldest waiting at exit | left in spool "
        "| minutes to send them | 429s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    )
    worst_behind = worst_owed = 0.0
    most_minutes = 0.0
    for key, ch in rows:
        behind = ch["newest_given"] - ch["newest_shown"]
        if ch["newest_shown"] == -math.inf:
            behind = ch["newest_given"] - r["t0_wall"]
        owed = end - ch["oldest_owed"] if ch["oldest_owed"] < math.inf else 0.0
        behind = max(0.0, behind) if ch["newest_given"] > -math.inf else 0.0
        worst_behind = max(worst_behind, behind)
        worst_owed = max(worst_owed, owed)
        most_minutes = max(most_minutes, ch["spool_minutes"])
        rep.add(
            f"| {key} | {ch['messages']:,} | {ch['embeds']:,} | "
            f"{ch['events']:,} | {ch['coalesced']:,} | {ch['folded']:,} | "
            f"{_s(behind)} | {_s(owed)} | {ch['spooled']:,} | "
            f"{_s(ch['spool_minutes'], ' min')} | "
            f"{ch['status_429']:,} |"
        )
    rep.add("")
    return rows, (worst_behind, worst_owed, most_minutes)


def report_soak(rep: Report, r: dict[str, Any], max_lag: float) -> None:
    rep.scenario = "soak"
    rep.add(
        f"## 1. Soak: {r.get('seconds', 0):.0f} s of the floor at about "
        f"{SOAK_RATE:.0f} events a second, a webhook per channel, a spool",
        "",
    )
    if "error" in r:
        rep.missed.append(f"soak: {r['error']}")
        rep.add(f"**Did not run:** {r['error']}", "", "```text")
        rep.add(r.get("stderr", "").strip()[-1500:], "```", "")
        return
    rows, (worst_behind, worst_owed, most_minutes) = soak_table(rep, r)
    growth = r["rss_end"] - r["rss_before"]
    st, closed = r["stats_end"], r["stats_closed"]
    lag_label = "∞ (off)" if math.isinf(max_lag) else f"{max_lag:g} s"
    rep.row("events logged", f"{r['logged']:,}")
    rep.row(
        "worst channel behind at exit",
        _s(worst_behind),
        f"≤ max_lag ({lag_label})",
        worst_behind <= max_lag,
    )
    rep.row("oldest message still waiting at exit", _s(worst_owed))
    rep.row(
        "messages left in the spool at exit (all)",
        f"{r['spooled']:,}",
    )
    rep.row(
        "the most a channel left in the spool takes to send",
        f"{most_minutes:,.1f} min",
        f"≤ {SPOOL_MINUTES:g} min",
        most_minutes <= SPOOL_MINUTES,
    )
    rep.row(
        "RSS before → at the end of the logging",
        (f"{_mb(r['rss_before'])} → {_mb(r['rss_end'])}"),
    )
    rep.row(
        "RSS growth (end of the logging; peak)",
        (f"{_mb(growth)}; {_mb(r['rss_peak'] - r['rss_before'])}"),
    )
    rep.row("RSS after the close", _mb(r["rss_closed"]))
    rep.row(
        "`delivered` / `coalesced` / `folded` at the end of the logging",
        f"{st.get('delivered', 0):,} / {st.get('coalesced', 0):,} / "
        f"{st.get('folded', 0):,}",
    )
    rep.row(
        "`delivered` / `coalesced` / `folded` after the close",
        f"{closed.get('delivered', 0):,} / {closed.get('coalesced', 0):,} / "
        f"{closed.get('folded', 0):,}",
    )
    rep.row("the close took", _s(r["close_s"]))
    rep.row(
        "429s (all; of a bucket, not `shared`)",
        f"{r['status_429']:,}; {r['status_429_bucket']:,}",
    )
    rep.row("requests", f"{r['requests']:,}")
    rep.table()
    soak_notes(rep, r, rows)
    if r["rejected"] or r["server_errors"]:
        rep.missed.append(
            f"soak: {r['rejected']} bodies rejected, "
            f"{r['server_errors']} errors in the fake"
        )
        rep.add(
            "The fake refused (400) bodies of the library, as Discord "
            "would: " + "; ".join(", ".join(e) for e in r["rejections"]),
            "",
        )


def soak_notes(
    rep: Report, r: dict[str, Any], rows: list[tuple[str, dict[str, Any]]]
) -> None:
    """What was logged, the busiest channels over time, the counters."""
    closed = r["stats_closed"]
    offered = ", ".join(
        f"`{k}` {v:,}"
        for k, v in sorted(r["offered"].items(), key=lambda kv: -kv[1])
    )
    rep.add(
        f"Logged: {offered}. Per channel, 'events in them' counts `×N` "
        "embeds as N (not the summaries of folded events, whose counts are "
        "under 'folded'). 'Behind at exit': the newest event the channel "
        "was given (shown after the logging stopped, or left in the spool)"
        " against the newest it had shown by then; 'oldest waiting at "
        "exit': the oldest event not shown by then. Duplicates held by a "
        "coalescing window (the `×N more` summaries the close sends, and "
        "spooled rows that will merge into one) count in neither: a "
        "message per window is what coalescing promises. 'Minutes to send"
        " them': the spool's rows for the channel (merging ones once), 10 "
        "embeds a message, at 30 messages a minute. "
        "Event times: a trade's log call, else the embed's timestamp, else"
        " its `Time` field (whole seconds). The close is the handler's "
        "`close()` (a flush of at most `flush_timeout`, the rest kept in "
        "the spool).",
        "",
    )
    busiest = rows[:3]
    if busiest and busiest[0][1]["behind"]:
        steps = [at for at, _ in busiest[0][1]["behind"]]
        rep.add(
            "How far behind the busiest channels were while the floor "
            "logged (the time against the newest event shown by then):",
            "",
            "| channel | " + " | ".join(f"{at} s" for at in steps) + " |",
            "|---|" + "---:|" * len(steps),
        )
        for key, ch in busiest:
            behind = dict(ch["behind"])
            cells = [_s(behind.get(at)) for at in steps]
            rep.add(f"| {key} | " + " | ".join(cells) + " |")
        rep.add("")
    rep.add(
        "`queued` / `pending` / `spool.pending` every 10 s: "
        + ", ".join(
            f"{s['at_s']:.0f} s: {s['queued']:,} / {s['pending']:,} / "
            f"{s['spool.pending']:,}"
            for s in r["samples"]
        ),
        "",
    )
    shown = {
        k: v
        for k, v in closed.items()
        if k.startswith(("dropped.", "errors.", "spool.", "sent."))
        or k in {"handled", "rate_limited", "retries", "folded"}
    }
    rep.add(
        "`handler.stats()` after the close: "
        + ", ".join(f"`{k}` {v:,}" for k, v in shown.items()),
        "",
    )


def report_lag(rep: Report, results: dict[str, dict[str, Any]]) -> None:
    rep.scenario = "lag"
    rep.add(
        f"## 2. Lag under overload: {LAG_TRADES:,} distinct `info` trades "
        f"in {LAG_OVER:g} s to one channel, {LAG_WARNINGS} warnings among "
        "them",
        "",
        "| library | warnings arrived (s after logged) | trades one by one "
        "| trades in summaries | trades not arrived | messages | 429s | "
        "newest message's lag, worst | at the end | not shown at the end "
        "| log calls made | time the application spent logging |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    )
    watch = 0.0
    for variant, r in results.items():
        if "error" in r:
            rep.add(f"| {variant} | {r['error']} |" + " |" * 10)
            if "not installed" not in r["error"]:
                rep.missed.append(f"lag, {variant}: {r['error']}")
            continue
        watch = r["watch"]
        told = [
            ("—" if w["logged"] else "not logged")
            if w["after_s"] is None
            else f"{w['after_s']:.1f}" + ("" if w["own_embed"] else "*")
            for w in r["warnings"]
        ]
        arrived = (
            f"{told[0]} (all {len(told)})"
            if len(set(told)) == 1 and len(told) > 1
            else ", ".join(told)
        )
        rep.add(
            f"| {variant} | {arrived} | {r['one_by_one']:,} | "
            f"{r['folded']:,} | {r['missing']:,} | {r['messages']:,} | "
            f"{r['status_429']:,} | {_s(r['late_max'])} | "
            f"{_s(r['newest_lag'][f'{watch:g}'])} | "
            f"{_s(r['unshown_end'])} | {r['logged']:,} | "
            f"{r['log_busy_s']:,.2f} s |"
        )
    rep.add("")
    rep.add(
        f"Watched for {watch:g} s from the first log call. 'Warnings "
        "arrived': seconds from the log call to the fake's reading of the"
        " first request that carried it (— : not within the watch; * : "
        "only inside something else, not as an embed of its own). 'Newest"
        " message's lag': how long before its arrival the newest event a "
        "message covers was logged (for a summary, the newest it folds), "
        "the worst of the watch, and that of the last message to arrive "
        "before its end. 'Not shown at the end': the newest trade of the "
        "plan due by then against the newest one shown. 'Trades not "
        "arrived': neither one by one nor counted in a summary. Event "
        "times are the plan's (an even spread over the logging); a "
        "library that sends inside `emit()` blocks the application, which"
        " then logs late, or not at all before the watch ends: the last "
        "two columns.",
        "",
    )
    for variant, r in results.items():
        if "error" in r:
            continue
        at = ", ".join(f"{s} s: {_s(v)}" for s, v in r["newest_lag"].items())
        rep.add(
            f"- {variant}: the newest message's lag at {at}; "
            f"{r['logged']:,} of {LAG_TRADES + LAG_WARNINGS:,} log calls "
            f"made, the last returned at {r['last_call_s']:.1f} s."
        )
        if r["twice"]:
            rep.add(f"  Trades that arrived twice: {r['twice']:,}.")
        if r["rejected"]:
            rep.add(f"  Bodies the fake refused (400): {r['rejected']:,}.")
        stats = r.get("stats") or {}
        if stats:
            keep = ("delivered", "folded", "pending", "sent.messages")
            rep.add(
                "  `handler.stats()` at the end: "
                + ", ".join(f"`{k}` {stats[k]:,}" for k in keep if k in stats)
                + "."
            )
    rep.add("")


def machine_facts(quick: bool, total: float, max_lag: str | None) -> list[str]:
    return [
        "# Freshness under overload (#15)",
        "",
        *machine_lines(
            "quick" if quick else "full",
            total,
            [
                "polybot-loghandler",
                "httpx",
                "python-logging-discord-handler",
                "discord-webhook",
            ],
        ),
        (
            f"- fake: `FakeDiscord(rate_limit={RATE_LIMIT}, "
            f"channel_limit={CHANNEL_LIMIT})` on 127.0.0.1, in the "
            "benchmark's process; the library in a process of its own"
        ),
        "- `delivery.max_lag`: " + max_lag_said(max_lag),
        "",
    ]


def max_lag_said(max_lag: str | None) -> str:
    """Which ``delivery.max_lag`` the scenarios ran with, in words."""
    if max_lag is not None:
        return f"`{max_lag}` (`--max-lag`), in both scenarios"
    shipped = routing_max_lag(SHIPPED.read_text(encoding="utf-8"))
    soak = (
        f"`{shipped}` in the soak (the shipped routing's)"
        if shipped
        else "not set in the soak"
    )
    return f"{soak}; not set in the lag scenario (the library's default)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seconds", type=float)
    parser.add_argument("--max-lag", metavar="DURATION|off")
    parser.add_argument("--watch", type=float, default=LAG_WATCH)
    parser.add_argument(
        "--only", nargs="+", choices=["soak", "lag"], default=["soak", "lag"]
    )
    parser.add_argument(
        "--no-alternatives", dest="alternatives", action="store_false"
    )
    # a child's arguments
    parser.add_argument("--scenario", choices=["soak", "lag"])
    parser.add_argument("--routing")
    parser.add_argument("--times")
    parser.add_argument("--variant")
    parser.add_argument("--url")
    args = parser.parse_args(argv)
    if args.scenario:
        return run_child(args)
    max_lag = parse_duration(args.max_lag)
    started = time.monotonic()
    rep = Report()
    lag = soak = None
    if "lag" in args.only:
        print("running lag ...", file=sys.stderr, flush=True)
        lag = run_lag(args)
        for r in lag.values():
            r["watch"] = args.watch
    if "soak" in args.only:
        print("running soak ...", file=sys.stderr, flush=True)
        soak = run_soak(args)
    if soak is not None:
        shipped = routing_max_lag(SHIPPED.read_text(encoding="utf-8"))
        target = max_lag or parse_duration(shipped) or DEFAULT_MAX_LAG
        report_soak(rep, soak, target)
    if lag is not None:
        report_lag(rep, lag)
    rep.add("## Targets missed", "")
    rep.add(*[f"- {m}" for m in rep.missed] or ["- none"])
    total = time.monotonic() - started
    print("\n".join(machine_facts(args.quick, total, args.max_lag)))
    print("\n".join(rep.lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
