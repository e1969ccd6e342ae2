"""
Embeds and message bodies held to Discord's limits, after rendering.

Rendering fits each embed as it builds it; the later stages change an
embed once more (a ``×N`` footer, a ``delayed 12m`` mark, ten embeds in
one message) and fit it again here, without going back to rendering.
Pure: no I/O, no clock.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timezone
from types import MappingProxyType
from typing import Any

from ._format import duration
from ._limits import (
    MAX_AUTHOR_NAME,
    MAX_CONTENT,
    MAX_DESCRIPTION,
    MAX_EMBED_TOTAL,
    MAX_FIELD_NAME,
    MAX_FIELD_VALUE,
    MAX_FIELDS,
    MAX_FOOTER_TEXT,
    MAX_TITLE,
    clamp,
)
from ._model import Mention

__all__ = [
    "DELAY_NOTE_AFTER",
    "ZWSP",
    "batch_payload",
    "build_payload",
    "clamp_embed",
    "clamp_fields",
    "embed_length",
    "fit_total",
    "with_delay",
]

#: What stands for an empty field name (Discord refuses an empty one).
ZWSP = "\u200b"
#: A message sent this many seconds after it was logged says so.
DELAY_NOTE_AFTER = 120.0

_NONE: Mapping[str, Any] = MappingProxyType({})


def embed_length(embed: Mapping[str, Any]) -> int:
    """The characters of *embed* that count toward the 6,000 total."""
    total = len(embed.get("title", "")) + len(embed.get("description", ""))
    for item in embed.get("fields", ()):
        total += len(item["name"]) + len(item["value"])
    total += len(embed.get("footer", _NONE).get("text", ""))
    total += len(embed.get("author", _NONE).get("name", ""))
    return total


def clamp_embed(embed: dict[str, Any]) -> dict[str, Any]:
    """
    Hold *embed* to every per-embed limit and to the 6,000 total.

    Over-long text ends with ``…``; beyond 25 fields the last one says how
    many were left out. When the total is too large the description is
    shortened first, then the longest field values.
    """
    for part, limit in (
        ("title", MAX_TITLE),
        ("description", MAX_DESCRIPTION),
    ):
        if part in embed:
            embed[part] = clamp(embed[part], limit)
            if not embed[part]:
                del embed[part]
    if "footer" in embed:
        embed["footer"]["text"] = clamp(
            embed["footer"]["text"], MAX_FOOTER_TEXT
        )
    if "author" in embed:
        embed["author"]["name"] = clamp(
            embed["author"]["name"], MAX_AUTHOR_NAME
        )
    if "fields" in embed:
        embed["fields"] = clamp_fields(embed["fields"])
        if not embed["fields"]:
            del embed["fields"]
    fit_total(embed, MAX_EMBED_TOTAL)
    return embed


_MORE_FIELDS = re.compile(r"^(\d+) more fields? not shown$")


def _more_fields(hidden: int) -> dict[str, Any]:
    noun = "field" if hidden == 1 else "fields"
    return {
        "name": "…",
        "value": f"{hidden} more {noun} not shown",
        "inline": False,
    }


def _hidden_by(item: dict[str, Any]) -> int:
    """How many fields *item* stands for: a marker's count, else one."""
    found = _MORE_FIELDS.match(item["value"]) if item["name"] == "…" else None
    return int(found.group(1)) if found else 1


def clamp_fields(fields: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if len(fields) > MAX_FIELDS:
        hidden = len(fields) - (MAX_FIELDS - 1)
        fields = [*fields[: MAX_FIELDS - 1], _more_fields(hidden)]
    kept = []
    for item in fields:
        # clamp(), with the call left out when the text fits
        value = item["value"].strip()
        if len(value) > MAX_FIELD_VALUE:
            value = clamp(value, MAX_FIELD_VALUE)
        if value:
            name = item["name"].strip()
            if len(name) > MAX_FIELD_NAME:
                name = clamp(name, MAX_FIELD_NAME)
            name = name or ZWSP
            if value != item["value"] or name != item["name"]:
                item = {**item, "name": name, "value": value}  # noqa: PLW2901
            kept.append(item)
    return kept


def fit_total(embed: dict[str, Any], limit: int) -> None:
    """
    Bring the embed's characters under *limit*, cutting visibly.

    The description gives way first; then the field values share what is
    left, the longest cut first, so every field keeps its name and the
    start of its value; only if the names alone do not fit are the last
    fields left out, counted in a closing "N more fields" field.
    """
    excess = embed_length(embed) - limit
    if excess <= 0:
        return
    description = embed.get("description", "")
    if description:
        if len(description) > excess:
            embed["description"] = clamp(
                description, len(description) - excess
            )
        else:
            del embed["description"]
        excess = embed_length(embed) - limit
    fields: list[dict[str, Any]] = embed.get("fields", [])
    if excess > 0 and fields:
        _share_values(fields, excess)
        excess = embed_length(embed) - limit
    if excess > 0 and fields:
        _drop_fields(embed, fields, limit)
    if not fields:
        embed.pop("fields", None)
    # title, footer and author together stay under 6,000 by their own
    # limits, so nothing else can be left over here


def _share_values(fields: list[dict[str, Any]], excess: int) -> None:
    """Cut the longest field values until *excess* characters are gone."""
    values = [f for f in fields if not _MORE_FIELDS.match(f["value"])]
    if not values:
        return
    sizes = [len(f["value"]) for f in values]
    cap = max(_level(sizes, sum(sizes) - excess), 1)
    for item in values:
        if len(item["value"]) > cap:
            item["value"] = clamp(item["value"], cap)


def _drop_fields(
    embed: dict[str, Any], fields: list[dict[str, Any]], limit: int
) -> None:
    """Leave out the last fields until the rest fit, and say how many."""
    hidden = 0
    while fields and embed_length(embed) > limit:
        hidden += _hidden_by(fields.pop())
    marker = _more_fields(hidden)
    while fields and embed_length(embed) + _length(marker) > limit:
        hidden += _hidden_by(fields.pop())
        marker = _more_fields(hidden)
    fields.append(marker)


def _length(field: dict[str, Any]) -> int:
    return len(field["name"]) + len(field["value"])


def _level(sizes: list[int], budget: int) -> int:
    """The largest cap with ``sum(min(size, cap)) <= budget``."""
    low, high = 0, max(sizes)
    while low < high:
        mid = (low + high + 1) // 2
        if sum(min(size, mid) for size in sizes) <= budget:
            low = mid
        else:
            high = mid - 1
    return low


def build_payload(
    embeds: list[dict[str, Any]], mention: Mention | None
) -> dict[str, Any]:
    """
    Build the JSON body of one message.

    The embeds, the route's ping in ``content`` if it has one, and
    ``allowed_mentions`` always explicit: ``{"parse": []}`` unless the
    route pings, and then exactly the permission that ping needs.
    """
    payload: dict[str, Any] = {}
    if mention is not None:
        payload["content"] = clamp(mention.content, MAX_CONTENT)
        payload["allowed_mentions"] = mention.allowed_mentions
    else:
        payload["allowed_mentions"] = {"parse": []}
    _fit_message(embeds)
    payload["embeds"] = embeds
    return payload


def batch_payload(
    first: dict[str, Any], embeds: list[dict[str, Any]]
) -> dict[str, Any]:
    """
    The body of a message carrying several embeds.

    They share one ping, so ``content`` and ``allowed_mentions`` come from
    the *first* message's payload; the embeds share the 6,000 total.
    """
    payload: dict[str, Any] = {
        k: first[k] for k in ("content", "allowed_mentions") if k in first
    }
    payload.setdefault("allowed_mentions", {"parse": []})
    _fit_message(embeds)
    payload["embeds"] = embeds
    return payload


def _fit_message(embeds: list[dict[str, Any]]) -> None:
    """
    Hold several embeds to the 6,000 characters they share.

    The largest is cut first; one clamped embed always fits already.
    """
    if len(embeds) == 1 and embed_length(embeds[0]) <= MAX_EMBED_TOTAL:
        return  # the usual message: one embed that fits
    for _ in range(len(embeds) * 2):  # each pass shrinks one embed
        excess = sum(embed_length(e) for e in embeds) - MAX_EMBED_TOTAL
        if excess <= 0:
            return
        largest = max(embeds, key=embed_length)
        fit_total(largest, max(embed_length(largest) - excess, 0))


def with_delay(
    embed: dict[str, Any], logged: float, now: float
) -> dict[str, Any]:
    """
    *embed* as sent late: ``delayed 12m`` in its footer.

    Its timestamp is the time the event was logged (unless the route
    chose one), so the message sits where it belongs in time.
    """
    late = now - logged
    if late < DELAY_NOTE_AFTER:
        return embed
    out = {**embed, "footer": dict(embed.get("footer", {}))}
    note = f"delayed {duration(late)}"
    old = out["footer"].get("text")
    out["footer"]["text"] = clamp(
        f"{old} · {note}" if old else note, MAX_FOOTER_TEXT
    )
    out.setdefault(
        "timestamp",
        datetime.fromtimestamp(logged, tz=timezone.utc).isoformat(),
    )
    if "fields" in out:  # copies: fitting may cut their values
        out["fields"] = [dict(f) for f in out["fields"]]
    fit_total(out, MAX_EMBED_TOTAL)
    return out
