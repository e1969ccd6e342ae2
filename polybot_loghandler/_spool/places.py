"""
The boards and threads in the spool's database: its ``places`` table.

With ``delivery.spool``, the ids Discord gave each board's message and
each thread made (see :mod:`polybot_loghandler._places`) are
kept here, one row per kind, destination and key, so a restart edits
the same board and posts into the same thread. Every process using the
directory shares them: a board is one message, whichever process last
updated it. Keys and thread names are event text shown in Discord
already, redacted as it is there; destinations are webhook ids, never
tokens.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from polybot_loghandler._places import KEEP_FOR, Posted, posted_from

from .db import Database

__all__ = ["SpoolPlaces"]


class SpoolPlaces:
    """
    A :class:`~polybot_loghandler._places.PlaceStore` in the spool.

    Args:
        database: The spool's database if it is open, else ``None``
            (asked at each use: the spool opens with the first message
            for Discord).
        wall: Wall-clock seconds (to forget rows unused for a week).
    """

    def __init__(
        self, database: Callable[[], Database | None], wall: float
    ) -> None:
        self._database = database
        self._wall = wall

    def _db(self) -> Database:
        database = self._database()
        if database is None:
            raise LookupError("the spool is not open")
        return database

    def load(self) -> Iterable[Posted]:
        """Every place kept; rows unused for a week are deleted first."""
        database = self._database()
        if database is None:  # no spool yet: nothing was kept
            return []
        with database.transaction() as db:
            db.execute(
                "DELETE FROM places WHERE used < ?", (self._wall - KEEP_FOR,)
            )
            rows = db.execute(
                "SELECT kind, dest, key, id, thread, at, used FROM places"
            ).fetchall()
        return [p for row in rows if (p := _read(row)) is not None]

    def save(self, place: Posted) -> None:
        """Keep *place*, replacing the row of its kind, dest and key."""
        with self._db().transaction() as db:
            db.execute(
                "INSERT INTO places VALUES (?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (kind, dest, key) DO UPDATE SET"
                " id = excluded.id, thread = excluded.thread,"
                " at = excluded.at, used = excluded.used",
                (
                    place.kind,
                    place.destination,
                    place.key,
                    place.id,
                    place.thread,
                    place.at,
                    place.used,
                ),
            )

    def forget(self, slot: tuple[str, str, str]) -> None:
        """Delete the row of *slot* (kind, dest, key), if there is one."""
        with self._db().transaction() as db:
            db.execute(
                "DELETE FROM places WHERE kind = ? AND dest = ? AND key = ?",
                slot,
            )


def _read(row: tuple[object, ...]) -> Posted | None:
    """A row as a place, or ``None`` if it is not one this library wrote."""
    return posted_from(row)
