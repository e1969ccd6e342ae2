"""
Tests for moving the old format's segment files into the database
(``_spool/legacy.py``, and ``Spool.adopt``).

The segments are written by hand, record by record, as the old spool
wrote them; a segment still in use is one a real child process holds
with ``flock``.
"""

from __future__ import annotations

import os
import select
import subprocess
import sys
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from polybot_loghandler._spool.status import status
from polybot_loghandler._spool.store import Spool, SpoolEntry
from tests.support.spool import (
    ERROR,
    INFO,
    T0,
    WARNING,
    body,
    database,
    done,
    message,
    opened,
    record,
    rows,
    size,
)

SEGMENT = "1-00ff00ff00ff00ff.spool"  # a dead process's
WAIT = 60.0  # seconds a child may take to answer before the test fails
HOLD = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
sys.stdin.read()
"""


def _directory(tmp_path: Path) -> Path:
    """
    A spool directory of our own, 0700, without a database yet.
    """
    directory = tmp_path / "spool"
    directory.mkdir(mode=0o700)
    return directory


def _segments(directory: Path) -> list[str]:
    """
    The old-format files left in *directory*.
    """
    return sorted(p.name for p in directory.glob("*.spool"))


def _line(data: bytes) -> bytes:
    """
    A record line holding *data*, whatever it is, with its right CRC.
    """
    return f"{zlib.crc32(data):08x} ".encode() + data + b"\n"


def _seen(spool: Spool, entries: list[SpoolEntry]) -> list[tuple[Any, ...]]:
    """
    Channel, level, time and body of each of *entries*, in their order.
    """
    return [(e.channel, e.level, e.time, spool.read(e)) for e in entries]


class TestImport:
    """
    The pending messages of old segments are moved in, once.
    """

    def test_pending_ones_are_moved_in(self, tmp_path: Path) -> None:
        """Exactly the pending messages come in, whole; the files go."""
        directory = _directory(tmp_path)
        damaged = message(4).replace(b'"lv":30', b'"lv":50')  # CRC fails
        (directory / SEGMENT).write_bytes(
            message(1)
            + message(2, ch="trades_paper", lv=ERROR, t=T0 - 50)
            + message(3, b={"content": "é ✅"})
            + done(1)
            + message(2)  # again: the first one counts
            + damaged
            + message(5, lv=INFO)
            + done(3, 99)
            + message(6)
            + message(7)[:30]  # torn: the writer was killed
        )
        (directory / "2-0a.spool").write_bytes(
            message(1, t=T0 + 100) + message(2) + done(2)
        )
        spool, adopted = opened(directory)
        assert [
            ("trades_paper", ERROR, T0 - 50, body(2)),
            ("alerts", INFO, T0 + 5, body(5)),
            ("alerts", WARNING, T0 + 6, body(6)),
            ("alerts", WARNING, T0 + 100, body(1)),
        ] == _seen(spool, adopted)
        assert [size(spool.read(e) or {}) for e in adopted] == [
            e.size for e in adopted
        ]
        mine = {e.ref[0] for e in adopted}
        assert {row[2] for row in rows(directory)} == mine
        assert 1 == len(mine)
        assert sorted(e.ref for e in adopted) == [
            row[:2] for row in rows(directory)
        ]
        assert [] == _segments(directory)
        assert [(SEGMENT,), ("2-0a.spool",)] == rows(directory, "legacy")
        assert (0, set()) == (spool.legacy_held, spool.foreign)
        other, more = opened(directory)
        assert [] == more
        other.close()
        spool.close()
        again, adopted_again = opened(directory)
        assert adopted == adopted_again  # the same, not twice
        again.done(adopted_again)
        again.close()
        last, nothing = opened(directory)
        assert [] == nothing
        last.close()

    def test_no_second_import_after_a_crash(self, tmp_path: Path) -> None:
        """A file moved in but not deleted (a crash) is not moved twice."""
        directory = _directory(tmp_path)
        spool, _ = opened(directory)
        spool.close()
        with database(directory) as db:  # committed, then killed
            db.execute("INSERT INTO legacy VALUES (?)", (SEGMENT,))
        (directory / SEGMENT).write_bytes(message(1) + message(2))
        spool, adopted = opened(directory)
        assert [] == adopted
        assert [] == _segments(directory)  # deleted this time
        assert [] == rows(directory)
        spool.close()

    def test_a_held_segment_waits(self, tmp_path: Path) -> None:
        """A segment a running process holds is left until it exits."""
        directory = _directory(tmp_path)
        path = directory / SEGMENT
        path.write_bytes(message(1) + message(2) + done(2))
        child = subprocess.Popen(
            [sys.executable, "-c", HOLD, str(path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        try:
            assert child.stdout is not None
            ready, _, _ = select.select([child.stdout], [], [], WAIT)
            assert ready
            assert b"held\n" == child.stdout.readline()
            spool, adopted = opened(directory)
            assert [] == adopted
            assert 1 == spool.legacy_held
            assert [SEGMENT] == _segments(directory)
            assert 1 == status(directory).legacy
            assert [] == spool.adopt()
            assert 1 == spool.legacy_held
        finally:
            assert child.stdin is not None
            child.stdin.close()
            assert 0 == child.wait(timeout=WAIT)
            assert child.stdout is not None
            child.stdout.close()
        adopted = spool.adopt()
        assert [("alerts", WARNING, T0 + 1, body(1))] == _seen(spool, adopted)
        assert 0 == spool.legacy_held
        assert [] == _segments(directory)
        spool.close()


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


class TestLeftAlone:
    """
    What is not a segment of ours stays where it is.
    """

    @pytest.mark.parametrize(
        "spoil",
        [
            pytest.param(_mode(0o666), id="mode-0666"),
            pytest.param(_mode(0o620), id="group-writable"),
            pytest.param(_nobody, id="another-owner", marks=NOT_ROOT),
        ],
    )
    def test_foreign_segments(
        self, tmp_path: Path, spoil: Callable[[Path], None]
    ) -> None:
        """Another user's segment, or one others may write, is named."""
        directory = _directory(tmp_path)
        (directory / "2-0a.spool").write_bytes(message(2))
        path = directory / SEGMENT
        path.write_bytes(message(1))
        spoil(path)
        spool, adopted = opened(directory)
        assert [("alerts", WARNING, T0 + 2, body(2))] == _seen(spool, adopted)
        assert {SEGMENT} == spool.foreign
        assert 0 == spool.legacy_held
        assert message(1) == path.read_bytes()
        assert [("2-0a.spool",)] == rows(directory, "legacy")
        found = status(directory)
        assert (0, 1) == (found.legacy, found.untrusted)
        spool.close()

    def test_garbage_empty_files_and_others(self, tmp_path: Path) -> None:
        """Segments with nothing pending go; other files stay."""
        directory = _directory(tmp_path)
        (directory / "2-garbage.spool").write_bytes(b"\x00\xff junk\n\x89PNG")
        (directory / "3-empty.spool").write_bytes(b"")
        (directory / SEGMENT).write_bytes(message(1))
        (directory / f"{SEGMENT}.tmp").write_bytes(message(1)[:10])
        (directory / "notes.txt").write_text("not a segment\n")
        (directory / "4-dir.spool").mkdir()
        (directory / "5-link.spool").symlink_to(directory / "notes.txt")
        spool, adopted = opened(directory)
        assert [("alerts", WARNING, T0 + 1, body(1))] == _seen(spool, adopted)
        assert ["4-dir.spool", "5-link.spool"] == _segments(directory)
        assert not (directory / f"{SEGMENT}.tmp").exists()  # a stale rewrite
        assert "not a segment\n" == (directory / "notes.txt").read_text()
        assert (0, set()) == (spool.legacy_held, spool.foreign)
        spool.close()

    @pytest.mark.parametrize(
        "line",
        [
            pytest.param(record({"k": "x", "n": 9}), id="unknown-kind"),
            pytest.param(record({"k": "m", "n": 9}), id="no-fields"),
            pytest.param(message(9, n="9"), id="seq-not-int"),
            pytest.param(message(9, lv=True), id="level-bool"),
            pytest.param(message(9, lv=2**63), id="level-too-big"),
            pytest.param(message(9, ch=5), id="channel-not-str"),
            pytest.param(message(9, t="soon"), id="time-not-number"),
            pytest.param(message(9, t=10**400), id="time-too-big"),
            pytest.param(message(9, b=[1]), id="body-not-dict"),
            pytest.param(record({"k": "d", "n": "1"}), id="done-not-list"),
            pytest.param(record({"k": "d", "n": [True]}), id="done-bool"),
            pytest.param(record([1, 2]), id="not-an-object"),
            pytest.param(b"zzzzzzzz {}\n", id="crc-not-hex"),
            pytest.param(b"\n", id="empty-line"),
            pytest.param(b"{}\n", id="short"),
            pytest.param(_line(b"[" * 10**5), id="too-deep"),
            pytest.param(_line(b"\xff\xfe"), id="not-utf8"),
        ],
    )
    def test_odd_records_are_skipped(
        self, tmp_path: Path, line: bytes
    ) -> None:
        """A record the old spool did not write is skipped, no more."""
        directory = _directory(tmp_path)
        (directory / SEGMENT).write_bytes(message(1) + line + message(2))
        spool, adopted = opened(directory)
        assert [body(1), body(2)] == [spool.read(e) for e in adopted]
        spool.close()
