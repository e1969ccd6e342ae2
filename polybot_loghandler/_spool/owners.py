"""
Who owns a spool's messages: is the process behind an owner still there?

Each process with the spool open has a row in its ``owners`` table: its
process id, its host, when it started and a lease it renews. Its messages
are taken over by another process only once it is gone:

- On the same host (the same host name, boot and PID namespace, so that
  process ids mean the same): once its process has exited, or its id was
  reused by a process that started later. In this very process, once its
  spool is closed.
- Otherwise (another container sharing the directory, say), or where a
  running process's start cannot be told: once its lease is older than
  :data:`ADOPT_AFTER`.
"""

from __future__ import annotations

import os
import socket
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["ADOPT_AFTER", "OPEN", "gone", "gone_owners", "whoami"]

#: Seconds without a renewed lease after which an owner that cannot be
#: looked up directly counts as gone.
ADOPT_AFTER = 60.0

#: Owners open in this process: (database st_dev, st_ino, owner id).
OPEN: set[tuple[int, int, int]] = set()


def _host() -> str:
    """This host as far as process ids go: name, boot, PID namespace."""
    parts = [socket.gethostname()]
    try:
        parts.append(Path("/proc/sys/kernel/random/boot_id").read_text())
        parts.append(str(Path("/proc/self/ns/pid").readlink()))
    except OSError:
        pass  # not Linux: the name alone
    return " ".join(part.strip() for part in parts)


def started(pid: int) -> str | None:
    """
    When process *pid* started: ``None`` if there is no such process.

    ``""`` if it runs but its start cannot be told (not Linux, say).
    """
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None if Path("/proc/self/stat").exists() else _runs(pid)
    except OSError:
        return ""
    return text.rpartition(")")[2].split()[19]  # the 22nd field


def _runs(pid: int) -> str | None:
    """``""`` if process *pid* runs, else ``None``: without ``/proc``."""
    if os.name == "nt":  # there os.kill() would end the process
        return ""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except OSError:
        return ""  # another user's: it runs
    return ""


HOST = _host()


def whoami() -> tuple[int, str, str]:
    """This process's ``owners`` columns: pid, host, start."""
    pid = os.getpid()
    return pid, HOST, started(pid) or ""


def gone(database: tuple[int, int], row: Sequence[Any], now: float) -> bool:
    """
    Whether the owner in *row* (id, pid, host, start, lease) is gone.

    Args:
        database: The database's (st_dev, st_ino), for :data:`OPEN`.
        row: The ``owners`` row.
        now: Epoch seconds, for the lease.
    """
    owner, pid, host, start, lease = row
    if host == HOST:
        if pid == os.getpid():
            return (*database, owner) not in OPEN
        now_started = started(pid)
        if now_started is None:
            return True
        if start and now_started:
            return bool(start != now_started)
    return bool(now - lease > ADOPT_AFTER)


def gone_owners(
    db: sqlite3.Connection, database: tuple[int, int], now: float
) -> list[int]:
    """The ids of the owners in *db* that are gone (see :func:`gone`)."""
    return [
        row[0]
        for row in db.execute("SELECT * FROM owners").fetchall()
        if gone(database, row, now)
    ]
