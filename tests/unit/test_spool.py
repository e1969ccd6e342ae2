"""
Tests for the durable spool (``_spool/store.py``).

Everything runs on real files under ``tmp_path``: the spool's guarantees
are about SQLite's transactions, locks and ``fsync``, which a fake would
only pretend to keep. Processes that die are real processes killed with
``SIGKILL``; nothing sleeps but to wait on a child.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import select
import signal
import sqlite3
import stat
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from polybot_loghandler._spool import db as spool_db
from polybot_loghandler._spool import legacy as spool_legacy
from polybot_loghandler._spool import owners
from polybot_loghandler._spool import store as spool_module
from polybot_loghandler._spool.db import Database
from polybot_loghandler._spool.status import SpoolStatus, purge, status
from polybot_loghandler._spool.store import (
    DATABASE,
    Spool,
    SpoolBackedUpError,
    SpoolEntry,
)
from tests.support.helpers import run_forked
from tests.support.spool import (
    ERROR,
    INFO,
    T0,
    WARNING,
    Clock,
    body,
    database,
    disk,
    message,
    new,
    opened,
    refs,
    rows,
    size,
)

ROOT = Path(__file__).resolve().parents[2]
WAIT = 60.0  # seconds a child may take to answer before the test fails
SEGMENT = "1-00ff00ff00ff00ff.spool"  # an old-format file a dead process left


def _stored(directory: Path) -> list[tuple[int, int]]:
    """
    The refs of the messages in the database.
    """
    return [(row[0], row[1]) for row in rows(directory)]


# -- the basics ---------------------------------------------------------------


class TestRoundTrip:
    """
    Append, commit, read, done, and what another spool finds after close.
    """

    def test_append_commit_read(self, tmp_path: Path) -> None:
        """Bodies read back the same before and after the commit."""
        directory = tmp_path / "spool"
        spool, adopted = opened(directory)
        assert [] == adopted
        entries = [
            spool.append("alerts", WARNING, T0 + n, body(n)) for n in range(3)
        ]
        assert spool.uncommitted
        # before the commit they come from memory: nothing is written
        assert [body(n) for n in range(3)] == [spool.read(e) for e in entries]
        assert [] == rows(directory)
        assert [] == spool.commit()
        assert not spool.uncommitted
        assert refs(entries) == _stored(directory)
        # after it, from the database
        assert [body(n) for n in range(3)] == [spool.read(e) for e in entries]
        assert 3 == spool.pending
        assert sum(e.size for e in entries) == spool.pending_bytes
        spool.close()

    def test_entry_fields(self, tmp_path: Path) -> None:
        """An entry says what the engine needs, as its row does."""
        directory = tmp_path / "spool"
        spool, _ = opened(directory)
        entry = spool.append("trades_paper", ERROR, int(T0), body(1))
        assert "trades_paper" == entry.channel
        assert ERROR == entry.level
        assert T0 == entry.time
        assert float is type(entry.time)
        assert 1 == entry.ref[1]
        assert size(body(1)) == entry.size
        spool.commit()
        ((writer, seq, owner, channel, level, when, data),) = rows(directory)
        assert (entry.ref[0], 1, entry.ref[0]) == (writer, seq, owner)
        assert ("trades_paper", ERROR, T0) == (channel, level, when)
        assert entry.size == len(data)
        ((me, pid, host, start, lease),) = rows(directory, "owners")
        assert (entry.ref[0], os.getpid(), owners.HOST) == (me, pid, host)
        assert (owners.started(os.getpid()), T0) == (start, lease)
        spool.close()

    def test_stored_body_is_compact_utf8(self, tmp_path: Path) -> None:
        """A body is kept as compact JSON in UTF-8, greppable as written."""
        directory = tmp_path / "spool"
        spool, _ = opened(directory)
        value = {"text": "line\nbreak é", "n": [1, 2]}
        entry = spool.append("alerts", WARNING, T0, value)
        spool.commit()
        ((*_, data),) = rows(directory)
        assert bytes is type(data)
        assert '{"text":"line\\nbreak é","n":[1,2]}'.encode() == data
        assert value == spool.read(entry)
        spool.close()

    def test_done_entries_do_not_come_back(self, tmp_path: Path) -> None:
        """What was marked done is not adopted by the next spool."""
        directory = tmp_path / "spool"
        spool, _ = opened(directory)
        entries = [
            spool.append("alerts", WARNING, T0 + n, body(n)) for n in range(5)
        ]
        spool.commit()
        spool.done([entries[1], entries[3]])
        spool.close()
        again, adopted = opened(directory)
        assert [entries[0], entries[2], entries[4]] == adopted
        assert [body(0), body(2), body(4)] == [again.read(e) for e in adopted]
        again.close()

    def test_adopted_oldest_first(self, tmp_path: Path) -> None:
        """Adopted entries come by time, then ref, whoever wrote them."""
        directory = tmp_path / "spool"
        one, _ = opened(directory)
        two, _ = opened(directory)
        late = one.append("alerts", WARNING, T0 + 10, body(1))
        early = two.append("alerts", ERROR, T0, body(2))
        tie = two.append("alerts", WARNING, T0 + 10, body(3))
        one.close()
        two.close()
        third, adopted = opened(directory)
        assert [early, *sorted([late, tie], key=lambda e: e.ref)] == adopted
        third.close()

    def test_done_before_commit_is_never_written(self, tmp_path: Path) -> None:
        """A message done before its commit never reaches the database."""
        directory = tmp_path / "spool"
        spool, _ = opened(directory)
        entry = spool.append("alerts", WARNING, T0, body(1))
        kept = spool.append("alerts", WARNING, T0, body(2))
        spool.done([entry])
        assert spool.read(entry) is None
        spool.commit()
        assert [kept.ref] == _stored(directory)
        assert body(2) == spool.read(kept)
        assert kept.size == spool.pending_bytes
        spool.close()

    def test_done_twice_and_unknown_entries_are_ignored(
        self, tmp_path: Path
    ) -> None:
        """Marking done is idempotent and ignores what is not ours."""
        directory = tmp_path / "spool"
        spool, _ = opened(directory)
        entry = spool.append("alerts", WARNING, T0, body(1))
        spool.commit()
        stranger = SpoolEntry((999, 1), "alerts", WARNING, T0, 10)
        spool.done([entry, entry, stranger])
        spool.done([entry])
        assert 0 == spool.pending
        assert 0 == spool.pending_bytes
        assert spool.read(stranger) is None
        spool.commit()
        assert [] == rows(directory)
        spool.close()

    def test_close_is_idempotent(self, tmp_path: Path) -> None:
        """Close twice; then nothing is left, and the spool opens again."""
        directory = tmp_path / "spool"
        spool, _ = opened(directory)
        entry = spool.append("alerts", WARNING, T0, body(1))
        spool.commit()
        spool.done([entry])
        spool.close()
        spool.close()
        assert [] == rows(directory)
        assert [] == rows(directory, "owners")
        assert 0 == spool.pending
        assert [] == spool.open()
        spool.close()

    def test_close_keeps_pending(self, tmp_path: Path) -> None:
        """Close commits and lets go: another spool adopts at once."""
        directory = tmp_path / "spool"
        spool, _ = opened(directory)
        entry = spool.append("alerts", WARNING, T0, body(1))
        spool.close()  # commits
        ((*_, owner, _, _, _, _),) = rows(directory)
        assert owner is None  # free to adopt
        assert [] == rows(directory, "owners")
        other, adopted = opened(directory)  # the clock has not moved
        assert [entry] == adopted
        assert body(1) == other.read(entry)
        other.close()

    def test_permissions(self, tmp_path: Path) -> None:
        """The directory is 0700 and every file of the database 0600."""
        directory = tmp_path / "deep" / "spool"
        umask = os.umask(0)  # not the umask's doing
        try:
            spool, _ = opened(directory)
            spool.append("alerts", WARNING, T0, body(1))
            spool.commit()
        finally:
            os.umask(umask)
        assert 0o700 == stat.S_IMODE(directory.stat().st_mode)
        files = sorted(p.name for p in directory.iterdir())
        assert [DATABASE, f"{DATABASE}-shm", f"{DATABASE}-wal"] == files
        for name in files:
            assert 0o600 == stat.S_IMODE((directory / name).stat().st_mode)
        spool.close()

    def test_misuse(self, tmp_path: Path) -> None:
        """Using a spool not open, or opening it twice, is refused."""
        spool = new(tmp_path / "spool")
        with pytest.raises(RuntimeError, match="not open"):
            spool.append("alerts", WARNING, T0, body(1))
        with pytest.raises(RuntimeError, match="not open"):
            spool.adopt()
        assert [] == spool.commit()  # nothing to do
        spool.close()
        spool.open()
        with pytest.raises(RuntimeError, match="already open"):
            spool.open()
        with pytest.raises(TypeError):
            spool.append("alerts", WARNING, T0, {"x": object()})
        assert 0 == spool.pending
        assert not spool.uncommitted
        entry = spool.append("alerts", WARNING, T0, body(1))
        spool.close()
        assert spool.read(entry) is None

    def test_lone_surrogates_are_kept(self, tmp_path: Path) -> None:
        """A lone surrogate (an undecodable file name, say) survives."""
        directory = tmp_path / "spool"
        spool, _ = opened(directory)
        value = {"content": "bad \udcff name"}
        entry = spool.append("alerts", WARNING, T0, value)
        spool.commit()
        assert value == spool.read(entry)
        spool.close()
        again, adopted = opened(directory)
        assert value == again.read(adopted[0])
        again.close()

    @pytest.mark.parametrize(
        "data",
        [
            pytest.param(b"\xff\x00 rot", id="not-json"),
            pytest.param(b"[1, 2]", id="not-an-object"),
            pytest.param(b"[" * 100_000, id="too-deep"),
        ],
    )
    def test_read_of_a_damaged_body_is_none(
        self, tmp_path: Path, data: bytes
    ) -> None:
        """A body that is not a JSON object reads as ``None``."""
        directory = tmp_path / "spool"
        spool, _ = opened(directory)
        entry = spool.append("alerts", WARNING, T0, body(1))
        spool.commit()
        with database(directory) as db:  # the disk rots under us
            db.execute("UPDATE messages SET body = ?", (data,))
        assert spool.read(entry) is None
        spool.close()


# -- who owns what ------------------------------------------------------------


class TestOwnership:
    """
    A message belongs to one spool at a time, until its owner is gone.
    """

    def test_an_open_spool_is_not_adopted(self, tmp_path: Path) -> None:
        """Two spools open in one process keep apart until one closes."""
        directory = tmp_path / "spool"
        first, _ = opened(directory)
        entry = first.append("alerts", WARNING, T0, body(1))
        first.commit()
        second, adopted = opened(directory)
        assert [] == adopted
        assert [] == second.adopt()
        first.close()
        assert [entry] == second.adopt()
        assert body(1) == second.read(entry)
        assert [] == second.adopt()  # once
        second.close()

    def test_forgotten_spool_is_adopted_at_once(self, tmp_path: Path) -> None:
        """One forgotten as ``kill -9`` would leave it is adopted at once."""
        directory = tmp_path / "spool"
        first, _ = opened(directory)
        kept = first.append("alerts", WARNING, T0, body(1))
        first.commit()
        first.append("alerts", WARNING, T0, body(2))  # never committed
        second, _ = opened(directory)
        first.forget_after_fork()
        assert [kept] == second.adopt()
        second.close()

    def test_the_adopter_deletes_what_it_marks_done(
        self, tmp_path: Path
    ) -> None:
        """Adopted rows become the adopter's, and go when it marks them."""
        directory = tmp_path / "spool"
        first, _ = opened(directory)
        entries = [
            first.append("alerts", WARNING, T0 + n, body(n)) for n in range(3)
        ]
        first.close()
        second, adopted = opened(directory)
        assert entries == adopted
        mine = second.append("alerts", WARNING, T0, body(9)).ref[0]
        second.done(entries[:1])
        second.commit()
        assert [(*e.ref, mine) for e in entries[1:]] == [
            row[:3] for row in rows(directory)
        ][:2]
        second.done(entries[1:])
        second.commit()
        assert [mine] == [row[0] for row in rows(directory)]
        second.close()

    def test_commit_renews_the_lease(self, tmp_path: Path) -> None:
        """A commit renews the lease every ten seconds, no more often."""
        directory = tmp_path / "spool"
        spool, _ = opened(directory)
        clock = spool.clock
        assert isinstance(clock, Clock)

        def lease() -> float:
            ((*_, when),) = rows(directory, "owners")
            return float(when)

        clock.now = T0 + 9
        spool.append("alerts", WARNING, T0, body(1))
        spool.commit()
        assert T0 == lease()
        clock.now = T0 + 10
        spool.append("alerts", WARNING, T0, body(2))
        spool.commit()
        assert T0 + 10 == lease()
        spool.close()

    def test_taken_for_gone_registers_again(self, tmp_path: Path) -> None:
        """A spool whose owner row was taken puts it back at its renewal."""
        directory = tmp_path / "spool"
        spool, _ = opened(directory)
        (before,) = rows(directory, "owners")
        with database(directory) as db:  # another host took us for gone
            db.execute("DELETE FROM owners")
        assert isinstance(spool.clock, Clock)
        spool.clock.now = T0 + 10
        spool.append("alerts", WARNING, T0, body(1))
        spool.commit()
        assert [(*before[:4], T0 + 10)] == rows(directory, "owners")
        spool.close()


# -- the size cap -------------------------------------------------------------

UNIT = size(body(1))  # bytes of a body(n), n < 10


class TestEviction:
    """
    At each commit, ``max_bytes`` bounds the pending bytes: the oldest of
    the lowest level goes first.
    """

    def test_lowest_level_oldest_first(self, tmp_path: Path) -> None:
        """Eviction takes the lowest level, then the oldest."""
        directory = tmp_path / "spool"
        spool, _ = opened(directory, max_bytes=6 * UNIT + 10)
        warnings: list[SpoolEntry] = []
        infos: list[SpoolEntry] = []
        for n in range(6):
            level = WARNING if n % 2 else INFO
            entry = spool.append("alerts", level, T0 + n, body(n))
            (warnings if level == WARNING else infos).append(entry)
        assert [] == spool.commit()
        evicted = []
        for n in range(6, 10):
            warnings.append(spool.append("alerts", WARNING, T0 + n, body(n)))
            assert spool.pending_bytes > spool.max_bytes  # until the commit
            evicted.append(spool.commit())
            assert spool.pending_bytes <= spool.max_bytes
        assert [[infos[0]], [infos[1]], [infos[2]], [warnings[0]]] == evicted
        assert spool.read(infos[0]) is None
        assert refs(warnings[1:]) == _stored(directory)
        spool.close()
        again, adopted = opened(directory)
        assert warnings[1:] == adopted
        again.close()

    def test_the_new_one_itself(self, tmp_path: Path) -> None:
        """The message just appended goes first if it is the lowest."""
        directory = tmp_path / "spool"
        spool, _ = opened(directory, max_bytes=2 * UNIT)
        errors = [
            spool.append("alerts", ERROR, T0 + n, body(n)) for n in range(2)
        ]
        spool.commit()
        entry = spool.append("alerts", INFO, T0 + 2, body(3))
        assert [entry] == spool.commit()
        huge = spool.append("alerts", ERROR, T0 + 5, body(4, 10 * UNIT))
        assert [*errors, huge] == spool.commit()
        assert 0 == spool.pending
        assert 0 == spool.pending_bytes
        assert [] == rows(directory)
        spool.close()

    def test_evicted_entries_stay_done(self, tmp_path: Path) -> None:
        """What a commit evicted is not adopted by the next spool."""
        directory = tmp_path / "spool"
        spool, _ = opened(directory, max_bytes=3 * UNIT)
        old = spool.append("alerts", INFO, T0, body(1))
        spool.commit()
        kept = [
            spool.append("alerts", WARNING, T0 + n, body(n))
            for n in range(2, 5)
        ]
        assert [old] == spool.commit()
        spool.done([old])  # the engine may still mark it: ignored
        spool.close()
        again, adopted = opened(directory)
        assert kept == adopted
        again.close()

    def test_oldest_by_time_not_by_number(self, tmp_path: Path) -> None:
        """The oldest is the one logged first, whatever its ref."""
        directory = tmp_path / "spool"
        dead, _ = opened(directory)
        for n in range(1, 6):  # newest first
            dead.append("alerts", WARNING, T0 - n, body(n))
        dead.close()
        spool, adopted = opened(directory, max_bytes=7 * UNIT)
        assert [5, 4, 3, 2, 1] == [e.ref[1] for e in adopted]
        late = spool.append("alerts", WARNING, T0 - 10, body(8))
        early = spool.append("alerts", WARNING, T0 - 20, body(9))
        assert [] == spool.commit()
        spool.append("alerts", WARNING, T0, body(9, 3 * UNIT))
        evicted = spool.commit()
        assert 4 <= len(evicted)
        assert [early, late, *adopted][: len(evicted)] == evicted
        spool.close()

    def test_adopted_entries_are_evicted_by_the_next_commit(
        self, tmp_path: Path
    ) -> None:
        """Adoption does not evict; the next commit does, even an idle one."""
        directory = tmp_path / "spool"
        old, _ = opened(directory)
        olds = [
            old.append("alerts", WARNING, T0 + n, body(n)) for n in range(4)
        ]
        old.close()
        spool, adopted = opened(directory, max_bytes=3 * UNIT)
        assert olds == adopted
        assert 4 * UNIT == spool.pending_bytes
        assert olds[:1] == spool.commit()  # nothing to write, still
        spool.append("alerts", WARNING, T0 + 9, body(9))
        assert olds[1:2] == spool.commit()
        assert spool.pending_bytes <= spool.max_bytes
        spool.close()


# -- disk space ---------------------------------------------------------------


class TestDisk:
    """
    The database's files stay bounded, and space comes back once done.
    """

    @pytest.mark.parametrize(
        ("max_bytes", "pad"), [(20_000, 1500), (100_000, 3000)]
    )
    @pytest.mark.slow
    def test_disk_stays_bounded(
        self, tmp_path: Path, max_bytes: int, pad: int
    ) -> None:
        """
        Many cycles keep the files within a bound of ``max_bytes``.

        spool.db stays within 3 * max_bytes + 64 pages. A commit inserts
        before it evicts, so up to max_bytes and one batch of bodies are
        on pages at once; a body of up to a page is kept whole on one, so
        pages may be half empty (2x), and the indexes add about 100 bytes
        a message; the schema takes a dozen pages; free pages wait to be
        reused or given back until there are 64 of them and they make a
        quarter of the file. (Measured here: 4.3 * max_bytes at 20 kB,
        where the schema weighs most, 2.2 at 100 kB.)

        The write-ahead log is bounded by SQLite, not by max_bytes: it is
        checkpointed past 1000 pages and cut back to WAL_LIMIT, so it
        stays within WAL_LIMIT and the frames of one commit (measured:
        4.2 MB, for either max_bytes); its index within 32 KiB.
        """
        rnd = random.Random(max_bytes)
        directory = tmp_path / "spool"
        spool, _ = opened(directory, max_bytes=max_bytes)
        with database(directory) as db:
            (page,) = db.execute("PRAGMA page_size").fetchone()
        bound = {
            "": 3 * max_bytes + 64 * page,
            "-wal": spool_db.WAL_LIMIT + 64 * (page + 24),
            "-shm": 32 * 1024,
        }
        live: dict[tuple[int, int], SpoolEntry] = {}
        largest = dict.fromkeys(bound, 0)
        appended = n = evicted = 0
        while appended < 40 * max_bytes:
            for _ in range(rnd.randint(1, 10)):
                n += 1
                entry = spool.append(
                    rnd.choice(["alerts", "trades_paper"]),
                    rnd.choice([INFO, WARNING, ERROR]),
                    T0 + rnd.random() * 1000,
                    body(n, rnd.randint(0, pad)),
                )
                appended += entry.size
                live[entry.ref] = entry
            if rnd.random() < 0.3:  # the engine delivers some
                sent = rnd.sample(sorted(live), rnd.randint(0, len(live)))
                spool.done(live.pop(ref) for ref in sent)
            for entry in spool.commit():
                del live[entry.ref]
                evicted += 1
            assert spool.pending_bytes <= max_bytes
            for end, bytes_ in disk(directory).items():
                largest[end] = max(largest[end], bytes_)
        assert evicted > 0  # the cap was reached
        assert largest["-wal"] > 1000 * page  # and the log its checkpoint
        assert all(largest[end] <= bound[end] for end in bound), largest
        assert sum(e.size for e in live.values()) == spool.pending_bytes
        spool.close()
        again, adopted = opened(directory)
        assert sorted(live) == sorted(refs(adopted))
        again.close()

    def test_space_is_given_back_once_done(self, tmp_path: Path) -> None:
        """Once most pages are free, incremental_vacuum gives them back."""
        directory = tmp_path / "spool"
        spool, _ = opened(directory)
        entries = [
            spool.append("alerts", WARNING, T0 + n, body(n, 2000))
            for n in range(400)
        ]
        spool.commit()
        with database(directory) as db:
            (page,) = db.execute("PRAGMA page_size").fetchone()
            (full,) = db.execute("PRAGMA page_count").fetchone()
        assert full > 256
        spool.done(entries)
        spool.commit()
        with database(directory) as db:
            (free,) = db.execute("PRAGMA freelist_count").fetchone()
            (total,) = db.execute("PRAGMA page_count").fetchone()
        assert free <= 64 or free * 4 <= total, (free, total)
        spool.close()  # checkpoints: the file is cut to its pages
        assert disk(directory)[""] <= 32 * page


# -- commits that fail --------------------------------------------------------


@contextmanager
def _busy(directory: Path, *_: object) -> Iterator[None]:
    """
    Another connection holds the write lock.
    """
    with database(directory) as other:
        other.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            other.execute("ROLLBACK")


@contextmanager
def _full(directory: Path, spool: Spool, last: SpoolEntry) -> Iterator[None]:
    """
    The database may not grow: as a full disk (SQLite rolls back).
    """
    connection = spool._db._db if spool._db else None
    assert connection is not None
    (pages,) = connection.execute("PRAGMA page_count").fetchone()
    connection.execute(f"PRAGMA max_page_count = {pages}")
    try:
        yield
    finally:
        connection.execute("PRAGMA max_page_count = 4294967294")


@contextmanager
def _taken(directory: Path, spool: Spool, last: SpoolEntry) -> Iterator[None]:
    """
    A row holds the last entry's key: its insert fails, not the first.
    """
    with database(directory) as other:
        other.execute(
            "INSERT INTO messages VALUES (?, ?, NULL, 'x', 0, 0, x'7b7d')",
            last.ref,
        )
        try:
            yield
        finally:
            other.execute("DELETE FROM messages WHERE owner IS NULL")


FAILURES = [
    pytest.param(_busy, sqlite3.OperationalError, "locked", id="busy"),
    pytest.param(_full, sqlite3.OperationalError, "full", id="full"),
    pytest.param(_taken, sqlite3.IntegrityError, "UNIQUE", id="conflict"),
]


class TestFailedCommit:
    """
    A transaction that fails is undone whole, its buffer kept; nothing
    is lost.
    """

    @pytest.mark.parametrize(("failure", "error", "says"), FAILURES)
    def test_nothing_is_written_and_the_buffer_is_kept(
        self,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
        failure: Callable[
            [Path, Spool, SpoolEntry], AbstractContextManager[None]
        ],
        error: type[Exception],
        says: str,
    ) -> None:
        """Nothing of a failed commit is written; the next one writes it."""
        monkeypatch.setattr(spool_db, "BUSY_TIMEOUT", 0.05)
        directory = tmp_path / "spool"
        spool, _ = opened(directory)
        first = spool.append("alerts", WARNING, T0, body(1))
        spool.commit()
        second = spool.append("alerts", WARNING, T0, body(2))
        # the one that needs new pages comes second: its failure is not
        # the transaction's first write
        third = spool.append("alerts", WARNING, T0, body(3, 20_000))
        spool.done([first])
        assert isinstance(spool.clock, Clock)
        spool.clock.now = T0 + 60  # a lease renewal is due
        before = rows(directory), rows(directory, "owners")
        with failure(directory, spool, third):
            with pytest.raises(error, match=says):
                spool.commit()
            assert before[1] == rows(directory, "owners")
        assert before[0] == rows(directory)
        assert spool.uncommitted
        assert 2 == spool.pending
        assert [body(2), body(3, 20_000)] == [
            spool.read(second),
            spool.read(third),
        ]
        assert [] == spool.commit()
        assert not spool.uncommitted
        assert [second.ref, third.ref] == _stored(directory)
        ((*_, lease),) = rows(directory, "owners")
        assert T0 + 60 == lease
        spool.close()
        again, adopted = opened(directory)
        assert [second, third] == adopted
        again.close()

    def test_backed_up(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Past max_bytes waiting on failed commits, append refuses."""
        monkeypatch.setattr(spool_db, "BUSY_TIMEOUT", 0.01)
        directory = tmp_path / "spool"
        spool, _ = opened(directory, max_bytes=2 * UNIT)
        entries = []
        with _busy(directory):
            for n in range(3):
                entries.append(
                    spool.append("alerts", WARNING, T0 + n, body(n))
                )
                with pytest.raises(sqlite3.OperationalError):
                    spool.commit()
            with pytest.raises(SpoolBackedUpError) as raised:
                spool.append("alerts", WARNING, T0, body(9))
        assert isinstance(raised.value, OSError)
        assert 3 == spool.pending
        assert entries[:1] == spool.commit()  # written, then evicted
        assert refs(entries[1:]) == _stored(directory)
        spool.append("alerts", WARNING, T0, body(9))
        spool.close()

    def test_a_failed_reclaim_loses_no_commit(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Space not given back (busy) leaves the commit made, once."""
        monkeypatch.setattr(spool_db, "BUSY_TIMEOUT", 0.05)
        directory = tmp_path / "spool"
        spool, _ = opened(directory)
        entries = [
            spool.append("alerts", WARNING, T0 + n, body(n, 2000))
            for n in range(400)
        ]
        spool.commit()
        kept = spool.append("alerts", WARNING, T0, body(1))
        spool.done(entries)  # most pages fall free: reclaim will run
        reclaim = Database.reclaim

        def contended(database_: Database) -> None:
            # another process takes the write lock as the commit ends
            with _busy(directory):
                reclaim(database_)

        monkeypatch.setattr(Database, "reclaim", contended)
        with contextlib.suppress(sqlite3.OperationalError):
            spool.commit()
        monkeypatch.setattr(Database, "reclaim", reclaim)
        assert [kept.ref] == _stored(directory)  # committed
        assert not spool.uncommitted
        assert (1, kept.size) == (spool.pending, spool.pending_bytes)
        assert [] == spool.commit()
        spool.close()
        again, adopted = opened(directory)
        assert [kept] == adopted
        again.close()

    def test_a_failed_adoption_loses_nothing(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """What an adoption took before it failed (busy) is still sent."""
        monkeypatch.setattr(spool_db, "BUSY_TIMEOUT", 0.05)
        directory = tmp_path / "spool"
        spool, _ = opened(directory)
        dead, _ = opened(directory)
        left = dead.append("alerts", WARNING, T0, body(1))
        dead.commit()
        dead.forget_after_fork()  # as kill -9
        (directory / SEGMENT).write_bytes(message(2))
        take = spool_legacy.take
        with database(directory) as other:

            def contended(path: Path) -> Any:
                # another process writes as the old file is moved in
                other.execute("BEGIN IMMEDIATE")
                return take(path)

            monkeypatch.setattr(spool_legacy, "take", contended)
            returned: list[SpoolEntry] = []
            with contextlib.suppress(sqlite3.OperationalError):
                returned += spool.adopt()  # may tell, or leave it for later
            other.execute("ROLLBACK")
        monkeypatch.setattr(spool_legacy, "take", take)
        returned += spool.adopt()
        # the engine sends what adopt() returns: the dead one's must come
        assert [body(1), body(2)] == [
            spool.read(e) for e in sorted(returned, key=lambda e: e.time)
        ]
        assert left in returned
        assert 2 == spool.pending
        spool.close()


# -- real processes -----------------------------------------------------------

CHILD = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from polybot_loghandler._spool.store import Spool

    spool = Spool(Path(sys.argv[1]))
    body = {"content": "from the child"}
    def say(value):
        print(json.dumps(value), flush=True)
    def refs(entries):
        return [list(e.ref) for e in entries]
    for line in sys.stdin:
        command, *args = line.split()
        if command == "open":
            say(refs(spool.open()))
        elif command == "adopt":
            say(refs(spool.adopt()))
        elif command == "append":
            say(refs([
                spool.append("alerts", 30, float(n), body)
                for n in range(int(args[0]))
            ]))
        elif command == "commit":
            say(refs(spool.commit()))
        elif command == "flood":  # until killed
            while True:
                batch = [
                    spool.append("alerts", 30, 0.0, body) for n in range(50)
                ]
                spool.commit()
                say(refs(batch))
    """
)
CHILD_BODY = {"content": "from the child"}


class Child:
    """
    A process with a spool on a directory, driven one command at a time.
    """

    def __init__(self, directory: Path) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.process = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(directory)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=ROOT,
            env=env,
        )
        self.buffer = b""

    def ask(self, command: str) -> Any:
        """
        Send *command*; return the child's answer.
        """
        stdin = self.process.stdin
        assert stdin is not None
        stdin.write(command.encode() + b"\n")
        stdin.flush()
        return self.answer()

    def answer(self) -> Any:
        """
        The child's next answer.
        """
        stdout = self.process.stdout
        assert stdout is not None
        while b"\n" not in self.buffer:
            ready, _, _ = select.select([stdout], [], [], WAIT)
            data = os.read(stdout.fileno(), 65536) if ready else b""
            if not data:
                self.kill()
                assert self.process.stderr is not None
                pytest.fail(
                    "the child did not answer: "
                    f"{self.process.stderr.read().decode()}"
                )
            self.buffer += data
        line, self.buffer = self.buffer.split(b"\n", 1)
        return json.loads(line)

    def refs(self, command: str) -> list[tuple[int, int]]:
        """
        Send *command*; return the refs the child answers with.
        """
        return [(writer, seq) for writer, seq in self.ask(command)]

    def kill(self) -> None:
        """
        ``kill -9``: no commit, no close, no atexit.
        """
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()
        assert self.process.returncode in (-signal.SIGKILL, 0)
        for pipe in (
            self.process.stdin,
            self.process.stdout,
            self.process.stderr,
        ):
            if pipe is not None:
                pipe.close()


@pytest.fixture
def children(tmp_path: Path) -> Iterator[Callable[[], Child]]:
    """
    Start children on ``tmp_path / "spool"``; all are killed at the end.
    """
    started: list[Child] = []

    def start() -> Child:
        child = Child(tmp_path / "spool")
        started.append(child)
        return child

    yield start
    for child in started:
        child.kill()


def _integrity(directory: Path) -> str:
    """
    What SQLite's own check of the database says.
    """
    with database(directory) as db:
        (verdict,) = db.execute("PRAGMA integrity_check").fetchone()
    return str(verdict)


class TestProcesses:
    """
    What ``kill -9`` leaves, and who owns what, across real processes.
    """

    @pytest.mark.slow
    def test_kill_keeps_what_was_committed(
        self, tmp_path: Path, children: Callable[[], Child]
    ) -> None:
        """A killed process leaves exactly what it committed."""
        directory = tmp_path / "spool"
        child = children()
        assert [] == child.refs("open")
        committed = child.refs("append 20")
        assert [] == child.ask("commit")
        child.refs("append 5")  # not committed: in its memory only
        spool, adopted = opened(directory)
        assert [] == adopted  # the child is alive and holds them
        child.kill()
        adopted = spool.adopt()  # at once: the clock has not moved
        assert committed == refs(adopted)
        assert all(spool.read(e) == CHILD_BODY for e in adopted)
        spool.close()

    @pytest.mark.slow
    def test_kill_in_the_middle_of_commits(
        self, tmp_path: Path, children: Callable[[], Child]
    ) -> None:
        """A kill during a stream of commits loses nothing committed."""
        directory = tmp_path / "spool"
        child = children()
        child.ask("open")
        committed = child.refs("flood")
        for _ in range(30):
            committed += [(writer, seq) for writer, seq in child.answer()]
        child.kill()  # while it appends and commits, as fast as it can
        assert "ok" == _integrity(directory)
        spool, adopted = opened(directory)
        found = refs(adopted)
        assert len(found) == len(set(found))
        assert set(committed) <= set(found)
        assert all(spool.read(e) == CHILD_BODY for e in adopted)
        spool.done(adopted)
        spool.close()
        assert [] == rows(directory)

    @pytest.mark.slow
    def test_live_processes_never_adopt_each_other(
        self, tmp_path: Path, children: Callable[[], Child]
    ) -> None:
        """Live processes keep apart; a killed one's go to one of them."""
        directory = tmp_path / "spool"
        one, two = children(), children()
        assert [] == one.refs("open")
        ones = one.refs("append 5")
        one.ask("commit")
        assert [] == two.refs("open")
        twos = two.refs("append 3")
        two.ask("commit")
        assert [] == one.refs("adopt")
        spool, adopted = opened(directory)
        assert [] == adopted
        one.kill()
        assert ones == two.refs("adopt")
        assert [] == spool.adopt()  # two owns them now
        two.kill()
        assert sorted(ones + twos) == sorted(refs(spool.adopt()))
        spool.close()


def _fork(child: Callable[[], int]) -> int:
    """
    Run *child* in a forked process; its pid, to :func:`_reap`.
    """
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        status = 99
        try:
            status = child()
        finally:
            os._exit(status)
    return pid


def _reap(pid: int) -> int:
    """
    Wait for a forked child (killed past :data:`WAIT`); its exit code.
    """
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        done, code = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(code)
        select.select([], [], [], 0.01)  # bounded wait on a real process
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    pytest.fail("the forked child did not finish")


def _wait_for(fd: int) -> None:
    """
    Read the byte the other process sends on *fd*, or fail.
    """
    ready, _, _ = select.select([fd], [], [], WAIT)
    assert ready
    assert os.read(fd, 1) == b"!"


class TestFork:
    """
    A forked child and its parent share a directory, not a connection.
    """

    def test_child_spool_loses_nothing(self, tmp_path: Path) -> None:
        """
        A child writing its own spool loses nothing as the parent closes.

        The parent's connection is open when it forks; SQLite would let a
        child that opens the file then share its record of the parent's
        locks, and the parent, closing, delete the log under the child.
        """
        directory = tmp_path / "spool"
        parent, _ = opened(directory)
        mine = parent.append("alerts", ERROR, T0, body(0))
        parent.commit()
        go_child, go_parent = os.pipe(), os.pipe()

        def child() -> int:
            parent.forget_after_fork()
            own, _ = opened(directory)
            for n in range(1, 6):
                own.append("alerts", WARNING, T0 + n, body(n))
            own.commit()
            os.write(go_parent[1], b"!")
            _wait_for(go_child[0])  # the parent has closed
            for n in range(6, 11):
                own.append("alerts", WARNING, T0 + n, body(n))
            own.commit()
            return 0  # exits without closing, as kill -9 would

        pid = _fork(child)
        try:
            _wait_for(go_parent[0])
            parent.append("alerts", ERROR, T0, body(11))
            parent.commit()
            parent.close()
            os.write(go_child[1], b"!")
        finally:
            assert 0 == _reap(pid)
            for fd in (*go_child, *go_parent):
                os.close(fd)
        assert "ok" == _integrity(directory)
        again, adopted = opened(directory)
        assert [body(n) for n in [0, 11, *range(1, 11)]] == [
            again.read(e) for e in adopted
        ]
        assert mine in adopted
        again.close()

    def test_child_keeps_off_the_parents_spool(self, tmp_path: Path) -> None:
        """A forked child cannot commit the parent's spool, nor take it."""
        directory = tmp_path / "spool"
        parent, _ = opened(directory)
        entry = parent.append("alerts", WARNING, T0, body(1))
        parent.commit()

        def child() -> int:
            try:
                parent.commit()
            except RuntimeError:
                pass
            else:
                return 2
            parent.close()  # in a child, close only forgets
            own, adopted = opened(directory)
            own.append("alerts", WARNING, T0, body(2))
            own.close()  # leaves its message behind, free
            return 0 if adopted == [] and parent.pending == 0 else 1

        def forget() -> int:
            parent.forget_after_fork()
            own, adopted = opened(directory)  # the first child's, only
            bodies = [own.read(e) for e in adopted]
            own.done(adopted)
            own.close()
            return 0 if [body(2)] == bodies else 1

        assert 0 == run_forked(child, timeout=WAIT)
        assert 0 == run_forked(forget, timeout=WAIT)
        third, adopted = opened(directory)
        assert [] == adopted  # the parent still holds its message
        assert body(1) == parent.read(entry)
        parent.done([entry])
        parent.commit()
        parent.close()
        assert [] == third.adopt()
        third.close()
        assert [] == rows(directory)


# -- status and purge ---------------------------------------------------------


def _snapshot(directory: Path) -> tuple[Any, ...]:
    """
    Everything in *directory* a status could change.
    """
    with database(directory) as db:
        tables = [
            sorted(db.execute(f"SELECT * FROM {table}"))
            for table in ("owners", "messages", "legacy")
        ]
    names = sorted(p.name for p in directory.iterdir())
    return tables, names


class TestStatusAndPurge:
    """
    The read-only view of a directory, and clearing what nobody holds.
    """

    def test_status(self, tmp_path: Path) -> None:
        """Status counts per channel, held, processes and old files."""
        directory = tmp_path / "spool"
        live, _ = opened(directory)
        live.append("alerts", ERROR, T0 + 3, body(3))
        live.commit()
        gone, _ = opened(directory)
        gone.append("alerts", WARNING, T0 + 5, body(1))
        gone.append("trades_paper", INFO, T0 + 1, body(2))
        gone.close()
        (directory / SEGMENT).write_bytes(message(1))
        (directory / "2-0badf00d.spool").write_bytes(message(2))
        (directory / "2-0badf00d.spool").chmod(0o666)
        before = _snapshot(directory)
        found = status(directory, clock=Clock(T0 + 100))
        assert before == _snapshot(directory)
        assert (
            SpoolStatus(
                directory=directory,
                pending={"alerts": 2, "trades_paper": 1},
                oldest=T0 + 1,
                held=1,
                processes=1,
                bytes=sum(disk(directory).values()),
                now=T0 + 100,
                legacy=1,
                untrusted=1,
            )
            == found
        )
        # it took nothing: what was let go, and the old file, are there
        assert 3 == len(live.adopt())
        assert {"2-0badf00d.spool"} == live.foreign
        live.close()

    def test_status_of_nothing(self, tmp_path: Path) -> None:
        """A missing directory is empty, and is not created."""
        found = status(tmp_path / "missing", clock=Clock())
        assert ({}, None, 0, 0, 0) == (
            found.pending,
            found.oldest,
            found.held,
            found.processes,
            found.bytes,
        )
        assert not (tmp_path / "missing").exists()

    def test_purge_spares_a_live_spool(self, tmp_path: Path) -> None:
        """Purge deletes what nobody holds, and spares what one does."""
        directory = tmp_path / "spool"
        live, _ = opened(directory)
        mine = live.append("alerts", WARNING, T0, body(3))
        live.commit()
        gone, _ = opened(directory)
        gone.append("alerts", WARNING, T0, body(1))
        gone.append("alerts", WARNING, T0, body(2))
        gone.close()
        (directory / SEGMENT).write_bytes(message(1))
        assert 3 == purge(directory)
        assert [mine.ref] == _stored(directory)
        assert not (directory / SEGMENT).exists()
        assert body(3) == live.read(mine)
        assert 0 == purge(directory)
        live.close()
        assert 0 == purge(tmp_path / "missing")
        assert not (tmp_path / "missing").exists()

    @pytest.mark.slow
    def test_purge_spares_a_live_process(
        self, tmp_path: Path, children: Callable[[], Child]
    ) -> None:
        """A running process's messages stay; a killed one's go."""
        directory = tmp_path / "spool"
        child = children()
        child.ask("open")
        child.ask("append 4")
        child.ask("commit")
        assert 0 == purge(directory)
        found = status(directory)
        assert ({"alerts": 4}, 4, 1) == (
            found.pending,
            found.held,
            found.processes,
        )
        child.kill()
        found = status(directory)
        assert ({"alerts": 4}, 0, 0) == (
            found.pending,
            found.held,
            found.processes,
        )
        assert 4 == purge(directory)
        assert [] == rows(directory)
        assert {} == status(directory).pending


# -- the invariant, for any sequence ------------------------------------------

MODEL_MAX = 1000
_OPS = st.lists(
    st.one_of(
        # most steps append: the spool must fill past its cap
        st.tuples(
            st.just("append"),
            st.sampled_from([INFO, WARNING, ERROR]),
            st.integers(0, 5),  # time: out of order, and ties
            st.integers(0, 400),  # body padding
        ),
        st.tuples(
            st.sampled_from(
                ["done", "commit", "commit", "blocked", "reopen", "crash"]
            ),
            st.integers(0, 7),  # done: from the start-th pending
            st.integers(1, 3),  # every step-th
        ),
    ),
    min_size=20,
    max_size=80,
)


class _Model:
    """
    What the spool should hold: pending entries, and what is durable.
    """

    def __init__(self) -> None:
        self.current: dict[tuple[int, int], tuple[SpoolEntry, Any]] = {}
        self.durable = dict(self.current)
        self.buffered = 0  # bytes appended since the last commit
        self.failing = False  # the last commit failed

    def evict(self) -> list[SpoolEntry]:
        """
        Commit: evict the oldest of the lowest level while past the cap.
        """
        evicted = []
        while sum(e.size for e, _ in self.current.values()) > MODEL_MAX:
            victim = min(
                (e for e, _ in self.current.values()),
                key=lambda e: (e.level, e.time, e.ref),
            )
            evicted.append(victim)
            del self.current[victim.ref]
        self.durable, self.buffered = dict(self.current), 0
        self.failing = False
        return evicted


def _step(spool: Spool, model: _Model, op: tuple[Any, ...], n: int) -> Spool:
    """
    Apply *op* to the spool and the model; the spool in use after it.
    """
    if op[0] == "append":
        _, level, when, pad = op
        value = body(n, pad)
        if model.failing and model.buffered > MODEL_MAX:
            with pytest.raises(SpoolBackedUpError):
                spool.append("alerts", level, when, value)
        else:
            entry = spool.append("alerts", level, when, value)
            model.current[entry.ref] = (entry, value)
            model.buffered += entry.size
    elif op[0] == "done":
        _, start, step = op
        chosen = list(model.current.values())[start::step]
        spool.done([e for e, _ in chosen])
        for entry, _ in chosen:
            del model.current[entry.ref]
            if entry.ref not in model.durable:
                model.buffered -= entry.size
    elif op[0] == "commit":
        assert model.evict() == spool.commit()
        assert spool.pending_bytes <= MODEL_MAX
    elif op[0] == "blocked":  # another process holds the write lock
        with _busy(spool.directory), pytest.raises(sqlite3.OperationalError):
            spool.commit()
        model.failing = True
    else:
        if op[0] == "reopen":
            spool.close()  # commits, evicting
            model.evict()
        else:  # kill -9, as far as this process can tell
            spool.forget_after_fork()
            model.current, model.buffered = dict(model.durable), 0
            model.failing = False
        spool, adopted = opened(spool.directory, max_bytes=MODEL_MAX)
        expected = sorted(
            (e for e, _ in model.current.values()),
            key=lambda e: (e.time, e.ref),
        )
        assert expected == adopted
        model.durable = dict(model.current)
    return spool


@settings(
    max_examples=100,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(ops=_OPS)
@pytest.mark.slow
def test_pending_is_appended_minus_done_minus_evicted(
    ops: list[tuple[Any, ...]],
) -> None:
    """
    Any appends, dones, commits, reopens and crashes keep the books.

    A crash (forgetting the spool without committing or letting go)
    brings back exactly what was pending at the last commit; eviction,
    at commit, takes exactly the oldest of the lowest level; a commit
    that fails (the write lock held elsewhere) changes nothing, and then
    append refuses once more than ``max_bytes`` wait for a commit.
    """
    with (
        tempfile.TemporaryDirectory() as tmp,
        mock.patch.object(spool_db, "BUSY_TIMEOUT", 0.01),
    ):
        spool, _ = opened(Path(tmp) / "spool", max_bytes=MODEL_MAX)
        model = _Model()
        for n, op in enumerate(ops):
            spool = _step(spool, model, op, n)
            assert len(model.current) == spool.pending
            assert (
                sum(e.size for e, _ in model.current.values())
                == spool.pending_bytes
            )
            for entry, value in model.current.values():
                assert value == spool.read(entry)
        spool.close()


# -- few steps of SQLite ------------------------------------------------------


@contextmanager
def _statements(spool: Spool) -> Iterator[list[str]]:
    """
    The statements *spool*'s connection runs meanwhile.
    """
    assert spool._db is not None
    seen: list[str] = []
    with spool._db.connection() as db:
        db.set_trace_callback(seen.append)
    try:
        yield seen
    finally:
        with spool._db.connection() as db:
            db.set_trace_callback(None)


class TestFewSteps:
    """
    Rows go in and come out many a statement, whatever the values.

    Each step of a statement lets the GIL go and waits to take it back,
    so a statement a row is slow while the application keeps the
    interpreter busy (see ``_spool/db.py``).
    """

    def test_a_commit_is_a_few_statements(self, tmp_path: Path) -> None:
        spool, _ = opened(tmp_path / "spool")
        entries = [
            spool.append("alerts", WARNING, T0 + n, body(n))
            for n in range(1000)
        ]
        spool.commit()
        spool.done(entries[:900])

        with _statements(spool) as seen:
            spool.append("alerts", WARNING, T0, body(1))
            spool.commit()

        assert len(seen) <= 8, seen  # begin, insert, 3 deletes, commit...
        assert 101 == len(rows(tmp_path / "spool"))
        spool.close()

    def test_many_evicted_oldest_lowest_first(self, tmp_path: Path) -> None:
        """More than a batch of eviction, in order, in a few statements."""
        one = size(body(0))
        spool, _ = opened(tmp_path / "spool", max_bytes=100 * one)
        levels = [WARNING if n % 3 else INFO for n in range(900)]
        entries = [
            spool.append("alerts", level, T0 + 900 - n, body(n))
            for n, level in enumerate(levels)
        ]

        with _statements(spool) as seen:
            evicted = spool.commit()

        expected = sorted(entries, key=lambda e: (e.level, e.time, e.ref))
        assert expected[: len(evicted)] == evicted
        assert len(evicted) > 3 * spool_module._EVICT_BATCH
        assert spool.pending_bytes <= 100 * one
        assert len(seen) <= 20, seen
        spool.close()

    def test_adoption_reads_odd_channels_whole(self, tmp_path: Path) -> None:
        """A channel JSON would have to escape falls back, and is exact."""
        channels = ['say "hi"', "back\\slash", "tab\there", "ok", "ü✅"]
        gone, _ = opened(tmp_path / "spool")
        written = [
            gone.append(channel, INFO, T0 + n + 0.25, body(n))
            for n, channel in enumerate(channels)
        ]
        gone.close()

        spool, adopted = opened(tmp_path / "spool")

        assert written == adopted
        spool.close()

    def test_a_body_cannot_stand_in_for_another(self, tmp_path: Path) -> None:
        """A body that breaks out of its place is read row by row."""
        directory = tmp_path / "spool"
        spool, _ = opened(directory)
        first = spool.append("alerts", INFO, T0, body(1))
        second = spool.append("alerts", INFO, T0 + 1, body(2))
        spool.commit()
        writer, seq = first.ref
        planted = f'{{}}],[{writer},{seq},{{"planted":1}}'
        with database(directory) as db:
            db.execute(
                "UPDATE messages SET body = ? WHERE seq = ?",
                (planted.encode(), second.ref[1]),
            )

        assert [body(1), None] == spool.read_many([first, second])
        spool.close()
