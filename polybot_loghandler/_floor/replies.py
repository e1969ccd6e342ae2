"""
A command's reply: its embed, rendered over the floor's state. Pure.

A reply is rendered as a route's embed is, with the same templates,
filters, limits and mention safety, from an event made for it
(``ask_<name>``) whose fields are what the templates see:

- ``tables``: each table's rows, by key order; a row is its values plus
  ``key``, and ``created`` and ``updated`` as UTC datetimes;
- ``totals``: each total's sums for the current period of each kind
  (``totals.pnl.day.realised`` is today's, in the state's time zone),
  an empty mapping for a period with none yet;
- ``now``: the time asked, a UTC datetime, and ``now_ts`` in epoch
  seconds (``now_ts - row.last_seen > 180`` reads as it says);
- ``watches``: each watch's ``alert_after`` in seconds, by name, so a
  reply can tell a silent agent as the watch does.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any

from polybot_loghandler._events import LogEvent
from polybot_loghandler._matching import Matcher
from polybot_loghandler._model import Coalesce, Command, Config, Fold, Route
from polybot_loghandler._render import render_embed

from .model import period_label
from .state import FloorState

__all__ = ["LOGGER", "reply_context", "reply_embed", "reply_event"]

#: The logger the made events carry.
LOGGER = "polybot_loghandler.commands"


def reply_context(
    config: Config, state: FloorState, now: float
) -> dict[str, Any]:
    """What a reply's templates see, for *state* at *now*."""
    tables = {
        name: [_shown_row(rows[key]) for key in sorted(rows)]
        for name, rows in state.tables.items()
    }
    zone = state.spec.zone
    totals: dict[str, dict[str, dict[str, float]]] = {}
    for name, periods in state.totals.items():
        totals[name] = {
            period: dict(labels.get(period_label(period, now, zone), {}))
            for period, labels in periods.items()
        }
    return {
        "tables": tables,
        "totals": totals,
        "now": _utc(now),
        "now_ts": now,
        "watches": {
            watch.name: {"alert_after": watch.alert_after}
            for watch in config.watches
        },
    }


def reply_event(
    command: Command, context: dict[str, Any], now: float
) -> LogEvent:
    """The event a reply is rendered from: its fields are *context*."""
    return LogEvent(
        event=f"ask_{command.name}",
        level=logging.INFO,
        logger=LOGGER,
        time=now,
        fields=context,
        message=f"/{command.name}",
    )


def reply_embed(
    config: Config, command: Command, state: FloorState, now: float
) -> dict[str, Any]:
    """
    *command*'s reply for *state* at *now*: an embed within every limit.

    A template part that fails is shown as the routes show one (its
    error in place), never raised.
    """
    ev = reply_event(command, reply_context(config, state, now), now)
    route = Route(
        name=command.name,
        index=0,
        line=command.line,
        matcher=Matcher(),
        to=(),
        coalesce=Coalesce(enabled=False),
        embed=command.reply,
        fold=Fold(never=True),
    )
    return render_embed(ev, ev.context(), route, None, lambda *_: None)


def _shown_row(row: dict[str, Any]) -> dict[str, Any]:
    shown = {k: v for k, v in row.items() if not k.startswith("_")}
    shown["key"] = row.get("_key", "")
    for name in ("created", "updated"):
        stamp = row.get(f"_{name}")
        shown[name] = _utc(stamp) if isinstance(stamp, (int, float)) else None
    return shown


def _utc(when: float) -> datetime:
    return datetime.fromtimestamp(when, timezone.utc)
