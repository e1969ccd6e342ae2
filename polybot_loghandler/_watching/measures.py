"""
A digest's measures: ``count``, ``sum(FIELD)``, ``min``, ``max``, ...

``avg``, ``first`` and ``last`` too. Pure.

A measure is written as it reads in ``routing.yaml`` (``sum(amount)``);
:func:`parse_measure` turns it into a :class:`Measure`, and each group of
a digest keeps one :class:`Tally` per measure. Numbers are read as the
template filters read them (``1,250.5`` is a number, ``True`` is not);
an event whose field is missing or not a number adds nothing to ``sum``,
``min``, ``max`` or ``avg``, and is counted in ``skipped``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from polybot_loghandler._values import text_of

__all__ = [
    "FUNCTIONS",
    "OTHERS",
    "Groups",
    "Measure",
    "Tally",
    "field_value",
    "parse_measure",
]

#: The group that takes the events of groups past the limit.
OTHERS = "(others)"

#: The functions a measure may use, and whether they read a field.
FUNCTIONS = {
    "count": False,
    "sum": True,
    "min": True,
    "max": True,
    "avg": True,
    "first": True,
    "last": True,
}

_CALL = re.compile(r"\s*([a-z]+)\s*(?:\(\s*([A-Za-z_][\w.]*)\s*\))?\s*")


@dataclass(frozen=True, slots=True)
class Measure:
    """One measure: its function and the field it reads (``None``: none)."""

    function: str
    field: str | None = None

    def tally(self) -> Tally:
        """A fresh tally of this measure."""
        return Tally(self)


def parse_measure(text: str) -> Measure:
    """
    ``count``, ``sum(pnl)``... as a :class:`Measure`.

    Raises:
        ValueError: Not a measure; the message says what is allowed.
    """
    found = _CALL.fullmatch(text) if isinstance(text, str) else None
    allowed = "count, or " + ", ".join(
        f"{name}(FIELD)" for name, reads in FUNCTIONS.items() if reads
    )
    if found is None or found.group(1) not in FUNCTIONS:
        raise ValueError(f"not a measure (use {allowed})")
    name, argument = found.group(1), found.group(2)
    if FUNCTIONS[name] and argument is None:
        raise ValueError(f"{name} needs the field it reads: {name}(FIELD)")
    if not FUNCTIONS[name] and argument is not None:
        raise ValueError(f"{name} reads no field: write {name}")
    return Measure(name, argument)


@dataclass(slots=True)
class Tally:
    """What one measure has gathered over one group's events."""

    measure: Measure
    count: int = 0
    total: float = 0.0
    low: float | None = None
    high: float | None = None
    first: Any = None
    last: Any = None
    #: events whose field was missing or not a number
    skipped: int = 0
    _seen: bool = field(default=False, repr=False)

    def add(self, fields: dict[str, Any]) -> None:
        """Fold one event's *fields* in."""
        measure = self.measure
        if measure.field is None:
            self.count += 1
            return
        value = field_value(fields, measure.field)
        if measure.function in ("first", "last"):
            if value is None:
                self.skipped += 1
                return
            if not self._seen:
                self.first, self._seen = value, True
            self.last = value
            self.count += 1
            return
        number = _number(value)
        if number is None:
            self.skipped += 1
            return
        self.count += 1
        self.total += number
        self.low = number if self.low is None else min(self.low, number)
        self.high = number if self.high is None else max(self.high, number)

    def merge(self, other: Tally) -> None:
        """Fold *other* (the same measure, another part) in, after this."""
        self.skipped += other.skipped
        if not other.count:
            return
        if not self.count or not self._seen:
            self.first, self._seen = other.first, other._seen
        self.last = other.last
        self.count += other.count
        self.total += other.total
        for name, pick in (("low", min), ("high", max)):
            mine, theirs = getattr(self, name), getattr(other, name)
            if theirs is not None:
                setattr(
                    self, name, theirs if mine is None else pick(mine, theirs)
                )

    def row(self) -> list[Any]:
        """What this tally holds, as plain values (see :meth:`from_row`)."""
        return [
            self.count,
            self.total,
            self.low,
            self.high,
            _plain(self.first),
            _plain(self.last),
            self.skipped,
            self._seen,
        ]

    @classmethod
    def from_row(cls, measure: Measure, row: Any) -> Tally:
        """
        A tally of *measure* from what :meth:`row` gave.

        Raises:
            ValueError: *row* does not read as a tally's.
        """
        try:
            count, total, low, high, first, last, skipped, seen = row
            tally = cls(
                measure,
                int(count),
                float(total),
                None if low is None else float(low),
                None if high is None else float(high),
                first,
                last,
                int(skipped),
            )
        except (TypeError, ValueError) as exc:
            msg = f"not a tally: {exc}"
            raise ValueError(msg) from None
        tally._seen = bool(seen)
        return tally

    @property
    def value(self) -> Any:
        """The measure's result; ``None`` when nothing was gathered."""
        function = self.measure.function
        if function == "count":
            return self.count
        if not self.count:
            return None if function != "sum" else 0
        return {
            "sum": self.total,
            "min": self.low,
            "max": self.high,
            "avg": self.total / self.count,
            "first": self.first,
            "last": self.last,
        }[function]


@dataclass(slots=True)
class Groups:
    """
    Events counted by group, each group with a tally per measure.

    An event's group is the text of its *group_by* field (``None``: one
    group, ``""``). Groups are bounded: past *limit*, events go to one
    group, :data:`OTHERS`, so the totals stay whole, and the events that
    went there are counted in ``crowded``. Digests keep one per period;
    folded messages one per summary.
    """

    measures: dict[str, Measure]
    group_by: str | None
    limit: int
    groups: dict[str, dict[str, Tally]] = field(default_factory=dict)
    events: int = 0
    crowded: int = 0

    def add(self, fields: Mapping[str, Any]) -> bool:
        """Count one event; whether it went to :data:`OTHERS` (crowded)."""
        key = self.key_of(fields)
        tallies = self.groups.get(key)
        crowded = False
        if tallies is None:
            named = len(self.groups) - (OTHERS in self.groups)
            if named >= self.limit:  # full: into (others), counted
                key, crowded = OTHERS, True
                self.crowded += 1
                tallies = self.groups.get(key)
            if tallies is None:
                tallies = self.groups[key] = {
                    name: m.tally() for name, m in self.measures.items()
                }
        plain = dict(fields)
        for tally in tallies.values():
            tally.add(plain)
        self.events += 1
        return crowded

    def key_of(self, fields: Mapping[str, Any]) -> str:
        """The group an event with *fields* counts in."""
        if self.group_by is None:
            return ""
        value = fields.get(self.group_by)
        return "" if value is None else text_of(value)

    def results(
        self,
    ) -> tuple[list[tuple[str, dict[str, Any]]], dict[str, Any]]:
        """
        Each group's measures (sorted by key, others last), and the total.
        """
        rows = []
        total = {name: m.tally() for name, m in self.measures.items()}
        for key in sorted(self.groups, key=lambda k: (k == OTHERS, k)):
            tallies = self.groups[key]
            rows.append((key, {n: t.value for n, t in tallies.items()}))
            for name, tally in tallies.items():
                total[name].merge(tally)
        return rows, {n: t.value for n, t in total.items()}


def _plain(value: Any) -> Any:
    """*value* if JSON holds it as it is; else its text."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def field_value(fields: Mapping[str, Any], path: str) -> Any:
    """A field by name, or by a dotted path into mappings."""
    if path in fields:
        return fields[path]
    value: Any = fields
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def _number(value: Any) -> float | None:
    """*value* as a finite number, as the template filters read it."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        if isinstance(value, str):
            number = float(value.replace(",", ""))
        else:
            number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None
