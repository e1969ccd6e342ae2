"""
The process-wide pipeline for one routing file.

Every handler and processor built from the same routing file shares one
:class:`Pipeline`: one router, one worker thread, one set of counters.
The caller's side (``offer_*``) decides cheaply whether any route might
want an event and, if so, captures it and queues it; the worker side
(:meth:`Pipeline.process`) matches exactly, renders, and delivers.
"""

from __future__ import annotations

import logging
import threading
import time as _time
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from ._console import ConsoleSink
from ._delivery import Engine
from ._diagnostics import Diagnostics, described, say
from ._events import (
    RawEvent,
    capture_event_dict,
    capture_record,
    dict_fields,
    dict_level,
    record_fields,
)
from ._format import counted
from ._levels import LevelCheck
from ._losses import Loss
from ._message import RoutedMessage
from ._model import Config
from ._relay.producer import Producer
from ._router import Plan, Router
from ._routing import RoutingHolder
from ._stats import Stats
from ._values import text_of
from ._worker import Worker

__all__ = ["CAPTURES", "Pipeline"]

_log = logging.getLogger("polybot_loghandler")


class _Captures:
    """
    The active :func:`polybot_loghandler.testing.capture` blocks.

    Also the watches' clock: the time, plus what captures have advanced
    it by (``advance``). Advanced time stays advanced for the process.
    """

    def __init__(self) -> None:
        self.active: list[list[RoutedMessage]] = []
        self.lock = threading.Lock()
        self.offset = 0.0

    def now(self) -> float:
        """Epoch seconds as the watches and digests count them."""
        return _time.time() + self.offset

    def record(self, messages: list[RoutedMessage]) -> None:
        with self.lock:
            for sink in self.active:
                sink.extend(messages)


CAPTURES = _Captures()


def _dict_plan(
    router: Router,
    key: tuple[Any, Any, str, Any],
    event_dict: Mapping[str, Any],
) -> tuple[str, int, str, Plan]:
    """
    A structlog event's name, level and logger, and the routes' plan.

    *key* is the call site as the event came: its ``event`` and ``level``
    values, the method and the logger's name. The answer is remembered in
    ``router.memo`` under it when those are all strings (or absent):
    other values may print differently next time.
    """
    raw_event, raw_level, method_name, raw_name = key
    levelno = dict_level(event_dict, method_name)
    event = raw_event if raw_event.__class__ is str else text_of(raw_event)
    name = "" if not raw_name else text_of(raw_name)
    found = (event, levelno, name, router.plan(event, levelno, name))
    if (
        raw_event.__class__ is str
        and (raw_level is None or raw_level.__class__ is str)
        and (raw_name is None or raw_name.__class__ is str)
    ):
        router.remember(key, found)
    return found


class Pipeline:
    """
    Routing, rendering and the worker for one routing file.

    Args:
        config: The loaded routing file.
        source: The file to watch and reload (``None``: the
            configuration was not loaded from a file).
    """

    def __init__(self, config: Config, source: str | None = None) -> None:
        self._stats = Stats()
        self._diag = Diagnostics()
        #: the routing in use; its router is the caller's pre-filter
        self._routing = RoutingHolder(
            config, source, self._stats, self._diag, wall=CAPTURES.now
        )
        self.levels = LevelCheck(self._routing, self._stats, self._diag)
        self._local = threading.local()
        self._console = ConsoleSink(
            config.delivery.console, config.delivery.console_per_channel
        )
        self._reported = 0  # undelivered events already told on stderr
        self._kept = 0  # events left in the spool, already told
        self._engine: Engine | Producer
        if config.delivery.relay:  # the relay delivers; we append
            self._engine = Producer(
                self._routing, self._stats, version=_version()
            )
        else:
            self._engine = Engine(
                self._routing,
                self._stats,
                self._console,
                levels=self.levels,
                version=_version(),
            )
        self._worker = Worker(
            None,
            self._worker_error,
            config.delivery.queue_size,
            loop=self._engine.run,
        )
        self._stats.add_gauge(self._figures)
        self._start_watching()

    def start(self) -> None:
        """Start the worker now (it otherwise starts when needed)."""
        self._worker.start()

    def _start_watching(self) -> None:
        # the worker watches the routing file, so it runs from the start
        # when there is one to watch: a route added for an event the old
        # file did not want must be seen without such an event arriving.
        # Likewise a spool with messages left in it: they go out now, not
        # at the first event
        delivery = self.config.delivery
        watching = self._routing.watched and delivery.reload_every
        left = delivery.spool is not None and Path(delivery.spool).is_dir()
        if watching or left:
            self._worker.start()

    @property
    def config(self) -> Config:
        """The routing file in use (the latest that loaded)."""
        return self._routing.config

    @property
    def router(self) -> Router:
        """The router in use (the caller's pre-filter)."""
        return self._routing.router

    # -- the caller's side: cheap, never raises, no I/O -----------------

    def offer_record(self, record: logging.LogRecord) -> None:
        """Queue *record* if a route might take it (handler side)."""
        msg = record.msg
        if msg.__class__ is str:  # the common case first: the cheapest path
            if not self._routing.router.could_match(
                msg, record.levelno, record.name, record.__dict__
            ):
                return
            fields = record_fields(record)
        elif isinstance(msg, dict):
            if msg is getattr(self._local, "seen", None):
                self._local.seen = None  # the processor already has it
                return
            msg_event = text_of(msg.get("event", ""))
            if not self._routing.router.could_match(
                msg_event, record.levelno, record.name, msg
            ):
                return
            self.submit(capture_record(record, msg_event, dict_fields(msg)))
            return
        else:
            msg = text_of(msg)
            if not self._routing.router.could_match(
                msg, record.levelno, record.name, record.__dict__
            ):
                return
            fields = record_fields(record)
        self.submit(capture_record(record, msg, fields))

    def offer_event_dict(
        self, logger: Any, method_name: str, event_dict: Mapping[str, Any]
    ) -> None:
        """
        Queue a structlog event if a route might take it.

        The structlog chain runs this on every call, so it is written for
        speed. The event's name, level and logger, as they come, are
        looked up in the router's memo, which holds their clean form and
        the routes' verdict: a repeated call site costs one dictionary
        lookup before the copy, or before nothing at all.
        """
        self._local.seen = event_dict  # a DiscordHandler may see it again
        get = event_dict.get
        router = self._routing.router
        key = (
            get("event", ""),
            get("level"),
            method_name,
            get("logger") or getattr(logger, "name", None),
        )
        try:
            event, levelno, name, plan = router.memo[key]
        except Exception:  # a new call site, or values that cannot hash
            event, levelno, name, plan = _dict_plan(router, key, event_dict)
        if plan is not True and not router.fields_pass(plan, event_dict):
            return
        if get("exc_info") or get("exception") is not None:
            raw = capture_event_dict(
                event_dict, event, levelno, name, dict_fields(event_dict)
            )
        else:  # the usual event: no exception to format
            fields = (
                event_dict.copy()
                if event_dict.__class__ is dict
                else dict(event_dict)
            )
            raw = (event, levelno, name, _time.time(), fields, None, None)
        if CAPTURES.active:
            CAPTURES.record(self._captured(raw))
        elif not self._worker.submit(raw, levelno >= logging.WARNING):
            self._refused()

    @property
    def diagnostics(self) -> Diagnostics:
        """This routing's own warnings, each said once."""
        return self._diag

    def attach(self, handler: logging.Handler) -> None:
        """Know *handler* as one of this routing's (for level checks)."""
        self.levels.attach(handler)

    def submit(self, raw: RawEvent) -> None:
        """Hand *raw* to the worker, or to active captures in tests."""
        if CAPTURES.active:
            CAPTURES.record(self._captured(raw))
            return
        if not self._worker.submit(raw, reserve=raw[1] >= logging.WARNING):
            self._refused()

    def _refused(self) -> None:
        """Count an event the worker did not take, by why it did not."""
        reason = self._worker.refusal
        self.count(reason.counter)
        if reason is not Loss.QUEUE_FULL:
            # said once: the worker will take nothing more in this process
            self._diag.say_once(
                reason.counter,
                f"an event was logged after delivery stopped "
                f"({reason.counter}); "
                "events from now on are not delivered",
            )

    # -- the worker's side ------------------------------------------------

    def process(self, raw: RawEvent) -> list[RoutedMessage]:
        """Match and render one captured event; never raises."""
        return self._routing.process(raw)

    def _captured(self, raw: RawEvent) -> list[RoutedMessage]:
        """In a capture: *raw*'s messages, and what the watches made due."""
        offset = CAPTURES.offset
        if offset:  # the event happens on the advanced clock too
            event, level, logger, created, fields, message, exc = raw
            raw = (
                event,
                level,
                logger,
                created + offset,
                fields,
                message,
                exc,
            )
        return self.process(raw) + self.watching_due()

    def watching_due(self) -> list[RoutedMessage]:
        """The messages of what the watches and digests have due now."""
        routing = self._routing
        outputs = routing.watching.due(routing.wall())
        return [m for output in outputs for m in routing.made(output)]

    def _worker_error(self, exc: BaseException) -> None:
        self.count("errors.worker")
        worker = self._worker
        if not worker.closed:
            key, then = "worker", "it was restarted; what it held is counted"
        elif worker.refusal is Loss.WORKER_STOPPED:
            key = "worker:stopped"
            then = "it is stopped for good (see dropped.worker_stopped)"
        else:
            key, then = "worker:closing", "it was stopping anyway"
        self._diag.say_once(
            key,
            f"the delivery worker for {self.config.path} failed "
            f"({described(exc)}); {then}",
        )

    # -- reloading ------------------------------------------------------

    def reload(self) -> Config:
        """
        Load the routing file again and route with it from now on.

        Environment variables are read again too. The new file replaces
        the old one only if it loads completely.

        Raises:
            ConfigError: The file does not load; the old routing stays.
            PolybotError: The routing was not given as a file.
        """
        return self._routing.reload()

    # -- bookkeeping --------------------------------------------------------

    def _after_fork_in_child(self) -> None:
        # the parent's threads may have held these at the fork
        self._routing.after_fork_in_child()
        self._stats.after_fork()
        self._console.after_fork()
        self._engine.after_fork_in_child()
        # no thread is started here: this runs in the child of every
        # fork, also subprocess's fork before an exec, where a thread
        # would work (and write to the parent's stderr) until the exec.
        # The child's worker starts with its first event

    def count(self, key: str, n: int = 1) -> None:
        """Add *n* to counter *key* (thread-safe)."""
        self._stats.count(key, n)

    def _figures(self) -> dict[str, int]:
        """The worker's and the console's gauges, read with the counters."""
        worker = self._worker
        # taken by the worker but not yet routed still counts as queued
        queued = worker.waiting + worker.in_hand
        out = {
            "queued": queued,
            "handled": worker.handled,
            "accepted": worker.handled + queued,
        }
        if self._console.not_shown:
            out["console.not_shown"] = self._console.not_shown
        return out

    def stats(self) -> dict[str, int]:
        """
        Counters: events handled, console messages, drops by reason.

        ``console.not_shown`` counts the messages that
        ``delivery.console_per_channel`` kept off the console;
        ``rate_limit.wait_s`` is how long, in whole seconds, the longest
        wait for Discord's rate limits has still to run.
        """
        return self._stats.read()

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until all queued events are handled; see Worker.flush."""
        limit = (
            self.config.delivery.flush_timeout if timeout is None else timeout
        )
        return self._worker.flush(limit)

    def close(self, timeout: float | None = None) -> bool:
        """Flush and stop the worker within *timeout* seconds."""
        limit = (
            self.config.delivery.flush_timeout if timeout is None else timeout
        )
        self.levels.check()  # a short script's last chance to hear it
        reported, kept_before = self._reported, self._kept
        done = self._worker.close(limit)
        # out of time, the loop may not have counted what it held yet (a
        # render stuck on a value): what it took and did not file is left
        unfiled = 0 if done else self._worker.in_hand
        waiting = self._worker.waiting  # events: the stop is no event
        left = waiting + unfiled + self._engine.leftover
        if waiting:
            self.count(Loss.SHUTDOWN.counter, waiting)
            self._worker.take()  # counted: nothing will deliver them now
        self._reported, self._kept = left, self._engine.kept
        self._console.close()  # what console_per_channel held back
        if left > reported:  # say it once, not again at exit
            # and why: the destinations failing when time ran out
            why = "; ".join(self._engine.troubles())
            say(
                f"{counted(left, 'event')} "
                f"{'was' if left == 1 else 'were'} not delivered "
                f"within the {limit:g}s flush timeout"
                f"{f': {why}' if why else ''}"
            )
        spool = self._engine.spool
        if self._kept > kept_before and spool is not None:
            say(
                f"{counted(self._kept, 'message')} "
                f"{'is' if self._kept == 1 else 'are'} kept in the spool "
                f"{spool.directory} and will be delivered by the next "
                "process that uses it"
            )
        return done


def _version() -> str:
    try:
        return metadata.version("polybot-loghandler")
    except metadata.PackageNotFoundError:
        return "0"
