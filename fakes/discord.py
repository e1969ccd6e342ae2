"""
A loopback fake of Discord's HTTP API, for tests and benchmarks.

:class:`FakeDiscord` is a real HTTP/1.1 server on ``127.0.0.1`` (an
ephemeral port) served from background threads, so code under test talks
to it over real sockets, with real timing.
It answers Execute Webhook and Create Message the way Discord does, as
described in ``shared/DISCORD-API.md`` sections 1, 4 and 6:

- ``POST /api[/v10]/webhooks/{id}/{token}`` (``?wait=true`` gives 200 and
  a message object, otherwise 204) and
  ``POST /api[/v10]/channels/{channel_id}/messages`` (``Authorization:
  Bot <token>``).
- Bodies are answered as Discord answers them: one that breaks
  Discord's published schema or limits (:func:`fakes.
  discord_schema.discord_errors`) gets 400 ``50035 Invalid Form Body``,
  an empty one 400 ``50006``. Our own stricter rules
  (:func:`~fakes.discord_schema.rule_errors`) never change the
  answer: a body that breaks them is recorded in
  :meth:`FakeDiscord.rule_violations`, for the tests to fail on.
- Who each accepted message would notify (:meth:`FakeDiscord.pings`), by
  Discord's ``allowed_mentions`` rules.
- Per-webhook rate-limit buckets with ``X-RateLimit-*`` headers and 429s,
  an optional per-channel limit (``code: 20028``), one-off global and
  Cloudflare 429s.
- Faults that can be switched on and off while clients are sending:
  error statuses, connection resets and hangs; answers trickled a byte at
  a time (:meth:`FakeDiscord.slow_loris`), redirects, bodies that are not
  Discord's (HTML from a proxy, empty, truncated JSON), 429s with any
  ``retry_after``; and a URL where nothing listens
  (:meth:`FakeDiscord.refused_url`).
- Server set-up with the bot token (section 5): ``GET``/``POST
  /api/v10/guilds/{id}/channels`` and ``GET``/``POST
  /api/v10/channels/{id}/webhooks``, with permissions that can be taken
  away (:meth:`FakeDiscord.deny`), unknown guilds (404 ``10004``) and
  Discord's limits (500 channels per guild, 50 per category, 15 webhooks
  per channel). A created webhook's ``url`` executes on this fake.
- Messages kept as they stand (:meth:`FakeDiscord.message`): with
  ``wait=true`` the answer is a Message object of Discord's
  ``MessageResponse`` shape (``id``, ``channel_id``, ``author`` with the
  ``username`` shown, ``attachments``), and ``username`` (1-80
  characters, never "discord" or "clyde": 400 ``50035``) and
  ``avatar_url`` are kept with the message.
- Edits (section "Editing, threads and files"): ``PATCH
  /api[/v10]/webhooks/{id}/{token}/messages/{message_id}[?thread_id=]``
  and a bot's ``PATCH /api/v10/channels/{channel_id}/messages/{id}``,
  bodies checked against ``IncomingWebhookUpdateRequestPartial`` /
  ``MessageEditRequestPartial`` (keys they do not name are ignored, as
  neither schema refuses them); 200 with the message, 404 ``10008`` for a
  message unknown, deleted (:meth:`FakeDiscord.delete_message`), another
  webhook's or in another channel or thread, 403 ``50005`` for a bot
  editing a webhook's, 400 ``50083`` in an archived thread, and 400
  ``30046`` past :attr:`FakeDiscord.old_message_edits` edits of a message
  older than an hour (:meth:`FakeDiscord.age_message`). The edit route
  has a rate-limit bucket of its own and no part in the channel's limit.
  Edits are listed by :meth:`FakeDiscord.edits`.
- Forums and threads: :meth:`FakeDiscord.forum` (or ``set_channel(...,
  forum=True)``, or a bot creating a type 15 channel), ``thread_name``
  creating a post (its id is its first message's), ``?thread_id=``
  posting into a thread of the webhook's channel and unarchiving it
  (:meth:`FakeDiscord.add_thread`, :meth:`FakeDiscord.archive`), codes
  ``220001`` to ``220003``, ``10003`` and ``40058``;
  :meth:`FakeDiscord.threads` and :meth:`FakeDiscord.messages_in`.
- An application (its bot's id, :attr:`FakeDiscord.application_id`):
  ``GET /users/@me`` and ``GET /oauth2/applications/@me`` (the bot token,
  else 401); Bulk Overwrite ``PUT /applications/{id}/guilds/{id}/commands``
  checked by :func:`fakes.discord_schema.command_errors` (400 ``50035``;
  ``30032`` past 100 chat-input commands; 403 ``50001`` for a guild
  without the bot, ``20012`` for another application), kept as
  :meth:`FakeDiscord.guild_commands`. :meth:`FakeDiscord.interaction` makes
  an INTERACTION_CREATE payload (a command, or a button on a message);
  ``POST /interactions/{id}/{token}/callback[?with_response=true]`` takes
  one answer (404 ``10062``, 400 ``40060``, bodies by
  :func:`~fakes.discord_schema.callback_errors`), listed by
  :meth:`FakeDiscord.interaction_responses`; its token is then a webhook of
  the application's: follow-ups (:meth:`FakeDiscord.followups`) and
  ``GET``/``PATCH``/``DELETE .../messages/@original``
  (:meth:`FakeDiscord.original_response`), 401 ``50027`` once
  :meth:`FakeDiscord.expire_interaction` expired it.
- ``multipart/form-data`` bodies: ``payload_json`` and ``files[n]``
  parts, read byte-exact into :class:`Upload` records; ``attachments``
  entries name files by placeholder (or, on an edit, kept attachments by
  id); more than 10 files answer 400 ``50035``, a file over
  :attr:`FakeDiscord.upload_limit` (10 MiB) 413 ``40005``.

Every request is recorded, thread-safely::

    with FakeDiscord() as fake:
        httpx.post(fake.webhook_url(), json=body)
        assert fake.wait_for(lambda f: len(f.embeds()) >= 1, timeout=5)

The server binds to ``127.0.0.1`` only and never contacts anything.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import email.message
import email.parser
import hashlib
import itertools
import json
import math
import re
import secrets
import select
import socket
import struct
import threading
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import parse_qsl, quote, urlsplit

from fakes.discord_schema import (
    CHAT_INPUT,
    EMPTY_MESSAGE,
    MESSAGE_CALLBACK,
    UPDATE_CALLBACK,
    Pings,
    callback_errors,
    callback_rule_errors,
    command_errors,
    discord_errors,
    edit_errors,
    edit_rule_errors,
    message_is_empty,
    pings,
    rule_errors,
)

if TYPE_CHECKING:
    from types import TracebackType

    from typing_extensions import Self

__all__ = [
    "Edit",
    "FakeDiscord",
    "Message",
    "MessageState",
    "Recorded",
    "Thread",
    "Upload",
    "rule_violation_log",
]

HOST = "127.0.0.1"
DEFAULT_BOT_TOKEN = "bot-token-for-tests"
#: Observed webhook limit: 5 requests per 2 s (DISCORD-API.md section 4).
DEFAULT_RATE_LIMIT = (5, 2.0)
#: Discord's epoch for snowflakes, in milliseconds.
DISCORD_EPOCH_MS = 1_420_070_400_000
#: Discord refuses requests over 25 MiB with 413 / 40005.
MAX_REQUEST_BYTES = 25 * 1024 * 1024
#: The default upload limit: "The file upload size limit applies to each
#: file in a request. The default limit is 10 MiB" (discord-api-docs
#: ``reference.mdx``, Uploading Files); boosted servers allow more.
UPLOAD_LIMIT = 10 * 1024 * 1024
#: ``files[0]`` to ``files[9]``: at most 10 files a message.
MAX_FILES = 10
#: Error 30046 concerns "messages older than 1 hour" ([CODES]).
OLD_MESSAGE_AGE = 3600.0
#: How many edits of a message older than an hour Discord takes before
#: 30046. Discord publishes no number: this one is ours, kept small so a
#: live board that edits one message for days meets it in tests.
OLD_MESSAGE_EDITS = 5
#: The name a webhook shows when a message sets no ``username``, and a
#: bot's; Discord refuses names containing "discord", so these do not.
WEBHOOK_NAME = "Fake Webhook"
BOT_NAME = "Fake Bot"
BOT_USER_ID = "2001"
#: Channel types (channel resource): text, category, forum.
GUILD_TEXT, GUILD_CATEGORY, GUILD_FORUM = 0, 4, 15
#: Bounds how long stop() waits for server and connection threads.
STOP_TIMEOUT = 2.0
#: How often wait_for() polls its predicate, in seconds.
POLL_INTERVAL = 0.01

RATE_LIMITED = "You are being rate limited."
CLOUDFLARE_MESSAGE = (
    "You are being blocked from accessing our API temporarily due to "
    "exceeding our rate limits frequently."
)
CHANNEL_LIMITED = "The channel you are writing has hit the write rate limit"
#: The per-channel 429 is a limit on a shared resource, not on the caller,
#: so it does not count toward the invalid-request ban (section 4).
CHANNEL_LIMIT_SCOPE = "shared"
UNKNOWN_MESSAGE = "Unknown Message"
OLD_MESSAGE_EDITS_MESSAGE = (
    "Maximum number of edits to messages older than 1 hour reached. "
    "Try again later."
)
#: Error codes 220001 to 220003, 40058, 50005 and 50083 and their messages
#: as discord-api-docs ``opcodes-and-status-codes.mdx`` lists them.
THREAD_NEEDED = (
    220001,
    "Webhooks posted to forum channels must have a thread_name or thread_id",
)
THREAD_BOTH = (
    220002,
    (
        "Webhooks posted to forum channels cannot have both a thread_name "
        "and thread_id"
    ),
)
THREAD_NOT_FORUM = (
    220003,
    "Webhooks can only create threads in forum channels",
)
FORUM_POST = (40058, "Cannot send a message in a forum channel")
NOT_YOURS = (50005, "Cannot edit a message authored by another user")
ARCHIVED = (
    50083,
    (
        "Tried to perform an operation on an archived thread, such as "
        "editing a message or adding a user to the thread"
    ),
)
CONTENT_TYPE_MESSAGE = (
    "Expected \"Content-Type\" header to be one of {'application/json', "
    "'application/x-www-form-urlencoded', 'multipart/form-data'}."
)

_WEBHOOK_ROUTE = re.compile(
    r"^/api(?:/v\d+)?/webhooks/(?P<webhook_id>[^/]+)/(?P<token>[^/]+)/?$"
)
_CHANNEL_ROUTE = re.compile(
    r"^/api(?:/v\d+)?/channels/(?P<channel_id>[^/]+)/messages/?$"
)
_WEBHOOK_MESSAGE_ROUTE = re.compile(
    r"^/api(?:/v\d+)?/webhooks/(?P<webhook_id>[^/]+)/(?P<token>[^/]+)"
    r"/messages/(?P<message_id>[^/]+)/?$"
)
_CHANNEL_MESSAGE_ROUTE = re.compile(
    r"^/api(?:/v\d+)?/channels/(?P<channel_id>[^/]+)"
    r"/messages/(?P<message_id>[^/]+)/?$"
)
#: A multipart file part's name: ``files[n]``, *n* its placeholder id.
_FILE_FIELD = re.compile(r"^files\[(?P<n>\d+)\]$")
#: Codes of Discord's ``_errors`` entries, for messages that name no
#: limit; seen in the wild (ATTACHMENT_NOT_FOUND: Cogmasters/concord#78;
#: USERNAME_INVALID_CONTAINS: Xujiayao/Discord-MC-Chat#286).
_ERROR_CODES = {
    "Attachment data not found": "ATTACHMENT_NOT_FOUND",
    "Username cannot contain": "USERNAME_INVALID_CONTAINS",
    "Must be between": "BASE_TYPE_BAD_LENGTH",
    "Command name is invalid": "APPLICATION_COMMAND_INVALID_NAME",
    "Application command names must be unique": (
        "APPLICATION_COMMANDS_DUPLICATE_NAME"
    ),
    "Required options must be placed before": (
        "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID"
    ),
}
_GUILD_CHANNELS_ROUTE = re.compile(
    r"^/api(?:/v\d+)?/guilds/(?P<guild_id>[^/]+)/channels/?$"
)
_CHANNEL_WEBHOOKS_ROUTE = re.compile(
    r"^/api(?:/v\d+)?/channels/(?P<channel_id>[^/]+)/webhooks/?$"
)
#: Discord's limits on set-up (shared/DISCORD-API.md section 5)
MAX_GUILD_CHANNELS = 500
MAX_CATEGORY_CHANNELS = 50
MAX_CHANNEL_WEBHOOKS = 15
_ERROR_LINE = re.compile(
    r"^(?:(?:schema|limit): )?(?P<path>[^:]*): (?P<message>.*)$", re.DOTALL
)
_INVALID_STATUSES = (401, 403, 429)
_USERS_ME_ROUTE = re.compile(r"^/api(?:/v\d+)?/users/@me/?$")
_APPLICATION_ME_ROUTE = re.compile(
    r"^/api(?:/v\d+)?/oauth2/applications/@me/?$"
)
_GUILD_COMMANDS_ROUTE = re.compile(
    r"^/api(?:/v\d+)?/applications/(?P<application_id>[^/]+)"
    r"/guilds/(?P<guild_id>[^/]+)/commands/?$"
)
_CALLBACK_ROUTE = re.compile(
    r"^/api(?:/v\d+)?/interactions/(?P<interaction_id>[^/]+)"
    r"/(?P<token>[^/]+)/callback/?$"
)
#: The application's id, which is its bot user's too; and its owner's.
APPLICATION_ID = BOT_USER_ID
APPLICATION_OWNER_ID = "2002"
#: How many commands of each type a guild may have: 100 chat-input, 15
#: user and 15 message commands (discord-api-docs
#: ``application-commands.mdx``, Registering a Command); more answer
#: 30032.
MAX_GUILD_COMMANDS = {CHAT_INPUT: 100, 2: 15, 3: 15}
TOO_MANY_COMMANDS = 30032
#: Discord's errors for an application's routes; 20012 is what a bot token
#: of another application gets (code list of discord-api-docs
#: ``opcodes-and-status-codes.mdx``).
MISSING_ACCESS = (50001, "Missing Access")
NOT_YOUR_APPLICATION = (
    20012,
    "You are not authorized to perform this action on this application",
)
UNKNOWN_INTERACTION = (10062, "Unknown interaction")
ACKNOWLEDGED = (40060, "Interaction has already been acknowledged.")
UNKNOWN_WEBHOOK = (10015, "Unknown Webhook")
INVALID_WEBHOOK_TOKEN = (50027, "Invalid Webhook Token")
#: Interaction types (interactions ``receiving-and-responding.mdx``).
APPLICATION_COMMAND, MESSAGE_COMPONENT, AUTOCOMPLETE = 2, 3, 4
#: The callback types each interaction type may answer with: a message
#: (4), a deferred one (5), a modal (9), an activity (12); a component's
#: also updates its message (6, 7).
_CALLBACKS_FOR = {
    APPLICATION_COMMAND: frozenset({4, 5, 9, 12}),
    MESSAGE_COMPONENT: frozenset({4, 5, 6, 7, 9, 12}),
    AUTOCOMPLETE: frozenset({8}),  # choices, and nothing else
}
DEFERRED_MESSAGE, DEFERRED_UPDATE = 5, 6
#: Message flag EPHEMERAL, kept on an interaction's messages.
EPHEMERAL = 1 << 6
#: Component type of a button.
BUTTON = 2
#: A member's permissions in the channel of an interaction, by default:
#: view channel, send messages, embed links, attach files, read message
#: history, use application commands.
MEMBER_PERMISSIONS = (
    (1 << 10) | (1 << 11) | (1 << 14) | (1 << 15) | (1 << 16) | (1 << 31)
)
#: The application's own permissions there: a member's, and manage
#: messages and webhooks.
APP_PERMISSIONS = MEMBER_PERMISSIONS | (1 << 13) | (1 << 29)
#: Every body that broke our own rules, from every fake in this process,
#: in arrival order; see :func:`rule_violation_log`.
_RULE_VIOLATIONS: list[tuple[Any, list[str]]] = []


@dataclass(frozen=True, slots=True)
class Recorded:
    """
    One request the fake received, and how it answered.

    Attributes:
        method: The HTTP method, e.g. ``POST``.
        path: The URL path, without the query string.
        headers: Request headers, names lower-cased.
        json: The decoded JSON body, or ``None`` if absent or not JSON.
        status: The status answered; ``None`` while a request hangs, or
            when the connection was reset or dropped without an answer.
        time: ``time.monotonic()`` when the request had been read.
        query: The query parameters (last value wins).
    """

    method: str
    path: str
    headers: dict[str, str]
    json: Any
    status: int | None
    time: float
    query: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Upload:
    """
    A file sent with a message: one ``files[n]`` part of a multipart body.

    Attributes:
        id: The attachment's snowflake, given by the fake.
        filename: Its name: the ``attachments`` entry's ``filename`` if
            one was sent, else the part's.
        content_type: The part's ``Content-Type``.
        data: The bytes, exactly as sent.
        description: The ``attachments`` entry's ``description``, if any.
    """

    id: str
    filename: str
    content_type: str
    data: bytes
    description: str | None = None

    @property
    def size(self) -> int:
        """The file's size in bytes."""
        return len(self.data)


@dataclass(frozen=True, slots=True)
class Message:
    """
    A message the fake accepted (answered 2xx), as it was created.

    Edits do not change it: :meth:`FakeDiscord.message` gives a message
    as it stands now.

    Attributes:
        webhook_id: The webhook it was posted to, ``None`` for a bot post.
        channel_id: The channel it landed in: a thread's id when it was
            posted into a thread.
        json: The request body (``payload_json`` of a multipart one).
        id: The message's snowflake, as returned with ``wait=true``.
        time: ``time.monotonic()`` when its request had been read.
        files: The files uploaded with it, in the order of their parts.
        parent_id: The channel the thread belongs to, when it was posted
            into a thread; else ``None``.
    """

    webhook_id: str | None
    channel_id: str
    json: dict[str, Any]
    id: str
    time: float
    files: tuple[Upload, ...] = ()
    parent_id: str | None = None

    @property
    def username(self) -> str | None:
        """The ``username`` it was posted with, if any."""
        name = self.json.get("username")
        return name if isinstance(name, str) else None

    @property
    def avatar_url(self) -> str | None:
        """The ``avatar_url`` it was posted with, if any."""
        url = self.json.get("avatar_url")
        return url if isinstance(url, str) else None

    @property
    def key(self) -> str:
        """
        Name where the message went: ``webhook:<id>`` or ``channel:<id>``.

        Returns:
            The key, stable for a destination.
        """
        if self.webhook_id is not None:
            return f"webhook:{self.webhook_id}"
        return f"channel:{self.channel_id}"


@dataclass(frozen=True, slots=True)
class Edit:
    """
    An edit the fake accepted (answered 200).

    Attributes:
        message_id: The message edited.
        webhook_id: The webhook that edited it, ``None`` for a bot.
        json: The request body (``payload_json`` of a multipart one).
        files: The files uploaded with the edit.
        time: ``time.monotonic()`` when the edit was taken.
        old: Whether the message was older than an hour then, which
            counts toward error 30046.
    """

    message_id: str
    webhook_id: str | None
    json: dict[str, Any]
    files: tuple[Upload, ...]
    time: float
    old: bool = False


@dataclass(frozen=True, slots=True)
class MessageState:
    """
    A message as it stands now, after every edit the fake accepted.

    Attributes:
        id: The message's snowflake.
        channel_id: Where it is: a thread's id for a message in a thread.
        webhook_id: The webhook that posted it, ``None`` for a bot.
        parent_id: The thread's channel, for a message in a thread.
        body: Its current ``content``, ``embeds``, ``components``,
            ``flags`` and ``poll``, as last sent.
        username: The ``username`` it was posted with (edits cannot
            change it).
        avatar_url: Likewise, its ``avatar_url``.
        attachments: Its files now.
        edits: The accepted edits, oldest first.
        deleted: Whether :meth:`FakeDiscord.delete_message` deleted it.
        age: Its age in seconds by the fake's clock (and
            :meth:`FakeDiscord.age_message`).
    """

    id: str
    channel_id: str
    webhook_id: str | None
    parent_id: str | None
    body: dict[str, Any]
    username: str | None
    avatar_url: str | None
    attachments: tuple[Upload, ...]
    edits: tuple[Edit, ...]
    deleted: bool
    age: float

    @property
    def content(self) -> str:
        """Its content now, ``""`` when it has none."""
        content = self.body.get("content")
        return content if isinstance(content, str) else ""

    @property
    def embeds(self) -> list[dict[str, Any]]:
        """Its embeds now."""
        return list(self.body.get("embeds") or ())

    @property
    def edit_count(self) -> int:
        """How many edits the fake accepted for it."""
        return len(self.edits)


@dataclass(frozen=True, slots=True)
class Thread:
    """
    A thread: made by :meth:`FakeDiscord.add_thread`, or by a webhook
    posting with ``thread_name`` in a forum channel.

    Attributes:
        id: Its snowflake; a forum post's is its first message's id.
        name: Its name.
        parent_id: The channel it belongs to.
        archived: Whether it is archived now.
        message_ids: The messages posted into it, oldest first.
    """

    id: str
    name: str
    parent_id: str
    archived: bool
    message_ids: tuple[str, ...]


@dataclass(slots=True)
class _Stored:
    """A message's changing state; guarded by the fake's lock."""

    message: Message
    body: dict[str, Any]
    files: list[Upload]
    born: float  # monotonic; age_message() moves it back
    created_at: datetime
    edits: list[Edit] = field(default_factory=list)
    old_edits: int = 0
    deleted: bool = False
    edited_at: datetime | None = None


@dataclass(slots=True)
class _Interaction:
    """An interaction :meth:`FakeDiscord.interaction` made; lock held."""

    id: str
    token: str
    type: int
    guild_id: str
    channel_id: str
    #: The message a component is on; the message type 6 and 7 update.
    message_id: str | None = None
    #: The callbacks taken (their bodies), at most one.
    responses: list[dict[str, Any]] = field(default_factory=list)
    #: A callback is being answered: another one gets 40060.
    pending: bool = False
    #: The original response's message id, once there is one.
    original: str | None = None
    followups: list[str] = field(default_factory=list)
    expired: bool = False


@dataclass(slots=True)
class _Thread:
    """A thread's changing state; guarded by the fake's lock."""

    id: str
    name: str
    parent_id: str
    archived: bool = False
    message_ids: list[str] = field(default_factory=list)

    def snapshot(self) -> Thread:
        """Copy it as a frozen :class:`Thread`."""
        return Thread(
            self.id,
            self.name,
            self.parent_id,
            self.archived,
            tuple(self.message_ids),
        )


@dataclass(frozen=True, slots=True)
class _Part:
    """One file part of a multipart body, before it has an id."""

    placeholder: str
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True, slots=True)
class _Body:
    """A request body read as Discord reads it: JSON and files."""

    payload: dict[str, Any]
    parts: tuple[_Part, ...] = ()


@dataclass(slots=True)
class _Reply:
    """What to do with one request: answer it, reset it, or drop it."""

    status: int = 0
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    action: Literal["answer", "reset", "drop", "trickle"] = "answer"
    via: bool = True  # Discord's answers pass Google's proxy; Cloudflare's not
    interval: float = 0.0  # seconds between bytes, for "trickle"


@dataclass(slots=True)
class _Fault:
    """A fault that lasts for *times* requests and/or until a deadline."""

    times: int | None = None
    until: float | None = None
    status: int = 503
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    retry_after: float = 0.0
    interval: float = 0.0

    def take(self, now: float) -> bool:
        """
        Tell whether the fault applies to a request arriving at *now*.

        Args:
            now: ``time.monotonic()`` of the request.

        Returns:
            True if it applies; a use is then counted against *times*.
        """
        if self.until is not None and now >= self.until:
            return False
        if self.times is None:
            return True
        if self.times <= 0:
            return False
        self.times -= 1
        return True


@dataclass(slots=True)
class _Window:
    """A fixed window: *used* requests until monotonic *reset_at*."""

    reset_at: float
    used: int = 0
    #: The same instant in epoch seconds, fixed so every answer agrees.
    reset_epoch: float = field(init=False)

    def __post_init__(self) -> None:
        """Fix the epoch time of the reset."""
        self.reset_epoch = time.time() + self.reset_at - time.monotonic()


@dataclass(frozen=True, slots=True)
class _Request:
    """A request as read off the socket."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    time: float


def _json_bytes(value: Any) -> bytes:
    """Encode *value* as compact JSON."""
    return json.dumps(value, separators=(",", ":")).encode()


def _ceil_ms(seconds: float) -> float:
    """Round *seconds* up to whole milliseconds, and to at least one."""
    return max(math.ceil(seconds * 1000), 1) / 1000


def _bucket_hash(key: str) -> str:
    """Make a stable, opaque bucket name like Discord's."""
    return hashlib.blake2s(key.encode(), digest_size=16).hexdigest()


def _error_code(message: str) -> str:
    """Pick a Discord-style error code for one validation message."""
    for start, code in _ERROR_CODES.items():
        if message.startswith(start):
            return code
    if "or fewer in length" in message:
        return "BASE_TYPE_MAX_LENGTH"
    if "in total across embeds" in message:
        return "MAX_EMBED_SIZE_EXCEEDED"
    if "required" in message or "missing" in message:
        return "BASE_TYPE_REQUIRED"
    if "limit" in message or "too long" in message or "maxItems" in message:
        return "BASE_TYPE_MAX_LENGTH"
    return "BASE_TYPE_INVALID"


def _error_tree(errors: list[str]) -> dict[str, Any]:
    """Arrange validation messages into Discord's ``errors`` tree."""
    tree: dict[str, Any] = {}
    for line in errors:
        found = _ERROR_LINE.match(line)
        path = found["path"] if found else "<root>"
        message = found["message"] if found else line
        node = tree
        if path != "<root>":
            for part in re.findall(r"[^.\[\]]+", path):
                node = node.setdefault(part, {})
        node.setdefault("_errors", []).append(
            {"code": _error_code(message), "message": message}
        )
    return tree


def _invalid_form(errors: dict[str, Any]) -> _Reply:
    """Build a 400 ``Invalid Form Body`` answer."""
    return _Reply(
        400,
        _json_bytes(
            {"code": 50035, "message": "Invalid Form Body", "errors": errors}
        ),
    )


def _error(status: int, code: int, message: str) -> _Reply:
    """Build a Discord error answer ``{"code": ..., "message": ...}``."""
    return _Reply(status, _json_bytes({"code": code, "message": message}))


def _peer_closed(sock: socket.socket) -> bool:
    """Tell whether the client has closed its end of *sock*."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        if not readable:
            return False
        return sock.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


class FakeDiscord:
    """
    A threaded HTTP server on ``127.0.0.1`` that behaves like Discord.

    Use it as a context manager, or call :meth:`start` and :meth:`stop`.
    Every webhook ``(id, token)`` is valid unless :meth:`set_token` or
    :meth:`delete_webhook` says otherwise.
    All methods are thread-safe and may be called while clients send.

    Faults are checked in this order, before anything else:
    reset, hang, Cloudflare 429, global 429, :meth:`fail_with` /
    :meth:`fail_for`. Faulted requests carry no rate-limit headers and do
    not use up a bucket.
    A webhook request is then checked for: an empty bucket (429, scope
    ``user``), a deleted webhook (404), a wrong token (401), a full channel
    (429, code 20028, scope ``shared``), a body Discord would refuse (400:
    ``50035``, or ``50006`` when empty; 413 for a file too large), where
    it goes (forum and thread codes); else 204/200. An edit is checked
    likewise, with a bucket of its own and no channel limit, then for the
    message (404 ``10008``) and its age (400 ``30046``). A body that breaks
    only our own rules is accepted and listed in :meth:`rule_violations`.
    Every one of these answers carries the bucket's headers, and all but
    the bucket's own 429 use up one request of it.

    Args:
        rate_limit: ``(requests, seconds)`` per webhook (and per channel for
            bot posts): a fixed window starting at the window's first
            request. ``None`` turns bucket limits and their headers off.
        channel_limit: ``(messages, seconds)`` shared by the webhooks of one
            channel, like Discord's hidden limit; off when ``None``.
        bot_token: The token ``Authorization: Bot <token>`` must carry.
    """

    def __init__(
        self,
        *,
        rate_limit: tuple[int, float] | None = DEFAULT_RATE_LIMIT,
        channel_limit: tuple[int, float] | None = None,
        bot_token: str = DEFAULT_BOT_TOKEN,
    ) -> None:
        self.rate_limit = rate_limit
        self.channel_limit = channel_limit
        self.bot_token = bot_token
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._serve_thread: threading.Thread | None = None
        self._connections: dict[threading.Thread, socket.socket] = {}
        self._stopping = False
        self._release = threading.Event()
        self._held = 0
        self._requests: list[Recorded] = []
        self._messages: list[Message] = []
        self._rejected: list[tuple[Any, list[str]]] = []
        self._violations: list[tuple[Any, list[str]]] = []
        self._invalid = 0
        self._server_errors: list[str] = []
        self._tokens: dict[str, str] = {}
        self._deleted: set[str] = set()
        self._channels: dict[str, str] = {}
        self._buckets: dict[str, _Window] = {}
        self._channel_windows: dict[str, _Window] = {}
        self._last_snowflake = 0
        self._reset: _Fault | None = None
        self._slow: _Fault | None = None
        self._halt = threading.Event()  # set by stop(): trickles end
        self._hang: _Fault | None = None
        self._cloudflare: _Fault | None = None
        self._global: _Fault | None = None
        self._fail: _Fault | None = None
        self._guilds: dict[str, list[dict[str, Any]]] = {}
        self._webhooks: dict[str, list[dict[str, Any]]] = {}
        self._denied: set[str] = set()
        self._stored: dict[str, _Stored] = {}
        self._edits: list[Edit] = []
        self._threads: dict[str, _Thread] = {}
        self._forums: set[str] = set()
        #: Edits a message older than an hour takes before 30046.
        self.old_message_edits = OLD_MESSAGE_EDITS
        #: Bytes a file may have before 413 / 40005.
        self.upload_limit = UPLOAD_LIMIT
        self.guild_channel_limit = MAX_GUILD_CHANNELS
        self.category_limit = MAX_CATEGORY_CHANNELS
        self.webhook_limit = MAX_CHANNEL_WEBHOOKS
        #: The application whose bot the token is; its bot user's id too.
        self.application_id = APPLICATION_ID
        self._commands: dict[str, list[dict[str, Any]]] = {}
        self._command_puts: list[str] = []
        self._interactions: dict[str, _Interaction] = {}
        self._interaction_tokens: dict[str, str] = {}

    # -- lifecycle -------------------------------------------------------

    def start(self) -> Self:
        """
        Bind an ephemeral port on ``127.0.0.1`` and start serving.

        Returns:
            This fake, started.

        Raises:
            RuntimeError: If it was started before.
        """
        if self._server is not None:
            raise RuntimeError("FakeDiscord can be started only once")
        self._server = _Server(self)
        self._serve_thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake_discord.server",
            daemon=True,
        )
        self._serve_thread.start()
        return self

    def stop(self) -> None:
        """
        Stop serving and close every socket and thread, promptly.

        Hung requests are released and dropped without an answer; idle
        keep-alive connections are shut down. Calling it again does
        nothing.
        """
        with self._lock:
            if self._server is None or self._stopping:
                return
            self._stopping = True
            self._release.set()
            self._halt.set()
        server = self._server
        server.shutdown()
        server.server_close()
        with self._lock:
            connections = dict(self._connections)
        for sock in connections.values():
            # already closed by its handler: nothing to wake
            with contextlib.suppress(OSError):
                # wakes a handler blocked reading the next request
                sock.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + STOP_TIMEOUT
        threads = [*connections, self._serve_thread]
        for thread in threads:
            if thread is not None:
                thread.join(max(0.0, deadline - time.monotonic()))

    def __enter__(self) -> Self:
        """
        Start the server.

        Returns:
            This fake, started.
        """
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """
        Stop the server.

        Args:
            exc_type: The exception's type, if one is propagating.
            exc: The exception, if one is propagating.
            tb: Its traceback.
        """
        self.stop()

    # -- addresses -------------------------------------------------------

    @property
    def port(self) -> int:
        """
        The port the server listens on.

        Raises:
            RuntimeError: If the fake has not been started.
        """
        if self._server is None:
            raise RuntimeError("FakeDiscord is not started")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """The base URL, ``http://127.0.0.1:PORT``."""
        return f"http://{HOST}:{self.port}"

    @property
    def api_base(self) -> str:
        """The API base for bot requests, ``http://127.0.0.1:PORT/api/v10``."""
        return f"{self.url}/api/v10"

    def webhook_url(
        self, webhook_id: str = "1001", token: str = "tok-a"
    ) -> str:
        """
        Build an Execute Webhook URL on this fake.

        Args:
            webhook_id: The webhook's id.
            token: The webhook's token.

        Returns:
            ``http://127.0.0.1:PORT/api/webhooks/{webhook_id}/{token}``.
        """
        return f"{self.url}/api/webhooks/{webhook_id}/{token}"

    # -- configuration ---------------------------------------------------

    def set_token(self, webhook_id: str, token: str) -> None:
        """
        Make *token* the only valid token of *webhook_id*.

        Others then answer 401 ``{"code": 50027, "message": "Invalid
        Webhook Token"}``.

        Args:
            webhook_id: The webhook's id.
            token: Its one valid token.
        """
        with self._lock:
            self._tokens[webhook_id] = token

    def delete_webhook(self, webhook_id: str) -> None:
        """
        Make *webhook_id* answer 404 ``10015 Unknown Webhook`` from now on.

        Args:
            webhook_id: The webhook's id.
        """
        with self._lock:
            self._deleted.add(webhook_id)

    def set_channel(
        self, webhook_id: str, channel_id: str, *, forum: bool = False
    ) -> None:
        """
        Put *webhook_id* in *channel_id*, for the per-channel limit.

        By default each webhook is alone in a channel with its own id.

        Args:
            webhook_id: The webhook's id.
            channel_id: The channel it posts to.
            forum: Make that channel a forum too (see :meth:`forum`).
        """
        with self._lock:
            self._channels[webhook_id] = channel_id
            if forum:
                self._forums.add(channel_id)

    def forum(self, channel_id: str) -> None:
        """
        Make *channel_id* a forum channel (type 15).

        Its webhooks must then post with ``thread_name`` (a new post) or
        ``?thread_id=`` (400 ``220001`` without either, ``220002`` with
        both), and a bot cannot post in it (400 ``40058``). A webhook's
        channel is the webhook's own id unless :meth:`set_channel` says
        otherwise; a channel a bot creates with ``type: 15`` is a forum.

        Args:
            channel_id: The channel's id.
        """
        with self._lock:
            self._forums.add(channel_id)

    def add_thread(
        self, channel_id: str, name: str = "thread", *, archived: bool = False
    ) -> str:
        """
        Make a thread in *channel_id*, for ``?thread_id=`` to post into.

        Args:
            channel_id: The channel it belongs to (text or forum).
            name: Its name.
            archived: Start it archived.

        Returns:
            The thread's id.
        """
        with self._lock:
            thread = _Thread(self._snowflake(), name, channel_id, archived)
            self._threads[thread.id] = thread
        return thread.id

    def archive(self, thread_id: str) -> None:
        """
        Archive a thread; a webhook posting into it unarchives it.

        Args:
            thread_id: The thread's id.

        Raises:
            KeyError: If the fake has no such thread.
        """
        with self._lock:
            self._threads[thread_id].archived = True

    def delete_message(self, message_id: str) -> None:
        """
        Delete a message, as someone in the channel could.

        Editing it then answers 404 ``10008 Unknown Message``.

        Args:
            message_id: The message's id.

        Raises:
            KeyError: If the fake accepted no such message.
        """
        with self._lock:
            self._stored[message_id].deleted = True

    def age_message(self, message_id: str, seconds: float) -> None:
        """
        Make a message *seconds* older, by the fake's clock.

        Once older than an hour, its edits count toward error 30046 (see
        :attr:`old_message_edits`).

        Args:
            message_id: The message's id.
            seconds: How much older.

        Raises:
            KeyError: If the fake accepted no such message.
        """
        with self._lock:
            self._stored[message_id].born -= seconds

    def add_guild(self, guild_id: str = "4000") -> str:
        """
        Make an empty guild the bot is a member of.

        Args:
            guild_id: The guild's id.

        Returns:
            The guild's id.
        """
        with self._lock:
            self._guilds.setdefault(guild_id, [])
        return guild_id

    def guild_channels(self, guild_id: str) -> list[dict[str, Any]]:
        """
        The channels of *guild_id*, as ``GET .../channels`` returns them.

        Args:
            guild_id: The guild's id.

        Returns:
            Copies of the channel objects, in creation order.
        """
        with self._lock:
            return [dict(c) for c in self._guilds.get(guild_id, [])]

    def channel_webhooks(self, channel_id: str) -> list[dict[str, Any]]:
        """
        The webhooks of *channel_id*.

        Args:
            channel_id: The channel's id.

        Returns:
            Copies of the webhook objects, in creation order.
        """
        with self._lock:
            return [dict(w) for w in self._webhooks.get(channel_id, [])]

    # -- an application: commands and interactions ------------------------

    def guild_commands(self, guild_id: str) -> list[dict[str, Any]]:
        """
        The commands registered for *guild_id* now, as Discord answers them.

        Each Bulk Overwrite (``PUT .../guilds/{id}/commands``) replaces
        them all.

        Args:
            guild_id: The guild's id.

        Returns:
            Copies of the ``ApplicationCommandResponse`` objects, in the
            order of the last overwrite.
        """
        with self._lock:
            return copy.deepcopy(self._commands.get(guild_id, []))

    def command_puts(self, guild_id: str | None = None) -> int:
        """
        Count the Bulk Overwrites the fake accepted (answered 200).

        Args:
            guild_id: Only those of this guild.

        Returns:
            The number of overwrites.
        """
        with self._lock:
            return sum(guild_id in {None, put} for put in self._command_puts)

    def interaction(
        self,
        *,
        guild_id: str,
        channel_id: str,
        user_id: str,
        username: str,
        role_ids: Sequence[str] = (),
        name: str | None = None,
        options: Mapping[str, Any] | Sequence[dict[str, Any]] | None = None,
        kind: Literal["command", "component", "autocomplete"] = "command",
        focused: str | None = None,
        custom_id: str | None = None,
        message_id: str | None = None,
        permissions: int = MEMBER_PERMISSIONS,
        locale: str = "en-US",
    ) -> dict[str, Any]:
        """
        Make an interaction, as the ``d`` of a gateway INTERACTION_CREATE.

        Its id and token are live from now on: the callback route takes
        one answer to it, and its token is a webhook of the application's
        (follow-ups, ``@original``) once answered.

        Args:
            guild_id: The guild it happens in.
            channel_id: The channel it happens in; a channel the bot made
                lends its name and type.
            user_id: The member's user id.
            username: The member's username.
            role_ids: The member's roles.
            name: A command interaction's command: the registered one's
                id is given when the guild has it.
            options: A command's options, ``{name: value}`` (``str`` gives
                type 3, ``int`` 4, ``bool`` 5, ``float`` 10), or option
                objects as Discord sends them.
            kind: ``"command"`` (a chat-input command, type 2),
                ``"component"`` (a button pressed, type 3) or
                ``"autocomplete"`` (an option being typed, type 4: it takes
                a type 8 callback, the choices, and nothing else).
            focused: An autocomplete's option being typed (its value is
                what is typed so far).
            custom_id: A component interaction's button.
            message_id: A component interaction's message, which the fake
                accepted (e.g. an original response's id): it is sent with
                the interaction, and callbacks 6 and 7 update it.
            permissions: The member's permissions in the channel.
            locale: The member's and the guild's locale.

        Returns:
            The payload, for e.g. discord.py's
            ``client._connection.parse_interaction_create``.

        Raises:
            ValueError: If *name* is missing for a command, or *custom_id*
                or *message_id* for a component.
            KeyError: If the fake has no message *message_id*.
        """
        with self._lock:
            interaction_id = self._snowflake()
            payload: dict[str, Any] = {
                "id": interaction_id,
                "application_id": self.application_id,
                "guild": {"id": guild_id, "locale": locale, "features": []},
                "guild_id": guild_id,
                "channel": self._interaction_channel(
                    guild_id, channel_id, permissions
                ),
                "channel_id": channel_id,
            }
            if kind in {"command", "autocomplete"}:
                if name is None:
                    raise ValueError("a command interaction needs its name")
                payload["type"] = (
                    APPLICATION_COMMAND if kind == "command" else AUTOCOMPLETE
                )
                payload["data"] = self._command_data(guild_id, name, options)
                for option in payload["data"].get("options", []):
                    if option["name"] == focused:
                        option["focused"] = True
            else:
                if custom_id is None or message_id is None:
                    raise ValueError(
                        "a component interaction needs custom_id and "
                        "message_id"
                    )
                payload["type"] = MESSAGE_COMPONENT
                payload["data"] = {
                    "custom_id": custom_id,
                    "component_type": BUTTON,
                }
                payload["message"] = self._shown(self._stored[message_id])
            token = _interaction_token(interaction_id)
            self._interactions[interaction_id] = _Interaction(
                interaction_id,
                token,
                payload["type"],
                guild_id,
                channel_id,
                message_id if kind == "component" else None,
            )
            self._interaction_tokens[token] = interaction_id
        joined = datetime.now(timezone.utc) - timedelta(days=30)
        payload.update(
            {
                "member": {
                    "user": _user(user_id, username),
                    "roles": list(role_ids),
                    "joined_at": joined.isoformat(),
                    "premium_since": None,
                    "deaf": False,
                    "mute": False,
                    "flags": 0,
                    "pending": False,
                    "nick": None,
                    "avatar": None,
                    "banner": None,
                    "communication_disabled_until": None,
                    "permissions": str(permissions),
                },
                "token": token,
                "version": 1,
                "app_permissions": str(APP_PERMISSIONS),
                "locale": locale,
                "guild_locale": locale,
                "entitlements": [],
                "authorizing_integration_owners": {"0": guild_id},
                "context": 0,
                "attachment_size_limit": self.upload_limit,
            }
        )
        return payload

    def interaction_responses(
        self, interaction_id: str
    ) -> list[dict[str, Any]]:
        """
        List the callbacks the fake took for an interaction: at most one.

        Args:
            interaction_id: The interaction's id.

        Returns:
            Copies of the callback bodies (``type`` and ``data``).

        Raises:
            KeyError: If the fake made no such interaction.
        """
        with self._lock:
            found = self._interactions[interaction_id]
            return copy.deepcopy(found.responses)

    def original_response(self, interaction_id: str) -> MessageState:
        """
        Tell how an interaction's original response stands now.

        That is the message a callback of type 4 or 5 made (with its
        flags, ephemeral 64 too), after every edit of ``@original``; for
        a component's callback of type 6 or 7, the component's message.

        Args:
            interaction_id: The interaction's id.

        Returns:
            A snapshot of the message, as :meth:`message` gives.

        Raises:
            KeyError: If the fake made no such interaction, or it has no
                original response.
        """
        with self._lock:
            original = self._interactions[interaction_id].original
        if original is None:
            raise KeyError(f"interaction {interaction_id} has no response")
        return self.message(original)

    def followups(self, interaction_id: str) -> list[MessageState]:
        """
        List an interaction's follow-up messages, in arrival order.

        Args:
            interaction_id: The interaction's id.

        Returns:
            Snapshots of the messages, as :meth:`message` gives.

        Raises:
            KeyError: If the fake made no such interaction.
        """
        with self._lock:
            ids = list(self._interactions[interaction_id].followups)
        return [self.message(message_id) for message_id in ids]

    def expire_interaction(self, interaction_id: str) -> None:
        """
        Let an interaction's token expire, as Discord's do after 15 min.

        A callback then answers 404 ``10062``, and its webhook (follow-
        ups, ``@original``) 401 ``50027``.

        Args:
            interaction_id: The interaction's id.

        Raises:
            KeyError: If the fake made no such interaction.
        """
        with self._lock:
            self._interactions[interaction_id].expired = True

    def deny(self, permission: str) -> None:
        """
        Take *permission* away from the bot: its requests get 403 50013.

        Args:
            permission: ``MANAGE_CHANNELS`` or ``MANAGE_WEBHOOKS``.
        """
        with self._lock:
            self._denied.add(permission)

    def reset_rate_limits(self) -> None:
        """Forget every bucket and channel window, as if time had passed."""
        with self._lock:
            self._buckets.clear()
            self._channel_windows.clear()

    def clear(self) -> None:
        """Forget recorded requests, messages, rejections and counts."""
        with self._lock:
            self._requests.clear()
            self._messages.clear()
            self._stored.clear()
            self._edits.clear()
            for thread in self._threads.values():
                thread.message_ids.clear()
            self._rejected.clear()
            self._violations.clear()
            self._invalid = 0
            self._command_puts.clear()

    # -- faults ----------------------------------------------------------

    def fail_with(
        self,
        status: int,
        times: int | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """
        Answer *status* to every request until :meth:`recover`.

        Args:
            status: The HTTP status, e.g. 503.
            times: Answer it to this many requests only.
            body: A JSON-serialisable body, or ``bytes`` sent as
                ``text/plain``; by default ``{"code": 0, "message":
                "<status>: <reason>"}``.
            headers: Extra response headers.
        """
        with self._lock:
            self._fail = _Fault(
                times=times,
                status=status,
                body=body,
                headers=dict(headers or {}),
            )

    def fail_for(self, seconds: float, status: int = 503) -> None:
        """
        Answer *status* to every request for the next *seconds*.

        Args:
            seconds: How long, from now (monotonic).
            status: The HTTP status.
        """
        with self._lock:
            self._fail = _Fault(
                until=time.monotonic() + seconds, status=status
            )

    def reset_connections(self, times: int | None = None) -> None:
        """
        Read requests, then reset their connections (TCP RST, no answer).

        Args:
            times: Reset this many requests only; all until
                :meth:`recover` when ``None``.
        """
        with self._lock:
            self._reset = _Fault(times=times)

    def reset_for(self, seconds: float) -> None:
        """
        Reset every connection that sends a request in the next *seconds*.

        Args:
            seconds: How long, from now (monotonic).
        """
        with self._lock:
            self._reset = _Fault(until=time.monotonic() + seconds)

    def hang(self, times: int | None = None) -> None:
        """
        Read requests and hold them unanswered until :meth:`recover`.

        On :meth:`recover`, a held request whose client is still waiting
        is then answered normally; one whose client gave up is dropped.
        On :meth:`stop`, held requests are dropped without an answer.

        Args:
            times: Hold this many requests only; all when ``None``.
        """
        with self._lock:
            self._hang = _Fault(times=times)

    def global_429(self, retry_after: float, times: int = 1) -> None:
        """
        Answer the next request(s) with a global 429.

        Args:
            retry_after: Seconds, for the body and ``Retry-After``.
            times: How many requests get it.
        """
        with self._lock:
            self._global = _Fault(times=times, retry_after=retry_after)

    def cloudflare_429(self, n: int = 1) -> None:
        """
        Answer the next *n* requests like a Cloudflare ban.

        That is a 429 with no rate-limit headers and body ``{"code": 0,
        "message": "You are being blocked ..."}``.

        Args:
            n: How many requests get it.
        """
        with self._lock:
            self._cloudflare = _Fault(times=n)

    def slow_loris(
        self, times: int | None = None, interval: float = 2.0
    ) -> None:
        """
        Answer one byte every *interval* seconds, without end in practice.

        The answer is a 503, so a client that waited it out would still
        retry; one that gives up at its deadline leaves the fake with
        nothing recorded as accepted. :meth:`stop` ends every trickle.

        Args:
            times: Trickle this many requests only; all when ``None``.
            interval: Seconds between bytes.
        """
        with self._lock:
            self._slow = _Fault(times=times, interval=interval)

    def redirect(
        self, status: int, location: str, times: int | None = None
    ) -> None:
        """
        Answer a redirect to *location* (another host, or another path).

        Args:
            status: 301, 302, 303, 307 or 308.
            location: The ``Location`` header.
            times: Redirect this many requests only; all when ``None``.
        """
        self.fail_with(
            status, times=times, body=b"", headers={"Location": location}
        )

    def garbage(
        self,
        status: int,
        body: bytes,
        *,
        content_type: str = "text/html",
        times: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """
        Answer *status* with a body that is not Discord's.

        Args:
            status: The HTTP status (200, 400, 429, 500, ...).
            body: The bytes, e.g. a proxy's HTML page, ``b""`` or
                ``b'{"id": '``.
            content_type: The ``Content-Type`` header.
            times: Answer it to this many requests only.
            headers: Extra response headers.
        """
        self.fail_with(
            status,
            times=times,
            body=body,
            headers={"Content-Type": content_type, **(headers or {})},
        )

    def rate_limited(
        self,
        retry_after: Any,
        *,
        header: str | None = None,
        is_global: bool = False,
        times: int | None = 1,
    ) -> None:
        """
        Answer 429 with any ``retry_after``: ``1e9``, ``-1``, NaN, "soon".

        Args:
            retry_after: The body's ``retry_after``, any JSON value (NaN
                and infinities are written as ``NaN`` and ``Infinity``).
            header: The ``Retry-After`` header, if any.
            is_global: A global 429 rather than a bucket's.
            times: Answer it to this many requests only.
        """
        headers = {"X-RateLimit-Scope": "global" if is_global else "user"}
        if is_global:
            headers["X-RateLimit-Global"] = "true"
        if header is not None:
            headers["Retry-After"] = header
        body = {
            "message": RATE_LIMITED,
            "retry_after": retry_after,
            "global": is_global,
        }
        with self._lock:
            self._fail = _Fault(
                times=times,
                status=429,
                body=json.dumps(body).encode(),
                headers={"Content-Type": "application/json", **headers},
            )

    def refused_url(
        self, webhook_id: str = "1001", token: str = "tok-a"
    ) -> str:
        """
        Build a webhook URL on a loopback port where nothing listens.

        Connecting to it is refused at once. (The port was free a moment
        ago; another process could take it, which on a test machine is
        rare enough.)

        Args:
            webhook_id: The webhook's id.
            token: The webhook's token.

        Returns:
            ``http://127.0.0.1:PORT/api/webhooks/{webhook_id}/{token}``.
        """
        return (
            f"http://{HOST}:{unused_port()}/api/webhooks/{webhook_id}/{token}"
        )

    def recover(self) -> None:
        """Clear every fault and let held requests go on."""
        with self._lock:
            self._reset = self._hang = self._cloudflare = self._slow = None
            self._global = self._fail = None
            self._release.set()
            self._release = threading.Event()

    # -- recordings ------------------------------------------------------

    @property
    def requests(self) -> list[Recorded]:
        """Every request received, in arrival order (a copy)."""
        with self._lock:
            return list(self._requests)

    @property
    def messages(self) -> list[Message]:
        """Every accepted message, in arrival order (a copy)."""
        with self._lock:
            return list(self._messages)

    @property
    def rejected(self) -> list[tuple[Any, list[str]]]:
        """``(payload, errors)`` for every body answered 400 (a copy)."""
        with self._lock:
            return list(self._rejected)

    def rule_violations(self) -> list[tuple[Any, list[str]]]:
        """
        List the bodies that broke our own rules, whatever the answer.

        Discord accepts most of them (a missing ``allowed_mentions``, a
        ``null``), so they are not 400s here either; a test of our library
        asserts this list is empty.

        Returns:
            ``(payload, errors)`` per body, in arrival order (a copy).
        """
        with self._lock:
            return list(self._violations)

    def pings(self) -> list[tuple[Message, Pings]]:
        """
        List the accepted messages that would notify anyone, and whom.

        Worked out by :func:`fakes.discord_schema.pings`: from
        ``content`` and ``allowed_mentions``, with a webhook's defaults for
        webhook messages and a bot's for bot messages.

        Returns:
            ``(message, pings)`` for each such message, in arrival order.
        """
        found = (
            (
                message,
                pings(message.json, webhook=message.webhook_id is not None),
            )
            for message in self.messages
        )
        return [(message, who) for message, who in found if who]

    @property
    def invalid_requests(self) -> int:
        """401, 403 and 429 answers, except 429s with scope ``shared``."""
        with self._lock:
            return self._invalid

    @property
    def held(self) -> int:
        """How many requests are hanging right now."""
        with self._lock:
            return self._held

    @property
    def server_errors(self) -> list[str]:
        """Tracebacks of unexpected errors in the fake itself (a copy)."""
        with self._lock:
            return list(self._server_errors)

    def embeds(
        self, webhook_id: str | None = None, channel_id: str | None = None
    ) -> list[dict[str, Any]]:
        """
        Return the embeds of accepted messages, in arrival order.

        Args:
            webhook_id: Only those posted to this webhook.
            channel_id: Only those that landed in this channel.

        Returns:
            The embed objects as sent.
        """
        return [
            embed
            for message in self.messages
            if webhook_id in {None, message.webhook_id}
            and channel_id in {None, message.channel_id}
            for embed in message.json.get("embeds") or ()
        ]

    def message(self, message_id: str) -> MessageState:
        """
        Tell how a message stands now: its body after edits, its files.

        Args:
            message_id: The message's id.

        Returns:
            A snapshot of the message.

        Raises:
            KeyError: If the fake accepted no such message.
        """
        with self._lock:
            stored = self._stored[message_id]
            message = stored.message
            return MessageState(
                id=message.id,
                channel_id=message.channel_id,
                webhook_id=message.webhook_id,
                parent_id=message.parent_id,
                body=json.loads(json.dumps(stored.body)),
                username=message.username,
                avatar_url=message.avatar_url,
                attachments=tuple(stored.files),
                edits=tuple(stored.edits),
                deleted=stored.deleted,
                age=time.monotonic() - stored.born,
            )

    def edits(self, message_id: str | None = None) -> list[Edit]:
        """
        List the edits the fake accepted, in arrival order.

        Args:
            message_id: Only those of this message.

        Returns:
            The edits (a copy).
        """
        with self._lock:
            return [
                edit
                for edit in self._edits
                if message_id in {None, edit.message_id}
            ]

    def messages_in(
        self, channel_id: str, *, threads: bool = False
    ) -> list[Message]:
        """
        List the accepted messages of one channel or thread.

        Args:
            channel_id: A channel's or a thread's id.
            threads: Also those posted into the channel's threads.

        Returns:
            The messages, in arrival order.
        """
        return [
            message
            for message in self.messages
            if message.channel_id == channel_id
            or (threads and message.parent_id == channel_id)
        ]

    def threads(self, channel_id: str | None = None) -> list[Thread]:
        """
        List the threads, in creation order.

        Args:
            channel_id: Only those of this channel.

        Returns:
            Snapshots of the threads.
        """
        with self._lock:
            return [
                thread.snapshot()
                for thread in self._threads.values()
                if channel_id in {None, thread.parent_id}
            ]

    def count(self, status: int | None = None) -> int:
        """
        Count recorded requests.

        Args:
            status: Count only those answered with this status.

        Returns:
            The number of requests.
        """
        with self._lock:
            return sum(
                status is None or status == request.status
                for request in self._requests
            )

    def wait_for(
        self, predicate: Callable[[FakeDiscord], bool], timeout: float = 5.0
    ) -> bool:
        """
        Poll *predicate* until it holds or *timeout* passes.

        Args:
            predicate: Called with this fake, e.g.
                ``lambda f: len(f.embeds()) >= 250``.
            timeout: Seconds to wait at most.

        Returns:
            Whether the predicate held.
        """
        deadline = time.monotonic() + timeout
        while not predicate(self):
            if time.monotonic() >= deadline:
                return False
            time.sleep(POLL_INTERVAL)
        return True

    # -- serving (called from connection threads) -------------------------

    def _serve(self, request: _Request, sock: socket.socket) -> _Reply:
        """Decide the answer to one request, recording it."""
        with self._lock:
            index = len(self._requests)
            self._requests.append(
                Recorded(
                    request.method,
                    request.path,
                    request.headers,
                    _decode_json(request),
                    None,
                    request.time,
                    request.query,
                )
            )
        reply = self._faulted(request, sock)
        if reply is None:
            reply = self._route(request)
        if reply.action == "answer" and reply.status != 204:
            reply.headers.setdefault("Content-Type", "application/json")
        with self._lock:
            if reply.action == "answer":
                self._requests[index] = replace(
                    self._requests[index], status=reply.status
                )
                shared = (
                    reply.headers.get("X-RateLimit-Scope")
                    == CHANNEL_LIMIT_SCOPE
                )
                if reply.status in _INVALID_STATUSES and not (
                    reply.status == 429 and shared
                ):
                    self._invalid += 1
        return reply

    def _faulted(
        self, request: _Request, sock: socket.socket
    ) -> _Reply | None:
        """Apply the faults switched on, in order."""
        now = request.time
        with self._lock:
            early = self._early_fault(now)
            if early is not None:
                return early
            release = None
            if self._hang is not None and self._hang.take(now):
                release = self._release
                self._held += 1
        if release is not None:
            release.wait()
            with self._lock:
                self._held -= 1
                stopping = self._stopping
            if stopping or _peer_closed(sock):
                return _Reply(action="drop")
            now = time.monotonic()
        with self._lock:
            if self._cloudflare is not None and self._cloudflare.take(now):
                blocked = _error(429, 0, CLOUDFLARE_MESSAGE)
                blocked.via = False
                return blocked
            if self._global is not None and self._global.take(now):
                return self._global_reply(self._global.retry_after)
            if self._fail is not None and self._fail.take(now):
                return _fail_reply(self._fail)
        return None

    def _early_fault(self, now: float) -> _Reply | None:
        """A reset or a trickle, decided at once (the lock is held)."""
        if self._reset is not None and self._reset.take(now):
            return _Reply(action="reset")
        if self._slow is not None and self._slow.take(now):
            return _slow_reply(self._slow)
        return None

    @staticmethod
    def _global_reply(retry_after: float) -> _Reply:
        """Build a global 429."""
        body = {"message": RATE_LIMITED, "retry_after": retry_after}
        return _Reply(
            429,
            _json_bytes({**body, "global": True}),
            {
                "Retry-After": str(math.ceil(retry_after)),
                "X-RateLimit-Global": "true",
                "X-RateLimit-Scope": "global",
            },
        )

    def _route(self, request: _Request) -> _Reply:
        """Serve a request that no fault caught."""
        application = self._application_route(request)
        if application is not None:
            return application
        edited = self._message_route(request)
        if edited is not None:
            return edited
        webhook = _WEBHOOK_ROUTE.match(request.path)
        if webhook:
            return self._webhook(
                request, webhook["webhook_id"], webhook["token"]
            )
        guild = _GUILD_CHANNELS_ROUTE.match(request.path)
        if guild:
            return self._guild_channels(request, guild["guild_id"])
        hooks = _CHANNEL_WEBHOOKS_ROUTE.match(request.path)
        if hooks:
            return self._channel_webhooks(request, hooks["channel_id"])
        return _error(404, 0, "404: Not Found")

    def _message_route(self, request: _Request) -> _Reply | None:
        """Serve the message routes of bots and edits; else ``None``."""
        channel = _CHANNEL_ROUTE.match(request.path)
        if channel and request.method == "POST":
            return self._bot_message(request, channel["channel_id"])
        if channel:
            return _error(405, 0, "405: Method Not Allowed")
        edit = _WEBHOOK_MESSAGE_ROUTE.match(request.path)
        if edit:
            return self._webhook_edit(
                request, edit["webhook_id"], edit["token"], edit["message_id"]
            )
        bot_edit = _CHANNEL_MESSAGE_ROUTE.match(request.path)
        if bot_edit:
            return self._bot_edit(
                request, bot_edit["channel_id"], bot_edit["message_id"]
            )
        return None

    def _webhook(
        self, request: _Request, webhook_id: str, token: str
    ) -> _Reply:
        """Serve ``/webhooks/{id}/{token}``: POST executes, GET describes."""
        if request.method not in {"GET", "POST"}:
            return _error(405, 0, "405: Method Not Allowed")
        now = time.monotonic()  # not request.time: it may have hung
        with self._lock:
            limited, headers = self._take_bucket(
                f"webhook:{webhook_id}/{token}", now
            )
            known = self._tokens.get(webhook_id, token)
            deleted = webhook_id in self._deleted
            channel_id = self._channels.get(webhook_id, webhook_id)
            channel_wait = None
            if (
                request.method == "POST"
                and limited is None
                and not deleted
                and known == token
            ):
                channel_wait = self._take_channel(channel_id, now)
        if limited is not None:
            reply = limited
        elif deleted:
            reply = _error(404, 10015, "Unknown Webhook")
        elif known != token:
            reply = _error(401, 50027, "Invalid Webhook Token")
        elif channel_wait is not None:
            reply = _channel_limited(channel_wait)
        elif request.method == "GET":
            reply = _Reply(
                200,
                _json_bytes(
                    {
                        "id": webhook_id,
                        "type": 1,
                        "channel_id": channel_id,
                        "name": WEBHOOK_NAME,
                        "token": token,
                    }
                ),
            )
        else:
            wait = request.query.get("wait", "").lower() in {"true", "1"}
            reply = self._accept(request, webhook_id, channel_id, wait=wait)
        reply.headers.update(headers)
        return reply

    def _webhook_edit(
        self, request: _Request, webhook_id: str, token: str, message_id: str
    ) -> _Reply:
        """
        Serve ``PATCH /webhooks/{id}/{token}/messages/{message_id}``.

        The route has a bucket of its own, apart from Execute Webhook's;
        an edit does not count toward the channel's message limit.
        """
        if request.method != "PATCH":
            return _error(405, 0, "405: Method Not Allowed")
        with self._lock:
            limited, headers = self._take_bucket(
                f"webhook-edit:{webhook_id}/{token}", time.monotonic()
            )
            known = self._tokens.get(webhook_id, token)
            deleted = webhook_id in self._deleted
            channel_id = self._channels.get(webhook_id, webhook_id)
        if limited is not None:
            reply = limited
        elif deleted:
            reply = _error(404, 10015, "Unknown Webhook")
        elif known != token:
            reply = _error(401, 50027, "Invalid Webhook Token")
        else:
            reply = self._edit(
                request,
                message_id,
                webhook_id,
                request.query.get("thread_id") or channel_id,
                parent=channel_id,
            )
        reply.headers.update(headers)
        return reply

    def _bot_edit(
        self, request: _Request, channel_id: str, message_id: str
    ) -> _Reply:
        """Serve ``PATCH /channels/{channel_id}/messages/{message_id}``."""
        if request.headers.get("authorization") != f"Bot {self.bot_token}":
            return _error(401, 0, "401: Unauthorized")
        if request.method != "PATCH":
            return _error(405, 0, "405: Method Not Allowed")
        with self._lock:
            limited, headers = self._take_bucket(
                f"channel-edit:{channel_id}", time.monotonic()
            )
        reply = limited or self._edit(request, message_id, None, channel_id)
        reply.headers.update(headers)
        return reply

    def _bot_refusal(
        self, request: _Request, permission: str | None
    ) -> _Reply | None:
        """401 without the bot token, 403 without *permission*."""
        if request.headers.get("authorization") != f"Bot {self.bot_token}":
            return _error(401, 0, "401: Unauthorized")
        if request.method not in {"GET", "POST"}:
            return _error(405, 0, "405: Method Not Allowed")
        if permission is not None and permission in self._denied:
            return _error(403, 50013, "Missing Permissions")
        return None

    def _guild_channels(self, request: _Request, guild_id: str) -> _Reply:
        """Serve ``/guilds/{id}/channels``: list, or create a channel."""
        posting = request.method == "POST"
        refused = self._bot_refusal(
            request, "MANAGE_CHANNELS" if posting else None
        )
        if refused is not None:
            return refused
        body = _decode_json(request) if posting else None
        with self._lock:
            channels = self._guilds.get(guild_id)
            if channels is None:
                return _error(404, 10004, "Unknown Guild")
            if not posting:
                return _Reply(200, _json_bytes(channels))
            if not isinstance(body, dict):
                return _invalid_form(_error_tree(["<root>: not an object"]))
            made = self._new_channel(guild_id, channels, body)
            if isinstance(made, _Reply):
                return made
            channels.append(made)
            return _Reply(201, _json_bytes(made))

    def _new_channel(
        self,
        guild_id: str,
        channels: list[dict[str, Any]],
        body: dict[str, Any],
    ) -> dict[str, Any] | _Reply:
        """Check a Create Guild Channel body; lock held."""
        name = body.get("name")
        kind = body.get("type", 0)
        parent = body.get("parent_id")
        problems = []
        if not isinstance(name, str) or not 1 <= len(name) <= 100:
            problems.append("name: Must be between 1 and 100 in length.")
        if kind not in (GUILD_TEXT, GUILD_CATEGORY, GUILD_FORUM):
            problems.append("type: Value is not a valid channel type.")
        topic = body.get("topic")
        most = 4096 if kind == GUILD_FORUM else 1024
        if topic is not None and (
            not isinstance(topic, str) or len(topic) > most
        ):
            problems.append(f"topic: Must be {most} or fewer in length.")
        categories = {c["id"] for c in channels if c["type"] == 4}
        if parent is not None and (
            kind == GUILD_CATEGORY or parent not in categories
        ):
            problems.append("parent_id: Invalid category.")
        if problems:
            return _invalid_form(_error_tree(problems))
        if len(channels) >= self.guild_channel_limit:
            return _error(
                400,
                30013,
                "Maximum number of guild channels reached "
                f"({self.guild_channel_limit})",
            )
        siblings = sum(1 for c in channels if c.get("parent_id") == parent)
        if parent is not None and siblings >= self.category_limit:
            return _invalid_form(
                {
                    "parent_id": {
                        "_errors": [
                            {
                                "code": "CHANNEL_PARENT_MAX_CHANNELS",
                                "message": "Maximum number of channels in "
                                f"category reached ({self.category_limit})",
                            }
                        ]
                    }
                }
            )
        channel_id = self._snowflake()
        if kind == GUILD_FORUM:
            self._forums.add(channel_id)
        return {
            "id": channel_id,
            "type": kind,
            "guild_id": guild_id,
            "name": name,
            "parent_id": parent,
            "topic": topic,
            "position": siblings,
        }

    def _channel_webhooks(self, request: _Request, channel_id: str) -> _Reply:
        """Serve ``/channels/{id}/webhooks``: list, or create a webhook."""
        refused = self._bot_refusal(request, "MANAGE_WEBHOOKS")
        if refused is not None:
            return refused
        body = _decode_json(request) if request.method == "POST" else None
        with self._lock:
            channel = next(
                (
                    c
                    for channels in self._guilds.values()
                    for c in channels
                    if c["id"] == channel_id
                ),
                None,
            )
            if channel is None:
                return _error(404, 10003, "Unknown Channel")
            hooks = self._webhooks.setdefault(channel_id, [])
            if request.method == "GET":
                return _Reply(200, _json_bytes(hooks))
            name = body.get("name") if isinstance(body, dict) else None
            if (
                not isinstance(name, str)
                or not 1 <= len(name) <= 80
                or re.search("clyde|discord", name, re.IGNORECASE)
            ):
                return _invalid_form(
                    _error_tree(["name: Invalid webhook name."])
                )
            if len(hooks) >= self.webhook_limit:
                return _error(
                    400,
                    30007,
                    "Maximum number of webhooks reached "
                    f"({self.webhook_limit})",
                )
            webhook_id = self._snowflake()
            token = hashlib.sha256(webhook_id.encode()).hexdigest()[:68]
            hook = {
                "id": webhook_id,
                "type": 1,
                "name": name,
                "channel_id": channel_id,
                "guild_id": channel["guild_id"],
                "token": token,
                "url": f"{self.url}/api/webhooks/{webhook_id}/{token}",
            }
            hooks.append(hook)
            self._tokens[webhook_id] = token
            self._channels[webhook_id] = channel_id
            return _Reply(200, _json_bytes(hook))

    # -- an application's routes (called from connection threads) --------

    def _application_route(self, request: _Request) -> _Reply | None:
        """
        Serve an application's routes; else ``None``.

        ``/webhooks/{id}/{token}[/messages/{id}]`` is an interaction's
        webhook when *id* is the application's and *token* a token
        :meth:`interaction` gave; any other goes on to the webhook routes.
        """
        path = request.path
        if _USERS_ME_ROUTE.match(path):
            return self._current_user(request)
        if _APPLICATION_ME_ROUTE.match(path):
            return self._current_application(request)
        commands = _GUILD_COMMANDS_ROUTE.match(path)
        if commands:
            return self._guild_commands_route(
                request, commands["application_id"], commands["guild_id"]
            )
        callback = _CALLBACK_ROUTE.match(path)
        if callback:
            return self._callback(
                request, callback["interaction_id"], callback["token"]
            )
        return self._interaction_route(request)

    def _interaction_route(self, request: _Request) -> _Reply | None:
        """Serve an interaction's webhook routes; else ``None``."""
        path = request.path
        found = _WEBHOOK_MESSAGE_ROUTE.match(path) or _WEBHOOK_ROUTE.match(
            path
        )
        if found is None or found["webhook_id"] != self.application_id:
            return None
        with self._lock:
            interaction_id = self._interaction_tokens.get(found["token"])
        if interaction_id is None:
            return None
        return self._interaction_webhook(
            request, interaction_id, found.groupdict().get("message_id")
        )

    def _bot_only(self, request: _Request, *methods: str) -> _Reply | None:
        """401 without the bot token, 405 for another method."""
        if request.headers.get("authorization") != f"Bot {self.bot_token}":
            return _error(401, 0, "401: Unauthorized")
        if request.method not in methods:
            return _error(405, 0, "405: Method Not Allowed")
        return None

    def _bot_user(self) -> dict[str, Any]:
        """The bot's user, as Get Current User answers it."""
        return {
            **_user(self.application_id, BOT_NAME, bot=True),
            "banner": None,
            "accent_color": None,
            "mfa_enabled": False,
            "locale": "en-US",
            "premium_type": 0,
            "email": None,
            "verified": True,
        }

    def _current_user(self, request: _Request) -> _Reply:
        """Serve ``GET /users/@me``: the bot's user."""
        refused = self._bot_only(request, "GET")
        return refused or _Reply(200, _json_bytes(self._bot_user()))

    def _current_application(self, request: _Request) -> _Reply:
        """Serve ``GET /oauth2/applications/@me``: the bot's application."""
        refused = self._bot_only(request, "GET")
        if refused is not None:
            return refused
        with self._lock:
            guilds = len(self._guilds)
        key = hashlib.sha256(self.application_id.encode()).hexdigest()
        application: dict[str, Any] = {
            "id": self.application_id,
            "name": BOT_NAME,
            "icon": None,
            "description": "",
            "type": None,
            "bot": _user(self.application_id, BOT_NAME, bot=True),
            "summary": "",
            "rpc_origins": [],
            "bot_public": True,
            "bot_require_code_grant": False,
            "verify_key": key,
            "flags": 0,
            "flags_new": "0",
            "redirect_uris": [],
            "interactions_endpoint_url": None,
            "role_connections_verification_url": None,
            "owner": _user(APPLICATION_OWNER_ID, "fake-owner"),
            "approximate_guild_count": guilds,
            "approximate_user_install_count": 0,
            "approximate_user_authorization_count": 0,
            "explicit_content_filter": 0,
            "team": None,
            "eligible_oauth2_scopes": [],
            "tags": [],
            "integration_types_config": {"0": {}},
        }
        return _Reply(200, _json_bytes(application))

    def _guild_commands_route(
        self, request: _Request, application_id: str, guild_id: str
    ) -> _Reply:
        """
        Serve ``/applications/{id}/guilds/{id}/commands``: list, overwrite.

        Another application's id answers 403 ``20012``, a guild the bot is
        not in (:meth:`add_guild`) 403 ``50001 Missing Access``, which is
        what a guild without the application answers (discord.py#8106).
        """
        refused = self._bot_only(request, "GET", "PUT")
        if refused is not None:
            return refused
        if application_id != self.application_id:
            return _error(403, *NOT_YOUR_APPLICATION)
        with self._lock:
            if guild_id not in self._guilds:
                return _error(403, *MISSING_ACCESS)
            if request.method == "GET":
                return _Reply(
                    200, _json_bytes(self._commands.get(guild_id, []))
                )
        return self._overwrite_commands(request, guild_id)

    def _overwrite_commands(self, request: _Request, guild_id: str) -> _Reply:
        """Check a Bulk Overwrite's body; if Discord takes it, keep it."""
        body = _decode_json(request)
        if body is None and request.body.strip() != b"null":
            problem = "<root>: This field is required"
            with self._lock:
                self._rejected.append((body, [problem]))
            return _invalid_form(_error_tree([problem]))
        errors = command_errors(body)
        if errors:
            with self._lock:
                self._rejected.append((body, errors))
            return _invalid_form(_error_tree(errors))
        commands: list[dict[str, Any]] = body or []
        for kind, most in MAX_GUILD_COMMANDS.items():
            if sum((c.get("type") or CHAT_INPUT) == kind for c in commands) > (
                most
            ):
                return _error(
                    400,
                    TOO_MANY_COMMANDS,
                    f"Maximum number of application commands reached ({most})",
                )
        with self._lock:
            old = self._commands.get(guild_id, [])
            made = [
                self._command_object(command, guild_id, old)
                for command in commands
            ]
            self._commands[guild_id] = made
            self._command_puts.append(guild_id)
        return _Reply(200, _json_bytes(made))

    def _command_object(
        self,
        command: dict[str, Any],
        guild_id: str,
        old: list[dict[str, Any]],
    ) -> dict[str, Any]:
        """
        Build the ``ApplicationCommandResponse`` of a command; lock held.

        A command keeps its id across overwrites: the one its ``id``
        names, else the one of its type and name.
        """
        kind = command.get("type") or CHAT_INPUT
        same = [
            c
            for c in old
            if c["id"] == str(command.get("id"))
            or (c["type"], c["name"]) == (kind, command["name"])
        ]
        permissions = command.get("default_member_permissions")
        answer: dict[str, Any] = {
            "id": same[0]["id"] if same else self._snowflake(),
            "application_id": self.application_id,
            "version": self._snowflake(),
            "default_member_permissions": (
                None if permissions is None else str(permissions)
            ),
            "type": kind,
            "name": command["name"],
            "description": command.get("description") or "",
            "guild_id": guild_id,
            "nsfw": bool(command.get("nsfw")),
            "integration_types": command.get("integration_types") or [0],
            "contexts": command.get("contexts"),
        }
        for key in ("name_localizations", "description_localizations"):
            if command.get(key) is not None:
                answer[key] = command[key]
        if command.get("options"):
            answer["options"] = _without_nulls(command["options"])
        return answer

    def _command_data(
        self,
        guild_id: str,
        name: str,
        options: Mapping[str, Any] | Sequence[dict[str, Any]] | None,
    ) -> dict[str, Any]:
        """A chat-input command interaction's ``data``; lock held."""
        registered = [
            c
            for c in self._commands.get(guild_id, [])
            if (c["type"], c["name"]) == (CHAT_INPUT, name)
        ]
        data: dict[str, Any] = {
            "id": registered[0]["id"] if registered else self._snowflake(),
            "name": name,
            "type": CHAT_INPUT,
            "guild_id": guild_id,
        }
        if options:
            data["options"] = _interaction_options(options)
        return data

    def _interaction_channel(
        self, guild_id: str, channel_id: str, permissions: int
    ) -> dict[str, Any]:
        """The partial channel an interaction carries; lock held."""
        made = next(
            (
                c
                for c in self._guilds.get(guild_id, [])
                if c["id"] == channel_id
            ),
            {},
        )
        return {
            "id": channel_id,
            "type": made.get("type", GUILD_TEXT),
            "guild_id": guild_id,
            "name": made.get("name", f"channel-{channel_id}"),
            "position": made.get("position", 0),
            "parent_id": made.get("parent_id"),
            "topic": made.get("topic"),
            "nsfw": False,
            "rate_limit_per_user": 0,
            "last_message_id": None,
            "flags": 0,
            "permissions": str(permissions),
        }

    def _shown(self, stored: _Stored) -> dict[str, Any]:
        """A message as an interaction shows it, components too; lock held."""
        shown = self._message_object(stored, {})
        shown["components"] = _numbered(stored.body.get("components") or [])
        return shown

    def _callback(
        self, request: _Request, interaction_id: str, token: str
    ) -> _Reply:
        """
        Serve ``POST /interactions/{id}/{token}/callback``.

        No bot token is needed. An interaction unknown or expired answers
        404 ``10062``, a second callback 400 ``40060``; a body Discord
        refuses 400 ``50035`` (``50006`` for an empty message); a callback
        type the interaction cannot take 400 ``50035`` too. Then 204, or
        200 and an ``InteractionCallbackResponse`` with
        ``?with_response=true``.
        """
        if request.method != "POST":
            return _error(405, 0, "405: Method Not Allowed")
        with self._lock:
            found = self._interactions.get(interaction_id)
            if found is None or found.token != token or found.expired:
                return _error(404, *UNKNOWN_INTERACTION)
            if found.responses or found.pending:
                return _error(400, *ACKNOWLEDGED)
            found.pending = True
        try:
            return self._take_callback(request, found)
        finally:
            with self._lock:
                found.pending = False

    def _take_callback(self, request: _Request, found: _Interaction) -> _Reply:
        """Check a callback's body and carry it out; *found* is claimed."""
        body = self._read(request)
        if isinstance(body, _Reply):
            return body
        payload = body.payload
        self._check_rules(payload, callback_rule_errors(payload))
        errors = _callback_problems(payload, body.parts, found.type)
        if errors:
            return self._refuse(payload, errors)
        kind: int = payload["type"]  # callback_errors checked it
        raw = payload.get("data")
        data = raw if isinstance(raw, dict) else {}
        message: dict[str, Any] | None = None
        if kind == UPDATE_CALLBACK:
            updated = self._update_component_message(found, data, body)
            if isinstance(updated, _Reply):
                return updated
            message = updated
        with self._lock:
            if kind == MESSAGE_CALLBACK:
                stored = self._store(
                    request,
                    self.application_id,
                    found.channel_id,
                    _Body(data, body.parts),
                )
                found.original = stored.message.id
                message = self._shown(stored)
            elif kind == DEFERRED_MESSAGE:
                flags = data.get("flags") or 0
                kept = {"flags": EPHEMERAL} if flags & EPHEMERAL else {}
                stored = self._store(
                    request, self.application_id, found.channel_id, _Body(kept)
                )
                found.original = stored.message.id
            elif kind in {DEFERRED_UPDATE, UPDATE_CALLBACK}:
                found.original = found.message_id
            found.responses.append(copy.deepcopy(payload))
            answer = self._callback_answer(found, kind, message)
        if request.query.get("with_response", "").lower() in {"true", "1"}:
            return _Reply(200, _json_bytes(answer))
        return _Reply(204)

    def _update_component_message(
        self, found: _Interaction, data: dict[str, Any], body: _Body
    ) -> dict[str, Any] | _Reply:
        """Apply a type 7 callback to its component's message."""
        with self._lock:
            stored = self._stored.get(found.message_id or "")
            if stored is None:
                return _error(404, 10008, UNKNOWN_MESSAGE)
            webhook_id = stored.message.webhook_id
            channel_id = stored.message.channel_id
        reply = self._apply_edit(
            _Body(data, body.parts), stored.message.id, webhook_id, channel_id
        )
        if reply.status != 200:
            return reply
        with self._lock:
            return self._shown(stored)

    def _callback_answer(
        self,
        found: _Interaction,
        kind: int,
        message: dict[str, Any] | None,
    ) -> dict[str, Any]:
        """Build an ``InteractionCallbackResponse``; lock held."""
        stored = self._stored.get(found.original or "")
        flags = (stored.body.get("flags") or 0) if stored else 0
        interaction: dict[str, Any] = {
            "id": found.id,
            "type": found.type,
            "response_message_loading": kind == DEFERRED_MESSAGE,
            "response_message_ephemeral": bool(flags & EPHEMERAL),
            "channel_id": found.channel_id,
            "guild_id": found.guild_id,
        }
        if found.original is not None:
            interaction["response_message_id"] = found.original
        answer: dict[str, Any] = {"interaction": interaction}
        if message is not None:
            answer["resource"] = {"type": kind, "message": message}
        return answer

    def _interaction_webhook(
        self, request: _Request, interaction_id: str, message_id: str | None
    ) -> _Reply:
        """
        Serve an interaction's webhook: follow-ups, and its messages.

        ``POST /webhooks/{application_id}/{token}`` sends a follow-up;
        ``GET``, ``PATCH`` and ``DELETE`` of ``.../messages/@original`` (or
        a follow-up's id) read, edit and delete. No bot token is needed.
        An expired token answers 401 ``50027``; before the interaction is
        answered, its webhook is unknown (404 ``10015``); a message that
        is not the interaction's 404 ``10008``.
        """
        with self._lock:
            found = self._interactions[interaction_id]
            expired, answered = found.expired, bool(found.responses)
            original, followups = found.original, list(found.followups)
            channel_id = found.channel_id
        if expired:
            return _error(401, *INVALID_WEBHOOK_TOKEN)
        if not answered:
            return _error(404, *UNKNOWN_WEBHOOK)
        if message_id is None:
            return self._followup(request, found, channel_id)
        target = original if message_id == "@original" else message_id
        return self._interaction_message(
            request, found, target, {original, *followups}
        )

    def _interaction_message(
        self,
        request: _Request,
        found: _Interaction,
        target: str | None,
        own: set[str | None],
    ) -> _Reply:
        """Read, edit or delete one of an interaction's messages."""
        with self._lock:
            stored = self._stored.get(target or "")
            if stored is None or stored.deleted or target not in own:
                return _error(404, 10008, UNKNOWN_MESSAGE)
            if request.method == "GET":
                return _Reply(200, _json_bytes(self._shown(stored)))
            if request.method == "DELETE":
                stored.deleted = True
                return _Reply(204)
            webhook_id = stored.message.webhook_id
            location = stored.message.channel_id
        if request.method != "PATCH":
            return _error(405, 0, "405: Method Not Allowed")
        with self._lock:
            limited, headers = self._take_bucket(
                f"webhook-edit:{self.application_id}/{found.token}",
                time.monotonic(),
            )
        if limited is not None:
            reply = limited
        else:
            body = self._read_edit(request, bot=False)
            reply = (
                body
                if isinstance(body, _Reply)
                else self._apply_edit(
                    body, stored.message.id, webhook_id, location
                )
            )
        reply.headers.update(headers)
        return reply

    def _followup(
        self, request: _Request, found: _Interaction, channel_id: str
    ) -> _Reply:
        """Serve ``POST /webhooks/{application_id}/{token}``: a follow-up."""
        if request.method != "POST":
            return _error(405, 0, "405: Method Not Allowed")
        with self._lock:
            limited, headers = self._take_bucket(
                f"webhook:{self.application_id}/{found.token}",
                time.monotonic(),
            )
        if limited is not None:
            limited.headers.update(headers)
            return limited
        wait = request.query.get("wait", "").lower() in {"true", "1"}
        made: list[_Stored] = []
        reply = self._accept(
            request, self.application_id, channel_id, wait=wait, made=made
        )
        if made:
            with self._lock:
                found.followups.append(made[0].message.id)
        reply.headers.update(headers)
        return reply

    def _bot_message(self, request: _Request, channel_id: str) -> _Reply:
        """Serve ``POST /channels/{channel_id}/messages`` for a bot."""
        expected = f"Bot {self.bot_token}"
        if request.headers.get("authorization") != expected:
            return _error(401, 0, "401: Unauthorized")
        with self._lock:
            limited, headers = self._take_bucket(
                f"channel:{channel_id}", time.monotonic()
            )
        reply = limited or self._accept(request, None, channel_id, wait=True)
        reply.headers.update(headers)
        return reply

    def _take_bucket(
        self, key: str, now: float
    ) -> tuple[_Reply | None, dict[str, str]]:
        """Use one request of bucket *key*; call with the lock held."""
        if self.rate_limit is None:
            return None, {}
        limit, window = self.rate_limit
        bucket = self._buckets.get(key)
        if bucket is None or now >= bucket.reset_at:
            bucket = self._buckets[key] = _Window(now + window)
        reset_after = _ceil_ms(bucket.reset_at - now)
        limited = None
        if bucket.used >= limit:
            limited = _Reply(
                429,
                _json_bytes(
                    {
                        "message": RATE_LIMITED,
                        "retry_after": reset_after,
                        "global": False,
                    }
                ),
                {
                    "Retry-After": str(math.ceil(reset_after)),
                    "X-RateLimit-Scope": "user",
                },
            )
        else:
            bucket.used += 1
        headers = {
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": str(limit - bucket.used),
            "X-RateLimit-Reset": f"{bucket.reset_epoch:.3f}",
            "X-RateLimit-Reset-After": f"{reset_after:.3f}",
            "X-RateLimit-Bucket": _bucket_hash(key),
        }
        return limited, headers

    def _take_channel(self, channel_id: str, now: float) -> float | None:
        """Count a message against its channel's window; lock held."""
        if self.channel_limit is None:
            return None
        limit, window = self.channel_limit
        found = self._channel_windows.get(channel_id)
        if found is None or now >= found.reset_at:
            found = self._channel_windows[channel_id] = _Window(now + window)
        if found.used >= limit:
            return _ceil_ms(found.reset_at - now)
        found.used += 1
        return None

    def _accept(
        self,
        request: _Request,
        webhook_id: str | None,
        channel_id: str,
        *,
        wait: bool,
        made: list[_Stored] | None = None,
    ) -> _Reply:
        """
        Validate a message body and record it if Discord would take it.

        The message kept is appended to *made*, when given.
        """
        body = self._read(request)
        if isinstance(body, _Reply):
            return body
        payload = body.payload
        self._check_rules(payload, rule_errors(payload))
        errors = discord_errors(payload)
        if body.parts:  # a file is something to show
            errors = [e for e in errors if e != EMPTY_MESSAGE]
        errors += _attachment_errors(payload, body.parts, {})
        if errors:
            return self._refuse(payload, errors)
        thread_id = request.query.get("thread_id")
        with self._lock:
            place = self._place(webhook_id, channel_id, payload, thread_id)
            if isinstance(place, _Reply):
                return place
            stored = self._store(request, webhook_id, place, body)
            if made is not None:
                made.append(stored)
            answer = self._message_object(stored, payload)
        if not wait:
            return _Reply(204)
        return _Reply(200, _json_bytes(answer))

    def _read(self, request: _Request) -> _Body | _Reply:
        """Read a JSON or multipart body; refuse it as Discord would."""
        content_type = request.headers.get("content-type", "")
        kind = content_type.split(";")[0].strip().lower()
        read: _Body | str | None
        if kind == "multipart/form-data":
            read = _read_form(request.body, content_type)
        elif kind == "application/json":
            payload = _decode_json(request)
            read = _Body(payload) if isinstance(payload, dict) else None
        else:
            problem = f"<root>: {CONTENT_TYPE_MESSAGE}"
            with self._lock:
                self._rejected.append(
                    (request.body.decode(errors="replace"), [problem])
                )
            return _invalid_form(
                {
                    "_errors": [
                        {
                            "code": "CONTENT_TYPE_INVALID",
                            "message": CONTENT_TYPE_MESSAGE,
                        }
                    ]
                }
            )
        if not isinstance(read, _Body):
            problem = read or "<root>: the body must be a JSON object"
            shown = request.body.decode(errors="replace")
            with self._lock:
                self._rejected.append((shown, [problem]))
            return _invalid_form(_error_tree([problem]))
        return self._check_files(read)

    def _check_files(self, body: _Body) -> _Body | _Reply:
        """Refuse more than 10 files (400) or one too large (413)."""
        problem = None
        if len(body.parts) > MAX_FILES:
            problem = f"files: Must be {MAX_FILES} or fewer in length."
        elif any(len(p.data) > self.upload_limit for p in body.parts):
            problem = f"files: over the upload limit of {self.upload_limit}"
        if problem is None:
            return body
        with self._lock:
            self._rejected.append((body.payload, [problem]))
        if problem.startswith("files: over"):
            return _error(413, 40005, "Request entity too large")
        return _invalid_form(_error_tree([problem]))

    def _refuse(self, payload: dict[str, Any], errors: list[str]) -> _Reply:
        """Record a body Discord refuses, and answer 50006 or 50035."""
        with self._lock:
            self._rejected.append((payload, errors))
        if errors == [EMPTY_MESSAGE]:
            return _error(400, 50006, "Cannot send an empty message")
        return _invalid_form(
            _error_tree([e for e in errors if e != EMPTY_MESSAGE])
        )

    def _place(
        self,
        webhook_id: str | None,
        channel_id: str,
        payload: dict[str, Any],
        thread_id: str | None,
    ) -> _Thread | str | _Reply:
        """
        Find where a new message goes: a thread, a channel, or nowhere.

        Lock held. For a webhook, by Execute Webhook's rules (webhook
        resource): ``thread_name`` only in a forum, which needs it or
        ``thread_id``; ``thread_id`` names a thread of the webhook's own
        channel, and posting unarchives it. A bot posts where it is told:
        a thread is a channel too, a forum takes no message.
        """
        if webhook_id is None:
            return self._bot_place(channel_id)
        named = payload.get("thread_name") is not None
        refused = _thread_refusal(
            forum=channel_id in self._forums,
            named=named,
            given=thread_id is not None,
        )
        if refused is not None:
            return refused
        if named:  # a new forum post: the thread shares its message's id
            name = str(payload["thread_name"])
            return _Thread(self._snowflake(), name, channel_id)
        if thread_id is None:
            return channel_id
        thread = self._threads.get(thread_id)
        if thread is None or thread.parent_id != channel_id:
            return _error(400, 10003, "Unknown Channel")
        thread.archived = False
        return thread

    def _bot_place(self, channel_id: str) -> _Thread | str | _Reply:
        """Where a bot's message goes (a thread is a channel); lock held."""
        thread = self._threads.get(channel_id)
        if thread is not None:
            thread.archived = False
            return thread
        if channel_id in self._forums:
            return _error(400, *FORUM_POST)
        return channel_id

    def _store(
        self,
        request: _Request,
        webhook_id: str | None,
        place: _Thread | str,
        body: _Body,
    ) -> _Stored:
        """Keep an accepted message; lock held."""
        if isinstance(place, _Thread):
            # a new forum post's first message shares the thread's id
            new = place.id not in self._threads
            message_id = place.id if new else self._snowflake()
            self._threads[place.id] = place
            place.message_ids.append(message_id)
            channel_id, parent_id = place.id, place.parent_id
        else:
            message_id = self._snowflake()
            channel_id, parent_id = place, None
        files = self._uploads(body, {})
        editable = _editable(body.payload)
        message = Message(
            webhook_id,
            channel_id,
            body.payload,
            message_id,
            request.time,
            tuple(files),
            parent_id,
        )
        self._messages.append(message)
        stored = _Stored(
            message,
            {k: v for k, v in editable.items() if v is not None},
            files,
            born=time.monotonic(),
            created_at=datetime.now(timezone.utc),
        )
        self._stored[message_id] = stored
        return stored

    def _uploads(
        self,
        body: _Body,
        kept: dict[str, Upload],
        *,
        edit: bool = False,
    ) -> list[Upload]:
        """
        Give a body's files their ids and metadata; lock held.

        Without ``attachments`` in the body: the files kept, then every
        file uploaded. With it, on an edit: what it lists, in its order,
        each an uploaded file's placeholder or a kept file's id ("the
        attachments array must contain all attachments that should be
        present after edit", webhook resource). On a new message, every
        file in the order of its parts, with its entry's metadata (files
        it does not list are attached too: modelled).
        """
        listed = body.payload.get("attachments")
        if not edit:
            entries = {
                str(entry.get("id")): entry
                for entry in listed or ()
                if isinstance(entry, dict)
            }
            return [
                _described(self._upload(part), entries.get(part.placeholder))
                for part in body.parts
            ]
        if not isinstance(listed, list):
            return [*kept.values(), *map(self._upload, body.parts)]
        parts = {part.placeholder: part for part in body.parts}
        files: list[Upload] = []
        for entry in listed:
            key = str(entry.get("id"))
            part = parts.pop(key, None)
            upload = self._upload(part) if part else kept[key]
            files.append(_described(upload, entry))
        return files

    def _upload(self, part: _Part) -> Upload:
        """Make an uploaded file an attachment with an id; lock held."""
        return Upload(
            self._snowflake(), part.filename, part.content_type, part.data
        )

    def _edit(
        self,
        request: _Request,
        message_id: str,
        webhook_id: str | None,
        location: str,
        *,
        parent: str | None = None,
    ) -> _Reply:
        """
        Edit a message if Discord would; *location* is where it must be.

        *parent* is the webhook's channel, for a webhook's edit: a
        ``?thread_id=`` naming a thread of another channel answers 10003.
        """
        body = self._read_edit(request, bot=webhook_id is None)
        if isinstance(body, _Reply):
            return body
        return self._apply_edit(
            body, message_id, webhook_id, location, parent=parent
        )

    def _apply_edit(
        self,
        body: _Body,
        message_id: str,
        webhook_id: str | None,
        location: str,
        *,
        parent: str | None = None,
    ) -> _Reply:
        """Apply an edit's body already read and checked (see ``_edit``)."""
        payload = body.payload
        now = time.monotonic()
        with self._lock:
            found = self._editable_message(
                message_id, webhook_id, location, parent
            )
            if isinstance(found, _Reply):
                return found
            old = now - found.born > OLD_MESSAGE_AGE
            if old and found.old_edits >= self.old_message_edits:
                return _error(400, 30046, OLD_MESSAGE_EDITS_MESSAGE)
            kept = {upload.id: upload for upload in found.files}
            errors = _attachment_errors(payload, body.parts, kept)
            if errors:
                self._rejected.append((payload, errors))
                return _invalid_form(_error_tree(errors))
            files = self._uploads(body, kept, edit=True)
            merged = {**found.body, **_editable(payload)}
            merged = {k: v for k, v in merged.items() if v is not None}
            if message_is_empty(merged, len(files)):
                self._rejected.append((payload, [EMPTY_MESSAGE]))
                return _error(400, 50006, "Cannot send an empty message")
            new = tuple(f for f in files if f.id not in kept)
            edit = Edit(message_id, webhook_id, payload, new, now, old)
            found.body, found.files = merged, files
            found.edits.append(edit)
            found.old_edits += old
            found.edited_at = datetime.now(timezone.utc)
            self._edits.append(edit)
            answer = self._message_object(found, payload)
        return _Reply(200, _json_bytes(answer))

    def _read_edit(self, request: _Request, *, bot: bool) -> _Body | _Reply:
        """Read an edit's body; refuse it as Discord would."""
        body = self._read(request)
        if isinstance(body, _Reply):
            return body
        self._check_rules(body.payload, edit_rule_errors(body.payload))
        errors = edit_errors(body.payload, bot=bot)
        return self._refuse(body.payload, errors) if errors else body

    def _editable_message(
        self,
        message_id: str,
        webhook_id: str | None,
        location: str,
        parent: str | None,
    ) -> _Stored | _Reply:
        """
        Find the message an edit names, or Discord's refusal; lock held.

        Discord looks a message up in the channel (or thread) the request
        names, so a message elsewhere, deleted, or another webhook's is
        ``10008 Unknown Message`` (a thread's message edited without its
        ``thread_id``: discord-api-docs#3519). A bot may not edit what a
        webhook posted (403 ``50005``), and nothing in an archived thread
        (400 ``50083``).
        """
        if parent is not None and location != parent:
            thread = self._threads.get(location)
            if thread is None or thread.parent_id != parent:
                return _error(400, 10003, "Unknown Channel")
        found = self._stored.get(message_id)
        if (
            found is None
            or found.deleted
            or found.message.channel_id != location
            or (
                webhook_id is not None
                and found.message.webhook_id != webhook_id
            )
        ):
            return _error(404, 10008, UNKNOWN_MESSAGE)
        if webhook_id is None and found.message.webhook_id is not None:
            return _error(403, *NOT_YOURS)
        thread = self._threads.get(location)
        if thread is not None and thread.archived:
            return _error(400, *ARCHIVED)
        return found

    def _message_object(
        self, stored: _Stored, request_body: dict[str, Any]
    ) -> dict[str, Any]:
        """
        Build the Message object Discord answers (``MessageResponse``).

        Mentions are worked out from the content now and the
        ``allowed_mentions`` of the request answered: an edit without one
        parses with the defaults, whatever the first message said
        (webhook resource, Edit Webhook Message).
        """
        message = stored.message
        webhook_id = message.webhook_id
        body = stored.body
        mentions = request_body.get("allowed_mentions")
        who = pings(
            {"content": body.get("content"), "allowed_mentions": mentions},
            webhook=webhook_id is not None,
        )
        edited = stored.edited_at
        answer: dict[str, Any] = {
            "id": message.id,
            "type": 0,
            "channel_id": message.channel_id,
            "content": body.get("content") or "",
            "embeds": [
                {"type": "rich", **_without_nulls(embed)}
                for embed in body.get("embeds") or ()
                if isinstance(embed, dict)
            ],
            "components": [],
            "author": _user(
                webhook_id or BOT_USER_ID,
                message.username or (WEBHOOK_NAME if webhook_id else BOT_NAME),
                bot=True,
            ),
            "attachments": [
                _attachment(self.url, message.channel_id, upload)
                for upload in stored.files
            ],
            "timestamp": stored.created_at.isoformat(),
            "edited_timestamp": edited.isoformat() if edited else None,
            "tts": bool(message.json.get("tts")),
            "mention_everyone": who.everyone,
            "mentions": [_user(user, f"user{user}") for user in who.users],
            "mention_roles": list(who.roles),
            "pinned": False,
            "flags": body.get("flags") or 0,
        }
        if webhook_id is not None:
            answer["webhook_id"] = webhook_id
        return answer

    def _check_rules(self, payload: dict[str, Any], broken: list[str]) -> None:
        """Record *payload* if it breaks our own rules; the answer stays."""
        if broken:
            with self._lock:
                self._violations.append((payload, broken))
                _RULE_VIOLATIONS.append((payload, broken))

    def _snowflake(self) -> str:
        """Make a new, increasing message id; call with the lock held."""
        now_ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
        self._last_snowflake = max(now_ms << 22, self._last_snowflake + 1)
        return str(self._last_snowflake)

    def _track(self, thread: threading.Thread, sock: socket.socket) -> None:
        """Remember a connection, so :meth:`stop` can shut it down."""
        with self._lock:
            self._connections[thread] = sock

    def _untrack(self, thread: threading.Thread) -> None:
        """Forget a finished connection."""
        with self._lock:
            self._connections.pop(thread, None)

    def _server_error(self, text: str) -> None:
        """Keep the traceback of an unexpected error in the fake."""
        with self._lock:
            self._server_errors.append(text)


def rule_violation_log() -> list[tuple[Any, list[str]]]:
    """
    List the rule-breaking bodies every fake in this process has seen.

    A test fixture compares its length before and after a test, which
    also catches fakes started by fixtures of a wider scope.

    Returns:
        ``(payload, errors)`` per body, in arrival order (a copy).
    """
    return list(_RULE_VIOLATIONS)


def _decode_json(request: _Request) -> Any:
    """Decode *request*'s body as JSON, whatever its Content-Type."""
    if not request.body:
        return None
    try:
        return json.loads(request.body)
    except ValueError:
        return None


def _fail_reply(fault: _Fault) -> _Reply:
    """Build the answer of :meth:`FakeDiscord.fail_with` / ``fail_for``."""
    if isinstance(fault.body, bytes):
        headers = {"Content-Type": "text/plain", **fault.headers}
        return _Reply(fault.status, fault.body, headers)
    body = fault.body
    if body is None:
        phrase = HTTPStatus(fault.status).phrase
        body = {"code": 0, "message": f"{fault.status}: {phrase}"}
    return _Reply(fault.status, _json_bytes(body), dict(fault.headers))


def _slow_reply(fault: _Fault) -> _Reply:
    """Build the answer of :meth:`FakeDiscord.slow_loris`."""
    reply = _error(503, 0, "503: Service Unavailable")
    reply.action = "trickle"
    reply.interval = fault.interval
    return reply


def unused_port() -> int:
    """A loopback port nothing listens on (free when asked)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def _channel_limited(retry_after: float) -> _Reply:
    """Build the 429 of Discord's hidden per-channel limit (code 20028)."""
    return _Reply(
        429,
        _json_bytes(
            {
                "message": CHANNEL_LIMITED,
                "retry_after": retry_after,
                "global": False,
                "code": 20028,
            }
        ),
        {
            "Retry-After": str(math.ceil(retry_after)),
            "X-RateLimit-Scope": CHANNEL_LIMIT_SCOPE,
        },
    )


#: The parts of a message an edit can change, kept as its state.
_EDITABLE = ("content", "embeds", "components", "flags", "poll")


def _editable(payload: dict[str, Any]) -> dict[str, Any]:
    """The parts of *payload* that make a message's state (``None`` too)."""
    return {key: payload[key] for key in _EDITABLE if key in payload}


def _without_nulls(value: Any) -> Any:
    """Drop ``null`` members, as Discord's answers leave them out."""
    if isinstance(value, dict):
        return {
            k: _without_nulls(v) for k, v in value.items() if v is not None
        }
    if isinstance(value, list):
        return [_without_nulls(item) for item in value]
    return value


def _callback_problems(
    payload: dict[str, Any], parts: tuple[_Part, ...], interaction_type: int
) -> list[str]:
    """
    Every reason Discord refuses a callback body, for an interaction.

    Those of :func:`fakes.discord_schema.callback_errors`; a new message
    with files needs no other content, and its ``attachments`` name its
    files; the callback type must be one the interaction can take.
    """
    errors = callback_errors(payload)
    kind = payload.get("type")
    raw = payload.get("data")
    data = raw if isinstance(raw, dict) else {}
    if kind == MESSAGE_CALLBACK:
        if parts:  # a file is something to show
            errors = [e for e in errors if e != EMPTY_MESSAGE]
        errors += _attachment_errors(data, parts, {})
    if not errors and kind not in _CALLBACKS_FOR[interaction_type]:
        errors = [
            (
                f"type: Interaction callback type {kind} is not valid for "
                f"an interaction of type {interaction_type}"
            )
        ]
    return errors


def _numbered(components: list[Any]) -> list[Any]:
    """
    Components as Discord answers them: each with an ``id``, no nulls.

    A component sent without an ``id`` gets the next number, from 1, in
    the order the components come, a parent before its children.
    """
    counter = itertools.count(1)

    def number(node: Any) -> Any:
        if isinstance(node, list):
            return [number(item) for item in node]
        if not isinstance(node, dict):
            return node
        answer = {k: v for k, v in node.items() if v is not None}
        if "type" in answer and "id" not in answer:
            answer["id"] = next(counter)
        return {k: number(v) for k, v in answer.items()}

    return [number(component) for component in components]


def _interaction_token(interaction_id: str) -> str:
    """Make an interaction's token, shaped like Discord's (base64 text)."""
    text = f"interaction:{interaction_id}:{secrets.token_urlsafe(48)}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _option_type(value: Any) -> int:
    """A value's option type: string 3, integer 4, boolean 5, number 10."""
    if isinstance(value, bool):
        return 5
    if isinstance(value, int):
        return 4
    if isinstance(value, float):
        return 10
    return 3


def _interaction_options(
    options: Mapping[str, Any] | Sequence[dict[str, Any]],
) -> list[dict[str, Any]]:
    """A command interaction's ``data.options``, from values or as given."""
    if isinstance(options, Mapping):
        return [
            {"name": name, "type": _option_type(value), "value": value}
            for name, value in options.items()
        ]
    return [dict(option) for option in options]


def _user(user_id: str, username: str, *, bot: bool = False) -> dict[str, Any]:
    """Build a user object with what ``UserResponse`` requires."""
    user: dict[str, Any] = {
        "id": user_id,
        "username": username,
        "avatar": None,
        "discriminator": "0000" if bot else "0",
        "public_flags": 0,
        "flags": 0,
        "global_name": None,
        "primary_guild": None,
    }
    if bot:
        user["bot"] = True
    return user


def _attachment(base: str, channel_id: str, upload: Upload) -> dict[str, Any]:
    """Build an attachment object (``MessageAttachmentResponse``)."""
    url = (
        f"{base}/attachments/{channel_id}/{upload.id}/{quote(upload.filename)}"
    )
    attachment: dict[str, Any] = {
        "id": upload.id,
        "filename": upload.filename,
        "size": upload.size,
        "url": url,
        "proxy_url": url,
        "content_type": upload.content_type,
    }
    if upload.description is not None:
        attachment["description"] = upload.description
    return attachment


def _described(upload: Upload, entry: dict[str, Any] | None) -> Upload:
    """Apply an ``attachments`` entry's ``filename`` and ``description``."""
    if entry is None:
        return upload
    filename = entry.get("filename")
    description = entry.get("description")
    return replace(
        upload,
        filename=filename if isinstance(filename, str) else upload.filename,
        description=(
            description if isinstance(description, str) else upload.description
        ),
    )


def _attachment_errors(
    payload: dict[str, Any],
    parts: tuple[_Part, ...],
    kept: Mapping[str, Upload],
) -> list[str]:
    """
    Check that each ``attachments`` entry names a file there is.

    An entry's ``id`` is an uploaded file's placeholder (``n`` of
    ``files[n]``) or, on an edit, a kept attachment's id. Discord answers
    one that names neither with ``ATTACHMENT_NOT_FOUND`` "Attachment data
    not found" (seen in Cogmasters/concord#78).
    """
    listed = payload.get("attachments")
    if not isinstance(listed, list):
        return []
    known = {part.placeholder for part in parts} | set(kept)
    return [
        f"attachments[{index}]: Attachment data not found"
        for index, entry in enumerate(listed)
        if isinstance(entry, dict) and str(entry.get("id")) not in known
    ]


def _thread_refusal(*, forum: bool, named: bool, given: bool) -> _Reply | None:
    """
    Refuse ``thread_name`` and ``thread_id`` as Execute Webhook does.

    ``thread_name`` only in a forum (``220003``); a forum needs one of
    the two (``220001``) and not both (``220002``).

    Args:
        forum: Whether the webhook's channel is a forum.
        named: Whether the body has a ``thread_name``.
        given: Whether the query has a ``thread_id``.

    Returns:
        The 400 answer, or ``None`` when Discord goes on.
    """
    if named and not forum:
        return _error(400, *THREAD_NOT_FORUM)
    if forum and named and given:
        return _error(400, *THREAD_BOTH)
    if forum and not named and not given:
        return _error(400, *THREAD_NEEDED)
    return None


def _boundary(content_type: str) -> bytes | None:
    """Read the ``boundary`` parameter of a multipart Content-Type."""
    header = email.message.Message()
    header["Content-Type"] = content_type
    boundary = header.get_boundary()
    return boundary.encode("latin-1") if boundary else None


def _split_parts(body: bytes, boundary: bytes) -> list[bytes] | None:
    """
    Split a multipart body into its parts (RFC 2046 section 5.1.1).

    Each part runs from the line after a delimiter up to the CRLF before
    the next one, so its bytes come out exactly as sent.

    Returns:
        The parts, headers and all, or ``None`` when the body is not
        well-formed (no delimiter, no closing delimiter).
    """
    delimiter = b"--" + boundary
    if body.startswith(delimiter):
        at = len(delimiter)
    else:
        found = body.find(b"\r\n" + delimiter)
        if found < 0:
            return None
        at = found + 2 + len(delimiter)
    parts: list[bytes] = []
    while not body.startswith(b"--", at):
        line_end = body.find(b"\r\n", at)  # after transport padding
        end = body.find(b"\r\n" + delimiter, line_end + 2)
        if line_end < 0 or end < 0:
            return None
        parts.append(body[line_end + 2 : end])
        at = end + 2 + len(delimiter)
    return parts


def _read_form(body: bytes, content_type: str) -> _Body | str:
    """
    Read a ``multipart/form-data`` body as Discord does.

    Its ``payload_json`` part is the JSON body; without one, the other
    text parts are its fields, as strings. A part named ``files[n]`` (or
    any part with a filename) is a file, its placeholder id *n* (else its
    position). Reference: discord-api-docs ``reference.mdx``, Uploading
    Files.

    Returns:
        The body, or one error line (for a 50035 answer).
    """
    boundary = _boundary(content_type)
    raw_parts = _split_parts(body, boundary) if boundary else None
    if raw_parts is None:
        return "<root>: the multipart body is not well-formed"
    fields: dict[str, str] = {}
    files: list[_Part] = []
    for number, raw in enumerate(raw_parts):
        head, _, data = (b"\r\n" + raw).partition(b"\r\n\r\n")
        headers = email.parser.HeaderParser().parsestr(
            head.decode("utf-8", errors="replace").strip() + "\n\n"
        )
        name = str(headers.get_param("name", "", "content-disposition"))
        filename = headers.get_filename()
        found = _FILE_FIELD.match(name)
        if found or filename is not None:
            files.append(
                _Part(
                    found["n"] if found else str(number),
                    filename or name,
                    headers.get_content_type(),
                    data,
                )
            )
        else:
            fields[name] = data.decode("utf-8", errors="replace")
    if "payload_json" not in fields:
        return _Body(dict(fields), tuple(files))
    try:
        payload = json.loads(fields["payload_json"])
    except ValueError:
        return "payload_json: not valid JSON"
    if not isinstance(payload, dict):
        return "payload_json: the body must be a JSON object"
    return _Body(payload, tuple(files))


class _Server(ThreadingHTTPServer):
    """The HTTP server behind :class:`FakeDiscord`; one thread a connection."""

    daemon_threads = True
    block_on_close = False  # FakeDiscord.stop() joins, with a deadline
    allow_reuse_address = False

    def __init__(self, fake: FakeDiscord) -> None:
        """
        Bind ``127.0.0.1`` on an ephemeral port.

        Args:
            fake: The fake whose state answers requests.
        """
        super().__init__((HOST, 0), _Handler)
        self.fake = fake

    def process_request(self, request: Any, client_address: Any) -> None:
        """
        Serve one connection in a new, tracked daemon thread.

        Args:
            request: The connection's socket.
            client_address: The client's address.
        """
        thread = threading.Thread(
            target=self._serve_connection,
            args=(request, client_address),
            name="fake_discord.connection",
            daemon=True,
        )
        self.fake._track(thread, request)
        thread.start()

    def _serve_connection(self, request: Any, client_address: Any) -> None:
        """Run the handler for one connection, then forget it."""
        try:
            self.process_request_thread(request, client_address)
        finally:
            self.fake._untrack(threading.current_thread())

    def handle_error(self, request: Any, client_address: Any) -> None:
        """
        Ignore network errors; keep any other for the tests to see.

        Args:
            request: The connection's socket.
            client_address: The client's address.
        """
        text = traceback.format_exc()
        if (
            not text.strip()
            .splitlines()[-1]
            .startswith(
                (
                    "ConnectionResetError",
                    "BrokenPipeError",
                    "ConnectionAborted",
                )
            )
        ):
            self.fake._server_error(text)


class _Handler(BaseHTTPRequestHandler):
    """Reads a request, asks :class:`FakeDiscord`, writes the answer."""

    server: _Server
    protocol_version = "HTTP/1.1"
    server_version = "FakeDiscord/1.0"
    sys_version = ""
    disable_nagle_algorithm = True

    def do_POST(self) -> None:
        """Serve any method: the fake answers 405 where Discord would."""
        self._handle()

    do_GET = do_PATCH = do_PUT = do_DELETE = do_POST  # noqa: N815

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """
        Keep quiet: tests read ``FakeDiscord.requests`` instead.

        Args:
            format: A %-format string.
            *args: Its arguments.
        """

    def _handle(self) -> None:
        """Read the body, get the reply, and carry it out."""
        body = self._read_body()
        if body is None:
            return
        split = urlsplit(self.path)
        request = _Request(
            method=self.command,
            path=split.path,
            query=dict(parse_qsl(split.query)),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            time=time.monotonic(),
        )
        reply = self.server.fake._serve(request, self.connection)
        if reply.action == "answer":
            self._send(reply)
        elif reply.action == "reset":
            self._reset()
        elif reply.action == "trickle":
            self._trickle(reply)
        else:
            self.close_connection = True

    def _read_body(self) -> bytes | None:
        """Read the request body, by Content-Length or chunked."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0:
            self.close_connection = True
            self._send(_error(400, 0, "400: Bad Request"))
            return None
        if length > MAX_REQUEST_BYTES:
            self.close_connection = True
            self._send(_error(413, 40005, "Request entity too large"))
            return None
        return self.rfile.read(length)

    def _read_chunked(self) -> bytes:
        """Read a chunked body."""
        chunks: list[bytes] = []
        while True:
            line = self.rfile.readline().split(b";")[0].strip()
            size = int(line or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in {b"\r\n", b"\n", b""}:
                    pass  # trailers
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline()

    def _send(self, reply: _Reply) -> None:
        """Write *reply* in one piece, so no packet waits for another."""
        self.wfile.write(self._encode(reply))

    def _encode(self, reply: _Reply) -> bytes:
        """The bytes of *reply*: status line, headers and body."""
        phrase = HTTPStatus(reply.status).phrase
        headers = {
            "Server": self.version_string(),
            "Date": self.date_time_string(),
            # discord.py takes a 429 without Via for a Cloudflare ban
            **({"Via": "1.1 google"} if reply.via else {}),
            **reply.headers,
        }
        if reply.status != 204:
            headers["Content-Length"] = str(len(reply.body))
        if self.close_connection:
            headers["Connection"] = "close"
        head = f"{self.protocol_version} {reply.status} {phrase}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        body = b"" if reply.status == 204 else reply.body
        return head.encode("latin-1") + b"\r\n" + body

    def _trickle(self, reply: _Reply) -> None:
        """Write *reply* one byte at a time, until done or stopped."""
        self.close_connection = True
        data = self._encode(reply)
        halt = self.server.fake._halt
        for n in range(len(data)):
            if halt.wait(reply.interval if n else 0.0):
                return
            try:
                self.wfile.write(data[n : n + 1])
                self.wfile.flush()
            except OSError:
                return  # the client gave up

    def _reset(self) -> None:
        """Close the connection with a TCP RST instead of an answer."""
        self.close_connection = True
        self.connection.setsockopt(
            socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
        )
        # rfile holds a reference: close it first, or close() waits for it
        self.rfile.close()
        self.connection.close()
