"""
Embeds and message bodies held to Discord's limits, after rendering.

Rendering fits each embed as it builds it; the later stages change an
embed once more (a ``×N`` footer, a ``delayed 12m`` mark, ten embeds in
one message) and fit it again here, without going back to rendering.
Pure: no I/O, no clock.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
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
    MAX_FILES_PER_MESSAGE,
    MAX_FOOTER_TEXT,
    MAX_TITLE,
    clamp,
)
from ._message import Attachment
from ._model import Mention

__all__ = [
    "DELAY_NOTE_AFTER",
    "ZWSP",
    "attachments_payload",
    "batch_payload",
    "build_payload",
    "clamp_embed",
    "clamp_fields",
    "copy_embed",
    "embed_length",
    "file_note",
    "fit_total",
    "note_file",
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


#: Who a message says it is from (``identity:``).
IDENTITY = ("username", "avatar_url")
#: What the embeds of one message share: its ping and who it is from.
SHARED = ("content", "allowed_mentions", *IDENTITY)


def batch_payload(
    first: dict[str, Any], embeds: list[dict[str, Any]]
) -> dict[str, Any]:
    """
    The body of a message carrying several embeds.

    They share one ping and one identity, so ``content``,
    ``allowed_mentions``, ``username`` and ``avatar_url`` come from the
    *first* message's payload; the embeds share the 6,000 total.
    """
    payload: dict[str, Any] = {k: first[k] for k in SHARED if k in first}
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


# -- files sent beside the embeds --------------------------------------------

#: What separates the note naming a file from the rest of a footer.
_NOTE_SEP = " · "
#: What a file's name may grow by when it is renamed (``-10``), kept free
#: in the footer so the renamed note still fits.
_RENAME_ROOM = len(f"-{MAX_FILES_PER_MESSAGE}")


def file_note(name: str) -> str:
    """What an embed's footer says of the file holding its traceback."""
    return f"full traceback: {name}"


def note_file(embed: dict[str, Any], name: str) -> None:
    """
    Say at the end of *embed*'s footer that the file *name* is attached.

    In place, within every limit: the footer's own text gives way to the
    note (and keeps room for :func:`attachments_payload` to rename the
    file), and the embed is brought back under the 6,000 total by
    :func:`fit_total`, which never cuts a footer.
    """
    note = file_note(name)
    footer = dict(embed.get("footer", _NONE))
    old = str(footer.get("text", "")).strip()
    room = MAX_FOOTER_TEXT - len(_NOTE_SEP) - len(note) - _RENAME_ROOM
    footer["text"] = f"{clamp(old, room)}{_NOTE_SEP}{note}" if old else note
    embed["footer"] = footer
    fit_total(embed, MAX_EMBED_TOTAL)


def attachments_payload(
    payload: dict[str, Any], files: Sequence[Sequence[Attachment]]
) -> tuple[dict[str, Any], tuple[Attachment, ...]]:
    """
    A message body with the files sent beside its embeds, and those files.

    *files* holds each embed's files, in the order of
    ``payload["embeds"]`` (``()`` for an embed with none). The files are
    named uniquely within the message (``traceback.txt``,
    ``traceback-2.txt``, …, compared ignoring case), and an embed whose
    file was renamed has its footer note renamed with it, in a copy. The
    body gets the ``attachments`` array Discord reads from a multipart
    upload's ``payload_json`` part: ``{"id": "n", "filename": NAME}`` for
    the n-th file returned, which is sent as the part ``files[n]``. A
    message with no file is returned as it is, with no array.

    *payload* and its embeds are not changed.

    Raises:
        ValueError: If *files* does not match the embeds, or holds more
            than ten files (a batch stops before: ``Lane.take``).
    """
    embeds: list[dict[str, Any]] = payload.get("embeds", [])
    if len(files) != len(embeds):
        raise ValueError(
            f"{len(files)} lists of files for {len(embeds)} embeds"
        )
    count = sum(len(group) for group in files)
    if count > MAX_FILES_PER_MESSAGE:
        raise ValueError(
            f"{count} files in one message; Discord takes at most "
            f"{MAX_FILES_PER_MESSAGE}"
        )
    if not count:
        return payload, ()
    taken: set[str] = set()
    named: list[Attachment] = []
    out_embeds = list(embeds)
    renamed = False
    for n, group in enumerate(files):
        for item in group:
            name = _unique(item.name, taken)
            named.append(
                item if name == item.name else Attachment(name, item.text)
            )
            if name != item.name:
                out_embeds[n] = _rename_note(out_embeds[n], item.name, name)
                renamed = True
    out = {**payload, "embeds": out_embeds}
    if renamed:  # a longer name may take the embeds over 6,000
        out_embeds[:] = [copy_embed(embed) for embed in out_embeds]
        _fit_message(out_embeds)
    out["attachments"] = [
        {"id": str(n), "filename": item.name} for n, item in enumerate(named)
    ]
    return out, tuple(named)


def _unique(name: str, taken: set[str]) -> str:
    """*name*, or ``stem-2.ext``, ``stem-3.ext``, … if taken; noted taken."""
    stem, dot, ext = name.rpartition(".")
    if not stem:
        stem, dot, ext = name, "", ""
    found, n = name, 1
    while found.casefold() in taken:
        n += 1
        found = f"{stem}-{n}{dot}{ext}"
    taken.add(found.casefold())
    return found


def copy_embed(embed: dict[str, Any]) -> dict[str, Any]:
    """A copy of *embed* that shares no mutable part with it."""
    out = dict(embed)
    if "fields" in out:
        out["fields"] = [dict(item) for item in out["fields"]]
    for key in ("footer", "author"):
        if key in out:
            out[key] = dict(out[key])
    return out


def _rename_note(embed: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    """A copy of *embed* whose footer names the file *new*, not *old*."""
    footer = embed.get("footer", _NONE)
    text = str(footer.get("text", ""))
    note = file_note(old)
    at = text.rfind(note)
    if at < 0:
        return embed  # it does not name the file: nothing to rename
    text = text[:at] + file_note(new) + text[at + len(note) :]
    out = copy_embed(embed)
    out["footer"] = {**footer, "text": clamp(text, MAX_FOOTER_TEXT)}
    return out
