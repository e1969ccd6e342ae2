r"""
The durable spool: messages bound for Discord, kept on disk until sent.

The worker appends every rendered message to the spool before sending it
and marks it done once Discord accepted it (or it was dropped for a counted
reason). What is not done survives outages, exits and ``kill -9``: this
process delivers it later, or the next process that opens the directory.

On disk, a spool is a directory (0700) of *segments*, append-only files
(0600) named ``<pid>-<random hex>.spool``. A segment that another user
owns, or that others may write, is never adopted (see
:func:`._spooltrust.trusted_file`). A segment is text, one record a
line, ``<crc32 as 8 hex> <compact json>\n``: a message is
``{"k":"m","n":seq,"ch":channel,"lv":level,"t":time,"b":body}``, and the
messages that are done are listed by ``{"k":"d","n":[seq,...]}`` in their
own segment. Other files in the directory are left alone.

Each process writes to a segment of its own that it holds with an exclusive
``flock`` for its lifetime, so a segment whose lock can be taken belongs to
a process that is gone: another process *adopts* it (takes its lock, reads
its pending messages, later appends the done marks for them there), and
deletes it once nothing in it is pending. Segments rotate past a size, and
a segment less than half live is rewritten with only its live records
(same name, same sequence numbers, so references stay valid).

In memory, a spool keeps only an index of the pending messages (about 60
bytes each, in arrays), not their bodies: :meth:`Spool.read` reads a body
back with one ``pread``. Records appended since the last commit are held
as their encoded lines until it.

Crash-safety contract:

- ``kill -9`` at any moment forgets at most what was appended or marked
  done since the last :meth:`Spool.commit`: a commit writes and fsyncs
  before it returns, and a failed write is cut off and retried whole.
- A record torn by a crash, or damaged, is skipped and counted, never
  raised: every line carries its CRC, and a line is only whole once its
  ``\n`` is written. An adopter writes ``\n`` before appending to a torn
  segment, so its own records start on a fresh line.
- A message is owned by exactly one live process: the one holding its
  segment's lock (``flock`` locks die with their process). After taking a
  lock, the inode is checked against the path, as the previous owner may
  have rewritten or deleted the segment meanwhile.
- A message may come back after a crash only if it was delivered but its
  done mark was not yet committed. Compaction writes a complete copy,
  fsyncs it and renames it over the segment, so either version is whole.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
import stat
import sys
import threading
import time
import zlib
from array import array
from bisect import bisect_left, insort
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeGuard

from ._spooltrust import trusted_file
from .exceptions import PolybotError

try:
    import fcntl
except ImportError:  # pragma: no cover - not a POSIX system
    _POSIX = False
else:
    _POSIX = True

__all__ = ["Spool", "SpoolEntry", "SpoolStatus", "purge", "status"]

#: The name every segment ends with; a rewrite in progress adds ``.tmp``.
SUFFIX = ".spool"
TMP = ".tmp"
#: Bytes read at a time when a segment is scanned.
_CHUNK = 1 << 20
#: Tries at a fresh segment name before giving up.
_ATTEMPTS = 16
# getattr: the module must import (and open() explain) on any platform
_CLOEXEC: int = getattr(os, "O_CLOEXEC", 0)
_NOFOLLOW: int = getattr(os, "O_NOFOLLOW", 0)
_DIRECTORY: int = getattr(os, "O_DIRECTORY", 0)
_WRITE = os.O_RDWR | os.O_APPEND | _CLOEXEC | _NOFOLLOW
_COMPACT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
_ASCII = json.JSONEncoder(separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class SpoolEntry:
    """
    One pending message: what the engine needs without reading its body.

    Attributes:
        ref: Its segment's file name and sequence number: unique in the
            directory, and stable for the message's life.
        channel: The channel key, e.g. ``trades_paper``.
        level: The logging level.
        time: When the event was logged (epoch seconds).
        size: Bytes of its record on disk.
    """

    ref: tuple[str, int]
    channel: str
    level: int
    time: float
    size: int


@dataclass(frozen=True, slots=True)
class SpoolStatus:
    """
    What a spool directory holds, for ``polybot-loghandler spool status``.

    Attributes:
        directory: The spool directory.
        segments: Segment files in it.
        live_segments: Those held by a running process.
        bytes: Their total size.
        pending: Messages not done, per channel key.
        oldest: When the oldest pending message was logged, if any.
        corrupt: Records skipped as torn or damaged.
        now: The clock's reading when the status was taken.
        untrusted: Segments left out: another user owns them, or others
            may write them.
    """

    directory: Path
    segments: int
    live_segments: int
    bytes: int
    pending: dict[str, int]
    oldest: float | None
    corrupt: int
    now: float
    untrusted: int = 0


@dataclass(slots=True)
class _Scan:
    """
    What reading a segment found.

    Attributes:
        records: Message records by sequence number: offset, size, channel,
            level and time.
        done: Sequence numbers marked done.
        corrupt: Lines skipped as torn or damaged.
        size: Bytes read.
        torn: The last line has no newline.
    """

    records: dict[int, tuple[int, int, str, int, float]] = field(
        default_factory=dict
    )
    done: set[int] = field(default_factory=set)
    corrupt: int = 0
    size: int = 0
    torn: bool = False

    def pending(
        self,
    ) -> Iterator[tuple[int, tuple[int, int, str, int, float]]]:
        """The message records not marked done, with their numbers."""
        return (
            (seq, rec)
            for seq, rec in self.records.items()
            if seq not in self.done
        )


@dataclass(slots=True, eq=False)
class _Order:
    """
    One level's slots in a segment, oldest first (by time, then number).

    Attributes:
        slots: Slot numbers; done ones are skipped when they reach the
            front.
        start: The slots before it are done.
    """

    slots: array[int] = field(default_factory=lambda: array("q"))
    start: int = 0


@dataclass(slots=True, eq=False)
class _Segment:
    """
    A segment this spool holds locked, and its index.

    The index has a *slot* per message record, in sequence order, kept in
    parallel arrays rather than as objects: about 60 bytes a message
    whatever its size. Entries are made from it when asked for.

    Attributes:
        name: The file name (the first half of every ref in it).
        path: The file.
        fd: Its descriptor, which holds the lock.
        size: Bytes on disk.
        next_seq: The next message's sequence number.
        newline: The file ends in a torn record: write a newline first.
        seqs: Each slot's sequence number, ascending.
        offsets: Where its record is in the file; -1 until written.
        sizes: Its record's bytes.
        times: Its time.
        levels: Its level.
        channels: Its channel key.
        live: 1 while it is pending.
        count: Slots pending.
        live_bytes: Bytes on disk of the pending records.
        orders: Per level, the slots oldest first, for eviction.
        buf: Records appended but not yet written, by sequence number.
        inflight: Records being written by a commit.
        dones: Sequence numbers to mark done at the next commit.
    """

    name: str
    path: Path
    fd: int
    size: int = 0
    next_seq: int = 1
    newline: bool = False
    seqs: array[int] = field(default_factory=lambda: array("q"))
    offsets: array[int] = field(default_factory=lambda: array("q"))
    sizes: array[int] = field(default_factory=lambda: array("q"))
    times: array[float] = field(default_factory=lambda: array("d"))
    levels: array[int] = field(default_factory=lambda: array("q"))
    channels: list[str] = field(default_factory=list)
    live: bytearray = field(default_factory=bytearray)
    count: int = 0
    live_bytes: int = 0
    orders: dict[int, _Order] = field(default_factory=dict)
    buf: dict[int, bytes] = field(default_factory=dict)
    inflight: dict[int, bytes] = field(default_factory=dict)
    dones: list[int] = field(default_factory=list)

    def slot(self, seq: int) -> int | None:
        """The slot of message *seq*, if it is indexed."""
        seqs = self.seqs
        if not seqs:
            return None
        slot = seq - seqs[0]  # our own segments number densely
        if 0 <= slot < len(seqs) and seqs[slot] == seq:
            return slot
        slot = bisect_left(seqs, seq)
        return slot if slot < len(seqs) and seqs[slot] == seq else None

    def add(  # noqa: PLR0913 - one message's fields
        self,
        seq: int,
        channel: str,
        level: int,
        time: float,
        size: int,
        *,
        offset: int,
        order: bool = True,
    ) -> None:
        """
        Index a pending message (*seq* above every one indexed).

        Without *order*, the eviction order is left for :meth:`reorder`
        (cheaper for many at once, in any order of time).
        """
        slot = len(self.seqs)
        self.seqs.append(seq)
        self.offsets.append(offset)
        self.sizes.append(size)
        self.times.append(time)
        self.levels.append(level)
        self.channels.append(channel)
        self.live.append(1)
        self.count += 1
        if offset >= 0:
            self.live_bytes += size
        if not order:
            return
        found = self.orders.get(level)
        if found is None:
            found = self.orders[level] = _Order()
        slots = found.slots
        if len(slots) > found.start and self.times[slots[-1]] > time:
            insort(slots, slot, lo=found.start, key=self._age)
        else:  # events mostly come in order: the common case
            slots.append(slot)

    def reorder(self) -> None:
        """Build the eviction orders afresh from the pending slots."""
        levels: dict[int, list[int]] = {}
        for slot in self.pending():
            levels.setdefault(self.levels[slot], []).append(slot)
        self.orders = {
            level: _Order(array("q", sorted(slots, key=self._age)))
            for level, slots in levels.items()
        }

    def _age(self, slot: int) -> tuple[float, int]:
        return self.times[slot], self.seqs[slot]

    def kill(self, slot: int) -> None:
        """Unindex a pending message."""
        self.live[slot] = 0
        self.count -= 1
        if self.offsets[slot] >= 0:
            self.live_bytes -= self.sizes[slot]

    def entry(self, slot: int) -> SpoolEntry:
        """The entry for *slot*."""
        return SpoolEntry(
            (self.name, self.seqs[slot]),
            self.channels[slot],
            self.levels[slot],
            self.times[slot],
            self.sizes[slot],
        )

    def pending(self) -> Iterator[int]:
        """The pending slots, in sequence order."""
        live = self.live
        slot = live.find(1)
        while slot >= 0:
            yield slot
            slot = live.find(1, slot + 1)

    def oldest(self, level: int) -> int | None:
        """The oldest pending slot of *level*, if any."""
        order = self.orders.get(level)
        if order is None:
            return None
        slots, live = order.slots, self.live
        start = order.start
        while start < len(slots) and not live[slots[start]]:
            start += 1
        if start == len(slots):
            del self.orders[level]
            return None
        if start > 64 and start * 2 > len(slots):  # shed the done front
            del slots[:start]
            start = 0
        order.start = start
        return slots[start]


@dataclass(slots=True, eq=False)
class _Plan:
    """
    One segment's share of a commit: the bytes to append, and their fate.

    Attributes:
        segment: Where they go.
        data: The bytes, written with one ``os.write`` (unless it is cut
            short).
        start: The file's size before.
        offsets: Where each message record lands.
        dones: The sequence numbers marked done in *data*.
        ok: Written and fsynced.
        error: Why not.
        end: The file's size after a failure that could not be undone,
            or ``None``.
    """

    segment: _Segment
    data: bytes
    start: int
    offsets: list[tuple[int, int]]
    dones: list[int]
    ok: bool = False
    error: OSError | None = None
    end: int | None = None


class Spool:
    """
    A directory of segments where messages wait until they are done.

    :meth:`append`, :meth:`done` and :meth:`read` are cheap and do no I/O
    on new messages (``read`` of a committed one is one ``pread``);
    :meth:`commit` does the writing and may run in another thread while
    the others are called: the state is behind a lock, held only briefly
    (never across a write or an fsync).

    Args:
        directory: The spool directory; created (0700) by :meth:`open`.
        max_bytes: Bound on the pending bytes: appending past it evicts
            the oldest messages of the lowest level.
        segment_bytes: Size past which the active segment rotates;
            defaults to an eighth of *max_bytes*, at least 1 MiB.
        clock: Epoch seconds, for :attr:`last_commit`.
    """

    def __init__(
        self,
        directory: Path,
        *,
        max_bytes: int = 50 * 2**20,
        segment_bytes: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Configure; nothing is touched on disk before :meth:`open`."""
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        if segment_bytes is None:
            segment_bytes = max(2**20, max_bytes // 8)
        self.segment_bytes = segment_bytes
        self.clock = clock
        #: Records skipped as torn or damaged so far.
        self.corrupt = 0
        #: When the last commit that wrote everything finished, if any.
        self.last_commit: float | None = None
        #: Segments never adopted: another user owns them, or others may
        #: write them.
        self.foreign: set[str] = set()
        self._lock = threading.Lock()  # the state below
        self._commit_lock = threading.Lock()  # one commit at a time
        self._clear()

    def _clear(self) -> None:
        """Forget every segment and entry (closing nothing)."""
        self._pid = 0
        self._segments: dict[str, _Segment] = {}
        self._active: _Segment | None = None
        self._counts: dict[int, int] = {}  # pending messages per level
        self._pending = 0
        self._pending_bytes = 0

    # -- opening and adopting ------------------------------------------------

    def open(self) -> list[SpoolEntry]:
        """
        Start: create this process's segment and adopt abandoned ones.

        Creates the directory (0700) and a segment of our own (0600), held
        with an exclusive ``flock`` until :meth:`close`, then adopts every
        segment whose lock can be taken.

        Returns:
            The pending entries of the adopted segments, oldest first (by
            time, then ref).

        Raises:
            PolybotError: Not a POSIX system (no ``fcntl.flock``).
            RuntimeError: The spool is already open.
            OSError: The directory or the segment cannot be created.
        """
        _require_posix()
        if self._active is not None:
            raise RuntimeError("the spool is already open")
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        active = _create(self.directory)
        with self._lock:
            self._pid = os.getpid()
            self._segments[active.name] = active
            self._active = active
        return self.adopt()

    def adopt(self) -> list[SpoolEntry]:
        """
        Adopt the segments abandoned since (their process is gone).

        Cheap when there are none: a ``listdir`` and a non-blocking
        ``flock`` try on each segment not already ours. Reading an
        adopted segment is a sequential scan of it.

        Returns:
            The pending entries of the adopted segments, oldest first.
        """
        with self._lock:
            if self._active is None:
                raise RuntimeError("the spool is not open")
            known = set(self._segments)
        adopted: list[SpoolEntry] = []
        for name in _names(self.directory):
            if name in known:
                continue
            taken = _take_over(self.directory / name)
            if taken is _FOREIGN:
                self.foreign.add(name)
                continue
            if not isinstance(taken, tuple):
                continue
            fd, scan = taken
            segment = _Segment(name, self.directory / name, fd, scan.size)
            segment.newline = scan.torn
            segment.next_seq = max(scan.records, default=0) + 1
            for seq, (offset, size, channel, level, when) in sorted(
                scan.pending()
            ):
                segment.add(
                    seq, channel, level, when, size, offset=offset, order=False
                )
            segment.reorder()
            entries = [segment.entry(slot) for slot in segment.pending()]
            with self._lock:
                closed = self._active is None  # by another thread, meanwhile
                if not closed:
                    self._segments[name] = segment
                    for entry in entries:
                        self._count(entry.level, entry.size)
                    self.corrupt += scan.corrupt
            if closed:
                _release(fd)
                return []
            adopted += entries
        adopted.sort(key=_age)
        return adopted

    # -- the hot path --------------------------------------------------------

    def append(
        self, channel: str, level: int, time: float, body: dict[str, Any]
    ) -> tuple[SpoolEntry, list[SpoolEntry]]:
        """
        Buffer one message; nothing is written before :meth:`commit`.

        Args:
            channel: The channel key.
            level: The logging level (eviction takes the lowest first).
            time: When the event was logged (epoch seconds).
            body: What to send: anything JSON can hold.

        Returns:
            Its entry, and the entries evicted to keep the pending bytes
            within ``max_bytes``: the oldest of the lowest level first,
            possibly the new one itself. The spool marks them done; the
            caller counts them.

        Raises:
            RuntimeError: The spool is not open.
            TypeError: *body* holds something JSON cannot.
            ValueError: *body* refers to itself.
        """
        when = float(time)
        with self._lock:
            active = self._active
            if active is None:
                raise RuntimeError("the spool is not open")
            seq = active.next_seq
            line = _line(
                {
                    "k": "m",
                    "n": seq,
                    "ch": channel,
                    "lv": level,
                    "t": when,
                    "b": body,
                }
            )
            active.next_seq = seq + 1
            size = len(line)
            active.add(seq, channel, level, when, size, offset=-1)
            active.buf[seq] = line
            self._count(level, size)
            entry = SpoolEntry((active.name, seq), channel, level, when, size)
            evicted = (
                self._evict() if self._pending_bytes > self.max_bytes else []
            )
        return entry, evicted

    def read(self, entry: SpoolEntry) -> dict[str, Any] | None:
        """
        The body appended for *entry*.

        Returns:
            A fresh copy of the body, or ``None`` if the entry is no
            longer pending or its record cannot be read back intact.
        """
        seq = entry.ref[1]
        with self._lock:
            found = self._find(entry.ref)
            if found is None:
                return None
            segment, slot = found
            line = segment.buf.get(seq) or segment.inflight.get(seq)
            if line is None:
                offset = segment.offsets[slot]
                if offset < 0:
                    return None
                try:
                    line = os.pread(segment.fd, segment.sizes[slot], offset)
                except OSError:
                    return None
        return _body(line, seq)

    def done(self, entries: Iterable[SpoolEntry]) -> None:
        """
        Mark *entries* done (delivered, or dropped for a counted reason).

        The marks are written at the next :meth:`commit`; a message that
        was never written is simply forgotten. Entries already done are
        ignored.
        """
        with self._lock:
            for entry in entries:
                found = self._find(entry.ref)
                if found is not None:
                    self._drop(*found)

    # -- committing ----------------------------------------------------------

    def commit(self) -> None:
        """
        Write what is buffered and fsync: the group commit.

        One ``os.write`` per segment with something buffered (records and
        done marks), then ``fsync``. Then the housekeeping: segments with
        nothing pending are deleted (not the active one), the active
        segment rotates past ``segment_bytes``, and one segment less than
        half live is compacted. Blocking; safe to call from a thread while
        others append.

        Raises:
            RuntimeError: Called in a forked child of the process that
                opened the spool (see :meth:`forget_after_fork`).
            OSError: A write or fsync failed (disk full, I/O error). What
                was buffered stays buffered for the next commit.
        """
        with self._commit_lock:
            if self._active is None:
                return
            if os.getpid() != self._pid:
                raise RuntimeError(
                    "the spool was opened by the parent process: call "
                    "forget_after_fork() in a forked child"
                )
            with self._lock:
                doomed = self._doomed()
                plans = [
                    self._plan(segment)
                    for segment in self._segments.values()
                    if segment.buf or segment.dones
                ]
            for plan in plans:
                _write(plan)
            errors = [plan.error for plan in plans if plan.error]
            with self._lock:
                for plan in plans:
                    _settle(plan)
            self._delete(doomed)
            try:
                self._rotate()
            except OSError as exc:
                errors.append(exc)
            self._compact()
            if errors:
                raise errors[0]
            self.last_commit = self.clock()

    def _plan(self, segment: _Segment) -> _Plan:
        """Take *segment*'s buffered records and marks for writing."""
        parts = [b"\n"] if segment.newline else []
        position = segment.size + len(parts)
        offsets = []
        for seq, line in segment.buf.items():
            offsets.append((seq, position))
            parts.append(line)
            position += len(line)
        dones = segment.dones
        if dones:
            parts.append(_line({"k": "d", "n": dones}))
        segment.inflight, segment.buf, segment.dones = segment.buf, {}, []
        return _Plan(segment, b"".join(parts), segment.size, offsets, dones)

    def _doomed(self) -> list[_Segment]:
        """Take out the segments to delete: nothing pending, not active."""
        doomed = [
            segment
            for segment in self._segments.values()
            if not segment.count and segment is not self._active
        ]
        for segment in doomed:
            del self._segments[segment.name]
        return doomed

    def _delete(self, doomed: list[_Segment]) -> None:
        """
        Delete segments with nothing pending, then release them.

        Their unwritten done marks are moot once the file is gone; one
        that cannot be deleted is taken back, to be marked and retried.
        """
        kept = [s for s in doomed if not _unlink(s.path)]
        if len(kept) < len(doomed):
            with contextlib.suppress(OSError):
                _sync_directory(self.directory)
        with self._lock:
            for segment in kept:
                self._segments[segment.name] = segment
        for segment in doomed:
            if segment not in kept:
                _release(segment.fd)

    def _rotate(self) -> None:
        """Start a new active segment once the active one is full."""
        with self._lock:
            active = self._active
            if active is None or active.size < self.segment_bytes:
                return
        fresh = _create(self.directory)
        with self._lock:
            self._segments[fresh.name] = fresh
            self._active = fresh

    def _compact(self) -> None:
        """
        Rewrite one segment less than half live with only its live records.

        The copy keeps the name and the sequence numbers (refs stay valid)
        and is locked, written and fsynced before it replaces the original,
        so a crash leaves one whole version or the other.
        """
        with self._lock:
            segment = next(
                (
                    s
                    for s in self._segments.values()
                    if s is not self._active
                    and s.count
                    and not s.buf
                    and s.live_bytes * 2 < s.size
                ),
                None,
            )
            if segment is None:
                return
            slots = list(segment.pending())
        # a segment not active gets no new slots: its index is read freely
        copies = sorted(
            (segment.offsets[i], segment.sizes[i], i) for i in slots
        )
        tmp = segment.path.with_name(segment.name + TMP)
        try:
            fd = os.open(tmp, _WRITE | os.O_CREAT | os.O_TRUNC, 0o600)
        except OSError:
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            moved, size = _copy(segment.fd, copies, fd)
            tmp.replace(segment.path)
        except OSError:
            _unlink(tmp)
            os.close(fd)
            return
        with contextlib.suppress(OSError):
            _sync_directory(self.directory)
        fresh = _Segment(segment.name, segment.path, fd, size)
        fresh.next_seq = segment.next_seq
        for slot in slots:
            fresh.add(
                segment.seqs[slot],
                segment.channels[slot],
                segment.levels[slot],
                segment.times[slot],
                segment.sizes[slot],
                offset=moved[slot],
                order=False,
            )
        fresh.reorder()
        with self._lock:
            # done while we copied: their marks go to the new file
            for new, old in enumerate(slots):
                if not segment.live[old]:
                    fresh.kill(new)
            fresh.dones = segment.dones
            self._segments[segment.name] = fresh
        os.close(segment.fd)  # its inode is gone; the lock is on *fd*

    # -- closing -------------------------------------------------------------

    def close(self) -> None:
        """
        Commit, delete our segments with nothing pending, release the rest.

        Idempotent. In a forked child of the process that opened the spool
        it only forgets (see :meth:`forget_after_fork`).

        Raises:
            OSError: The final commit failed; the locks are released all
                the same.
        """
        if self._active is None:
            return
        if os.getpid() != self._pid:
            self.forget_after_fork()
            return
        try:
            self.commit()
        finally:
            with self._commit_lock, self._lock:
                segments = list(self._segments.values())
                self._clear()
            empty = [s for s in segments if not s.count]
            for segment in empty:
                _unlink(segment.path)
            if empty:
                with contextlib.suppress(OSError):
                    _sync_directory(self.directory)
            for segment in segments:
                _release(segment.fd)

    def forget_after_fork(self) -> None:
        """
        In a forked child: drop the parent's spool without touching it.

        Closes the inherited descriptors without unlocking: a ``flock``
        lock belongs to the open file description, which the parent still
        holds, so the parent keeps its segments. Forgets every entry and
        buffered record; the child may :meth:`open` anew.
        """
        # the parent's threads may have held the locks at the fork
        self._lock = threading.Lock()
        self._commit_lock = threading.Lock()
        segments = list(self._segments.values())
        self._clear()
        for segment in segments:
            with contextlib.suppress(OSError):
                os.close(segment.fd)

    # -- what is in it -------------------------------------------------------

    @property
    def uncommitted(self) -> bool:
        """Whether something is buffered or being written."""
        with self._lock:
            return any(
                s.buf or s.dones or s.inflight for s in self._segments.values()
            )

    @property
    def pending(self) -> int:
        """Messages not done."""
        return self._pending

    @property
    def pending_bytes(self) -> int:
        """Bytes of the records of the messages not done."""
        return self._pending_bytes

    def entries(self) -> list[SpoolEntry]:
        """Every pending entry, ours and adopted, oldest first."""
        with self._lock:
            found = [
                segment.entry(slot)
                for segment in self._segments.values()
                for slot in segment.pending()
            ]
        found.sort(key=_age)
        return found

    # -- bookkeeping (with self._lock held) -----------------------------------

    def _find(self, ref: tuple[str, int]) -> tuple[_Segment, int] | None:
        """The segment and slot of a pending message."""
        segment = self._segments.get(ref[0])
        slot = None if segment is None else segment.slot(ref[1])
        if segment is None or slot is None or not segment.live[slot]:
            return None
        return segment, slot

    def _count(self, level: int, size: int) -> None:
        """Count a new pending message."""
        self._counts[level] = self._counts.get(level, 0) + 1
        self._pending += 1
        self._pending_bytes += size

    def _drop(self, segment: _Segment, slot: int) -> None:
        """Mark a pending message done: forget it, or buffer its mark."""
        seq = segment.seqs[slot]
        segment.kill(slot)
        if segment.buf.pop(seq, None) is None:
            segment.dones.append(seq)
        level = segment.levels[slot]
        self._pending -= 1
        self._pending_bytes -= segment.sizes[slot]
        count = self._counts[level] - 1
        if count:
            self._counts[level] = count
        else:
            del self._counts[level]

    def _evict(self) -> list[SpoolEntry]:
        """Drop the oldest of the lowest level until within max_bytes."""
        evicted = []
        while self._pending_bytes > self.max_bytes and self._counts:
            level = min(self._counts)
            best: tuple[float, str, int] | None = None
            victim: tuple[_Segment, int] | None = None
            for segment in self._segments.values():
                slot = segment.oldest(level)
                if slot is None:
                    continue
                key = (segment.times[slot], segment.name, segment.seqs[slot])
                if best is None or key < best:
                    best, victim = key, (segment, slot)
            if victim is None:  # pragma: no cover - the counts say otherwise
                break
            evicted.append(victim[0].entry(victim[1]))
            self._drop(*victim)
        return evicted


# -- the directory as a whole ----------------------------------------------


def status(
    directory: Path, clock: Callable[[], float] = time.time
) -> SpoolStatus:
    """
    What *directory* holds; changes nothing.

    Each segment is probed with a shared non-blocking ``flock``, released
    at once, to tell a running process's from an abandoned one. A running
    writer's last line may be half-written: it is not counted corrupt.

    Raises:
        PolybotError: Not a POSIX system.
    """
    _require_posix()
    directory = Path(directory)
    now = clock()
    segments = live = size = corrupt = untrusted = 0
    pending: dict[str, int] = {}
    oldest: float | None = None
    for name in _names(directory):
        try:
            fd = os.open(directory / name, os.O_RDONLY | _CLOEXEC | _NOFOLLOW)
        except OSError:
            continue
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                continue
            if not trusted_file(info):
                untrusted += 1
                continue
            held = _held(fd)
            scan = _scan(fd)
        except OSError:
            continue
        finally:
            os.close(fd)
        segments += 1
        live += held
        size += scan.size
        corrupt += scan.corrupt - (held and scan.torn)
        for _, (_, _, channel, _, when) in scan.pending():
            pending[channel] = pending.get(channel, 0) + 1
            oldest = when if oldest is None else min(oldest, when)
    return SpoolStatus(
        directory,
        segments,
        live,
        size,
        pending,
        oldest,
        corrupt,
        now,
        untrusted,
    )


def purge(directory: Path) -> int:
    """
    Delete the abandoned segments in *directory*, never a live one.

    Also deletes leftovers of rewrites interrupted by a crash.

    Returns:
        The pending messages deleted with them.

    Raises:
        PolybotError: Not a POSIX system.
    """
    _require_posix()
    directory = Path(directory)
    removed = 0
    changed = False
    for name in _names(directory):
        path = directory / name
        taken = _take_over(path)
        if not isinstance(taken, tuple):
            continue
        fd, scan = taken
        if _unlink(path):
            removed += sum(1 for _ in scan.pending())
            changed = True
        _release(fd)
    for name in _names(directory, SUFFIX + TMP):
        if not (directory / name[: -len(TMP)]).exists():
            changed = _unlink(directory / name) or changed
    if changed:
        with contextlib.suppress(OSError):
            _sync_directory(directory)
    return removed


# -- records ---------------------------------------------------------------


def _line(record: dict[str, Any]) -> bytes:
    """One record as a line: CRC-32 of its JSON, the JSON, a newline."""
    text = _COMPACT.encode(record)
    try:
        data = text.encode()
    except UnicodeEncodeError:  # lone surrogates: escape everything
        data = _ASCII.encode(record).encode()
    return b"%08x %s\n" % (zlib.crc32(data), data)


def _parse(line: bytes) -> dict[str, Any] | None:
    """The record on *line* (newline included), or ``None`` if damaged."""
    if len(line) < 11 or line[8:9] != b" " or line[-1:] != b"\n":
        return None
    data = line[9:-1]
    try:
        if int(line[:8], 16) != zlib.crc32(data):
            return None
        record = json.loads(data)
    except (ValueError, RecursionError):
        return None
    return record if isinstance(record, dict) else None


def _message(record: dict[str, Any]) -> tuple[int, str, int, float] | None:
    """A message record's number, channel, level and time, if well formed."""
    seq, channel = record.get("n"), record.get("ch")
    level, when = record.get("lv"), record.get("t")
    if not (
        _int64(seq)
        and isinstance(channel, str)
        and _int64(level)
        and isinstance(when, (int, float))
        and not isinstance(when, bool)
        and isinstance(record.get("b"), dict)
    ):
        return None
    try:
        return seq, sys.intern(channel), level, float(when)
    except OverflowError:  # an integer too big for a time
        return None


def _int64(value: Any) -> TypeGuard[int]:
    """Whether *value* is an integer the index can hold."""
    return (
        isinstance(value, int)
        and not isinstance(value, bool)
        and -(2**63) <= value < 2**63
    )


def _body(line: bytes, seq: int) -> dict[str, Any] | None:
    """The body of message *seq* on *line*, if the line is intact."""
    record = _parse(line)
    if record is None or record.get("k") != "m" or record.get("n") != seq:
        return None
    body = record.get("b")
    return body if isinstance(body, dict) else None


def _lines(fd: int) -> Iterator[tuple[int, bytes]]:
    """Each line of the file with its offset; the last may be torn."""
    start = position = 0
    carry = b""
    while chunk := os.pread(fd, _CHUNK, position):
        position += len(chunk)
        data = carry + chunk
        begin = 0
        while (end := data.find(b"\n", begin)) >= 0:
            yield start + begin, data[begin : end + 1]
            begin = end + 1
        carry = data[begin:]
        start += begin
    if carry:
        yield start, carry


def _scan(fd: int) -> _Scan:
    """Read a segment; damaged and unknown records are skipped."""
    scan = _Scan()
    for offset, line in _lines(fd):
        scan.size = offset + len(line)
        if line == b"\n":
            continue
        if not line.endswith(b"\n"):
            scan.torn = True
            scan.corrupt += 1
            continue
        record = _parse(line)
        if record is None:
            scan.corrupt += 1
        elif record.get("k") == "m":
            fields = _message(record)
            if fields is None:
                scan.corrupt += 1
            elif fields[0] not in scan.records:  # a repeat: the first counts
                seq, channel, level, when = fields
                scan.records[seq] = (offset, len(line), channel, level, when)
        elif record.get("k") == "d":
            seqs = record.get("n")
            if isinstance(seqs, list) and all(type(s) is int for s in seqs):
                scan.done.update(seqs)
            else:
                scan.corrupt += 1
        # any other kind is one this version does not know: skipped
    return scan


def _age(entry: SpoolEntry) -> tuple[float, tuple[str, int]]:
    return entry.time, entry.ref


# -- files and locks -------------------------------------------------------


def _require_posix() -> None:
    if not _POSIX:
        raise PolybotError(
            "the durable spool needs a POSIX system (it locks its files "
            "with fcntl.flock); run without a spool directory here"
        )


def _names(directory: Path, suffix: str = SUFFIX) -> list[str]:
    """The files in *directory* ending with *suffix*, sorted."""
    try:
        names = [path.name for path in Path(directory).iterdir()]
    except OSError:
        return []
    return sorted(
        n for n in names if n.endswith(suffix) and not n.startswith(".")
    )


def _lock(fd: int, path: Path) -> bool:
    """
    Take the exclusive lock on *fd* if free, and check it is *path*'s.

    The owner may have replaced or deleted the file between our open and
    our lock: a lock on an inode no longer at *path* is worthless.
    """
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    try:
        current = path.lstat()
    except FileNotFoundError:
        current = None
    mine = os.fstat(fd)
    if current is None or (current.st_dev, current.st_ino) != (
        mine.st_dev,
        mine.st_ino,
    ):
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    return True


def _held(fd: int) -> bool:
    """Whether a running process holds the file's lock (probed, released)."""
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    fcntl.flock(fd, fcntl.LOCK_UN)
    return False


def _release(fd: int) -> None:
    """Unlock and close a segment of ours."""
    with contextlib.suppress(OSError):
        fcntl.flock(fd, fcntl.LOCK_UN)
    with contextlib.suppress(OSError):
        os.close(fd)


def _create(directory: Path) -> _Segment:
    """
    A new segment of ours, locked, under a fresh ``<pid>-<hex>`` name.

    Another process may glimpse the empty file before we lock it and
    take it: we then leave it to them and try another name.
    """
    for _ in range(_ATTEMPTS):
        name = f"{os.getpid()}-{secrets.token_hex(8)}{SUFFIX}"
        path = directory / name
        try:
            fd = os.open(path, _WRITE | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            continue
        try:
            locked = _lock(fd, path)
        except OSError:
            os.close(fd)
            raise
        if not locked:
            os.close(fd)
            continue
        try:
            _sync_directory(directory)  # the name must outlive a crash too
        except OSError:
            _unlink(path)
            _release(fd)
            raise
        return _Segment(name, path, fd)
    raise OSError(errno.EAGAIN, "no spool segment could be created", directory)


#: What :func:`_take_over` answers for a file another user could write.
_FOREIGN = "foreign"


def _take_over(path: Path) -> tuple[int, _Scan] | str | None:
    """
    Lock and read an abandoned segment, or ``None`` if live or gone.

    A segment another user owns, or others may write, is left alone:
    :data:`_FOREIGN`. A rewrite it left half-done (``<name>.tmp``) is
    deleted: only the segment's lock holder writes one.
    """
    try:
        fd = os.open(path, _WRITE)
    except OSError:
        return None
    answer: str | None = None
    try:
        info = os.fstat(fd)
        if stat.S_ISREG(info.st_mode) and not trusted_file(info):
            answer = _FOREIGN
        elif stat.S_ISREG(info.st_mode) and _lock(fd, path):
            _unlink(path.with_name(path.name + TMP))
            return fd, _scan(fd)
    except OSError:
        pass
    os.close(fd)
    return answer


def _write_all(fd: int, data: bytes) -> None:
    """Write all of *data*, however many writes it takes."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _write(plan: _Plan) -> None:
    """
    Append and fsync one segment's share of a commit.

    A failure is kept in ``plan.error``, and the file is cut back to where
    it was (we hold its lock: no one else writes it), so a retry neither
    repeats nor tears a record.
    """
    fd = plan.segment.fd
    try:
        _write_all(fd, plan.data)
        os.fsync(fd)
    except OSError as exc:
        plan.error = exc
        try:
            os.ftruncate(fd, plan.start)
        except OSError:
            with contextlib.suppress(OSError):
                plan.end = os.fstat(fd).st_size
        return
    plan.ok = True


def _copy(
    source: int, copies: list[tuple[int, int, int]], fd: int
) -> tuple[dict[int, int], int]:
    """
    Copy records (offset, size, slot) from *source* to *fd*, and fsync.

    Returns:
        Where each slot's record landed, and the bytes written.
    """
    moved: dict[int, int] = {}
    parts = []
    position = 0
    for offset, size, slot in copies:
        line = os.pread(source, size, offset)
        if len(line) != size:
            raise OSError(errno.EIO, "a spool segment is shorter than known")
        moved[slot] = position
        parts.append(line)
        position += size
    _write_all(fd, b"".join(parts))
    os.fsync(fd)
    return moved, position


def _unlink(path: Path) -> bool:
    """Delete *path*; whether it is gone."""
    try:
        path.unlink(missing_ok=True)
    except OSError:
        return False
    return True


def _settle(plan: _Plan) -> None:
    """Record where a commit's records landed, or buffer them again."""
    segment = plan.segment
    if plan.ok:
        segment.size = plan.start + len(plan.data)
        segment.newline = False
        for seq, offset in plan.offsets:
            slot = segment.slot(seq)
            if slot is not None:
                segment.offsets[slot] = offset
                if segment.live[slot]:
                    segment.live_bytes += segment.sizes[slot]
    else:
        again = {}
        for seq, line in segment.inflight.items():
            slot = segment.slot(seq)
            if slot is not None and segment.live[slot]:
                again[seq] = line
        segment.buf = again | segment.buf
        segment.dones[:0] = plan.dones
        if plan.end is not None:  # not cut back: a torn tail, maybe
            segment.size = plan.end
            segment.newline = True
    segment.inflight = {}


def _sync_directory(directory: Path) -> None:
    """Fsync *directory*, so new, renamed and deleted names last."""
    fd = os.open(directory, os.O_RDONLY | _DIRECTORY | _CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
