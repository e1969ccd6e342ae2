"""
A spool directory seen from outside: ``spool status`` and ``spool purge``.

:func:`status` reads without changing anything, so a running process
keeps its messages and its lease; :func:`purge` takes over, as a process
would, what no running process holds, and deletes it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from polybot_loghandler._watching.watching import Mute

from . import legacy, owners
from . import mutes as spool_mutes
from .db import Database
from .directory import UntrustedSpoolError, trusted_file
from .store import DATABASE, DATABASES, Spool

__all__ = ["SpoolStatus", "purge", "status"]


@dataclass(frozen=True, slots=True)
class SpoolStatus:
    """
    What a spool directory holds, for ``polybot-loghandler spool status``.

    Attributes:
        directory: The spool directory.
        pending: Messages not done, per channel key.
        oldest: When the oldest of them was logged, if any.
        held: How many of them running processes hold (and send).
        processes: Running processes that have the spool open.
        bytes: Size of the database's files.
        now: The clock's reading when the status was taken.
        legacy: Files of the old format, not moved into the database yet.
        untrusted: Files left out: another user owns them, or others may
            write them.
        mutes: The mutes kept (``polybot-loghandler mute``), by name, in
            force or ended lately.
    """

    directory: Path
    pending: dict[str, int]
    oldest: float | None
    held: int
    processes: int
    bytes: int
    now: float
    legacy: int = 0
    untrusted: int = 0
    mutes: dict[str, Mute] = field(default_factory=dict)


def status(
    directory: Path, clock: Callable[[], float] = time.time
) -> SpoolStatus:
    """
    What *directory* holds; changes nothing.

    Raises:
        SpoolFormatError: The database is not one this version reads.
    """
    directory, now = Path(directory), clock()
    files = legacy.segments(directory)
    old = sum(map(_trusted, files))
    untrusted, processes = len(files) - old, 0
    rows: list[tuple[str, bool, int, float]] = []
    mutes: dict[str, Mute] = {}
    for name in DATABASES:
        try:
            database = Database(directory / name, create=False)
        except FileNotFoundError:
            continue
        except UntrustedSpoolError:
            untrusted += 1
            continue
        try:
            with database.transaction("BEGIN") as db:
                if database.version(db):
                    gone = owners.gone_owners(db, database.file, now)
                    (running,) = db.execute(
                        "SELECT count(*) - ? FROM owners", (len(gone),)
                    ).fetchone()
                    processes = max(processes, running)
                    rows += [
                        (ch, owner is not None and owner not in gone, n, t)
                        for ch, owner, n, t in db.execute(
                            "SELECT channel, owner, count(*), min(time)"
                            " FROM messages GROUP BY channel, owner"
                        )
                    ]
                    if name == DATABASE and spool_mutes.has_mutes(db):
                        mutes = spool_mutes.read(db)
        finally:
            database.close()
    pending: dict[str, int] = {}
    for channel, _, n, _ in rows:
        pending[channel] = pending.get(channel, 0) + n
    return SpoolStatus(
        directory,
        pending,
        min((t for *_, t in rows), default=None),
        sum(n for _, held, n, _ in rows if held),
        processes,
        sum(
            (directory / f"{name}{end}").stat().st_size
            for name in DATABASES
            for end in ("", "-wal", "-shm")
            if (directory / f"{name}{end}").exists()
        ),
        now,
        legacy=old,
        untrusted=untrusted,
        mutes=mutes,
    )


def purge(directory: Path) -> int:
    """
    Delete the messages no running process holds (old-format files too).

    Returns:
        How many were deleted.
    """
    directory = Path(directory)
    deleted = 0
    for name in DATABASES:
        if name == DATABASE and legacy.segments(directory):
            pass  # old-format files are moved in, then deleted
        elif not (directory / name).exists():
            continue
        spool = Spool(directory, name=name)
        adopted = spool.open()
        spool.done(adopted)
        spool.close()
        deleted += len(adopted)
    return deleted


def _trusted(path: Path) -> bool:
    try:
        return trusted_file(path.lstat())
    except OSError:
        return False
