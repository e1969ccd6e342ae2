"""
Small helpers shared by the integration tests.
"""

from __future__ import annotations

import asyncio
import logging
import os
import textwrap
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import pytest

from polybot_loghandler import DiscordHandler
from polybot_loghandler._model import Config
from polybot_loghandler._relay.relay import Relay

T = TypeVar("T")

#: Seconds: the bound on waits for other threads and processes. A bound,
#: never a measure: a passing test waits only as long as it must.
WAIT = 10.0
#: Seconds between two looks at another thread's progress.
POLL = 0.005


def routing_yaml(
    channels: Mapping[str, str], routes: str, **delivery: str
) -> str:
    """
    Return routing YAML with *channels*, *routes* (a YAML list) and
    ``delivery:`` settings.
    """
    lines = ["version: 1", "channels:"]
    lines += [f"  {key}: {value}" for key, value in channels.items()]
    lines += ["routes:", textwrap.indent(textwrap.dedent(routes), "  ")]
    if delivery:
        lines.append("delivery:")
        lines += [f"  {key}: {value}" for key, value in delivery.items()]
    return "\n".join(lines) + "\n"


def wait_for(check: Callable[[], bool], timeout: float = WAIT) -> bool:
    """
    Poll *check* until it holds or *timeout* seconds pass.

    Returns whether it held, for the test to assert: a wait on a
    condition, where a fixed sleep would only hope it had come true.
    """
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL)  # bounded poll of another thread's progress
    return True


def flushed(handler: DiscordHandler, timeout: float = WAIT) -> bool:
    """
    Flush *handler*; whether everything before was done in time.

    ``handler.flush()`` answers ``None``, as ``logging`` wants: a test
    that relies on the flush asserts this instead.
    """
    pipeline = handler._pipeline
    assert pipeline is not None, "the handler has no pipeline"
    return pipeline.flush(timeout)


def script_environment() -> dict[str, str]:
    """
    This process's environment without routing, webhook or bot settings:
    for a script that must find its routing where the test puts it.

    Nor what pytest says of the test that runs (``PYTEST_CURRENT_TEST``)
    or its xdist worker (``PYTEST_XDIST_*``): a command run by a test,
    ``pytest`` among them, sees a fresh shell's environment, whether
    the tests run in parallel or not.
    """
    return {
        name: value
        for name, value in os.environ.items()
        if name != "POLYBOT_ROUTING" and not name.startswith(_NOT_FOR_SCRIPTS)
    }


#: What :func:`script_environment` leaves out, besides POLYBOT_ROUTING.
_NOT_FOR_SCRIPTS = ("DISCORD_", "PYTEST_CURRENT_TEST", "PYTEST_XDIST_")


def run_forked(child: Callable[[], int], timeout: float) -> int:
    """
    Run *child* in a forked process; return its exit status.

    Fails the test if the child has not finished within *timeout*
    seconds (it is then killed).
    """
    with warnings.catch_warnings():
        # Python 3.12+ warns about fork() with threads running; that is
        # exactly the situation under test
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        status = 99
        try:
            status = child()
        finally:
            os._exit(status)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.01)  # bounded wait on a real process
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    pytest.fail("the forked child did not finish")


@contextmanager
def producer(routing: Path) -> Iterator[logging.Logger]:
    """
    A logger of its own whose one handler is *routing*'s DiscordHandler.

    For the relay's tests: what it logs at info and above goes to the
    stream. The handler is removed and closed after the block.
    """
    handler = DiscordHandler(routing)
    log = logging.getLogger(f"floor.{time.monotonic_ns()}")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    try:
        yield log
    finally:
        log.removeHandler(handler)
        handler.close()


@contextmanager
def running_relay(config: Config) -> Iterator[Relay]:
    """A relay for *config*, running in a thread of its own until the end."""
    made = Relay(config, None)
    thread = threading.Thread(
        target=lambda: asyncio.run(made.run()), daemon=True
    )
    thread.start()
    try:
        yield made
    finally:
        made.stop()
        thread.join(20)
    assert not thread.is_alive(), "the relay did not stop"


def in_a_thread(work: Callable[[], T]) -> T:
    """
    *work*'s result, run in a thread of its own; what it raised, raised.

    For a test that runs an event loop (``asyncio.run``): the browser
    tests' Playwright keeps one running in the main thread of the worker
    that ran them, and ``asyncio.run`` refuses to start inside it.
    """
    done: list[T] = []
    failed: list[BaseException] = []

    def run() -> None:
        try:
            done.append(work())
        except BaseException as exc:
            failed.append(exc)

    thread = threading.Thread(target=run, name="in_a_thread")
    thread.start()
    thread.join()
    if failed:
        raise failed[0]
    return done[0]
