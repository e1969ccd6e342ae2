"""
The background thread: a bounded queue in, a callback out.

Only the queue crosses threads. Submitting is an ``append`` on a deque and,
when the worker sleeps, one ``Event.set``: it never blocks the caller and
takes no lock the worker holds. The worker is started lazily on the first
submit, and again in a child process after ``fork``.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any

__all__ = ["Worker"]

_THREAD_NAME = "polybot_loghandler.worker"
_IDLE_WAIT = 0.5  # seconds; the worker re-checks its queue at least this often


class _Flush:
    """A marker in the queue: everything before it has been handled."""

    __slots__ = ("done",)

    def __init__(self) -> None:
        self.done = threading.Event()


_STOP = object()


class Worker:
    """
    One daemon thread that hands queued items to *handle* in order.

    Args:
        handle: Called in the worker thread with a list of items, in the
            order they were submitted. Must not raise; if it does, the
            error goes to *on_error* and the worker carries on.
        on_error: Told about exceptions *handle* let escape.
        maxsize: Items waiting before :meth:`submit` refuses more.
    """

    def __init__(
        self,
        handle: Callable[[list[Any]], None],
        on_error: Callable[[BaseException], None],
        maxsize: int,
    ) -> None:
        self._handle = handle
        self._on_error = on_error
        self._maxsize = maxsize
        self._reset()
        _WORKERS.add(self)

    def _reset(self) -> None:
        self._queue: deque[Any] = deque()
        self._wake = threading.Event()
        self._start_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False
        self.handled = 0

    @property
    def depth(self) -> int:
        """Items waiting (flush markers included)."""
        return len(self._queue)

    def submit(self, item: Any) -> bool:
        """
        Queue *item* for the worker; never blocks.

        Returns ``False`` (and queues nothing) when the queue is full or
        the worker is closed.
        """
        if self._closed or len(self._queue) >= self._maxsize:
            return False
        self._queue.append(item)
        if self._thread is None:
            self._start()
        if not self._wake.is_set():
            self._wake.set()
        return True

    def _start(self) -> None:
        with self._start_lock:
            if self._thread is not None:
                return
            thread = threading.Thread(
                target=self._run, name=_THREAD_NAME, daemon=True
            )
            thread.start()
            self._thread = thread

    def _run(self) -> None:
        while True:
            self._wake.wait(_IDLE_WAIT)
            self._wake.clear()
            batch: list[Any] = []
            while self._queue:
                item = self._queue.popleft()
                if item is _STOP:
                    self._deliver(batch)
                    return
                if isinstance(item, _Flush):
                    self._deliver(batch)
                    batch = []
                    item.done.set()
                    continue
                batch.append(item)
            self._deliver(batch)

    def _deliver(self, batch: list[Any]) -> None:
        if not batch:
            return
        try:
            self._handle(batch)
        except BaseException as exc:  # the worker never dies
            self._on_error(exc)
        self.handled += len(batch)

    def flush(self, timeout: float) -> bool:
        """
        Wait until everything submitted before this call is handled.

        Returns ``False`` if *timeout* seconds passed first. Safe to call
        from any thread but the worker's own.
        """
        if self._thread is None or not self._thread.is_alive():
            return not self._queue
        if threading.current_thread() is self._thread:
            return False
        marker = _Flush()
        self._queue.append(marker)
        self._wake.set()
        return marker.done.wait(timeout)

    def close(self, timeout: float) -> bool:
        """
        Handle what is queued (within *timeout*), then stop the thread.

        Returns ``False`` if the deadline passed first; the thread is a
        daemon, so it never keeps the interpreter alive.
        """
        deadline = time.monotonic() + timeout
        thread = self._thread
        if self._closed:
            # closed before: done only if the thread really finished
            if thread is not None and thread.is_alive():
                thread.join(timeout)
                return not thread.is_alive()
            return not self._queue
        self._closed = True
        if thread is None or not thread.is_alive():
            return not self._queue
        if threading.current_thread() is thread:
            return False
        self._queue.append(_STOP)
        self._wake.set()
        thread.join(max(0.0, deadline - time.monotonic()))
        return not thread.is_alive()

    def _after_fork_in_child(self) -> None:
        # the parent's thread does not exist here, and its locks may be
        # held by it: start over with fresh ones. What the parent had
        # queued is the parent's to deliver; sending it here too would
        # repeat it once per forked child.
        closed = self._closed
        self._reset()
        self._closed = closed


_WORKERS: weakref.WeakSet[Worker] = weakref.WeakSet()


def _reset_all_after_fork() -> None:
    for worker in list(_WORKERS):
        worker._after_fork_in_child()  # noqa: SLF001


os.register_at_fork(after_in_child=_reset_all_after_fork)
