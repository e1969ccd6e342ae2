"""
A fold's summary: what one route's folded messages add up to. Pure.

When a channel falls behind, its oldest foldable messages are replaced
by one summary per route (see :mod:`.freshness`). A :class:`Summary`
gathers them as a digest gathers a period's events, with the same
groups and measures (``_watching.measures.Groups``): by the route's
``fold: {group_by, measures}``, or, without them, a count per event
name. It is shown as one embed: how many events, logged when, and a
field per group, the largest first. Event values in it (group names,
``first``/``last`` values) are escaped as every value a template shows,
and a summary never pings anyone.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from polybot_loghandler._colors import COLORS
from polybot_loghandler._events import LogEvent
from polybot_loghandler._format import duration, number
from polybot_loghandler._labels import humanize
from polybot_loghandler._limits import (
    MAX_EMBED_TOTAL,
    MAX_FIELDS,
    MAX_FOOTER_TEXT,
    MAX_TITLE,
    clamp,
)
from polybot_loghandler._message import RoutedMessage
from polybot_loghandler._model import Coalesce, Fold
from polybot_loghandler._payload import IDENTITY, build_payload, fit_total
from polybot_loghandler._render import label
from polybot_loghandler._text import safe_markdown
from polybot_loghandler._watching.measures import (
    OTHERS,
    Groups,
    Measure,
)
from polybot_loghandler._watching.render import group_field, top_groups

__all__ = ["EVENT", "LOGGER", "Summary"]

#: The name of the event a summary is shown as.
EVENT = "folded"
#: The logger a summary's event carries.
LOGGER = "polybot_loghandler.folding"
#: Groups a summary keeps apart; past them, ``(others)``.
GROUP_LIMIT = 100
#: Without ``fold: {measures}``, each event name is counted.
_COUNT = {"events": Measure("count")}
#: Without ``fold: {group_by}``, events are grouped by their name.
_NAME = "event"
#: A summary never merges with another, and is never folded itself.
_NEVER = Fold(never=True)


class Summary:
    """
    What one route's folded messages add up to, until it is sent.

    Args:
        route: The route whose messages it stands for.
        level: The level of those messages.
        fold: The route's ``fold:`` (``None``: the defaults).
    """

    def __init__(self, route: str, level: int, fold: Fold | None) -> None:
        self.route = route
        self.level = level
        spec = fold or Fold()
        self._by_name = spec.group_by is None and not spec.measures
        self._top = spec.top
        measures = dict(spec.measures) or _COUNT
        group_by = _NAME if self._by_name else spec.group_by
        self._groups = Groups(measures, group_by, GROUP_LIMIT)
        #: the events it stands for
        self.events = 0
        #: when the first and the newest of them were logged (epoch)
        self.first = math.inf
        self.last = -math.inf

    def add(
        self,
        event: LogEvent,
        *,
        count: int = 1,
        first: float | None = None,
        last: float | None = None,
    ) -> None:
        """
        Fold in a message standing for *count* events like *event*.

        A coalesced message is the newest of *count* copies: each copy
        counts with its fields. *first* and *last* are when the first
        and the newest of them were logged (default: *event*'s time).
        """
        fields: Mapping[str, Any] = (
            {_NAME: event.event} if self._by_name else event.fields
        )
        for _ in range(count):
            self._groups.add(fields)
        self.events += count
        self.first = min(self.first, event.time if first is None else first)
        self.last = max(self.last, event.time if last is None else last)

    def message(self, like: RoutedMessage, lag: float) -> RoutedMessage:
        """
        The summary as a message to *like*'s channel.

        *lag* is the bound the channel fell behind, for its reader.
        """
        embed = self.embed(lag)
        target = like.target
        author = like.embed.get("author") or {}
        if target is not None and author.get("name") == f"#{target.name}":
            label(embed, target)  # its channel shares a webhook: say which
        event = LogEvent(
            event=EVENT,
            level=self.level,
            logger=LOGGER,
            time=self.last,
            fields={},
            message=EVENT,
        )
        # it goes where they went (their thread), as who they were
        payload = build_payload([embed], None)
        payload.update(
            (k, like.payload[k]) for k in IDENTITY if k in like.payload
        )
        place = like.place
        if place is not None and place.board is not None:  # never: boards
            place = dataclasses.replace(place, board=None)  # do not fold
        return RoutedMessage(
            channel=like.channel,
            route=self.route,
            payload=payload,
            embed=embed,
            event=event,
            target=like.target,
            coalesce=Coalesce(enabled=False),
            fold=_NEVER,
            folded=self.events,
            place=place if place is None or place.lane() else None,
        )

    def embed(self, lag: float) -> dict[str, Any]:
        """The summary's one embed."""
        groups, total = self._groups.results()
        names = list(self._groups.measures)
        rows = [{"key": key, **values} for key, values in groups]
        top = min(self._top, MAX_FIELDS - 2)  # then others, and Total
        if len(rows) > top:
            rows = top_groups(rows, names, top)
        else:
            rows.sort(key=lambda row: _size(row, names[0]), reverse=True)
        fields = [group_field(self._name_of(r["key"]), r, names) for r in rows]
        if len(groups) > 1:
            fields.append(group_field("Total", total, names))
        embed: dict[str, Any] = {
            "title": clamp(
                f"⏩ {number(self.events)} "
                f"{'event' if self.events == 1 else 'events'} folded",
                MAX_TITLE,
            ),
            "description": (
                f"**{safe_markdown(humanize(self.route))}**, logged "
                f"{_span(self.first, self.last)}. The channel was more "
                f"than {duration(lag)} behind what Discord lets it carry, "
                "so these are summed up here instead of sent one by one."
            ),
            "color": COLORS["debug" if self.level < logging.INFO else "info"],
            "fields": fields,
            "footer": {
                "text": clamp(
                    f"folded: {self.events} · route {self.route}",
                    MAX_FOOTER_TEXT,
                )
            },
            "timestamp": _stamp(self.last),
        }
        fit_total(embed, MAX_EMBED_TOTAL)
        return embed

    def _name_of(self, key: str) -> str:
        if key.startswith(f"{OTHERS}:") or key == OTHERS:
            return key
        if self._groups.group_by is None:
            return "All"
        if not key:
            return f"(no {self._groups.group_by})"
        return safe_markdown(humanize(key) if self._by_name else key)


def _size(row: Mapping[str, Any], first: str) -> float:
    value = row.get(first)
    return float(value) if isinstance(value, (int, float)) else 0.0


def _utc(when: float) -> datetime:
    return datetime.fromtimestamp(when, timezone.utc)


def _span(first: float, last: float) -> str:
    """``12:00:01–12:00:21 UTC``, with the date when they differ."""
    start, end = _utc(first), _utc(last)
    if start.date() != end.date():
        return f"{start:%Y-%m-%d %H:%M:%S}–{end:%Y-%m-%d %H:%M:%S} UTC"
    if start.replace(microsecond=0) == end.replace(microsecond=0):
        return f"at {end:%H:%M:%S} UTC"
    return f"{start:%H:%M:%S}–{end:%H:%M:%S} UTC"


def _stamp(when: float) -> str:
    return _utc(when).isoformat(timespec="milliseconds")[:-6] + "Z"
