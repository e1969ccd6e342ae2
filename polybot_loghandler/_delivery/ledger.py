"""
The ledger: what became of every message, and who must hear of it.

Every message a lane took either reaches its destination or is lost
for a reason (a :class:`~polybot_loghandler._losses.Loss`); the ledger
counts both through one :class:`~polybot_loghandler._stats.Stats`, marks
spooled entries done, and keeps the news people need: a destination
that started failing or recovered, one that was disabled, events that
started being dropped, the periodic summary, "N events were not
delivered" after losses. Its own messages go into :attr:`Ledger.outbox`,
which the engine files like any other: the ledger never reaches back
into the lanes or the sender.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from polybot_loghandler._batching import Pending
from polybot_loghandler._diagnostics import Diagnostics, described, emit, say
from polybot_loghandler._discord import Outcome
from polybot_loghandler._events import LogEvent
from polybot_loghandler._format import counted, duration
from polybot_loghandler._losses import Loss
from polybot_loghandler._message import RoutedMessage
from polybot_loghandler._model import Channel, Config, Destination
from polybot_loghandler._payload import build_payload
from polybot_loghandler._selfreport import (
    QUIET_REASONS,
    alert_embed,
    drops,
    summary_embed,
)
from polybot_loghandler._spool.keeper import SpoolKeeper
from polybot_loghandler._stats import Stats
from polybot_loghandler._text import escape_markdown

from .lanes import LaneState, Trouble, is_own

__all__ = ["NOTICE_ROUTE", "Ledger"]

#: A destination failing for this long (seconds) is news: stderr and the
#: ops channel hear it once, and again when it recovers. A wait on a rate
#: limit past its cap is news at once.
FAILING_AFTER = 2.0
#: The route name of the engine's own "N events were not delivered".
NOTICE_ROUTE = "polybot_loghandler.dropped"
#: Seconds between checks of the drop counters (for "drops began").
WATCH_EVERY = 1.0
#: A reason that dropped nothing for this long is news again.
QUIET_AFTER = 600.0


class Ledger:
    """
    Counts deliveries and losses, and words the news about them.

    Args:
        stats: The counters (shared with the pipeline).
        config: The routing in use, read at each use (it is reloaded).
        keeper: The spool, whose entries are done once their message is
            delivered or lost.
        diagnostics: Where warnings are said once (kept across runs).
        started: When the run began, on the caller's clock: the first
            summary covers the time since.
        wall: Wall-clock seconds, for the times people read.
    """

    def __init__(  # noqa: PLR0913 - the seams, keyword-only after config
        self,
        stats: Stats,
        config: Callable[[], Config],
        keeper: SpoolKeeper | None = None,
        *,
        diagnostics: Diagnostics | None = None,
        started: float = 0.0,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.stats = stats
        self._config = config
        self._keeper = keeper
        self._wall = wall
        self.diagnostics = (
            Diagnostics() if diagnostics is None else diagnostics
        )
        #: the ledger's own messages, for the engine to file in order
        self.outbox: deque[RoutedMessage] = deque()
        #: set when something was put in the outbox
        self.posted = asyncio.Event()
        self._reported: dict[str, int] = {}
        self._reported_at = started
        self._drops_seen: dict[str, int] = {}
        self._drops_last: dict[str, float] = {}

    # -- counting -------------------------------------------------------

    def count(self, key: str, n: int = 1) -> None:
        """Add *n* to counter *key*."""
        self.stats.count(key, n)

    def lost(self, reason: Loss, events: int) -> None:
        """Count *events* lost for *reason*, no lane's in particular."""
        if events:
            self.stats.count(reason.counter, events)

    def sent(
        self, state: LaneState, batch: Sequence[Pending], now: float
    ) -> None:
        """
        *batch* reached *state*'s destination, as one message.

        The destination answers: if its failing was told, its recovery
        is too; what was lost since its last delivery is told now.
        """
        self._settle(batch)
        self.count("sent.messages")
        self.count("sent.embeds", len(batch))
        events = [p for p in batch if not is_own(p.message.route)]
        # a summary is one message delivered; what it folded, folded
        self.count(
            "delivered",
            sum(1 if p.message.folded else p.count for p in events),
        )
        folded = sum(p.message.folded for p in events)
        if folded:
            self.count("folded", folded)
        self.answered(state, now)
        self.notice(state)

    def drop(
        self,
        messages: Sequence[RoutedMessage],
        reason: Loss,
        state: LaneState,
    ) -> None:
        """
        Count *messages*, which no lane took, as lost for *reason*.

        The engine's own messages (notices, alerts) are not events:
        losing one is not counted, as delivering one is not. The loss is
        remembered on the lane, for the notice after its next delivery.
        """
        for message in messages:
            if message.receipt is not None:
                message.receipt.settle()
        self._lose(
            state,
            reason,
            sum(m.folded or 1 for m in messages if not is_own(m.route)),
        )

    def drop_items(
        self, items: Sequence[Pending], reason: Loss, state: LaneState
    ) -> None:
        """
        Count a lane's *items* as lost for *reason*, copies included.

        Their spool entries are done. As with :meth:`drop`, the engine's
        own messages are not counted.
        """
        self._settle(items)
        events = sum(p.events for p in items if not is_own(p.message.route))
        self._lose(state, reason, events)

    def evicted(self, state: LaneState, item: Pending) -> None:
        """*item* was pushed out of a full queue and is lost."""
        self._settle([item])
        self._lose(state, Loss.QUEUE_FULL, item.events)

    def shown(self, batch: Sequence[Pending], shown: int) -> None:
        """*batch* went to the console (*shown* of it on screen)."""
        self._settle(batch)
        if shown:
            self.count("console", shown)

    def unfiled(self, message: RoutedMessage, exc: Exception) -> None:
        """*message* failed to reach a lane: it is lost, counted."""
        if message.receipt is not None:
            message.receipt.settle()
        self.unrenderable(exc)

    def _settle(self, items: Iterable[Pending]) -> None:
        """*items* are done: their spool entries and receipts hear so."""
        keeper = self._keeper
        for item in items:
            if keeper is not None and item.spool:
                keeper.done(item.spool)
            receipts = item.receipts
            if receipts:
                for receipt in receipts:
                    receipt.settle()
                receipts.clear()  # settled once, whatever comes later

    def _lose(self, state: LaneState, reason: Loss, events: int) -> None:
        if events:
            self.count(reason.counter, events)
            state.dropped_since[reason] += events

    # -- warnings -------------------------------------------------------

    def warn(self, key: str, message: str) -> None:
        """Say *message* once per *key* (see ``Diagnostics.warn``)."""
        self.diagnostics.warn(key, message)

    def unrenderable(self, exc: Exception) -> None:
        """An event could not be routed, rendered or filed: count it."""
        self.count(Loss.UNRENDERABLE.counter)
        self.warn(
            "unrenderable",
            f"an event could not be routed or queued and was dropped "
            f"({described(exc)}); the next such are counted as "
            f"{Loss.UNRENDERABLE.counter}",
        )

    # -- the destinations' health ----------------------------------------

    def failing(
        self,
        state: LaneState,
        outcome: Outcome,
        began: float,
        now: float,
        *,
        at_once: bool = False,
    ) -> Trouble:
        """Note that *state*'s destination failed; tell people, once."""
        trouble = state.trouble
        why = outcome.detail or str(outcome.status)
        if trouble is None:
            trouble = state.trouble = Trouble(
                since=began,
                wall=self._wall() - (now - began),
                why=why,
                unreachable=outcome.unreachable,
            )
        else:
            trouble.why = why
            trouble.unreachable = outcome.unreachable
        budget = self._config().delivery.retry_for
        # said at the latest when its messages start being given up
        soon = min(FAILING_AFTER, budget)
        if trouble.said or not (at_once or now - trouble.since >= soon):
            return trouble
        if state.said_at is not None and now - state.said_at < QUIET_AFTER:
            return trouble  # flapping: it was told a moment ago
        trouble.said = True
        state.said_at = now
        then = (
            "kept in the spool until it answers"
            if self._keeper is not None
            else "dropped"
        )
        text = (
            f"{trouble_text(state.label, trouble)}; its messages are "
            f"retried for up to {budget:g}s, then {then}"
        )
        say(text)
        self.alert(
            "⚠️ A Discord destination is failing",
            escape_markdown(text),
            avoid=state.destination,
        )
        return trouble

    def answered(self, state: LaneState, now: float) -> None:
        """
        The destination answers again: say so, if its failing was told.

        After a delivery, also tell what was lost since the last one.
        """
        trouble, state.trouble = state.trouble, None
        if trouble is None or not trouble.said:
            return
        took = duration(max(now - trouble.since, 0.0))
        text = (
            f"{state.label} answers again, after {took} "
            f"({_verb(trouble)} since {_clock_text(trouble.wall)} UTC)"
        )
        say(text)
        self.alert(
            "✅ A Discord destination recovered",
            escape_markdown(text),
            avoid=state.destination,
        )

    def disabled(self, state: LaneState, why: str, fix: str) -> None:
        """
        Tell, once, that *state*'s destination is disabled for good.

        *why* follows its label (``answered 404 Unknown Webhook``), and
        *fix* says what to do about it.
        """
        if not self.diagnostics.first(f"disabled:{state.key}"):
            return
        text = (
            f"{state.label} {why}; it is disabled and its messages are "
            f"dropped ({fix})"
        )
        say(text)
        self.alert(
            "⛔ A Discord destination was disabled",
            escape_markdown(text),
            severe=True,
            avoid=state.destination,
        )

    @staticmethod
    def troubles(lanes: Iterable[LaneState]) -> list[str]:
        """The destinations failing now, each with why and since when."""
        return [
            trouble_text(s.label, s.trouble)
            for s in lanes
            if s.trouble is not None
        ]

    # -- the ledger's own messages ----------------------------------------

    def notice(self, state: LaneState) -> None:
        """Tell the channel (or the ops channel) what was lost, once."""
        lost = state.dropped_since
        if not lost:
            return
        total = sum(lost.values())
        reasons = ", ".join(f"{r}: {n}" for r, n in sorted(lost.items()))
        state.dropped_since = Counter()
        config = self._config()
        target = _ops(config)
        if target is None:
            target = next(
                (
                    c
                    for c in config.channels.values()
                    if c.destination == state.destination
                ),
                None,
            )
        if target is None:
            return
        embed = {
            "title": f"⚠️ {_events(total)} not delivered",
            "description": f"Reasons: {reasons}",
            "color": 0xFFA000,
        }
        self._post(target.key, embed, NOTICE_ROUTE, logging.WARNING)

    def alert(
        self,
        title: str,
        text: str,
        *,
        severe: bool = False,
        avoid: Destination | None = None,
    ) -> None:
        """
        Warn the ops channel now, if there is one.

        Not through *avoid*: a destination that just failed would only
        lose the warning about itself.
        """
        target = _ops(self._config())
        if target is None or (
            avoid is not None and target.destination == avoid
        ):
            return
        embed = alert_embed(title, text, severe=severe)
        level = logging.ERROR if severe else logging.WARNING
        self._post(target.key, embed, "polybot_loghandler.alert", level)

    def _post(
        self, channel: str, embed: dict[str, Any], route: str, level: int
    ) -> None:
        """Put one of the ledger's own messages in the outbox."""
        target = self._config().channels.get(channel)
        if target is None:
            return
        event = LogEvent(
            event=route,
            level=level,
            logger="polybot_loghandler",
            message=str(embed.get("title", "")),
        )
        self.outbox.append(
            RoutedMessage(
                channel=target.key,
                route=route,
                payload=build_payload([embed], None),
                embed=embed,
                event=event,
                target=target,
            )
        )
        self.posted.set()

    # -- the periodic news ------------------------------------------------

    def watch_drops(self, stats: dict[str, int], now: float) -> None:
        """Warn once when events start being dropped for a reason."""
        for reason, n in drops(stats).items():
            before = self._drops_seen.get(reason, 0)
            self._drops_seen[reason] = n
            if n <= before or reason in QUIET_REASONS:
                continue
            last = self._drops_last.get(reason)
            self._drops_last[reason] = now
            if last is not None and now - last < QUIET_AFTER:
                continue  # still the same episode
            text = (
                f"{counted(n - before, 'event')} dropped ({reason}) in the "
                f"last {WATCH_EVERY:g}s; the next summary has the totals"
            )
            emit(text)
            self.alert("⚠️ Discord delivery is dropping events", text)

    def report(
        self, stats: dict[str, int], now: float, disabled: Sequence[str]
    ) -> None:
        """Post the periodic summary of the counters, if anything moved."""
        channel = self._config().delivery.notice_channel
        if channel is None:
            return
        embed = summary_embed(
            stats, self._reported, now - self._reported_at, disabled
        )
        self._reported, self._reported_at = stats, now
        if embed is not None:
            self._post(
                channel, embed, "polybot_loghandler.report", logging.INFO
            )


def _ops(config: Config) -> Channel | None:
    """The ops channel, if the routing has one."""
    ops = config.delivery.ops_channel
    return config.channels.get(ops) if ops else None


def _events(n: int) -> str:
    return f"{counted(n, 'event')} {'was' if n == 1 else 'were'}"


def _verb(trouble: Trouble) -> str:
    return "unreachable" if trouble.unreachable else "failing"


def _clock_text(wall: float) -> str:
    """``12:01:02`` in UTC."""
    return time.strftime("%H:%M:%S", time.gmtime(wall))


def trouble_text(label: str, trouble: Trouble) -> str:
    """``webhook … unreachable since 12:01:02 UTC (connection refused)``."""
    return (
        f"{label} {_verb(trouble)} since {_clock_text(trouble.wall)} UTC "
        f"({trouble.why})"
    )
