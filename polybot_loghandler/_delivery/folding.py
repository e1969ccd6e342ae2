"""
Folding: a lane that falls behind sends summaries in its backlog's place.

Before a lane takes its next batch, :meth:`Folder.fold` asks the rate
limiter when the lane's next messages may leave (at the channel's pace),
and :func:`.freshness.plan` which of the waiting ones would reach
Discord more than their ``max_lag`` after they were logged. Those are
folded: taken out of the lane (and, with a spool, off the disk, where
they waited for room), and counted into one summary per route and level
(:class:`.summary.Summary`) at the front of their level. A summary still
waiting takes in what is folded later, so a channel that stays
overloaded sends one summary per route at a time, not one per decision.
A lane that folded keeps the channel's pace for a minute after its last
fold (``LaneState.paced_until``, :data:`PACED_FOR`): a burst would spend
the channel's minute in seconds and leave its summaries, and its
warnings, waiting for the rest of it.

Nothing is lost on the way: a summary carries the receipts of what it
folded (the relay acknowledges their stream entries once it is
delivered), and with a spool the folded messages' entries are done and
the summary's own entry written in the same group commit, so a restart
finds the summary, not the backlog. The ledger counts the folded events
when their summary is delivered (``folded``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass

from polybot_loghandler._batching import Pending
from polybot_loghandler._limits import MAX_EMBEDS_PER_MESSAGE
from polybot_loghandler._message import RoutedMessage
from polybot_loghandler._model import Config
from polybot_loghandler._ratelimit import RateLimiter
from polybot_loghandler._spool.keeper import SpoolKeeper
from polybot_loghandler._spool.store import SpoolEntry

from .freshness import Waiting, plan
from .lanes import Lanes, LaneState, is_own
from .summary import Summary

__all__ = ["PACED_FOR", "Folder", "lag_of"]

#: Seconds a lane keeps the channel's pace after it last folded: a
#: window of Discord's per-channel limit. Sooner, one fold that emptied
#: the lane would let its next messages burst and fill the window again.
PACED_FOR = 60.0
#: Queues a message read back from the spool in its lane (the filer's).
Queue = Callable[[LaneState, RoutedMessage, SpoolEntry | None], None]


def lag_of(message: RoutedMessage, default: float | None) -> float | None:
    """
    The ``max_lag`` *message* is held to; ``None``: it is never folded.

    Never folded: warnings and above, the engine's own messages, made
    messages and summaries (their routes say ``fold: never``), and
    routes with ``fold: never`` or ``max_lag: off``.
    """
    if message.event.level >= logging.WARNING or is_own(message.route):
        return None
    if message.folded:
        return None
    fold = message.fold
    lag = (
        (math.inf if default is None else default)
        if fold is None
        else fold.lag_limit(default)
    )
    return None if math.isinf(lag) else lag


@dataclass(slots=True, eq=False)
class _Open:
    """A summary still waiting in its lane, and its item there."""

    summary: Summary
    item: Pending


class Folder:
    """
    Folds what a lane cannot send in time.

    Args:
        lanes: The lanes (a summary counts in their bound).
        keeper: The spool (``None``: memory only).
        config: The routing in use, read at each use (it is reloaded).
        queue: Files a message read back from the spool in its lane.
        clock: Monotonic seconds (the lanes' and the limiter's clock).
        wall: Epoch seconds (when events were logged).
    """

    def __init__(  # noqa: PLR0913 - the folder's seams, all explicit
        self,
        lanes: Lanes,
        keeper: SpoolKeeper | None,
        config: Callable[[], Config],
        queue: Queue,
        *,
        clock: Callable[[], float],
        wall: Callable[[], float],
    ) -> None:
        self._lanes = lanes
        self._keeper = keeper
        self._config = config
        self._queue = queue
        self._clock = clock
        self._wall = wall
        self._open: dict[tuple[str, str, int], _Open] = {}
        #: what was logged before this run waited for it: it is late
        #: only from the start of the run (a spool left by another
        #: process is a backlog, not an old message)
        self._started = wall()

    def fold(self, state: LaneState, limiter: RateLimiter) -> int:
        """
        Fold what in *state*'s lane would arrive late; the events folded.

        The console has no Discord limits: nothing there is folded.
        """
        if state.destination is None:
            return 0
        default = self._config().delivery.max_lag
        items = state.lane.in_order()
        keeper = self._keeper
        disk = [] if keeper is None else keeper.waiting_entries(state.key)
        since = max(self._started, state.resumed)
        waiting, sources = _in_order(items, disk, default, since)
        if all(w.lag is None for w in waiting):
            return 0
        now, wall = self._clock(), self._wall()
        per = MAX_EMBEDS_PER_MESSAGE
        # lanes that send on one channel (its threads) take turns: this
        # one leaves on every share-th of the channel's places
        share = self._sharing(state)
        times = limiter.schedule(
            state.key, state.channel, now, (len(waiting) // per + 2) * share
        )
        leaves = [wall + (t - now) for t in times[share - 1 :: share]]
        picked = [sources[i] for i in plan(waiting, leaves, per_message=per)]
        if picked:  # behind: keep the pace the projection assumed
            state.paced_until = now + PACED_FOR
        return self._replace(state, picked, default)

    def _sharing(self, state: LaneState) -> int:
        """
        How many lanes with work post on *state*'s channel, itself too.

        Boards are left out: their edits are not posts, and each posts
        once in a long while.
        """
        return 1 + sum(
            1
            for other in self._lanes
            if other is not state
            and other.channel == state.channel
            and other.busy
            and (other.place is None or other.place.board is None)
        )

    def _replace(
        self,
        state: LaneState,
        picked: list[Pending | SpoolEntry],
        default: float | None,
    ) -> int:
        """Fold *picked* into their routes' summaries."""
        items = [p for p in picked if isinstance(p, Pending)]
        entries = [e for e in picked if not isinstance(e, Pending)]
        if not entries:
            items = self._without_lone(state, items)
        groups: dict[
            tuple[str, int], list[tuple[RoutedMessage, Pending | SpoolEntry]]
        ] = {}
        for item in items:
            groups.setdefault((item.message.route, item.level), []).append(
                (item.message, item)
            )
        self._lanes.remove(state, items)
        keeper = self._keeper
        if entries and keeper is not None:
            config = self._config()
            for message, entry in keeper.take_entries(
                state.key, entries, config
            ):
                if lag_of(message, default) is None:  # the disk cannot say
                    self._queue(state, message, entry)
                    continue
                key = (message.route, message.event.level)
                groups.setdefault(key, []).append((message, entry))
        folded = 0
        for (route, level), members in groups.items():
            folded += self._summarise(state, route, level, members, default)
        return folded

    def _without_lone(
        self, state: LaneState, items: list[Pending]
    ) -> list[Pending]:
        """
        *items* without any that would be its summary's only event.

        A summary of one message takes the message's place and says less
        than the message: it is sent as it is.
        """
        per: dict[tuple[str, int], int] = {}
        for item in items:
            key = (item.message.route, item.level)
            per[key] = per.get(key, 0) + item.count
        return [
            item
            for item in items
            if per[(item.message.route, item.level)] > 1
            or self._waiting((state.key, item.message.route, item.level))
        ]

    def _waiting(self, key: tuple[str, str, int]) -> _Open | None:
        """The summary of *key* still waiting in its lane, if any."""
        found = self._open.get(key)
        if found is not None and (found.item.taken or found.item.dropped):
            del self._open[key]
            return None
        return found

    def _summarise(
        self,
        state: LaneState,
        route: str,
        level: int,
        members: list[tuple[RoutedMessage, Pending | SpoolEntry]],
        default: float | None,
    ) -> int:
        """Count *members* into their summary; the events they held."""
        key = (state.key, route, level)
        first = members[0][0]
        found = self._waiting(key)
        summary = (
            Summary(route, level, first.fold)
            if found is None
            else found.summary
        )
        before = summary.events
        done: list[SpoolEntry] = []
        receipts = []
        for message, source in members:
            if isinstance(source, Pending):
                summary.add(
                    message.event,
                    count=source.count,
                    first=source.first,
                    last=source.last,
                )
                done += source.spool
                receipts += source.receipts
                source.receipts = []
            else:
                summary.add(message.event)
                done.append(source)
        lag = lag_of(first, default) or 0.0
        message = summary.message(first, lag)
        keeper = self._keeper
        entry = None
        if keeper is not None:
            if found is not None:
                done += found.item.spool
            # in one group commit: the summary in, what it folded out
            entry = keeper.append(message)
            keeper.done(done)
        if found is None:
            item = Pending(
                message,
                None,
                level,
                summary.first,
                summary.last,
                self._clock(),
            )
            self._lanes.push_front(state, item)
            self._open[key] = _Open(summary, item)
        else:
            item = found.item
            item.message = message
            item.first, item.last = summary.first, summary.last
        item.spool = [] if entry is None else [entry]
        item.receipts += receipts
        return summary.events - before


def _in_order(
    items: list[Pending],
    disk: list[SpoolEntry],
    default: float | None,
    since: float,
) -> tuple[list[Waiting], list[Pending | SpoolEntry]]:
    """
    The lane's messages and those waiting on disk, in the order they go.

    Levels from the highest; within one, the lane's (the older) first.
    What waits on disk is judged by its level and time alone (its route
    is read only if it is folded). A message logged before *since* (the
    run's start, or the end of the lane's failing spell) is judged from
    *since*: a backlog an outage or a restart left is folded only if it
    cannot drain within the bound, not for its age.
    """
    levels = sorted(
        {p.level for p in items} | {e.level for e in disk}, reverse=True
    )
    by_level: dict[int, list[Pending | SpoolEntry]] = {lv: [] for lv in levels}
    for item in items:
        by_level[item.level].append(item)
    for entry in disk:
        by_level[entry.level].append(entry)
    waiting: list[Waiting] = []
    sources: list[Pending | SpoolEntry] = []
    for level in levels:
        for source in by_level[level]:
            if isinstance(source, Pending):
                # a merge may have raised its level past the message's
                lag = (
                    None
                    if source.level >= logging.WARNING
                    else lag_of(source.message, default)
                )
                waiting.append(
                    Waiting(
                        source.level,
                        max(source.last, since),
                        lag,
                        source.message.route,
                    )
                )
            else:
                lag = default if source.level < logging.WARNING else None
                waiting.append(
                    Waiting(source.level, max(source.time, since), lag, "")
                )
            sources.append(source)
    return waiting, sources
