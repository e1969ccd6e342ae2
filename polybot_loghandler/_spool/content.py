"""
What a message may carry on disk, going in and coming back.

Going in, ``coalesce: {by: [...]}`` values are kept only as keyed hashes
(HMAC-SHA256 under the directory's random key, :func:`.directory.load_key`):
enough to tell duplicates apart after a restart, not enough to read or
guess a secret from the message files alone.

Coming back, a message read from disk is taken as a draft, never as
orders: who is pinged comes from the route as the routing file says now,
the destination from the channel as configured now, and every text of the
embed is redacted and its mentions broken again, as if an event had
written it (:func:`sanitize_embed`).

This sits between the store (:mod:`.store`) and the engine, and does not
depend on the store's file format.
"""

from __future__ import annotations

import dataclasses
import hmac
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from polybot_loghandler import _limits as limits
from polybot_loghandler import _values as values
from polybot_loghandler._address import avatar_refused, plain_name
from polybot_loghandler._config.places import refused_username
from polybot_loghandler._discord import snowflake_problem
from polybot_loghandler._files import MAX_FILE_BYTES, cap_text
from polybot_loghandler._message import Attachment, Place
from polybot_loghandler._model import Fold
from polybot_loghandler._payload import IDENTITY, clamp_embed
from polybot_loghandler._text import (
    encodable,
    neutralize_mentions,
    redact_text,
)
from polybot_loghandler._watching.measures import field_value

__all__ = [
    "DIGEST_CHARS",
    "by_digest",
    "files_of",
    "files_read",
    "fold_values",
    "fold_values_read",
    "identity_of",
    "identity_read",
    "place_of",
    "place_read",
    "repr_of",
    "sanitize_embed",
]

#: Hex digits of a ``by`` hash kept on disk (128 bits).
DIGEST_CHARS = 32
#: Characters of a ``repr()`` hashed for coalescing: beyond, values
#: that differ only in their tail are taken as duplicates.
REPR_LIMIT = 100_000
#: Characters kept past a text's limit before it is redacted and cut to
#: it: more than the longest token, so one that reaches into the part
#: shown is redacted whole.
_SPARE = 256
#: Characters of a text value kept for a route's ``fold:``.
FOLD_CHARS = 200
#: Longest timestamp text taken back (ISO 8601 with an offset is 32).
_MAX_STAMP = 40
_MAX_COLOR = 0xFFFFFF


# -- hashes of `coalesce: by` values ----------------------------------------


def repr_of(value: Any) -> str:
    """
    ``repr(value)`` as the spool keeps it, at most REPR_LIMIT characters.

    It never raises (see :mod:`polybot_loghandler._values`):
    ``repr(10**5000)`` raises, and so may an object's ``__repr__``; neither
    may stop a message being kept.
    """
    return values.repr_of(value)[:REPR_LIMIT]


def by_digest(key: bytes, value: Any) -> str:
    """A ``by`` value as kept on disk: its keyed hash, never the value."""
    data = repr_of(value).encode("utf-8", "surrogatepass")
    return hmac.new(key, data, "sha256").hexdigest()[:DIGEST_CHARS]


# -- embeds read back -------------------------------------------------------


def _text(value: Any, limit: int) -> str | None:
    """
    Text read back, made safe again: redacted, mentions broken.

    Only the part that can be shown within *limit* is looked at (the
    text is cut to *limit* afterwards): what is on disk may be of any
    size.
    """
    if not isinstance(value, str):
        return None
    value = encodable(value.strip()[: limit + _SPARE])
    return neutralize_mentions(redact_text(value))


def _link(value: Any) -> str | None:
    """A URL read back, if it is one and hides no token."""
    if (
        isinstance(value, str)
        and value.startswith(("http://", "https://"))
        and len(value) <= limits.MAX_URL
        and value.isprintable()
        and redact_text(value) == value
    ):
        return value
    return None


def _stamp(value: Any) -> str | None:
    if not isinstance(value, str) or len(value) > _MAX_STAMP:
        return None
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return None
    return value


def _part(
    raw: Any, text_key: str, limit: int, links: tuple[str, ...]
) -> dict[str, Any] | None:
    """A footer or an author read back: its text and its links."""
    if not isinstance(raw, Mapping):
        return None
    text = _text(raw.get(text_key), limit)
    if not text:
        return None
    out: dict[str, Any] = {text_key: text}
    for key in links:
        link = _link(raw.get(key))
        if link is not None:
            out[key] = link
    return out


def _fields(raw: Any) -> list[dict[str, Any]]:
    if not isinstance(raw, list):
        return []
    fields = []
    for item in raw[: limits.MAX_FIELDS]:
        if not isinstance(item, Mapping):
            continue
        name = _text(item.get("name"), limits.MAX_FIELD_NAME)
        value = _text(item.get("value"), limits.MAX_FIELD_VALUE)
        if name is None or not value:
            continue
        field: dict[str, Any] = {"name": name, "value": value}
        if isinstance(item.get("inline"), bool):
            field["inline"] = item["inline"]
        fields.append(field)
    return fields


def sanitize_embed(raw: Any) -> dict[str, Any]:
    """
    An embed read back from disk, made safe to send whatever it holds.

    Only the parts the library renders are kept, each of the right type;
    every text is redacted and its mentions broken; links that are not
    http(s) or hide a token are left out; then the embed is held to
    Discord's limits.

    Raises:
        TypeError: There is no embed.
        ValueError: Nothing showable is left: not an embed the library
            wrote.
    """
    if not isinstance(raw, Mapping):
        raise TypeError("the message has no embed")
    color = raw.get("color")
    parts = {
        "title": _text(raw.get("title"), limits.MAX_TITLE),
        "description": _text(raw.get("description"), limits.MAX_DESCRIPTION),
        "url": _link(raw.get("url")),
        "color": color
        if type(color) is int and 0 <= color <= _MAX_COLOR
        else None,
        "fields": _fields(raw.get("fields")),
        "footer": _part(
            raw.get("footer"), "text", limits.MAX_FOOTER_TEXT, ("icon_url",)
        ),
        "author": _part(
            raw.get("author"),
            "name",
            limits.MAX_AUTHOR_NAME,
            ("url", "icon_url"),
        ),
        "timestamp": _stamp(raw.get("timestamp")),
    }
    # empty texts and no fields are left out, as the renderer does (a
    # colour may be 0: black)
    embed = {k: v for k, v in parts.items() if v or v == 0}
    clamp_embed(embed)
    if not any(key in embed for key in ("title", "description", "fields")):
        raise ValueError("the message's embed shows nothing")
    return embed


# -- the values a route's `fold:` reads ---------------------------------------


def fold_values(fold: Fold, fields: Mapping[str, Any]) -> dict[str, Any]:
    """
    The values *fold* groups by and measures, as the spool keeps them.

    Only those: a message folded after a restart is summed up as it
    would have been before. Numbers and booleans stay as they are; any
    other value is kept as its text, redacted and cut to
    :data:`FOLD_CHARS`. A missing field is not kept.
    """
    names = {m.field for _, m in fold.measures if m.field is not None}
    if fold.group_by is not None:
        names.add(fold.group_by)
    out: dict[str, Any] = {}
    for name in sorted(names):
        value = field_value(fields, name)
        if value is not None:
            out[name] = _kept(value)
    return out


def fold_values_read(data: Mapping[Any, Any]) -> dict[str, Any]:
    """What :func:`fold_values` kept, read back; anything else is left."""
    out: dict[str, Any] = {}
    for name, value in data.items():
        if not isinstance(name, str) or len(name) > FOLD_CHARS:
            continue
        if isinstance(value, str):
            out[name] = redact_text(value[:FOLD_CHARS])
        elif isinstance(value, (bool, int)) or (
            isinstance(value, float) and value == value  # noqa: PLR0124 - NaN
        ):
            out[name] = value
    return out


def _kept(value: Any) -> Any:
    if isinstance(value, bool) or (
        isinstance(value, (int, float)) and abs(value) < 1e300
    ):
        return value
    text = values.text_of(value)
    return redact_text(text[: FOLD_CHARS + _SPARE])[:FOLD_CHARS]


# -- where a message goes, who it is from, its files ------------------------

#: A file's name read back: a plain name, never a path.
_FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def place_of(place: Place | None) -> dict[str, str]:
    """The thread and board a message goes to, as the spool keeps them."""
    if place is None:
        return {}
    kept = {
        "thread": place.thread,
        "thread_id": place.thread_id,
        "board": place.board,
    }
    return {k: v for k, v in kept.items() if v is not None}


def place_read(raw: Any) -> Place | None:
    """
    A place read back: names made safe again, an id only if it is one.

    A thread's name and a board's key are redacted, one line, cut to
    Discord's 100 characters, as when they were rendered.
    """
    if not isinstance(raw, Mapping):
        return None
    thread = raw.get("thread")
    board = raw.get("board")
    found = raw.get("thread_id")
    place = Place(
        thread=plain_name(thread, limits.MAX_THREAD_NAME) or None
        if isinstance(thread, str)
        else None,
        thread_id=found
        if isinstance(found, str) and snowflake_problem(found) is None
        else None,
        board=plain_name(board, limits.MAX_THREAD_NAME)
        if isinstance(board, str)
        else None,
    )
    if place.thread is not None and place.thread_id is not None:
        place = dataclasses.replace(place, thread_id=None)
    return place if place.lane() else None


def identity_of(payload: Mapping[str, Any]) -> dict[str, str]:
    """Who a message says it is from, as the spool keeps it."""
    return {k: payload[k] for k in IDENTITY if isinstance(payload.get(k), str)}


def identity_read(raw: Any) -> dict[str, str]:
    """
    An identity read back: only a name and a picture Discord would take.

    The name is redacted, one line, at most 80 characters, and holds no
    word Discord refuses; the picture is an http(s) URL hiding no token.
    """
    if not isinstance(raw, Mapping):
        return {}
    out = {}
    name = raw.get("username")
    if isinstance(name, str):
        name = plain_name(name, limits.MAX_USERNAME)
        if name and refused_username(name) is None:
            out["username"] = name
    picture = raw.get("avatar_url")
    if isinstance(picture, str) and picture and not avatar_refused(picture):
        out["avatar_url"] = picture  # the rule it was rendered by
    return out


def files_of(files: tuple[Attachment, ...]) -> list[dict[str, str]]:
    """A message's files, as the spool keeps them."""
    return [{"name": f.name, "text": f.text} for f in files]


def files_read(raw: Any) -> tuple[Attachment, ...]:
    """
    Files read back: plain names, and text redacted and capped again.

    At most ten: a message carries no more.
    """
    if not isinstance(raw, list):
        return ()
    out = []
    for item in raw[: limits.MAX_FILES_PER_MESSAGE]:
        if not isinstance(item, Mapping):
            continue
        name, text = item.get("name"), item.get("text")
        if not isinstance(name, str) or not _FILE_NAME.fullmatch(name):
            continue
        if not isinstance(text, str):
            continue
        # capped before and after: what is on disk may be of any size,
        # and a token cut at the cap's edge is redacted whole first
        text = cap_text(redact_text(cap_text(text, MAX_FILE_BYTES * 2)))
        out.append(Attachment(name, text))
    return tuple(out)
