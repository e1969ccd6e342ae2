"""
The render thread: captured events in, routed messages out, in order.

Routing and rendering run in a thread of their own while the engine's
loop files what is ready and keeps the lanes sending: a value whose
``__str__`` takes seconds delays the events after it, never the messages
already rendered. The thread and the loop share one :class:`Rendering`:
the thread appends to its ``out`` deque, the loop pops from the front
(both atomic), so nothing else is shared.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
import anyio.to_thread

from polybot_loghandler._message import RoutedMessage
from polybot_loghandler._worker import Flush, Stop, Worker

__all__ = ["RUN_AHEAD", "Intake", "Rendering", "render_all"]

#: Seconds of routing and rendering between pauses that let the
#: application's threads run.
WORK_SLICE = 0.001
#: Seconds between looks at what the render thread has done, to file it.
FILE_EVERY = 0.005
#: Events the render thread may have rendered and the loop not yet
#: filed: beyond it the thread waits, so a flood cannot pile rendered
#: messages up outside the lanes' bound (delivery.queue_size).
RUN_AHEAD = 256


@dataclass(eq=False)
class Rendering:
    """
    One take of events on its way through the render thread.

    The thread appends ``(item, messages)`` to *out* in order (``None``
    for markers); the loop takes them from the front.
    """

    items: list[Any]
    out: deque[tuple[Any, list[RoutedMessage] | None]] = field(
        default_factory=deque
    )
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    #: set by the loop when it has filed what was out: room to go on
    room: threading.Event = field(default_factory=threading.Event)
    filed: int = 0  # items the loop has filed (or counted as lost)
    ended: bool = False  # the thread is done (or was let go)
    abandoned: bool = False  # nobody files more: the thread may stop


def render_all(
    job: Rendering,
    route: Callable[[Any], list[RoutedMessage]],
    loop: asyncio.AbstractEventLoop | None,
) -> None:
    """
    In the render thread: route each event of *job*, in order.

    *route* never raises (a failure drops its event alone, counted);
    *loop* is woken when the thread must wait for the loop to file.
    """
    shared = time.perf_counter()
    out = job.out
    for item in job.items:
        if job.abandoned:  # out of time: nobody files the rest
            return
        if isinstance(item, (Flush, Stop)):
            out.append((item, None))
        else:
            out.append((item, route(item)))
        if len(out) >= RUN_AHEAD:
            _wait_for_room(job, loop)
            shared = time.perf_counter()
        elif time.perf_counter() - shared > WORK_SLICE:
            # share the GIL now and then: an application thread waiting
            # for it waits a millisecond, not the 5 ms switch interval
            time.sleep(0)
            shared = time.perf_counter()


def _wait_for_room(
    job: Rendering, loop: asyncio.AbstractEventLoop | None
) -> None:
    """In the render thread: wait until the loop has filed some."""
    job.room.clear()
    if loop is not None:  # file now, not at the next look
        with contextlib.suppress(RuntimeError):  # the loop has ended
            loop.call_soon_threadsafe(job.ready.set)
    while len(job.out) >= RUN_AHEAD and not job.abandoned:
        job.room.wait(FILE_EVERY)


class Intake:
    """
    Files each event's messages in the order of the log calls.

    The render thread routes; this side, on the loop, hands each event's
    messages to *file* (the next stage: the lanes) as they are ready, so
    every lane keeps the order of the log calls.

    Args:
        route: One captured event to its messages; never raises.
        file: Files one event's messages.
        clock: Monotonic seconds, for a stop's deadline.
        flushes: Where flush markers go once all before them is filed.
    """

    def __init__(
        self,
        route: Callable[[Any], list[RoutedMessage]],
        file: Callable[[list[RoutedMessage]], None],
        clock: Callable[[], float],
        flushes: list[Flush],
    ) -> None:
        self._route = route
        self._file = file
        self._clock = clock
        self._flushes = flushes
        #: events never filed (out of time, or a failed render thread)
        self.lost = 0

    async def take_in(
        self,
        worker: Worker,
        items: list[Any],
        deadline: float | None,
        loop: asyncio.AbstractEventLoop | None,
    ) -> None:
        """
        Route and file *items*, in order, until *deadline* (if any).

        Events not filed by then (or lost with a failed render thread)
        are added to :attr:`lost`.
        """
        job = Rendering(items)
        try:
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(self._render, job, loop)
                await self._file_rendered(worker, job, deadline)
                tasks.cancel_scope.cancel()  # out of time: let it go
        finally:
            job.abandoned = True
            if job.filed < len(items):  # it failed, or its thread did
                self._out_of_time(items[job.filed :])
            worker.done(0, last=True)

    async def _render(
        self, job: Rendering, loop: asyncio.AbstractEventLoop | None
    ) -> None:
        """Run the render thread; say when it is over."""
        try:
            await anyio.to_thread.run_sync(
                render_all, job, self._route, loop, abandon_on_cancel=True
            )
        finally:
            job.ended = True
            job.ready.set()

    async def _file_rendered(
        self, worker: Worker, job: Rendering, deadline: float | None
    ) -> None:
        """File what the render thread has done, as it gets done."""
        total = len(job.items)
        while True:
            handled = 0
            while job.out:
                item, messages = job.out.popleft()
                if messages is not None:
                    self._file(messages)
                    handled += 1
                elif isinstance(item, Flush):  # all before it is filed
                    self._flushes.append(item)
                job.filed += 1
            worker.done(handled)
            job.room.set()
            if job.filed >= total or (job.ended and not job.out):
                return
            if deadline is not None and self._clock() >= deadline:
                job.abandoned = True
                self._out_of_time(job.items[job.filed :])
                job.filed = total
                return
            job.ready.clear()
            with anyio.move_on_after(FILE_EVERY):
                await job.ready.wait()

    def _out_of_time(self, items: list[Any]) -> None:
        """What was not even routed is lost; its flushes are let go."""
        self.lost += sum(1 for i in items if not isinstance(i, (Flush, Stop)))
        self._flushes.extend(i for i in items if isinstance(i, Flush))
