"""
What an HTML preview shows: the messages, in order, as Discord keeps them.

A board (``board:``) is one message edited in place: Discord shows it
where it was first posted, with its latest state and an ``(edited)``
mark, so the transcript does too.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass

from polybot_loghandler._message import RoutedMessage

__all__ = ["Shown", "Transcript"]

#: At most this many messages are kept; the demo's day sends about 300.
MOST_SHOWN = 5_000


@dataclass(slots=True)
class Shown:
    """
    One message as the page shows it.

    Attributes:
        message: What was sent (a board's latest state).
        edits: How many times a board was edited after it was posted.
    """

    message: RoutedMessage
    edits: int = 0


class Transcript:
    """
    The messages a preview shows, in the order they came.

    :meth:`add` may be called from any thread (the console sink's).
    Past :data:`MOST_SHOWN` messages the rest are counted, not kept.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._shown: list[Shown] = []
        self._boards: dict[tuple[str, str], Shown] = {}
        self.not_kept = 0

    def add(self, messages: Iterable[RoutedMessage]) -> None:
        """Keep *messages*; a board's later states edit its first one."""
        with self._lock:
            for message in messages:
                self._add(message)

    def _add(self, message: RoutedMessage) -> None:
        place = message.place
        key = (message.channel, place.lane()) if place else None
        if key is not None and message.board is not None:
            board = self._boards.get(key)
            if board is not None:
                board.message = message
                board.edits += 1
                return
        if len(self._shown) >= MOST_SHOWN:
            self.not_kept += 1
            return
        shown = Shown(message)
        self._shown.append(shown)
        if key is not None and message.board is not None:
            self._boards[key] = shown

    def shown(self) -> list[Shown]:
        """What was kept, in order (a board where it was first posted)."""
        with self._lock:
            return list(self._shown)
