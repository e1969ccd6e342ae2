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

from polybot_loghandler._message import RoutedMessage
from polybot_loghandler._worker import Flush, Stop

__all__ = ["FILE_EVERY", "RUN_AHEAD", "Rendering", "render_all"]

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
