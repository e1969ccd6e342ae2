"""
The delivery engine: the worker thread's event loop.

It takes captured events from the worker's queue, has them routed and
rendered (by the pipeline, in a thread of its own, so a slow value never
holds a send), and files each message in the lane of its destination: a
webhook, a bot channel, or the console for channels with none. Each lane
sends in order, one message at a time, as its batching window, Discord's
rate limits and the retry schedule allow. Nothing here runs in the
application's thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio
import anyio.to_thread
import httpx

from ._batching import Lane, Pending
from ._console import ConsoleSink
from ._diagnostics import Diagnostics, described, emit, say
from ._discord import Outcome, Request, build_request, send, user_agent
from ._events import LogEvent, RawEvent
from ._format import counted
from ._losses import Loss
from ._message import RoutedMessage
from ._model import BotChannelDestination, Channel, Config, Destination
from ._payload import batch_payload, build_payload, with_delay
from ._ratelimit import RateLimiter, Wait
from ._retry import RetryPolicy
from ._selfreport import QUIET_REASONS, alert_embed, drops, summary_embed
from ._spool.keeper import ADOPT_EVERY, COMMIT_EVERY, SpoolKeeper
from ._spool.store import SpoolEntry
from ._text import escape_markdown, redact_text
from ._values import report_to
from ._worker import Flush, Stop, Worker

__all__ = ["Engine"]

_log = logging.getLogger("polybot_loghandler")

#: Retries of 5xx answers, timeouts and connection errors back off
#: exponentially from 0.5 to 5 seconds, with jitter; the budget is
#: ``delivery.retry_for``.
RETRY = RetryPolicy(base=0.5, cap=5.0)
#: httpx's timeouts, per connect and per read; each request also has a
#: total deadline (``_discord.REQUEST_DEADLINE``).
TIMEOUT = httpx.Timeout(10.0, connect=5.0)
#: A destination failing for this long (seconds) is news: stderr and the
#: ops channel hear it once, and again when it recovers. A wait on a rate
#: limit past its cap is news at once.
FAILING_AFTER = 2.0
#: The route name of the engine's own "N events were not delivered".
NOTICE_ROUTE = "polybot_loghandler.dropped"
#: Routes of the engine's own messages start with this; they are not
#: counted as delivered events, and never evicted for one.
OWN_ROUTES = "polybot_loghandler."
#: Seconds between checks of the drop counters (for "drops began").
WATCH_EVERY = 1.0
#: A reason that dropped nothing for this long is news again.
QUIET_AFTER = 600.0
#: Messages a lane reads back from the spool at a time.
REFILL = 50
#: Seconds of routing and rendering between pauses that let the
#: application's threads run.
WORK_SLICE = 0.001
#: Seconds between looks at what the render thread has done, to file it.
FILE_EVERY = 0.005
#: Events the render thread may have rendered and the loop not yet
#: filed: beyond it the thread waits, so a flood cannot pile rendered
#: messages up outside the lanes' bound (delivery.queue_size).
RUN_AHEAD = 256

#: Seconds ordinary events gather in the intake queue after the first of
#: them wakes the loop: a burst of log calls is then routed in one go,
#: after the application's thread is done with it, not call by call
#: while it runs. Urgent events (warnings and worse) cut it short; an
#: ordinary message waits a batch window anyway.
INTAKE_DELAY = 0.02


@dataclass(slots=True)
class _Trouble:
    """Why a destination is failing, and since when."""

    since: float  # the engine's clock, when the first failed try began
    wall: float  # the same moment, as wall-clock time
    why: str  # the latest failure, for people (tokens redacted)
    unreachable: bool  # no connection could be made
    said: bool = False  # stderr and the ops channel were told


@dataclass(eq=False)
class _Rendering:
    """
    One take of events on its way through the render thread.

    The thread appends ``(item, messages)`` to *out* in order (``None``
    for markers); the loop takes them from the front. A deque's append
    and popleft are atomic, so nothing else is shared.
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


@dataclass(eq=False)
class _LaneState:
    """A lane and what the engine knows about its destination."""

    key: str
    label: str
    destination: Destination | None  # None: the console
    channel: str  # for Discord's per-channel limit
    lane: Lane
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    running: bool = False
    sending: bool = False
    disabled: Loss | None = None  # the drop reason once gone
    inflight: list[Pending] = field(default_factory=list)
    dropped_since: Counter[Loss] = field(default_factory=Counter)
    failing: bool = False  # its last attempt failed and will be retried
    trouble: _Trouble | None = None  # failing since, and why
    said_at: float | None = None  # when its failing was last told
    resume_at: float = 0.0  # when its rate-limit wait ends (engine clock)


class Engine:
    """
    Everything the worker thread does, for one routing file.

    Args:
        config: The routing file's configuration.
        process: Routes and renders one captured event (the pipeline's).
        count: Adds to a named counter of the pipeline's statistics.
        console: Where channels without a destination are shown.
        version: The library version, for the ``User-Agent``.
        transport: An httpx transport to use instead of the network
            (tests).
        clock: Monotonic seconds (tests may slow or speed it).
        cloudflare_pause: Seconds everything waits after a Cloudflare 429.
        stats: The pipeline's counters, for the self-report.
        check_reload: Reloads the routing file if it changed; called
            every ``delivery.reload`` seconds.
        check_levels: Looks at the logging levels that could hide events
            from the routes; called every ``WATCH_EVERY`` seconds.
    """

    def __init__(  # noqa: PLR0913 - the engine's seams, all keyword-only
        self,
        config: Config,
        process: Callable[[RawEvent], list[RoutedMessage]],
        count: Callable[[str, int], None],
        console: ConsoleSink,
        *,
        version: str = "0",
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
        cloudflare_pause: float | None = None,
        stats: Callable[[], dict[str, int]] | None = None,
        check_reload: Callable[[], None] | None = None,
        check_levels: Callable[[], None] | None = None,
    ) -> None:
        self._config = config
        # the settings a reload cannot change (DeliverySettings.FIXED)
        self._settings = config.delivery
        self._process = process
        self._count = count
        self._console = console
        self._version = version
        self._transport = transport
        self._clock = clock
        self._cloudflare_pause = cloudflare_pause
        self._stats = stats
        self._check_reload = check_reload
        self._check_levels = check_levels
        self._diag = Diagnostics()
        self._keeper = (
            None
            if config.delivery.spool is None
            else SpoolKeeper(
                config.delivery.spool, config.delivery.spool_size, count
            )
        )
        self._reset()

    def _reset(self) -> None:
        # everything the loop owns; a run (and so a forked child's new
        # worker) starts from nothing
        self._loop: asyncio.AbstractEventLoop | None = None
        self._limiter = (
            RateLimiter()
            if self._cloudflare_pause is None
            else RateLimiter(cloudflare_pause=self._cloudflare_pause)
        )
        self._lanes: dict[str, _LaneState] = {}
        self._by_level: dict[int, deque[Pending]] = {}
        self._pending = 0
        self._flushes: list[Flush] = []
        self._stopping: Stop | None = None
        self._taking = False  # events are being routed and filed
        self.leftover = 0
        self.kept = 0  # events left in the spool at the end
        self._reported: dict[str, int] = {}
        self._reported_at = self._clock()
        self._drops_seen: dict[str, int] = {}
        self._drops_last: dict[str, float] = {}

    @property
    def pending(self) -> int:
        """Messages waiting in lanes (each may stand for several events)."""
        return self._pending

    @property
    def spool(self) -> SpoolKeeper | None:
        """The spool, if ``delivery.spool`` is set."""
        return self._keeper

    def after_fork_in_child(self) -> None:
        """A forked child keeps none of the parent's spool."""
        if self._keeper is not None:
            self._keeper.after_fork_in_child()

    def use(self, config: Config) -> None:
        """
        Use a reloaded routing file from now on.

        Messages already in lanes keep their destination; settings in
        ``DeliverySettings.FIXED`` keep their values until a restart.
        """
        self._config = config

    # -- the loop -------------------------------------------------------------

    def run(self, worker: Worker) -> None:
        """The worker thread's body: run the event loop until stopped."""
        self._reset()
        anyio.run(self._main, worker, backend="asyncio")

    async def _main(self, worker: Worker) -> None:
        loop = asyncio.get_running_loop()
        self._loop = loop  # for the render thread's wake-ups
        # values turned into text here (coalescing keys, the spool's)
        # count their faults as the render thread's do
        report_to(self._count)
        wake = asyncio.Event()

        def waker() -> None:
            # after the loop has ended there is nothing left to wake
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(wake.set)

        worker.set_waker(waker)
        headers = {"User-Agent": user_agent(self._version)}
        try:
            async with (
                httpx.AsyncClient(
                    timeout=TIMEOUT, headers=headers, transport=self._transport
                ) as client,
                anyio.create_task_group() as tasks,
            ):
                self._client = client
                self._tasks = tasks
                tasks.start_soon(self._housekeeping)
                if self._keeper is not None:
                    self._left_over(self._keeper.start())
                    tasks.start_soon(self._committer, self._keeper)
                await self._serve(worker, wake)
                tasks.cancel_scope.cancel()
        finally:
            worker.set_waker(None)
            self._give_up()
            for marker in self._flushes:  # nothing more will be sent
                marker.done.set()
            self._flushes.clear()
            for marker in self._flushes:  # nothing more will happen here
                marker.done.set()
            self._flushes.clear()
            if self._keeper is not None:
                self._keeper.close()

    async def _serve(self, worker: Worker, wake: asyncio.Event) -> None:
        while True:
            wake.clear()
            if worker.depth and not worker.urgent:
                with anyio.move_on_after(INTAKE_DELAY):
                    await wake.wait()  # an urgent item ends the wait
                wake.clear()
            items = worker.take()
            for item in items:
                if isinstance(item, Stop):
                    self._stopping = item  # its deadline bounds what follows
            await self._take_in(worker, items)
            if self._flushes or self._stopping:
                for state in self._lanes.values():
                    state.wake.set()
            self._check_flushes()
            stop = self._stopping
            if stop is not None and (
                self._idle()
                or self._safe_on_disk()
                or self._clock() >= stop.deadline
            ):
                return
            timeout = 0.1 if stop is not None else 1.0
            with anyio.move_on_after(timeout):
                await wake.wait()

    async def _take_in(self, worker: Worker, items: list[Any]) -> None:
        """
        Route and file *items*, in order, until the stop's deadline.

        Routing and rendering run in a thread of their own while this
        loop files what is ready and keeps the lanes sending: a value
        whose ``__str__`` takes seconds delays the events after it,
        never the messages already rendered. Only this loop files, in
        the order of the log calls, so every lane keeps that order.
        """
        self._taking = True
        job = _Rendering(items)
        try:
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(self._render, job)
                await self._file_rendered(worker, job)
                tasks.cancel_scope.cancel()  # out of time: let it go
        finally:
            job.abandoned = True
            self._taking = False
            if job.filed < len(items):  # it failed, or its thread did
                self._out_of_time(items[job.filed :])
            worker.done(0, last=True)

    async def _render(self, job: _Rendering) -> None:
        """Run :meth:`_render_all` in a thread; say when it is over."""
        try:
            await anyio.to_thread.run_sync(
                self._render_all, job, abandon_on_cancel=True
            )
        finally:
            job.ended = True
            job.ready.set()

    def _render_all(self, job: _Rendering) -> None:
        """In the render thread: route each event, in order."""
        shared = time.perf_counter()
        out = job.out
        for item in job.items:
            if job.abandoned:  # out of time: nobody files the rest
                return
            if isinstance(item, (Flush, Stop)):
                out.append((item, None))
            else:
                out.append((item, self._routed(item)))
            if len(out) >= RUN_AHEAD:
                self._wait_for_room(job)
                shared = time.perf_counter()
            elif time.perf_counter() - shared > WORK_SLICE:
                # share the GIL now and then: an application thread
                # waiting for it waits a millisecond, not the 5 ms
                # switch interval
                time.sleep(0)
                shared = time.perf_counter()

    def _wait_for_room(self, job: _Rendering) -> None:
        """In the render thread: wait until the loop has filed some."""
        job.room.clear()
        loop = self._loop
        if loop is not None:  # file now, not at the next look
            with contextlib.suppress(RuntimeError):  # the loop has ended
                loop.call_soon_threadsafe(job.ready.set)
        while len(job.out) >= RUN_AHEAD and not job.abandoned:
            job.room.wait(FILE_EVERY)

    async def _file_rendered(self, worker: Worker, job: _Rendering) -> None:
        """File what the render thread has done, as it gets done."""
        total = len(job.items)
        while True:
            handled = 0
            while job.out:
                item, messages = job.out.popleft()
                if messages is not None:
                    self._file_all(messages)
                    handled += 1
                elif isinstance(item, Flush):  # all before it is filed
                    self._flushes.append(item)
                job.filed += 1
            worker.done(handled)
            job.room.set()
            if job.filed >= total or (job.ended and not job.out):
                return
            stop = self._stopping
            if stop is not None and self._clock() >= stop.deadline:
                job.abandoned = True
                self._out_of_time(job.items[job.filed :])
                job.filed = total
                return
            job.ready.clear()
            with anyio.move_on_after(FILE_EVERY):
                await job.ready.wait()

    def _routed(self, raw: RawEvent) -> list[RoutedMessage]:
        """The messages of one event; a failure drops it alone, counted."""
        try:
            return self._process(raw)
        except Exception as exc:  # the worker goes on
            self._unrenderable(exc)
            return []

    def _out_of_time(self, items: list[Any]) -> None:
        """Stopping, out of time: what was not even routed is lost too."""
        left = sum(1 for i in items if not isinstance(i, (Flush, Stop)))
        self._count(Loss.SHUTDOWN.counter, left)
        self.leftover += left
        self._flushes.extend(i for i in items if isinstance(i, Flush))

    def _unrenderable(self, exc: Exception) -> None:
        self._count(Loss.UNRENDERABLE.counter, 1)
        self._warn(
            "unrenderable",
            f"an event could not be routed or queued and was dropped "
            f"({described(exc)}); the next such are counted as "
            f"{Loss.UNRENDERABLE.counter}",
        )

    def _idle(self) -> bool:
        keeper = self._keeper
        return all(
            not len(s.lane)
            and not s.sending
            and (keeper is None or not keeper.has_waiting(s.key))
            for s in self._lanes.values()
        )

    def _safe_on_disk(self) -> bool:
        """
        Stopping with Discord failing and everything left in the spool.

        Waiting out the flush timeout would gain nothing: the next
        process sends what is left.
        """
        keeper = self._keeper
        if keeper is None or keeper.uncommitted:
            return False
        for state in self._lanes.values():
            if not len(state.lane) and not state.sending:
                continue
            if not state.failing or state.destination is None:
                return False
            waiting = [*state.inflight, *state.lane.items()]
            if any(not p.spool for p in waiting):
                return False
        return True

    def _check_flushes(self) -> None:
        if self._flushes and self._idle():
            for marker in self._flushes:
                marker.done.set()
            self._flushes.clear()

    @property
    def _forcing(self) -> bool:
        """Flushing or stopping: send now, windows or not."""
        return bool(self._flushes) or self._stopping is not None

    @property
    def _release_held(self) -> bool:
        """
        Whether held repeats leave now, their windows open or not.

        Flushing or stopping, once the events taken in are all filed: a
        summary sent while copies are still coming in would be followed
        by another, where one can say it all.
        """
        return self._forcing and not self._taking

    # -- accepting ----------------------------------------------------------

    def _file_all(self, messages: list[RoutedMessage]) -> None:
        """File one event's messages; one that fails is dropped alone."""
        for message in messages:
            try:
                self._file(message)
            except Exception as exc:  # noqa: PERF203 - e.g. a key's repr()
                self._unrenderable(exc)

    def _file(self, message: RoutedMessage, *, notice: bool = False) -> None:
        """
        Put *message* in its destination's lane.

        A *notice* (the engine's own report of losses) is exempt from the
        bound: it must never push out an event it is not about.
        """
        state = self._lane_for(message)
        if state.disabled is not None:
            self._drop([message], state.disabled, state)
            return
        keeper = self._keeper
        entry = None
        if keeper is not None and state.destination is not None:
            if not notice:  # the engine's own news is about this process
                entry = keeper.append(message)
            if entry is not None and keeper.has_waiting(state.key):
                # older messages of this lane wait on disk: in order,
                # this one waits there too
                keeper.wait(state.key, entry)
                self._run(state)
                return
        self._queue(state, message, entry, notice=notice)
        self._run(state)

    def _queue(
        self,
        state: _LaneState,
        message: RoutedMessage,
        entry: SpoolEntry | None,
        *,
        notice: bool = False,
    ) -> None:
        item, new = state.lane.add_item(message, self._clock())
        if entry is not None:
            item.spool.append(entry)
        if not new:
            self._count("coalesced", 1)
            return
        self._pending += 1
        if not notice:
            self._by_level.setdefault(item.level, deque()).append(item)
            self._evict()

    def _run(self, state: _LaneState) -> None:
        state.wake.set()
        if not state.running:
            state.running = True
            self._tasks.start_soon(self._drive, state)

    def _lane_for(self, message: RoutedMessage) -> _LaneState:
        return self._lane_of(message.channel, message.target)

    def _lane_of(self, channel: str, target: Channel | None) -> _LaneState:
        destination = target.destination if target is not None else None
        if destination is None:
            # one lane for the console: a reader sees the channels' messages
            # in the order they were logged, not grouped by channel
            key = label = channel = "console"
        elif isinstance(destination, BotChannelDestination):
            key = f"bot:{destination.channel_id}"
            label = f"channel {destination.channel_id}"
            channel = destination.channel_id
        else:
            key, label = f"webhook:{destination.url}", destination.redacted_url
            # a webhook posts to one channel, which its URL does not name:
            # its id stands for it (threads of one webhook share it)
            channel = f"webhook:{destination.webhook_id or destination.url}"
        state = self._lanes.get(key)
        if state is None:
            lane = Lane(
                gather=self._settings.batch_window,
                window=self._settings.coalesce_window,
            )
            state = _LaneState(key, label, destination, channel, lane)
            self._lanes[key] = state
        return state

    def _evict(self) -> None:
        """
        Over the bound: make room, the lowest level first.

        Without a spool the oldest of the lowest level is dropped. With
        one, the newest of the lowest level steps aside to wait on disk
        (it is there already): its lane then sends in order, taking it
        back when the older ones are gone.
        """
        spooled = self._keeper is not None
        while self._pending > self._settings.queue_size:
            for level in sorted(self._by_level):
                queue = self._by_level[level]
                victim = _pop_live(queue, newest=spooled)
                if victim is None:
                    continue
                state = self._lane_for(victim.message)
                state.lane.discard(victim)
                self._pending -= 1
                key = state.key
                if victim.spool and self._keeper is not None:
                    for entry in victim.spool:
                        self._keeper.wait(key, entry)
                    break
                self._count(Loss.QUEUE_FULL.counter, victim.count)
                state.dropped_since[Loss.QUEUE_FULL] += victim.count
                break
            else:
                return

    # -- sending ------------------------------------------------------------

    async def _drive(self, state: _LaneState) -> None:
        """Send what the lane holds, in order, until it is empty."""
        try:
            while True:
                self._refill(state)
                now = self._clock()
                lane = state.lane
                lane.release(now, everything=self._release_held)
                due = lane.due(now, flushing=self._forcing)
                if due is None:
                    later = lane.next_release()
                    if later is None:
                        return
                    await self._sleep(state, later - now)
                    continue
                if due > now:
                    await self._sleep(state, due - now)
                    continue
                batch = lane.take(now)
                for item in batch:
                    item.taken = True
                self._pending -= len(batch)
                # not committed first: what Discord takes within the group
                # commit's 100 ms never touches the disk, and what it does
                # not take is in the next commit
                state.sending = True
                state.inflight = batch
                try:
                    await self._deliver(state, batch)
                    state.inflight = []  # delivered or counted as dropped
                finally:
                    state.sending = False
                self._check_flushes()
        finally:
            state.running = False
            self._check_flushes()

    def _refill(self, state: _LaneState) -> None:
        """Read the lane's messages back from disk while it has room."""
        keeper = self._keeper
        if keeper is None or not keeper.has_waiting(state.key):
            return
        room = min(REFILL, self._settings.queue_size - self._pending)
        if room <= 0 or len(state.lane) >= REFILL:
            return
        for message, entry in keeper.take(state.key, room, self._config):
            target = self._lane_for(message)
            if target is not state:  # its channel moved on reload
                self._queue(target, message, entry)
                self._run(target)
            else:
                self._queue(state, message, entry)

    def _left_over(self, entries: list[SpoolEntry]) -> None:
        """Queue what an earlier process left in the spool, oldest first."""
        keeper = self._keeper
        if keeper is None:
            return
        for entry in entries:
            target = self._config.channels.get(entry.channel)
            if target is None:
                self._count(Loss.UNKNOWN_CHANNEL.counter, 1)
                keeper.done([entry])
                continue
            if target.destination is None:
                continue  # no Discord here: it stays for a process that has
            state = self._lane_of(entry.channel, target)
            keeper.wait(state.key, entry)
            self._run(state)
        if entries:
            self._count("spool.replayed", len(entries))

    async def _committer(self, keeper: SpoolKeeper) -> None:
        """The group commit: at most COMMIT_EVERY seconds of exposure."""
        while True:
            await anyio.sleep(COMMIT_EVERY)
            keeper.commit()

    async def _sleep(self, state: _LaneState, seconds: float) -> None:
        state.wake.clear()
        with anyio.move_on_after(max(seconds, 0.0)):
            await state.wake.wait()

    async def _deliver(self, state: _LaneState, batch: list[Pending]) -> None:
        wall = time.time()
        messages = [
            dataclasses.replace(
                p.message,
                embed=p.embed()
                if p.repeat  # held on purpose: not late
                else with_delay(p.embed(), p.first, wall),
            )
            for p in batch
        ]
        if state.destination is None:
            shown = self._console.deliver(messages)
            if shown:
                self._count("console", shown)
            return
        if state.disabled is not None:
            self._drop(messages, state.disabled, state, batch)
            return
        built = self._build(state, batch, messages)
        if built is None:
            return  # nothing in the batch could be encoded; counted
        batch, messages, request = built
        if request is None:
            self._disable(state, Loss.NO_TOKEN, "DISCORD_BOT_TOKEN is not set")
            self._drop(messages, Loss.NO_TOKEN, state, batch)
            return
        await self._attempt(state, batch, messages, request)

    def _build(
        self,
        state: _LaneState,
        batch: list[Pending],
        messages: list[RoutedMessage],
    ) -> tuple[list[Pending], list[RoutedMessage], Request | None] | None:
        """
        The request for *batch*, leaving out what cannot be encoded.

        A message that cannot be made into a request (a lone surrogate,
        a value JSON has no form for, any error building it) would fail
        the same way on every retry: it is dropped alone, counted as
        ``rejected`` and warned once, and the rest of its batch goes on.
        Returns ``None`` when nothing is left to send.
        """
        request, error = self._try_request(state, batch, messages)
        if error is None:
            return batch, messages, request
        kept: list[Pending] = []
        kept_messages: list[RoutedMessage] = []
        for item, message in zip(batch, messages, strict=True):
            error = self._try_request(state, [item], [message])[1]
            if error is not None:
                self._unencodable(state, [item], [message], error)
                continue
            kept.append(item)
            kept_messages.append(message)
        state.inflight = kept  # the others are counted already
        if not kept:
            return None
        request, error = self._try_request(state, kept, kept_messages)
        if error is not None:  # each alone, but not together: none goes
            self._unencodable(state, kept, kept_messages, error)
            state.inflight = []
            return None
        return kept, kept_messages, request

    def _try_request(
        self,
        state: _LaneState,
        batch: list[Pending],
        messages: list[RoutedMessage],
    ) -> tuple[Request | None, Exception | None]:
        """The request, or the error building it (any: never sendable)."""
        try:
            return self._request(state, batch, messages), None
        except Exception as exc:  # any: the caller counts it
            return None, exc

    def _request(
        self,
        state: _LaneState,
        batch: list[Pending],
        messages: list[RoutedMessage],
    ) -> Request | None:
        # a batch shares one ping (the lane never mixes them): the first's
        assert state.destination is not None
        payload = batch_payload(
            batch[0].message.payload, [m.embed for m in messages]
        )
        return build_request(state.destination, payload)

    def _unencodable(
        self,
        state: _LaneState,
        batch: list[Pending],
        messages: list[RoutedMessage],
        exc: Exception,
    ) -> None:
        what = str(exc) if isinstance(exc, ValueError) else ""
        what = redact_text(
            what or f"could not be built ({type(exc).__name__})"
        )
        self._warn(
            f"unencodable:{state.key}",
            f"a message for {state.label} was dropped (rejected): its "
            f"payload {what}; the rest of its batch is sent",
        )
        self._drop(messages, Loss.REJECTED, state, batch)

    async def _attempt(
        self,
        state: _LaneState,
        batch: list[Pending],
        messages: list[RoutedMessage],
        request: Request,
    ) -> None:
        failures = 0
        while True:
            turn = await self._turn(state, batch, messages)
            if turn is None:
                return  # dropped, and counted
            if not turn:
                continue
            now = self._clock()
            self._limiter.sending(state.key, state.channel, now)
            outcome = await self._send(request)
            began, now = now, self._clock()
            if outcome.headers:
                self._limiter.update(state.key, outcome.headers, now)
            state.failing = outcome.kind == "retry"
            if outcome.kind == "sent":
                self._sent(state, batch)
                return
            if outcome.kind == "rate_limited":
                self._count("rate_limited", 1)
                self._limiter.too_many(
                    state.key, outcome.headers, outcome.body, now
                )
                continue
            if outcome.kind == "retry":
                failures += 1
                pause = self._retry(
                    state, batch, outcome, began, Loss.SERVER_ERROR
                )
                if pause is None:
                    self._drop(messages, Loss.SERVER_ERROR, state, batch)
                    return
                self._count("retries", 1)
                await anyio.sleep(min(pause, RETRY.pause(failures)))
                continue
            self._failed(state, batch, messages, outcome)
            return

    async def _turn(
        self,
        state: _LaneState,
        batch: list[Pending],
        messages: list[RoutedMessage],
    ) -> bool | None:
        """
        Whether the batch may go now.

        ``True``: send now; ``False``: it waited, look again; ``None``:
        it was dropped (its destination disabled, or held for too long).
        """
        if state.disabled is not None:
            self._drop(messages, state.disabled, state, batch)
            return None
        now = self._clock()
        wait = self._limiter.wait(state.key, state.channel, now)
        if wait.excessive:
            held = await self._hold(state, batch, messages, wait, now)
            return False if held else None
        if wait.seconds > 0:
            state.resume_at = now + wait.seconds
            await anyio.sleep(wait.seconds)
            return False
        return True

    async def _hold(
        self,
        state: _LaneState,
        batch: list[Pending],
        messages: list[RoutedMessage],
        wait: Wait,
        now: float,
    ) -> bool:
        """
        Wait out a rate limit past its cap; ``False`` once dropped.

        Never before Discord's time, but not forever either: the
        destination is failing, and its messages follow the retry budget
        (and the spool) as for a 5xx.
        """
        held = Outcome("retry", detail=_held(wait))
        pause = self._retry(state, batch, held, now, Loss.RATE_LIMITED)
        if pause is None:
            self._drop(messages, Loss.RATE_LIMITED, state, batch)
            return False
        await anyio.sleep(min(wait.seconds, pause))
        return True

    async def _send(self, request: Request) -> Outcome:
        try:
            return await send(self._client, request)
        except Exception as exc:  # whatever happens, the lane goes on
            return Outcome(
                "retry", detail=redact_text(f"send failed: {exc!r}")
            )

    def _retry(
        self,
        state: _LaneState,
        batch: list[Pending],
        outcome: Outcome,
        began: float,
        reason: Loss,
    ) -> float | None:
        """
        Whether to try a failing batch again: the longest pause, or None.

        The budget, ``retry_for``, runs from when the destination began
        failing, not from this batch: a lane that has failed for longer
        tries each later batch once more, then drops it. Past the budget
        the batch is dropped (as *reason*), unless its events are in the
        spool: then nothing is lost by waiting, and the lane tries on at
        the slowest backoff until Discord answers or the process ends
        (the next one sends them).
        """
        trouble = self._failing(
            state, outcome, began, at_once=reason is Loss.RATE_LIMITED
        )
        state.failing = True
        policy = dataclasses.replace(
            RETRY, budget=self._config.delivery.retry_for
        )
        budget = policy.budget
        failing = self._clock() - trouble.since
        if not policy.gives_up(failing):
            return max(budget - failing, 0.05)
        if any(p.spool for p in batch):
            self._warn(
                f"kept:{state.key}",
                f"{state.label}: failing for {budget:g}s; its messages are "
                "kept in the spool and sent when it answers again",
            )
            return RETRY.cap
        self._warn(
            f"retry:{reason}:{state.key}",
            f"{state.label}: giving up after {budget:g}s of failures "
            f"({outcome.detail or outcome.status}); its messages are "
            f"dropped ({reason})",
        )
        return None

    def _failing(
        self,
        state: _LaneState,
        outcome: Outcome,
        began: float,
        *,
        at_once: bool = False,
    ) -> _Trouble:
        """Note that *state*'s destination failed; tell people, once."""
        now = self._clock()
        trouble = state.trouble
        if trouble is None:
            trouble = state.trouble = _Trouble(
                since=began,
                wall=time.time() - (now - began),
                why=outcome.detail or str(outcome.status),
                unreachable=outcome.unreachable,
            )
        else:
            trouble.why = outcome.detail or str(outcome.status)
            trouble.unreachable = outcome.unreachable
        # said at the latest when its messages start being given up
        soon = min(FAILING_AFTER, self._config.delivery.retry_for)
        if trouble.said or not (at_once or now - trouble.since >= soon):
            return trouble
        if state.said_at is not None and now - state.said_at < QUIET_AFTER:
            return trouble  # flapping: it was told a moment ago
        trouble.said = True
        state.said_at = now
        budget = self._config.delivery.retry_for
        then = (
            "kept in the spool until it answers"
            if self._keeper is not None
            else "dropped"
        )
        text = (
            f"{_trouble_text(state.label, trouble)}; its messages are "
            f"retried for up to {budget:g}s, then {then}"
        )
        say(text)
        self._alert(
            "⚠️ A Discord destination is failing",
            escape_markdown(text),
            avoid=state.destination,
        )
        return trouble

    def _recovered(self, state: _LaneState) -> None:
        """The destination answers again: say so, if its failing was told."""
        trouble, state.trouble = state.trouble, None
        if trouble is None or not trouble.said:
            return
        took = _span(self._clock() - trouble.since)
        text = (
            f"{state.label} answers again, after {took} "
            f"({_verb(trouble)} since {_clock_text(trouble.wall)} UTC)"
        )
        say(text)
        self._alert(
            "✅ A Discord destination recovered",
            escape_markdown(text),
            avoid=state.destination,
        )

    def rate_limit_wait(self) -> float:
        """
        Seconds until the longest rate-limit wait of any lane ends.

        ``0`` when no lane waits for Discord's limits: what a person
        waiting for a burst to drain wants to know.
        """
        now = self._clock()
        lanes = list(self._lanes.values())
        return max([0.0, *(s.resume_at - now for s in lanes)])

    def troubles(self) -> list[str]:
        """
        The destinations failing right now, each with why and since when.

        For the line at exit that says what was not delivered.
        """
        lanes = list(self._lanes.values())
        return [
            _trouble_text(s.label, s.trouble)
            for s in lanes
            if s.trouble is not None
        ]

    def _sent(self, state: _LaneState, batch: list[Pending]) -> None:
        if self._keeper is not None:
            self._keeper.done(e for p in batch for e in p.spool)
        self._count("sent.messages", 1)
        self._count("sent.embeds", len(batch))
        self._count(
            "delivered",
            sum(p.count for p in batch if not _own(p.message.route)),
        )
        self._recovered(state)
        if state.dropped_since:
            self._notice(state)

    def _failed(
        self,
        state: _LaneState,
        batch: list[Pending],
        messages: list[RoutedMessage],
        outcome: Outcome,
    ) -> None:
        if outcome.kind == "rejected":
            self._recovered(state)  # it answers, if not to this message
            self._warn(
                f"rejected:{state.key}:{outcome.detail}",
                f"Discord rejected a message for {state.label}: "
                f"{outcome.detail}; it is dropped (rejected)",
            )
            self._drop(messages, Loss.REJECTED, state, batch)
            return
        if outcome.kind == "gone":
            if outcome.status in (401, 403):
                self._limiter.invalid(self._clock())
            self._disable(state, Loss.WEBHOOK_GONE, outcome.detail)
            self._drop(messages, Loss.WEBHOOK_GONE, state, batch)
            return
        self._warn(
            f"failed:{state.key}:{outcome.status}",
            f"{state.label} answered {outcome.detail}; message dropped "
            "(failed)",
        )
        self._drop(messages, Loss.FAILED, state, batch)

    def _disable(self, state: _LaneState, reason: Loss, detail: str) -> None:
        """Stop using a destination after its first refusal: no retry loop."""
        state.disabled = reason
        left = state.lane.drop_all()
        for item in left:
            item.dropped = True
        self._pending -= len(left)
        self._drop([p.message for p in left], reason, state, left)
        if self._diag.first(f"disabled:{state.key}"):
            text = (
                f"{state.label} answered {detail}; it is disabled and its "
                "messages are dropped (check the URL or token in your "
                "routing)"
            )
            say(text)
            self._alert(
                "⛔ A Discord destination was disabled",
                escape_markdown(text),
                severe=True,
                avoid=state.destination,
            )

    def _drop(
        self,
        messages: Sequence[RoutedMessage],
        reason: Loss,
        state: _LaneState,
        batch: Sequence[Pending] | None = None,
    ) -> None:
        """
        Count *messages* (of *batch*) as lost for *reason*.

        The engine's own messages (notices, alerts) are not events: losing
        one is not counted, as delivering one is not.
        """
        if batch:
            events = sum(p.count for p in batch if not _own(p.message.route))
        else:
            events = sum(1 for m in messages if not _own(m.route))
        if batch and self._keeper is not None:
            self._keeper.done(e for p in batch for e in p.spool)
        if events:
            self._count(reason.counter, events)
            state.dropped_since[reason] += events

    def _notice(self, state: _LaneState) -> None:
        """Tell the channel (or the ops channel) what was lost, once."""
        lost = state.dropped_since
        total = sum(lost.values())
        reasons = ", ".join(f"{r}: {n}" for r, n in sorted(lost.items()))
        state.dropped_since = Counter()
        ops = self._config.delivery.ops_channel
        target = self._config.channels.get(ops) if ops else None
        if target is None:
            target = next(
                (
                    c
                    for c in self._config.channels.values()
                    if c.destination == state.destination
                ),
                None,
            )
        if target is None:
            return
        embed = {
            "title": f"⚠️ {_events(total)} not delivered",
            "description": f"Reasons: {reasons}",
            "color": 0xFFA000,
        }
        self._post(target.key, embed, NOTICE_ROUTE, logging.WARNING)

    def _post(
        self, channel: str, embed: dict[str, Any], route: str, level: int
    ) -> None:
        """File one of the engine's own messages for *channel*."""
        target = self._config.channels.get(channel)
        if target is None:
            return
        event = LogEvent(
            event=route,
            level=level,
            logger="polybot_loghandler",
            fields={},
            message=str(embed.get("title", "")),
        )
        self._file(
            RoutedMessage(
                channel=target.key,
                route=route,
                payload=build_payload([embed], None),
                embed=embed,
                event=event,
                target=target,
            ),
            notice=True,
        )

    def _alert(
        self,
        title: str,
        text: str,
        *,
        severe: bool = False,
        avoid: Destination | None = None,
    ) -> None:
        """
        Warn the ops channel now, if there is one.

        Not through *avoid*: a destination that just failed would only
        lose the warning about itself.
        """
        ops = self._config.delivery.ops_channel
        target = self._config.channels.get(ops) if ops else None
        if target is None or (
            avoid is not None and target.destination == avoid
        ):
            return
        embed = alert_embed(title, text, severe=severe)
        level = logging.ERROR if severe else logging.WARNING
        self._post(target.key, embed, "polybot_loghandler.alert", level)

    def alert(self, title: str, text: str) -> None:
        """Post a warning to the ops channel (from the worker thread)."""
        self._alert(title, text)

    # -- housekeeping: reload, self-report, early warnings ---------------

    async def _housekeeping(self) -> None:
        """Run the periodic jobs, each at its own interval, forever."""
        due: dict[str, float] = {}
        while True:
            now = self._clock()
            delivery = self._config.delivery
            adopt = None if self._keeper is None else ADOPT_EVERY
            jobs = (
                ("adopt", adopt, self._adopt),
                ("reload", delivery.reload_every, self._reload),
                ("watch", WATCH_EVERY, self._watch_drops),
                (
                    "levels",
                    None if self._check_levels is None else WATCH_EVERY,
                    self._levels,
                ),
                ("report", delivery.report_every, self._report),
            )
            for name, every, job in jobs:
                if every is None:
                    due.pop(name, None)
                    continue
                when = due.setdefault(name, now + every)
                if now < when:
                    continue
                due[name] = now + every
                try:
                    job()
                except Exception as exc:  # the loop goes on regardless
                    self._count("errors.internal", 1)
                    self._warn(f"job:{name}", f"{name} failed: {exc!r}")
            wait = min(due.values(), default=now + WATCH_EVERY) - now
            await anyio.sleep(max(wait, 0.05))

    def _adopt(self) -> None:
        if self._keeper is not None:
            self._left_over(self._keeper.adopt())

    def _reload(self) -> None:
        if self._check_reload is not None:
            self._check_reload()

    def _levels(self) -> None:
        if self._check_levels is not None:
            self._check_levels()

    def _watch_drops(self) -> None:
        """Warn once when events start being dropped for a reason."""
        if self._stats is None:
            return
        now = self._clock()
        for reason, n in drops(self._stats()).items():
            before = self._drops_seen.get(reason, 0)
            self._drops_seen[reason] = n
            if n <= before or reason in QUIET_REASONS:
                continue
            last = self._drops_last.get(reason)
            self._drops_last[reason] = now
            if last is not None and now - last < QUIET_AFTER:
                continue  # still the same episode
            text = (
                f"{counted(n - before, 'event')} dropped ({reason}) in the "
                f"last {WATCH_EVERY:g}s; the next summary has the totals"
            )
            emit(text)
            self._alert("⚠️ Discord delivery is dropping events", text)

    def _report(self) -> None:
        """Post the periodic summary of the counters, if anything moved."""
        channel = self._config.delivery.notice_channel
        if self._stats is None or channel is None:
            return
        now = self._clock()
        stats = self._stats()
        disabled = sorted(
            s.label for s in self._lanes.values() if s.disabled is not None
        )
        embed = summary_embed(
            stats, self._reported, now - self._reported_at, disabled
        )
        self._reported, self._reported_at = stats, now
        if embed is not None:
            self._post(
                channel, embed, "polybot_loghandler.report", logging.INFO
            )

    def _give_up(self) -> None:
        """At the end: what is still waiting will not be delivered."""
        left = kept = 0
        keeper = self._keeper
        for state in self._lanes.values():
            # what was on its way when the loop stopped counts too
            for item in [*state.inflight, *state.lane.drop_all()]:
                if _own(item.message.route):
                    continue
                if item.spool:
                    kept += len(item.spool)  # the next process sends them
                else:
                    left += item.count
            state.inflight = []
            if keeper is not None:
                kept += keeper.waiting(state.key)
        self.leftover += left
        self.kept += kept
        if left:
            self._count(Loss.SHUTDOWN.counter, left)
        if kept:
            self._count("spool.kept", kept)
        self._pending = 0

    def _warn(self, key: str, message: str) -> None:
        self._diag.warn(key, message)


def _pop_live(queue: deque[Pending], *, newest: bool) -> Pending | None:
    """The oldest (or newest) item still waiting, taken off *queue*."""
    while queue:
        item = queue.pop() if newest else queue.popleft()
        if not (item.dropped or item.taken):
            return item
    return None


def _own(route: str) -> bool:
    return route.startswith(OWN_ROUTES)


def _events(n: int) -> str:
    return f"{counted(n, 'event')} {'was' if n == 1 else 'were'}"


def _verb(trouble: _Trouble) -> str:
    return "unreachable" if trouble.unreachable else "failing"


def _clock_text(wall: float) -> str:
    """``12:01:02`` in UTC."""
    return time.strftime("%H:%M:%S", time.gmtime(wall))


def _trouble_text(label: str, trouble: _Trouble) -> str:
    """``webhook … unreachable since 12:01:02 UTC (connection refused)``."""
    return (
        f"{label} {_verb(trouble)} since {_clock_text(trouble.wall)} UTC "
        f"({trouble.why})"
    )


def _span(seconds: float) -> str:
    """A duration for people: ``45s``, ``3m12s``, ``2h05m``."""
    whole = int(max(seconds, 0.0))
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


def _held(wait: Wait) -> str:
    """Why a destination is held past the cap, for people."""
    scope = {
        "bucket": "its rate limit",
        "global": "a global rate limit",
        "cloudflare": "a Cloudflare block",
    }.get(wait.scope, wait.scope)
    return f"held for {_span(wait.seconds)} by {scope}, past the cap"
