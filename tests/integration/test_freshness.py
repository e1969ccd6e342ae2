"""
Freshness under overload (#15, "Done when"), against the loopback fake.

One process logs ten times what a channel can carry in Discord's
per-channel window: 3,000 distinct ``info`` trades to one channel over
20 s, with 5 warnings among them, ``delivery.max_lag: 30s``. The fake
answers as Discord does, with its hidden per-channel limit on (30
messages in 60 s, a 429 of scope ``shared``). Then:

- every warning arrives as an embed of its own (never inside a summary);
- the trades that arrive one by one and the counts of the summaries
  that fold the others add up to exactly 3,000, as ``stats()`` says too
  (its delivered trades plus ``folded``);
- nothing arrives more than ``max_lag`` + 5 s after the newest event it
  covers was logged (a trade: its own log call; a summary: the newest
  event it folds, which it states);
- at most one 429.

The acceptance runs Discord's real window once (``slow``, about 80 s);
the fast variant scales the window down to 3 messages in 6 s, in the fake
and in the library's own pacing alike, and the numbers with it.

A summary embed is read by ``bench/_common.fold_summary``: the one place
that knows what a summary looks like.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from bench._common import fold_summary
from fakes.discord import FakeDiscord
from polybot_loghandler import _ratelimit
from polybot_loghandler._ratelimit import RateLimiter
from tests.support.connect import Connect
from tests.support.helpers import routing_yaml, wait_for

pytestmark = pytest.mark.usefixtures("clean_environment")

_ID = re.compile(r"\b([TW])(\d{5})\b")

ROUTES = """\
    - name: trades
      match: {event: trade_executed}
      to: trades
      coalesce: false
      embed:
        title: Trade Executed
        fields:
          - {name: Trade ID, value: "{{ trade_id }}"}
          - {name: Agent, value: "{{ agent }}"}
          - {name: Amount, value: "{{ amount | money }}"}
    - name: warnings
      match: {level: warning}
      to: trades
      coalesce: false
      embed:
        title: "Risk alert {{ warning_id }}"
        fields: auto
    """


@dataclass(frozen=True)
class Overload:
    """One channel offered ten times what its window carries."""

    trades: int
    seconds: float  # logged evenly over this long
    warnings: int
    max_lag: float  # seconds
    slack: float  # seconds a message may arrive past max_lag
    channel_limit: tuple[int, float]  # messages per window (seconds)
    batch_window: float

    @property
    def bound(self) -> float:
        return self.max_lag + self.slack


#: Discord's own window, the acceptance's numbers.
REAL = Overload(3_000, 20.0, 5, 30.0, 5.0, (30, 60.0), 1.0)
#: The window a sixth as long (the shortest bound ``check`` takes is
#: 5 s), its 30 messages kept (the pace leaves 3 of them to warnings);
#: the webhook's bucket (5 requests per 2 s) then carries less than the
#: window, about 25 embeds a second, and the load is ten times that.
#: The bound and the batching are scaled too (the slack less so:
#: threads and sockets do not scale).
SCALED = Overload(825, 3.3, 5, 5.0, 1.5, (30, 10.0), 0.1)


@dataclass
class Arrived:
    """What the channel received, read from the fake's messages."""

    first: dict[str, float]  # id → first arrival (monotonic)
    own: set[str]  # ids that came as an embed of their own
    copies: Counter[str]  # id → embeds that carried it
    folded: int  # the summaries' counts, added up
    summaries: int
    #: (arrival, newest covered event's log time or None, what it is)
    items: list[tuple[float, float | None, str]]

    @classmethod
    def read(
        cls, fake: FakeDiscord, logged: dict[str, float], offset: float
    ) -> Arrived:
        """*offset*: ``time.time() - time.monotonic()``."""
        seen = cls({}, set(), Counter(), 0, 0, [])
        for message in fake.messages:
            for embed in message.json.get("embeds") or ():
                seen.embed(embed, message.time, logged, offset)
        return seen

    def embed(
        self,
        embed: dict[str, Any],
        at: float,
        logged: dict[str, float],
        offset: float,
    ) -> None:
        summary = fold_summary(embed)
        if summary is not None:
            count, newest = summary
            self.folded += count
            self.summaries += 1
            covered = None if newest is None else newest - offset
            self.items.append((at, covered, f"a summary of {count}"))
            return
        ids = {k + n for k, n in _ID.findall(json.dumps(embed))} & set(logged)
        for ident in ids:
            self.copies[ident] += 1
            self.first.setdefault(ident, at)
        if len(ids) == 1:
            self.own |= ids
        if ids:
            newest = max(ids, key=logged.__getitem__)
            self.items.append((at, logged[newest], newest))

    def one_by_one(self) -> int:
        return sum(1 for k in self.first if k.startswith("T"))

    def accounted(self, scenario: Overload) -> bool:
        warned = sum(1 for k in self.own if k.startswith("W"))
        trades = self.one_by_one() + self.folded
        return warned == scenario.warnings and trades >= scenario.trades


def plan(scenario: Overload) -> list[tuple[float, str]]:
    """``(seconds after the start, id)``: trades, and warnings among them."""
    gap = scenario.seconds / scenario.trades
    out = [(i * gap, f"T{i:05d}") for i in range(scenario.trades)]
    for k in range(scenario.warnings):
        after = (2 * k + 1) * scenario.trades // (2 * scenario.warnings)
        out.append(((after + 0.5) * gap, f"W{k + 1:05d}"))
    return sorted(out)


@pytest.fixture
def scaled_window(monkeypatch: pytest.MonkeyPatch) -> None:
    """The library paces channels by SCALED's window, as the fake limits."""
    messages, window = SCALED.channel_limit
    defaults = RateLimiter.__init__.__kwdefaults__
    assert defaults is not None
    monkeypatch.setitem(defaults, "channel_messages", messages)
    monkeypatch.setitem(defaults, "channel_window", window)
    monkeypatch.setattr(_ratelimit, "CHANNEL_MESSAGES", messages)
    monkeypatch.setattr(_ratelimit, "CHANNEL_WINDOW", window)


def limited_fake(scenario: Overload) -> Iterator[FakeDiscord]:
    with FakeDiscord(channel_limit=scenario.channel_limit) as fake:
        yield fake
    assert [] == fake.server_errors, "the fake itself failed"


@pytest.fixture
def real_fake() -> Iterator[FakeDiscord]:
    yield from limited_fake(REAL)


@pytest.fixture
def scaled_fake() -> Iterator[FakeDiscord]:
    yield from limited_fake(SCALED)


def overload(scenario: Overload, fake: FakeDiscord, connect: Connect) -> None:
    """Log the scenario, wait for what is due, assert the acceptance."""
    delivery = {
        "console": '"off"',
        "batch_window": f"{scenario.batch_window:g}s",
        "flush_timeout": "2s",
    }
    delivery["max_lag"] = f"{scenario.max_lag:g}s"
    handler, log = connect(
        routing_yaml(
            {"trades": fake.webhook_url("1501", "tok-fresh")},
            ROUTES,
            **delivery,
        )
    )
    offset = time.time() - time.monotonic()
    logged: dict[str, float] = {}
    started = time.monotonic() + 0.2
    for at, ident in plan(scenario):
        delay = started + at - time.monotonic()
        if delay > 0:
            time.sleep(delay)  # the floor's pace, not a wait for a result
        logged[ident] = time.monotonic()
        if ident.startswith("W"):
            log.warning(
                "risk_alert",
                extra={"warning_id": ident, "agent": "Momentum_BTC_v1"},
            )
        else:
            log.info(
                "trade_executed",
                extra={"trade_id": ident, "agent": "MomentumAlpha"},
            )
    # everything is due by then; a little longer shows what comes late
    due = max(logged.values()) + scenario.bound
    wait_for(
        lambda: Arrived.read(fake, logged, offset).accounted(scenario),
        max(0.0, due + 2.0 - time.monotonic()),
    )
    seen = Arrived.read(fake, logged, offset)
    warnings = {k for k in logged if k.startswith("W")}

    def counted() -> int:
        stats = handler.stats()
        trades = stats.get("delivered", 0) - seen.summaries
        trades -= sum(1 for w in warnings if w in seen.first)
        return trades + stats.get("folded", 0)

    wait_for(lambda: counted() == scenario.trades, 3.0)
    print(
        f"{seen.one_by_one()} trades one by one, {seen.folded} in "
        f"{seen.summaries} summaries, warnings after "
        + ", ".join(
            f"{seen.first[w] - logged[w]:.1f}s" if w in seen.first else "-"
            for w in sorted(warnings)
        )
        + f"; {len(fake.messages)} messages, {fake.count(429)} 429s; "
        f"stats {handler.stats()}"
    )

    total = counted()
    handler.close()  # now, while the fake still answers

    late_warnings = [
        f"{w}: "
        + (
            "never arrived"
            if w not in seen.first
            else "only inside something else"
            if w not in seen.own
            else f"arrived {seen.first[w] - logged[w]:.1f}s after it was "
            f"logged (at most {scenario.bound:g}s)"
        )
        for w in sorted(warnings)
        if w not in seen.own or seen.first[w] - logged[w] > scenario.bound
    ]
    assert [] == late_warnings
    late = sorted(
        (
            (math.inf if covered is None else at - covered, what)
            for at, covered, what in seen.items
        ),
        reverse=True,
    )
    assert [] == [
        f"{what}: {lateness:.1f}s after its newest event was logged"
        if lateness < math.inf
        else f"{what}: says not when its newest event was logged"
        for lateness, what in late[:10]
        if lateness > scenario.bound
    ], f"embeds came later than {scenario.bound:g}s"
    twice = [k for k, n in seen.copies.items() if n > 1]
    assert [] == twice[:10]
    assert (scenario.trades, scenario.trades) == (
        seen.one_by_one() + seen.folded,
        total,
    )
    assert fake.count(429) <= 1
    assert [] == fake.rejected


def test_a_channel_ten_times_over_its_window_stays_fresh(
    scaled_window: None, scaled_fake: FakeDiscord, connect: Connect
) -> None:
    """
    The acceptance with the window scaled to 30 messages in 10 s: 825
    trades over 3.3 s, 5 warnings, ``max_lag`` 5 s, a 0.1 s batch
    window; each message within ``max_lag`` + 1.5 s of its newest event.
    """
    overload(SCALED, scaled_fake, connect)


@pytest.mark.slow
def test_3000_trades_in_20s_stay_within_max_lag(
    real_fake: FakeDiscord, connect: Connect
) -> None:
    """
    The acceptance of #15 as written, on Discord's own window (30
    messages in 60 s): 3,000 trades over 20 s, 5 warnings, ``max_lag``
    30 s; each message within ``max_lag`` + 5 s of its newest event.
    """
    overload(REAL, real_fake, connect)
