"""
Receipt: an event's claim on what must hear that its messages are done.

With the relay, an event comes from a Redis stream entry that may be
acknowledged only once every message made from it has reached Discord
or been counted as lost. The relay gives each event a :class:`Receipt`
holding how many messages are still out; the lanes carry it with the
message (coalesced copies included) and the ledger settles it, once per
message, whatever became of the message. The last settle tells the
relay. Messages still out when a process stops are never settled: their
entries stay pending in the stream for the next relay.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["Receipt"]


class Receipt:
    """
    How many of one event's messages are still on their way.

    Args:
        entry: What identifies the event to *done* (a stream entry id).
        left: The messages the event made (at least one).
        done: Called once, with *entry*, when the last one is settled.
    """

    __slots__ = ("_done", "entry", "left")

    def __init__(
        self, entry: str, left: int, done: Callable[[str], None]
    ) -> None:
        self.entry = entry
        self.left = left
        self._done = done

    def settle(self) -> None:
        """One of the event's messages was delivered or counted as lost."""
        self.left -= 1
        if self.left == 0:
            self._done(self.entry)

    def __repr__(self) -> str:
        return f"Receipt({self.entry!r}, left={self.left})"
