"""
What ``setup`` makes in a server, of what the routing needs.

The routing's categories, channels and webhooks are made, those that
are missing: categories are matched by name, channels by name within
their category, and each channel's webhook by its name, ``Polybot``, so
running it again creates nothing. A channel is a text channel, or a
forum channel (type 15) where the routing says ``type: forum``. One
there already of the other kind is used, not made twice, and said:
Discord cannot turn one kind into the other. A dry run asks what exists
and says what it would make. The requests go through :mod:`.botapi`.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any, TextIO

from polybot_loghandler._model import Channel, Config

from .botapi import MANAGE_WEBHOOKS, BotApi, bot_api
from .botapi import not_discords as _not_discords

__all__ = ["SetupResult", "run_setup"]

WEBHOOK_NAME = "Polybot"
GUILD_CATEGORY = 4
GUILD_TEXT = 0
GUILD_FORUM = 15
#: The channel types a routing's channel can be, by ``Channel.forum``.
_KIND = {False: GUILD_TEXT, True: GUILD_FORUM}
PUBLIC_WEBHOOK_BASE = "https://discord.com/api/webhooks"


@dataclass(slots=True)
class SetupResult:
    """
    What set-up did (or, in a dry run, would do).

    Attributes:
        created: Lines naming what was (or would be) created.
        found: How many categories, channels and webhooks already existed.
        left_alone: Names of the guild's channels the routing does not name.
        webhooks: Channel key → webhook URL, in routing order.
        mismatched: What to tell of each channel there already of the
            other kind (a text channel the routing says is a forum, or
            the reverse), which was used as it is.
    """

    created: list[str] = field(default_factory=list)
    found: dict[str, int] = field(default_factory=dict)
    left_alone: list[str] = field(default_factory=list)
    webhooks: dict[str, str] = field(default_factory=dict)
    mismatched: list[str] = field(default_factory=list)


class _Progress:
    """One updating line on a terminal's stderr; silent otherwise."""

    def __init__(self, stream: TextIO, total: int) -> None:
        self._stream = stream
        self._on = stream.isatty()
        self._total = total
        self._done = 0

    def step(self, what: str) -> None:
        self._done += 1
        if self._on:
            line = f"[{self._done}/{self._total}] {what}"[:78]
            self._stream.write(f"\r\033[K{line}")
            self._stream.flush()

    def end(self) -> None:
        if self._on:
            self._stream.write("\r\033[K")
            self._stream.flush()


def run_setup(
    config: Config,
    guild_id: str,
    *,
    dry_run: bool = False,
    version: str = "0",
    progress: TextIO | None = None,
) -> SetupResult:
    """
    Create what the routing needs in guild *guild_id*; see the module.

    Raises:
        SetupError: A problem to report to a person (bad token, missing
            permission, unknown guild, a Discord limit).
    """
    with bot_api(version) as api:
        return _Setup(api, config, guild_id, dry_run=dry_run).run(
            _Progress(progress or sys.stderr, len(config.channels))
        )


class _Setup:
    def __init__(
        self, api: BotApi, config: Config, guild_id: str, *, dry_run: bool
    ) -> None:
        self.api = api
        self.config = config
        self.guild = guild_id
        self.dry_run = dry_run
        self.result = SetupResult()
        self.found = self.result.found
        self._ids = 0

    def _count(self, what: str) -> None:
        self.found[what] = self.found.get(what, 0) + 1

    def _planned(self) -> str:
        self._ids += 1
        return f"(new {self._ids})"

    def run(self, progress: _Progress) -> SetupResult:
        existing = self.api.listing(
            f"/guilds/{self.guild}/channels",
            doing=f"list the channels of server {self.guild}",
            holds="list of channels",
            permission=None,
        )
        channels = [c for c in existing if isinstance(c, dict)]
        categories = self._categories(channels)
        used: set[str] = set(categories.values())
        try:
            for channel in self.config.channels.values():
                progress.step(f"#{channel.name}")
                parent = (
                    categories[channel.category] if channel.category else None
                )
                channel_id = self._channel(channel, parent, channels)
                used.add(channel_id)
                self._webhook(channel, channel_id)
        finally:
            progress.end()
        self.result.left_alone = [
            str(c.get("name"))
            for c in channels
            if c.get("id") not in used and c.get("type") != GUILD_CATEGORY
        ]
        return self.result

    def _create(
        self, body: dict[str, Any], doing: str
    ) -> dict[str, Any] | None:
        self.result.created.append(doing)
        if self.dry_run:
            return None
        path = f"/guilds/{self.guild}/channels"
        made = self.api.create(path, body, doing=doing, holds="channel")
        if "id" not in made:
            raise _not_discords(doing, "no channel in it")
        return made

    def _categories(self, channels: list[dict[str, Any]]) -> dict[str, str]:
        ids: dict[str, str] = {}
        for name in dict.fromkeys(
            c.category for c in self.config.channels.values() if c.category
        ):
            found = next(
                (
                    c
                    for c in channels
                    if c.get("type") == GUILD_CATEGORY
                    and c.get("name") == name
                ),
                None,
            )
            if found is not None:
                self._count("categories")
                ids[name] = str(found["id"])
                continue
            made = self._create(
                {"name": name, "type": GUILD_CATEGORY},
                f"create category {name}",
            )
            ids[name] = str(made["id"]) if made else self._planned()
        return ids

    def _channel(
        self,
        channel: Channel,
        parent: str | None,
        channels: list[dict[str, Any]],
    ) -> str:
        kind = _KIND[channel.forum]
        same = [
            c
            for c in channels
            if c.get("type") in (GUILD_TEXT, GUILD_FORUM)
            and c.get("name") == channel.name
            and c.get("parent_id") == parent
        ]
        # one of the kind the routing says, else one of the other kind:
        # never a second channel of the same name beside it
        found = next((c for c in same if c.get("type") == kind), None)
        if found is None and same:
            found = same[0]
            self.result.mismatched.append(_mismatch(channel))
        if found is not None:
            self._count("channels")
            return str(found["id"])
        body: dict[str, Any] = {"name": channel.name, "type": kind}
        if parent is not None:
            body["parent_id"] = parent
        if channel.topic:
            body["topic"] = channel.topic
        where = f" in {channel.category}" if channel.category else ""
        what = " (a forum)" if channel.forum else ""
        made = self._create(
            body, f"create channel #{channel.name}{where}{what}"
        )
        return str(made["id"]) if made else self._planned()

    def _webhook(self, channel: Channel, channel_id: str) -> None:
        doing = f"create the webhook of #{channel.name}"
        if channel_id.startswith("(new"):
            self.result.created.append(doing)
            return
        path = f"/channels/{channel_id}/webhooks"
        hooks = self.api.listing(
            path,
            doing=f"list the webhooks of #{channel.name}",
            holds="list of webhooks",
            permission=MANAGE_WEBHOOKS,
        )
        found = next(
            (
                h
                for h in hooks
                if isinstance(h, dict)
                and h.get("name") == WEBHOOK_NAME
                and h.get("token")
            ),
            None,
        )
        if found is not None:
            self._count("webhooks")
        else:
            self.result.created.append(doing)
            if self.dry_run:
                return
            body = {"name": WEBHOOK_NAME}
            found = self.api.create(path, body, doing=doing, holds="webhook")
            if not (found.get("url") or ("id" in found and "token" in found)):
                raise _not_discords(doing, "no webhook in it")
        self.result.webhooks[channel.key] = _webhook_url(found)


def _mismatch(channel: Channel) -> str:
    """What to tell of *channel*, there already as the other kind."""
    name = f"#{channel.name}"
    if channel.forum:
        return (
            f"{name} is a text channel, but the routing makes it a forum "
            f"(channels.{channel.key}.type: forum). Discord cannot turn "
            "a text channel into a forum, so its webhook is used as it "
            "is: messages meant for a thread go into the channel, with "
            "the thread's name in their author line. For forum posts, "
            f"rename or delete {name} in Discord and run setup again: "
            "it then makes a forum channel."
        )
    return (
        f"{name} is a forum channel, but the routing makes it a text "
        "channel. In a forum every message goes into a post, and "
        "Discord refuses the messages of a channel the routing does not "
        f"call a forum (error 220001). Say channels.{channel.key}.type: "
        "forum in the routing and give its routes thread:, or rename "
        f"{name} in Discord and run setup again: it then makes a text "
        "channel."
    )


def _webhook_url(hook: dict[str, Any]) -> str:
    url = hook.get("url")
    if isinstance(url, str) and url:
        return url
    return f"{PUBLIC_WEBHOOK_BASE}/{hook['id']}/{hook['token']}"
