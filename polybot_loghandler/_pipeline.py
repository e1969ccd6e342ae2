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
import math
import threading
import time as _time
import weakref
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from ._config import load_config
from ._console import ConsoleSink
from ._delivery import Engine
from ._diagnostics import Diagnostics, described, emit, say
from ._events import (
    LogEvent,
    RawEvent,
    capture_event_dict,
    capture_record,
    dict_fields,
    dict_level,
    record_fields,
)
from ._format import counted
from ._losses import Loss
from ._message import RoutedMessage
from ._model import Config, Route
from ._payload import build_payload
from ._reload import FileWatch, fixed_changes
from ._render import copy_embed, label, render_embed
from ._router import Plan, Router
from ._text import redact_text
from ._values import report_to, text_of
from ._worker import Worker
from .exceptions import ConfigError, PolybotError

__all__ = ["CAPTURES", "Pipeline"]

_log = logging.getLogger("polybot_loghandler")

#: Loggers whose records never feed delivery: our own and our HTTP stack.
IGNORED_LOGGERS = ("polybot_loghandler", "httpx", "httpcore")


class _Captures:
    """The active :func:`polybot_loghandler.testing.capture` blocks."""

    def __init__(self) -> None:
        self.active: list[list[RoutedMessage]] = []
        self.lock = threading.Lock()

    def record(self, messages: list[RoutedMessage]) -> None:
        with self.lock:
            for sink in self.active:
                sink.extend(messages)


CAPTURES = _Captures()


@dataclass(frozen=True, slots=True)
class _Routing:
    """
    One version of the routing file, with what is derived from it.

    The worker reads it once per event, so an event is routed and
    rendered by one version even when a reload swaps it meanwhile.
    """

    config: Config
    router: Router
    labelled: frozenset[str]  # channels whose embeds name themselves
    lowest: int  # the lowest level a route takes (see _lowest_level)

    @classmethod
    def of(cls, config: Config) -> _Routing:
        router = Router(config.routes, ignore=_is_ignored)
        return cls(
            config,
            router,
            _shared_destinations(config),
            _lowest_level(config.routes),
        )


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
        self._routing = _Routing.of(config)
        # the caller's pre-filter; swapped together with _routing
        self.router = self._routing.router
        self._watch = None if source is None else FileWatch(source)
        self._reload_lock = threading.Lock()
        self._reload_errors: set[str] = set()
        self._local = threading.local()
        self._console = ConsoleSink(
            config.delivery.console, config.delivery.console_per_channel
        )
        self._counts: Counter[str] = Counter()
        self._count_lock = threading.Lock()
        self._diag = Diagnostics()
        # the handlers of this routing, to find them on the root logger
        self._handlers: weakref.WeakSet[logging.Handler] = weakref.WeakSet()
        self._levels_seen: tuple[int, int, int] | None = None
        self._reported = 0  # undelivered events already told on stderr
        self._kept = 0  # events left in the spool, already told
        self._engine = Engine(
            config,
            self.process,
            self.count,
            self._console,
            version=_version(),
            stats=self.stats,
            check_reload=self.check_reload,
            check_levels=self.check_root_level,
        )
        self._worker = Worker(
            None,
            self._worker_error,
            config.delivery.queue_size,
            loop=self._engine.run,
        )
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
        watching = self._watch is not None and delivery.reload_every
        left = delivery.spool is not None and Path(delivery.spool).is_dir()
        if watching or left:
            self._worker.start()

    @property
    def config(self) -> Config:
        """The routing file in use (the latest that loaded)."""
        return self._routing.config

    # -- the caller's side: cheap, never raises, no I/O -----------------

    def offer_record(self, record: logging.LogRecord) -> None:
        """Queue *record* if a route might take it (handler side)."""
        msg = record.msg
        if msg.__class__ is str:  # the common case first: the cheapest path
            if not self.router.could_match(
                msg, record.levelno, record.name, record.__dict__
            ):
                return
            fields = record_fields(record)
        elif isinstance(msg, dict):
            if msg is getattr(self._local, "seen", None):
                self._local.seen = None  # the processor already has it
                return
            msg_event = text_of(msg.get("event", ""))
            if not self.router.could_match(
                msg_event, record.levelno, record.name, msg
            ):
                return
            self.submit(capture_record(record, msg_event, dict_fields(msg)))
            return
        else:
            msg = text_of(msg)
            if not self.router.could_match(
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
        router = self.router
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
            CAPTURES.record(self.process(raw))
        elif not self._worker.submit(raw, levelno >= logging.WARNING):
            self._refused()

    @property
    def diagnostics(self) -> Diagnostics:
        """This routing's own warnings, each said once."""
        return self._diag

    def attach(self, handler: logging.Handler) -> None:
        """Know *handler* as one of this routing's (for level checks)."""
        self._handlers.add(handler)

    def check_root_level(self) -> None:
        """
        Say once if the root logger's level hides events routes take.

        ``logging.getLogger().addHandler(DiscordHandler())`` alone routes
        nothing below ``WARNING``, the root logger's default level, and
        no record says so. A handler is not told which loggers it is on,
        so this catches the common case: one of our handlers on the root
        logger, and no logger set lower (whose records would reach it
        anyway). Run by the worker every second, and at close, never in
        the application's thread; never raises.
        """
        try:
            text = self._root_level_gap()
            if text and self._diag.first("root_level"):
                emit(text)
        except Exception:  # a check must never cost the application
            self.count("errors.internal")

    def _root_level_gap(self) -> str:
        """The warning :meth:`check_root_level` gives, or ``""``."""
        root = logging.getLogger()
        level = root.getEffectiveLevel()
        lowest = self._routing.lowest
        if level <= lowest or not self._handlers or root.manager.disable:
            return ""  # the usual answer, after two comparisons
        mine = [h for h in list(root.handlers) if h in self._handlers]
        if not mine:
            return ""
        wanted = max(lowest, min(h.level for h in mine))
        if level <= wanted:
            return ""  # the handler's own level asks for no more
        seen = (level, wanted, len(root.manager.loggerDict))
        if seen == self._levels_seen:
            return ""  # nothing changed since the last look
        self._levels_seen = seen
        if _lower_logger(wanted):
            return ""
        has = logging.getLevelName(level)
        needs = logging.getLevelName(wanted)
        return (
            f"a DiscordHandler is on the root logger, whose level ({has}) "
            "drops every record below it before any handler sees it, but "
            f"the routes of {self.config.path} take events from {needs}; "
            f"call logging.getLogger().setLevel({_level_code(wanted)}) "
            f"(or, to send only {has} and above, give the handler "
            f"level={_level_code(level)})"
        )

    def submit(self, raw: RawEvent) -> None:
        """Hand *raw* to the worker, or to active captures in tests."""
        if CAPTURES.active:
            CAPTURES.record(self.process(raw))
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
        routing = self._routing  # one version for the whole event
        report_to(self.count)  # faults of the values' own str()/repr()
        try:
            ev = LogEvent.from_raw(raw)
            context = ev.context()
            routed = routing.router.route(ev, context, self._route_error)
        except Exception as exc:
            self.count(Loss.UNRENDERABLE.counter)
            self._warn_once(
                "internal", f"could not route an event: {described(exc)}"
            )
            return []
        if not routed:
            self.count("unmatched")
            return []
        out: list[RoutedMessage] = []
        for hit in routed:
            if not hit.channels:
                self.count(Loss.NO_CHANNEL.counter)
                self._warn_once(
                    f"nochannel:{hit.route.name}",
                    f"route '{hit.route.name}' took an event but its 'to' "
                    "chose no channel; such events are dropped",
                )
                continue
            out.extend(
                self._messages(routing, ev, context, hit.route, hit.channels)
            )
        return out

    def _messages(
        self,
        routing: _Routing,
        ev: LogEvent,
        context: Mapping[str, Any],
        route: Route,
        keys: Sequence[str],
    ) -> list[RoutedMessage]:
        """
        The messages of one route for one event, one per channel.

        The embed is rendered once; each further channel gets a copy.
        """
        channels = []
        for key in keys:
            channel = routing.config.channels.get(key)
            if channel is None:
                self.count(Loss.UNKNOWN_CHANNEL.counter)
                self._warn_once(
                    f"channel:{key}",
                    f"route '{route.name}' chose channel '{redact_text(key)}'"
                    ", which is not declared under 'channels:'; its "
                    "messages are dropped",
                )
            else:
                channels.append((key, channel))
        if not channels:
            return []

        def on_error(part: str, exc: Exception) -> None:
            self.count("errors.template")
            self._warn_once(
                f"render:{route.name}:{part}",
                f"routes[{route.index}] ('{route.name}') {part}: {exc}",
            )

        out: list[RoutedMessage] = []
        try:
            rendered = render_embed(ev, context, route, None, on_error)
            last = len(channels) - 1
            for n, (key, channel) in enumerate(channels):
                embed = rendered if n == last else copy_embed(rendered)
                if key in routing.labelled:
                    label(embed, channel)
                out.append(
                    RoutedMessage(
                        channel=key,
                        route=route.name,
                        payload=build_payload([embed], route.mention),
                        embed=embed,
                        event=ev,
                        target=channel,
                        coalesce=route.coalesce,
                    )
                )
        except Exception as exc:  # rendering never costs other events
            self.count(Loss.UNRENDERABLE.counter, len(channels) - len(out))
            self._warn_once(
                f"render:{route.name}",
                f"could not render route '{route.name}': {described(exc)}",
            )
        return out

    def _route_error(self, route: Route, part: str, exc: Exception) -> None:
        self.count("errors.template")
        self._warn_once(
            f"route:{route.name}:{part}",
            f"routes[{route.index}] ('{route.name}') {part}: {exc}",
        )

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
        watch = self._watch
        if watch is None:
            msg = "this routing was not loaded from a file: nothing to reload"
            raise PolybotError(msg)
        with self._reload_lock:
            token = watch.changed() or None
            config = load_config(watch.path)
            watch.loaded(token)
            self._install(config)
        return config

    def check_reload(self) -> None:
        """
        Reload the routing file if it changed (the worker's periodic job).

        A file that does not load leaves the old routing running; its
        error goes to stderr and the ops channel, once per distinct error,
        and that version of the file is not read again: the next attempt
        is when the file changes. Whatever the load raises counts, not
        only a :class:`ConfigError`: an unforeseen error retried at every
        check would cost a core and be seen by no one.
        """
        watch = self._watch
        if watch is None:
            return
        token = watch.changed()
        if token is None:
            return
        with self._reload_lock:
            try:
                config = load_config(watch.path)
            except Exception as exc:
                watch.loaded(token)  # this version is reported, once
                self._reload_failed(
                    exc
                    if isinstance(exc, ConfigError)
                    else ConfigError(
                        f"{watch.path}:0: the routing file could not be "
                        f"loaded ({type(exc).__name__}: {exc})"
                    )
                )
                return
            watch.loaded(token)
            self._install(config)

    def _install(self, config: Config) -> None:
        old = self._routing.config
        routing = _Routing.of(config)
        self._routing = routing
        self.router = routing.router
        self._engine.use(config)
        self._reload_errors.clear()  # the same mistake again is news
        _log.info(
            "reloaded %s (%d channels, %d routes)",
            config.path,
            len(config.channels),
            len(config.routes),
        )
        fixed = fixed_changes(old.delivery, config.delivery)
        if fixed:
            names = ", ".join(f"delivery.{name}" for name in fixed)
            emit(
                f"{names} changed in {config.path}; "
                f"{'it only takes' if len(fixed) == 1 else 'they only take'} "
                "effect when the process restarts"
            )

    def _reload_failed(self, exc: ConfigError) -> None:
        text = redact_text(str(exc))
        if text in self._reload_errors:
            return
        self._reload_errors.add(text)
        say(
            "the routing file changed but does not "
            f"load; the previous routing stays in use:\n{text}"
        )
        fence = text.replace("```", "ˋˋˋ")
        self._engine.alert(
            "⚠️ routing.yaml was not reloaded",
            "The previous routing stays in use until the file loads:\n"
            f"```\n{fence[:3900]}\n```",
        )

    # -- bookkeeping --------------------------------------------------------

    def _after_fork_in_child(self) -> None:
        # the parent's threads may have held these at the fork
        self._reload_lock = threading.Lock()
        self._count_lock = threading.Lock()
        self._counts = Counter()
        self._console.after_fork()
        self._engine.after_fork_in_child()
        self._start_watching()

    def count(self, key: str, n: int = 1) -> None:
        """Add *n* to counter *key* (thread-safe)."""
        with self._count_lock:
            self._counts[key] += n

    def _warn_once(self, key: str, message: str) -> None:
        self._diag.warn(key, message)

    def stats(self) -> dict[str, int]:
        """
        Counters: events handled, console messages, drops by reason.

        ``console.not_shown`` counts the messages that
        ``delivery.console_per_channel`` kept off the console;
        ``rate_limit.wait_s`` is how long, in whole seconds, the longest
        wait for Discord's rate limits has still to run.
        """
        with self._count_lock:
            out = dict(self._counts)
        # taken by the worker but not yet routed still counts as queued
        worker = self._worker
        out["queued"] = worker.depth + worker.in_hand
        out["pending"] = self._engine.pending
        spool = self._engine.spool
        if spool is not None:
            out["spool.pending"] = spool.pending
        out["handled"] = self._worker.handled
        out["accepted"] = out["handled"] + out["queued"]
        if self._console.not_shown:
            out["console.not_shown"] = self._console.not_shown
        out["rate_limit.wait_s"] = math.ceil(self._engine.rate_limit_wait())
        return out

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
        self.check_root_level()  # a short script's last chance to hear it
        reported, kept_before = self._reported, self._kept
        done = self._worker.close(limit)
        left = self._worker.depth + self._engine.leftover
        if self._worker.depth:
            self.count(Loss.SHUTDOWN.counter, self._worker.depth)
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


def _lowest_level(routes: Sequence[Route]) -> int:
    """
    The lowest level a route takes, for the root logger's level check.

    A route with no level counts from ``INFO``: it takes ``DEBUG`` too,
    but a root logger at ``INFO`` is the usual set-up, not a mistake.
    With no route, nothing is lost at any level.
    """
    return min(
        (r.matcher.min_level or logging.INFO for r in routes),
        default=logging.CRITICAL + 1,
    )


def _lower_logger(level: int) -> bool:
    """
    Whether a logger has its own level at or below *level*.

    Its records reach the root logger's handlers whatever the root
    logger's level: the application set levels where it wants them.
    """
    for name, logger in list(logging.getLogger().manager.loggerDict.items()):
        if (
            isinstance(logger, logging.Logger)
            and logging.NOTSET < logger.level <= level
            and not _is_ignored(name)
        ):
            return True
    return False


def _level_code(level: int) -> str:
    """*level* as code: ``logging.INFO``, or the number for others."""
    name = logging.getLevelName(level)
    known = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
    return f"logging.{name}" if name in known else str(level)


def _is_ignored(logger: str) -> bool:
    return any(
        logger == name or logger.startswith(name + ".")
        for name in IGNORED_LOGGERS
    )


def _shared_destinations(config: Config) -> frozenset[str]:
    """Channels that share their destination with another channel."""
    seen: Counter[Any] = Counter(
        c.destination for c in config.channels.values() if c.destination
    )
    return frozenset(
        k
        for k, c in config.channels.items()
        if c.destination is not None and seen[c.destination] > 1
    )
