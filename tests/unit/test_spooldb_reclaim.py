"""
The spool database gives back the space of what was delivered.

A spool that grew during an outage holds free pages once its backlog is
delivered; :meth:`Database.reclaim` (run after a commit that deleted
rows) is to hand them back to the file system once a quarter of the
pages are free.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from polybot_loghandler._spool.store import DATABASE, Spool

BODY = {"route": "trade_executed", "embed": {"title": "x" * 700}}


def test_a_delivered_backlog_is_given_back(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    spool.open()
    entries = [
        spool.append("trades", 20, 1.8e9 + n, BODY) for n in range(3000)
    ]
    spool.commit()
    spool.done(entries)
    spool.commit()  # deletes them all, then reclaims
    spool.close()
    db = sqlite3.connect(tmp_path / "spool" / DATABASE)
    try:
        (free,) = db.execute("PRAGMA freelist_count").fetchone()
        (pages,) = db.execute("PRAGMA page_count").fetchone()
    finally:
        db.close()
    # PRAGMA incremental_vacuum frees one page a step, and
    # sqlite3.Connection.execute() steps a statement without columns only
    # once: reclaim() gives back one page of hundreds
    assert free * 4 <= pages, f"{free} of {pages} pages still free"
