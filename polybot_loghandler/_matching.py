"""
Which routes match an event, and where they send it. Pure: no I/O.

Matching runs twice. In the caller's thread :meth:`Router.could_match`
answers cheaply whether any route *might* take the event (event name,
level, logger, fields; no templates), so events nobody routes cost almost
nothing. In the worker :meth:`Router.route` decides exactly, in route
order, with ``when:`` and templated destinations.
"""

from __future__ import annotations

import fnmatch
import json
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._events import DICT_META, LEVEL_NAMES, RECORD_ATTRIBUTES
from ._text import visible_controls
from ._values import text_of

if TYPE_CHECKING:
    from ._events import LogEvent
    from ._model import Route
    from ._templates import Expression

__all__ = [
    "CACHE_KEY_CHARS",
    "EventPattern",
    "FieldCheck",
    "LoggerPattern",
    "Matcher",
    "Plan",
    "Routed",
    "Router",
    "describe_check",
    "field_check",
]

_MISSING = object()

#: The longest key the router's caches keep, in characters (an event name
#: or message plus a logger name). Each cache keeps at most 4,096 keys, so
#: at most 1 Mi characters: a count alone would let 4,096 messages of
#: 100 kB each hold 400 MB. A longer key is worked out at each use; such
#: messages are rare and mostly unique anyway.
CACHE_KEY_CHARS = 256

# In the caller's thread a record's __dict__ or a structlog event dict
# stands in for the fields; checks on these names, which are record
# attributes or structlog's own keys there, are left to the worker.
_NOT_FIELDS_HERE = RECORD_ATTRIBUTES | DICT_META


def _is_glob(pattern: str) -> bool:
    return any(c in pattern for c in "*?[")


class EventPattern:
    """
    Event names: exact names, globs (``trade_*``) and regexes.

    Globs match the whole name; a regex matches anywhere in it (anchor it
    with ``^`` and ``$``), as ``fields: {regex: ...}`` does.
    """

    __slots__ = ("_patterns", "exact", "source")

    def __init__(
        self, names: Sequence[str], regexes: Sequence[re.Pattern[str]] = ()
    ) -> None:
        self.source = tuple(names) + tuple(f"/{r.pattern}/" for r in regexes)
        self.exact = frozenset(n for n in names if not _is_glob(n))
        globs = [
            re.compile(r"\A" + fnmatch.translate(n))
            for n in names
            if _is_glob(n)
        ]
        self._patterns = tuple(globs) + tuple(regexes)

    @property
    def only_exact(self) -> bool:
        """Whether every name is exact (so the router can index them)."""
        return not self._patterns

    def __call__(self, event: str) -> bool:
        """Whether *event* is one of the names or matches a pattern."""
        if event in self.exact:
            return True
        return any(p.search(event) for p in self._patterns)


class LoggerPattern:
    """
    Logger names by glob; a name also matches its children.

    ``floor_boss`` matches ``floor_boss`` and ``floor_boss.capital``, the
    way logging's own hierarchy works. Answers are memoised per name
    (names up to :data:`CACHE_KEY_CHARS` long).
    """

    __slots__ = ("_cache", "_patterns", "source")

    _CACHE_LIMIT = 4096

    def __init__(self, patterns: Sequence[str]) -> None:
        self.source = tuple(patterns)
        self._patterns = tuple(
            re.compile(fnmatch.translate(p)[:-2] + r"(?:\..*)?\Z", re.DOTALL)
            for p in patterns
        )
        self._cache: dict[str, bool] = {}

    def __call__(self, logger: str) -> bool:
        """Whether *logger* (or an ancestor) matches one of the patterns."""
        found = self._cache.get(logger)
        if found is None:
            found = any(p.match(logger) for p in self._patterns)
            if len(logger) <= CACHE_KEY_CHARS:
                if len(self._cache) >= self._CACHE_LIMIT:
                    self._cache.clear()
                self._cache[logger] = found
        return found


FieldCheck = Callable[[Any], bool]


def _same(expected: Any) -> FieldCheck:
    if isinstance(expected, bool) or expected is None:
        return lambda v: v is expected
    if isinstance(expected, (int, float)):
        return lambda v: (
            isinstance(v, (int, float))
            and not isinstance(v, bool)
            and v == expected
        )
    return lambda v: v == expected


def _number(value: Any) -> float | int | None:
    # ints stay ints: Python compares them with floats exactly, even when
    # they are too large to become a float
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value


def field_check(op: str, operand: Any) -> FieldCheck:
    """
    One check on a field's value; the value is ``_MISSING`` when absent.

    *op* is ``eq``, ``in``, ``regex``, ``gt``, ``gte``, ``lt``, ``lte`` or
    ``exists``; the operand has already been validated by the config.
    """
    if op == "eq":
        same = _same(operand)
        return lambda v: v is not _MISSING and same(v)
    if op == "in":
        options = [_same(o) for o in operand]
        return lambda v: v is not _MISSING and any(o(v) for o in options)
    if op == "regex":
        pattern: re.Pattern[str] = operand

        def search(v: Any) -> bool:
            if v is _MISSING or v is None:
                return False
            # text_of never raises: a value that cannot be text is its
            # type's name, which a pattern may match like any text
            return pattern.search(text_of(v)) is not None

        return search
    if op == "exists":
        want = bool(operand)
        return lambda v: (v is not _MISSING and v is not None) is want
    compare: Callable[[Any, Any], bool] = {
        "gt": operator.gt,
        "gte": operator.ge,
        "lt": operator.lt,
        "lte": operator.le,
    }[op]
    bound = operand

    def check(v: Any) -> bool:
        num = _number(v)
        return num is not None and compare(num, bound)

    return check


_CHECK_SIGNS = {"gt": ">", "gte": "≥", "lt": "<", "lte": "≤"}
#: A value shown as it is in a condition; others are shown as JSON
_PLAIN_VALUE = re.compile(r"[\w.:@/+-]+")


def describe_check(name: str, op: str, operand: Any) -> str:
    """
    How one field check reads in a table: ``passed=true``, ``amount>100``.

    *op* and *operand* are as the routing file gives them (a regex as its
    text); values that are not plain words are shown as JSON, and a
    regex's control characters are made visible, so a condition never
    sends one to the terminal.
    """
    if op == "eq":
        return f"{name}={_condition_value(operand)}"
    if op == "in":
        values = operand if isinstance(operand, list) else [operand]
        return f"{name}={'|'.join(map(_condition_value, values))}"
    if op == "regex":
        return f"{name}~/{visible_controls(str(operand))}/"
    if op == "exists":
        return f"{name}?" if operand else f"no {name}"
    return f"{name}{_CHECK_SIGNS.get(op, op)}{_condition_value(operand)}"


def _condition_value(value: Any) -> str:
    if isinstance(value, str) and _PLAIN_VALUE.fullmatch(value):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


@dataclass(frozen=True, slots=True, kw_only=True)
class Matcher:
    """
    A route's ``match:``; every part given must hold.

    Attributes:
        event: Event names, or ``None`` for any.
        min_level: The lowest level that matches.
        logger: Logger patterns, or ``None`` for any.
        fields: ``(field name, check)`` pairs.
        conditions: How each field check reads (see
            :func:`describe_check`), for :meth:`describe`; without them
            a checked field shows as ``name?``.
        when: A compiled ``when:`` expression, or ``None``.
    """

    event: EventPattern | None = None
    min_level: int = 0
    logger: LoggerPattern | None = None
    fields: tuple[tuple[str, FieldCheck], ...] = ()
    conditions: tuple[str, ...] = ()
    when: Expression | None = None

    def describe(self) -> str:
        """A one-line summary for tables: ``trade_* ≥warning logger=x``."""
        parts: list[str] = []
        if self.event is not None:
            parts.append("|".join(self.event.source))
        if self.min_level:
            parts.append(f"≥{LEVEL_NAMES.get(self.min_level, self.min_level)}")
        if self.logger is not None:
            parts.append("logger=" + "|".join(self.logger.source))
        if self.conditions:
            parts.extend(self.conditions)
        else:
            names = dict.fromkeys(name for name, _ in self.fields)
            parts.extend(f"{name}?" for name in names)
        if self.when is not None:
            parts.append(f"when {self.when.source}")
        return " ".join(parts) or "(everything)"

    def matches(self, ev: LogEvent, context: Mapping[str, Any]) -> bool:
        """
        The whole match, in the worker.

        Raises:
            Exception: Whatever the ``when:`` expression raises.
        """
        if ev.level < self.min_level:
            return False
        if self.event is not None and not self.event(ev.event):
            return False
        if self.logger is not None and not self.logger(ev.logger):
            return False
        for name, check in self.fields:
            if not check(ev.fields.get(name, _MISSING)):
                return False
        return self.when is None or self.when(context)


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
        "memo",
        "routes",
    )

    _PLAN_LIMIT = 4096

    def __init__(
        self,
        routes: Sequence[Route],
        ignore: Callable[[str], bool] = lambda _: False,
    ) -> None:
        self.routes = tuple(routes)
        self._ignore = ignore
        self._ignored: dict[str, bool] = {}  # ignore's answers, by logger
        generic = tuple(
            r
            for r in self.routes
            if r.matcher.event is None or not r.matcher.event.only_exact
        )
        names = {
            name
            for r in self.routes
            if r.matcher.event is not None
            for name in r.matcher.event.exact
        }
        # per exact name: the routes naming it plus the generic ones, in
        # file order, so matching tries only routes that can apply
        self._by_event = {
            name: tuple(
                r
                for r in self.routes
                if r in generic
                or (
                    r.matcher.event is not None
                    and name in r.matcher.event.exact
                )
            )
            for name in names
        }
        self._generic = generic
        self._plans: dict[tuple[str, int, str], Plan] = {}
        #: for the caller's pre-filter to remember what it derived from an
        #: event's raw inputs; it goes with this router, so a reload that
        #: swaps the router forgets it in the same step
        self.memo: dict[Any, Any] = {}

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
        combination (up to ``_PLAN_LIMIT`` of them, whose name and logger
        together are up to :data:`CACHE_KEY_CHARS` long).
        """
        key = (event, levelno, logger)
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plan(event, levelno, logger)
            if len(event) + len(logger) <= CACHE_KEY_CHARS:
                if len(self._plans) >= self._PLAN_LIMIT:
                    self._plans.clear()
                self._plans[key] = plan
        return plan

    def remember(self, key: Any, value: Any) -> None:
        """
        Keep *value* in :attr:`memo` (bounded like the plans).

        The key's text (its text parts, for a tuple) must be up to
        :data:`CACHE_KEY_CHARS` long; other parts count as nothing.
        """
        parts = key if key.__class__ is tuple else (key,)
        chars = sum(len(part) for part in parts if part.__class__ is str)
        if chars > CACHE_KEY_CHARS:
            return
        if len(self.memo) >= self._PLAN_LIMIT:
            self.memo.clear()
        self.memo[key] = value

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
                value = fields.get(name, _MISSING)
                if value is _MISSING:
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
            if len(logger) <= CACHE_KEY_CHARS:
                if len(self._ignored) >= self._PLAN_LIMIT:
                    self._ignored.clear()
                self._ignored[logger] = found
        return found

    def _plan(self, event: str, levelno: int, logger: str) -> Plan:
        if self._ignore(logger):
            return False
        pending: list[_Checks] = []
        for route in self._by_event.get(event, self._generic):
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
                (n, c, c(_MISSING))
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
            channels: list[str] = []
            for n, target in enumerate(route.to):
                try:
                    key = target.render(context).strip()
                except Exception as exc:
                    on_error(route, f"to[{n}]", exc)
                    continue
                if key and key not in channels:
                    channels.append(key)
            taken.append(Routed(route, tuple(channels)))
            if not route.continue_:
                break
        return taken
