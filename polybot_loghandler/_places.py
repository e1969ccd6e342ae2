"""
Where boards and threads are: the ids Discord gave them, remembered.

A board's first message is posted and its id kept, so later events edit
it; a thread's first message makes the thread (a forum post) and its id
is kept, so later messages go into it. :class:`Places` is that memory,
keyed by destination (a webhook's id: a new webhook cannot edit an old
one's messages) and the board's key or the thread's name. It is capped
(:data:`MOST`, the longest unused go first) and forgets what was not
used for :data:`KEEP_FOR`. A :class:`PlaceStore` keeps it across
restarts: the spool's database, or Redis with the relay.

Pure bookkeeping: every method takes the wall-clock time from its
caller; only the store does I/O, and a store that fails costs nothing
but the memory across a restart.
"""

from __future__ import annotations

import dataclasses
import math
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ._discord import snowflake_problem
from ._model import (
    BotChannelDestination,
    Destination,
    WebhookDestination,
)

__all__ = [
    "BOARD",
    "KEEP_FOR",
    "MOST",
    "THREAD",
    "PlaceStore",
    "Places",
    "Posted",
    "destination_id",
    "posted_from",
]

#: The kinds of place kept.
BOARD = "board"
THREAD = "thread"
#: Places kept at most; the longest unused are forgotten first.
MOST = 10_000
#: Seconds a place is kept without use (7 days): a board or thread no
#: event has named for a week starts afresh.
KEEP_FOR = 7 * 86_400.0


@dataclass(frozen=True, slots=True)
class Posted:
    """
    One board's message, or one thread, as Discord named it.

    Attributes:
        kind: :data:`BOARD` or :data:`THREAD`.
        destination: Whose it is (:func:`destination_id`).
        key: The board's key, or the thread's name.
        id: The message's id (a board) or the thread's (a thread).
        thread: For a board in a thread, the thread's id; else ``""``.
        at: When it was posted (epoch seconds).
        used: When it was last posted into or edited (epoch seconds).
    """

    kind: str
    destination: str
    key: str
    id: str
    thread: str = ""
    at: float = 0.0
    used: float = 0.0

    @property
    def slot(self) -> tuple[str, str, str]:
        """What it is kept under: kind, destination, key."""
        return (self.kind, self.destination, self.key)


#: Longest text of a place read back (a thread's name is at most 100).
_LONGEST = 400


def posted_from(parts: Sequence[Any]) -> Posted | None:
    """
    A place a store read back, or ``None`` if it is not one of ours.

    *parts* are :class:`Posted`'s fields, in order, as the store kept
    them.

    The one check of every store: texts of a sane length, a kind this
    library keeps, Discord ids where ids are (the thread's may be
    ``""``), and finite times.
    """
    if len(parts) != len(dataclasses.fields(Posted)):
        return None
    kind, destination, key, id_, thread, at, used = parts
    texts = (kind, destination, key, id_, thread)
    if not all(isinstance(t, str) and len(t) <= _LONGEST for t in texts):
        return None
    times = (at, used)
    if not all(type(t) in (int, float) and math.isfinite(t) for t in times):
        return None
    if kind not in (BOARD, THREAD) or snowflake_problem(id_) is not None:
        return None
    if thread and snowflake_problem(thread) is not None:
        return None
    return Posted(kind, destination, key, id_, thread, float(at), float(used))


class PlaceStore(Protocol):
    """Where places outlive the process (the spool, or Redis)."""

    def load(self) -> Iterable[Posted]:
        """Every place kept."""

    def save(self, place: Posted) -> None:
        """Keep *place*, replacing the one of its slot."""

    def forget(self, slot: tuple[str, str, str]) -> None:
        """Forget the place of *slot*, if kept."""


def destination_id(destination: Destination) -> str:
    """
    What a destination's places are kept under: never a secret.

    A webhook's id (its token is the secret part; a new webhook has a
    new id), else the URL's digest-free stand-in; a bot channel's id.
    """
    if isinstance(destination, BotChannelDestination):
        return f"bot:{destination.channel_id}"
    assert isinstance(destination, WebhookDestination)
    return f"webhook:{destination.webhook_id or destination.redacted_url}"


class Places:
    """
    The boards and threads known, kept in a store if one is given.

    Args:
        store: Where they outlive the process, or ``None``.
        most: Places kept at most.
        keep_for: Seconds one is kept without use.
    """

    def __init__(
        self,
        store: PlaceStore | None = None,
        *,
        most: int = MOST,
        keep_for: float = KEEP_FOR,
    ) -> None:
        self._store = store
        self._most = most
        self._keep_for = keep_for
        self._known: OrderedDict[tuple[str, str, str], Posted] = OrderedDict()
        #: when the store last heard of each place's use
        self._saved: dict[tuple[str, str, str], float] = {}
        self._failed = False

    @property
    def store_failed(self) -> bool:
        """Whether the store failed once (the memory goes on alone)."""
        return self._failed

    def load(self, now: float, store: PlaceStore | None = None) -> int:
        """
        Read what the store keeps; how many places are known.

        A *store* given here is kept from now on (the spool's, once it
        is open).
        """
        if store is not None:
            self._store, self._failed = store, False
        if self._store is None:
            return 0
        try:
            kept = sorted(self._store.load(), key=lambda p: p.used)
        except Exception:
            self._failed = True
            return 0
        for place in kept:
            if now - place.used <= self._keep_for:
                self._known[place.slot] = place
                self._saved[place.slot] = place.used
        self._trim(now)
        return len(self._known)

    def get(
        self, kind: str, destination: str, key: str, now: float
    ) -> Posted | None:
        """The place of that kind and key, unless unknown or expired."""
        slot = (kind, destination, key)
        place = self._known.get(slot)
        if place is None:
            return None
        if now - place.used > self._keep_for:
            self.forget(slot)
            return None
        return place

    def put(self, place: Posted, now: float) -> None:
        """Know *place* (new, or used again at *now*)."""
        self._known.pop(place.slot, None)
        self._known[place.slot] = place
        self._save(place)
        self._trim(now)

    def used(self, place: Posted, now: float) -> Posted:
        """Note that *place* was used at *now*; the place as it is now."""
        fresh = dataclasses.replace(place, used=now)
        # the store hears of a use at most once an hour: what it keeps
        # the time for is a week's expiry (an hour since it last heard,
        # not since the last use: a place used often is heard of too)
        self._known.pop(place.slot, None)
        self._known[place.slot] = fresh
        if now - self._saved.get(place.slot, place.used) >= 3600.0:
            self._save(fresh)
        return fresh

    def forget(self, slot: tuple[str, str, str]) -> None:
        """Forget the place of *slot* (deleted, or too old to edit)."""
        self._saved.pop(slot, None)
        if self._known.pop(slot, None) is None:
            return
        if self._store is not None and not self._failed:
            try:
                self._store.forget(slot)
            except Exception:
                self._failed = True

    def __len__(self) -> int:
        return len(self._known)

    def _save(self, place: Posted) -> None:
        self._saved[place.slot] = place.used
        if self._store is not None and not self._failed:
            try:
                self._store.save(place)
            except Exception:
                self._failed = True

    def _trim(self, now: float) -> None:
        """Forget the expired, and the longest unused past the cap."""
        while self._known:
            slot, oldest = next(iter(self._known.items()))
            if len(self._known) <= self._most and (
                now - oldest.used <= self._keep_for
            ):
                return
            self.forget(slot)
