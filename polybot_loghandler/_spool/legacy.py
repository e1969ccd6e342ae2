r"""
The spool's old format, read once to move it into the database.

Before it was a SQLite database, the spool was a directory of segment files,
``<pid>-<hex>.spool``, each held with an exclusive ``flock`` by the
process writing it. A segment is text, a record a line:
``<crc32 as 8 hex> <compact json>\n``, where a message is
``{"k":"m","n":seq,"ch":channel,"lv":level,"t":time,"b":body}`` and the
ones done are listed by ``{"k":"d","n":[seq,...]}``. Damaged lines are
skipped, as they always were.
"""

from __future__ import annotations

import contextlib
import json
import os
import zlib
from pathlib import Path
from typing import Any

from .directory import trusted_file

__all__ = ["FOREIGN", "HELD", "segments", "take"]

SUFFIX = ".spool"
#: What :func:`take` answers for a segment another user could write.
FOREIGN = "foreign"
#: What it answers for a segment a running process holds.
HELD = "held"
#: (channel, level, time, body) of a pending message.
Message = tuple[str, int, float, dict[str, Any]]

_FLAGS = os.O_RDWR | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)


def segments(directory: Path) -> list[Path]:
    """The segment files in *directory*, by name."""
    try:
        return sorted(p for p in directory.iterdir() if p.suffix == SUFFIX)
    except OSError:
        return []


def take(path: Path) -> tuple[int, list[Message]] | str | None:
    """
    Lock *path* if no running process holds it; its pending messages.

    Returns:
        The locked file (close it to unlock, after :func:`delete`) and its
        pending messages in the order written; or :data:`HELD`,
        :data:`FOREIGN`, or ``None`` if it is gone or cannot be read.
    """
    import fcntl  # noqa: PLC0415 - POSIX only: segments were never elsewhere

    try:
        fd = os.open(path, _FLAGS)
    except OSError:
        return None
    try:
        if not trusted_file(os.fstat(fd)):
            os.close(fd)
            return FOREIGN
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with open(fd, "rb", closefd=False) as file:
            data = file.read()
    except BlockingIOError:
        os.close(fd)
        return HELD
    except OSError:
        os.close(fd)
        return None
    return fd, _pending(data)


def delete(path: Path) -> None:
    """Delete a segment we hold, and a rewrite of it a crash left."""
    for each in (path, path.with_name(path.name + ".tmp")):
        with contextlib.suppress(OSError):
            each.unlink()


def _pending(data: bytes) -> list[Message]:
    """The messages of a segment not marked done."""
    messages: dict[int, Message] = {}
    done: set[int] = set()
    for line in data.split(b"\n"):
        record = _parse(line)
        if record.get("k") == "d" and isinstance(record.get("n"), list):
            done.update(n for n in record["n"] if type(n) is int)
        fields: list[Any] = [record.get(k) for k in ("ch", "lv", "t", "b")]
        seq: Any = record.get("n")
        if record.get("k") == "m" and type(seq) is int and _valid(*fields):
            channel, level, when, body = fields
            messages.setdefault(seq, (channel, level, float(when), body))
    return [m for seq, m in messages.items() if seq not in done]


def _parse(line: bytes) -> dict[str, Any]:
    """The record on *line*, or ``{}`` if it is damaged."""
    try:
        if line[8:9] == b" " and int(line[:8], 16) == zlib.crc32(line[9:]):
            record = json.loads(line[9:])
            return record if isinstance(record, dict) else {}
    except (ValueError, RecursionError):
        pass
    return {}


def _valid(channel: Any, level: Any, when: Any, body: Any) -> bool:
    """Whether a message record's fields are what the old spool wrote."""
    return (
        isinstance(channel, str)
        and type(level) is int
        and -(2**63) <= level < 2**63
        and type(when) in (int, float)
        and abs(when) < 1e15
        and isinstance(body, dict)
    )
