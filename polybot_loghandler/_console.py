"""
The console sink: messages shown readably on a terminal.

Channels with no destination end here, one box per message, headed by
the channel it was meant for, and by where in it and under which name
it would go (a thread, a board, an identity), with the files it carries
named at its foot. With ``delivery.console_per_channel`` it
shows the first few messages of each channel and counts the rest, listed
when the process closes: a busy floor stays readable on one screen.
"""

from __future__ import annotations

import os
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import datetime
from typing import Any, TextIO

from ._diagnostics import PREFIX
from ._format import counted
from ._limits import shorten
from ._message import RoutedMessage
from ._text import unescape_markdown, visible_controls

__all__ = [
    "ConsoleSink",
    "console_tapped",
    "embed_lines",
    "format_message",
    "where_it_goes",
    "where_parts",
]

_WIDTH = 72
_INLINE_PER_ROW = 3


def format_message(message: RoutedMessage, *, color: bool = False) -> str:
    """
    Render *message* as text: title, description, fields, footer.

    Inline fields share a row (up to three, as Discord lays them out);
    markdown escapes are removed, since a terminal shows text as it is.
    A message with a place or an identity says so under its head line
    (``↳ thread 'BTC — feed down' · as Floor Boss``); the files sent
    beside it are named at its foot (``+ traceback.txt (48 lines)``).
    Control characters from the event are shown, never sent to the
    terminal (see :func:`visible_controls`): only the sink's own colours
    are escape sequences.
    """
    embed = message.embed
    channel = _channel_name(message)
    bar = _bar(embed.get("color"), color)
    lines: list[str] = []
    head = shorten(
        visible_controls(
            f"#{channel} · {_event_name(message)} · route {message.route}"
        ),
        _WIDTH - 4,
    )
    lines.append("┌─ " + head + " " + "─" * max(0, _WIDTH - len(head) - 4))
    where = where_it_goes(message)
    if where:
        lines.append(f"{bar} {where}")
    if message.content:
        lines.append(f"{bar} 🔔 {visible_controls(message.content)}")
    lines.extend(f"{bar} {line}" for line in embed_lines(embed, color=color))
    lines.extend(f"{bar} {line}" for line in _file_lines(message))
    lines.append("└" + "─" * (_WIDTH - 1))
    return "\n".join(lines)


def embed_lines(embed: dict[str, Any], *, color: bool = False) -> list[str]:
    """
    *embed* as lines of text: author, title, description, fields, footer.

    Inline fields share a line, up to three; markdown escapes are
    removed and control characters shown (see :func:`format_message`).
    With *color*, the title is bold and the footer dim.
    """
    lines: list[str] = []
    if "author" in embed:
        lines.append(_plain(embed["author"]["name"]))
    if "title" in embed:
        title = _plain(embed["title"])
        lines.append(f"\033[1m{title}\033[0m" if color else title)
    if "description" in embed:
        lines.extend(_plain(embed["description"]).splitlines())
    lines.extend(_field_lines(embed.get("fields", ())))
    footer = _footer(embed)
    if footer:
        lines.append(f"\033[2m{footer}\033[0m" if color else footer)
    return lines


def where_it_goes(message: RoutedMessage) -> str:
    """:func:`where_parts`, to the console's width."""
    return shorten(where_parts(message), _WIDTH - 2)


def where_parts(message: RoutedMessage) -> str:
    """
    Where in its channel *message* goes and under which name, or ``""``.

    ``↳ thread 'BTC — feed down' · board 'database' (edited in place) ·
    as Floor Boss``: only what the message has, whole.
    """
    parts = []
    if message.thread is not None:
        parts.append(f"thread '{message.thread}'")
    if message.thread_id is not None:
        parts.append(f"thread {message.thread_id}")
    if message.board is not None:
        name = f"'{message.board}'" if message.board else "of the route"
        parts.append(f"board {name} (edited in place)")
    username, avatar = message.username, message.avatar_url
    if username is not None:
        own = " (own avatar)" if avatar is not None else ""
        parts.append(f"as {username}{own}")
    elif avatar is not None:
        parts.append("with its own avatar")
    if not parts:
        return ""
    return visible_controls("↳ " + " · ".join(parts))


def _file_lines(message: RoutedMessage) -> list[str]:
    """A line for each file sent beside *message*: ``+ traceback.txt``."""
    out = []
    for item in message.files:
        lines = item.text.count("\n") + 1 if item.text else 0
        out.append(
            shorten(
                visible_controls(f"+ {item.name} ({counted(lines, 'line')})"),
                _WIDTH - 2,
            )
        )
    return out


def _event_name(message: RoutedMessage) -> str:
    """
    The event's name as a reader wants it in the header.

    A standard-library record's name is its format string (``Watching %d
    agents``), which groups its events for routing; the header shows the
    message it makes instead.
    """
    event = message.event
    if "%" in event.event and event.message:
        return event.message
    return event.event


def _plain(text: str) -> str:
    return visible_controls(unescape_markdown(text.replace("\u200b", "")))


def _bar(value: Any, color: bool) -> str:
    if not color or not isinstance(value, int):
        return "│"
    r, g, b = (value >> 16) & 255, (value >> 8) & 255, value & 255
    return f"\033[38;2;{r};{g};{b}m┃\033[0m"


def _field_lines(fields: Iterable[dict[str, Any]]) -> list[str]:
    out: list[str] = []
    row: list[str] = []
    for item in fields:
        name, value = _plain(item["name"]), _plain(item["value"])
        if item.get("inline") and "\n" not in value:
            row.append(f"{name}: {value}")
            if len(row) == _INLINE_PER_ROW:
                out.append("   ".join(row))
                row = []
            continue
        if row:
            out.append("   ".join(row))
            row = []
        if "\n" in value:
            out.append(f"{name}:")
            out.extend("  " + line for line in value.splitlines())
        else:
            out.append(f"{name}: {value}")
    if row:
        out.append("   ".join(row))
    return out


def _footer(embed: dict[str, Any]) -> str:
    parts = []
    if "footer" in embed:
        parts.append(_plain(embed["footer"]["text"]))
    if "timestamp" in embed:
        try:
            stamp = datetime.fromisoformat(
                embed["timestamp"].replace("Z", "+00:00")
            )
            parts.append(stamp.strftime("%Y-%m-%d %H:%M:%S UTC"))
        except ValueError:
            parts.append(visible_controls(embed["timestamp"]))
    return " · ".join(parts)


def _writable(text: str, stream: TextIO) -> str:
    """
    *text* as *stream* can encode it: what it cannot is replaced (``?``).

    A pipe or file may have an encoding narrower than the text (ASCII,
    cp1252) and strict errors; a write that fails would lose the whole
    batch.
    """
    encoding = getattr(stream, "encoding", None) or "utf-8"
    if not isinstance(encoding, str):
        return text
    try:
        text.encode(encoding)
    except UnicodeEncodeError:
        return text.encode(encoding, "replace").decode(encoding)
    except LookupError:  # an encoding Python does not know: leave it be
        return text
    return text


#: Who else is shown what the console gets (see :func:`console_tapped`).
_taps: list[Callable[[Sequence[RoutedMessage]], None]] = []


@contextmanager
def console_tapped(
    tap: Callable[[Sequence[RoutedMessage]], None],
) -> Iterator[None]:
    """
    Hand *tap* every batch any console sink gets while the block runs.

    It gets them all, those ``console_per_channel`` keeps off the screen
    too, as they are shown (a repeat with its ``×N``); it is called in
    the delivery thread, and what it raises is ignored. ``demo --html``
    draws the day's messages with it.
    """
    _taps.append(tap)
    try:
        yield
    finally:
        _taps.remove(tap)


def _tell_taps(messages: Sequence[RoutedMessage]) -> None:
    for tap in tuple(_taps):  # a copy: a block may end meanwhile
        with suppress(Exception):  # a tap never stops delivery
            tap(messages)


class ConsoleSink:
    """
    Writes messages to a stream (standard error by default).

    The stream is looked up at each write, so redirecting ``sys.stderr``
    (as pytest's capture does) is honoured.

    Args:
        stream: ``stderr``, ``stdout`` or ``off``.
        per_channel: Show at most this many messages of each channel and
            count the others (``None``: show every one).
    """

    def __init__(
        self, stream: str = "stderr", per_channel: int | None = None
    ) -> None:
        self._stream_name = stream
        self._per_channel = per_channel
        self._lock = threading.Lock()
        self._shown: Counter[str] = Counter()
        self._hidden: Counter[str] = Counter()
        self._not_shown = 0  # self._hidden's total, read without the lock
        self._listed = 0  # hidden messages already listed by close()

    def after_fork(self) -> None:
        """In a forked child: a fresh lock (the parent's may be held)."""
        self._lock = threading.Lock()

    @property
    def not_shown(self) -> int:
        """How many messages ``per_channel`` kept off the console."""
        return self._not_shown

    def _stream(self) -> TextIO | None:
        if self._stream_name == "off":
            return None
        return sys.stdout if self._stream_name == "stdout" else sys.stderr

    def deliver(self, messages: Sequence[RoutedMessage]) -> int:
        """
        Print *messages*; returns how many were shown.

        A broken or closed stream shows nothing and never raises.
        """
        if _taps:
            _tell_taps(messages)
        stream = self._stream()
        if stream is None:
            return 0
        try:
            # https://no-color.org: any non-empty NO_COLOR turns colour off
            color = stream.isatty() and not os.environ.get("NO_COLOR")
        except (AttributeError, ValueError):
            color = False
        with self._lock:
            shown, notice = self._choose(messages)
        parts = [format_message(m, color=color) for m in shown]
        if notice:
            parts.append(notice)
        if not parts or not self._write(stream, "\n".join(parts)):
            return 0
        return len(shown)

    def _write(self, stream: TextIO, text: str) -> bool:
        """Write *text* and a newline; ``False`` if the stream is broken."""
        text = _writable(text, stream)
        with self._lock:
            try:
                stream.write(text + "\n")
                stream.flush()
            except (OSError, ValueError):
                return False  # a closed or broken stream must not break us
        return True

    def _choose(
        self, messages: Sequence[RoutedMessage]
    ) -> tuple[list[RoutedMessage], str]:
        """The messages to show, and a notice when the first is held back."""
        limit = self._per_channel
        if limit is None:
            return list(messages), ""
        first_hidden = not self._hidden
        shown = []
        for message in messages:
            channel = _channel_name(message)
            if self._shown[channel] < limit:
                self._shown[channel] += 1
                shown.append(message)
            else:
                self._hidden[channel] += 1
                self._not_shown += 1
        if not (first_hidden and self._hidden):
            return shown, ""
        each = "message" if limit == 1 else f"{limit} messages"
        return shown, (
            f"{PREFIX}the console shows the first {each} of each channel "
            f"(delivery.console_per_channel: {limit}); the others are "
            "counted and listed at exit"
        )

    def close(self) -> None:
        """
        List the messages ``per_channel`` kept off the console, by channel.

        Said once for what is new since the last call, so closing twice
        (the handler, then the exit) does not repeat it.
        """
        stream = self._stream()
        with self._lock:
            hidden = self._not_shown
            if stream is None or hidden <= self._listed:
                return
            self._listed = hidden
            listing = _not_shown(self._hidden, self._per_channel)
        self._write(stream, listing)


def _channel_name(message: RoutedMessage) -> str:
    return message.target.name if message.target else message.channel


def _not_shown(hidden: Counter[str], limit: int | None) -> str:
    """The closing list: the most held-back channels first, a few a row."""
    total = counted(hidden.total(), "message")
    heading = (
        f"{PREFIX}{total} not shown on the console "
        f"(delivery.console_per_channel: {limit}):"
    )
    rows = [heading]
    ranked = sorted(hidden.items(), key=lambda kv: (-kv[1], kv[0]))
    digits = len(f"{ranked[0][1]:,}")
    cells = [f"{n:>{digits},} #{visible_controls(name)}" for name, n in ranked]
    width = max(len(cell) for cell in cells) + 3
    per_row = max(1, (_WIDTH - 2) // width)
    for start in range(0, len(cells), per_row):
        row = cells[start : start + per_row]
        rows.append("  " + "".join(c.ljust(width) for c in row).rstrip())
    return "\n".join(rows)
