"""
A producer's overflow: events that wait on disk while Redis is away.

With ``delivery.spool`` set, a producer whose memory is full
(``delivery.queue_size`` events) while Redis does not answer writes the
events that follow to a database of its own in the spool directory
(``relay.db``, beside the messages' ``spool.db``; the same store, the
same ownership and adoption rules). In order: once events wait on disk,
new ones go there too, and they are appended to the stream after those
in memory. They survive the process: the next producer that opens the
directory appends what a gone one left. ``delivery.spool_size`` bounds
them; past it the oldest of the lowest level are dropped.
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Callable
from pathlib import Path

from polybot_loghandler._diagnostics import say
from polybot_loghandler._spool.store import EVENTS_DATABASE, Spool, SpoolEntry

__all__ = ["Overflow"]

#: The channel its rows are filed under (the store wants one).
_CHANNEL = "(relay)"


class Overflow:
    """
    Events on disk, oldest first, for one producer.

    Args:
        directory: ``delivery.spool``.
        max_bytes: ``delivery.spool_size``.
        count: Adds to the producer's counters (``errors.spool``).
    """

    def __init__(
        self,
        directory: str,
        max_bytes: int,
        count: Callable[[str, int], None],
    ) -> None:
        self.directory = Path(directory)
        self._store = Spool(
            self.directory, max_bytes=max_bytes, name=EVENTS_DATABASE
        )
        self._count = count
        self._open = False
        self._broken = False
        #: what waits, oldest first
        self.waiting: deque[SpoolEntry] = deque()

    def start(self) -> int:
        """Open it if the directory exists; the events gone ones left."""
        if not self.directory.is_dir() or not self._opened():
            return 0
        return len(self.waiting)

    def _opened(self) -> bool:
        if self._open or self._broken:
            return self._open
        try:
            self.waiting.extend(self._store.open())
        except Exception as exc:
            with contextlib.suppress(Exception):
                self._store.close()
            self._broken = True
            self._count("errors.spool", 1)
            say(
                f"cannot use the spool {self.directory} ({exc}); events "
                "for the relay are kept in memory only"
            )
            return False
        if self._store.warning is not None:
            say(self._store.warning)
        self._open = True
        return True

    @property
    def usable(self) -> bool:
        """Whether events can wait here (it opens on first use)."""
        return self._opened()

    def put(self, level: int, time: float, fields: list[str]) -> None:
        """Keep one entry's fields, after those already waiting."""
        self.waiting.append(
            self._store.append(_CHANNEL, level, time, {"f": fields})
        )

    def peek(self, n: int) -> list[tuple[SpoolEntry, list[str] | None]]:
        """The oldest *n* waiting, with their fields (``None``: unreadable)."""
        entries = [self.waiting[i] for i in range(min(n, len(self.waiting)))]
        out = []
        for entry, body in zip(
            entries, self._store.read_many(entries), strict=True
        ):
            fields = None if body is None else body.get("f")
            ok = isinstance(fields, list) and all(
                isinstance(f, str) for f in fields
            )
            out.append((entry, fields if ok else None))
        return out

    def done(self, n: int) -> None:
        """The oldest *n* are in the stream (or were unreadable)."""
        gone = [self.waiting.popleft() for _ in range(n)]
        self._store.done(gone)

    def commit(self) -> int:
        """Write what changed; the events evicted by ``spool_size``."""
        if not self._open or not self._store.uncommitted:
            return 0
        try:
            evicted = self._store.commit()
        except Exception as exc:
            self._count("errors.spool", 1)
            say(f"cannot write the spool {self.directory} ({exc})")
            return 0
        if evicted:
            gone = {e.ref for e in evicted}
            self.waiting = deque(e for e in self.waiting if e.ref not in gone)
        return len(evicted)

    def close(self) -> None:
        """Commit and let go: what waits is the next producer's."""
        if self._open:
            with contextlib.suppress(Exception):
                self._store.close()
        self._open = False

    def after_fork_in_child(self) -> None:
        """A forked child has none of the parent's."""
        self._store.forget_after_fork()
        self._open = False
        self.waiting.clear()
