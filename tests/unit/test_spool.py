"""
Tests for the durable spool (``_spool.py``).

Everything runs on real files under ``tmp_path``: the spool's guarantees
are about ``flock``, ``fsync`` and torn writes, which a fake file system
would only pretend to keep. Processes that die are real processes killed
with ``SIGKILL``; nothing sleeps.
"""

from __future__ import annotations

import errno
import json
import os
import re
import select
import signal
import stat
import subprocess
import sys
import tempfile
import textwrap
import threading
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from polybot_loghandler import _spool as spool_module
from polybot_loghandler._spool import (
    Spool,
    SpoolEntry,
    SpoolStatus,
    purge,
    status,
)
from polybot_loghandler.exceptions import PolybotError
from tests.support.helpers import run_forked

ROOT = Path(__file__).resolve().parents[2]
# 2024-01-30T14:23:45Z
T0 = 1706624625.0
INFO, WARNING, ERROR = 20, 30, 40
LINE = re.compile(rb"[0-9a-f]{8} \{.*\}\n")
FOREIGN = "1-00ff00ff00ff00ff.spool"  # a segment some dead process left
WAIT = 60.0  # seconds a child may take to answer before the test fails


class Clock:
    """
    A clock that moves only when told to.
    """

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _new(directory: Path, **options: Any) -> Spool:
    """
    A spool on *directory* with a hand-driven clock.
    """
    return Spool(directory, clock=Clock(), **options)


def _opened(directory: Path, **options: Any) -> tuple[Spool, list[SpoolEntry]]:
    """
    A spool on *directory*, opened, with what it adopted.
    """
    spool = _new(directory, **options)
    return spool, spool.open()


def _body(n: int, size: int = 0) -> dict[str, Any]:
    """
    A message body as the renderer makes it, padded to about *size*.
    """
    return {
        "allowed_mentions": {"parse": []},
        "embeds": [{"title": f"Order {n} — filled ✅", "color": 0x2ECC71}],
        "padding": "x" * size,
    }


def _record(record: Any) -> bytes:
    """
    One record line, encoded independently of the spool.
    """
    data = json.dumps(record, separators=(",", ":")).encode()
    return f"{zlib.crc32(data):08x} ".encode() + data + b"\n"


def _message(seq: int, **fields: Any) -> bytes:
    """
    A message record line with defaults for what the test leaves out.
    """
    record = {"k": "m", "n": seq, "ch": "alerts", "lv": WARNING}
    record |= {"t": T0 + seq, "b": _body(seq)} | fields
    return _record(record)


def _size(n: int, pad: int = 0) -> int:
    """
    Bytes of the record the spool writes for ``_body(n, pad)``.
    """
    record = {"k": "m", "n": 1, "ch": "alerts", "lv": WARNING, "t": T0}
    return len(spool_module._line(record | {"b": _body(n, pad)}))


def _segments(directory: Path) -> list[str]:
    """
    The segment files in *directory*.
    """
    return sorted(p.name for p in directory.glob("*.spool"))


def _disk(directory: Path) -> int:
    """
    Bytes of every file in *directory*.
    """
    return sum(p.stat().st_size for p in directory.iterdir())


def _refs(entries: list[SpoolEntry]) -> list[tuple[str, int]]:
    """
    The refs of *entries*, in their order.
    """
    return [e.ref for e in entries]


# -- the basics ---------------------------------------------------------------


class TestRoundTrip:
    """
    Append, commit, read, done, and what another spool finds after close.
    """

    def test_append_commit_read(self, tmp_path: Path) -> None:
        spool, adopted = _opened(tmp_path / "spool")
        assert adopted == []
        entries = [
            spool.append("alerts", WARNING, T0 + n, _body(n))[0]
            for n in range(3)
        ]
        assert spool.uncommitted
        # before commit the bodies come from the buffer
        assert [spool.read(e) for e in entries] == [_body(n) for n in range(3)]
        spool.commit()
        assert not spool.uncommitted
        assert spool.last_commit == T0
        # after commit, from disk
        assert [spool.read(e) for e in entries] == [_body(n) for n in range(3)]
        assert spool.pending == 3
        assert spool.pending_bytes == sum(e.size for e in entries)
        assert spool.entries() == entries
        spool.close()

    def test_entry_fields(self, tmp_path: Path) -> None:
        spool, _ = _opened(tmp_path / "spool")
        entry, evicted = spool.append("trades_paper", ERROR, T0, _body(1))
        assert evicted == []
        assert entry.channel == "trades_paper"
        assert entry.level == ERROR
        assert entry.time == T0
        assert entry.ref[1] == 1
        spool.commit()
        (name,) = _segments(tmp_path / "spool")
        assert entry.ref[0] == name
        assert entry.size == (tmp_path / "spool" / name).stat().st_size
        spool.close()

    def test_on_disk_format(self, tmp_path: Path) -> None:
        directory = tmp_path / "spool"
        spool, _ = _opened(directory)
        first, _ = spool.append("alerts", WARNING, T0, _body(1))
        spool.append("alerts", ERROR, T0 + 1, {"text": "line\nbreak é"})
        spool.commit()
        spool.done([first])
        spool.commit()
        (name,) = _segments(directory)
        lines = (directory / name).read_bytes().splitlines(keepends=True)
        assert len(lines) == 3
        records = []
        for line in lines:
            assert LINE.fullmatch(line)
            crc, data = line[:8], line[9:-1]
            assert int(crc, 16) == zlib.crc32(data)
            records.append(json.loads(data))
        assert records == [
            {"k": "m", "n": 1, "ch": "alerts", "lv": WARNING, "t": T0}
            | {"b": _body(1)},
            {"k": "m", "n": 2, "ch": "alerts", "lv": ERROR, "t": T0 + 1}
            | {"b": {"text": "line\nbreak é"}},
            {"k": "d", "n": [1]},
        ]
        assert "é".encode() in lines[1]  # greppable as written
        spool.close()

    def test_done_entries_do_not_come_back(self, tmp_path: Path) -> None:
        directory = tmp_path / "spool"
        spool, _ = _opened(directory)
        entries = [
            spool.append("alerts", WARNING, T0 + n, _body(n))[0]
            for n in range(5)
        ]
        spool.commit()
        spool.done([entries[1], entries[3]])
        spool.close()
        again, adopted = _opened(directory)
        assert _refs(adopted) == _refs([entries[0], entries[2], entries[4]])
        assert adopted == [entries[0], entries[2], entries[4]]
        assert [again.read(e) for e in adopted] == [
            _body(0),
            _body(2),
            _body(4),
        ]
        again.close()

    def test_adopted_oldest_first(self, tmp_path: Path) -> None:
        directory = tmp_path / "spool"
        one, _ = _opened(directory)
        two, _ = _opened(directory)
        late, _ = one.append("alerts", WARNING, T0 + 10, _body(1))
        early, _ = two.append("alerts", ERROR, T0, _body(2))
        tie, _ = two.append("alerts", WARNING, T0 + 10, _body(3))
        one.close()
        two.close()
        _, adopted = _opened(directory)
        assert adopted == [early, *sorted([late, tie], key=lambda e: e.ref)]

    def test_done_before_commit_is_never_written(self, tmp_path: Path) -> None:
        directory = tmp_path / "spool"
        spool, _ = _opened(directory)
        entry, _ = spool.append("alerts", WARNING, T0, _body(1))
        kept, _ = spool.append("alerts", WARNING, T0, _body(2))
        spool.done([entry])
        assert spool.read(entry) is None
        spool.commit()
        (name,) = _segments(directory)
        assert (directory / name).read_bytes().count(b"\n") == 1
        assert spool.read(kept) == _body(2)
        spool.close()

    def test_done_twice_and_unknown_entries_are_ignored(
        self, tmp_path: Path
    ) -> None:
        spool, _ = _opened(tmp_path / "spool")
        entry, _ = spool.append("alerts", WARNING, T0, _body(1))
        stranger = SpoolEntry(("9-00.spool", 1), "alerts", WARNING, T0, 10)
        spool.done([entry, entry, stranger])
        spool.done([entry])
        assert spool.pending == 0
        assert spool.pending_bytes == 0
        assert spool.read(stranger) is None
        spool.close()

    def test_close_is_idempotent_and_deletes_empty_segments(
        self, tmp_path: Path
    ) -> None:
        directory = tmp_path / "spool"
        spool, _ = _opened(directory)
        entry, _ = spool.append("alerts", WARNING, T0, _body(1))
        spool.commit()
        spool.done([entry])
        spool.close()
        spool.close()
        assert _segments(directory) == []
        assert spool.pending == 0
        # and it opens again
        assert spool.open() == []
        spool.close()

    def test_close_keeps_pending_segments(self, tmp_path: Path) -> None:
        directory = tmp_path / "spool"
        spool, _ = _opened(directory)
        spool.append("alerts", WARNING, T0, _body(1))
        spool.close()  # commits
        assert len(_segments(directory)) == 1

    def test_permissions_and_names(self, tmp_path: Path) -> None:
        directory = tmp_path / "deep" / "spool"
        spool, _ = _opened(directory)
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700
        (name,) = _segments(directory)
        assert re.fullmatch(rf"{os.getpid()}-[0-9a-f]+\.spool", name)
        mode = (directory / name).stat().st_mode
        assert stat.S_IMODE(mode) == 0o600
        spool.close()

    def test_misuse(self, tmp_path: Path) -> None:
        spool = _new(tmp_path / "spool")
        with pytest.raises(RuntimeError, match="not open"):
            spool.append("alerts", WARNING, T0, _body(1))
        with pytest.raises(RuntimeError, match="not open"):
            spool.adopt()
        spool.commit()  # nothing to do
        spool.open()
        with pytest.raises(RuntimeError, match="already open"):
            spool.open()
        with pytest.raises(TypeError):
            spool.append("alerts", WARNING, T0, {"x": object()})
        assert spool.pending == 0
        spool.close()

    def test_needs_posix(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(spool_module, "_POSIX", False)
        spool = Spool(tmp_path / "spool")
        with pytest.raises(PolybotError, match="POSIX"):
            spool.open()
        with pytest.raises(PolybotError, match="POSIX"):
            status(tmp_path / "spool")
        assert not (tmp_path / "spool").exists()

    def test_lone_surrogates_are_kept(self, tmp_path: Path) -> None:
        spool, _ = _opened(tmp_path / "spool")
        body = {"content": "bad \udcff name"}
        entry, _ = spool.append("alerts", WARNING, T0, body)
        spool.commit()
        assert spool.read(entry) == body
        spool.close()


# -- ownership ----------------------------------------------------------------


class TestOwnership:
    """
    A segment belongs to the one spool holding its lock.
    """

    def test_a_live_segment_is_not_adopted(self, tmp_path: Path) -> None:
        directory = tmp_path / "spool"
        first, _ = _opened(directory)
        entry, _ = first.append("alerts", WARNING, T0, _body(1))
        first.commit()
        # flock is per open file description: this holds in one process
        second, adopted = _opened(directory)
        assert adopted == []
        assert second.adopt() == []
        first.close()
        assert second.adopt() == [entry]
        assert second.read(entry) == _body(1)
        assert second.adopt() == []  # once
        second.close()

    def test_done_marks_go_to_the_adopted_segment(
        self, tmp_path: Path
    ) -> None:
        directory = tmp_path / "spool"
        first, _ = _opened(directory)
        entries = [
            first.append("alerts", WARNING, T0 + n, _body(n))[0]
            for n in range(3)
        ]
        first.close()
        second, adopted = _opened(directory)
        assert adopted == entries
        second.done(entries[:1])
        second.commit()
        name = entries[0].ref[0]
        last = (directory / name).read_bytes().splitlines()[-1]
        assert json.loads(last[9:]) == {"k": "d", "n": [1]}
        second.done(entries[1:])
        second.commit()
        assert name not in _segments(directory)  # nothing pending: deleted
        second.close()

    def test_lock_is_checked_against_the_path(self, tmp_path: Path) -> None:
        path = tmp_path / "a.spool"
        path.write_bytes(b"")
        fd = os.open(path, os.O_RDWR)
        try:
            # the owner replaced the file between our open and our lock
            (tmp_path / "b.spool").write_bytes(b"")
            (tmp_path / "b.spool").replace(path)
            assert not spool_module._lock(fd, path)
            path.unlink()
            assert not spool_module._lock(fd, path)
        finally:
            os.close(fd)

    def test_stale_rewrite_is_removed_on_adoption(
        self, tmp_path: Path
    ) -> None:
        directory = tmp_path / "spool"
        directory.mkdir()
        (directory / FOREIGN).write_bytes(_message(1))
        (directory / (FOREIGN + ".tmp")).write_bytes(_message(1)[:10])
        spool, adopted = _opened(directory)
        assert len(adopted) == 1
        assert not (directory / (FOREIGN + ".tmp")).exists()
        spool.close()


# -- damaged files ------------------------------------------------------------


class TestDamage:
    """
    Reading a segment never raises: what is damaged is skipped and counted.
    """

    def test_torn_last_line(self, tmp_path: Path) -> None:
        directory = tmp_path / "spool"
        directory.mkdir()
        torn = _message(4)[:30]
        good = _message(1) + _message(2) + _message(3)
        (directory / FOREIGN).write_bytes(good + torn)
        spool, adopted = _opened(directory)
        assert spool.corrupt == 1
        assert [e.ref[1] for e in adopted] == [1, 2, 3]
        assert [spool.read(e) for e in adopted] == [
            _body(n) for n in (1, 2, 3)
        ]
        # the adopter's done mark starts on a line of its own
        spool.done(adopted[:1])
        own, _ = spool.append("alerts", WARNING, T0, _body(9))
        spool.commit()
        lines = (directory / FOREIGN).read_bytes().split(b"\n")
        assert lines[3] == torn
        assert json.loads(lines[4][9:]) == {"k": "d", "n": [1]}
        assert lines[5] == b""
        assert spool.read(own) == _body(9)
        spool.close()
        again, adopted = _opened(directory)
        assert again.corrupt == 1  # the torn record, now a whole bad line
        assert [e.ref[1] for e in adopted if e.ref[0] == FOREIGN] == [2, 3]
        assert own in adopted
        assert again.read(own) == _body(9)
        again.close()

    def test_corrupt_crc_in_the_middle(self, tmp_path: Path) -> None:
        directory = tmp_path / "spool"
        directory.mkdir()
        bad = _message(3).replace(b'"lv":30', b'"lv":50')
        lines = [_message(1), _message(2), bad, _message(4), _message(5)]
        (directory / FOREIGN).write_bytes(b"".join(lines))
        spool, adopted = _opened(directory)
        assert spool.corrupt == 1
        assert [e.ref[1] for e in adopted] == [1, 2, 4, 5]
        spool.close()

    @pytest.mark.parametrize(
        ("line", "corrupt"),
        [
            pytest.param(_record({"k": "x", "n": 9}), 0, id="unknown-kind"),
            pytest.param(_record({"k": "m", "n": 9}), 1, id="no-fields"),
            pytest.param(_message(9, n="9"), 1, id="seq-not-int"),
            pytest.param(_message(9, lv=True), 1, id="level-bool"),
            pytest.param(_message(2**64), 1, id="seq-too-big"),
            pytest.param(_message(9, t=10**400), 1, id="time-too-big"),
            pytest.param(_message(9, b=[1]), 1, id="body-not-dict"),
            pytest.param(_record({"k": "d", "n": "1"}), 1, id="done-not-list"),
            pytest.param(_record([1, 2]), 1, id="not-an-object"),
            pytest.param(b"zzzzzzzz {}\n", 1, id="crc-not-hex"),
            pytest.param(b"\n", 0, id="empty-line"),
            pytest.param(b"{}\n", 1, id="short"),
        ],
    )
    def test_odd_records(
        self, tmp_path: Path, line: bytes, corrupt: int
    ) -> None:
        directory = tmp_path / "spool"
        directory.mkdir()
        (directory / FOREIGN).write_bytes(_message(1) + line + _message(2))
        spool, adopted = _opened(directory)
        assert spool.corrupt == corrupt
        assert [e.ref[1] for e in adopted] == [1, 2]
        spool.close()

    def test_repeated_record_counts_once(self, tmp_path: Path) -> None:
        directory = tmp_path / "spool"
        directory.mkdir()
        (directory / FOREIGN).write_bytes(_message(1) * 2 + _message(2))
        spool, adopted = _opened(directory)
        assert [e.ref[1] for e in adopted] == [1, 2]
        assert spool.read(adopted[0]) == _body(1)
        spool.close()

    def test_garbage_and_empty_files(self, tmp_path: Path) -> None:
        directory = tmp_path / "spool"
        directory.mkdir()
        (directory / "2-garbage.spool").write_bytes(
            b"\x00\xff garbage\n\x89PNG"
        )
        (directory / "3-empty.spool").write_bytes(b"")
        (directory / FOREIGN).write_bytes(_message(1))
        (directory / "notes.txt").write_text("not a segment\n")
        (directory / "4-dir.spool").mkdir()
        spool, adopted = _opened(directory)
        assert [e.ref for e in adopted] == [(FOREIGN, 1)]
        assert spool.corrupt == 2  # a bad line and a torn one
        spool.commit()
        # nothing pending in them: gone; other files are left alone
        assert not (directory / "2-garbage.spool").exists()
        assert not (directory / "3-empty.spool").exists()
        assert (directory / "notes.txt").exists()
        assert (directory / "4-dir.spool").is_dir()
        spool.close()

    def test_read_of_a_damaged_record_is_none(self, tmp_path: Path) -> None:
        directory = tmp_path / "spool"
        spool, _ = _opened(directory)
        entry, _ = spool.append("alerts", WARNING, T0, _body(1))
        spool.commit()
        path = directory / entry.ref[0]
        data = path.read_bytes()
        with path.open("r+b") as file:  # the disk rots under us
            file.write(data[:20] + b"X" + data[21:])
        assert spool.read(entry) is None
        spool.close()


# -- the size cap -------------------------------------------------------------


class TestEviction:
    """
    ``max_bytes`` bounds the pending bytes: the oldest of the lowest level
    goes first.
    """

    def test_lowest_level_oldest_first(self, tmp_path: Path) -> None:
        size = _size(1)
        spool, _ = _opened(tmp_path / "spool", max_bytes=6 * size + 10)
        warnings, infos, evicted = [], [], []
        for n in range(6):
            level = WARNING if n % 2 else INFO
            entry, dropped = spool.append("alerts", level, T0 + n, _body(n))
            (warnings if level == WARNING else infos).append(entry)
            evicted += dropped
        assert evicted == []
        for n in range(6, 10):
            entry, dropped = spool.append("alerts", WARNING, T0 + n, _body(n))
            warnings.append(entry)
            evicted += dropped
            assert spool.pending_bytes <= spool.max_bytes
        assert evicted == [*infos, warnings[0]]
        assert spool.entries() == warnings[1:]
        assert spool.read(infos[0]) is None
        spool.close()

    def test_the_new_one_itself(self, tmp_path: Path) -> None:
        size = _size(1)
        spool, _ = _opened(tmp_path / "spool", max_bytes=2 * size)
        spool.append("alerts", ERROR, T0, _body(1))
        spool.append("alerts", ERROR, T0 + 1, _body(2))
        entry, evicted = spool.append("alerts", INFO, T0 + 2, _body(3))
        assert evicted == [entry]
        errors = spool.entries()
        huge, evicted = spool.append(
            "alerts", ERROR, T0 + 5, _body(4, 10 * size)
        )
        assert evicted == [*errors, huge]
        assert spool.pending == 0
        spool.close()

    def test_evicted_committed_entries_stay_done(self, tmp_path: Path) -> None:
        directory = tmp_path / "spool"
        size = _size(1)
        spool, _ = _opened(directory, max_bytes=3 * size)
        spool.append("alerts", INFO, T0, _body(1))
        spool.commit()
        kept = [
            spool.append("alerts", WARNING, T0 + n, _body(n))[0]
            for n in range(2, 5)
        ]
        assert spool.entries() == kept
        spool.close()
        again, adopted = _opened(directory)
        assert adopted == kept
        again.close()

    def test_oldest_by_time_not_by_number(self, tmp_path: Path) -> None:
        directory = tmp_path / "spool"
        directory.mkdir()
        # a dead process appended these newest first
        lines = [_message(n, t=T0 - n) for n in range(1, 6)]
        (directory / FOREIGN).write_bytes(b"".join(lines))
        room = sum(map(len, lines)) + 2 * _size(9)
        spool, adopted = _opened(directory, max_bytes=room)
        assert [e.ref[1] for e in adopted] == [5, 4, 3, 2, 1]
        late, _ = spool.append("alerts", WARNING, T0 - 10, _body(9))
        early, evicted = spool.append("alerts", WARNING, T0 - 20, _body(9))
        assert evicted == []
        _, evicted = spool.append("alerts", WARNING, T0, _body(9, 600))
        assert len(evicted) >= 3
        assert evicted == [early, late, *adopted][: len(evicted)]
        spool.close()

    def test_adopted_entries_are_evicted_by_the_next_append(
        self, tmp_path: Path
    ) -> None:
        directory = tmp_path / "spool"
        size = _size(1)
        old, _ = _opened(directory)
        olds = [
            old.append("alerts", WARNING, T0 + n, _body(n))[0]
            for n in range(4)
        ]
        old.close()
        spool, adopted = _opened(directory, max_bytes=2 * size)
        assert adopted == olds  # adoption does not evict
        _, evicted = spool.append("alerts", WARNING, T0 + 9, _body(9))
        assert evicted == olds[:3]
        assert spool.pending_bytes <= spool.max_bytes
        spool.close()


# -- disk space ---------------------------------------------------------------


class TestDisk:
    """
    Rotation, deletion of spent segments, compaction: the disk stays bounded.
    """

    def test_rotation_and_deletion(self, tmp_path: Path) -> None:
        directory = tmp_path / "spool"
        size = _size(1)
        spool, _ = _opened(directory, segment_bytes=4 * size)
        batches = []
        for _ in range(3):
            batches.append(
                [
                    spool.append("alerts", WARNING, T0 + n, _body(n))[0]
                    for n in range(5)
                ]
            )
            spool.commit()
        names = [batch[0].ref[0] for batch in batches]
        assert len(set(names)) == 3  # each commit filled a segment
        assert len(_segments(directory)) == 4  # and one active, empty
        spool.done(batches[0] + batches[2])
        spool.commit()
        left = _segments(directory)
        assert len(left) == 2
        assert names[1] in left
        assert names[0] not in left
        assert names[2] not in left
        assert [spool.read(e) for e in batches[1]] == [
            _body(n) for n in range(5)
        ]
        spool.close()

    def test_compaction_keeps_refs_and_contents(self, tmp_path: Path) -> None:
        directory = tmp_path / "spool"
        size = _size(1)
        spool, _ = _opened(directory, segment_bytes=8 * size)
        entries = [
            spool.append("alerts", WARNING, T0 + n, _body(n))[0]
            for n in range(10)
        ]
        spool.commit()  # rotates: the ten are in a segment not active
        path = directory / entries[0].ref[0]
        before = path.read_bytes().splitlines(keepends=True)
        inode = path.stat().st_ino
        spool.done(entries[:6])
        spool.commit()
        after = path.read_bytes().splitlines(keepends=True)
        assert path.stat().st_ino != inode
        assert after == before[6:]  # the live records, byte for byte
        assert not path.with_name(path.name + ".tmp").exists()
        assert [spool.read(e) for e in entries[6:]] == [
            _body(n) for n in range(6, 10)
        ]
        # the lock moved to the new file: nobody else can adopt it
        other, adopted = _opened(directory)
        assert adopted == []
        # marks after compaction land in the new file
        spool.done(entries[6:7])
        spool.commit()
        spool.close()
        assert other.adopt() == entries[7:]
        assert [other.read(e) for e in entries[7:]] == [
            _body(n) for n in range(7, 10)
        ]
        other.close()

    def test_done_while_compacting(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        directory = tmp_path / "spool"
        size = _size(1)
        spool, _ = _opened(directory, segment_bytes=8 * size)
        entries = [
            spool.append("alerts", WARNING, T0 + n, _body(n))[0]
            for n in range(10)
        ]
        spool.commit()
        copy = spool_module._copy

        def racing(*args: Any) -> Any:
            # the worker marks one done while the commit thread copies
            spool.done(entries[8:9])
            return copy(*args)

        monkeypatch.setattr(spool_module, "_copy", racing)
        spool.done(entries[:6])
        spool.commit()
        monkeypatch.undo()
        path = directory / entries[0].ref[0]
        assert len(path.read_bytes().splitlines()) == 4  # copied, still
        assert spool.read(entries[8]) is None
        assert spool.pending == 3
        assert spool.entries() == [entries[6], entries[7], entries[9]]
        spool.commit()  # its mark goes to the new file
        spool.close()
        again, adopted = _opened(directory)
        assert adopted == [entries[6], entries[7], entries[9]]
        again.close()

    def test_half_live_is_not_compacted(self, tmp_path: Path) -> None:
        directory = tmp_path / "spool"
        size = _size(1)
        spool, _ = _opened(directory, segment_bytes=8 * size)
        entries = [
            spool.append("alerts", WARNING, T0 + n, _body(n))[0]
            for n in range(10)
        ]
        spool.commit()
        path = directory / entries[0].ref[0]
        inode = path.stat().st_ino
        spool.done(entries[:4])
        spool.commit()
        assert path.stat().st_ino == inode
        spool.close()

    @pytest.mark.parametrize("keep_every", [0, 7])
    def test_disk_stays_bounded(self, tmp_path: Path, keep_every: int) -> None:
        directory = tmp_path / "spool"
        max_bytes = 20_000
        spool, _ = _opened(directory, max_bytes=max_bytes, segment_bytes=4096)
        kept: list[SpoolEntry] = []
        appended = n = 0
        largest = 0
        while appended < 20 * max_bytes:
            batch = []
            for _ in range(10):
                entry, evicted = spool.append(
                    "alerts", WARNING, T0 + n, _body(n, n % 300)
                )
                assert evicted == []
                appended += entry.size
                n += 1
                if keep_every and n % keep_every == 0:
                    kept.append(entry)
                else:
                    batch.append(entry)
            spool.commit()
            spool.done(batch)
            spool.commit()
            largest = max(largest, _disk(directory))
            if spool.pending_bytes > max_bytes // 2:  # the engine catches up
                spool.done(kept[: len(kept) // 2])
                kept = kept[len(kept) // 2 :]
        assert largest <= 2 * max_bytes + 2 * 4096 + 4096
        if not keep_every:
            assert _disk(directory) < 3 * 4096
        assert [spool.read(e) is not None for e in kept] == [True] * len(kept)
        spool.close()
        again, adopted = _opened(directory)
        assert adopted == kept
        again.close()


# -- commits that fail --------------------------------------------------------


class TestFailedCommit:
    """
    A write the disk refuses is undone and retried, never half-kept.
    """

    @pytest.mark.parametrize("partial", [False, True])
    def test_write_failure(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, partial: bool
    ) -> None:
        directory = tmp_path / "spool"
        spool, _ = _opened(directory)
        first, _ = spool.append("alerts", WARNING, T0, _body(1))
        spool.commit()
        path = directory / first.ref[0]
        size = path.stat().st_size
        second, _ = spool.append("alerts", WARNING, T0, _body(2))
        spool.done([first])
        spool.clock.now = T0 + 1  # type: ignore[attr-defined]
        real_write = os.write

        def full(fd: int, data: Any) -> int:
            if partial:
                real_write(fd, bytes(data[:7]))
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(os, "write", full)
        with pytest.raises(OSError, match="No space"):
            spool.commit()
        monkeypatch.undo()
        assert path.stat().st_size == size
        assert spool.uncommitted
        assert spool.last_commit == T0
        assert spool.read(second) == _body(2)
        spool.commit()
        assert spool.last_commit == T0 + 1
        assert not spool.uncommitted
        assert spool.read(second) == _body(2)
        spool.close()
        again, adopted = _opened(directory)
        assert adopted == [second]
        assert again.corrupt == 0
        again.close()


# -- concurrency within a process ---------------------------------------------


def test_commits_in_another_thread(tmp_path: Path) -> None:
    """
    The engine commits from a thread while the worker appends.
    """
    directory = tmp_path / "spool"
    size = _size(1)
    spool, _ = _opened(directory, segment_bytes=20 * size)
    stop = threading.Event()
    errors: list[BaseException] = []

    def committer() -> None:
        try:
            while not stop.is_set():
                spool.commit()
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=committer)
    thread.start()
    kept: list[SpoolEntry] = []
    try:
        for n in range(2000):
            entry, _ = spool.append("alerts", WARNING, T0 + n, _body(n))
            assert spool.read(entry) == _body(n)
            if n % 3:
                spool.done([entry])
            else:
                kept.append(entry)
    finally:
        stop.set()
        thread.join()
    assert errors == []
    bodies = [_body(n) for n in range(0, 2000, 3)]
    assert [spool.read(e) for e in kept] == bodies
    spool.close()
    again, adopted = _opened(directory)
    assert adopted == kept
    assert [again.read(e) for e in adopted] == bodies
    again.close()


# -- real processes -----------------------------------------------------------

CHILD = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from polybot_loghandler._spool import Spool

    spool = Spool(Path(sys.argv[1]))
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
            body = {"content": "from the child"}
            say(refs([
                spool.append("alerts", 30, float(n), body)[0]
                for n in range(int(args[0]))
            ]))
        elif command == "commit":
            spool.commit()
            say("ok")
        elif command == "flood":  # until killed
            body = {"content": "from the child"}
            while True:
                batch = [
                    spool.append("alerts", 30, 0.0, body)[0]
                    for n in range(50)
                ]
                spool.commit()
                say(refs(batch))
    """
)


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
            env=env,
        )

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
        ready, _, _ = select.select([stdout], [], [], WAIT)
        line = stdout.readline() if ready else b""
        if not line:
            self.kill()
            assert self.process.stderr is not None
            pytest.fail(
                "the child did not answer: "
                f"{self.process.stderr.read().decode()}"
            )
        return json.loads(line)

    def refs(self, command: str) -> list[tuple[str, int]]:
        """
        Send *command*; return the refs the child answers with.
        """
        return [(name, seq) for name, seq in self.ask(command)]

    def kill(self) -> None:
        """
        ``kill -9``: no commit, no close, no atexit.
        """
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()
        assert self.process.returncode in (-signal.SIGKILL, 0)
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                pipe.close()
        if self.process.stderr is not None:
            self.process.stderr.close()


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


class TestProcesses:
    """
    What ``kill -9`` leaves, and who owns what, across real processes.
    """

    def test_kill_keeps_what_was_committed(
        self, tmp_path: Path, children: Callable[[], Child]
    ) -> None:
        child = children()
        assert child.refs("open") == []
        committed = child.refs("append 20")
        assert child.ask("commit") == "ok"
        child.refs("append 5")  # not committed: may or may not survive
        spool, adopted = _opened(tmp_path / "spool")
        assert adopted == []  # the child is alive and holds it
        child.kill()
        adopted = spool.adopt()
        refs = _refs(adopted)
        assert len(refs) == len(set(refs))
        assert set(committed) <= set(refs)
        assert all(
            spool.read(e) == {"content": "from the child"} for e in adopted
        )
        spool.close()

    def test_kill_in_the_middle_of_commits(
        self, tmp_path: Path, children: Callable[[], Child]
    ) -> None:
        child = children()
        child.ask("open")
        committed = child.refs("flood")
        for _ in range(30):
            committed += [(name, seq) for name, seq in child.answer()]
        child.kill()  # while it appends and commits, as fast as it can
        spool, adopted = _opened(tmp_path / "spool")
        refs = _refs(adopted)
        assert len(refs) == len(set(refs))
        assert set(committed) <= set(refs)
        assert all(
            spool.read(e) == {"content": "from the child"} for e in adopted
        )
        spool.done(adopted)
        spool.close()
        assert _segments(tmp_path / "spool") == []

    def test_live_processes_never_adopt_each_other(
        self, tmp_path: Path, children: Callable[[], Child]
    ) -> None:
        one, two = children(), children()
        assert one.refs("open") == []
        ones = one.refs("append 5")
        one.ask("commit")
        assert two.refs("open") == []
        twos = two.refs("append 3")
        two.ask("commit")
        assert one.refs("adopt") == []
        spool, adopted = _opened(tmp_path / "spool")
        assert adopted == []
        one.kill()
        assert two.refs("adopt") == ones
        assert spool.adopt() == []  # two owns them now
        two.kill()
        assert sorted(_refs(spool.adopt())) == sorted(ones + twos)
        spool.close()


def test_forked_child_keeps_the_parents_lock(tmp_path: Path) -> None:
    """
    A forked child that forgets (or closes) leaves the parent's lock held.
    """
    directory = tmp_path / "spool"
    parent, _ = _opened(directory)
    entry, _ = parent.append("alerts", WARNING, T0, _body(1))
    parent.commit()

    def child() -> int:
        try:
            parent.commit()
        except RuntimeError:
            pass
        else:
            return 2
        parent.close()  # in a child, close only forgets
        own = _new(directory)
        adopted = own.open()
        own.append("alerts", WARNING, T0, _body(2))
        own.close()  # leaves its message behind
        return 0 if adopted == [] and parent.pending == 0 else 1

    def forget() -> int:
        parent.forget_after_fork()
        own = _new(directory)
        adopted = own.open()  # the first child's, not the parent's
        own.done(adopted)
        own.close()
        return 0 if [e.ref[0] for e in adopted] != [entry.ref[0]] else 1

    assert run_forked(child, timeout=WAIT) == 0
    assert run_forked(forget, timeout=WAIT) == 0
    third, adopted = _opened(directory)
    assert adopted == []  # the parent still holds its segment
    assert parent.read(entry) == _body(1)
    parent.done([entry])
    parent.commit()
    parent.close()
    assert third.adopt() == []
    third.close()


# -- status and purge ---------------------------------------------------------


class TestStatusAndPurge:
    """
    The read-only view of a directory, and clearing what nobody holds.
    """

    def test_status(self, tmp_path: Path) -> None:
        directory = tmp_path / "spool"
        live, _ = _opened(directory)
        live.append("alerts", ERROR, T0 + 3, _body(3))
        live.commit()
        gone, _ = _opened(directory)
        gone.append("alerts", WARNING, T0 + 5, _body(1))
        gone.append("trades_paper", INFO, T0 + 7, _body(2))
        gone.close()
        (directory / FOREIGN).write_bytes(_message(1) + b"torn")
        found = status(directory, clock=Clock(T0 + 100))
        assert found == SpoolStatus(
            directory=directory,
            segments=3,
            live_segments=1,
            bytes=_disk(directory),
            pending={"alerts": 3, "trades_paper": 1},
            oldest=T0 + 1,
            corrupt=1,
            now=T0 + 100,
        )
        # it took nothing: the abandoned segments can still be adopted
        assert len(live.adopt()) == 3
        live.close()

    def test_status_of_nothing(self, tmp_path: Path) -> None:
        found = status(tmp_path / "missing", clock=Clock())
        assert (found.segments, found.pending, found.oldest) == (0, {}, None)

    def test_purge_spares_live_segments(self, tmp_path: Path) -> None:
        directory = tmp_path / "spool"
        live, _ = _opened(directory)
        mine, _ = live.append("alerts", WARNING, T0, _body(3))
        live.commit()
        gone, _ = _opened(directory)
        gone.append("alerts", WARNING, T0, _body(1))
        gone.append("alerts", WARNING, T0, _body(2))
        gone.close()
        (directory / FOREIGN).write_bytes(_message(1))
        (directory / "5-orphan.spool.tmp").write_bytes(b"half")
        assert purge(directory) == 3
        assert _segments(directory) == [mine.ref[0]]
        assert not (directory / "5-orphan.spool.tmp").exists()
        assert live.read(mine) == _body(3)
        assert purge(directory) == 0
        live.close()
        assert purge(tmp_path / "missing") == 0

    def test_purge_spares_a_live_process(
        self, tmp_path: Path, children: Callable[[], Child]
    ) -> None:
        child = children()
        child.ask("open")
        child.ask("append 4")
        child.ask("commit")
        assert purge(tmp_path / "spool") == 0
        assert status(tmp_path / "spool").live_segments == 1
        child.kill()
        assert purge(tmp_path / "spool") == 4
        assert _segments(tmp_path / "spool") == []


# -- the invariant, for any sequence ------------------------------------------

_APPEND = st.tuples(
    st.just("append"),
    st.sampled_from([INFO, WARNING, ERROR]),
    st.integers(0, 5),  # time: out of order, and ties
    st.integers(0, 400),  # body padding
)
_OPS = st.lists(
    st.one_of(
        _APPEND,
        _APPEND,
        _APPEND,
        st.tuples(st.just("done"), st.integers(0, 7), st.integers(1, 3)),
        st.tuples(st.just("commit")),
        st.tuples(st.just("reopen")),
        st.tuples(st.just("crash")),
    ),
    max_size=50,
)


@settings(
    max_examples=100,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(ops=_OPS)
def test_pending_is_appended_minus_done_minus_evicted(
    ops: list[tuple[Any, ...]],
) -> None:
    """
    Any appends, dones, commits, reopens and crashes keep the books.

    A crash (closing without unlocking or committing) brings back exactly
    what was pending at the last commit; eviction takes exactly the
    oldest of the lowest level.
    """
    max_bytes = 2000
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp) / "spool"
        options = {"max_bytes": max_bytes, "segment_bytes": 700}
        spool, _ = _opened(directory, **options)
        current: dict[tuple[str, int], tuple[SpoolEntry, dict[str, Any]]] = {}
        durable = dict(current)
        n = 0
        for op in ops:
            if op[0] == "append":
                _, level, when, pad = op
                n += 1
                body = _body(n, pad)
                entry, evicted = spool.append("alerts", level, when, body)
                current[entry.ref] = (entry, body)
                expected = []
                while sum(e.size for e, _ in current.values()) > max_bytes:
                    victim = min(
                        (e for e, _ in current.values()),
                        key=lambda e: (e.level, e.time, e.ref),
                    )
                    expected.append(victim)
                    del current[victim.ref]
                assert evicted == expected
            elif op[0] == "done":
                _, start, step = op
                spool.done([e for e, _ in list(current.values())[start::step]])
                for ref in list(current)[start::step]:
                    del current[ref]
            elif op[0] == "commit":
                spool.commit()
                durable = dict(current)
            else:
                if op[0] == "reopen":
                    spool.close()
                else:  # kill -9, as far as this process can tell
                    spool.forget_after_fork()
                    current = dict(durable)
                spool, adopted = _opened(directory, **options)
                assert sorted(adopted, key=lambda e: e.ref) == sorted(
                    (e for e, _ in current.values()), key=lambda e: e.ref
                )
                durable = dict(current)
            assert spool.pending == len(current)
            assert spool.pending_bytes == sum(
                e.size for e, _ in current.values()
            )
            assert spool.pending_bytes <= max_bytes
            assert {e.ref for e in spool.entries()} == set(current)
            for entry, body in current.values():
                assert spool.read(entry) == body
        spool.close()
