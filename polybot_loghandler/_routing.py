"""
The routing in use: one version of the routing file, swapped on reload.

A :class:`Routing` is one loaded file and what is derived from it (the
router, the channels that share a destination, the lowest level a route
takes). It never changes: a reload builds a new one, and
:class:`RoutingHolder` swaps it in whole, so an event is routed and
rendered by one version even when a reload happens meanwhile.

:meth:`RoutingHolder.process` is the worker side of routing: a captured
event in, its messages out (one per channel), every failure counted and
warned about once. It knows nothing of lanes or delivery.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ._address import forum_place, identity_of, place_of
from ._config import load_config
from ._diagnostics import Diagnostics, described, emit, say
from ._events import LogEvent, RawEvent
from ._files import traceback_files
from ._losses import Loss
from ._matching import Matcher
from ._message import Attachment, Place, RoutedMessage
from ._model import (
    BotChannelDestination,
    Channel,
    Config,
    DigestRule,
    Fold,
    Route,
    WatchRule,
)
from ._payload import build_payload, copy_embed
from ._reload import FileWatch, fixed_changes
from ._render import label, render_embed
from ._router import Router, channels_of
from ._stats import Stats
from ._templates import Scope
from ._text import redact_text
from ._values import report_to
from ._watching.render import digest_embeds, made_event, made_route
from ._watching.watching import Output, Watching
from .exceptions import ConfigError, PolybotError

__all__ = ["IGNORED_LOGGERS", "Routing", "RoutingHolder", "is_ignored"]

_log = logging.getLogger("polybot_loghandler")

#: Loggers whose records never feed delivery: our own and our HTTP stack.
IGNORED_LOGGERS = ("polybot_loghandler", "httpx", "httpcore")


def is_ignored(logger: str) -> bool:
    """Whether *logger*'s records are ours or our HTTP stack's."""
    return any(
        logger == name or logger.startswith(name + ".")
        for name in IGNORED_LOGGERS
    )


@dataclass(frozen=True, slots=True)
class Routing:
    """One version of the routing file, with what is derived from it."""

    config: Config
    router: Router
    labelled: frozenset[str]  # channels whose embeds name themselves
    lowest: int  # the lowest level a route takes (see _lowest_level)
    #: the watches and digests, by name
    rules: Mapping[str, WatchRule | DigestRule]

    @classmethod
    def of(cls, config: Config) -> Routing:
        """Build the router and the rest from *config*."""
        listening = _listening(config)
        router = Router(config.routes, ignore=is_ignored, also=listening)
        return cls(
            config,
            router,
            _shared_destinations(config),
            _lowest_level(
                [r.matcher for r in config.routes] + list(listening)
            ),
            _rules(config),
        )


class RoutingHolder:
    """
    The routing in use, swapped whole when the file is reloaded.

    Args:
        config: The routing file as first loaded.
        source: The file to watch and reload (``None``: the
            configuration was not loaded from a file).
        stats: Where routing failures are counted.
        diagnostics: Where they are warned about, once each.
        wall: Epoch seconds, for the watches and digests.
    """

    def __init__(
        self,
        config: Config,
        source: str | None,
        stats: Stats,
        diagnostics: Diagnostics,
        *,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.current = Routing.of(config)
        self.wall = wall
        #: the watches and digests, fed by :meth:`process`
        self.watching = Watching(config, wall(), stats.count)
        #: the current router, read by the application's threads
        self.router = self.current.router
        self._watch = None if source is None else FileWatch(source)
        self._lock = threading.Lock()
        self._errors: set[str] = set()
        self._stats = stats
        self._diag = diagnostics

    @property
    def config(self) -> Config:
        """The routing file in use (the latest that loaded)."""
        return self.current.config

    @property
    def watched(self) -> bool:
        """Whether the routing came from a file that can be reloaded."""
        return self._watch is not None

    def after_fork_in_child(self) -> None:
        """The parent's threads may have held the locks at the fork."""
        self._lock = threading.Lock()
        self.watching.after_fork_in_child()

    # -- reloading ------------------------------------------------------

    def reload(self) -> Config:
        """
        Load the routing file again and route with it from now on.

        Raises:
            ConfigError: The file does not load; the old routing stays.
            PolybotError: The routing was not given as a file.
        """
        watch = self._watch
        if watch is None:
            msg = "this routing was not loaded from a file: nothing to reload"
            raise PolybotError(msg)
        with self._lock:
            token = watch.changed() or None
            config = load_config(watch.path)
            watch.loaded(token)
            self._install(config)
        return config

    def check(self) -> str | None:
        """
        Reload the file if it changed; the error to tell, if it failed.

        A file that does not load leaves the old routing running. Its
        error goes to stderr here and is returned, once per distinct
        error, for the ops channel; that version of the file is not read
        again. Whatever the load raises counts, not only a
        :class:`ConfigError`: an unforeseen error retried at every check
        would cost a core and be seen by no one.
        """
        watch = self._watch
        if watch is None:
            return None
        token = watch.changed()
        if token is None:
            return None
        with self._lock:
            try:
                config = load_config(watch.path)
            except Exception as exc:
                watch.loaded(token)  # this version is reported, once
                return self._failed(
                    exc
                    if isinstance(exc, ConfigError)
                    else ConfigError(
                        f"{watch.path}:0: the routing file could not be "
                        f"loaded ({type(exc).__name__}: {exc})"
                    )
                )
            watch.loaded(token)
            self._install(config)
        return None

    def _install(self, config: Config) -> None:
        old = self.current.config
        self.current = Routing.of(config)
        self.router = self.current.router
        self.watching.update(config, self.wall())
        self._errors.clear()  # the same mistake again is news
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

    def _failed(self, exc: ConfigError) -> str | None:
        text = redact_text(str(exc))
        if text in self._errors:
            return None
        self._errors.add(text)
        say(
            "the routing file changed but does not "
            f"load; the previous routing stays in use:\n{text}"
        )
        return text

    # -- routing and rendering --------------------------------------------

    def process(
        self, raw: RawEvent, *, observe: bool = True, mark: Any = None
    ) -> list[RoutedMessage]:
        """
        Match and render one captured event; never raises.

        The watches and digests see it too, unless not *observe* (the
        relay: an event the saved state has seen already); one they
        take with a *mark* becomes their ``mark`` (see
        :meth:`Watching.observe`).
        """
        routing = self.current  # one version for the whole event
        report_to(self._stats.count)  # faults of the values' str()/repr()
        try:
            ev = LogEvent.from_raw(raw)
            context = ev.context()
            routed = routing.router.route(ev, context, self._route_error)
            now = self.wall()
            watched = observe and self.watching.observe(
                ev, context, now, mark=mark
            )
        except Exception as exc:
            self._stats.count(Loss.UNRENDERABLE.counter)
            self._diag.warn(
                "internal", f"could not route an event: {described(exc)}"
            )
            return []
        if not routed:
            if not watched and observe:
                self._stats.count("unmatched")
            return []
        out: list[RoutedMessage] = []
        for hit in routed:
            if self.watching.muted(hit.route.name, now):
                self.watching.hold_back(hit.route.name, len(hit.channels))
                continue
            if not hit.channels:
                self._stats.count(Loss.NO_CHANNEL.counter)
                self._diag.warn(
                    f"nochannel:{hit.route.name}",
                    f"route '{hit.route.name}' took an event but its 'to' "
                    "chose no channel; such events are dropped",
                )
                continue
            out.extend(
                self._messages(routing, ev, context, hit.route, hit.channels)
            )
        return out

    def made(self, output: Output) -> list[RoutedMessage]:
        """
        The messages of a watch's or digest's output; never raises.

        Rendered as the routes' messages are, by the rule of its name in
        the routing in use; a rule that is gone since (a reload) drops
        it, counted in ``dropped.unrenderable``.
        """
        routing = self.current
        rule = routing.rules.get(output.name)
        if rule is None:
            self._stats.count(Loss.UNRENDERABLE.counter)
            return []
        try:
            ev = made_event(output)
            context = ev.context()
            route = made_route(rule, output.kind)
            keys = self._made_channels(route, context)
            if isinstance(rule, DigestRule) and rule.embed is None:
                return [
                    message
                    for embed in digest_embeds(rule, ev)
                    for message in self._messages(
                        routing, ev, context, route, keys, embed=embed
                    )
                ]
            return self._messages(routing, ev, context, route, keys)
        except Exception as exc:  # one output never costs the others
            self._stats.count(Loss.UNRENDERABLE.counter)
            self._diag.warn(
                f"render:{output.name}",
                f"could not render {output.kind} '{output.name}': "
                f"{described(exc)}",
            )
            return []

    def _made_channels(
        self, route: Route, context: Mapping[str, Any]
    ) -> tuple[str, ...]:
        channels = channels_of(route, context, self._route_error)
        if not channels:
            self._stats.count(Loss.NO_CHANNEL.counter)
        return channels

    def _messages(  # noqa: PLR0913 - one route's message, pre-rendered or not
        self,
        routing: Routing,
        ev: LogEvent,
        context: Mapping[str, Any],
        route: Route,
        keys: Sequence[str],
        *,
        embed: dict[str, Any] | None = None,
    ) -> list[RoutedMessage]:
        """
        The messages of one route for one event, one per channel.

        The embed is rendered once (unless it is given, made already);
        each further channel gets a copy.
        """
        channels = []
        for key in keys:
            channel = routing.config.channels.get(key)
            if channel is None:
                self._stats.count(Loss.UNKNOWN_CHANNEL.counter)
                self._diag.warn(
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
            self._stats.count("errors.template")
            self._diag.warn(
                f"render:{route.name}:{part}",
                f"routes[{route.index}] ('{route.name}') {part}: {exc}",
            )

        def on_refused(part: str, text: str) -> None:
            self._diag.warn(
                f"identity:{route.name}:{part}",
                f"routes[{route.index}] ('{route.name}') {part}: {text}",
            )

        out: list[RoutedMessage] = []
        done = 0  # channels whose messages are made
        try:
            rendered = (
                render_embed(ev, context, route, None, on_error)
                if embed is None
                else embed
            )
            # the whole traceback beside an embed that had to cut it
            files = (
                traceback_files(ev, rendered)
                if embed is None
                and ev.exception
                and routing.config.delivery.attach_tracebacks
                else ()
            )
            place, identity = None, {}
            if _addressed(route):  # most routes are not: no scope to make
                scope = Scope(context)
                place = place_of(route, scope, on_error)
                identity = identity_of(route, scope, on_error, on_refused)
            last = len(channels) - 1
            for n, (key, channel) in enumerate(channels):
                embed = rendered if n == last else copy_embed(rendered)
                if key in routing.labelled:
                    label(embed, channel)
                out.extend(
                    _routed(
                        ev,
                        route,
                        (key, channel),
                        embed,
                        place=place,
                        identity=identity,
                        files=files,
                    )
                )
                done += 1
        except Exception as exc:  # rendering never costs other events
            self._stats.count(Loss.UNRENDERABLE.counter, len(channels) - done)
            self._diag.warn(
                f"render:{route.name}",
                f"could not render route '{route.name}': {described(exc)}",
            )
        return out

    def _route_error(self, route: Route, part: str, exc: Exception) -> None:
        self._stats.count("errors.template")
        self._diag.warn(
            f"route:{route.name}:{part}",
            f"routes[{route.index}] ('{route.name}') {part}: {exc}",
        )


def _addressed(route: Route) -> bool:
    """Whether *route* names a board, a thread or an identity."""
    return (
        route.board is not None
        or route.thread is not None
        or route.thread_id is not None
        or route.identity is not None
    )


def _routed(  # noqa: PLR0913 - one message's parts, rendered already
    ev: LogEvent,
    route: Route,
    target: tuple[str, Channel],
    embed: dict[str, Any],
    *,
    place: Place | None,
    identity: Mapping[str, Any],
    files: tuple[Attachment, ...] = (),
) -> list[RoutedMessage]:
    """
    The message of *route* for one channel: one, or a board and a ping.

    A board is edited in place, silently: its message never pings and
    is never folded. With ``mention:``, a warning or worse also makes a
    second, ordinary message (the same thread, no board) that pings.
    A bot posts under its own name: its channels get no identity.
    """
    key, channel = target
    if isinstance(channel.destination, BotChannelDestination):
        identity = {}
    if channel.forum:
        place = forum_place(place, route.name, ev)
    board = place is not None and place.board is not None
    made = [(embed, place, None if board else route.mention)]
    if (
        place is not None
        and board
        and route.mention is not None
        and ev.level >= logging.WARNING
    ):
        alone = Place(thread=place.thread, thread_id=place.thread_id)
        made.append(
            (copy_embed(embed), alone if alone.lane() else None, route.mention)
        )
    out = []
    for n, (shown, where, mention) in enumerate(made):
        payload = build_payload([shown], mention)
        payload.update(identity)
        out.append(
            RoutedMessage(
                channel=key,
                route=route.name,
                payload=payload,
                embed=shown,
                event=ev,
                target=channel,
                coalesce=route.coalesce,
                fold=_NEVER_FOLDED if board and n == 0 else route.fold,
                place=where,
                files=files,
            )
        )
    return out


#: A board's messages: never folded (each shows the latest event).
_NEVER_FOLDED = Fold(never=True)


def _rules(config: Config) -> dict[str, WatchRule | DigestRule]:
    """The watches and digests, by name."""
    out: dict[str, WatchRule | DigestRule] = {}
    out.update((w.name, w) for w in config.watches)
    out.update((d.name, d) for d in config.digests)
    return out


def _listening(config: Config) -> tuple[Matcher, ...]:
    """
    What the watches, digests and, through the relay, the state take.

    The watches' and digests' ``match:`` and ``end:``; with the relay,
    the state's rules' ``match:`` too: the relay keeps the state from
    the stream, so a producer sends it the events no route takes.
    Without the relay no one keeps it, and they are not taken.
    """
    out: list[Matcher] = [w.matcher for w in config.watches]
    out += [w.end for w in config.watches if w.end is not None]
    out += [d.matcher for d in config.digests]
    if config.state is not None and config.delivery.relay:
        rules = [r for t in config.state.tables for r in t.rules]
        rules += [r for t in config.state.totals for r in t.rules]
        out += [rule.matcher for rule in rules]
    return tuple(out)


def _lowest_level(matchers: Sequence[Matcher]) -> int:
    """
    The lowest level a route (or watch) takes, for the root level check.

    A route with no level counts from ``INFO``: it takes ``DEBUG`` too,
    but a root logger at ``INFO`` is the usual set-up, not a mistake.
    With no route, nothing is lost at any level.
    """
    return min(
        (m.min_level or logging.INFO for m in matchers),
        default=logging.CRITICAL + 1,
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
