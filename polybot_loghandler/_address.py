"""
A route's board, thread and identity, rendered for one event.

Thread names and board keys render plain (no markdown escaping), with
tokens hidden, control characters taken out, stripped and cut to 100
characters; an identity's username and avatar URL are held to what
Discord takes, and one it would refuse is left out, so the message
still goes. Pure: what fails is told through the callbacks.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from ._config.places import refused_username
from ._events import LogEvent
from ._limits import MAX_THREAD_NAME, MAX_URL, MAX_USERNAME, clamp
from ._message import Place
from ._model import Route
from ._templates import Scope, Text
from ._text import REDACTED, encodable, is_http_url, redact_text
from ._values import text_of
from ._watching.render import LOGGER as WATCHING

__all__ = [
    "avatar_refused",
    "forum_place",
    "identity_of",
    "place_of",
    "plain_name",
]

#: Called with (part, exception) when a template fails.
OnError = Callable[[str, Exception], None]
#: Called with (part, text) when a rendered value is left out.
OnRefused = Callable[[str, str], None]

#: Control characters (C0, DEL, C1): whitespace ones become a space,
#: the others are taken out.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def _no_control(match: re.Match[str]) -> str:
    return " " if match.group(0).isspace() else ""


def plain_name(text: str, limit: int) -> str:
    """
    *text* as a name Discord shows: one line, tokens hidden, cut.

    Control characters go first (a token split by one would be joined
    by taking it out), then tokens, so the cut cannot leave part of one.
    """
    text = _CONTROL.sub(_no_control, encodable(text))
    return clamp(redact_text(text), limit)


def _rendered(
    text: Text, scope: Scope, part: str, on_error: OnError
) -> str | None:
    """*text* rendered in *scope*; ``None`` when its template failed."""
    try:
        return text.render_in(scope)
    except Exception as exc:
        on_error(part, exc)
        return None


def place_of(route: Route, scope: Scope, on_error: OnError) -> Place | None:
    """
    Where *route*'s message for this event goes, if the route says.

    An empty thread name (or one whose template failed) is the route's
    name; a board key may be empty (one board for the route). A board
    key whose template failed leaves the message off every board: it is
    posted as an ordinary one rather than edit another key's board.
    """
    if (
        route.thread is None
        and route.thread_id is None
        and route.board is None
    ):
        return None
    thread = board = None
    if route.thread is not None:
        found = _rendered(route.thread, scope, "thread", on_error)
        thread = plain_name(found or "", MAX_THREAD_NAME) or plain_name(
            route.name, MAX_THREAD_NAME
        )
    if route.board is not None:
        found = _rendered(route.board, scope, "board", on_error)
        board = None if found is None else plain_name(found, MAX_THREAD_NAME)
    if thread is None and route.thread_id is None and board is None:
        return None
    return Place(thread=thread, thread_id=route.thread_id, board=board)


def identity_of(
    route: Route, scope: Scope, on_error: OnError, on_refused: OnRefused
) -> dict[str, Any]:
    """
    ``username`` and ``avatar_url`` for *route*'s message body, if any.

    A username that renders empty, or with a word Discord refuses, and
    an avatar URL that is not an http(s) URL, is too long or held a
    token (hidden or not), are left out and told to *on_refused*.
    """
    identity = route.identity
    out: dict[str, Any] = {}
    if identity is None:
        return out
    if identity.username is not None:
        found = _rendered(
            identity.username, scope, "identity.username", on_error
        )
        name = None if found is None else plain_name(found, MAX_USERNAME)
        word = refused_username(name) if name else None
        if word is not None:
            on_refused(
                "identity.username",
                f"a username with '{word}' in it is refused by Discord: "
                "the messages go under the webhook's own name",
            )
        elif name:
            out["username"] = name
        elif found is not None:
            on_refused(
                "identity.username",
                "the username rendered empty: the messages go under the "
                "webhook's own name",
            )
    if identity.avatar_url is not None:
        found = _rendered(
            identity.avatar_url, scope, "identity.avatar_url", on_error
        )
        url = (found or "").strip()
        refused = avatar_refused(url)
        if refused:
            on_refused(
                "identity.avatar_url",
                f"{refused}: the messages go with the webhook's own picture",
            )
        elif url:
            out["avatar_url"] = url
    return out


def avatar_refused(url: str) -> str:
    """Why *url* cannot be an avatar (``""``: it can, or it is empty)."""
    if not url:
        return ""
    if REDACTED in url or redact_text(url) != url:
        # a token from an event's value is hidden already: the URL is
        # no picture's
        return "the avatar URL would show a webhook or bot token"
    if len(url) > MAX_URL:
        return f"the avatar URL is longer than {MAX_URL:,} characters"
    if not is_http_url(url):
        return f"not an http(s) URL: {url[:80]!r}"
    return ""


def forum_place(place: Place | None, name: str, ev: LogEvent) -> Place:
    """
    Where a message for a forum goes: its place, in a thread.

    A forum takes nothing outside a thread (Discord's 220001): a message
    whose place names none goes into one of its own, named *name*, and
    a watch's alert or recovery into one per key (``agent_silent —
    Momentum_BTC``), so an alert and its recovery are read together. A
    board stays on its board, in that thread.
    """
    if place is not None and (place.thread or place.thread_id):
        return place
    key = ev.fields.get("key") if ev.logger == WATCHING else None
    said = f"{name} — {text_of(key)}" if key not in (None, "") else name
    thread = plain_name(said, MAX_THREAD_NAME) or name[:MAX_THREAD_NAME]
    return Place(thread=thread, board=None if place is None else place.board)
