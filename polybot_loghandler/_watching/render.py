"""
What a watch's or digest's output looks like: its event, route and embeds.

An :class:`~.watching.Output` is shown as if it were a log event routed
by a route of its own: :func:`made_event` gives the event (its fields
are what the templates see), :func:`made_route` the route (the rule's
``to:``, ``mention:`` and ``embed:``, or the default embed), so the
rendering, the limits, the escaping of values and the ``allowed_mentions``
are the routes' own. A digest without an ``embed:`` is shown by
:func:`digest_embeds`: a field per group, in as many embeds as it takes.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

from polybot_loghandler._colors import COLORS
from polybot_loghandler._events import LogEvent
from polybot_loghandler._format import number
from polybot_loghandler._labels import humanize
from polybot_loghandler._limits import (
    MAX_EMBED_TOTAL,
    MAX_FIELD_NAME,
    MAX_FIELD_VALUE,
    MAX_FIELDS,
    MAX_TITLE,
    clamp,
)
from polybot_loghandler._model import (
    Coalesce,
    DigestRule,
    EmbedTemplate,
    FieldTemplate,
    Fold,
    Route,
    WatchRule,
)
from polybot_loghandler._templates import compile_text
from polybot_loghandler._text import safe_markdown

from .measures import OTHERS
from .periods import DAY, WEEK
from .watching import ALERT, DIGEST, RECOVERY, Output

__all__ = [
    "ALERT_EMBED",
    "LOGGER",
    "RECOVERY_EMBED",
    "digest_embeds",
    "group_field",
    "made_event",
    "made_route",
    "top_groups",
]

#: The logger the made events carry (routes never see them).
LOGGER = "polybot_loghandler.watching"
#: The made events' names, by output kind.
EVENTS = {ALERT: "watch_alert", RECOVERY: "watch_recovery", DIGEST: "digest"}
_LEVELS = {ALERT: logging.CRITICAL, RECOVERY: logging.INFO}


def _embed(
    title: str, description: str, color: str, fields: list[tuple[str, str]]
) -> EmbedTemplate:
    return EmbedTemplate(
        title=compile_text(title),
        description=compile_text(description),
        color=COLORS[color],
        fields=tuple(
            FieldTemplate(
                name=compile_text(n), value=compile_text(v), inline=False
            )
            for n, v in fields
        ),
    )


#: A watch's alert, when it has no ``embed:``.
ALERT_EMBED = _embed(
    "🚨 {{ key }} has gone silent",
    "No **{{ watch|humanize }}** event for {{ silent_for|duration }}; "
    "an alert comes after {{ alert_after|duration }}.",
    "critical",
    [
        (
            "Last seen",
            (
                "{{ last_seen|datetime if last_seen else 'never, since the "
                "watch began' }}"
            ),
        ),
        ("Last event", "{{ last|pairs(sep='\n', join=': ') }}"),
    ],
)
#: A watch's recovery, when it has no ``recovery: {embed: ...}``.
RECOVERY_EMBED = _embed(
    "✅ {{ key }} is back",
    "**{{ watch|humanize }}** heard from again after "
    "{{ silent_for|duration }} of silence.",
    "green",
    [],
)


def made_event(output: Output) -> LogEvent:
    """The event an output is shown as; its fields are the templates'."""
    values = dict(output.values)
    if output.kind == DIGEST:
        period = values["period"]
        start, end = period["start"], period["end"]
        values["period"] = {
            "start": _utc(start),
            "end": _utc(end),
            "label": period_label(start, end, values.get("timezone", "UTC")),
        }
    elif values.get("last_seen") is not None:
        values["last_seen"] = _utc(values["last_seen"])
    return LogEvent(
        event=EVENTS[output.kind],
        level=_LEVELS.get(output.kind, logging.INFO),
        logger=LOGGER,
        time=output.time,
        fields=values,
        message=EVENTS[output.kind],
    )


def made_route(rule: WatchRule | DigestRule, kind: str) -> Route:
    """The route an output of *rule* is rendered and sent by."""
    embed: EmbedTemplate | None
    if isinstance(rule, WatchRule):
        if kind == RECOVERY:
            embed, mention = rule.recovery_embed or RECOVERY_EMBED, None
        else:
            embed, mention = rule.embed or ALERT_EMBED, rule.mention
    else:
        embed, mention = rule.embed, rule.mention
    return Route(
        name=rule.name,
        index=rule.index,
        line=rule.line,
        matcher=rule.matcher,
        to=rule.to,
        mention=mention,
        coalesce=Coalesce(enabled=False),
        embed=embed,
        # watch alerts, recoveries and digests are never folded: each is
        # one message already, and a digest is a summary itself
        fold=Fold(never=True),
    )


def _utc(when: float) -> datetime:
    return datetime.fromtimestamp(when, timezone.utc)


def period_label(start: float, end: float, zone_name: str) -> str:
    """
    A period as a reader names it, in the digest's zone.

    ``2026-12-06 14:00–15:00 UTC``; a whole day ``2026-12-06 (UTC)``; a
    week ``week of 2026-11-30 (UTC)``.
    """
    zone = timezone.utc if zone_name.upper() == "UTC" else ZoneInfo(zone_name)
    first = datetime.fromtimestamp(start, zone)
    last = datetime.fromtimestamp(end, zone)
    length = end - start
    if length >= WEEK - 2 * 3600:  # a week (a clock change moves it)
        return f"week of {first:%Y-%m-%d} ({zone_name})"
    if length >= DAY - 2 * 3600 and first.hour == 0 and first.minute == 0:
        return f"{first:%Y-%m-%d} ({zone_name})"
    seconds = ":%S" if (start % 60 or end % 60) else ""
    return (
        f"{first:%Y-%m-%d %H:%M}{seconds and first.strftime(seconds)}–"
        f"{last:%H:%M}{seconds and last.strftime(seconds)} {zone_name}"
    )


# -- a digest's default embeds ---------------------------------------------


def digest_embeds(rule: DigestRule, event: LogEvent) -> list[dict[str, Any]]:
    """
    A digest without an ``embed:``: a field per group, a total, a footer.

    Groups past 24 (and what does not fit 6,000 characters) go on in
    further embeds, titled "(continued)"; past ``top``, the smallest
    groups are folded into one line. Group keys are event values: they
    are escaped like every value a template shows.
    """
    values = event.fields
    groups: list[dict[str, Any]] = list(values["groups"])
    names = [name for name, _ in rule.measures]
    if rule.top is not None and len(groups) > rule.top:
        groups = top_groups(groups, names, rule.top)
    fields = [
        group_field(_group_name(g["key"], rule), g, names) for g in groups
    ]
    if len(groups) > 1 or not groups:
        fields.append(group_field("Total", values["total"], names))
    title = f"📊 {humanize(rule.name)}"
    if values.get("partial"):
        title += " (partial)"
    description = values["period"]["label"]
    footer = f"{number(values['events'])} events"
    if values.get("crowded"):
        footer += (
            f" · {number(values['crowded'])} in {OTHERS} "
            f"(past {rule.max_groups} groups)"
        )
    if values.get("partial"):
        footer += " · the period had not ended"
    return _paged(clamp(title, MAX_TITLE), description, fields, footer, event)


def top_groups(
    groups: list[dict[str, Any]], names: list[str], top: int
) -> list[dict[str, Any]]:
    """The *top* groups by the first measure; the rest in one line."""
    first = names[0]

    def size(group: dict[str, Any]) -> float:
        value = group.get(first)
        return float(value) if isinstance(value, (int, float)) else 0.0

    ranked = sorted(groups, key=size, reverse=True)
    rest = len(ranked) - top
    shown = ranked[:top]
    shown.append({"key": f"{OTHERS}: {rest} more"})
    return shown


def _group_name(key: str, rule: DigestRule) -> str:
    if rule.group_by is None:
        return "All"
    return safe_markdown(key) if key else f"(no {rule.group_by})"


def group_field(
    name: str, measures: dict[str, Any], names: list[str]
) -> dict[str, Any]:
    """One group's measures as an inline field, a line per measure."""
    lines = [
        f"{humanize(n)}: **{_shown(measures[n])}**"
        for n in names
        if n in measures
    ]
    return {
        "name": clamp(name, MAX_FIELD_NAME) or "\u200b",
        "value": clamp("\n".join(lines) or "—", MAX_FIELD_VALUE),
        "inline": True,
    }


def _shown(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float) and not value.is_integer():  # inf and NaN
        return number(value, 2)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return number(value)
    return safe_markdown(str(value))


def _paged(
    title: str,
    description: str,
    fields: list[dict[str, Any]],
    footer: str,
    event: LogEvent,
) -> list[dict[str, Any]]:
    stamp = event.datetime.isoformat(timespec="milliseconds")[:-6] + "Z"
    pages: list[dict[str, Any]] = []
    page: dict[str, Any] = {}
    size = 0
    for item in fields:
        length = len(item["name"]) + len(item["value"])
        full = len(page.get("fields", ())) >= MAX_FIELDS
        if not page or full or size + length > MAX_EMBED_TOTAL - 600:
            page = {
                "title": title
                if not pages
                else clamp(f"{title} (continued)", MAX_TITLE),
                "color": COLORS["info"],
                "fields": [],
            }
            if not pages:
                page["description"] = description
            pages.append(page)
            size = len(page["title"]) + len(description)
        page["fields"].append(item)
        size += length
    if not pages:
        pages.append(
            {
                "title": title,
                "description": description,
                "color": COLORS["info"],
            }
        )
    pages[-1]["footer"] = {"text": footer}
    pages[-1]["timestamp"] = stamp
    return pages
