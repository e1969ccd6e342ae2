"""
The delivery engine's use of the on-disk spool.

With ``delivery.spool`` set, every message bound for Discord is appended
to the spool (:mod:`.store`) as it is queued, and marked done once
Discord accepted it or it was dropped for a counted reason; what is still
pending is written by the group commit, every 100 ms. What is on
disk but not in memory waits here, per lane, the highest level first
and the oldest first within a level: messages
that stepped aside when memory was full, and those a previous process
left behind. Nothing here runs in the application's thread.
"""

import contextlib
import heapq
import sqlite3
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from polybot_loghandler._diagnostics import Diagnostics, say
from polybot_loghandler._events import LogEvent
from polybot_loghandler._format import counted
from polybot_loghandler._losses import Loss
from polybot_loghandler._message import RoutedMessage
from polybot_loghandler._model import Channel, Coalesce, Config, Fold, Route
from polybot_loghandler._payload import build_payload

from .content import (
    DIGEST_CHARS,
    by_digest,
    files_of,
    files_read,
    fold_values,
    fold_values_read,
    identity_of,
    identity_read,
    place_of,
    place_read,
    sanitize_embed,
)
from .db import Database
from .directory import load_key
from .store import Spool, SpoolEntry

__all__ = ["SpoolKeeper"]


#: Seconds between the group commits of the spool.
COMMIT_EVERY = 0.1
#: Seconds between looks for what gone processes left behind (each look
#: also renews this process's lease on its own messages).
ADOPT_EVERY = 10.0


def encode(message: RoutedMessage, key: bytes) -> dict[str, Any]:
    """
    What the spool keeps of *message*: enough to send it again.

    The route's name, the event's name, the rendered embed (redacted as
    it is for Discord) and, for ``coalesce: {by: [...]}``, a keyed hash
    of each of those fields' values under *key*: never the values, which
    may be secrets. The fields a route's ``fold:`` groups by and measures
    are kept as values (a summary shows them anyway, see
    :func:`~.content.fold_values`); a summary keeps how many events it
    folded.
    Who is pinged is not kept: it comes from the route when the message
    is read back (see :func:`decode`). Never raises for any event value.
    """
    body: dict[str, Any] = {
        "route": message.route,
        "embed": message.embed,
        "event": message.event.event,
    }
    spec = message.coalesce
    fields = message.event.fields
    if spec is not None and spec.enabled and spec.by:
        body["by"] = {
            name: by_digest(key, fields.get(name)) for name in spec.by
        }
    if message.folded:
        body["folded"] = message.folded
    elif message.fold is not None:
        kept = fold_values(message.fold, fields)
        if kept:
            body["fold"] = kept
    # where it goes, who it is from, and its files: read back made safe
    place = place_of(message.place)
    if place:
        body["place"] = place
    identity = identity_of(message.payload)
    if identity:
        body["as"] = identity
    if message.files:
        body["files"] = files_of(message.files)
    return body


def decode(
    body: Mapping[str, Any],
    entry: SpoolEntry,
    target: Channel,
    routes: Mapping[str, Route],
) -> RoutedMessage:
    """
    The message *body* was made from, for *target* as configured now.

    Nothing read back is trusted: the ping and the coalescing come from
    the route of that name in *routes* (a route that no longer exists
    pings no one and merges nothing), and the embed is redacted and its
    mentions broken again (:func:`sanitize_embed`).

    Raises:
        ValueError: The body is not one the library wrote.
    """
    embed = sanitize_embed(body.get("embed"))
    name = body.get("route")
    route = routes.get(name) if isinstance(name, str) else None
    by = body.get("by")
    fields = (
        {
            k: v[:DIGEST_CHARS]
            for k, v in by.items()
            if isinstance(k, str) and isinstance(v, str)
        }
        if isinstance(by, Mapping)
        else {}
    )
    label = route.name if route is not None else ""
    name = body.get("event")
    kept = body.get("fold")
    if isinstance(kept, Mapping):
        fields = {**fold_values_read(kept), **fields}
    event = LogEvent(
        event=name[:DIGEST_CHARS] if isinstance(name, str) else label,
        level=entry.level,
        time=entry.time,
        fields=fields,
        message=label,
    )
    place = place_read(body.get("place"))
    identity = identity_read(body.get("as"))
    files = files_read(body.get("files"))
    folded = body.get("folded")
    if type(folded) is not int or folded < 0:
        folded = 0
    board = place is not None and place.board is not None
    if folded or board:
        # a summary, or a board's state: never pings, never folds
        payload = build_payload([embed], None)
        payload.update(identity)
        return RoutedMessage(
            channel=entry.channel,
            route=label,
            payload=payload,
            embed=embed,
            event=event,
            target=target,
            coalesce=Coalesce(enabled=False) if not board else None,
            fold=Fold(never=True),
            folded=folded,
            place=place,
            files=files,
        )
    payload = build_payload([embed], None if route is None else route.mention)
    payload.update(identity)
    return RoutedMessage(
        channel=entry.channel,
        route=label,
        payload=payload,
        embed=embed,
        event=event,
        target=target,
        coalesce=None if route is None else route.coalesce,
        fold=None if route is None else route.fold,
        place=place,
        files=files,
    )


@dataclass(order=True, slots=True)
class _Waiting:
    """One entry waiting on disk: the highest level first, then oldest."""

    rank: int  # minus its level
    time: float
    ref: tuple[int, int]
    entry: SpoolEntry = field(compare=False)


class SpoolKeeper:
    """
    The spool as the engine sees it.

    Args:
        directory: ``delivery.spool``.
        max_bytes: ``delivery.spool_size``.
        count: Adds to the pipeline's counters.
    """

    def __init__(
        self,
        directory: str,
        max_bytes: int,
        count: Callable[[str, int], None],
    ) -> None:
        self.directory = Path(directory)
        self._max_bytes = max_bytes
        self._count = count
        self._diag = Diagnostics()
        self._reset()

    def _reset(self) -> None:
        self._spool = Spool(self.directory, max_bytes=self._max_bytes)
        self._open = False
        self._broken = False
        self._key = b""  # for the hashes of `coalesce: by` values
        self._told: set[str] = set()  # files of others, ignored and told
        self._routes: tuple[Config | None, dict[str, Route]] = (None, {})
        self._waiting: dict[str, list[_Waiting]] = {}  # lane key → heap
        self._disk_only: dict[tuple[int, int], str] = {}  # ref → lane key

    # -- opening -----------------------------------------------------------

    def start(self) -> list[SpoolEntry]:
        """
        Open the spool if its directory exists; return what was left.

        A directory that does not exist yet is created with the first
        message for Discord: a process that never talks to Discord
        leaves nothing behind.
        """
        if not self.directory.is_dir():
            return []
        return self._opened()

    def open(self, *, create: bool = False) -> list[SpoolEntry]:
        """
        Open the spool now, if it is not open; return what was left.

        As :meth:`start`, but with *create* a missing directory is made:
        for what is kept before the first message (the watches' state).
        """
        if create:
            return self._opened()
        return self.start()

    def _opened(self) -> list[SpoolEntry]:
        """
        Open the spool once: check the directory, then take what is left.

        A directory another user could write into is refused (see
        :func:`check_directory`): stderr says why, once, and messages
        are kept in memory only.
        """
        if self._open or self._broken:
            return []
        try:
            left = self._spool.open()
            self._key = load_key(self.directory)
        except Exception as exc:  # e.g. a NUL in the path: never raised
            with contextlib.suppress(Exception):
                self._spool.close()
            self._broken = True
            self._count("errors.spool", 1)
            say(
                f"cannot use the spool {self.directory}"
                f" ({exc}); undelivered messages are kept "
                "in memory only"
            )
            return []
        if self._spool.warning is not None:
            say(self._spool.warning)
        self._open = True
        self._tell_foreign()
        return left

    def _tell_foreign(self) -> None:
        """Say once per file what old-format files are not moved in."""
        for name in sorted(self._spool.foreign - self._told):
            self._told.add(name)
            self._count("errors.spool", 1)
            say(
                f"ignoring {self.directory / name}: it "
                "belongs to another user, or others may write it, so its "
                "messages are not sent"
            )
        if self._spool.legacy_held:
            self._diag.say_once(
                "spool:legacy",
                f"{counted(self._spool.legacy_held, 'file')} of the old "
                f"spool format in {self.directory} "
                f"{'belongs' if self._spool.legacy_held == 1 else 'belong'} "
                "to a running process of an older polybot_loghandler, which "
                "sends them; they move into the spool database once it "
                "stops",
            )

    @property
    def database(self) -> Database | None:
        """The spool's database while it is open, for its other tables."""
        return self._spool.database if self._open else None

    @property
    def owner(self) -> int:
        """This process's id among the spool's owners (while it is open)."""
        return self._spool.owner

    @property
    def usable(self) -> bool:
        """Whether messages can be written (opening it if need be)."""
        if not self._open:
            self._opened()  # what it finds left over comes at adopt()
        return self._open

    def adopt(self) -> list[SpoolEntry]:
        """What processes that died since left behind (the periodic job)."""
        if not self._open:
            return []
        try:
            found = self._spool.adopt()
        except (OSError, sqlite3.Error) as exc:  # busy, say: next time
            self._count("errors.spool", 1)
            self._diag.warn(
                "spool:adopt",
                f"looking into the spool {self.directory} failed: {exc}",
            )
            return []
        self._tell_foreign()
        return found

    # -- writing -----------------------------------------------------------

    def append(self, message: RoutedMessage) -> SpoolEntry | None:
        """
        Write *message* to the spool (buffered); None if it is not kept.

        Never raises: a message that cannot be written (the spool is not
        usable, or something in it cannot be encoded) stays in memory
        only, counted as ``errors.spool`` and told once.
        """
        if not self.usable:
            return None
        try:
            return self._spool.append(
                message.channel,
                message.event.level,
                message.event.time,
                encode(message, self._key),
            )
        except Exception as exc:  # never out of the engine
            self._count("errors.spool", 1)
            self._diag.say_once(
                "spool:unwritable",
                f"a message for '{message.channel}' could not be written "
                f"to the spool ({type(exc).__name__}); it is kept in "
                "memory only (said once)",
            )
            return None

    def done(self, entries: Iterable[SpoolEntry]) -> None:
        """Delivered, or dropped and counted: the spool may forget them."""
        if self._open:
            self._spool.done(entries)

    def commit(self) -> None:
        """The group commit: write and fsync what is buffered."""
        if self._open and self._spool.uncommitted:
            try:
                evicted = self._spool.commit()
            except (OSError, sqlite3.Error) as exc:
                self._count("errors.spool", 1)
                self._diag.warn(
                    "spool:commit",
                    f"writing the spool {self.directory} failed: {exc}",
                )
                return
            for gone in evicted:
                if self._disk_only.pop(gone.ref, None) is not None:
                    # only on disk: it is lost now (one in memory still goes)
                    self._count(Loss.SPOOL_FULL.counter, 1)

    @property
    def uncommitted(self) -> bool:
        """Something was written since the last commit."""
        return self._open and self._spool.uncommitted

    # -- what waits on disk ------------------------------------------------

    def wait(self, lane: str, entry: SpoolEntry) -> None:
        """Keep *entry* on disk only, to be sent by *lane* later."""
        heapq.heappush(
            self._waiting.setdefault(lane, []),
            _Waiting(-entry.level, entry.time, entry.ref, entry),
        )
        self._disk_only[entry.ref] = lane

    def waiting(self, lane: str) -> int:
        """Messages *lane* has waiting on disk."""
        return sum(
            1 for w in self._waiting.get(lane, ()) if w.ref in self._disk_only
        )

    def has_waiting(self, lane: str, level: int | None = None) -> bool:
        """
        Whether *lane* has anything waiting on disk.

        With *level*, anything at that level or higher: a message of a
        lower level than all that waits need not wait behind it.
        """
        heap = self._waiting.get(lane)
        while heap and heap[0].ref not in self._disk_only:
            heapq.heappop(heap)  # evicted meanwhile
        if not heap:
            return False
        return level is None or -heap[0].rank >= level

    def waiting_entries(self, lane: str) -> list[SpoolEntry]:
        """
        What *lane* has waiting on disk, in the order :meth:`take` reads.

        The highest level first, the oldest first within a level; those
        the spool evicted meanwhile are left out.
        """
        heap = self._waiting.get(lane, [])
        disk_only = self._disk_only
        return [w.entry for w in sorted(heap) if w.ref in disk_only]

    @property
    def any_waiting(self) -> bool:
        """Whether any lane has messages waiting on disk."""
        return bool(self._disk_only)

    def take(
        self, lane: str, n: int, config: Config
    ) -> list[tuple[RoutedMessage, SpoolEntry]]:
        """
        Read up to *n* of *lane*'s messages back from disk, in order.

        The highest level first, the oldest first within a level. Each
        is rebuilt for *config*, the routing as it is now (see
        :func:`decode`). A record that cannot be read any more is counted
        and forgotten.
        """
        heap = self._waiting.get(lane, [])
        picked: list[SpoolEntry] = []
        while heap and len(picked) < n:
            entry = heapq.heappop(heap).entry
            if self._disk_only.pop(entry.ref, None) is not None:
                picked.append(entry)  # else evicted meanwhile
        return self._read(picked, config)

    def take_entries(
        self, lane: str, entries: Iterable[SpoolEntry], config: Config
    ) -> list[tuple[RoutedMessage, SpoolEntry]]:
        """
        Read exactly *entries* of *lane*'s back from disk, as :meth:`take`.

        In the order given; those not waiting on disk for *lane* (read
        back already, or evicted meanwhile) are left out.
        """
        picked: list[SpoolEntry] = []
        for entry in entries:
            if self._disk_only.get(entry.ref) == lane:
                del self._disk_only[entry.ref]
                picked.append(entry)
        if picked:
            refs = {entry.ref for entry in picked}
            heap = self._waiting.get(lane, [])
            heap[:] = [w for w in heap if w.ref not in refs]
            heapq.heapify(heap)
        return self._read(picked, config)

    def _read(
        self, picked: list[SpoolEntry], config: Config
    ) -> list[tuple[RoutedMessage, SpoolEntry]]:
        """The messages of *picked*, rebuilt for *config*."""
        routes = self._routes_of(config)
        out: list[tuple[RoutedMessage, SpoolEntry]] = []
        for entry, body in zip(
            picked, self._spool.read_many(picked), strict=True
        ):
            target = config.channels.get(entry.channel)
            if body is None or target is None:
                reason = (
                    Loss.SPOOL_CORRUPT
                    if body is None
                    else Loss.UNKNOWN_CHANNEL
                )
                self._count(reason.counter, 1)
                self._spool.done([entry])
                continue
            try:
                out.append((decode(body, entry, target, routes), entry))
            except (KeyError, TypeError, ValueError):
                self._count(Loss.SPOOL_CORRUPT.counter, 1)
                self._spool.done([entry])
        return out

    def _routes_of(self, config: Config) -> dict[str, Route]:
        """*config*'s routes by name (kept until the routing is reloaded)."""
        known, routes = self._routes
        if known is not config:
            routes = {route.name: route for route in config.routes}
            self._routes = (config, routes)
        return routes

    @property
    def pending(self) -> int:
        """Messages in the spool not yet done."""
        return self._spool.pending if self._open else 0

    # -- the end -----------------------------------------------------------

    def close(self) -> None:
        """Commit and let go of the spool (what is left stays on disk)."""
        if self._open:
            try:
                self._spool.close()
            except (OSError, sqlite3.Error) as exc:
                self._diag.warn(
                    "spool:close",
                    f"closing the spool {self.directory} failed: {exc}",
                )
        self._reset()

    def after_fork_in_child(self) -> None:
        """A forked child starts over; the parent keeps its segments."""
        if self._open:
            self._spool.forget_after_fork()
        self._reset()
