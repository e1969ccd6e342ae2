"""
The background thread: a bounded queue in, a loop that empties it.

Only the queue crosses threads. Submitting is an ``append`` on a deque and,
when the worker sleeps, one wake-up: it never blocks the caller and takes
no lock the worker holds. Warnings and worse (and flush and stop markers)
are *urgent*: they wake the worker even when it was woken already, so a
loop may let ordinary items gather a moment before it takes them. The
worker is started lazily on the first submit, and again in a child
process after ``fork``.

The loop is pluggable: by default a plain loop hands batches to a
callback; the delivery engine runs its own event loop instead and takes
items with :meth:`Worker.take`, woken through :meth:`Worker.set_waker`.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any

from ._losses import Loss

__all__ = ["Flush", "Stop", "Worker"]

_THREAD_NAME = "polybot_loghandler.worker"
_IDLE_WAIT = 0.5  # seconds; the worker re-checks its queue at least this often
#: Times a failed loop is started again before the worker gives up.
MAX_RESTARTS = 3


class Flush:
    """A marker in the queue: set ``done`` once everything before it is."""

    __slots__ = ("done",)

    def __init__(self) -> None:
        self.done = threading.Event()


class Stop:
    """
    A marker in the queue: finish by *deadline* (monotonic), then end.

    With *hand_over*, what has not left yet is another's to deliver (the
    relay's next active instance): only the requests on their way are
    finished.
    """

    __slots__ = ("deadline", "hand_over")

    def __init__(self, deadline: float, *, hand_over: bool = False) -> None:
        self.deadline = deadline
        self.hand_over = hand_over


class Worker:
    """
    One daemon thread that hands queued items to *handle* in order.

    Args:
        handle: Called in the worker thread with a list of items, in the
            order they were submitted. Must not raise; if it does, the
            error goes to *on_error* and the worker carries on.
        on_error: Told about exceptions *handle* let escape.
        maxsize: Items waiting before :meth:`submit` refuses more.
        loop: Runs in the thread instead of the plain loop; it gets the
            worker, takes items with :meth:`take`, and returns when it
            takes a :class:`Stop`.
    """

    def __init__(
        self,
        handle: Callable[[list[Any]], None] | None,
        on_error: Callable[[BaseException], None],
        maxsize: int,
        *,
        loop: Callable[[Worker], None] | None = None,
    ) -> None:
        self._handle = handle
        self._on_error = on_error
        self._maxsize = maxsize
        self._loop = loop
        self._reset()
        _WORKERS.add(self)

    def _reset(self) -> None:
        self._queue: deque[Any] = deque()
        self._wake = threading.Event()
        self._woken = False  # whether a submit has set _wake since a take
        self._urgent = False  # whether an urgent item has, since a take
        self._start_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._stopped = False  # the loop failed too often: closed for good
        self._waker: Callable[[], None] | None = None
        #: times the loop failed and was started again
        self.restarts = 0
        self.handled = 0
        #: events taken by a custom loop and not yet handled (markers,
        #: flushes and the stop, are not events)
        self.in_hand = 0

    @property
    def closed(self) -> bool:
        """Whether :meth:`submit` refuses everything from now on."""
        return self._closed

    @property
    def refusal(self) -> Loss:
        """
        Why :meth:`submit` refused an item.

        ``AFTER_SHUTDOWN`` once closed (as at interpreter exit),
        ``WORKER_STOPPED`` once the loop failed for good, else
        ``QUEUE_FULL``.
        """
        if self._stopped:
            return Loss.WORKER_STOPPED
        if self._closed:
            return Loss.AFTER_SHUTDOWN
        return Loss.QUEUE_FULL

    @property
    def depth(self) -> int:
        """Items waiting (flush markers included)."""
        return len(self._queue)

    @property
    def waiting(self) -> int:
        """Events waiting: :attr:`depth` without the flush and stop markers."""
        return sum(1 for item in self._queue if not _is_marker(item))

    def submit(self, item: Any, reserve: bool = False) -> bool:
        """
        Queue *item* for the worker; never blocks.

        Returns ``False`` (and queues nothing) when the queue is full or
        the worker is closed. Items submitted with *reserve* (warnings and
        worse) may use a second *maxsize* of room, so a flood of ordinary
        events cannot shut out the ones that matter.
        """
        limit = self._maxsize * 2 if reserve else self._maxsize
        if self._closed or len(self._queue) >= limit:
            return False
        self._queue.append(item)
        if self._thread is None:
            self._start()
        if reserve:
            if not self._urgent:
                self._notify(urgent=True)
        elif not self._woken:  # plain attributes: cheaper than is_set()
            self._notify()
        return True

    @property
    def urgent(self) -> bool:
        """Whether a warning (or worse), flush or stop waits to be taken."""
        return self._urgent

    def _notify(self, *, urgent: bool = False) -> None:
        if urgent:
            self._urgent = True
        self._woken = True
        self._wake.set()
        waker = self._waker
        if waker is not None:
            waker()

    def set_waker(self, waker: Callable[[], None] | None) -> None:
        """Have :meth:`submit` call *waker* when the worker sleeps."""
        self._waker = waker

    def take(self) -> list[Any]:
        """Everything queued, in order (for a custom loop)."""
        self._woken = False  # before emptying: a later submit wakes us
        self._urgent = False
        self._wake.clear()
        items: list[Any] = []
        queue = self._queue
        while queue:
            items.append(queue.popleft())
        self.in_hand += sum(1 for item in items if not _is_marker(item))
        return items

    def done(self, n: int, *, last: bool = False) -> None:
        """
        Count *n* taken items as handled (for a custom loop).

        With *last*, everything taken has been dealt with (handled, or
        counted elsewhere, like markers and what a stop dropped).
        """
        self.handled += n
        self.in_hand = 0 if last else max(0, self.in_hand - n)

    def start(self) -> None:
        """Start the thread now rather than at the first submit."""
        if self._thread is None and not self._closed:
            self._start()

    def _start(self) -> None:
        with self._start_lock:
            if self._thread is None:
                self._launch()

    def _launch(self) -> None:
        # under _start_lock; the thread is known before it runs, so a
        # close() that finds it also stops it
        thread = threading.Thread(
            target=self._main, name=_THREAD_NAME, daemon=True
        )
        self._thread = thread
        thread.start()

    def _main(self) -> None:
        if self._loop is None:
            self._run()
            return
        try:
            self._loop(self)
        except BaseException as exc:  # the loop failed: say so, never hang
            self._failed(exc)
        else:
            self._release_waiters()

    def _failed(self, exc: BaseException) -> None:
        """
        The loop raised: start it again, or give up after MAX_RESTARTS.

        A new thread takes over what is queued, so one failure costs
        what the loop held, not every event from then on.
        """
        self.in_hand = 0  # what the failed loop held is gone
        with self._start_lock:  # close() decides under it too
            again = not self._closed and self.restarts < MAX_RESTARTS
            if again:
                self.restarts += 1
                self._launch()
            else:
                self._stopped = not self._closed
                self._closed = True
        with contextlib.suppress(Exception):  # telling must not stop it
            self._on_error(exc)
        if not again:
            self._release_waiters()

    def _release_waiters(self) -> None:
        # nothing will handle what is left: let flush() callers go
        self._closed = True
        for item in list(self._queue):
            if isinstance(item, Flush):
                item.done.set()

    def _run(self) -> None:
        while True:
            self._wake.wait(_IDLE_WAIT)
            self._woken = False
            self._urgent = False
            self._wake.clear()
            batch: list[Any] = []
            while self._queue:
                item = self._queue.popleft()
                if isinstance(item, Stop):
                    self._deliver(batch)
                    return
                if isinstance(item, Flush):
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
            if self._handle is not None:
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
        marker = Flush()
        self._queue.append(marker)
        self._notify(urgent=True)
        return marker.done.wait(timeout)

    def close(self, timeout: float, *, hand_over: bool = False) -> bool:
        """
        Handle what is queued (within *timeout*), then stop the thread.

        Returns ``False`` if the deadline passed first; the thread is a
        daemon, so it never keeps the interpreter alive. With
        *hand_over*, the loop only finishes what is on its way (see
        :class:`Stop`).
        """
        deadline = time.monotonic() + timeout
        with self._start_lock:  # a restart is either seen or not made
            closed, self._closed = self._closed, True
            thread = self._thread
        if closed:
            # closed before: done only if the thread really finished
            if thread is not None and thread.is_alive():
                thread.join(timeout)
                return not thread.is_alive()
            return not self._queue
        if thread is None or not thread.is_alive():
            return not self._queue
        if threading.current_thread() is thread:
            return False
        # the loop gets a little less time than we wait, so it can end
        # cleanly before the join gives up
        margin = min(0.25, timeout / 4)
        self._queue.append(Stop(deadline - margin, hand_over=hand_over))
        self._notify(urgent=True)
        thread.join(max(0.0, deadline - time.monotonic()))
        return not thread.is_alive()

    def _after_fork_in_child(self) -> None:
        # the parent's thread does not exist here, and its locks may be
        # held by it: start over with fresh ones. What the parent had
        # queued is the parent's to deliver; sending it here too would
        # repeat it once per forked child.
        closed, stopped = self._closed, self._stopped
        self._reset()
        # a worker closed (or stopped for good) stays so, for the same
        # reason: later events are counted by it
        self._closed, self._stopped = closed, stopped


def _is_marker(item: Any) -> bool:
    """Whether *item* is one of the worker's own markers, not an event."""
    return isinstance(item, (Flush, Stop))


_WORKERS: weakref.WeakSet[Worker] = weakref.WeakSet()


def _reset_all_after_fork() -> None:
    for worker in list(_WORKERS):
        worker._after_fork_in_child()  # noqa: SLF001


os.register_at_fork(after_in_child=_reset_all_after_fork)
