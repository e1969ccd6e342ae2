"""
A digest's open periods, their groups and measures. Pure.

An event counts in the period of its own time, so a backlog read late
lands where it belongs. A period stays open until ``grace`` seconds past
its end (on the watching process's clock), for events still on their
way; then :meth:`Digest.close_due` hands it over, closed, once. An event
for a period already closed is counted in ``late`` and in nothing else.
Groups are bounded: past ``limit``, events go to one group, ``(others)``,
so the totals stay whole, and the events that went there are counted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timezone, tzinfo
from typing import Any

from .measures import OTHERS, Groups, Measure, Tally
from .periods import Period, period_of

__all__ = ["OTHERS", "Closed", "Digest"]

#: Groups one period keeps at most.
GROUP_LIMIT = 100


@dataclass(frozen=True, slots=True)
class Closed:
    """
    One closed period, as its message shows it.

    Attributes:
        period: Its start and end.
        groups: Each group's key and its measures, by key.
        total: The measures over every group.
        events: The events it holds.
        crowded: Events that went to ``(others)`` past the group limit.
        partial: Only a part of the period: sent before its end (at an
            exit), or what came after such a part.
    """

    period: Period
    groups: list[tuple[str, dict[str, Any]]]
    total: dict[str, Any]
    events: int
    crowded: int = 0
    partial: bool = False


@dataclass(slots=True)
class _Open:
    period: Period
    counted: Groups


class Digest:
    """
    What one digest has gathered and not yet sent.

    Args:
        measures: Name → measure, in the order they are shown.
        every: The period's length (see ``periods.check_every``).
        group_by: The field whose value names an event's group
            (``None``: one group, ``""``).
        zone: The time zone periods are aligned in.
        grace: Seconds a period stays open after its end.
        limit: Groups a period keeps at most.
    """

    def __init__(  # noqa: PLR0913 - the digest's settings, keyword-only
        self,
        measures: Mapping[str, Measure],
        every: float,
        *,
        group_by: str | None = None,
        zone: tzinfo = timezone.utc,
        grace: float = 2.0,
        limit: int = GROUP_LIMIT,
    ) -> None:
        self.measures = dict(measures)
        self.every = every
        self.group_by = group_by
        self.zone = zone
        self.grace = grace
        self.limit = limit
        self._open: dict[float, _Open] = {}
        self._closed_until = float("-inf")  # periods before this are sent
        self._partly: set[float] = set()  # periods of which a part was sent
        #: events for periods already closed
        self.late = 0
        #: events that went to ``(others)`` past the group limit
        self.crowded = 0

    def add(self, when: float, fields: Mapping[str, Any]) -> None:
        """Count one event, logged at *when*, with *fields*."""
        period = period_of(when, self.every, self.zone)
        if period.start < self._closed_until:
            self.late += 1
            return
        state = self._open.get(period.start)
        if state is None:
            state = self._open[period.start] = _Open(period, self._groups())
        if state.counted.add(fields):
            self.crowded += 1

    def _groups(self) -> Groups:
        return Groups(self.measures, self.group_by, self.limit)

    def close_due(self, now: float) -> list[Closed]:
        """The periods whose end is *grace* seconds past, oldest first."""
        closed = []
        for start in sorted(self._open):
            state = self._open[start]
            if state.period.end + self.grace > now:
                break
            del self._open[start]
            self._closed_until = max(self._closed_until, state.period.end)
            closed.append(self._closed(state, partial=start in self._partly))
        self._partly = {
            start
            for start in self._partly
            if start + self.every + self.grace > now
        }
        return closed

    def close_all(self) -> list[Closed]:
        """
        Every open period as it stands now, each marked partial (at exit).

        The periods are not over: an event of one that comes later (the
        next process goes on with the state) is counted in what follows
        of it, sent at its end, marked partial too. Nothing is counted
        twice, nothing late.
        """
        out = [
            self._closed(self._open[start], partial=True)
            for start in sorted(self._open)
        ]
        self._partly.update(self._open)
        self._open = {}
        return out

    def next_due(self) -> float | None:
        """When the oldest open period closes (``None``: none is open)."""
        if not self._open:
            return None
        return self._open[min(self._open)].period.end + self.grace

    # -- for a store ----------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """The open periods and what is closed, as plain values."""
        closed = self._closed_until
        return {
            "closed_until": None if closed == float("-inf") else closed,
            "late": self.late,
            "partly": sorted(self._partly),
            "open": [
                [
                    state.period.start,
                    state.period.end,
                    state.counted.events,
                    state.counted.crowded,
                    {
                        key: {name: t.row() for name, t in tallies.items()}
                        for key, tallies in state.counted.groups.items()
                    },
                ]
                for state in self._open.values()
            ],
        }

    def restore(self, saved: Mapping[str, Any]) -> None:
        """
        Take back what :meth:`snapshot` gave.

        Raises:
            ValueError: *saved* does not read as a snapshot (nothing is
                taken then).
        """
        try:
            closed = saved["closed_until"]
            late = int(saved["late"])
            partly = {float(start) for start in saved.get("partly", ())}
            periods = {}
            for start, end, events, crowded, groups in saved["open"]:
                state = _Open(Period(float(start), float(end)), self._groups())
                counted = state.counted
                counted.events, counted.crowded = int(events), int(crowded)
                for key, rows in groups.items():
                    counted.groups[str(key)] = {
                        name: Tally.from_row(measure, rows[name])
                        for name, measure in self.measures.items()
                    }
                periods[state.period.start] = state
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            msg = f"not a digest's snapshot: {exc!r}"
            raise ValueError(msg) from None
        self._open = periods
        self._closed_until = float("-inf") if closed is None else float(closed)
        self.late = late
        self._partly = partly

    def _closed(self, state: _Open, *, partial: bool = False) -> Closed:
        groups, total = state.counted.results()
        return Closed(
            state.period,
            groups,
            total,
            state.counted.events,
            state.counted.crowded,
            partial,
        )
