"""
What one route's ``match:`` asks of an event. Pure: no I/O.

A :class:`Matcher` holds the event-name and logger patterns, the least
level, the field checks and the ``when:`` expression of one route; the
:class:`~polybot_loghandler._router.Router` puts the routes of a file
together.
"""

from __future__ import annotations

import fnmatch
import json
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._events import LEVEL_NAMES
from ._memo import Memo
from ._text import visible_controls
from ._values import text_of

if TYPE_CHECKING:
    from ._events import LogEvent
    from ._templates import Expression

__all__ = [
    "ABSENT",
    "CACHE_KEY_CHARS",
    "EventPattern",
    "FieldCheck",
    "LoggerPattern",
    "Matcher",
    "describe_check",
    "field_check",
]

#: The value a field check is given for a field the event does not have.
ABSENT: Any = object()

#: The longest key the caches of matching and routing keep, in
#: characters (an event name or message plus a logger name). Each cache
#: keeps at most 4,096 keys, so at most 1 Mi characters: a count alone
#: would let 4,096 messages of 100 kB each hold 400 MB. A longer key is
#: worked out at each use; such messages are rare and mostly unique.
CACHE_KEY_CHARS = 256


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

    def __init__(self, patterns: Sequence[str]) -> None:
        self.source = tuple(patterns)
        self._patterns = tuple(
            re.compile(fnmatch.translate(p)[:-2] + r"(?:\..*)?\Z", re.DOTALL)
            for p in patterns
        )
        self._cache: Memo[str, bool] = Memo(4096, CACHE_KEY_CHARS)

    def __call__(self, logger: str) -> bool:
        """Whether *logger* (or an ancestor) matches one of the patterns."""
        found = self._cache.get(logger)
        if found is None:
            found = any(p.match(logger) for p in self._patterns)
            self._cache.keep(logger, found, len(logger))
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
    One check on a field's value; the value is ``ABSENT`` when absent.

    *op* is ``eq``, ``in``, ``regex``, ``gt``, ``gte``, ``lt``, ``lte`` or
    ``exists``; the operand has already been validated by the config.
    """
    if op == "eq":
        same = _same(operand)
        return lambda v: v is not ABSENT and same(v)
    if op == "in":
        options = [_same(o) for o in operand]
        return lambda v: v is not ABSENT and any(o(v) for o in options)
    if op == "regex":
        pattern: re.Pattern[str] = operand

        def search(v: Any) -> bool:
            if v is ABSENT or v is None:
                return False
            # text_of never raises: a value that cannot be text is its
            # type's name, which a pattern may match like any text
            return pattern.search(text_of(v)) is not None

        return search
    if op == "exists":
        want = bool(operand)
        return lambda v: (v is not ABSENT and v is not None) is want
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
            if not check(ev.fields.get(name, ABSENT)):
                return False
        return self.when is None or self.when(context)
