"""
Which routes take an event, and where they send it. Pure: no I/O.

Routing runs twice. In the caller's thread :meth:`Router.could_match`
answers cheaply whether any route *might* take the event (event name,
level, logger, fields; no templates), so events nobody routes cost almost
nothing. In the worker :meth:`Router.route` decides exactly, in route
order, with ``when:`` and templated destinations.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._events import DICT_META, RECORD_ATTRIBUTES
from ._matching import ABSENT, CACHE_KEY_CHARS, FieldCheck, Matcher
from ._memo import Memo
from ._model import Route

if TYPE_CHECKING:
    from ._events import LogEvent

__all__ = ["Plan", "Routed", "Router", "channels_of"]


# In the caller's thread a record's __dict__ or a structlog event dict
# stands in for the fields; checks on these names, which are record
# attributes or structlog's own keys there, are left to the worker.
_NOT_FIELDS_HERE = RECORD_ATTRIBUTES | DICT_META


@dataclass(frozen=True, slots=True)
class Routed:
    """One route that took an event, and the channel keys it chose."""

    route: Route
    channels: tuple[str, ...]


_Checks = tuple[tuple[str, FieldCheck, bool], ...]
#: What the caller's thread must still check for one (event, level, logger):
#: ``True`` (some route needs no field), ``False`` (none can match), or the
#: field names one of which must be present, and per route its field checks
#: as (name, check, whether an absent field passes).
Plan = bool | tuple[frozenset[str], tuple[_Checks, ...]]


class Router:
    """
    The routes of one routing file, indexed for the caller's thread.

    Args:
        routes: The routes, in file order.
        ignore: Loggers whose events no route may take (delivery's own
            loggers, so its trouble cannot feed back into delivery).
    """

    __slots__ = (
        "_by_event",
        "_generic",
        "_ignore",
        "_ignored",
        "_plans",
        "_seen_by_event",
        "_seen_generic",
        "memo",
        "routes",
    )

    #: The most keys each of its memos holds.
    PLAN_LIMIT = 4096

    def __init__(
        self,
        routes: Sequence[Route],
        ignore: Callable[[str], bool] = lambda _: False,
        *,
        also: Sequence[Matcher] = (),
    ) -> None:
        self.routes = tuple(routes)
        self._ignore = ignore
        # ignore's answers, by logger
        self._ignored: Memo[str, bool] = Memo(self.PLAN_LIMIT, CACHE_KEY_CHARS)
        self._by_event, self._generic = _index(self.routes)
        # the caller's thread lets through what the watches and digests
        # take too (a heartbeat no route sends must reach its watch)
        listening = tuple(
            Route(name="", index=-1, line=0, matcher=m, to=()) for m in also
        )
        if listening:
            self._seen_by_event, self._seen_generic = _index(
                self.routes + listening
            )
        else:
            self._seen_by_event, self._seen_generic = (
                self._by_event,
                self._generic,
            )
        self._plans: Memo[tuple[str, int, str], Plan] = Memo(
            self.PLAN_LIMIT, CACHE_KEY_CHARS
        )
        #: for the caller's pre-filter to remember what it derived from an
        #: event's raw inputs; it goes with this router, so a reload that
        #: swaps the router forgets it in the same step
        self.memo: Memo[Any, Any] = Memo(self.PLAN_LIMIT, CACHE_KEY_CHARS)

    def could_match(
        self,
        event: str,
        levelno: int,
        logger: str,
        fields: Mapping[str, Any],
    ) -> bool:
        """
        Whether any route might take this event (no templates run).

        What depends only on the event name, level and logger is worked
        out once per combination and remembered, so a repeated call site
        costs a dictionary lookup plus the few field checks left.
        """
        plan = self._plans.get((event, levelno, logger))
        if plan is None:
            plan = self.plan(event, levelno, logger)
        if isinstance(plan, bool):
            return plan
        return self.fields_pass(plan, fields)

    def plan(self, event: str, levelno: int, logger: str) -> Plan:
        """
        What :meth:`could_match` decides from the name, level and logger.

        ``True`` or ``False`` settles it; otherwise the plan goes to
        :meth:`fields_pass` with the event's fields. Remembered per
        combination (up to ``PLAN_LIMIT`` of them, whose name and logger
        together are up to :data:`CACHE_KEY_CHARS` long).
        """
        key = (event, levelno, logger)
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plan(event, levelno, logger)
            self._plans.keep(key, plan, len(event) + len(logger))
        return plan

    def remember(self, key: Any, value: Any) -> None:
        """
        Keep *value* in :attr:`memo` (bounded like the plans).

        The key's text (its text parts, for a tuple) must be up to
        :data:`CACHE_KEY_CHARS` long; other parts count as nothing.
        """
        parts = key if key.__class__ is tuple else (key,)
        chars = sum(len(part) for part in parts if part.__class__ is str)
        self.memo.keep(key, value, chars)

    @staticmethod
    def fields_pass(plan: Plan, fields: Mapping[str, Any]) -> bool:
        """Whether *fields* pass the field checks a :meth:`plan` left."""
        if isinstance(plan, bool):
            return plan
        gate, routes = plan
        if fields.keys().isdisjoint(gate):
            return False  # no route finds the one field it needs first
        for checks in routes:
            for name, check, absent_ok in checks:
                value = fields.get(name, ABSENT)
                if value is ABSENT:
                    if not absent_ok:  # the usual case: skip the call
                        break
                elif not check(value):
                    break
            else:
                return True
        return False

    def _is_ignored(self, logger: str) -> bool:
        """``ignore(logger)``, remembered (the worker asks per event)."""
        found = self._ignored.get(logger)
        if found is None:
            found = self._ignore(logger)
            self._ignored.keep(logger, found, len(logger))
        return found

    def _plan(self, event: str, levelno: int, logger: str) -> Plan:
        if self._ignore(logger):
            return False
        pending: list[_Checks] = []
        for route in self._seen_by_event.get(event, self._seen_generic):
            m = route.matcher
            if levelno < m.min_level:
                continue
            if m.event is not None and not m.event(event):
                continue
            if m.logger is not None and not m.logger(logger):
                continue
            # checks on names that are also LogRecord attributes are left
            # to the worker: a record's __dict__ is not its fields there
            checks = tuple(
                (n, c, c(ABSENT))
                for n, c in m.fields
                if n not in _NOT_FIELDS_HERE
            )
            if not checks:
                return True
            pending.append(checks)
        if not pending:
            return False
        # every route that is left needs its first field present, unless
        # that field may be absent: those names gate the whole plan
        if any(checks[0][2] for checks in pending):
            return True
        return frozenset(c[0][0] for c in pending), tuple(pending)

    def route(
        self,
        ev: LogEvent,
        context: Mapping[str, Any],
        on_error: Callable[[Route, str, Exception], None],
    ) -> list[Routed]:
        """
        The routes that take *ev*, in order, with their channel keys.

        First match wins unless a route says ``continue: true``. A route
        whose ``when:`` or ``to:`` template fails is skipped and reported
        through *on_error* (route, part, exception); it never raises.
        """
        taken: list[Routed] = []
        if self._is_ignored(ev.logger):
            return taken
        for route in self._by_event.get(ev.event, self._generic):
            try:
                if not route.matcher.matches(ev, context):
                    continue
            except Exception as exc:
                on_error(route, "match.when", exc)
                continue
            taken.append(Routed(route, channels_of(route, context, on_error)))
            if not route.continue_:
                break
        return taken


def channels_of(
    route: Route,
    context: Mapping[str, Any],
    on_error: Callable[[Route, str, Exception], None],
) -> tuple[str, ...]:
    """
    The channel keys *route*'s ``to:`` renders to, once each, in order.

    A target whose template fails is skipped and told to *on_error*.
    """
    channels: list[str] = []
    for n, target in enumerate(route.to):
        try:
            key = target.render(context).strip()
        except Exception as exc:
            on_error(route, f"to[{n}]", exc)
            continue
        if key and key not in channels:
            channels.append(key)
    return tuple(channels)


def _index(
    routes: tuple[Route, ...],
) -> tuple[dict[str, tuple[Route, ...]], tuple[Route, ...]]:
    """
    Per exact event name, the routes that may take it; and the rest.

    The routes naming it plus the generic ones (no name, or a pattern),
    in file order, so matching tries only routes that can apply.
    """
    generic = tuple(
        r
        for r in routes
        if r.matcher.event is None or not r.matcher.event.only_exact
    )
    names = {
        name
        for r in routes
        if r.matcher.event is not None
        for name in r.matcher.event.exact
    }
    by_event = {
        name: tuple(
            r
            for r in routes
            if r in generic
            or (r.matcher.event is not None and name in r.matcher.event.exact)
        )
        for name in names
    }
    return by_event, generic
