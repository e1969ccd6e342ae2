"""
One message as Discord draws it: avatar, name, ping, embed, files.

Each part of the embed is rendered as Discord renders that part: the
description and field values with all of the markdown the library
emits, the title and field names with inline markdown only, the author
and footer as plain text. Inline fields share a row, up to three, on
Discord's twelve-column grid. Text the library cut to fit a limit is
marked, since Discord shows the ``…`` but not why.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from html import escape
from typing import Any

from polybot_loghandler._format import time
from polybot_loghandler._message import Attachment, RoutedMessage

from .markdown import markdown_html
from .transcript import Shown

__all__ = ["message_html", "when"]

#: Discord's default avatar colours, one picked by the name.
_AVATAR_COLORS = ("#5865f2", "#757e8a", "#3ba55c", "#faa61a", "#ed4245")
#: The bar of an embed with no colour.
NO_COLOR = "#1e1f22"
#: The grid columns of a row of 1, 2 or 3 inline fields (of 12).
_COLUMNS = {
    1: ("1 / 13",),
    2: ("1 / 7", "7 / 13"),
    3: ("1 / 5", "5 / 9", "9 / 13"),
}
#: What a footer part is when it is one of delivery's own marks.
_MARK = re.compile(r"^(×\d[\d,]*( more)?|since .+|delayed .+)$")
#: How many of a file's lines its card shows when opened.
_FILE_LINES = 40
#: What says text was cut, shown beside it.
_CUT = (
    '<span class="cut" title="cut by polybot_loghandler to fit '
    "Discord's limits\">cut to fit</span>"
)


def message_html(
    shown: Shown, *, cuts: AbstractSet[str], webhook_name: str
) -> str:
    """*shown* as an ``<article class="message">``."""
    message = shown.message
    name = message.username or webhook_name
    parts = [
        _avatar(name, own=message.avatar_url is not None),
        '<div class="message-body">',
        _header(name, message, shown.edits),
    ]
    if message.content:
        ping = markdown_html(message.content)
        parts.append(f'<div class="content markdown">{ping}</div>')
    parts.append(_embed(message.embed, cuts))
    parts.extend(_attachment(item) for item in message.files)
    parts.append("</div>")
    route = escape(message.route)
    return (
        f'<article class="message" title="route {route}" '
        f'data-route="{route}" data-edits="{shown.edits}">'
        f"{''.join(parts)}</article>"
    )


def when(value: object) -> str:
    """
    A time as the page shows it: ``2026-02-01 14:33 UTC``.

    An event's epoch seconds or an embed's ISO timestamp; what is not a
    time is shown as it is.
    """
    return escape(time(value, "%Y-%m-%d %H:%M UTC"))


def _avatar(name: str, *, own: bool) -> str:
    initial = next((c for c in name if c.isalnum()), "?").upper()
    color = _AVATAR_COLORS[zlib.crc32(name.encode()) % len(_AVATAR_COLORS)]
    note = (
        ' title="sent with its own avatar (not fetched by the preview)"'
        if own
        else ""
    )
    return (
        f'<div class="avatar" style="background-color: {color}"{note}>'
        f"{escape(initial)}</div>"
    )


def _header(name: str, message: RoutedMessage, edits: int) -> str:
    edited = (
        f'<span class="edited" title="a board: edited '
        f'{edits} time{"s" if edits != 1 else ""} after it was posted">'
        "(edited)</span>"
        if edits
        else ""
    )
    return (
        f'<div class="message-header"><span class="username">{escape(name)}'
        '</span><span class="app-tag">APP</span>'
        f'<time class="time">{when(message.event.time)}</time>{edited}</div>'
    )


def _embed(embed: dict[str, Any], cuts: AbstractSet[str]) -> str:
    color = embed.get("color")
    bar = f"#{color:06x}" if isinstance(color, int) else NO_COLOR
    parts = []
    if "author" in embed:
        name = embed["author"]["name"]
        parts.append(
            f'<div class="embed-author">{escape(name)}{_cut(name, cuts)}</div>'
        )
    if "title" in embed:
        parts.append(_title(embed, cuts))
    if "description" in embed:
        text = embed["description"]
        parts.append(
            '<div class="embed-description markdown">'
            f"{markdown_html(text)}{_cut(text, cuts)}</div>"
        )
    if embed.get("fields"):
        parts.append(_fields(embed["fields"], cuts))
    footer = _footer(embed, cuts)
    if footer:
        parts.append(footer)
    return (
        f'<div class="embed" data-color="{bar}" '
        f'style="border-left-color: {bar}">{"".join(parts)}</div>'
    )


def _title(embed: dict[str, Any], cuts: AbstractSet[str]) -> str:
    title = embed["title"]
    shown = markdown_html(title, block=False, mentions=False)
    url = embed.get("url")
    if isinstance(url, str) and url.lower().startswith(("http:", "https:")):
        shown = (
            f'<a href="{escape(url)}" rel="noreferrer noopener" '
            f'target="_blank">{shown}</a>'
        )
    return f'<div class="embed-title">{shown}{_cut(title, cuts)}</div>'


def _fields(fields: Sequence[dict[str, Any]], cuts: AbstractSet[str]) -> str:
    cells = []
    for item, column in zip(fields, field_columns(fields), strict=True):
        name, value = item["name"], item["value"]
        cut = _CUT if name == "…" else _cut(value, cuts)  # "N more fields"
        inline = " inline" if item.get("inline") else ""
        cells.append(
            f'<div class="embed-field{inline}" style="grid-column: {column}">'
            '<div class="embed-field-name markdown">'
            f"{markdown_html(name, block=False, mentions=False)}"
            f"{_cut(name, cuts)}</div>"
            '<div class="embed-field-value markdown">'
            f"{markdown_html(value)}{cut}</div></div>"
        )
    return f'<div class="embed-fields">{"".join(cells)}</div>'


def field_columns(fields: Sequence[dict[str, Any]]) -> list[str]:
    """
    Each field's place on Discord's twelve-column grid (``1 / 5``).

    Consecutive inline fields share a row, up to three; a field that is
    not inline has a row of its own.
    """
    rows: list[list[dict[str, Any]]] = []
    for item in fields:
        row = rows[-1] if rows else None
        if (
            item.get("inline")
            and row
            and row[0].get("inline")
            and len(row) < len(_COLUMNS)
        ):
            row.append(item)
        else:
            rows.append([item])
    columns: list[str] = []
    for row in rows:
        columns.extend(_COLUMNS[len(row)])
    return columns


def _footer(embed: dict[str, Any], cuts: AbstractSet[str]) -> str:
    parts = []
    text = embed.get("footer", {}).get("text", "")
    if text:
        shown = " · ".join(
            f'<span class="mark">{escape(part)}</span>'
            if _MARK.match(part)
            else escape(part)
            for part in text.split(" · ")
        )
        parts.append(
            f'<span class="footer-text">{shown}{_cut(text, cuts)}</span>'
        )
    if embed.get("timestamp"):
        stamp = when(embed["timestamp"])
        parts.append(f'<time class="embed-timestamp">{stamp}</time>')
    if not parts:
        return ""
    return f'<div class="embed-footer">{" • ".join(parts)}</div>'


def _attachment(item: Attachment) -> str:
    """A file's card, which opens on its first lines, as Discord's does."""
    size = len(item.text.encode())
    shown = f"{size} bytes" if size < 1024 else f"{size / 1024:.1f} KB"
    lines = item.text.splitlines()
    head = "\n".join(lines[:_FILE_LINES])
    more = len(lines) - _FILE_LINES
    rest = f"\n… {more} more lines" if more > 0 else ""
    return (
        '<details class="attachment"><summary>'
        '<span class="file-icon">📄</span>'
        f'<span class="file-name">{escape(item.name)}</span>'
        f'<span class="file-size">{shown}</span></summary>'
        f'<pre class="file-text">{escape(head + rest)}</pre></details>'
    )


def _cut(text: str, cuts: AbstractSet[str]) -> str:
    """
    The cut mark, if *text* is one the library cut to a limit.

    A part of an embed is what :func:`_limits.clamp` returned, so it is
    looked up whole; a footer may have delivery's marks after its cut
    text (`` · ×3 since 14:02``), so each of its heads is looked up too.
    """
    if "…" not in text or not cuts:
        return ""
    if text in cuts:
        return _CUT
    parts = text.split(" · ")
    heads = (" · ".join(parts[:end]) for end in range(1, len(parts)))
    return _CUT if any(head in cuts for head in heads) else ""
