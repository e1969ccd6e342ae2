"""
The lanes: what waits for each destination, and the bound on them all.

A lane (``_batching.Lane``) holds one destination's messages in order
(higher levels first); :class:`Lanes` is the table of them, keyed by
destination, and keeps the one bound that spans them
(``delivery.queue_size``): over it, the lowest level makes room first.
Everything here is pure bookkeeping that takes ``now`` from its caller:
no clock, no I/O, no counting. What was pushed out is returned to the
engine, which knows whether it waits in the spool or is lost.
"""

from __future__ import annotations

import asyncio
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from polybot_loghandler._address import forum_place
from polybot_loghandler._batching import Lane, Pending
from polybot_loghandler._losses import Loss
from polybot_loghandler._message import Place, RoutedMessage
from polybot_loghandler._model import (
    BotChannelDestination,
    Channel,
    Destination,
)

__all__ = ["OWN_ROUTES", "LaneState", "Lanes", "Trouble", "is_own"]

#: The key of the one console lane.
CONSOLE = "console"
#: Lanes kept before idle ones of threads and boards are let go.
MOST_LANES = 1000
#: The thread the engine's own notices go into in a forum channel.
OWN_THREAD = "polybot_loghandler"
#: Routes of the engine's own messages start with this; they are not
#: events: neither counted as delivered or lost, nor evicted for one.
OWN_ROUTES = "polybot_loghandler."


def _place_label(place: Place) -> str:
    """A place, for people: `` (board 'db')``, `` (thread 'BTC')``."""
    said = (f"{what.replace('_', ' ')} {v!r}" for what, v in place.parts())
    return f" ({', '.join(said)})"


def is_own(route: str) -> bool:
    """Whether *route* names one of the engine's own messages."""
    return route.startswith(OWN_ROUTES)


@dataclass(slots=True)
class Trouble:
    """Why a destination is failing, and since when."""

    since: float  # the engine's clock, when the first failed try began
    wall: float  # the same moment, as wall-clock time
    why: str  # the latest failure, for people (tokens redacted)
    unreachable: bool  # no connection could be made
    said: bool = False  # stderr and the ops channel were told


@dataclass(eq=False)
class LaneState:
    """A lane and what is known about its destination."""

    key: str
    label: str  # for people: the URL redacted, or the channel id
    destination: Destination | None  # None: the console
    channel: str  # for Discord's per-channel limit
    lane: Lane
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    running: bool = False  # a task sends what it holds
    sending: bool = False  # a batch is on its way
    on_wire: bool = False  # its request is out, the answer not yet in
    disabled: Loss | None = None  # the drop reason once gone
    inflight: list[Pending] = field(default_factory=list)
    dropped_since: Counter[Loss] = field(default_factory=Counter)
    failing: bool = False  # its last attempt failed and will be retried
    trouble: Trouble | None = None  # failing since, and why
    said_at: float | None = None  # when its failing was last told
    resume_at: float = 0.0  # when its rate-limit wait ends
    #: when it last became able to send (epoch: after a failing spell,
    #: or ``0.0``): what waited before then is late only from then on
    resumed: float = 0.0
    #: it fell behind: until then (the lanes' clock), its ordinary
    #: messages keep the channel's pace
    paced_until: float = float("-inf")
    #: the thread or board in its channel it sends to, if any
    place: Place | None = None

    @property
    def busy(self) -> bool:
        """Whether it holds messages or is sending some."""
        return bool(len(self.lane)) or self.sending

    def waiting(self) -> list[Pending]:
        """What it is sending and what it holds, in order."""
        return [*self.inflight, *self.lane.items()]


class Lanes:
    """
    The lanes of every destination, and the bound they share.

    Args:
        gather: Seconds ordinary messages wait to travel together
            (``delivery.batch_window``).
        window: The default coalescing window (``coalesce_window``).
        bound: Messages all lanes may hold (``delivery.queue_size``);
            the engine's own notices are not held to it.
    """

    def __init__(self, gather: float, window: float, bound: int) -> None:
        self._gather = gather
        self._window = window
        self.bound = bound
        self._table: dict[str, LaneState] = {}
        self._by_level: dict[int, deque[Pending]] = {}
        #: messages waiting in lanes (each may stand for several events)
        self.pending = 0
        #: those of them outside the bound (the engine's own notices)
        self._free: set[Pending] = set()
        #: entries of _by_level no longer waiting, not yet swept
        self._stale = 0
        #: whether a lane's key has messages waiting in the spool
        self.on_disk: Callable[[str], bool] = lambda _key: False

    def __iter__(self) -> Iterator[LaneState]:
        return iter(list(self._table.values()))

    def for_message(self, message: RoutedMessage) -> LaneState:
        """
        The lane of *message*'s destination and place, made if new.

        A forum channel takes messages only into threads: one that names
        none (the engine's own notices, made here) goes into a thread of
        its own (:func:`~polybot_loghandler._address.forum_place`), as a
        routed one does.
        """
        place, target = message.place, message.target
        if target is not None and target.forum:
            name = OWN_THREAD if is_own(message.route) else message.route
            place = forum_place(place, name, message.event)
        return self.of(target, place)

    def of(
        self, target: Channel | None, place: Place | None = None
    ) -> LaneState:
        """
        The lane of *target*'s destination, made if new.

        A thread and a board have lanes of their own (*place*): a
        thread's messages are sent in order, the first making it; a
        board's events replace one another, one edit at a time. They
        share their channel's per-channel limit.
        """
        destination = target.destination if target is not None else None
        if destination is None:
            # one lane for the console: a reader sees the channels'
            # messages in the order they were logged, not by channel
            key = label = channel = CONSOLE
            place = None
        elif isinstance(destination, BotChannelDestination):
            key = f"bot:{destination.channel_id}"
            label = f"channel {destination.channel_id}"
            channel = destination.channel_id
        else:
            key, label = f"webhook:{destination.url}", destination.redacted_url
            # a webhook posts to one channel, which its URL does not
            # name: its id stands for it (threads of one webhook share it)
            channel = f"webhook:{destination.webhook_id or destination.url}"
        if place is not None:
            key += place.lane()
            label += _place_label(place)
        state = self._table.get(key)
        if state is None:
            if len(self._table) >= MOST_LANES:
                self._let_go()
            # the console shows messages in the order they were logged
            lane = Lane(
                gather=self._gather,
                window=self._window,
                by_level=destination is not None,
            )
            state = LaneState(
                key, label, destination, channel, lane, place=place
            )
            # a destination that is gone is gone for all its places
            state.disabled = next(
                (s.disabled for s in self.siblings(state) if s.disabled),
                None,
            )
            self._table[key] = state
        return state

    def siblings(self, state: LaneState) -> list[LaneState]:
        """The lanes of *state*'s destination (its threads, its boards)."""
        if state.destination is None:
            return [state]
        return [
            s
            for s in self._table.values()
            if s.destination == state.destination
        ]

    def _let_go(self) -> None:
        """Forget the lanes of threads and boards that hold nothing."""
        for key, state in list(self._table.items()):
            if (
                state.place is not None
                and not state.running
                and not state.busy
                and not len(state.lane.items())
                and state.disabled is None
                and not self.on_disk(key)
            ):
                del self._table[key]

    def add(
        self,
        state: LaneState,
        message: RoutedMessage,
        now: float,
        *,
        bounded: bool = True,
    ) -> tuple[Pending, bool]:
        """
        Put *message* in *state*'s lane; the item holding it, and if new.

        Not new: it merged into a copy waiting or held (coalesced). An
        item outside the *bounded* count (a notice) is never evicted.
        """
        item, new = state.lane.add_item(message, now)
        if new:
            self._count(item, bounded=bounded)
        return item, new

    def _count(self, item: Pending, *, bounded: bool) -> None:
        """One more message waiting: evictable by its level, or free."""
        self.pending += 1
        if bounded:
            self._by_level.setdefault(item.level, deque()).append(item)
        else:
            self._free.add(item)

    def _gone(self, items: list[Pending]) -> None:
        """
        *items* no longer wait (taken, removed, or dropped).

        Their eviction deques keep them until passed by; once as many
        are kept as wait, they are swept, so a lane that never overflows
        does not keep every message it ever sent.
        """
        self.pending -= len(items)
        self._free.difference_update(items)
        self._stale += len(items)
        if self._stale > max(64, self.pending):
            self._by_level = {
                level: kept
                for level, queue in self._by_level.items()
                if (kept := deque(p for p in queue if _evictable(p)))
            }
            self._stale = 0

    def push_front(
        self, state: LaneState, item: Pending, *, bounded: bool = True
    ) -> None:
        """
        Put a new *item* at the front of its level in *state*'s lane.

        Counted as :meth:`add` counts a new message: within the bound
        (evictable) unless not *bounded*.
        """
        state.lane.push_front(item)
        self._count(item, bounded=bounded)

    def remove(self, state: LaneState, items: Iterable[Pending]) -> None:
        """
        Take these queued *items* out of *state*'s lane (folded).

        They are marked taken, not dropped: eviction passes them by.

        Raises:
            ValueError: One is not queued in that lane; nothing is
                removed.
        """
        self._gone(state.lane.remove(items))

    def room(self) -> int:
        """Messages the lanes may take before the bound (notices aside)."""
        return self.bound - (self.pending - len(self._free))

    def over(self) -> bool:
        """Whether the lanes hold more than the bound."""
        return self.room() < 0

    def evict(self, *, newest: bool) -> tuple[LaneState, Pending] | None:
        """
        Take one message out to make room: the lowest level's first.

        The oldest of that level, or with *newest* (a spool keeps it)
        the newest. ``None`` when nothing can go.
        """
        by_level = self._by_level
        while by_level:
            level = min(by_level)
            victim = _pop_live(by_level[level], newest=newest)
            if victim is None:
                del by_level[level]
                continue
            if victim.level != level:
                # a copy of a higher level merged into it: it goes as
                # what it is now, after the lower levels
                by_level.setdefault(victim.level, deque()).append(victim)
                continue
            state = self.for_message(victim.message)
            state.lane.discard(victim)
            self.pending -= 1
            return state, victim
        return None

    def take(self, state: LaneState, now: float) -> list[Pending]:
        """The next batch of *state*'s lane, now on its way."""
        batch = state.lane.take(now)
        self._gone(batch)
        return batch

    def drop_all(self, state: LaneState) -> list[Pending]:
        """Empty *state*'s lane; what it held, marked dropped."""
        left = state.lane.drop_all()
        for item in left:
            item.dropped = True
        self._gone(left)
        return left

    def idle(self, on_disk: Callable[[str], bool]) -> bool:
        """Whether no lane holds, sends, or has *on_disk*, anything."""
        return all(not s.busy and not on_disk(s.key) for s in self)

    def all_on_disk(self) -> bool:
        """
        Whether all that waits is in the spool, for failing destinations.

        Then a stop need not wait for Discord: the next process sends it.
        """
        for state in self:
            if not state.busy:
                continue
            if not state.failing or state.destination is None:
                return False
            if any(not p.spool for p in state.waiting()):
                return False
        return True

    def give_up(self) -> tuple[int, int, int]:
        """
        Empty every lane at the end.

        Returns the events lost, the spool entries kept, and the events
        whose stream entries stay pending. What is in the spool is kept
        for the next process, and what came from the relay's stream
        waits there for the next relay; the rest is lost. The engine's
        own messages are none of these.
        """
        lost = kept = pending = 0
        for state in self:
            # what was on its way when the loop stopped counts too
            for item in [*state.inflight, *state.lane.drop_all()]:
                if is_own(item.message.route):
                    continue
                if item.spool:
                    kept += len(item.spool)
                elif item.receipts:
                    pending += item.events
                else:
                    lost += item.events
            state.inflight = []
        self.pending = 0
        self._free.clear()
        self._by_level.clear()
        self._stale = 0
        return lost, kept, pending

    def rate_limit_wait(self, now: float) -> float:
        """Seconds until the longest rate-limit wait of any lane ends."""
        return max([0.0, *(s.resume_at - now for s in self)])

    def disabled(self) -> list[str]:
        """The labels of the destinations disabled so far, sorted."""
        return sorted(s.label for s in self if s.disabled is not None)


def _evictable(item: Pending) -> bool:
    """Whether *item* still waits in a lane (not sent, gone or folded)."""
    return not (item.dropped or item.taken)


def _pop_live(queue: deque[Pending], *, newest: bool) -> Pending | None:
    """The oldest (or newest) item still waiting, taken off *queue*."""
    while queue:
        item = queue.pop() if newest else queue.popleft()
        if _evictable(item):
            return item
    return None
