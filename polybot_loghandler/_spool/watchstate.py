"""
What the watches and digests know, in the spool's database.

The ``watching`` table keeps :meth:`Watching.snapshot` as JSON, one row
per process and routing file (by its absolute path): each process
watches its own events, so each keeps its own state, and processes that
share a spool directory never write over each other's. A row belongs to
the process that saves it (``owner``, an ``owners.id``); at a clean exit
it is let go (``owner`` empty), and a process that died leaves it to be
taken once it is gone, as its messages are (see :mod:`.owners`). A
process that starts takes over the row most lately saved among those
let go or left, for its routing file (:func:`take`).

A row not saved for :data:`FORGET_AFTER` is forgotten. What is kept is
made safe for the disk first (:func:`safe_for_disk`): tokens hidden in
every text, and a key's last fields of secret-looking names left out.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any, cast

from polybot_loghandler._text import REDACTED, looks_secret, redact_text

from . import owners

__all__ = ["FORGET_AFTER", "safe_for_disk", "save", "take"]

#: Seconds after which a row no process saved is forgotten (the longest
#: ``alert_after`` a routing file may set).
FORGET_AFTER = 30 * 86400.0


def take(
    db: sqlite3.Connection,
    database: tuple[int, int],
    routing: str,
    owner: int,
    now: float,
) -> tuple[int, dict[str, Any]] | None:
    """
    Take over the state a process that is gone left for *routing*.

    The row most lately saved among those let go or left by a gone
    owner becomes *owner*'s. Run it in a write transaction.

    Args:
        db: The connection, in a transaction.
        database: The database's (st_dev, st_ino), for :mod:`.owners`.
        routing: The routing file's absolute path.
        owner: This process's ``owners.id``.
        now: Epoch seconds.

    Returns:
        The row's id and its state; ``None`` if there is none to take.
        A row that does not hold a state is forgotten on the way.
    """
    db.execute("DELETE FROM watching WHERE saved < ?", (now - FORGET_AFTER,))
    gone = set(owners.gone_owners(db, database, now))
    live = {row[0] for row in db.execute("SELECT id FROM owners")} - gone
    rows = db.execute(
        "SELECT rowid, owner, state FROM watching WHERE routing = ?"
        " ORDER BY saved DESC, rowid DESC",
        (routing,),
    ).fetchall()
    for rowid, holder, text in rows:
        if holder is not None and holder in live:
            continue
        state = _state(text)
        if state is None:  # not one this library wrote: forgotten
            db.execute("DELETE FROM watching WHERE rowid = ?", (rowid,))
            continue
        db.execute(
            "UPDATE watching SET owner = ? WHERE rowid = ?", (owner, rowid)
        )
        return int(rowid), state
    return None


def save(  # noqa: PLR0913 - one row's columns
    db: sqlite3.Connection,
    rowid: int | None,
    *,
    routing: str,
    owner: int,
    text: str,
    now: float,
    release: bool = False,
) -> int:
    """
    Write *text* (a state's JSON) into *owner*'s row; its row id.

    Row *rowid* is written while it is *owner*'s, or let go; otherwise
    (another process took it meanwhile, or there is none yet) a new row
    is made. With *release*, the row is let go at once (a clean exit).
    """
    holder = None if release else owner
    if rowid is not None:
        cursor = db.execute(
            "UPDATE watching SET owner = ?, saved = ?, state = ?"
            " WHERE rowid = ? AND routing = ?"
            " AND (owner IS NULL OR owner = ?)",
            (holder, now, text, rowid, routing, owner),
        )
        if cursor.rowcount:
            return rowid
    cursor = db.execute(
        "INSERT INTO watching (routing, owner, saved, state)"
        " VALUES (?, ?, ?, ?)",
        (routing, holder, now, text),
    )
    return int(cursor.lastrowid or 0)


def _state(text: Any) -> dict[str, Any] | None:
    try:
        state = json.loads(text)
    except (TypeError, ValueError, RecursionError):
        return None
    return cast("dict[str, Any]", state) if isinstance(state, dict) else None


def safe_for_disk(snapshot: dict[str, Any]) -> str:
    """
    *snapshot* as the JSON kept on disk: no token, no secret field.

    Of a watch's keys' last fields, those whose names look secret
    (``api_key``...) keep only ``(redacted)``; then every token in the
    text is hidden, as in a message before it is kept. One pass over
    the text is quicker than one per value (1,000 keys: 5 ms a save in
    all, where a pass per value took 10 ms alone), and a token is never
    spelled with a quote or a backslash, so the JSON stays whole.

    Raises:
        ValueError: A value JSON cannot write (an int too large).
    """
    for watch in (snapshot.get("watches") or {}).values():
        for row in (watch.get("keys") or {}).values():
            if not isinstance(row, list) or len(row) != 4:
                continue  # not [seen, heard, alerted, last]: kept as is
            last = row[3]
            if isinstance(last, dict) and any(map(_secret, last)):
                row[3] = {
                    name: REDACTED if _secret(name) else value
                    for name, value in last.items()
                }
    return redact_text(json.dumps(snapshot, separators=(",", ":")))


def _secret(name: Any) -> bool:
    return looks_secret(str(name))
