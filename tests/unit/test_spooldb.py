"""
Tests for the spool's database file (``_spool/db.py``): its schema, what
is refused, and its connection around ``fork()``.
"""

from __future__ import annotations

import os
import sqlite3
import stat
import traceback
from collections.abc import Callable
from pathlib import Path

import pytest

from polybot_loghandler._spool import db as spool_db
from polybot_loghandler._spool import owners
from polybot_loghandler._spool.db import MIGRATIONS, Database, SpoolFormatError
from polybot_loghandler._spool.directory import UntrustedSpoolError
from polybot_loghandler._spool.status import purge, status
from polybot_loghandler._spool.store import DATABASE
from tests.support.helpers import run_forked
from tests.support.spool import T0, WARNING, body, database, new, opened, rows

SCHEMA = {
    ("table", "owners"),
    ("table", "messages"),
    ("table", "legacy"),
    ("index", "messages_by_owner"),
    ("table", "watching"),
    ("index", "watching_by_routing"),
    ("table", "mutes"),
    ("table", "places"),
}
#: The schema's version now.
VERSION = 3


def _schema(path: Path) -> tuple[int, set[tuple[str, str]]]:
    """
    The user_version of *path*, and its tables and indexes.
    """
    with database(path.parent) as db:
        (version,) = db.execute("PRAGMA user_version").fetchone()
        names = db.execute(
            "SELECT type, name FROM sqlite_master"
            " WHERE name NOT LIKE 'sqlite%'"
        )
        return version, set(names)


def _directory(tmp_path: Path) -> Path:
    """
    A spool directory of our own, 0700, without a database yet.
    """
    directory = tmp_path / "spool"
    directory.mkdir(mode=0o700)
    return directory


def _create(path: Path) -> None:
    """
    An empty file, 0600, as the spool creates its own.
    """
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))


def _interrupted(path: Path) -> None:
    """
    What a first open that died before its migration leaves.
    """
    spool_db._connect(path).close()


def _foreign_tool(path: Path) -> None:
    """
    A file another tool made a database, then left without tables.
    """
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE scratch (x)")
        db.execute("DROP TABLE scratch")
    db.close()


class TestSchema:
    """
    Schema versions: a new file is made current, a newer one refused.
    """

    def test_a_new_file(self, tmp_path: Path) -> None:
        """A new file gets the current version, its tables, WAL, 0600."""
        directory = tmp_path / "spool"
        spool, _ = opened(directory)
        spool.close()
        path = directory / DATABASE
        assert (VERSION, SCHEMA) == _schema(path)
        assert VERSION == len(MIGRATIONS)
        assert 0o600 == stat.S_IMODE(path.stat().st_mode)
        with database(directory) as db:
            assert ("wal",) == db.execute("PRAGMA journal_mode").fetchone()
            # incremental: free pages can be given back
            assert (2,) == db.execute("PRAGMA auto_vacuum").fetchone()

    @pytest.mark.parametrize(
        "make",
        [
            pytest.param(_create, id="empty-file"),
            pytest.param(_interrupted, id="first-open-interrupted"),
            pytest.param(_foreign_tool, id="no-tables"),
        ],
    )
    def test_version_0_is_migrated(
        self, tmp_path: Path, make: Callable[[Path], None]
    ) -> None:
        """A file of version 0 without tables is brought up to date."""
        directory = _directory(tmp_path)
        path = directory / DATABASE
        _create(path)
        make(path)
        assert (0, set()) == _schema(path)
        spool, _ = opened(directory)
        entry = spool.append("alerts", WARNING, T0, body(1))
        spool.close()
        assert (VERSION, SCHEMA) == _schema(path)
        if make is not _foreign_tool:  # its pages are laid out already
            with database(directory) as db:
                assert (2,) == db.execute("PRAGMA auto_vacuum").fetchone()
        again, adopted = opened(directory)
        assert [entry] == adopted
        again.close()

    def test_version_1_gains_the_watching_tables(self, tmp_path: Path) -> None:
        """A file of version 1 keeps its messages and gains the tables."""
        directory = _directory(tmp_path)
        path = directory / DATABASE
        with sqlite3.connect(path) as db:
            for statement in MIGRATIONS[0]:
                db.execute(statement)
            db.execute("PRAGMA user_version = 1")
            db.execute(
                "INSERT INTO messages VALUES (1, 1, NULL, 'alerts', 30, ?, ?)",
                (T0, b'{"route": "r", "embed": {"title": "kept"}}'),
            )
        db.close()
        path.chmod(0o600)
        spool, adopted = opened(directory)
        spool.close()
        assert (VERSION, SCHEMA) == _schema(path)
        assert [((1, 1), "alerts")] == [(e.ref, e.channel) for e in adopted]

    def test_a_newer_version_is_refused(self, tmp_path: Path) -> None:
        """A file of a newer schema is refused, named, and left as it is."""
        directory = _directory(tmp_path)
        path = directory / DATABASE
        _create(path)
        with sqlite3.connect(path) as db:
            db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
        db.close()
        spool = new(directory)
        with pytest.raises(SpoolFormatError) as raised:
            spool.open()
        message = str(raised.value)
        assert str(path) in message
        assert "newer polybot_loghandler" in message
        assert "upgrade it, or use another spool directory" in message
        with pytest.raises(RuntimeError, match="not open"):
            spool.append("alerts", WARNING, T0, body(1))
        assert (len(MIGRATIONS) + 1, set()) == _schema(path)
        assert not any(key[:2] == _file(path) for key in owners.OPEN)
        with pytest.raises(SpoolFormatError, match="newer"):
            status(directory)

    @pytest.mark.parametrize(
        "data",
        [
            pytest.param(b"not a database\n", id="text"),
            pytest.param(bytes(range(256)) * 16, id="binary"),
            pytest.param(b"SQLite format 3\x00" + b"\xff" * 200, id="torn"),
        ],
    )
    def test_not_a_database(self, tmp_path: Path, data: bytes) -> None:
        """A file that is not a database is refused in a sentence."""
        directory = _directory(tmp_path)
        path = directory / DATABASE
        path.write_bytes(data)
        path.chmod(0o600)
        with pytest.raises(SpoolFormatError) as raised:
            new(directory).open()
        assert str(path) in str(raised.value)
        assert "move it aside" in str(raised.value)
        told = "".join(traceback.format_exception(raised.value))
        assert "DatabaseError" not in told  # no traceback of SQLite's
        assert "During handling" not in told
        assert data == path.read_bytes()
        with pytest.raises(SpoolFormatError, match="move it aside"):
            status(directory)
        with pytest.raises(SpoolFormatError, match="move it aside"):
            purge(directory)


def _file(path: Path) -> tuple[int, int]:
    """
    (st_dev, st_ino) of *path*.
    """
    info = path.stat()
    return info.st_dev, info.st_ino


def _mode(mode: int) -> Callable[[Path], None]:
    """
    Give a file *mode*.
    """
    return lambda path: path.chmod(mode)


def _nobody(path: Path) -> None:
    """
    Give a file to another user.
    """
    os.chown(path, 65534, 65534)


NOT_ROOT = pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0,
    reason="only root may give a file away",
)


class TestTrust:
    """
    A database another user could write is not read.
    """

    @pytest.mark.parametrize(
        "spoil",
        [
            pytest.param(_mode(0o620), id="group-writable"),
            pytest.param(_mode(0o602), id="others-writable"),
            pytest.param(_nobody, id="another-owner", marks=NOT_ROOT),
        ],
    )
    def test_untrusted_database(
        self, tmp_path: Path, spoil: Callable[[Path], None]
    ) -> None:
        """Refused on open, left alone, and counted by status."""
        directory = tmp_path / "spool"
        spool, _ = opened(directory)
        spool.append("alerts", WARNING, T0, body(1))
        spool.close()
        path = directory / DATABASE
        spoil(path)
        data = path.read_bytes()
        with pytest.raises(UntrustedSpoolError) as raised:
            new(directory).open()
        assert str(path) in str(raised.value)
        assert "fix its owner and mode" in str(raised.value)
        assert data == path.read_bytes()
        found = status(directory)
        assert ({}, 1) == (found.pending, found.untrusted)

    def test_a_link_is_not_followed(self, tmp_path: Path) -> None:
        """A spool.db that is a symbolic link is not opened."""
        directory = _directory(tmp_path)
        elsewhere = tmp_path / "elsewhere.db"
        _create(elsewhere)
        (directory / DATABASE).symlink_to(elsewhere)
        with pytest.raises(OSError, match="symbolic links"):
            new(directory).open()
        assert 0 == elsewhere.stat().st_size


class TestConnection:
    """
    Transactions, and the connection around ``fork()``.
    """

    def test_a_failed_block_is_rolled_back(self, tmp_path: Path) -> None:
        """A block that raises leaves nothing of its transaction."""
        directory = tmp_path / "spool"
        spool, _ = opened(directory)
        spool.close()
        db = Database(directory / DATABASE)

        def insert_then_fail() -> None:
            with db.transaction() as connection:
                connection.execute("INSERT INTO legacy VALUES ('x.spool')")
                raise KeyError

        with pytest.raises(KeyError):
            insert_then_fail()
        db.close()
        db.close()  # idempotent
        assert [] == rows(directory, "legacy")

    def test_closed_around_a_fork(self, tmp_path: Path) -> None:
        """Open connections are closed for a fork, reopened on next use."""
        directory = tmp_path / "spool"
        spool, _ = opened(directory)
        spool.close()
        db = Database(directory / DATABASE)
        before = db._db
        assert before is not None

        def child() -> int:
            if db._db is not None:
                return 1
            db.abandon()
            return 0

        assert 0 == run_forked(child, timeout=60)
        assert db._db is None
        with db.transaction() as connection:
            connection.execute("INSERT INTO legacy VALUES ('x.spool')")
        assert db._db is not None
        assert before is not db._db
        db.close()
        assert [("x.spool",)] == rows(directory, "legacy")
