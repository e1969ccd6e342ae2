"""
``max_lag:`` and ``fold:``: how far behind, and summed up how.

``delivery.max_lag`` bounds how far behind every channel may fall; a
route's own ``max_lag:`` overrides it for that route's messages, and its
``fold:`` says ``never``, or how the summary of its folded messages
groups and measures them, in a digest's words (``measures``). A bound
is a duration of at least :data:`MIN_LAG`, or ``off``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from polybot_loghandler._model import Fold
from polybot_loghandler._yaml import KeyPath

from .checker import is_off
from .measures import MeasuresChecker
from .words import kind_of, shown

__all__ = ["FOLD_KEYS", "MIN_LAG", "FoldChecker"]

#: The shortest lag bound, in seconds. Discord sends about one message
#: every 2 seconds per channel (30 a minute), so a shorter bound would
#: fold a channel's messages as soon as two wait.
MIN_LAG = 5.0
#: The keys of ``fold:`` as a mapping.
FOLD_KEYS = ("group_by", "measures", "top")
#: What ``fold:`` may be, as its problem says.
_FOLD_FORMS = (
    "never, or a mapping {group_by: FIELD, measures: {NAME: MEASURE}, "
    "top: N} (each key optional)"
)


class FoldChecker(MeasuresChecker):
    """Checks a route's ``fold:`` and ``max_lag:``, and lag bounds."""

    def fold(self, table: Mapping[str, Any], path: KeyPath) -> Fold:
        """
        The :class:`Fold` of the route *table* at *path*.

        Read from its ``max_lag:`` and ``fold:``; a part with a problem
        is told, and left at its default.
        """
        max_lag = None
        if table.get("max_lag") is not None:
            max_lag = self.max_lag(table["max_lag"], (*path, "max_lag"))
        data = table.get("fold")
        where = (*path, "fold")
        if data is None:
            return Fold(max_lag=max_lag)
        if data == "never":
            return Fold(never=True, max_lag=max_lag)
        if not isinstance(data, dict):
            given = shown(data) if isinstance(data, str) else kind_of(data)
            self.problem(where, f"must be {_FOLD_FORMS}, not {given}")
            return Fold(max_lag=max_lag)
        self.keys(data, where, FOLD_KEYS)
        group_by = self.group_by(data, where)
        measures = self.measures(data.get("measures"), (*where, "measures"))
        top = Fold().top
        if "top" in data:
            found = self.positive_whole(
                data["top"],
                (*where, "top"),
                " (the groups a summary shows before '(others)')",
            )
            top = top if found is None else found
        return Fold(
            max_lag=max_lag, group_by=group_by, measures=measures, top=top
        )

    def max_lag(self, value: Any, path: KeyPath) -> float | None:
        """
        A lag bound in seconds; ``math.inf`` for ``off``.

        ``None`` when *value* is neither a duration of at least
        :data:`MIN_LAG` nor ``off`` (told).
        """
        if is_off(value):
            return math.inf
        seconds = self.duration(value, path)
        if seconds is None:
            return None
        if seconds < MIN_LAG:
            self.problem(
                path,
                f"must be at least {MIN_LAG:g}s, or off (Discord sends "
                "about one message every 2 seconds per channel: a shorter "
                "bound would fold a channel's messages as soon as two "
                "wait)",
            )
            return None
        return seconds
