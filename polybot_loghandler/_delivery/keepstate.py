"""
The watches' and digests' state, kept in the spool by the engine.

With ``delivery.spool`` (and no relay), what the watches and digests
know survives a restart: it is taken back when the engine starts
(:meth:`StateKeeper.load`), saved when it changed, about once a second
(:meth:`StateKeeper.save`, a periodic job), and saved at the end, after
the last digests were handed out, so that what the next process counts
of a period sent in part at exit is sent as that period's rest. Where
and how it is kept is :mod:`.._spool.watchstate`'s business. Nothing
here raises: a spool that fails is counted (``errors.spool``) and said
once, and the watching goes on in memory.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from polybot_loghandler._spool.db import Database
from polybot_loghandler._spool.watchstate import safe_for_disk, save, take
from polybot_loghandler._watching.watching import Watching

__all__ = ["StateKeeper", "routing_key"]

#: Seconds between saves of a state that keeps changing.
SAVE_EVERY = 1.0


class SpoolOpener(Protocol):
    """Opens the spool, if need be: its database and our owner id."""

    def __call__(self, *, create: bool) -> tuple[Database, int] | None:
        """``None`` where there is none to use; *create* makes one."""


def routing_key(path: str) -> str:
    """
    The key of a routing file's state: its absolute path.

    Symbolic links are not followed: a release directory behind a
    ``current`` link changes with every deployment; the path does not.
    """
    return str(Path(path).absolute())


class StateKeeper:
    """
    Loads and saves one routing file's watching state in the spool.

    Args:
        watching: The watches and digests.
        routing: The routing file's key (:func:`routing_key`).
        spool: Opens the spool (see :class:`SpoolOpener`).
        wall: Epoch seconds.
        count: Adds to a counter.
        warn: Says a problem once per key.
    """

    def __init__(  # noqa: PLR0913 - the seams
        self,
        watching: Watching,
        routing: str,
        *,
        spool: SpoolOpener,
        wall: Callable[[], float],
        count: Callable[[str, int], None],
        warn: Callable[[str, str], None],
    ) -> None:
        self._watching = watching
        self._routing = routing
        self._spool = spool
        self._wall = wall
        self._count = count
        self._warn = warn
        self._loaded_in: int | None = None  # the process that loaded
        self._row: int | None = None  # ours in the table
        self._saved: str | None = None  # the text last saved

    def load(self) -> None:
        """
        Take back the state a stopped process left, once per process.

        Before any event is seen: a digest's restored periods replace
        what it gathered. Without watches or digests nothing is taken,
        so the state stays for a process that has them.
        """
        if self._loaded_in == os.getpid():
            return  # a restarted loop: what is in memory is newer
        self._loaded_in = os.getpid()
        if self._watching.empty:
            return
        opened = self._spool(create=False)  # none made yet: nothing in it
        if opened is None:
            return
        database, owner = opened
        try:
            with database.transaction() as db:
                found = take(
                    db, database.file, self._routing, owner, self._wall()
                )
        except (sqlite3.Error, OSError) as exc:
            self._failed("load", "read from", exc)
            return
        if found is None:
            return
        self._row, state = found
        try:
            self._watching.restore(state)
        except Exception as exc:  # a damaged state never stops watching
            self._count("errors.internal", 1)
            self._warn(
                "watching:restore",
                f"the watches' saved state could not be read ({exc!r}); "
                "they start afresh",
            )

    def save(self, *, final: bool = False) -> None:
        """
        Save the state if it changed since the last save.

        *final* (the engine stops): save it whatever, and let the row
        go, for the next process to take.
        """
        if self._row is None and self._watching.empty:
            return  # nothing to keep, and nothing kept to bring up to date
        try:
            text = safe_for_disk(self._watching.snapshot())
        except Exception as exc:  # a value JSON cannot hold, say
            self._count("errors.internal", 1)
            self._warn(
                "watching:save",
                f"the watches' state could not be saved ({exc!r}); it "
                "is kept in memory only",
            )
            return
        if text == self._saved and not final:
            return
        opened = self._spool(create=True)
        if opened is None:
            return
        database, owner = opened
        try:
            with database.transaction() as db:
                self._row = save(
                    db,
                    self._row,
                    routing=self._routing,
                    owner=owner,
                    text=text,
                    now=self._wall(),
                    release=final,
                )
        except (sqlite3.Error, OSError) as exc:
            self._failed("save", "written to", exc)
            return
        # let go: a loop started again in this process saves afresh
        self._saved = None if final else text

    def _failed(self, key: str, doing: str, exc: Exception) -> None:
        self._count("errors.spool", 1)
        self._warn(
            f"watching:{key}",
            f"the watches' state could not be {doing} the spool ({exc}); "
            "it is kept in memory only",
        )
