"""
RoutedMessage: one rendered embed on its way to one channel.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ._events import LogEvent
from ._model import Channel, Coalesce, Fold
from ._receipts import Receipt

__all__ = ["Attachment", "Place", "RoutedMessage"]


@dataclass(frozen=True, slots=True)
class Place:
    """
    Where in its channel a message goes, if not simply into it.

    At most one of *thread* and *thread_id* is set; a *board* may be in
    either.

    Attributes:
        thread: The name of the thread it goes into (``thread:``), made
            by the first message for that name (a forum post).
        thread_id: The id of an existing thread it goes into.
        board: The key of the board it shows (``board:``): the first
            message for the key is posted, later ones edit it.
    """

    thread: str | None = None
    thread_id: str | None = None
    board: str | None = None

    def parts(self) -> list[tuple[str, str]]:
        """Its thread, thread id and board, those set, as (what, value)."""
        named = (
            ("thread", self.thread),
            ("thread_id", self.thread_id),
            ("board", self.board),
        )
        return [(what, value) for what, value in named if value is not None]

    def lane(self) -> str:
        """What it adds to its destination's lane key (``""``: none)."""
        parts = self.parts()
        return "?" + "&".join(f"{k}={v}" for k, v in parts) if parts else ""


@dataclass(frozen=True, slots=True)
class Attachment:
    """
    A text file sent beside a message (a traceback the embed had to cut).

    Attributes:
        name: The file's name (``traceback.txt``).
        text: What it holds, redacted already.
    """

    name: str
    text: str = field(repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class RoutedMessage:
    """
    What one route made of one event for one channel.

    Attributes:
        channel: The channel key (``trades_paper``).
        route: The name of the route that chose it.
        payload: The exact JSON body a message with this embed has:
            ``embeds``, ``allowed_mentions`` and, for routes that ping,
            ``content``.
        embed: The rendered embed (``payload["embeds"][0]``).
        event: The event it was rendered from.
        target: The channel's configuration, ``None`` if the key is
            unknown.
        coalesce: The route's coalescing, used by delivery.
        fold: The route's folding (``fold:``, ``max_lag:``), used by
            delivery when the channel falls behind; ``None`` for a
            message no route made (the handler's own notices).
        folded: The events this message stands for when it is the
            summary of folded ones; ``0`` for every other message.
        receipt: What hears when this message is done (the relay's
            stream entry), if anything does.
        place: The thread or board it goes into, if any.
        files: Text files sent beside it (attachments).

    .. versionadded:: 0.1.0
    """

    channel: str
    route: str
    payload: dict[str, Any]
    embed: dict[str, Any]
    event: LogEvent
    target: Channel | None = None
    coalesce: Coalesce | None = None
    fold: Fold | None = None
    folded: int = 0
    receipt: Receipt | None = field(default=None, compare=False, repr=False)
    place: Place | None = None
    files: tuple[Attachment, ...] = ()

    @property
    def coalesce_window(self) -> float | None:
        """The route's coalescing window in seconds, if it sets one."""
        return None if self.coalesce is None else self.coalesce.window

    @property
    def content(self) -> str:
        """The message text (the ping), or ``""``."""
        return str(self.payload.get("content", ""))

    @property
    def thread(self) -> str | None:
        """The name of the thread it goes into (``thread:``), if any."""
        return None if self.place is None else self.place.thread

    @property
    def thread_id(self) -> str | None:
        """The id of the thread it goes into (``thread_id:``), if any."""
        return None if self.place is None else self.place.thread_id

    @property
    def board(self) -> str | None:
        """The key of the board it shows (``board:``), if any."""
        return None if self.place is None else self.place.board

    @property
    def username(self) -> str | None:
        """The name it is sent under (``identity:``), if any."""
        name = self.payload.get("username")
        return None if name is None else str(name)

    @property
    def avatar_url(self) -> str | None:
        """The picture it is sent with (``identity:``), if any."""
        url = self.payload.get("avatar_url")
        return None if url is None else str(url)
