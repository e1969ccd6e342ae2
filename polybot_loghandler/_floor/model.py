"""
What a ``state:`` section says: frozen objects, one per YAML mapping.

The section declares how the floor's state is derived from the events
it logs: *tables* of rows (agents, positions, health) kept by a key, and
*totals*, running sums per period (today's realised P&L). Each has
rules, tried in order; the first whose ``match:`` holds applies, and
when it says ``continue: true`` the next one whose ``match:`` holds
applies too, as routes do. The reducer (:mod:`.reduce`) only reads
these objects. A period's label (:func:`period_label`) is worked out
here, from the event's own time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone, tzinfo

from polybot_loghandler._matching import Matcher

from .values import Value

__all__ = [
    "KEEP",
    "PERIODS",
    "Rule",
    "StateSpec",
    "TableSpec",
    "TotalSpec",
    "label_before",
    "period_label",
]

#: The periods a total can be counted in: the event's day and ISO week
#: in the state's time zone, and all time.
PERIODS = ("day", "week", "all")
#: Rows a table keeps by default (``keep:``).
KEEP = 1000


@dataclass(frozen=True, slots=True, kw_only=True)
class Rule:
    """
    One item of ``rules:``: when it applies, and what it changes.

    A table's rule has *set* (create the row if missing, overwrite these
    names) or *remove*; a total's rule has *add*.

    Attributes:
        matcher: The rule's ``match:``.
        set: ``(name, value)`` pairs written into the row.
        add: ``(measure, value)`` pairs added to the total's sums.
        remove: Whether the row goes.
        continue_: Whether, once this rule applies, the next rule whose
            match holds applies too (``continue: true``).
    """

    matcher: Matcher
    set: tuple[tuple[str, Value], ...] = ()
    add: tuple[tuple[str, Value], ...] = ()
    remove: bool = False
    continue_: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class TableSpec:
    """
    One item of ``tables:``: rows kept by a key.

    Attributes:
        name: The table's name (``agents``).
        key: The row key's template (``{{ agent }}``).
        each: A field holding a mapping or list: the rule applies once
            per item, and templates see ``item`` (``{key, value}``).
        keep: The most rows kept; past it, the least recently updated
            row goes.
        rules: The ``rules:``, in order.
    """

    name: str
    key: Value
    each: str | None = None
    keep: int = KEEP
    rules: tuple[Rule, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class TotalSpec:
    """
    One item of ``totals:``: named measures summed per period.

    Attributes:
        name: The total's name (``pnl``).
        periods: Some of :data:`PERIODS`, in the file's order.
        rules: The ``rules:``, in order.
    """

    name: str
    periods: tuple[str, ...] = PERIODS
    rules: tuple[Rule, ...] = ()

    @property
    def measures(self) -> tuple[str, ...]:
        """Every measure a rule adds to, in the order first named."""
        names = dict.fromkeys(n for r in self.rules for n, _ in r.add)
        return tuple(names)


@dataclass(frozen=True, slots=True, kw_only=True)
class StateSpec:
    """
    The ``state:`` section.

    Attributes:
        zone: The time zone "today" and "this week" are counted in.
        zone_name: Its name as the file gives it (``Europe/Paris``).
        tables: The tables, in the file's order.
        totals: The totals, in the file's order.
        fingerprint: The section as the file wrote it, hashed: the relay
            saves it with the state it keeps, so that a reader whose
            ``state:`` differs is told.
    """

    zone: tzinfo = timezone.utc
    zone_name: str = "UTC"
    tables: tuple[TableSpec, ...] = ()
    totals: tuple[TotalSpec, ...] = ()
    fingerprint: str = ""


def period_label(period: str, when: float, zone: tzinfo) -> str:
    """
    ``2026-02-01`` (day), ``2026-W05`` (ISO week) or ``all``, in *zone*.

    Labels of one kind sort as their periods do.

    Raises:
        ValueError, OverflowError, OSError: *when* is no time.
    """
    if period == "all":
        return "all"
    local = datetime.fromtimestamp(when, zone).date()
    return local.isoformat() if period == "day" else _week_label(local)


def _week_label(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year:04d}-W{week:02d}"


def label_before(period: str, label: str) -> str:
    """The label of the period before *label*'s ("" if none can be)."""
    try:
        if period == "day":
            return (date.fromisoformat(label) - timedelta(days=1)).isoformat()
        monday = date.fromisocalendar(int(label[:4]), int(label[6:]), 1)
        return _week_label(monday - timedelta(days=7))
    except (ValueError, OverflowError):
        return ""
