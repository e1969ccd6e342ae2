"""
Sending into threads and boards: which request, and what its answer taught.

A lane with a place (``thread:``, ``thread_id:``, ``board:``) sends each
batch as :meth:`Placer.aim` says: into the thread Discord named before
(``?thread_id=``), or making it (``thread_name``, a forum post); a
board posted before is edited (``PATCH``), else posted. The answer is
read by :meth:`Placer.learn`: the id of a new board message or thread
is kept (``_places.Places``); a board message that is gone (404, code
10008) or edited too often after its first hour (30046), a thread that
is gone, or a channel that cannot have threads made by a webhook (it is
not a forum: 220003) is answered by sending again, once, another way.
It never loops: each way is tried once per batch.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from polybot_loghandler._discord import (
    OLD_MESSAGE_EDITS,
    THREADS_ONLY_IN_FORUMS,
    UNKNOWN_MESSAGE,
    Outcome,
    snowflake_problem,
)
from polybot_loghandler._limits import MAX_AUTHOR_NAME, clamp
from polybot_loghandler._message import Place
from polybot_loghandler._model import BotChannelDestination
from polybot_loghandler._places import (
    BOARD,
    THREAD,
    Places,
    Posted,
    destination_id,
)

from .lanes import LaneState

__all__ = ["Aim", "Placer"]

#: Discord's code for a thread (a channel) that is no more.
UNKNOWN_CHANNEL = 10003
#: What an edit's body may hold (``IncomingWebhookUpdateRequestPartial``).
EDIT_KEYS = ("content", "embeds", "allowed_mentions", "attachments")


@dataclass(frozen=True, slots=True)
class Aim:
    """
    How one batch of a placed lane is sent.

    Attributes:
        payload: The body, changed for the place (``thread_name``, an
            edit's keys only, the thread's name in the author line).
        thread_id: The thread it goes into, if known.
        edit: The board message it edits, if there is one.
        key: The rate-limit key of the request's route.
        channel: What its per-channel window is kept under.
        making: It makes the thread named (a forum post).
    """

    payload: dict[str, Any]
    thread_id: str | None = None
    edit: str | None = None
    key: str = ""
    channel: str = ""
    making: bool = False


class Placer:
    """
    Threads and boards: what to send, and what an answer means.

    Args:
        places: The ids known, kept across restarts if it has a store.
        warn: Says something once per key (the ledger's warn).
    """

    def __init__(self, places: Places, warn: Any) -> None:
        self.places = places
        self._warn = warn
        #: destinations that said they are not forums (220003)
        self._flat: set[str] = set()

    def aim(
        self, state: LaneState, payload: dict[str, Any], wall: float
    ) -> Aim:
        """How *state*'s next batch (*payload*) is sent, at *wall* time."""
        place = state.place
        assert place is not None
        assert state.destination is not None
        dest = destination_id(state.destination)
        thread_id = place.thread_id
        making = False
        if place.thread is not None:
            known = self.places.get(THREAD, dest, place.thread, wall)
            if known is not None:
                thread_id = known.id
            elif dest in self._flat or isinstance(
                state.destination, BotChannelDestination
            ):
                # a bot makes threads through endpoints of its own, which
                # this library does not use (``check`` says so)
                payload = _in_author(payload, place.thread)
            else:
                payload = {**payload, "thread_name": place.thread}
                making = True
        base = state.key[: len(state.key) - len(place.lane())]
        if place.board is not None:
            board = self.places.get(BOARD, dest, _board_key(place), wall)
            if board is not None:
                edit = {k: payload[k] for k in EDIT_KEYS if k in payload}
                return Aim(
                    edit,
                    board.thread or None,
                    board.id,
                    # edits are a route of their own at Discord, with
                    # their own bucket (its headers pace them); they post
                    # nothing new, so the channel's count of messages is
                    # not theirs: each board keeps its own (at most 30
                    # edits a minute)
                    f"{base}/messages{place.lane()}",
                    f"{state.channel}#edits{place.lane()}",
                )
        return Aim(payload, thread_id, None, state.key, state.channel, making)

    def learn(
        self, state: LaneState, aim: Aim, outcome: Outcome, wall: float
    ) -> bool:
        """
        Take in *outcome* of a request sent as *aim*.

        Keeps the ids a post made, and notes a place used. Returns
        ``True`` when the batch should be sent again another way (once:
        the place it aimed at is forgotten, or threads are off for the
        destination), ``False`` when the outcome stands.
        """
        place = state.place
        assert place is not None
        assert state.destination is not None
        dest = destination_id(state.destination)
        code = outcome.code
        if outcome.kind == "sent":
            self._sent(place, dest, aim, outcome.body, wall)
            return False
        if aim.edit is not None and (
            code in (UNKNOWN_MESSAGE, OLD_MESSAGE_EDITS)
            or (outcome.status == 404 and code is None)
        ):
            # deleted, or too old to edit often: post it anew
            self.places.forget((BOARD, dest, _board_key(place)))
            return True
        if aim.making and code == THREADS_ONLY_IN_FORUMS:
            self._flat.add(dest)
            self._warn(
                f"flat:{dest}",
                f"{_without_place(state.label)} is not a forum channel: a "
                "webhook can make threads only in a forum, so messages "
                "for its threads go into the channel with the thread's "
                "name in their author line. Make it a forum channel "
                "(type: forum), or name an existing thread with "
                "thread_id:",
            )
            return True
        if (
            aim.thread_id is not None
            and code == UNKNOWN_CHANNEL
            and place.thread is not None  # one we made: make it again
        ):
            self.places.forget((THREAD, dest, place.thread))
            return True
        return False

    def _sent(
        self,
        place: Place,
        dest: str,
        aim: Aim,
        body: Any,
        wall: float,
    ) -> None:
        """Keep what a post made (its ids), or note a place used."""
        message = body if isinstance(body, dict) else {}
        made_id = _snowflake(message.get("id"))
        channel_id = _snowflake(message.get("channel_id"))
        thread_id = aim.thread_id
        if place.thread is not None:
            known = self.places.get(THREAD, dest, place.thread, wall)
            if known is not None:
                self.places.used(known, wall)
            elif aim.making and channel_id is not None:
                thread_id = channel_id
                made = Posted(THREAD, dest, place.thread, channel_id)
                self.places.put(_at(made, wall), wall)
        if place.board is None:
            return
        key = _board_key(place)
        if aim.edit is not None:
            known = self.places.get(BOARD, dest, key, wall)
            if known is not None:
                self.places.used(known, wall)
        elif made_id is not None:
            made = Posted(BOARD, dest, key, made_id, thread_id or "")
            self.places.put(_at(made, wall), wall)


def _at(posted: Posted, wall: float) -> Posted:
    """*posted*, posted and used at *wall* time."""
    return dataclasses.replace(posted, at=wall, used=wall)


def _board_key(place: Place) -> str:
    """A board's key, within its thread if it is in one."""
    assert place.board is not None
    within = place.thread or place.thread_id
    return place.board if within is None else f"{within}\x00{place.board}"


def _in_author(payload: dict[str, Any], name: str) -> dict[str, Any]:
    """*payload* with the thread's *name* leading each embed's author."""
    embeds = []
    for embed in payload.get("embeds", []):
        author = dict(embed.get("author") or {})
        old = author.get("name")
        said = f"{name} · {old}" if old else name
        author["name"] = clamp(said, MAX_AUTHOR_NAME)
        embeds.append({**embed, "author": author})
    return {**payload, "embeds": embeds}


def _snowflake(value: Any) -> str | None:
    """An id from Discord's answer, if it is one."""
    if isinstance(value, str) and snowflake_problem(value) is None:
        return value
    return None


def _without_place(label: str) -> str:
    """A lane's label without its place: the channel, for people."""
    return label.partition(" (")[0]
