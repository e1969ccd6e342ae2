"""
LogEvent + route → a Discord embed and message body, within every limit.

Pure: no I/O, no clock (the event carries its time). Rendering never
raises: a template that fails shows a short marker in its place and is
reported through a callback, so one bad template costs one field, not
the message.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from types import MappingProxyType
from typing import Any

from ._autofields import auto_fields
from ._config import COLORS, parse_color
from ._events import LogEvent
from ._format import fence_safe, parse_time
from ._labels import humanize
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
    MAX_URL,
    clamp,
    clamp_tail,
)
from ._model import Channel, EmbedTemplate, Mention, Route
from ._templates import Scope, Text
from ._text import (
    encodable,
    is_http_url,
    neutralize_mentions,
    redact_text,
    safe_markdown,
)

__all__ = [
    "RenderError",
    "batch_payload",
    "build_payload",
    "clamp_embed",
    "copy_embed",
    "default_footer",
    "embed_length",
    "fit_total",
    "label",
    "render_embed",
]

#: Called with (part, exception) when a template fails while rendering.
RenderError = Callable[[str, Exception], None]

_EXCEPTION_SHARE = 1800  # description characters a traceback may take
_ZWSP = "\u200b"
#: What a structured event's name looks like (a plain log line does not).
_EVENT_NAME = re.compile(r"[A-Za-z0-9_.:-]+")


def render_embed(  # noqa: PLR0913 - the event, its route, its channel
    ev: LogEvent,
    context: Mapping[str, Any],
    route: Route,
    channel: Channel | None,
    on_error: RenderError,
    *,
    label_channel: bool = False,
) -> dict[str, Any]:
    """
    Render *route*'s embed for *ev*, clamped to Discord's limits.

    Args:
        ev: The event.
        context: ``ev.context()``, computed once per event.
        route: The route that took the event.
        channel: The channel it goes to (for the label), if known.
        on_error: Told about each template that failed.
        label_channel: Name the channel in the author line, for when
            several channels share one webhook.
    """
    template = route.embed
    if template is None:
        embed = clamp_embed(_default_embed(ev, context))
    else:  # clamped as it is built: the texts are stripped already
        embed = _templated_embed(ev, Scope(context), template, on_error)
    if label_channel and channel is not None:
        label(embed, channel)
        fit_total(embed, MAX_EMBED_TOTAL)
    return embed


def label(embed: dict[str, Any], channel: Channel) -> None:
    """
    Name *channel* in *embed*'s author line, unless it has an author.

    For channels that share one webhook: the reader sees which channel a
    message was meant for. The label may take the embed over the 6,000
    total; :func:`build_payload` brings it back under.
    """
    if "author" not in embed:
        name = encodable(f"#{channel.name}")
        embed["author"] = {"name": clamp(name, MAX_AUTHOR_NAME)}


def copy_embed(embed: dict[str, Any]) -> dict[str, Any]:
    """A copy of *embed* that shares no mutable part with it."""
    out = dict(embed)
    if "fields" in out:
        out["fields"] = [dict(item) for item in out["fields"]]
    for key in ("footer", "author"):
        if key in out:
            out[key] = dict(out[key])
    return out


def _text(
    text: Text | None,
    scope: Scope,
    part: str,
    on_error: RenderError,
) -> str:
    if text is None:
        return ""
    if text.constant is not None:
        return text.constant
    try:
        return text.shown_in(scope)
    except Exception as exc:
        return _failed(part, exc, on_error)


def _failed(part: str, exc: Exception, on_error: RenderError) -> str:
    """Report a template that failed; the marker shown in its place."""
    on_error(part, exc)
    return f"⚠ template error in {part}"


def _templated_embed(
    ev: LogEvent,
    scope: Scope,
    tpl: EmbedTemplate,
    on_error: RenderError,
) -> dict[str, Any]:
    """
    The embed of *tpl* for one event, within every limit.

    Each text is held to its own limit as it is rendered (the texts come
    stripped, so :func:`clamp_embed` would find nothing else to do), and
    the whole to the 6,000 total at the end.
    """
    embed: dict[str, Any] = {}
    title = _text(tpl.title, scope, "embed.title", on_error)
    if title:
        embed["title"] = clamp(title, MAX_TITLE)
    description = _text(tpl.description, scope, "embed.description", on_error)
    if description:
        embed["description"] = clamp(description, MAX_DESCRIPTION)
    if tpl.url is not None:
        _url(embed, _text(tpl.url, scope, "embed.url", on_error), on_error)
    color = _color(tpl.color, scope, on_error)
    if color is not None:
        embed["color"] = color
    fields = _fields(ev, scope, tpl, on_error)
    if fields:
        embed["fields"] = fields
    if tpl.footer is not None or tpl.author is not None:
        embed.update(_footer_and_author(scope, tpl, on_error))
    stamp = _timestamp(ev, tpl.timestamp, scope, on_error)
    if stamp:
        embed["timestamp"] = stamp
    if "title" not in embed and "description" not in embed and not fields:
        # an embed needs something to show; fall back to the event name
        fallback = clamp(_safe(ev.event), MAX_TITLE)
        if fallback:
            embed["title"] = fallback
    fit_total(embed, MAX_EMBED_TOTAL)
    return embed


def _url(embed: dict[str, Any], url: str, on_error: RenderError) -> None:
    if redact_text(url) != url:
        on_error(
            "embed.url", ValueError("a webhook URL or token is not shown")
        )
    elif is_http_url(url) and len(url) <= MAX_URL:
        embed["url"] = url
    elif url:
        on_error("embed.url", ValueError(f"not an http(s) URL: {url[:80]!r}"))


def _fields(
    ev: LogEvent,
    scope: Scope,
    tpl: EmbedTemplate,
    on_error: RenderError,
) -> list[dict[str, Any]]:
    """The embed's fields, each within its limits, at most 25."""
    if tpl.fields is None:
        return _clamp_fields(auto_fields(ev, tpl.auto_exclude))
    fields = []
    for n, spec in enumerate(tpl.fields):
        try:
            value = spec.value.shown_in(scope)
        except Exception as exc:
            value = _failed(f"embed.fields[{n}].value", exc, on_error)
        if not value:
            continue  # a field whose value renders empty is left out
        if len(value) > MAX_FIELD_VALUE:
            value = clamp(value, MAX_FIELD_VALUE)
        name = spec.name.constant
        if name is None:
            try:
                name = spec.name.shown_in(scope)
            except Exception as exc:
                name = _failed(f"embed.fields[{n}].name", exc, on_error)
        if len(name) > MAX_FIELD_NAME:
            name = clamp(name, MAX_FIELD_NAME)
        fields.append(
            {"name": name or _ZWSP, "value": value, "inline": spec.inline}
        )
    if len(fields) > MAX_FIELDS:
        return _clamp_fields(fields)  # the last one counts the rest
    return fields


def _footer_and_author(
    scope: Scope, tpl: EmbedTemplate, on_error: RenderError
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    footer = _text(tpl.footer, scope, "embed.footer", on_error)
    if footer:
        out["footer"] = {"text": clamp(footer, MAX_FOOTER_TEXT)}
        if tpl.footer_icon_url:
            out["footer"]["icon_url"] = tpl.footer_icon_url
    author = _text(tpl.author, scope, "embed.author", on_error)
    if author:
        out["author"] = {"name": clamp(author, MAX_AUTHOR_NAME)}
        if tpl.author_url:
            out["author"]["url"] = tpl.author_url
        if tpl.author_icon_url:
            out["author"]["icon_url"] = tpl.author_icon_url
    return out


def _color(
    spec: int | Text | None,
    scope: Scope,
    on_error: RenderError,
) -> int | None:
    if spec is None or isinstance(spec, int):
        return spec
    rendered = _text(spec, scope, "embed.color", on_error)
    if not rendered:
        return None
    found = parse_color(rendered)
    if found is None:
        on_error("embed.color", ValueError(f"not a colour: {rendered!r}"))
    return found


def _timestamp(
    ev: LogEvent,
    spec: bool | Text,
    scope: Scope,
    on_error: RenderError,
) -> str | None:
    if isinstance(spec, bool):
        return _event_stamp(ev.time) if spec else None
    rendered = _text(spec, scope, "embed.timestamp", on_error)
    when = parse_time(rendered) if rendered else None
    if rendered and when is None:
        on_error(
            "embed.timestamp",
            ValueError(f"not a time: {rendered[:80]!r}"),
        )
    return None if when is None else _iso_stamp(when)


#: The whole second _event_stamp showed last, and its text up to the
#: milliseconds: events logged together share it (set as one tuple, so
#: threads see a consistent pair).
_LAST_SECOND: tuple[int, str] = (-1, "")


def _event_stamp(time: float) -> str:
    """An event's time (epoch seconds) as Discord's ISO 8601 timestamp."""
    global _LAST_SECOND  # noqa: PLW0603 - a one-entry cache
    if not 0 <= time < _MAX_EPOCH:  # NaN too: let datetime say what it can
        return _iso_stamp(datetime.fromtimestamp(time, tz=timezone.utc))
    # the microseconds as datetime.fromtimestamp rounds them (half to even)
    second = int(time)
    micro = round((time - second) * 1e6)
    if micro >= 1_000_000:
        second, micro = second + 1, micro - 1_000_000
    last = _LAST_SECOND
    if last[0] != second:
        whole = datetime.fromtimestamp(second, timezone.utc)
        last = _LAST_SECOND = (second, _iso_stamp(whole)[:-4])
    return f"{last[1]}{micro // 1000:03d}Z"


#: Times from here on (year 10000) are left to datetime, which refuses them.
_MAX_EPOCH = 253402300800


def _iso_stamp(when: datetime) -> str:
    s = when if when.tzinfo is timezone.utc else when.astimezone(timezone.utc)
    if s.year < 1000:  # strftime does not pad such years: keep its text
        return (
            s.strftime("%Y-%m-%dT%H:%M:%S.") + f"{s.microsecond // 1000:03d}Z"
        )
    # the same text as strftime gives, without its cost: isoformat cuts
    # to whole milliseconds as // does, and ends in +00:00 for UTC
    return s.isoformat(timespec="milliseconds")[:-6] + "Z"


# -- the default embed ------------------------------------------------------


def _default_embed(ev: LogEvent, context: Mapping[str, Any]) -> dict[str, Any]:
    del context  # the default embed reads the event directly
    # a structured event is titled by its name; a plain log line by its
    # message (its first line; the rest goes to the description)
    title, _, rest = (ev.message or ev.event).partition("\n")
    if not title.strip() or (
        _EVENT_NAME.fullmatch(ev.event) and ev.message in ("", ev.event)
    ):
        title = _title_from_event(ev.event)
    elif len(title) > MAX_TITLE:
        rest = ev.message  # too long for a title: keep all of it below
    embed: dict[str, Any] = {
        "title": _safe(title),
        "color": COLORS.get(ev.level_name, COLORS["info"]),
    }
    parts: list[str] = []
    if rest.strip():
        parts.append(_safe(rest))
    if ev.exception:
        # tokens hidden before the cut, which could leave one bare
        shown = redact_text(encodable(ev.exception))
        tail = clamp_tail(shown, _EXCEPTION_SHARE)
        parts.append("```\n" + neutralize_mentions(fence_safe(tail)) + "\n```")
    if parts:
        embed["description"] = "\n".join(parts)
    fields = auto_fields(ev)
    if fields:
        embed["fields"] = fields
    footer = default_footer(ev.logger, ev.level_name)
    if footer:
        embed["footer"] = {"text": footer}
    embed["timestamp"] = _event_stamp(ev.time)
    return embed


def default_footer(logger: str, level: str) -> str:
    """
    The default embed's footer: ``trader · WARNING``, or what there is.

    A part that is missing (a structlog chain without
    ``add_logger_name`` gives no logger) leaves no separator behind.
    """
    parts = (part.strip() for part in (logger, level.upper()))
    footer = " · ".join(part for part in parts if part)
    return neutralize_mentions(redact_text(encodable(footer)))


def _title_from_event(event: str) -> str:
    # humanize hides tokens first: split and re-cased, a token is no
    # longer found
    return humanize(event) or "(no event name)"


def _safe(text: str) -> str:
    return safe_markdown(text)


# -- limits -----------------------------------------------------------------


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
        embed["fields"] = _clamp_fields(embed["fields"])
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


def _clamp_fields(fields: list[dict[str, Any]]) -> list[dict[str, Any]]:
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
            name = name or _ZWSP
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
