"""
The reducer: what one event changes in the floor's state. Pure.

:func:`step` reads the current state through a :class:`View` (the row
a ``set:`` merges into, the sums an ``add:`` adds to, how full a table
is) and returns every change the event makes, in order, evictions and
dropped periods included, with what could not be done. It reads no
clock: the event's own time is "now".
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from itertools import islice
from typing import Any, Protocol

from polybot_loghandler._events import LogEvent

from .model import (
    Rule,
    StateSpec,
    TableSpec,
    TotalSpec,
    label_before,
    period_label,
)
from .values import ValueFailed, ValueMissing, number, stored

__all__ = [
    "KEY_CHARS",
    "MAX_EACH",
    "Change",
    "RowChange",
    "Step",
    "SumsChange",
    "View",
    "step",
]

#: Characters of a row key; a longer one is cut.
KEY_CHARS = 200
#: Items of an ``each:`` field taken from one event.
MAX_EACH = 100

Row = dict[str, Any]
Sums = dict[str, float]


@dataclass(frozen=True, slots=True)
class RowChange:
    """A table's row *key* is now *row*, or is gone (``None``)."""

    table: str
    key: str
    row: Row | None


@dataclass(frozen=True, slots=True)
class SumsChange:
    """A total's sums for one *period* and *label*, or gone (``None``)."""

    total: str
    period: str
    label: str
    sums: Sums | None


Change = RowChange | SumsChange


@dataclass(frozen=True, slots=True)
class Step:
    """What one event does: its changes in order, and what failed."""

    changes: tuple[Change, ...] = ()
    problems: tuple[str, ...] = ()


class View(Protocol):
    """The state as the reducer reads it."""

    def row(self, table: str, key: str) -> Mapping[str, Any] | None:
        """The row *key* of *table*, if there is one."""

    def size(self, table: str) -> int:
        """How many rows *table* holds."""

    def least_recent(self, table: str, skip: Collection[str]) -> str | None:
        """The key of the least recently updated row not in *skip*."""

    def sums(self, total: str, period: str, label: str) -> Sums | None:
        """A total's sums for one period, if there are any."""

    def labels(self, total: str, period: str) -> Collection[str]:
        """The labels a total holds sums for, of one kind of period."""


def step(spec: StateSpec, view: View, ev: LogEvent) -> Step:
    """
    Every change *ev* makes to the state *view* shows. Never raises.

    Tables, then totals, in the spec's order; each change is made on
    top of those before it (a row set twice by one event is merged), so
    applying them in order gives the new state.
    """
    try:
        if not _is_time(ev.time):
            return Step(problems=("time failed",))
        reducer = _Reducer(spec, view, ev)
        for table in spec.tables:
            reducer.table(table)
        for total in spec.totals:
            reducer.total(total)
    except Exception:  # a fault here must not stop the floor's logging
        return Step(problems=("event failed",))  # all of it, or none
    return Step(tuple(reducer.changes), tuple(reducer.problems))


def _is_time(when: float) -> bool:
    """Whether *when* is a time a datetime can hold (context needs it)."""
    try:
        datetime.fromtimestamp(when, timezone.utc)
    except (ValueError, OverflowError, OSError):
        return False
    return True


class _Reducer:
    """One event's step: its context, and the changes gathered so far."""

    def __init__(self, spec: StateSpec, view: View, ev: LogEvent) -> None:
        self.spec = spec
        self.view = view
        self.ev = ev
        context = ev.context()
        if any(k.__class__ is not str for k in context):
            # Jinja2 takes names as keywords; such fields stay in fields
            context = {k: v for k, v in context.items() if k.__class__ is str}
        self.context: Mapping[str, Any] = context
        self.changes: list[Change] = []
        self.problems: list[str] = []

    def applying(self, where: str, rules: tuple[Rule, ...]) -> list[Rule]:
        """
        The rules that apply, in order (one whose match raises does not).

        The first whose match holds; after one that says ``continue``,
        the next whose match holds too, as routes are tried.
        """
        found: list[Rule] = []
        for rule in rules:
            if self._matches(where, rule):
                found.append(rule)
                if not rule.continue_:
                    break
        return found

    def _matches(self, where: str, rule: Rule) -> bool:
        try:
            return rule.matcher.matches(self.ev, self.context)
        except Exception:
            self.problems.append(f"{where}: match failed")
            return False

    # tables

    def table(self, table: TableSpec) -> None:
        """Set or remove the rows the rules that apply say, in order."""
        rules = self.applying(table.name, table.rules)
        if not rules:
            return
        rows = _Rows(table, self)
        for names in self._each(table):
            key = self._key(table, names)
            if key is None:
                continue
            for rule in rules:
                self._change(table, rows, rule, key, names)

    def _change(
        self,
        table: TableSpec,
        rows: _Rows,
        rule: Rule,
        key: str,
        names: Mapping[str, Any],
    ) -> None:
        """What one rule does to the row *key*."""
        current = rows.get(key)
        if rule.remove:
            if current is not None:
                rows.put(key, None)
            return
        values = self._set_values(table.name, rule, names)
        if values is None:
            return
        time = self.ev.time
        if current is None:
            rows.make_room(key)
            current = {"_key": key, "_created": time}
        rows.put(key, {**current, **values, "_key": key, "_updated": time})

    def _each(self, table: TableSpec) -> Iterator[Mapping[str, Any]]:
        """The context once, or once per item of the ``each:`` field."""
        context = self.context
        if table.each is None:
            yield context
            return
        found = context.get(table.each)
        try:
            if isinstance(found, Mapping):
                items = islice(found.items(), MAX_EACH + 1)
            elif isinstance(found, (list, tuple)):
                items = islice(enumerate(found), MAX_EACH + 1)
            else:
                return
            for n, (key, value) in enumerate(items):
                if n == MAX_EACH:
                    self.problems.append(f"{table.name}: too many items")
                    return
                yield {**context, "item": {"key": key, "value": value}}
        except Exception:
            self.problems.append(f"{table.name}: each failed")

    def _key(self, table: TableSpec, names: Mapping[str, Any]) -> str | None:
        try:
            key = table.key.text(names).strip()[:KEY_CHARS]
        except ValueFailed:
            self.problems.append(f"{table.name}: key failed")
            return None
        if not key:
            self.problems.append(f"{table.name}: key empty")
            return None
        return key

    def _set_values(
        self, where: str, rule: Rule, names: Mapping[str, Any]
    ) -> Row | None:
        """
        The rule's ``set:`` values, or ``None`` if one failed.

        A value that is an undefined name is ``None``: the event lacks
        that field, and the rest of the change still holds.
        """
        values: Row = {}
        for name, value in rule.set:
            try:
                found = value.value(names)
            except ValueMissing:
                found = None
            except ValueFailed:
                self.problems.append(f"{where}.{name}: failed")
                return None
            values[name] = stored(found)
        return values

    # totals

    def total(self, total: TotalSpec) -> None:
        """Add the applying rules' numbers to each period's sums."""
        adds: dict[str, float] = {}
        for rule in self.applying(total.name, total.rules):
            for name, amount in self._numbers(total.name, rule).items():
                found = number(adds.get(name, 0) + amount)
                if found is None:
                    self.problems.append(f"{total.name}.{name}: overflow")
                else:
                    adds[name] = found
        if not adds:
            return
        for period in total.periods:
            try:
                label = period_label(period, self.ev.time, self.spec.zone)
            except (ValueError, OverflowError, OSError):
                self.problems.append(f"{total.name}: time failed")
                return
            self._add(total, period, label, adds)

    def _numbers(self, where: str, rule: Rule) -> dict[str, float]:
        adds: dict[str, float] = {}
        for name, value in rule.add:
            try:
                found = number(value.value(self.context))
            except ValueFailed:
                self.problems.append(f"{where}.{name}: failed")
                continue
            if found is None:
                self.problems.append(f"{where}.{name}: not a number")
            else:
                adds[name] = found
        return adds

    def _add(
        self,
        total: TotalSpec,
        period: str,
        label: str,
        adds: Mapping[str, float],
    ) -> None:
        """Add to one period's sums; a newer period drops older ones."""
        name = total.name
        labels = self.view.labels(name, period)
        newest = max(labels, default=label)
        if label < newest and label < label_before(period, newest):
            self.problems.append(f"{name}.{period}: late")
            return
        new: Sums = dict.fromkeys(total.measures, 0)
        new.update(self.view.sums(name, period, label) or {})
        for measure, amount in adds.items():
            found = number(new.get(measure, 0) + amount)
            if found is None:
                self.problems.append(f"{name}.{measure}: overflow")
            else:
                new[measure] = found
        self.changes.append(SumsChange(name, period, label, new))
        if label >= newest:
            oldest = label_before(period, label)
            for old in sorted(labels):
                if old < oldest:
                    self.changes.append(SumsChange(name, period, old, None))


class _Rows:
    """One table's rows as this event's changes leave them so far."""

    def __init__(self, table: TableSpec, reducer: _Reducer) -> None:
        self.table = table
        self.reducer = reducer
        self.pending: dict[str, Row | None] = {}
        self.size = reducer.view.size(table.name)

    def get(self, key: str) -> Mapping[str, Any] | None:
        if key in self.pending:
            return self.pending[key]
        return self.reducer.view.row(self.table.name, key)

    def put(self, key: str, row: Row | None) -> None:
        """Record a change; a row made or removed changes the size."""
        was = self.get(key) is not None
        self.size += (row is not None) - was
        self.pending[key] = row
        self.reducer.changes.append(RowChange(self.table.name, key, row))

    def make_room(self, key: str) -> None:
        """Drop the least recently updated rows until *key*'s fits."""
        name = self.table.name
        while self.size >= max(self.table.keep, 1):
            victim = self.reducer.view.least_recent(name, self.pending)
            if victim is None:  # every row is this event's: its first
                victim = next(
                    (k for k, r in self.pending.items() if r and k != key),
                    None,
                )
            if victim is None:  # a view whose size is wrong
                return
            self.put(victim, None)
            self.reducer.problems.append(f"{name}: evicted")
