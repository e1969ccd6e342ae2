"""
Per-destination batches and coalescing. Pure: every method takes ``now``.

A :class:`Lane` holds what waits for one destination, in order: higher
levels first, each level in the order it came. Ordinary
messages gather for a short window and leave together (up to 10 embeds,
6,000 characters, one kind of ping per message); critical ones leave at
once. Duplicates merge: a copy of a message still waiting adds to its
count; a copy of one just sent is held and summarised (``×N more``, since
the first's time) when its coalescing window closes, so a flood of one error
becomes a few messages, not thousands.
"""

from __future__ import annotations

import json
import logging
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from ._limits import (
    MAX_EMBED_TOTAL,
    MAX_EMBEDS_PER_MESSAGE,
    MAX_FILES_PER_MESSAGE,
    MAX_FOOTER_TEXT,
    clamp,
)
from ._message import RoutedMessage
from ._payload import embed_length, fit_total
from ._receipts import Receipt
from ._values import repr_of, text_of

__all__ = ["Lane", "Pending", "coalesce_key"]


def coalesce_key(message: RoutedMessage) -> str | None:
    """
    What makes two messages duplicates, or ``None`` if they never are.

    With ``coalesce: {by: [fields]}`` it is the route and those fields'
    values; otherwise the route and the rendered embed without its
    timestamp (so the same error logged twice is the same message).
    """
    board = _board(message)
    if board is not None:  # a board's events replace one another
        return json.dumps(["board", message.channel, board])
    spec = message.coalesce
    if spec is None or not spec.enabled:
        return None
    if spec.by is not None:
        fields = message.event.fields
        values = [repr_of(fields.get(name)) for name in spec.by]
        return json.dumps([message.route, message.channel, values])
    embed = {k: v for k, v in message.embed.items() if k != "timestamp"}
    body = [message.route, message.channel, message.content, embed]
    return json.dumps(body, sort_keys=True, default=text_of)


def _board(message: RoutedMessage) -> str | None:
    """The key of the board *message* shows, if it shows one."""
    return None if message.place is None else message.place.board


@dataclass(slots=True, eq=False)
class Pending:
    """
    One embed waiting to be sent, standing for *count* events.

    Attributes:
        message: The newest event's rendering (a merge keeps the latest,
            which for ``coalesce: {by: ...}`` is the current state).
        key: Its coalescing key, or ``None``.
        level: The highest level among the events it stands for.
        first: When the first of them was logged (epoch seconds).
        last: When the newest was logged.
        queued: When it started waiting (the lane's clock).
        count: How many events it stands for.
        dropped: Evicted while waiting; lanes skip it.
        taken: Taken for sending; no longer evictable.
        repeat: Held after an identical message was sent: its footer
            says ``×N more`` so it does not read as something new.
        spool: The spool entries of the events it stands for (with
            ``delivery.spool``), marked done when it is.
        receipts: The receipts of the messages it stands for (with the
            relay), settled when it is done.
    """

    message: RoutedMessage
    key: str | None
    level: int
    first: float
    last: float
    queued: float
    count: int = 1
    dropped: bool = False
    taken: bool = False
    repeat: bool = False
    spool: list[Any] = field(default_factory=list)
    receipts: list[Receipt] = field(default_factory=list)

    @property
    def events(self) -> int:
        """The events it stands for; a fold's summary, those it folded."""
        return self.message.folded or self.count

    @property
    def board(self) -> bool:
        """Whether it shows a board (sent alone, as an edit)."""
        return _board(self.message) is not None

    @property
    def header(self) -> str:
        """
        What its message shares with the others in one request.

        The ping, and who it is from (``identity:``): embeds only travel
        together when these are the same.
        """
        payload = self.message.payload
        return json.dumps(
            [
                self.message.content,
                payload.get("allowed_mentions"),
                payload.get("username"),
                payload.get("avatar_url"),
            ],
            sort_keys=True,
        )

    def add(self, message: RoutedMessage) -> None:
        """Merge one more duplicate."""
        self.count += 1
        self.message = message
        if message.receipt is not None:
            self.receipts.append(message.receipt)
        self.level = max(self.level, message.event.level)
        self.first = min(self.first, message.event.time)
        self.last = max(self.last, message.event.time)

    def embed(self) -> dict[str, Any]:
        """
        The embed to send; a merged one says ``×N`` and since when.

        One held after the first was sent says ``×N more``: N events
        after the one already shown.
        """
        embed = self.message.embed
        if (self.count == 1 and not self.repeat) or self.board:
            return embed  # a board shows its latest state, not a count
        embed = {**embed, "footer": dict(embed.get("footer", {}))}
        more = " more" if self.repeat else ""
        # the newest event's time is the message's own (its timestamp or
        # Time field): the note adds the first, if it is another second
        since = _since(self.first, self.last)
        note = f"×{self.count}{more}" + (f" · since {since}" if since else "")
        old = embed["footer"].get("text")
        text = f"{old} · {note}" if old else note
        embed["footer"]["text"] = clamp(text, MAX_FOOTER_TEXT)
        if "fields" in embed:  # copies: fitting may cut their values
            embed["fields"] = [dict(f) for f in embed["fields"]]
        fit_total(embed, MAX_EMBED_TOTAL)  # the longer footer must fit too
        return embed


def _since(first: float, last: float) -> str:
    """When the first of them was logged, unless in the newest's second."""
    start = datetime.fromtimestamp(first, tz=timezone.utc)
    end = datetime.fromtimestamp(last, tz=timezone.utc)
    if end.strftime("%H:%M:%S") == start.strftime("%H:%M:%S"):
        return ""
    return start.strftime("%H:%M:%S UTC")


@dataclass(slots=True)
class _Recent:
    window_end: float
    held: Pending | None = None


@dataclass(eq=False)
class Lane:
    """
    What waits for one destination, in the order it should be sent.

    Higher levels go first: the lane keeps a queue per level, and a
    message takes the oldest of the highest level first, then fills with
    lower levels, each in the order it came. A merge that raises an
    item's level moves it to the end of its new level's queue, so a
    warning never waits behind infos.

    Args:
        gather: Seconds ordinary messages wait to travel together.
        window: Default coalescing window (seconds) for routes that do
            not set one.
        by_level: Higher levels first (``False``: one queue, in the
            order they came, as the console shows them).
    """

    gather: float
    window: float
    by_level: bool = True
    #: level → its items in order, highest level first (one for all, 0,
    #: unless by_level)
    _queues: dict[int, deque[Pending]] = field(default_factory=dict)
    _waiting: dict[str, Pending] = field(default_factory=dict)
    _recent: dict[str, _Recent] = field(default_factory=dict)
    _discarded: int = 0

    def add(self, message: RoutedMessage, now: float) -> Pending | None:
        """
        Queue *message*.

        Returns the new :class:`Pending`, or ``None`` when the message
        merged into one already waiting or held.
        """
        item, new = self.add_item(message, now)
        return item if new else None

    def add_item(
        self, message: RoutedMessage, now: float
    ) -> tuple[Pending, bool]:
        """
        Queue *message*; return the :class:`Pending` that now holds it.

        The flag says whether that is a new one (``False``: the message
        merged into one already waiting or held).
        """
        key = coalesce_key(message)
        if key is not None:
            waiting = self._waiting.get(key)
            if waiting is not None and not waiting.dropped:
                self._merge(waiting, message)
                return waiting, False
            recent = self._recent.get(key)
            if recent is not None and now >= recent.window_end:
                # the window closed before anyone released its summary:
                # release it now, so this copy joins it, in order
                self._release(key, recent, now)
                waiting = self._waiting.get(key)
                if waiting is not None and not waiting.dropped:
                    self._merge(waiting, message)
                    return waiting, False
                recent = None
            if recent is not None:  # its window is open: hold the copy
                if recent.held is not None and not recent.held.dropped:
                    recent.held.add(message)
                    return recent.held, False
                recent.held = self._pending(message, key, now)
                recent.held.repeat = True
                return recent.held, True
        item = self._pending(message, key, now)
        self._queue_of(item).append(item)
        if key is not None:
            self._waiting[key] = item
        return item, True

    def _merge(self, item: Pending, message: RoutedMessage) -> None:
        """Merge *message* into queued *item*; a higher level moves it."""
        slot = self._slot(item)
        item.add(message)
        if self._slot(item) != slot:
            self._queues[slot].remove(item)
            self._queue_of(item).append(item)

    def _slot(self, item: Pending) -> int:
        """The key of *item*'s queue: its level, or one for all."""
        return item.level if self.by_level else 0

    def _queue_of(self, item: Pending) -> deque[Pending]:
        """The queue *item* goes in, made (in its place) if new."""
        slot = self._slot(item)
        queue = self._queues.get(slot)
        if queue is None:
            queue = self._queues[slot] = deque()
            if len(self._queues) > 1:
                self._queues = dict(
                    sorted(
                        self._queues.items(),
                        key=lambda kv: kv[0],
                        reverse=True,
                    )
                )
        return queue

    @staticmethod
    def _pending(
        message: RoutedMessage, key: str | None, now: float
    ) -> Pending:
        t = message.event.time
        item = Pending(message, key, message.event.level, t, t, now)
        if message.receipt is not None:
            item.receipts.append(message.receipt)
        return item

    def release(self, now: float, *, everything: bool = False) -> None:
        """
        Move held summaries whose window has closed into the queue.

        With *everything* (as when flushing) all of them move; windows
        that closed with nothing held are forgotten.
        """
        for key, recent in list(self._recent.items()):
            if everything or now >= recent.window_end:
                self._release(key, recent, now)

    def _release(self, key: str, recent: _Recent, now: float) -> None:
        held = recent.held
        del self._recent[key]
        if held is not None and not held.dropped:
            held.queued = now
            self._queue_of(held).append(held)
            self._waiting[key] = held

    def discard(self, item: Pending) -> None:
        """
        Take *item* out of the lane: it is dropped, or waits elsewhere.

        Items leave their level's deque at once when they are at either
        end and otherwise in one sweep once enough have gathered, so a
        long overflow never keeps what it pushed out alive.
        """
        item.dropped = True
        if item.key is not None and self._waiting.get(item.key) is item:
            del self._waiting[item.key]
        queue = self._queues.get(self._slot(item))
        if queue and queue[-1] is item:
            queue.pop()
        elif queue and queue[0] is item:
            queue.popleft()
        else:
            self._discarded += 1
            if self._discarded > max(64, self._in_deques() // 2):
                for level, kept in self._queues.items():
                    self._queues[level] = deque(
                        p for p in kept if not p.dropped
                    )
                self._discarded = 0

    def _in_deques(self) -> int:
        """Items in the deques, dropped ones not yet swept included."""
        return sum(len(queue) for queue in self._queues.values())

    def remove(self, items: Iterable[Pending]) -> list[Pending]:
        """
        Take these queued *items* out of the lane (folding replaces them).

        They leave their queues and are no longer merge targets; they are
        marked ``taken``, so the lanes' eviction skips them, not dropped.
        Returns them, each once.

        Raises:
            ValueError: One of them is not queued here (held, dropped,
                taken, or another lane's); then nothing is removed.
        """
        gone = {id(p): p for p in items}
        by_slot: dict[int, set[int]] = {}
        for item in gone.values():
            by_slot.setdefault(self._slot(item), set()).add(id(item))
        kept: dict[int, deque[Pending]] = {}
        found = 0
        for slot, ids in by_slot.items():
            queue = self._queues.get(slot, deque())
            rest: deque[Pending] = deque()
            for p in queue:
                if id(p) in ids and not p.dropped:
                    found += 1
                else:
                    rest.append(p)
            kept[slot] = rest
        if found != len(gone):
            raise ValueError("an item to remove is not queued in this lane")
        self._queues.update(kept)
        for item in gone.values():
            item.taken = True
            if item.key is not None and self._waiting.get(item.key) is item:
                del self._waiting[item.key]
        return list(gone.values())

    def push_front(self, item: Pending) -> None:
        """
        Put a new *item* at the front of its level's queue.

        It is sent before everything of its level (a summary of what was
        folded goes in the backlog's place); copies never merge into it.
        """
        self._queue_of(item).appendleft(item)

    def _live(self) -> Iterator[Pending]:
        """The items queued, in the order they are to be sent."""
        for level, queue in list(self._queues.items()):
            while queue and queue[0].dropped:
                queue.popleft()
            if not queue:
                del self._queues[level]
        return (
            p
            for queue in self._queues.values()
            for p in queue
            if not p.dropped
        )

    def in_order(self) -> list[Pending]:
        """
        The items queued, in the order they are to be sent.

        Levels high to low, each in the order it came; held repeats are
        not among them (they are not queued until their window closes).
        """
        return list(self._live())

    def due(self, now: float, *, flushing: bool = False) -> float | None:
        """
        Tell when the next message should leave.

        Returns ``now`` or a later time, or ``None`` when nothing waits
        (held summaries aside).
        """
        live = list(self._live())
        if not live:
            return None
        if (
            flushing
            or len(live) >= MAX_EMBEDS_PER_MESSAGE
            or any(p.level >= logging.CRITICAL for p in live)
        ):
            return now
        # the one waiting longest gathered for long enough, whatever its
        # level
        return max(now, min(p.queued for p in live) + self.gather)

    def next_release(self) -> float | None:
        """When the earliest held summary is due, if any."""
        times = [r.window_end for r in self._recent.values() if r.held]
        return min(times, default=None)

    def take(self, now: float) -> list[Pending]:
        """
        Take the next message's worth, in order.

        The highest level's oldest first, then lower levels', up to 10
        embeds within 6,000 characters and 10 files, all with the same
        ping and identity. A board's state goes alone.
        """
        batch: list[Pending] = []
        total = files = 0
        for item in self._live():
            size = embed_length(item.embed())
            if batch and (
                len(batch) >= MAX_EMBEDS_PER_MESSAGE
                or total + size > MAX_EMBED_TOTAL
                or files + len(item.message.files) > MAX_FILES_PER_MESSAGE
                or item.header != batch[0].header
                or item.board
                or batch[0].board
            ):
                break
            batch.append(item)
            total += size
            files += len(item.message.files)
        for item in batch:
            item.taken = True
            self._queues[self._slot(item)].remove(item)
            if item.key is not None:
                if self._waiting.get(item.key) is item:
                    del self._waiting[item.key]
                if item.board:
                    continue  # the next state waits for no window
                # copies from now on are held for the window's summary
                window = item.message.coalesce_window or self.window
                self._recent.setdefault(item.key, _Recent(now + window))
        return batch

    def items(self) -> list[Pending]:
        """Everything waiting, in order, held summaries included (last)."""
        items = self.in_order()
        items += [
            r.held
            for r in self._recent.values()
            if r.held and not r.held.dropped
        ]
        return items

    def drop_all(self) -> list[Pending]:
        """Empty the lane (its destination is gone); return what was in it."""
        items = self.items()
        self._queues.clear()
        self._waiting.clear()
        self._recent.clear()
        return items

    def __len__(self) -> int:
        held = sum(
            1 for r in self._recent.values() if r.held and not r.held.dropped
        )
        return sum(1 for _ in self._live()) + held
