"""
The producer: the worker side of a process whose relay delivers.

With ``delivery.relay`` set, the worker thread does not route, render or
send: it appends each captured event to the Redis stream, many in one
script call, and the relay does the rest for every process at once.
The caller's side is the same as without the relay: the routes'
pre-filter, a capture, a queue.

Redis may be away. Nothing waits on it but this thread: events are kept
in memory, up to ``delivery.queue_size`` (beyond it the oldest of the
lowest level are dropped, counted as ``dropped.relay_unavailable``),
and appended when Redis answers again. Stderr hears once that it went
away, and once that it is back. The producer never sends to Discord
itself: that would go around the limits the relay keeps for everyone.

What this process loses (its queue, its buffer, its exit) is counted
here and also sent on to the relay in a report entry, so the floor's
summary counts it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from polybot_loghandler._diagnostics import described, say
from polybot_loghandler._format import counted, duration
from polybot_loghandler._losses import Loss
from polybot_loghandler._redisurl import redacted_url
from polybot_loghandler._routing import RoutingHolder
from polybot_loghandler._stats import Stats
from polybot_loghandler._worker import Flush, Stop, Worker

from . import scripts
from .connect import (
    RelayUnavailable,
    load_redis,
    member_id,
    scrub,
    sync_client,
)
from .keys import GROUP, STREAM_BOUND, Keys
from .overflow import Overflow
from .wire import (
    FIELDS_PER_ENTRY,
    encode_counts,
    encode_event,
    entry_fields,
)

__all__ = ["Producer"]

#: Entries appended in one script call.
CHUNK = 500
#: Seconds between tries while Redis is away: from the first to the last.
RETRY_FIRST, RETRY_LAST = 0.2, 2.0
#: Seconds between a producer's reports of itself and of its losses.
HEARTBEAT_EVERY = 5.0
COUNTS_EVERY = 1.0
#: Seconds the loop sleeps when nothing wakes it.
IDLE = 1.0
#: Seconds of encoding between pauses that let the application run.
WORK_SLICE = 0.001


class _Entry:
    """One entry waiting to be appended: its level, and its fields."""

    __slots__ = ("fields", "level", "live")

    def __init__(self, level: int, fields: list[str]) -> None:
        self.level = level
        self.fields = fields
        self.live = True


class Producer:
    """
    Appends the worker's events to the relay's stream.

    It stands where the delivery engine stands in a process that sends
    itself, and offers the pipeline what the engine does.

    Args:
        routing: The routing in use: its ``delivery.relay`` and its
            ``queue_size``, and the file whose hash producers report.
        stats: The counters; the producer adds ``relay.buffered``.
        version: The library version, reported with the producer.
        clock: Monotonic seconds.
        connect: Makes the Redis client for a URL (the real one by
            default).
    """

    def __init__(
        self,
        routing: RoutingHolder,
        stats: Stats,
        *,
        version: str = "0",
        clock: Callable[[], float] = time.monotonic,
        connect: Callable[[str, str], Any] = sync_client,
    ) -> None:
        self._routing = routing
        self._stats = stats
        self._version = version
        self._clock = clock
        self._connect = connect
        self.id = member_id()
        # now: the worker may first run at exit, too late to import it
        # (missing, it is said when the worker starts)
        with contextlib.suppress(RelayUnavailable):
            load_redis()
        delivery = routing.config.delivery
        #: where events wait on disk while Redis is away, if anywhere
        self.spool = (
            None
            if delivery.spool is None
            else Overflow(delivery.spool, delivery.spool_size, stats.count)
        )
        self.leftover = 0
        self.kept = 0
        self._reset()
        stats.add_gauge(self._figures)

    def _reset(self) -> None:
        self._buffer: deque[_Entry | Flush] = deque()
        self._by_level: dict[int, deque[_Entry]] = {}
        self._held = 0
        self._client: Any = None
        self._script: Any = None
        self._down: str | None = None  # why Redis is away, if it is
        self._down_since = 0.0
        self._retry_at = 0.0
        self._retry_wait = RETRY_FIRST
        self._heartbeat_at = 0.0
        self._counts_at = 0.0
        self._reload_at = 0.0
        self._forwarded: dict[str, int] = {}
        self._hash: tuple[object, str] | None = None

    @property
    def _url(self) -> str:
        return self._routing.config.delivery.relay or ""

    def _figures(self) -> dict[str, int]:
        out = {"relay.buffered": self._held}
        if self.spool is not None:
            out["relay.on_disk"] = len(self.spool.waiting)
        return out

    @property
    def _on_disk(self) -> int:
        return 0 if self.spool is None else len(self.spool.waiting)

    def troubles(self) -> list[str]:
        """Why events are not leaving, if they are not."""
        if self._down is None:
            return []
        away = duration(self._clock() - self._down_since)
        url = redacted_url(self._url)
        return [f"Redis at {url} unreachable for {away} ({self._down})"]

    def after_fork_in_child(self) -> None:
        """A forked child is a producer of its own."""
        self.id = member_id()
        if self.spool is not None:
            self.spool.after_fork_in_child()

    # -- the loop -------------------------------------------------------

    def run(self, worker: Worker) -> None:
        """The worker thread's body: append until stopped."""
        self._reset()
        wake = threading.Event()
        worker.set_waker(wake.set)
        try:
            self._open()
            if self.spool is not None:
                self.spool.start()  # what gone producers left
            while True:
                wake.clear()  # before taking: a later submit wakes us
                stop = self._take(worker, worker.take())
                self._chores(final=stop is not None)
                self._push(None if stop is None else stop.deadline)
                if stop is not None:
                    self._finish(stop.deadline)
                    return
                wake.wait(self._nap())
        finally:
            worker.set_waker(None)
            for item in self._buffer:
                if isinstance(item, Flush):
                    item.done.set()
            self._close()
            if self.spool is not None:
                self.spool.close()

    def _open(self) -> None:
        try:
            self._client = self._connect(
                self._url, "polybot_loghandler.producer"
            )
        except RelayUnavailable as exc:
            self._down = str(exc)
            say(f"{exc}; events are not delivered")
            return
        self._script = self._client.register_script(scripts.APPEND)

    def _close(self) -> None:
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.close()
        self._client = None

    def _nap(self) -> float:
        if self._down is not None and (self._held or self._on_disk):
            return max(0.0, self._retry_at - self._clock())
        return IDLE

    def _take(self, worker: Worker, items: list[Any]) -> Stop | None:
        """Encode *items* into the buffer; the stop among them, if any."""
        stop = None
        events = 0
        shared = time.perf_counter()
        for item in items:
            if time.perf_counter() - shared > WORK_SLICE:
                # share the GIL now and then, as the render thread does: an
                # application thread waiting for it waits a millisecond,
                # not the 5 ms switch interval
                time.sleep(0)
                shared = time.perf_counter()
            if isinstance(item, Stop):
                stop = item
            elif isinstance(item, Flush):
                self._buffer.append(item)
            else:
                events += 1
                try:
                    data = encode_event(item)
                except Exception:
                    self._stats.count(Loss.UNRENDERABLE.counter)
                    continue
                self._hold(item[1], "e", data)
        worker.done(events, last=True)
        return stop

    def _hold(self, level: int, kind: str, data: str) -> None:
        fields = entry_fields(kind, self.id, self._routing_hash(), data)
        if self.spool is not None and self.spool.waiting:
            # older ones wait on disk: in order, this one too
            self.spool.put(level, time.time(), fields)
            return
        entry = _Entry(level, fields)
        self._buffer.append(entry)
        self._by_level.setdefault(level, deque()).append(entry)
        self._held += 1

    def _routing_hash(self) -> str:
        """The routing file's hash, so the relay can tell it differs."""
        config = self._routing.config
        if self._hash is None or self._hash[0] is not config:
            self._hash = (config, file_hash(config.path))
        return self._hash[1]

    # -- appending -----------------------------------------------------

    def _push(self, deadline: float | None) -> None:
        """Append what is buffered, unless Redis is away and not yet due."""
        if self._script is None or (
            self._down is not None and self._clock() < self._retry_at
        ):
            self._bound()
            return
        try:
            if self._down is not None and not (self._held or self._on_disk):
                self._client.ping()  # nothing to send: is it back?
            while self._held:
                if deadline is not None and self._clock() >= deadline:
                    break
                self._append(self._chunk())
                self._release_flushes()
            while self._on_disk and not self._held:
                if deadline is not None and self._clock() >= deadline:
                    break
                self._append_from_disk()
        except Exception as exc:  # connection, timeout, a server error
            self._away(exc)
        else:
            self._back()
        self._release_flushes()
        self._bound()

    def _chunk(self) -> list[_Entry]:
        chunk = []
        for item in self._buffer:
            if isinstance(item, _Entry) and item.live:
                chunk.append(item)
                if len(chunk) >= CHUNK:
                    break
        return chunk

    def _append(self, chunk: list[_Entry]) -> None:
        self._send([entry.fields for entry in chunk])
        for entry in chunk:  # appended: they leave the buffer
            entry.live = False
        self._held -= len(chunk)

    def _send(self, entries: list[list[str]]) -> None:
        args: list[Any] = [STREAM_BOUND, GROUP, FIELDS_PER_ENTRY]
        for fields in entries:
            args += fields
        if entries:
            self._script(keys=[Keys.stream, Keys.counters], args=args)

    def _append_from_disk(self) -> None:
        """Append the oldest of what waits on disk."""
        if self.spool is None:
            return
        waiting = self.spool.peek(CHUNK)
        readable = [f for _entry, f in waiting if f is not None]
        self._send(readable)
        self.spool.done(len(waiting))
        if len(readable) < len(waiting):
            lost = len(waiting) - len(readable)
            self._stats.count(Loss.SPOOL_CORRUPT.counter, lost)
        if not self._on_disk:
            self._release_flushes()

    def _release_flushes(self) -> None:
        """Flushes with everything before them appended are done."""
        buffer = self._buffer
        while buffer:
            head = buffer[0]
            if isinstance(head, Flush):
                if self._on_disk:  # what followed it waits on disk
                    break
                head.done.set()
            elif head.live:
                return
            buffer.popleft()
        for level, queue in list(self._by_level.items()):
            while queue and not queue[0].live:  # appended from the front
                queue.popleft()
            if not queue:
                del self._by_level[level]

    def _bound(self) -> None:
        """
        Over ``queue_size``: to disk, or the oldest of the lowest level go.

        With a spool, the newest in memory move to disk (and what
        follows goes there too, in order); what ``spool_size`` evicts
        there is lost.
        """
        limit = self._routing.config.delivery.queue_size
        if self._held > limit and self.spool is not None and self.spool.usable:
            self._spill(self._held - limit)
        lost = 0
        if self.spool is not None:
            lost += self.spool.commit()
        while self._held > limit:
            level = min(self._by_level)
            queue = self._by_level[level]
            entry = queue.popleft()
            if not queue:
                del self._by_level[level]
            if entry.live:
                entry.live = False
                self._held -= 1
                lost += 1
        if lost:
            self._stats.count(Loss.RELAY_UNAVAILABLE.counter, lost)

    def _away(self, exc: Exception) -> None:
        now = self._clock()
        if self._down is None:
            self._down = scrub(described(exc), self._url)
            self._down_since = now
            self._retry_wait = RETRY_FIRST
            say(
                f"cannot reach Redis at {redacted_url(self._url)} "
                f"({self._down}); events are kept in memory "
                f"(up to delivery.queue_size) and appended when it answers"
            )
        else:
            self._retry_wait = min(RETRY_LAST, self._retry_wait * 2)
        self._retry_at = now + self._retry_wait

    def _back(self) -> None:
        if self._down is None:
            return
        away = duration(self._clock() - self._down_since)
        self._down = None
        lost = self._stats.get(Loss.RELAY_UNAVAILABLE.counter)
        note = f"; {counted(lost, 'event')} dropped so far" if lost else ""
        say(
            f"Redis at {redacted_url(self._url)} answers again after "
            f"{away}; the events kept meanwhile are appended{note}"
        )

    # -- reports ----------------------------------------------------------

    def _finish(self, deadline: float) -> None:
        """
        Stopping: append what is left, trying Redis until *deadline*.

        With a spool, what Redis does not take at once waits on disk
        instead, for the next producer: no need to wait.
        """
        while (self._held or self._on_disk) and self._down is not None:
            if self.spool is not None and self.spool.usable:
                break
            left = deadline - self._clock()
            if left <= 0:
                break
            time.sleep(min(left, max(0.0, self._retry_at - self._clock())))
            self._push(deadline)
        self._end()

    def _chores(self, *, final: bool = False) -> None:
        now = self._clock()
        every = self._routing.config.delivery.reload_every
        if every is not None and now >= self._reload_at:
            self._reload_at = now + every
            self._routing.check()  # a bad file is said on stderr, once
        if final or now >= self._counts_at:
            self._counts_at = now + COUNTS_EVERY
            self._forward_counts()
        if self._down is None and now >= self._heartbeat_at:
            self._heartbeat_at = now + HEARTBEAT_EVERY
            self._heartbeat()

    def _forward_counts(self) -> None:
        """Queue a report of the losses counted since the last one."""
        counters = self._stats.counters()
        new: dict[Loss, int] = {}
        for reason in Loss:
            n = counters.get(reason.counter, 0)
            more = n - self._forwarded.get(reason.counter, 0)
            if more > 0:
                new[reason] = more
                self._forwarded[reason.counter] = n
        if new:
            self._hold(logging.CRITICAL + 1, "c", encode_counts(new))

    def _heartbeat(self) -> None:
        if self._client is None:
            return
        config = self._routing.config
        about = {
            "routing": config.path,
            "hash": self._routing_hash(),
            "version": self._version,
            "seen": time.time(),
        }
        try:
            self._client.hset(Keys.producers, self.id, json.dumps(about))
        except Exception as exc:
            self._away(exc)

    def _spill(self, n: int) -> None:
        """Move the newest *n* entries in memory to disk, in order."""
        if self.spool is None:
            return
        newest: list[_Entry] = []
        for item in reversed(self._buffer):
            if len(newest) >= n:
                break
            if isinstance(item, _Entry) and item.live:
                newest.append(item)
        now = time.time()
        for entry in reversed(newest):
            entry.live = False
            self.spool.put(entry.level, now, entry.fields)
        self._held -= len(newest)

    def _end(self) -> None:
        """
        At the stop's deadline: what is still in memory is lost.

        With a spool it waits there, for the next producer of the
        directory, with what already did.
        """
        if self._held and self.spool is not None and self.spool.usable:
            self._spill(self._held)
        if self.spool is not None:
            evicted = self.spool.commit()
            if evicted:
                self._stats.count(Loss.RELAY_UNAVAILABLE.counter, evicted)
            self.kept += self._on_disk
        left = self._held
        if left:
            self.leftover += left
            self._stats.count(Loss.RELAY_UNAVAILABLE.counter, left)
        if self._client is not None and self._down is None:
            with contextlib.suppress(Exception):
                self._client.hdel(Keys.producers, self.id)


def file_hash(path: str) -> str:
    """The first 12 hex digits of *path*'s SHA-256, or ``""``."""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12]
    except OSError:
        return ""
