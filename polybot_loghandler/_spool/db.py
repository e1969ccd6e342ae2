"""
The spool's SQLite database: its schema, and a connection safe to fork.

One file, ``spool.db`` (0600), in WAL mode with ``synchronous=FULL``: a
transaction is fsynced before its commit returns. :data:`MIGRATIONS`
holds the schema; a file is brought up to date when it is opened, and one
written by a newer version is refused.

SQLite asks that no connection be carried across ``fork()``, and more: a
child that opens the file while its parent's connection is open shares
SQLite's record of the parent's locks without holding them, and can lose
what it writes. So every :class:`Database` closes its connection before a
fork (waiting for a transaction in progress) and opens it again on next
use.

Each step of a statement lets the GIL go, and takes it back (Python's
``sqlite3`` does so around every ``sqlite3_step``). While the
application's threads keep the interpreter busy, taking it back waits
about a millisecond: 300 rows inserted a statement each (as
``executemany`` runs them) took 178 ms where three statements took 21 ms.
So rows go in many to a statement (:func:`execute_rows`) and come back as
one JSON text (:func:`fetch_rows`).
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from polybot_loghandler.exceptions import PolybotError

from .directory import UntrustedSpoolError, trusted_file

__all__ = [
    "MIGRATIONS",
    "Database",
    "SpoolFormatError",
    "execute_rows",
    "fetch_rows",
]

#: Seconds a write waits for another process's transaction to end.
BUSY_TIMEOUT = 5.0
#: Bytes the write-ahead log is cut back to after a checkpoint.
WAL_LIMIT = 4 * 2**20
#: Parameters in one statement: SQLite's lowest default limit.
MAX_PARAMETERS = 999

#: ``MIGRATIONS[n]`` takes a database from schema version n to n + 1.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE owners (
            id INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused
            pid INTEGER NOT NULL,
            host TEXT NOT NULL,
            started TEXT NOT NULL,  -- '' where it cannot be told
            lease REAL NOT NULL     -- epoch seconds of its last renewal
        )""",
        """CREATE TABLE messages (
            writer INTEGER NOT NULL,  -- the owners.id that appended it
            seq INTEGER NOT NULL,     -- its writer's count
            owner INTEGER,            -- owners.id; NULL: free to adopt
            channel TEXT NOT NULL,
            level INTEGER NOT NULL,
            time REAL NOT NULL,       -- when the event was logged
            body BLOB NOT NULL,       -- JSON, UTF-8
            PRIMARY KEY (writer, seq)
        )""",
        """CREATE INDEX messages_by_owner
            ON messages (owner, level, time, writer, seq)""",
        "CREATE TABLE legacy (name TEXT PRIMARY KEY)",  # files moved in
    ),
    (
        """CREATE TABLE watching (  -- what the watches and digests know
            routing TEXT NOT NULL,  -- the routing file's absolute path
            owner INTEGER,          -- owners.id keeping it; NULL: free
            saved REAL NOT NULL,    -- epoch seconds of the last save
            state TEXT NOT NULL     -- JSON, see _spool/watchstate.py
        )""",
        "CREATE INDEX watching_by_routing ON watching (routing, saved)",
        """CREATE TABLE mutes (  -- polybot-loghandler mute
            name TEXT PRIMARY KEY,  -- a route's, watch's or digest's
            until REAL NOT NULL,    -- epoch seconds it ends (or ended)
            reason TEXT NOT NULL
        )""",
    ),
    (
        """CREATE TABLE places (  -- boards' messages and threads made
            kind TEXT NOT NULL,    -- 'board' or 'thread'
            dest TEXT NOT NULL,    -- the webhook's id, or the bot channel
            key TEXT NOT NULL,     -- the board's key, or the thread's name
            id TEXT NOT NULL,      -- the message's id, or the thread's
            thread TEXT NOT NULL,  -- a board's thread id, or ''
            at REAL NOT NULL,      -- epoch seconds it was posted
            used REAL NOT NULL,    -- epoch seconds it was last used
            PRIMARY KEY (kind, dest, key)
        )""",
    ),
)

_FLAGS = os.O_RDWR | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)
_OPEN: weakref.WeakSet[Database] = weakref.WeakSet()


class SpoolFormatError(PolybotError):
    """The spool database is not one this version can read."""


class Database:
    """
    A connection to ``spool.db``, closed around every ``fork()``.

    Args:
        path: The database file; created (0600) if *create*.
        create: Whether a missing file is created.

    Raises:
        UntrustedSpoolError: Another user owns the file, or others may
            write it.
        SpoolFormatError: It is not a database.
        FileNotFoundError: It does not exist, and *create* is false.
    """

    def __init__(self, path: Path, *, create: bool = True) -> None:
        self.path = path
        fd = os.open(path, _FLAGS | (os.O_CREAT if create else 0), 0o600)
        try:
            info = os.fstat(fd)
        finally:
            os.close(fd)
        if not trusted_file(info):
            raise UntrustedSpoolError(
                f"{path} belongs to another user, or others may write it, "
                "so its messages are not sent: remove it, or fix its owner "
                "and mode"
            )
        #: (st_dev, st_ino): the file, however it is named.
        self.file = (info.st_dev, info.st_ino)
        self._lock = threading.RLock()  # a fork waits for a transaction
        self._db: sqlite3.Connection | None = _connect(path)
        _OPEN.add(self)

    @contextmanager
    def connection(self) -> Iterator[sqlite3.Connection]:
        """The connection, for statements on their own."""
        with self._lock:
            if self._db is None:  # closed for a fork
                self._db = _connect(self.path)
            yield self._db

    @contextmanager
    def transaction(
        self, begin: str = "BEGIN IMMEDIATE"
    ) -> Iterator[sqlite3.Connection]:
        """A transaction: committed if the block ends, else rolled back."""
        with self.connection() as db:
            db.execute(begin)
            try:
                yield db
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def version(self, db: sqlite3.Connection) -> int:
        """The schema version (0: a new file), if this version knows it."""
        (version,) = db.execute("PRAGMA user_version").fetchone()
        if version > len(MIGRATIONS):
            raise SpoolFormatError(
                f"{self.path} was written by a newer polybot_loghandler "
                f"(schema {version}; this one knows {len(MIGRATIONS)}): "
                "upgrade it, or use another spool directory"
            )
        return int(version)

    def migrate(self, db: sqlite3.Connection) -> None:
        """Bring the schema up to date (in a transaction of the caller's)."""
        for steps in MIGRATIONS[self.version(db) :]:
            for statement in steps:
                db.execute(statement)
        db.execute(f"PRAGMA user_version = {len(MIGRATIONS)}")

    def reclaim(self) -> None:
        """Give free pages back to the file system once a quarter are."""
        with self._lock:
            if self._db is not None:
                (free,) = self._db.execute("PRAGMA freelist_count").fetchone()
                (total,) = self._db.execute("PRAGMA page_count").fetchone()
                if free > 64 and free * 4 > total:
                    # a script runs it to the end: execute() would step
                    # once, and free a single page
                    self._db.executescript("PRAGMA incremental_vacuum")

    def close(self) -> None:
        """Close the connection (idempotent)."""
        _OPEN.discard(self)
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def abandon(self) -> None:
        """In a forked child: forget the connection (it was closed)."""
        _OPEN.discard(self)
        self._lock = threading.RLock()

    def _before_fork(self) -> None:
        self._lock.acquire()
        if self._db is not None:
            self._db.close()
            self._db = None

    def _after_fork(self) -> None:
        self._lock.release()


def execute_rows(
    db: sqlite3.Connection,
    statement: str,
    rows: list[tuple[Any, ...]],
    end: str = "",
) -> None:
    """
    Run *statement* followed by ``VALUES`` of *rows*, many a statement.

    Example: ``execute_rows(db, "INSERT INTO t", rows)``.
    """
    if not rows:
        return
    width = len(rows[0])
    values = "(" + ", ".join("?" * width) + ")"
    per = MAX_PARAMETERS // width
    for start in range(0, len(rows), per):
        chunk = rows[start : start + per]
        db.execute(
            f"{statement} VALUES {', '.join([values] * len(chunk))}{end}",
            [value for row in chunk for value in row],
        )


def fetch_rows(
    db: sqlite3.Connection, row: str, query: str, parameters: tuple[Any, ...]
) -> list[Any] | None:
    """
    The rows of *query*, as SQLite writes each with the JSON text *row*.

    One JSON array of them all, in one step; ``None`` if a value made
    the text something JSON cannot read (the caller reads row by row).
    """
    (text,) = db.execute(
        f"SELECT '[' || coalesce(group_concat({row}, ','), '') || ']'"  # noqa: S608 - the caller's constants
        f" FROM ({query})",
        parameters,
    ).fetchone()
    try:
        rows = json.loads(text)
    except (TypeError, ValueError, RecursionError):
        return None
    return rows if isinstance(rows, list) else None


def _connect(path: Path) -> sqlite3.Connection:
    """Connect to *path* in WAL mode, fsyncing every commit."""
    db = sqlite3.connect(
        path, BUSY_TIMEOUT, isolation_level=None, check_same_thread=False
    )
    try:
        db.execute("PRAGMA auto_vacuum = INCREMENTAL")  # before any table
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = FULL")
        db.execute(f"PRAGMA journal_size_limit = {WAL_LIMIT}")
    except sqlite3.DatabaseError as exc:
        db.close()
        raise SpoolFormatError(
            f"{path} is not a spool SQLite can read ({exc}): move it aside "
            "to start afresh"
        ) from None
    return db


_HELD: list[Database] = []  # closed for the fork in progress


def _before_fork() -> None:
    _HELD[:] = list(_OPEN)
    for database in _HELD:
        database._before_fork()  # noqa: SLF001 - this module's class


def _after_fork() -> None:
    for database in _HELD:
        database._after_fork()  # noqa: SLF001 - this module's class
    _HELD.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(
        before=_before_fork,
        after_in_parent=_after_fork,
        after_in_child=_after_fork,
    )
