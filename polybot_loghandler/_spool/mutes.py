"""
The mutes in the spool's database: its ``mutes`` table.

``polybot-loghandler mute`` writes a row per muted route, watch or
digest (:class:`SpoolMutes`); every process that uses the spool
directory reads them (:func:`read`, about once a second) and holds back
what they name. One row per name: muting again replaces it, and an
unmute ends it now (see :mod:`polybot_loghandler._watching.mutes`).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from polybot_loghandler._watching.mutes import KEEP_ENDED, mute_of
from polybot_loghandler._watching.watching import Mute

from .db import Database
from .directory import prepare_directory
from .store import DATABASE

__all__ = ["SpoolMutes", "has_mutes", "read", "write"]


def read(db: sqlite3.Connection) -> dict[str, Mute]:
    """Every mute in *db* (in force or ended lately), by name."""
    out = {}
    for name, until, reason in db.execute(
        "SELECT name, until, reason FROM mutes"
    ):
        mute = mute_of(until, reason)
        if isinstance(name, str) and mute is not None:
            out[name] = mute
    return out


def has_mutes(db: sqlite3.Connection) -> bool:
    """Whether *db* has the table yet (an older version's may not)."""
    return bool(
        db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
            ("mutes",),
        ).fetchone()
    )


def write(db: sqlite3.Connection, name: str, mute: Mute, now: float) -> None:
    """Keep *mute* for *name*; forget mutes that ended a day before."""
    db.execute(
        "INSERT INTO mutes VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE"
        " SET until = excluded.until, reason = excluded.reason",
        (name, mute.until, mute.reason),
    )
    db.execute("DELETE FROM mutes WHERE until < ?", (now - KEEP_ENDED,))


class SpoolMutes:
    """
    The mutes of a spool directory, from outside its processes (the CLI).

    Args:
        directory: The spool directory; :meth:`write` creates it (0700)
            and its database (0600) if need be, as a process would.

    Each method raises what opening the spool raises:
    ``UntrustedSpoolError`` (not ours alone), ``SpoolFormatError`` (a
    newer version's, or not a database), ``OSError`` and
    ``sqlite3.Error``.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.where = f"the spool {self.directory}"
        #: what the directory's check warned about, if anything
        self.warning: str | None = None

    def read(self) -> dict[str, Mute]:
        """The mutes kept (none if there is no database yet)."""
        try:
            database = Database(self.directory / DATABASE, create=False)
        except FileNotFoundError:
            return {}
        try:
            with database.transaction("BEGIN") as db:
                database.version(db)  # a newer version's is refused
                if not has_mutes(db):
                    return {}  # no table yet: no process has opened it
                return read(db)
        finally:
            database.close()

    def write(self, name: str, mute: Mute, now: float) -> None:
        """Keep *mute* for *name*, in a transaction of its own."""
        self.warning = prepare_directory(self.directory)
        database = Database(self.directory / DATABASE)
        try:
            with database.transaction() as db:
                database.migrate(db)
                write(db, name, mute, now)
        finally:
            database.close()
