"""
Tests for who owns a spool's messages (``_spool/owners.py``).

The processes looked up are real: this one, a child that waits on its
standard input, and a child that has exited and been reaped.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from polybot_loghandler._spool import owners
from tests.support.spool import T0

FILE = (11, 22)  # a database's (st_dev, st_ino)
OWNER = 7  # its owners.id for the process in the row
WAIT = 60.0  # seconds a child may take to exit when told
LINUX = pytest.mark.skipif(
    not Path("/proc/self/stat").exists(), reason="start times from /proc"
)


def _stat_start(pid: int) -> str:
    """
    Field 22 of /proc/<pid>/stat, read here independently.
    """
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2 :].split(" ")[19]


def _waiting() -> subprocess.Popen[bytes]:
    """
    A child that runs until its standard input is closed.
    """
    return subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"],
        stdin=subprocess.PIPE,
    )


def _end(child: subprocess.Popen[bytes]) -> None:
    """
    Let *child* exit, and reap it.
    """
    assert child.stdin is not None
    child.stdin.close()
    assert 0 == child.wait(timeout=WAIT)


@pytest.fixture(scope="module")
def live() -> Iterator[tuple[int, str | None]]:
    """
    A running child: its pid and start. It exits after the module.
    """
    child = _waiting()
    yield child.pid, owners.started(child.pid)
    _end(child)


@pytest.fixture(scope="module")
def dead() -> tuple[int, str | None]:
    """
    A child that has exited and been reaped: its pid, and its start.
    """
    child = _waiting()
    start = owners.started(child.pid)
    _end(child)
    return child.pid, start


@dataclass(frozen=True)
class Case:
    """
    An ``owners`` row, told in words, and whether its owner is gone.

    Attributes:
        pid: ``dead``, ``live`` (a running child) or ``me``.
        gone: The answer expected.
        start: The start recorded: ``same`` as the process's, ``other``
            (its pid was reused since), or ``""`` (could not be told).
        host: ``here``, or ``there`` (another host or container).
        age: Seconds since the lease was renewed.
        opened: Whether this process has the owner open, under ``this``
            database, ``another`` database, or ``no``.
    """

    pid: str
    gone: bool
    start: str = "same"
    host: str = "here"
    age: float = 0.0
    opened: str = "no"


LATER = owners.ADOPT_AFTER + 0.5

CASES = [
    # same host: the process itself answers, not the lease
    pytest.param(Case("dead", gone=True), id="exited"),
    pytest.param(Case("dead", start="", gone=True), id="exited-start-unknown"),
    pytest.param(Case("live", gone=False), id="running"),
    pytest.param(Case("live", age=LATER, gone=False), id="running-old-lease"),
    pytest.param(Case("live", start="other", gone=True), id="pid-reused"),
    pytest.param(Case("live", start="", gone=False), id="start-unknown"),
    # a running process whose start cannot be told: its lease answers
    pytest.param(
        Case("live", start="", age=LATER, gone=True),
        id="start-unknown-old-lease",
    ),
    # this process: its spool open or not
    pytest.param(Case("me", opened="this", gone=False), id="me-open"),
    pytest.param(Case("me", gone=True), id="me-closed"),
    pytest.param(
        Case("me", opened="another", gone=True), id="me-open-elsewhere"
    ),
    pytest.param(
        Case("me", opened="this", age=LATER, gone=False), id="me-old-lease"
    ),
    # another host: only the lease tells
    pytest.param(Case("live", host="there", gone=False), id="there-fresh"),
    pytest.param(
        Case("live", host="there", age=owners.ADOPT_AFTER, gone=False),
        id="there-at-the-limit",
    ),
    pytest.param(
        Case("live", host="there", age=LATER, gone=True), id="there-stale"
    ),
    pytest.param(
        Case("dead", host="there", age=1.0, gone=False),
        id="there-pid-not-looked-up",
    ),
    pytest.param(
        Case("me", host="there", opened="this", age=LATER, gone=True),
        id="there-my-pid-stale",
    ),
]


@LINUX
@pytest.mark.parametrize("case", CASES)
def test_gone(
    case: Case,
    live: tuple[int, str],
    dead: tuple[int, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Whether an owner is gone, for each kind of row."""
    me = os.getpid(), owners.started(os.getpid())
    pid, recorded = {"dead": dead, "live": live, "me": me}[case.pid]
    assert recorded
    start = {
        "same": recorded,
        "other": "1",  # a process that started at boot
        "": "",
    }[case.start]
    host = owners.HOST if case.host == "here" else "elsewhere"
    opened = {
        "this": {(*FILE, OWNER)},
        "another": {(11, 23, OWNER)},
        "no": set(),
    }[case.opened]
    monkeypatch.setattr(owners, "OPEN", opened)
    row = (OWNER, pid, host, start, T0 - case.age)
    assert case.gone == owners.gone(FILE, row, T0)


@LINUX
class TestStarted:
    """
    When a process started, as ``/proc`` tells it.
    """

    def test_this_process(self) -> None:
        """This process's start is field 22 of its stat."""
        start = owners.started(os.getpid())
        assert start is not None
        assert start.isdigit()
        assert _stat_start(os.getpid()) == start

    def test_a_running_child(self, live: tuple[int, str]) -> None:
        """A child started after this process, as its stat says."""
        pid, start = live
        mine = owners.started(os.getpid())
        assert mine is not None
        assert _stat_start(pid) == start == owners.started(pid)
        assert int(mine) <= int(start)

    def test_a_reaped_child(self, dead: tuple[int, str]) -> None:
        """A process that has exited has no start."""
        pid, start = dead
        assert start
        assert owners.started(pid) is None

    def test_whoami(self) -> None:
        """This process's row: its pid, this host, its start."""
        pid, host, start = owners.whoami()
        assert (os.getpid(), owners.HOST) == (pid, host)
        assert owners.started(os.getpid()) == start
        assert socket.gethostname() in host
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        assert boot in host
