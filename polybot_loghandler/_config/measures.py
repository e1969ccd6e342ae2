"""
``group_by:`` and ``measures:``: how events are summed up, where they are.

A digest sums up a period's events, and a route's ``fold:`` the events
of a backlog it folds; both name the field that groups them and the
measures each group shows (``_watching.measures``), checked here once so
that both are told the same words.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from polybot_loghandler._watching.measures import Measure, parse_measure
from polybot_loghandler._yaml import KeyPath

from .checker import Checker
from .words import shown

__all__ = ["MeasuresChecker"]

#: A measure's name: what templates read it by.
_MEASURE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: Names a measure may not take: templates read a group's key by it.
_RESERVED_MEASURES = frozenset({"key"})


class MeasuresChecker(Checker):
    """Checks a ``group_by:`` and a ``measures:`` (a digest's, a fold's)."""

    def group_by(self, table: Mapping[str, Any], path: KeyPath) -> str | None:
        """The ``group_by`` of *table* (at *path*), if it names a field."""
        if table.get("group_by") is None:
            return None
        where = (*path, "group_by")
        group_by = self.string(table["group_by"], where, "group_by")
        if group_by is not None and not group_by.strip():
            self.problem(where, "name a field to group by")
            return None
        return group_by

    def measures(
        self, data: Any, path: KeyPath
    ) -> tuple[tuple[str, Measure], ...]:
        """Each measure of the ``measures:`` mapping *data*, in order."""
        if data is None:
            return ()  # told as a missing key, where it is required
        table = self.mapping(
            data, path, "measures (name: count, name: sum(FIELD), ...)"
        )
        if table is None:
            return ()
        if not table:
            self.problem(path, "name at least one measure, e.g. trades: count")
            return ()
        out: list[tuple[str, Measure]] = []
        for name, text in table.items():
            where = (*path, name)
            if not isinstance(name, str) or not _MEASURE_NAME.fullmatch(name):
                self.problem(
                    where,
                    f"a measure's name is a word of letters, digits and _ "
                    f"(templates read it by name), not {shown(name)}",
                )
                continue
            if name in _RESERVED_MEASURES:
                self.problem(
                    where,
                    f"'{name}' names a group's key in templates; "
                    "call the measure something else",
                )
                continue
            try:
                out.append((name, parse_measure(text)))
            except ValueError as exc:
                self.problem(where, f"{shown(text)}: {exc}")
        return tuple(out)
