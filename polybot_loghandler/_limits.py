"""
Discord's message and embed limits, and clamping text to them.

The numbers are Discord's (documented in its message and embed resource
pages); going over any of them gets a ``400 Bad Request``, so everything we
send is clamped here first, visibly, with an ellipsis.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

__all__ = [
    "MAX_AUTHOR_NAME",
    "MAX_CONTENT",
    "MAX_DESCRIPTION",
    "MAX_EMBEDS_PER_MESSAGE",
    "MAX_EMBED_TOTAL",
    "MAX_FIELDS",
    "MAX_FIELD_NAME",
    "MAX_FIELD_VALUE",
    "MAX_FILES_PER_MESSAGE",
    "MAX_FOOTER_TEXT",
    "MAX_THREAD_NAME",
    "MAX_TITLE",
    "MAX_URL",
    "MAX_USERNAME",
    "clamp",
    "clamp_tail",
    "cuts_recorded",
    "shorten",
]

MAX_TITLE = 256
MAX_DESCRIPTION = 4096
MAX_FIELDS = 25
MAX_FIELD_NAME = 256
MAX_FIELD_VALUE = 1024
MAX_FOOTER_TEXT = 2048
MAX_AUTHOR_NAME = 256
MAX_EMBED_TOTAL = 6000  # summed over all embeds of one message
MAX_EMBEDS_PER_MESSAGE = 10
MAX_FILES_PER_MESSAGE = 10  # files[0] to files[9] of a multipart body
MAX_CONTENT = 2000
MAX_THREAD_NAME = 100  # a forum post's title (thread_name)
MAX_USERNAME = 80  # identity: username, 1 to 80 characters
MAX_URL = 2048  # avatar_url's schema limit; we hold embed URLs to it too

ELLIPSIS = "…"
#: What breaks a mention (``@\u200beveryone``, ``<@\u200b&1…>``): a cut
#: never separates it from the ``@`` before it.
_BREAK = "\u200b"


def clamp(text: str, limit: int) -> str:
    """
    Strip *text* and cut it to *limit* characters, ending with ``…``.

    Discord trims surrounding whitespace before counting, so we do too.
    A cut that would keep a mention's ``@`` and drop the zero-width
    space that breaks it cuts before the ``@`` instead. What is sent to
    Discord is cut here, and a preview is told of each cut
    (:func:`cuts_recorded`).
    """
    text = text.strip()
    if len(text) <= limit:
        return text
    return _cut(shorten(text, limit))


def shorten(text: str, limit: int) -> str:
    """
    :func:`clamp`, but not recorded: for what the library shows itself.

    The console's lines are cut to the terminal, not to Discord's
    limits, so a preview must not mark them.
    """
    text = text.strip()
    if len(text) <= limit:
        return text
    if limit <= 0:
        return ""
    end = limit - 1
    if text[end] == _BREAK and text[end - 1 : end] == "@":
        end -= 1
    return text[:end].rstrip() + ELLIPSIS


def clamp_tail(text: str, limit: int) -> str:
    """
    Like :func:`clamp` but keep the end, starting at a whole line.

    For tracebacks, whose last lines say what went wrong.
    """
    text = text.strip()
    if len(text) <= limit:
        return text
    if limit <= 0:
        return ""
    tail = text[-(limit - 2) :]
    newline = tail.find("\n")
    if 0 <= newline < len(tail) // 2:
        tail = tail[newline + 1 :]  # start at a whole line
    return _cut(ELLIPSIS + "\n" + tail.lstrip("\n"))


#: The texts cut while :func:`cuts_recorded` runs (else ``None``).
_recorded: set[str] | None = None
#: At most this many are kept: a preview shows a few hundred messages.
_MOST_RECORDED = 10_000


def _cut(text: str) -> str:
    """*text*, a cut one, recorded if a preview asked (see below)."""
    recorded = _recorded
    if recorded is not None and len(recorded) < _MOST_RECORDED:
        recorded.add(text)
    return text


@contextmanager
def cuts_recorded() -> Iterator[set[str]]:
    """
    Record every text cut to a limit while the block runs, in any thread.

    One block at a time: it is for a command line's run (``preview
    --html``, ``demo --html``), not for several at once.

    For previews, which say where text was cut to fit (the cut text is
    what Discord would show, so it is what they compare); it costs the
    rendering nothing otherwise, and only a set insert on the rare cut.
    Nested blocks share the outer set.
    """
    global _recorded  # noqa: PLW0603 - one switch, read without a lock
    outer = _recorded
    if outer is not None:
        yield outer
        return
    _recorded = set()
    try:
        yield _recorded
    finally:
        _recorded = None
