"""
The engine: the worker thread's event loop, and what it runs.

It takes captured events from the worker's queue, has them routed and
rendered in the render thread (``intake``), files each message in the
lane of its destination (``lanes``), and runs one task per lane that
sends what the lane holds, in order, as its batching window allows
(``sender``); every ending is counted by the ``ledger``. It also runs
the periodic jobs: reloading the routing file, adopting what other
processes left in the spool, the early warnings and the summary.
Nothing here runs in the application's thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Callable
from typing import Any

import anyio
import anyio.to_thread
import httpx

from polybot_loghandler._batching import Pending
from polybot_loghandler._console import ConsoleSink
from polybot_loghandler._diagnostics import Diagnostics
from polybot_loghandler._discord import user_agent
from polybot_loghandler._levels import LevelCheck
from polybot_loghandler._losses import Loss
from polybot_loghandler._message import RoutedMessage
from polybot_loghandler._places import Places, PlaceStore
from polybot_loghandler._ratelimit import RateLimiter
from polybot_loghandler._routing import RoutingHolder
from polybot_loghandler._spool.db import Database
from polybot_loghandler._spool.keeper import (
    COMMIT_EVERY,
    SpoolKeeper,
)
from polybot_loghandler._spool.places import SpoolPlaces
from polybot_loghandler._spool.store import SpoolEntry
from polybot_loghandler._stats import Stats
from polybot_loghandler._values import report_to
from polybot_loghandler._worker import Flush, Stop, Worker

from .chores import Chores
from .filing import Filer
from .folding import Folder
from .intake import Intake
from .keeping import Keeping
from .lanes import Lanes, LaneState
from .ledger import Ledger
from .sender import Sender, Sleep, outgoing

__all__ = ["Engine"]

#: httpx's timeouts, per connect and per read; each request also has a
#: total deadline (``_discord.REQUEST_DEADLINE``).
TIMEOUT = httpx.Timeout(10.0, connect=5.0)
#: Seconds ordinary events gather in the intake queue after the first of
#: them wakes the loop: a burst of log calls is then routed in one go,
#: after the application's thread is done with it, not call by call
#: while it runs. Urgent events (warnings and worse) cut it short; an
#: ordinary message waits a batch window anyway.
INTAKE_DELAY = 0.02
#: Seconds a lane waits before asking again whether it may send.
PAUSED = 0.05


def _opened_database(keeper: SpoolKeeper) -> Callable[[], Database | None]:
    """The spool's database, opened if need be (a first message did)."""

    def database() -> Database | None:
        return keeper.database if keeper.usable else None

    return database


class Engine:
    """
    Everything the worker thread does, for one routing file.

    Args:
        routing: The routing in use; the engine routes with it, reads
            its settings, and has it reload the file when it changed.
        stats: The counters; the engine adds its own figures (messages
            pending, the longest rate-limit wait) as a gauge.
        console: Where channels without a destination are shown.
        levels: Checked every second for a root logger level that hides
            events (``None``: no check).
        version: The library version, for the ``User-Agent``.
        transport: An httpx transport to use instead of the network.
        clock: Monotonic seconds.
        sleep: Waits on the clock (an ``await``); with *clock*, a fake
            clock drives every wait on Discord.
        cloudflare_pause: Seconds everything waits after a Cloudflare 429.
        route: Turns one queued item into its messages, in the render
            thread (default: the routing's ``process``, for captured
            events); the relay's items carry receipts.
        may_send: Asked before each batch leaves; while it says no, the
            lanes wait (the relay, unsure it still holds its lease).
        watching: Hand out what the watches and digests have due (the
            relay hands them out its own way).
        places: Where the boards' and threads' ids are kept (the
            relay's Redis); by default the spool's database, if there
            is a spool, else memory only.
    """

    def __init__(  # noqa: PLR0913 - the engine's seams, all keyword-only
        self,
        routing: RoutingHolder,
        stats: Stats,
        console: ConsoleSink,
        *,
        levels: LevelCheck | None = None,
        version: str = "0",
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = anyio.sleep,
        cloudflare_pause: float | None = None,
        route: Callable[[Any], list[RoutedMessage]] | None = None,
        may_send: Callable[[], bool] | None = None,
        watching: bool = True,
        places: PlaceStore | None = None,
    ) -> None:
        config = routing.config
        self._place_store = places
        self._watching = watching
        self._route = route
        self._may_send = may_send
        self._routing = routing
        # the settings a reload cannot change (DeliverySettings.FIXED)
        self._settings = config.delivery
        self._stats = stats
        self._console = console
        self._levels = levels
        self._version = version
        self._transport = transport
        self._clock = clock
        self._sleep_for = sleep
        self._cloudflare_pause = cloudflare_pause
        self._diag = Diagnostics()  # warned once per process, not per run
        self._keeper = (
            None
            if config.delivery.spool is None
            else SpoolKeeper(
                config.delivery.spool, config.delivery.spool_size, stats.count
            )
        )
        # with a spool, the watches' state and the mutes are kept there
        self._keeping = (
            None
            if self._keeper is None or not watching
            else Keeping(
                routing,
                self._keeper,
                stats=stats,
                diagnostics=self._diag,
                ledger=lambda: self.ledger,
                left_over=self._left_over,
            )
        )
        self._reset()
        stats.add_gauge(self._figures)

    def _reset(self) -> None:
        # everything the loop owns; a run (and so a forked child's new
        # worker) starts from nothing
        settings = self._settings
        self._loop: asyncio.AbstractEventLoop | None = None
        self.lanes = Lanes(
            settings.batch_window,
            settings.coalesce_window,
            settings.queue_size,
        )
        self.ledger = Ledger(
            self._stats,
            lambda: self._routing.config,
            self._keeper,
            diagnostics=self._diag,
            started=self._clock(),
        )
        if self._keeper is not None:
            self.lanes.on_disk = self._keeper.has_waiting
        self.places = Places()
        self._limiter = (
            RateLimiter()
            if self._cloudflare_pause is None
            else RateLimiter(cloudflare_pause=self._cloudflare_pause)
        )
        self._flushes: list[Flush] = []
        self._filer = Filer(
            self.lanes,
            self.ledger,
            self._keeper,
            lambda: self._routing.config,
            self._clock,
        )
        self._folder = Folder(
            self.lanes,
            self._keeper,
            lambda: self._routing.config,
            self._filer.requeue,
            clock=self._clock,
            wall=self._routing.wall,
        )
        self._intake = Intake(
            self._routed, self._file_all, self._clock, self._flushes
        )
        self._stopping: Stop | None = None
        self._taking = False  # events are being routed and filed
        self.leftover = 0
        self.kept = 0  # events left in the spool at the end

    def _figures(self) -> dict[str, int]:
        """The engine's gauges, read with the counters."""
        out = {"pending": self.lanes.pending}
        if self._keeper is not None:
            out["spool.pending"] = self._keeper.pending
        wait = self.lanes.rate_limit_wait(self._clock())
        out["rate_limit.wait_s"] = math.ceil(wait)
        return out

    @property
    def spool(self) -> SpoolKeeper | None:
        """The spool, if ``delivery.spool`` is set."""
        return self._keeper

    def after_fork_in_child(self) -> None:
        """A forked child keeps none of the parent's spool."""
        if self._keeper is not None:
            self._keeper.after_fork_in_child()

    def alert(self, title: str, text: str) -> bool:
        """
        From any thread: warn the ops channel, from the engine's loop.

        Whether it was handed over: not without an ops channel, or
        while the loop does not run (the caller says it elsewhere).
        """
        config = self._routing.config
        ops = config.delivery.ops_channel
        loop = self._loop
        if loop is None or not ops or ops not in config.channels:
            return False

        def post() -> None:
            self.ledger.alert(title, text)

        try:
            loop.call_soon_threadsafe(post)
        except RuntimeError:  # the loop has ended
            return False
        return True

    def troubles(self) -> list[str]:
        """The destinations failing now, each with why and since when."""
        return self.ledger.troubles(self.lanes)

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
        report_to(self._stats.count)
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
                self._tasks = tasks
                self._sender = Sender(
                    client,
                    self.lanes,
                    self.ledger,
                    lambda: self._routing.config,
                    clock=self._clock,
                    sleep=self._sleep_for,
                    limiter=self._limiter,
                    places=self.places,
                    wall=self._routing.wall,
                )
                chores = Chores(
                    self._routing,
                    self._stats,
                    self.ledger,
                    self.lanes,
                    self._clock,
                    levels=self._levels,
                    adopt=None if self._keeper is None else self._adopt,
                    watching=self._hand_out if self._watching else None,
                    keep=None if self._keeping is None else self._keeping.run,
                )
                tasks.start_soon(chores.run)
                tasks.start_soon(self._post_office)
                if self._keeper is not None:
                    self._left_over(self._keeper.start())
                    tasks.start_soon(self._committer, self._keeper)
                self._load_places()
                if self._keeping is not None:  # before the first event
                    self._keeping.start()
                await self._serve(worker, wake)
                tasks.cancel_scope.cancel()
        finally:
            worker.set_waker(None)
            self._give_up()
            for marker in self._flushes:  # nothing more will happen here
                marker.done.set()
            self._flushes.clear()
            if self._keeping is not None:  # after the last hand-out
                self._keeping.stop()
            if self._keeper is not None:
                self._keeper.close()

    def _load_places(self) -> None:
        """Read the boards and threads an earlier run kept."""
        store = self._place_store
        keeper = self._keeper
        if store is None and keeper is not None:
            store = SpoolPlaces(_opened_database(keeper), self._routing.wall())
        if store is None:
            return
        self.places.load(self._routing.wall(), store)
        if self.places.store_failed:
            self.ledger.warn(
                "places",
                "the boards' and threads' ids could not be read back: "
                "boards are posted anew, threads made anew",
            )

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
            if self._handing_over:
                self._hand_over(worker, items)
                # a request on the wire may have reached Discord: its
                # answer is awaited; a batch between tries is left
                if not any(s.on_wire for s in self.lanes):
                    return
            else:
                await self._take_in(worker, items)
            if self._flushes or self._stopping:
                for state in self.lanes:
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
        """Route and file *items*, in order, until the stop's deadline."""
        stop = self._stopping
        deadline = None if stop is None else stop.deadline
        intake = self._intake
        before = intake.lost
        self._taking = True
        try:
            await intake.take_in(worker, items, deadline, self._loop)
        finally:
            self._taking = False
            lost = intake.lost - before
            self.ledger.lost(Loss.SHUTDOWN, lost)
            self.leftover += lost
        if self._watching and any(isinstance(i, Stop) for i in items):
            self._hand_out(final=True)  # after the events before the stop

    @property
    def _handing_over(self) -> bool:
        """Stopping so that another process delivers what is left."""
        stop = self._stopping
        return stop is not None and stop.hand_over

    def _hand_over(self, worker: Worker, items: list[Any]) -> None:
        """Leave *items* unrouted: their entries wait for the next relay."""
        events = [i for i in items if not isinstance(i, (Flush, Stop))]
        self._flushes.extend(i for i in items if isinstance(i, Flush))
        if events:
            self.ledger.count("relay.left_pending", len(events))
        worker.done(len(events), last=True)

    def _routed(self, raw: Any) -> list[RoutedMessage]:
        """In the render thread: one event's messages; never raises."""
        try:
            if self._route is None:  # looked up each time: the usual
                return self._routing.process(raw)
            return self._route(raw)
        except Exception as exc:  # the worker goes on
            self.ledger.unrenderable(exc)
            return []

    def _idle(self) -> bool:
        """Nothing left to file or send (a flush is done)."""
        if self.ledger.outbox:  # news not yet filed is still to be sent
            return False
        keeper = self._keeper
        return self.lanes.idle(
            keeper.has_waiting if keeper is not None else _nothing
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
        return self.lanes.all_on_disk()

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

    # -- filing ---------------------------------------------------------------

    def _file_all(self, messages: list[RoutedMessage]) -> None:
        """File one event's messages; one that fails is dropped alone."""
        for message in messages:
            try:
                state = self._filer.file(message)
            except Exception as exc:
                self.ledger.unfiled(message, exc)
                continue
            if state is not None:
                self._run(state)

    def _hand_out(self, *, final: bool = False) -> None:
        """
        File what the watches and digests have due.

        *final* (stopping): every open digest period too, marked
        partial, so what it gathered is not lost with the process (with
        a spool, the next process sends the rest of the period, partial
        too).
        """
        routing = self._routing
        watching = routing.watching
        try:
            now = routing.wall()
            outputs = watching.close_all(now) if final else watching.due(now)
        except Exception as exc:  # the loop goes on regardless
            self.ledger.count("errors.internal")
            self.ledger.warn("job:watching", f"watching failed: {exc!r}")
            return
        for output in outputs:
            self._file_all(routing.made(output))

    def _file_posts(self) -> None:
        """File the ledger's own messages, in the order it wrote them."""
        outbox = self.ledger.outbox
        while outbox:
            state = self._filer.file(outbox.popleft(), notice=True)
            if state is not None:
                self._run(state)

    def _run(self, state: LaneState) -> None:
        state.wake.set()
        if not state.running:
            state.running = True
            self._tasks.start_soon(self._drive, state)

    # -- sending ------------------------------------------------------------

    async def _drive(self, state: LaneState) -> None:
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
                    await self._nap(state, later - now)
                    continue
                if due > now:
                    await self._nap(state, due - now)
                    continue
                if self._handing_over:  # what is left is the next relay's
                    return
                if self._may_send is not None and not self._may_send():
                    await self._nap(state, PAUSED)
                    continue
                if self._fold(state):
                    # what it folded may have emptied the lane while more
                    # waits on disk: the batch is taken from a full lane
                    self._refill(state)
                batch = self.lanes.take(state, now)
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
                self._file_posts()
                self._check_flushes()
        finally:
            state.running = False
            self._check_flushes()

    def _refill(self, state: LaneState) -> None:
        """Read the lane's messages back from the spool while it has room."""
        for other in self._filer.refill(state):
            self._run(other)  # its channel moved on reload

    def _fold(self, state: LaneState) -> int:
        """Fold what the lane cannot send within its ``max_lag``."""
        try:
            return self._folder.fold(state, self._sender.limiter)
        except Exception as exc:  # the lane sends what it holds regardless
            self.ledger.count("errors.internal")
            self.ledger.warn("folding", f"folding failed: {exc!r}")
            return 0

    async def _nap(self, state: LaneState, seconds: float) -> None:
        """Wait for the lane's window, or for a wake-up (a flush)."""
        state.wake.clear()
        with anyio.move_on_after(max(seconds, 0.0)):
            await state.wake.wait()

    async def _deliver(self, state: LaneState, batch: list[Pending]) -> None:
        messages = outgoing(batch, time.time())
        if state.destination is None:
            self.ledger.shown(batch, self._console.deliver(messages))
            return
        await self._sender.deliver(state, batch, messages)

    async def _post_office(self) -> None:
        """File the ledger's own messages as soon as it writes them."""
        posted = self.ledger.posted
        while True:
            await posted.wait()
            posted.clear()
            self._file_posts()

    # -- the spool ----------------------------------------------------------

    def _left_over(self, entries: list[SpoolEntry]) -> None:
        """Queue what an earlier process left in the spool, oldest first."""
        for state in self._filer.left_over(entries):
            self._run(state)

    async def _committer(self, keeper: SpoolKeeper) -> None:
        """The group commit: at most COMMIT_EVERY seconds of exposure."""
        while True:
            await anyio.sleep(COMMIT_EVERY)
            keeper.commit()

    def _adopt(self) -> None:
        """Take over what a process that is gone left in the spool."""
        if self._keeper is not None:
            self._left_over(self._keeper.adopt())

    def _give_up(self) -> None:
        """At the end: what is still waiting will not be delivered."""
        left, kept, pending = self.lanes.give_up()
        if pending:  # the next relay delivers them
            self.ledger.count("relay.left_pending", pending)
        keeper = self._keeper
        if keeper is not None:
            kept += sum(keeper.waiting(s.key) for s in self.lanes)
        self.leftover += left
        self.kept += kept
        self.ledger.lost(Loss.SHUTDOWN, left)
        if kept:
            self.ledger.count("spool.kept", kept)


def _nothing(_key: str) -> bool:
    return False
