"""
``channels:``: where messages go (webhooks and bot channels), by key.

A channel is a webhook URL, ``{webhook: URL}`` or ``{id: CHANNEL_ID}``
(sent by a bot), each maybe from ``${VAR}``; the long form may say
``type: forum`` (every message goes into a thread, so only a webhook
can post there: a bot starts threads through endpoints this library
does not use). A URL that is not a webhook
is told with its token hidden, and a variable that many channels share
(the shipped routing gives 37 channels ``${DISCORD_WEBHOOK_URL}`` as
their fallback) is told once, with how many channels use it.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any
from urllib.parse import urlsplit

from polybot_loghandler._model import (
    WEBHOOK_PATH,
    BotChannelDestination,
    Channel,
    Destination,
    WebhookDestination,
)
from polybot_loghandler._text import REDACTED, redact_text
from polybot_loghandler._yaml import KeyPath

from .checker import Checker, RoutingFile
from .words import did_you_mean, number_text, shown, word_of

#: A channel key, as routes name it: a word, maybe with dashes.
_CHANNEL_KEY = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]*$")
#: The longest URL a message quotes (longer than other values: a
#: webhook URL, its token hidden, is about 70 characters).
_SHOWN_URL = 100


class ChannelChecker(Checker):
    """Checks ``channels:`` and makes each channel's destination."""

    def __init__(self, file: RoutingFile) -> None:
        super().__init__(file)
        # a variable that is not a webhook URL: its problem (the index in
        # problems, the text) and how many channels it is the value of
        self.bad_variables: dict[str, tuple[int, str]] = {}
        self.bad_uses: Counter[str] = Counter()

    def channels(self, data: Any) -> dict[str, Channel]:
        path: KeyPath = ("channels",)
        if data is None:
            return {}
        table = self.mapping(data, path, "channels")
        if table is None:
            return {}
        out: dict[str, Channel] = {}
        for key, spec in table.items():
            where = (*path, key)
            if not _CHANNEL_KEY.match(key):
                self.problem(
                    where, "channel keys use letters, digits, '_' and '-' only"
                )
                continue
            channel = self.channel(key, spec, where)
            if channel is not None:
                out[key] = channel
        self.told_variables()
        return out

    def channel(self, key: str, spec: Any, path: KeyPath) -> Channel | None:
        name = key.replace("_", "-").lower()
        if spec is None or isinstance(spec, str):
            hook = self.webhook(spec or "", path)
            return Channel(key=key, name=name, destination=hook)
        table = self.mapping(
            spec,
            path,
            "a channel (a webhook URL, {webhook: URL} or {id: CHANNEL_ID})",
        )
        if table is None:
            return None
        self.keys(
            table,
            path,
            ("webhook", "id", "name", "category", "topic", "type"),
        )
        if "webhook" in table and "id" in table:
            self.problem(path, "give either 'webhook' or 'id', not both")
            return None
        if "id" in table:
            self.file.bot_channels.add(key)
        forum = self.forum(table, path)
        dest: Destination | None = None
        if "id" in table:
            dest = self.bot_channel(table["id"], (*path, "id"))
        elif table.get("webhook") is not None:
            url = self.string(table["webhook"], (*path, "webhook"), "webhook")
            dest = self.webhook(url or "", (*path, "webhook"))
        meta: dict[str, str | None] = {}
        for part in ("name", "category", "topic"):
            value = table.get(part)
            meta[part] = (
                None if value is None else self.string(value, (*path, part))
            )
        if meta["topic"] and len(meta["topic"]) > 1024:
            self.problem(
                (*path, "topic"), "a channel topic is at most 1024 characters"
            )
        return Channel(
            key=key,
            name=meta["name"] or name,
            destination=dest,
            category=meta["category"],
            topic=meta["topic"],
            forum=forum,
        )

    def forum(self, table: dict[str, Any], path: KeyPath) -> bool:
        """Whether the channel is a forum (``type: forum``)."""
        kind = table.get("type", "text")
        where = (*path, "type")
        if kind not in ("text", "forum"):
            self.problem(
                where,
                f"must be text or forum, not {shown(kind)}"
                f"{did_you_mean(word_of(kind), ('text', 'forum'))}",
            )
            return False
        if kind == "forum" and "id" in table:
            self.problem(
                where,
                "a forum channel takes a webhook, not an 'id': a bot "
                "starts a forum post through channel thread endpoints "
                "this library does not use (give the forum's webhook: "
                "{webhook: URL, type: forum})",
            )
            return False
        return bool(kind == "forum")

    def webhook(self, raw: str, path: KeyPath) -> WebhookDestination | None:
        url = self.env(raw, path)
        if not url:
            return None
        parts = urlsplit(url)
        wrong = _webhook_mistake(url)
        if wrong:
            self.bad_webhook(url, path, wrong)
            return None
        found = WEBHOOK_PATH.search(parts.path)
        return WebhookDestination(
            url=url, webhook_id=found.group(1) if found else None
        )

    def bad_webhook(self, url: str, path: KeyPath, wrong: str) -> None:
        """
        Report a destination that is not a webhook URL, once per variable.

        A value wholly from one variable (``${DISCORD_WEBHOOK_URL}``,
        which the shipped routing gives 37 channels as their fallback)
        is one mistake, reported at its first channel with the number of
        channels that use it.
        """
        name = self.sole_variable(path, url)
        quoted = _url_shown(url)
        if name is None:
            self.problem(
                path, f"not a webhook URL: {quoted} ({wrong}; {_WEBHOOK_RULE})"
            )
            return
        self.bad_uses[name] += 1
        if name in self.bad_variables:
            return
        self.problem(
            path,
            f"${name} is not a webhook URL: {quoted} ({wrong}; "
            f"{_WEBHOOK_RULE})",
        )
        self.bad_variables[name] = self.file.problems[-1]

    def told_variables(self) -> None:
        """Finish the variables' problems: how many channels use each."""
        for name, told in self.bad_variables.items():
            uses = self.bad_uses[name]
            if uses > 1:
                index = self.file.problems.index(told)
                where, text = told
                self.file.problems[index] = (
                    where,
                    f"{text}; it is the webhook of {uses} channels",
                )

    def bot_channel(
        self, raw: Any, path: KeyPath
    ) -> BotChannelDestination | None:
        if isinstance(raw, int) and not isinstance(raw, bool):
            raw = number_text(raw) or shown(raw)
        text = self.string(raw, path, "a channel id")
        if text is None:
            return None
        value = self.env(text, path)
        if not value:
            return None
        channel_id = self.discord_id(value, path, "channel", text)
        if channel_id is None:
            return None
        return BotChannelDestination(channel_id=channel_id)


#: What a webhook destination must be, said with every one that is not.
_WEBHOOK_RULE = (
    "a webhook URL is http:// or https:// with a host and no spaces; "
    "Discord's are https://discord.com/api/webhooks/ID/TOKEN"
)
#: Hosts whose webhook URLs are known: on these, the path must hold one.
_DISCORD_HOSTS = re.compile(
    r"^(?:(?:canary|ptb)\.)?discord(?:app)?\.com$", re.IGNORECASE
)
#: A host name as a message may show it: lower case, a top-level domain
#: of letters, or an IP address (a token, mixed case, is not one).
_HOST_NAME = re.compile(
    r"^(?:[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}|[\d.]+|localhost)(?::\d*)?$"
)
#: A word as long as a short token: a host with one may be a token.
_WORD = re.compile(r"[\w-]{8}")
_SCHEME = re.compile(r"^[A-Za-z][\w+.-]{0,19}$")
#: The start of a webhook's path, up to where its token begins.
_HOOK_START = re.compile(r"/webhooks/\d*/?", re.IGNORECASE)


def _webhook_mistake(url: str) -> str:
    """
    What makes *url* not a webhook destination, or ``""`` if nothing.

    Any http(s) URL with a host is accepted (a proxy, a test server);
    on Discord's own hosts the path must also hold an id and a token,
    which Discord needs.
    """
    parts = urlsplit(url)
    if not parts.scheme and not url.startswith("//"):
        return "it has no scheme"
    if parts.scheme not in ("http", "https"):
        return f"its scheme is {parts.scheme!r}"
    if not parts.hostname:
        return "it has no host"
    if any(ch.isspace() for ch in url):
        return "it has a space"
    if _DISCORD_HOSTS.match(parts.hostname) and not WEBHOOK_PATH.search(
        parts.path
    ):
        return "its path has no /api/webhooks/ID/TOKEN"
    return ""


def _url_shown(url: str) -> str:
    """
    *url* for a message: its scheme and host as they are, secrets hidden.

    What follows ``/webhooks/ID/`` is the token; any other path may hold
    one too, so only a webhook path is shown, up to its token. A host
    that does not look like one (a token pasted alone) is hidden too.
    """
    scheme, sep, rest = url.partition("://")
    if not sep or not _SCHEME.match(scheme):
        scheme, sep, rest = "", "", url
    host, slash, path = rest.partition("/")
    host = host.rpartition("@")[2]  # never user:password
    if not _HOST_NAME.match(host) and _WORD.search(host):
        host = REDACTED  # it may be a token
    path = slash + path
    found = _HOOK_START.search(path)
    if found:
        path = path[: found.end()] + (REDACTED if path[found.end() :] else "")
    elif path not in ("", "/"):
        path = "/" + REDACTED
    text = repr(redact_text(f"{scheme}{sep}{host}{path}"))
    return text if len(text) <= _SHOWN_URL else text[: _SHOWN_URL - 1] + "…"
