"""
``board:``, ``thread:``, ``thread_id:``, ``identity:``: place and name.

Where in its channel a route's message goes, and who it says it is
from. A board key and a thread name are templates (rendered plain); a thread
id is an existing thread's id, never templated; an identity is a
username and an avatar URL, both templates, each held to Discord's rules
when it is constant. What the route's channels can take is checked here
too, for the channels ``to:`` names outright: a forum takes no message
without a thread (Discord error 220001), and a bot posts under its own
name and into a thread only by its id.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from polybot_loghandler._limits import MAX_THREAD_NAME, MAX_URL, MAX_USERNAME
from polybot_loghandler._model import Channel, Identity
from polybot_loghandler._templates import Text, is_template
from polybot_loghandler._text import is_http_url, redact_text
from polybot_loghandler._yaml import KeyPath

from .checker import Checker
from .words import number_text, shown

__all__ = [
    "FORBIDDEN_NAMES",
    "PLACE_KEYS",
    "PlaceChecker",
    "PlaceKeys",
    "refused_username",
]

#: A route's keys checked here.
PLACE_KEYS = ("board", "thread", "thread_id", "identity")
#: Words Discord refuses in a webhook message's username, in any case.
FORBIDDEN_NAMES = ("discord", "clyde")
#: Said of a target that a bot posts to, in every problem about one.
_BOT = "a bot-token channel ({id: ...})"


def refused_username(name: str) -> str | None:
    """The word of :data:`FORBIDDEN_NAMES` in *name*, if one is there."""
    lowered = name.lower()
    return next((w for w in FORBIDDEN_NAMES if w in lowered), None)


class PlaceKeys(NamedTuple):
    """What a route's place and identity keys made."""

    board: Text | None = None
    thread: Text | None = None
    thread_id: str | None = None
    identity: Identity | None = None


class PlaceChecker(Checker):
    """Checks a route's board, thread, thread id and identity."""

    def places(
        self,
        table: Mapping[str, Any],
        path: KeyPath,
        channels: Mapping[str, Channel],
    ) -> PlaceKeys:
        """
        The place and identity keys of the route *table* at *path*.

        Each part with a problem is told, and left out.
        """
        board = self.text(table, path, "board")
        thread = self.text(table, path, "thread")
        if (
            thread is not None
            and thread.constant is not None
            and len(thread.source.strip()) > MAX_THREAD_NAME
        ):
            self.problem(
                (*path, "thread"),
                f"a thread name is at most {MAX_THREAD_NAME} "
                "characters (Discord's limit)",
            )
        thread_id = None
        if table.get("thread_id") is not None:
            thread_id = self.thread_id(
                table["thread_id"], (*path, "thread_id")
            )
            if "thread" in table and table["thread"] is not None:
                self.problem(
                    (*path, "thread_id"),
                    "give either 'thread' (a thread made by name) or "
                    "'thread_id' (an existing thread), not both",
                )
        identity = self.identity(table.get("identity"), (*path, "identity"))
        self.targets(table, path, channels)
        return PlaceKeys(board, thread, thread_id, identity)

    def text(
        self, table: Mapping[str, Any], path: KeyPath, key: str
    ) -> Text | None:
        """The template of *key*, rendered plain (``board``, ``thread``)."""
        if table.get(key) is None:
            return None
        return self.template(table[key], (*path, key), mode="plain")

    def thread_id(self, value: Any, path: KeyPath) -> str | None:
        """An existing thread's id: a Discord id, never a template."""
        if isinstance(value, int) and not isinstance(value, bool):
            value = number_text(value) or shown(value)
        text = self.string(value, path, "a thread id")
        if text is None:
            return None
        if is_template(text):
            self.problem(
                path,
                "a thread id is an existing thread's id, not a template "
                "(to choose a thread by the event, name it with thread:)",
            )
            return None
        return self.discord_id(text.strip(), path, "thread", text)

    def identity(self, data: Any, path: KeyPath) -> Identity | None:
        """``identity: {username, avatar_url}``: at least one of them."""
        if data is None:
            return None
        table = self.mapping(
            data, path, "identity ({username: ..., avatar_url: ...})"
        )
        if table is None:
            return None
        self.keys(table, path, ("username", "avatar_url"))
        if table.get("username") is None and table.get("avatar_url") is None:
            self.problem(path, "give a username, an avatar_url or both")
            return None
        username = avatar = None
        if table.get("username") is not None:
            where = (*path, "username")
            username = self.template(table["username"], where, mode="plain")
            if username is not None and username.constant is not None:
                self.username(username.source.strip(), where)
        if table.get("avatar_url") is not None:
            where = (*path, "avatar_url")
            avatar = self.template(table["avatar_url"], where, mode="raw")
            if avatar is not None and avatar.constant is not None:
                self.avatar_url(avatar.source.strip(), where)
        return Identity(username=username, avatar_url=avatar)

    def username(self, name: str, path: KeyPath) -> None:
        """Tell a constant username that Discord would refuse."""
        if not 1 <= len(name) <= MAX_USERNAME:
            self.problem(
                path,
                f"a username is 1 to {MAX_USERNAME} characters, not "
                f"{len(name)} (Discord refuses others)",
            )
            return
        word = refused_username(name)
        if word is not None:
            self.problem(
                path,
                f"a username must not contain '{word}' (in any case): "
                "Discord refuses it; choose another name",
            )

    def avatar_url(self, url: str, path: KeyPath) -> None:
        """Tell a constant avatar URL that Discord would refuse."""
        hidden = redact_text(url)
        if hidden != url:
            self.problem(
                path,
                "this URL holds a webhook or bot token, which every "
                "message would show; use a picture's URL",
            )
        elif not is_http_url(url):
            self.problem(
                path,
                f"must be an http(s) URL, not {shown(url)} (no spaces; "
                "percent-encode other characters)",
            )
        elif len(url) > MAX_URL:
            self.problem(
                path,
                f"an avatar URL is at most {MAX_URL:,} characters, not "
                f"{len(url):,}",
            )

    def targets(
        self,
        table: Mapping[str, Any],
        path: KeyPath,
        channels: Mapping[str, Channel],
    ) -> None:
        """
        Tell what the channels ``to:`` names outright cannot take.

        A forum needs a thread; a bot's channel takes no identity and no
        thread made by name. A templated target is chosen per event and
        cannot be told here.
        """
        data = table.get("to")
        items = data if isinstance(data, list) else [data]
        threaded = any(
            table.get(k) is not None for k in ("thread", "thread_id")
        )
        bots: list[str] = []
        for n, key in enumerate(items):
            if not isinstance(key, str) or is_template(key):
                continue
            if key in self.file.bot_channels:
                bots.append(key)
            channel = channels.get(key)
            if channel is None or not channel.forum or threaded:
                continue
            where: KeyPath = (*path, "to")
            if isinstance(data, list):
                where = (*where, n)
            self.problem(
                where,
                f"'{key}' is a forum channel (type: forum), where every "
                "message goes into a thread (a post), and Discord "
                "refuses one without (error 220001): give this route "
                "thread: (the post's name, a template) or thread_id: "
                "(an existing post's id)",
            )
        if table.get("thread") is not None:
            self._text_threads(items, path, channels)
        if not bots:
            return
        if table.get("identity") is not None:
            self.problem(
                (*path, "identity"),
                f"'{bots[0]}' is {_BOT}: a bot posts under its own name "
                "and picture, so identity: cannot apply (remove it, or "
                "send to a webhook channel)",
            )
        if table.get("thread") is not None and table.get("thread_id") is None:
            self.problem(
                (*path, "thread"),
                f"'{bots[0]}' is {_BOT}, and a bot's messages cannot "
                "start a thread by name here: give thread_id: (an "
                "existing thread's id, which a bot posts into), or send "
                "to a webhook channel",
            )

    def _text_threads(
        self,
        items: list[Any],
        path: KeyPath,
        channels: Mapping[str, Channel],
    ) -> None:
        """Note a ``thread:`` to a webhook channel not declared a forum."""
        for key in items:
            if not isinstance(key, str) or is_template(key):
                continue
            channel = channels.get(key)
            if (
                channel is None
                or channel.forum
                or channel.destination is None
                or key in self.file.bot_channels
            ):
                continue
            self.note(
                (*path, "thread"),
                f"'{key}' is not declared a forum (type: forum), and a "
                "webhook can make threads only in a forum: if it is a "
                "text channel, these messages go into it with the "
                "thread's name in their author line",
            )
            return
