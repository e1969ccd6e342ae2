"""
LogEvent + route → a Discord embed, within every limit.

Pure: no I/O, no clock (the event carries its time). Rendering never
raises: a template that fails shows a short marker in its place and is
reported through a callback, so one bad template costs one field, not
the message.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any

from ._autofields import auto_fields
from ._colors import COLORS, parse_color
from ._events import LogEvent
from ._format import fence_safe, parse_time
from ._labels import humanize
from ._limits import (
    MAX_AUTHOR_NAME,
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
from ._model import Channel, EmbedTemplate, Route
from ._payload import ZWSP, clamp_embed, clamp_fields, fit_total
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
    "default_footer",
    "exception_shown",
    "exception_text",
    "label",
    "render_embed",
]

#: Called with (part, exception) when a template fails while rendering.
RenderError = Callable[[str, Exception], None]

_EXCEPTION_SHARE = 1800  # description characters a traceback may take
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
        return clamp_fields(auto_fields(ev, tpl.auto_exclude))
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
            {"name": name or ZWSP, "value": value, "inline": spec.inline}
        )
    if len(fields) > MAX_FIELDS:
        return clamp_fields(fields)  # the last one counts the rest
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
        shown, _ = exception_shown(ev)
        parts.append("```\n" + shown + "\n```")
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


def exception_text(ev: LogEvent) -> str:
    """
    *ev*'s traceback made safe to send whole: encodable, tokens hidden.

    ``""`` when it has none. The one redaction of a traceback that every
    view of it starts from: the default embed's code block and the text
    file sent beside an embed that had to cut it (:mod:`._files`).
    """
    if not ev.exception:
        return ""
    return redact_text(encodable(ev.exception))


def exception_shown(ev: LogEvent) -> tuple[str, bool]:
    """
    *ev*'s traceback as the default embed shows it, and whether it is cut.

    The text inside the embed's code block: the last 1,800 characters of
    :func:`exception_text` (tokens hidden before the cut, which could
    leave one bare), starting at a whole line after ``…`` when cut, with
    backtick runs and mentions broken. ``("", False)`` when *ev* has no
    traceback.
    """
    full = exception_text(ev)
    tail = clamp_tail(full, _EXCEPTION_SHARE)
    return neutralize_mentions(fence_safe(tail)), tail != full.strip()


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
