"""
Text files sent beside an embed: the whole traceback an embed had to cut.

An embed shows a traceback's last 1,800 characters (``_render.py``);
when that is not all of it, the whole text goes beside the embed as
``traceback.txt``, redacted exactly as the embed's text is (both start
from :func:`._render.exception_text`), and the embed's footer says so.
Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._events import LogEvent
from ._message import Attachment
from ._payload import note_file
from ._render import exception_shown, exception_text
from ._text import encodable

__all__ = [
    "MAX_FILE_BYTES",
    "TRACEBACK_FILE",
    "cap_text",
    "traceback_files",
]

#: The name of the file holding a traceback (``traceback-2.txt`` and so
#: on when a message carries several: see ``attachments_payload``).
TRACEBACK_FILE = "traceback.txt"
#: The most UTF-8 bytes a file holds. Ten of them (a message's most) make
#: 2.5 MiB, well under the 10 MiB a message may upload to a server that
#: is not boosted, with room for the JSON part; and every queued or
#: spooled message keeps its files, so each stays small. A real
#: traceback is a few KiB: this cuts only text that is mostly noise (a
#: huge repr in an exception's message).
MAX_FILE_BYTES = 256 * 1024
#: The share of a cut file kept from its start; the rest is its end,
#: where the last frames and the exception's own line are.
_HEAD_SHARE = 4
#: Bytes kept free for the line that says what was cut.
_MARK_ROOM = 64


def traceback_files(
    ev: LogEvent, embed: dict[str, Any]
) -> tuple[Attachment, ...]:
    """
    The file to send beside *embed* with *ev*'s whole traceback, if any.

    ``()`` when *ev* has no traceback or *embed* shows all of it: the
    default embed's code block uncut, or a template's ``{{ exception |
    code }}`` that did not need cutting. Otherwise (the traceback was
    cut to fit, by the default embed or later by a limit, or the route's
    template does not show it) one :data:`TRACEBACK_FILE` holding the
    whole text, made encodable and with its tokens hidden as the embed's
    is, cut to :data:`MAX_FILE_BYTES` by :func:`cap_text`; and
    *embed*'s footer, changed in place, ends with ``full traceback:
    traceback.txt``, within every limit.

    Call it after rendering, before the embed is copied for each channel.
    """
    shown, cut = exception_shown(ev)
    if not shown or (not cut and _shows(embed, shown)):
        return ()
    note_file(embed, TRACEBACK_FILE)
    text = cap_text(exception_text(ev).strip())
    return (Attachment(TRACEBACK_FILE, text),)


def _shows(embed: Mapping[str, Any], shown: str) -> bool:
    """Whether a code block in *embed* holds all of *shown*."""
    block = f"\n{shown}\n```"  # after its opening line, up to its end
    if block in embed.get("description", ""):
        return True
    return any(block in item["value"] for item in embed.get("fields", ()))


def cap_text(text: str, limit: int = MAX_FILE_BYTES) -> str:
    """
    *text* in at most *limit* bytes of UTF-8, keeping its start and end.

    Made encodable first (a lone surrogate becomes U+FFFD). Text over
    the limit keeps a quarter of it from its start and the rest from its
    end, each cut at a whole line where one is near, with a line
    ``… N characters cut …`` between them. Cut after redaction: tokens
    are hidden already, and the cut line (spaces and ``…``) cannot join
    two pieces into a new one.

    Raises:
        ValueError: If *limit* is too small to hold the cut line.
    """
    if limit <= _MARK_ROOM:
        raise ValueError(f"a limit of {limit} bytes leaves no room")
    text = encodable(text)
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    room = limit - _MARK_ROOM
    keep_head = room // _HEAD_SHARE
    # a character cut in two by a byte count is left out
    head = data[:keep_head].decode("utf-8", "ignore")
    tail = data[len(data) - (room - keep_head) :].decode("utf-8", "ignore")
    line = head.rfind("\n")
    if line >= len(head) // 2:
        head = head[: line + 1]  # end with a whole line
    line = tail.find("\n")
    if 0 <= line < len(tail) // 2:
        tail = tail[line + 1 :]  # start with a whole line
    hidden = len(text) - len(head) - len(tail)
    before = "" if head.endswith("\n") else "\n"
    return f"{head}{before}… {hidden:,} characters cut …\n{tail}"
