"""
Helpers for the spool's tests: a hand-driven clock, message bodies, the
database read from outside, and segment files of the old format.
"""

from __future__ import annotations

import json
import sqlite3
import zlib
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

from polybot_loghandler._spool.store import DATABASE, Spool, SpoolEntry

# 2024-01-30T14:23:45Z
T0 = 1706624625.0
INFO, WARNING, ERROR = 20, 30, 40
#: The database's files: the database, its write-ahead log, its index.
ENDINGS = ("", "-wal", "-shm")


class Clock:
    """
    A clock that moves only when told to.
    """

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def new(directory: Path, **options: Any) -> Spool:
    """
    A spool on *directory* with a hand-driven clock.
    """
    return Spool(directory, clock=Clock(), **options)


def opened(directory: Path, **options: Any) -> tuple[Spool, list[SpoolEntry]]:
    """
    A spool on *directory*, opened, with what it adopted.
    """
    spool = new(directory, **options)
    return spool, spool.open()


def body(n: int, size: int = 0) -> dict[str, Any]:
    """
    A message body as the renderer makes it, padded to about *size*.
    """
    return {
        "allowed_mentions": {"parse": []},
        "embeds": [{"title": f"Order {n} — filled ✅", "color": 0x2ECC71}],
        "padding": "x" * size,
    }


def size(value: dict[str, Any]) -> int:
    """
    Bytes of *value* as the spool keeps it: compact JSON, UTF-8.
    """
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return len(text.encode())


def refs(entries: list[SpoolEntry]) -> list[tuple[int, int]]:
    """
    The refs of *entries*, in their order.
    """
    return [e.ref for e in entries]


@contextmanager
def database(directory: Path) -> Iterator[sqlite3.Connection]:
    """
    A connection of the test's own to the spool's database.
    """
    with closing(
        sqlite3.connect(directory / DATABASE, isolation_level=None)
    ) as db:
        yield db


def rows(directory: Path, table: str = "messages") -> list[tuple[Any, ...]]:
    """
    Every row of *table*, sorted.
    """
    with database(directory) as db:
        return sorted(db.execute(f"SELECT * FROM {table}"))


def disk(directory: Path) -> dict[str, int]:
    """
    Bytes of each of the database's files that exist, by ending.
    """
    files = {end: directory / f"{DATABASE}{end}" for end in ENDINGS}
    return {end: p.stat().st_size for end, p in files.items() if p.exists()}


# -- the old format -----------------------------------------------------------


def record(value: Any) -> bytes:
    """
    One record line of an old-format segment, written independently.
    """
    data = json.dumps(value, separators=(",", ":")).encode()
    return f"{zlib.crc32(data):08x} ".encode() + data + b"\n"


def message(seq: int, **fields: Any) -> bytes:
    """
    An old-format message record with defaults for what is left out.
    """
    value = {"k": "m", "n": seq, "ch": "alerts", "lv": WARNING}
    value |= {"t": T0 + seq, "b": body(seq)} | fields
    return record(value)


def done(*seqs: int) -> bytes:
    """
    An old-format record marking *seqs* done.
    """
    return record({"k": "d", "n": list(seqs)})
