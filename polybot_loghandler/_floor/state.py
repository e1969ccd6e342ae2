"""
The floor's state in memory: the reducer's changes, applied in order.

The reducer's output is changes, not state, so that a store can write
only what changed: :func:`~.reduce.step` reads the current state
through a :class:`~.reduce.View` and returns every change one event
makes, evictions and dropped periods included, and applying them in
order is all a store does. :class:`FloorState` is that store in memory
(for tests, previews and ``ask`` on a file); one in Redis applies the
same changes and ends up the same.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from polybot_loghandler._events import LogEvent

from .model import StateSpec
from .reduce import Change, Row, RowChange, Step, Sums, step

__all__ = ["FloorState"]


@dataclass
class FloorState:
    """
    The floor's state in memory: the reducer's changes applied in order.

    Attributes:
        spec: What the state is made of.
        tables: Rows by table name and key; a row holds the values set,
            ``_key``, and ``_created`` and ``_updated`` (the event's
            epoch seconds).
        totals: Sums by total name, period kind (``day``), label
            (``2026-02-01``) and measure.
        errors: What could not be done, by ``"where: why"``.
    """

    spec: StateSpec
    tables: dict[str, dict[str, Row]] = field(default_factory=dict)
    totals: dict[str, dict[str, dict[str, Sums]]] = field(default_factory=dict)
    errors: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        for table in self.spec.tables:
            self.tables.setdefault(table.name, {})
        for total in self.spec.totals:
            periods = self.totals.setdefault(total.name, {})
            for period in total.periods:
                periods.setdefault(period, {})

    def feed(self, ev: LogEvent) -> Step:
        """Apply what *ev* changes and count what failed; never raises."""
        done = step(self.spec, self, ev)
        self.apply(done.changes)
        self.errors.update(done.problems)
        return done

    def apply(self, changes: Collection[Change]) -> None:
        """Write *changes* in order (an updated row becomes the newest)."""
        for change in changes:
            if isinstance(change, RowChange):
                rows = self.tables.setdefault(change.table, {})
                rows.pop(change.key, None)
                if change.row is not None:
                    rows[change.key] = change.row
            else:
                periods = self.totals.setdefault(change.total, {})
                sums = periods.setdefault(change.period, {})
                sums.pop(change.label, None)
                if change.sums is not None:
                    sums[change.label] = change.sums

    # the View the reducer reads (see reduce.View)

    def row(self, table: str, key: str) -> Mapping[str, Any] | None:
        return self.tables.get(table, {}).get(key)

    def size(self, table: str) -> int:
        return len(self.tables.get(table, ()))

    def least_recent(self, table: str, skip: Collection[str]) -> str | None:
        rows = self.tables.get(table, {})
        keys = (k for k in rows if k not in skip)
        return min(
            keys, key=lambda k: rows[k].get("_updated", 0), default=None
        )

    def sums(self, total: str, period: str, label: str) -> Sums | None:
        return self.totals.get(total, {}).get(period, {}).get(label)

    def labels(self, total: str, period: str) -> Collection[str]:
        return tuple(self.totals.get(total, {}).get(period, {}))
