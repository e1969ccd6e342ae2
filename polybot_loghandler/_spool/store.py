"""
The durable spool: messages bound for Discord, kept on disk until sent.

The worker appends every rendered message bound for Discord to the spool
and marks it done once Discord accepted it (or it was dropped for a counted
reason); the group commit, every 100 ms, writes what is still pending.
What is not done survives outages, exits and ``kill -9``: this process
delivers it later, or the next process that opens the directory.

On disk it is one SQLite database (:mod:`.db`) in a directory of
the user's own (0700, see :mod:`.directory`), with a table of
``owners`` (the processes that have it open, see :mod:`.owners`)
and one of ``messages``: a row per message not done (done means deleted).

Crash-safety contract, in SQLite's terms:

- :meth:`Spool.append` and :meth:`Spool.done` only buffer; each
  :meth:`Spool.commit` writes the buffer as one transaction, which SQLite
  commits atomically: a crash leaves the last committed state, never half
  a message.
- With ``synchronous=FULL`` the write-ahead log is fsynced before a commit
  returns, so ``kill -9`` or a power cut forgets at most what was appended
  or marked done since the last commit. (``NORMAL`` is safe from ``kill
  -9`` but not from a power cut; with a commit at most every 100 ms the
  extra fsync costs little.)
- A message has one owner. Rows change owner only inside ``BEGIN
  IMMEDIATE``, which one connection holds at a time, and only once their
  owner is gone: no message is ever taken by two processes.
- A message can come back after a crash only if it was delivered but its
  deletion was not committed yet.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import legacy, owners
from .db import Database, SpoolFormatError, execute_rows, fetch_rows
from .directory import prepare_directory

__all__ = [
    "DATABASE",
    "DATABASES",
    "EVENTS_DATABASE",
    "Spool",
    "SpoolEntry",
    "SpoolFormatError",
]

#: The database's file name in the spool directory.
DATABASE = "spool.db"
#: The database of the events a relay's producers keep while Redis is
#: away (see ``_relay/overflow.py``); the same schema, a channel of
#: ``(relay)``.
EVENTS_DATABASE = "relay.db"
#: Every database a spool directory may hold.
DATABASES = (DATABASE, EVENTS_DATABASE)
#: Seconds between lease renewals (at a commit, or a look for adoption).
RENEW_EVERY = 10.0

#: Message columns, as :meth:`SpoolEntry.of` takes them.
_ENTRY = "writer, seq, channel, level, time, length(body)"
#: The same as JSON text, for :func:`fetch_rows` (times to the microsecond).
_ENTRY_JSON = r"""'[' || writer || ',' || seq || ',"'
    || replace(replace(channel, '\', '\\'), '"', '\"') || '",' || level
    || ',' || printf('%.16g', time) || ',' || length(body) || ']'"""
_DELETE = "DELETE FROM messages WHERE (writer, seq) IN ("
#: Rows looked at a time for eviction.
_EVICT_BATCH = 256
_COMPACT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
_ASCII = json.JSONEncoder(separators=(",", ":"))


class SpoolBackedUpError(OSError):
    """Commits fail, and the messages waiting for one fill ``max_bytes``."""


@dataclass(frozen=True, slots=True)
class SpoolEntry:
    """
    One pending message: what the engine needs without reading its body.

    Attributes:
        ref: Its writer's owner id and count: unique in the database,
            stable for the message's life.
        channel: The channel key, e.g. ``trades_paper``.
        level: The logging level.
        time: When the event was logged (epoch seconds).
        size: Bytes of its body.
    """

    ref: tuple[int, int]
    channel: str
    level: int
    time: float
    size: int

    @classmethod
    def of(cls, row: Sequence[Any]) -> SpoolEntry:
        """The entry for a row of ``_ENTRY`` columns."""
        return cls((row[0], row[1]), row[2], row[3], float(row[4]), row[5])


class Spool:
    """
    A database of messages that wait until they are done.

    :meth:`append` and :meth:`done` touch only memory; :meth:`commit`
    writes. In memory the spool keeps the refs and sizes of the messages
    it owns, and the bodies appended since the last commit. One thread
    (the worker's) uses it.

    Args:
        directory: The spool directory; created (0700) by :meth:`open`.
        max_bytes: Bound on the bodies of the pending messages: a commit
            past it evicts the oldest of the lowest level.
        clock: Epoch seconds, for leases.
        name: The database's file name in the directory: the relay's
            producers keep their events in a database of their own.
    """

    def __init__(
        self,
        directory: Path,
        *,
        max_bytes: int = 50 * 2**20,
        clock: Callable[[], float] = time.time,
        name: str = DATABASE,
    ) -> None:
        """Configure; nothing is touched on disk before :meth:`open`."""
        self.directory = Path(directory)
        self.name = name
        self.max_bytes = max_bytes
        self.clock = clock
        #: What :func:`prepare_directory` warned about, if anything.
        self.warning: str | None = None
        #: Old-format files left out: not ours alone.
        self.foreign: set[str] = set()
        #: Old-format files a running process of an older version holds.
        self.legacy_held = 0
        self._clear()

    def _clear(self) -> None:
        self._db: Database | None = None
        self._owner = self._seq = self._pid = 0
        self._renewed = float("-inf")
        self._rows: dict[tuple[int, int], tuple[Any, ...]] = {}  # to insert
        self._dones: list[tuple[int, int]] = []  # to delete
        self._live: dict[tuple[int, int], int] = {}  # ours, pending: size
        self._pending_bytes = self._buffered = 0
        self._failing = False  # the last commit failed

    # -- opening and adopting ------------------------------------------------

    def open(self) -> list[SpoolEntry]:
        """
        Register this process, then adopt what gone owners left.

        Creates the directory (0700) and the database (0600) if need be,
        and brings an older schema up to date.

        Returns:
            The pending messages adopted, oldest first (by time, then ref).

        Raises:
            RuntimeError: The spool is already open.
            UntrustedSpoolError: The directory or database is not ours
                alone.
            SpoolFormatError: The database is not one this version reads.
            OSError, sqlite3.Error: It cannot be created or opened.
        """
        if self._db is not None:
            raise RuntimeError("the spool is already open")
        self.warning = prepare_directory(self.directory)
        database = Database(self.directory / self.name)
        try:
            with database.transaction() as db:
                database.migrate(db)
                self._owner = _register(db, self.clock())
        except BaseException:
            database.close()
            raise
        self._db = database
        self._pid = os.getpid()
        self._renewed = self.clock()
        owners.OPEN.add((*database.file, self._owner))
        return self.adopt()

    def adopt(self) -> list[SpoolEntry]:
        """
        Renew our lease, and take over the rows of gone owners.

        Also takes the rows closed spools left, and moves in old-format
        files that no running process holds.

        Returns:
            The pending entries adopted, oldest first.
        """
        database, now = self._open(), self.clock()
        with database.transaction() as db:
            self._renew(db, now)
            rows = []
            for owner in [*owners.gone_owners(db, database.file, now), None]:
                rows += _entries(db, "WHERE owner IS ?", (owner,))
                db.execute(
                    "UPDATE messages SET owner = ? WHERE owner IS ?",
                    (self._owner, owner),
                )
                db.execute("DELETE FROM owners WHERE id IS ?", (owner,))
        if self.name == DATABASE:  # old files hold messages, not events
            with contextlib.suppress(sqlite3.Error, OSError):
                self._import(database, rows)  # on failure, at the next look
        adopted = sorted(rows, key=_age)
        for entry in adopted:
            self._live[entry.ref] = entry.size
            self._pending_bytes += entry.size
        return adopted

    def _import(self, database: Database, into: list[SpoolEntry]) -> None:
        """Move in the old-format files no running process holds."""
        self.legacy_held = 0
        for path in legacy.segments(self.directory):
            taken = legacy.take(path)
            if not isinstance(taken, tuple):
                self.legacy_held += taken == legacy.HELD
                if taken == legacy.FOREIGN:
                    self.foreign.add(path.name)
                continue
            fd, messages = taken
            rows = []
            for channel, level, when, body in messages:
                self._seq += 1
                data = _encode(body)
                ref = (self._owner, self._seq)
                rows.append((*ref, self._owner, channel, level, when, data))
            try:
                with database.transaction() as db:
                    if db.execute(
                        "INSERT OR IGNORE INTO legacy VALUES (?)", (path.name,)
                    ).rowcount:  # else moved in already, then a crash
                        execute_rows(db, "INSERT INTO messages", rows)
                        into += (  # ours now: committed
                            SpoolEntry((r[0], r[1]), *r[3:6], len(r[6]))
                            for r in rows
                        )
                legacy.delete(path)
            finally:
                os.close(fd)

    # -- the hot path --------------------------------------------------------

    def append(
        self, channel: str, level: int, time: float, body: dict[str, Any]
    ) -> SpoolEntry:
        """
        Buffer one message; nothing is written before :meth:`commit`.

        Args:
            channel: The channel key.
            level: The logging level (eviction takes the lowest first).
            time: When the event was logged (epoch seconds).
            body: What to send: anything JSON can hold.

        Raises:
            RuntimeError: The spool is not open.
            SpoolBackedUpError: Commits fail, and ``max_bytes`` of
                messages already wait in memory for one.
            TypeError: *body* holds something JSON cannot.
            ValueError: *body* refers to itself.
        """
        self._open()
        if self._failing and self._buffered > self.max_bytes:
            raise SpoolBackedUpError("writing the spool keeps failing")
        data = _encode(body)
        self._seq += 1
        ref = (self._owner, self._seq)
        entry = SpoolEntry(ref, channel, level, float(time), len(data))
        self._rows[ref] = (channel, level, entry.time, data)
        self._live[ref] = entry.size
        self._pending_bytes += entry.size
        self._buffered += entry.size
        return entry

    def read(self, entry: SpoolEntry) -> dict[str, Any] | None:
        """
        A fresh copy of the body appended for *entry*.

        ``None`` if it is no longer pending, or cannot be read back whole.
        """
        if entry.ref not in self._live:
            return None
        buffered = self._rows.get(entry.ref)
        if buffered is not None:
            return _decode(buffered[-1])
        try:
            with self._open().connection() as db:
                row = db.execute(
                    "SELECT body FROM messages WHERE writer = ? AND seq = ?",
                    entry.ref,
                ).fetchone()
        except (sqlite3.Error, OSError):
            return None
        return None if row is None else _decode(row[0])

    def read_many(
        self, entries: Sequence[SpoolEntry]
    ) -> list[dict[str, Any] | None]:
        """
        The bodies of *entries*, as :meth:`read` gives them, in one go.

        One query a few hundred (see :mod:`.db` for why it matters).
        """
        found: dict[tuple[int, int], Any] = {}
        wanted = [e.ref for e in entries if e.ref in self._live]
        for start in range(0, len(wanted), 256):
            refs = wanted[start : start + 256]
            try:
                with self._open().connection() as db:
                    rows = fetch_rows(
                        db,
                        "'[' || writer || ',' || seq || ',' || body || ']'",
                        "SELECT writer, seq, body FROM messages WHERE"  # noqa: S608 - placeholders
                        f" (writer, seq) IN (VALUES {_marks(len(refs))})",
                        tuple(v for ref in refs for v in ref),
                    )
            except (sqlite3.Error, OSError):
                rows = None
            got = {
                (row[0], row[1]): row[2]
                for row in rows or ()
                if isinstance(row, list)
                and len(row) == 3  # writer, seq, body
                and type(row[0]) is type(row[1]) is int
            }
            if len(got) == len(rows or ()) and set(got) <= set(refs):
                found |= got  # else a body broke out of its place
        return [
            found[e.ref]
            if isinstance(found.get(e.ref), dict) and e.ref not in self._rows
            else self.read(e)
            for e in entries
        ]

    def done(self, entries: Iterable[SpoolEntry]) -> None:
        """
        Mark *entries* done (delivered, or dropped for a counted reason).

        Their rows are deleted at the next :meth:`commit`; one not written
        yet is simply forgotten. Entries no longer pending are ignored.
        """
        for entry in entries:
            size = self._live.pop(entry.ref, None)
            if size is None:
                continue
            self._pending_bytes -= size
            if self._rows.pop(entry.ref, None) is None:
                self._dones.append(entry.ref)
            else:
                self._buffered -= size

    # -- committing ----------------------------------------------------------

    def commit(self) -> list[SpoolEntry]:
        """
        Write what is buffered, in one transaction: the group commit.

        Inserts the rows appended, deletes the rows done, and while the
        pending bodies exceed ``max_bytes`` deletes the oldest of the
        lowest level. Renews the lease every :data:`RENEW_EVERY` seconds.

        Returns:
            The entries evicted, now done; the caller counts them.

        Raises:
            RuntimeError: Called in a forked child of the process that
                opened the spool (see :meth:`forget_after_fork`).
            sqlite3.Error, OSError: The transaction failed (disk full, the
                database busy for seconds). Nothing of it was written;
                what was buffered stays buffered.
        """
        if self._db is None:
            return []
        if os.getpid() != self._pid:
            raise RuntimeError(
                "the spool was opened by the parent process: call "
                "forget_after_fork() in a forked child"
            )
        now, owner = self.clock(), self._owner
        self._failing = True  # until the transaction is committed
        with self._db.transaction() as db:
            execute_rows(
                db,
                "INSERT INTO messages",
                [(*ref, owner, *row) for ref, row in self._rows.items()],
            )
            execute_rows(db, _DELETE, self._dones, ")")
            evicted = self._evict(db)
            if now - self._renewed >= RENEW_EVERY:
                self._renew(db, now)
        self._failing = False
        freed = bool(self._dones or evicted)
        self._rows, self._dones, self._buffered = {}, [], 0
        for entry in evicted:
            del self._live[entry.ref]
            self._pending_bytes -= entry.size
        if freed:
            with contextlib.suppress(sqlite3.Error):  # housekeeping only
                self._db.reclaim()
        return evicted

    def _evict(self, db: sqlite3.Connection) -> list[SpoolEntry]:
        """Delete the oldest of the lowest level until within max_bytes."""
        excess = self._pending_bytes - self.max_bytes
        evicted: list[SpoolEntry] = []
        seen = 0
        while excess > 0:
            batch = _entries(
                db,
                "WHERE owner = ? ORDER BY level, time, writer, seq"
                " LIMIT ? OFFSET ?",
                (self._owner, _EVICT_BATCH, seen),
            )
            if not batch:
                break
            seen += len(batch)
            for entry in sorted(batch, key=_rank):
                if excess > 0 and entry.ref in self._live:
                    evicted.append(entry)
                    excess -= entry.size
        execute_rows(db, _DELETE, [e.ref for e in evicted], ")")
        return evicted

    def _renew(self, db: sqlite3.Connection, now: float) -> None:
        """
        Renew our lease; register again if we were taken for gone.

        That happens only to a process stopped for longer than
        ``ADOPT_AFTER`` on another host: what was taken is sent by its new
        owner, and may be sent by us too.
        """
        if not db.execute(
            "UPDATE owners SET lease = ? WHERE id = ?", (now, self._owner)
        ).rowcount:
            db.execute(
                "INSERT INTO owners VALUES (?, ?, ?, ?, ?)",
                (self._owner, *owners.whoami(), now),
            )
        self._renewed = now

    # -- closing -------------------------------------------------------------

    def close(self) -> None:
        """
        Commit, leave our pending rows free to adopt, and disconnect.

        Idempotent. In a forked child of the process that opened the spool
        it only forgets (see :meth:`forget_after_fork`).

        Raises:
            sqlite3.Error, OSError: The final commit failed; the spool is
                closed all the same.
        """
        database = self._db
        if database is None:
            return
        if os.getpid() != self._pid:
            self.forget_after_fork()
            return
        try:
            self.commit()
        finally:
            try:
                with database.transaction() as db:
                    db.execute(
                        "UPDATE messages SET owner = NULL WHERE owner = ?",
                        (self._owner,),
                    )
                    db.execute(
                        "DELETE FROM owners WHERE id = ?", (self._owner,)
                    )
            finally:
                self.forget_after_fork()

    def forget_after_fork(self) -> None:
        """
        In a forked child: drop the parent's spool without touching it.

        The child may :meth:`open` anew. In the process that opened it,
        this closes the connection without committing or letting go of
        its rows, as ``kill -9`` would.
        """
        database = self._db
        if database is not None:
            owners.OPEN.discard((*database.file, self._owner))
            if os.getpid() == self._pid:
                database.close()
            else:
                database.abandon()
        self._clear()

    # -- what is in it -------------------------------------------------------

    @property
    def database(self) -> Database | None:
        """The database while the spool is open (for its other tables)."""
        return self._db

    @property
    def owner(self) -> int:
        """This process's ``owners.id`` while the spool is open."""
        return self._owner

    @property
    def uncommitted(self) -> bool:
        """Whether something was appended or marked done since the commit."""
        return bool(self._rows or self._dones)

    @property
    def pending(self) -> int:
        """Messages not done."""
        return len(self._live)

    @property
    def pending_bytes(self) -> int:
        """Bytes of the bodies of the messages not done."""
        return self._pending_bytes

    def _open(self) -> Database:
        if self._db is None:
            raise RuntimeError("the spool is not open")
        return self._db


def _register(db: sqlite3.Connection, now: float) -> int:
    """Add this process to the owners; its new id."""
    cursor = db.execute(
        "INSERT INTO owners (pid, host, started, lease) VALUES (?, ?, ?, ?)",
        (*owners.whoami(), now),
    )
    return cursor.lastrowid or 0


def _entries(
    db: sqlite3.Connection, where: str, parameters: tuple[Any, ...]
) -> list[SpoolEntry]:
    """The entries of the messages ``WHERE ...``, in as few steps as can be."""
    query = f"SELECT * FROM messages {where}"  # noqa: S608 - constants
    rows = fetch_rows(db, _ENTRY_JSON, query, parameters)
    if rows is not None and all(map(_entry_like, rows)):
        return [SpoolEntry.of(row) for row in rows]
    return [  # a value JSON cannot hold: row by row
        SpoolEntry.of(row)
        for row in db.execute(f"SELECT {_ENTRY} FROM ({query})", parameters)  # noqa: S608 - constants
    ]


def _entry_like(row: Any) -> bool:
    return (
        isinstance(row, list)
        and len(row) == 6  # the columns of _ENTRY
        and isinstance(row[2], str)
        and all(type(v) is int for v in (*row[:2], row[3], row[5]))
        and type(row[4]) in (int, float)
    )


def _marks(n: int) -> str:
    return ", ".join(["(?, ?)"] * n)


# -- bodies ------------------------------------------------------------------


def _encode(body: dict[str, Any]) -> bytes:
    """*body* as compact JSON; lone surrogates escaped, so they survive."""
    text = _COMPACT.encode(body)
    try:
        return text.encode()
    except UnicodeEncodeError:
        return _ASCII.encode(body).encode()


def _decode(data: Any) -> dict[str, Any] | None:
    """The body stored as *data*, or ``None`` if it is not one."""
    try:
        body = json.loads(data)
    except (TypeError, ValueError, RecursionError):
        return None
    return body if isinstance(body, dict) else None


def _rank(entry: SpoolEntry) -> tuple[int, float, tuple[int, int]]:
    return entry.level, entry.time, entry.ref


def _age(entry: SpoolEntry) -> tuple[float, tuple[int, int]]:
    return entry.time, entry.ref
