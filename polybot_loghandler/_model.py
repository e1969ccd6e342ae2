"""
What a loaded routing file is: frozen configuration objects.

``_config`` builds these from ``routing.yaml`` and checks every value on
the way; everything else in the library only reads them. Destinations
keep webhook tokens out of their ``repr``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import timezone, tzinfo
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ._env import Reference
from ._floor.model import StateSpec
from ._matching import Matcher
from ._redisurl import redacted_url
from ._templates import Text
from ._text import REDACTED
from ._yaml import KeyPath

if TYPE_CHECKING:
    from ._watching.measures import Measure

__all__ = [
    "MAX_LAG",
    "RELOAD_EVERY",
    "BotChannelDestination",
    "BotSettings",
    "Channel",
    "Coalesce",
    "Command",
    "Config",
    "DeliverySettings",
    "Destination",
    "DigestRule",
    "EmbedTemplate",
    "FieldTemplate",
    "Fold",
    "Identity",
    "Mention",
    "Route",
    "WatchRule",
    "WebhookDestination",
    "redact_url",
]

#: Seconds between checks of the routing file, by default.
RELOAD_EVERY = 2.0
#: Seconds a channel may fall behind before its backlog is folded, by
#: default (``delivery.max_lag``).
MAX_LAG = 120.0
WEBHOOK_PATH = re.compile(r"/webhooks/(\d+)/([^/?#]+)")


@dataclass(frozen=True, slots=True, kw_only=True)
class WebhookDestination:
    """
    Deliver by executing a webhook; the URL holds its token.

    Its ``repr`` and :attr:`redacted_url` never show the token.
    """

    url: str = field(repr=False)
    webhook_id: str | None = None

    @property
    def redacted_url(self) -> str:
        """The URL with its token (or, if unrecognised, its path) hidden."""
        return redact_url(self.url)

    def __repr__(self) -> str:
        return f"WebhookDestination(url={self.redacted_url!r})"


@dataclass(frozen=True, slots=True, kw_only=True)
class BotChannelDestination:
    """Deliver with the bot token to ``POST /channels/{id}/messages``."""

    channel_id: str


Destination = WebhookDestination | BotChannelDestination


def redact_url(url: str) -> str:
    """
    Hide the secret part of a webhook URL: its token, else its whole path.
    """
    parts = urlsplit(url)
    found = WEBHOOK_PATH.search(parts.path)
    if found:
        path = parts.path[: found.start(2)] + REDACTED
    else:
        path = "/" + REDACTED if parts.path not in ("", "/") else parts.path
    host = parts.netloc.rpartition("@")[2]  # never show user:password
    return f"{parts.scheme}://{host}{path}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Channel:
    """
    One destination key of ``channels:``.

    Attributes:
        key: The key routes name (``trades_paper``).
        name: The Discord channel name (``trades-paper``).
        destination: Where it goes, or ``None`` for the console.
        category: The Discord category it belongs in, if recorded.
        topic: What the channel is for, if recorded.
        forum: It is a forum channel (``type: forum``): every message
            goes into a thread (a post), so every route to it names one
            (``thread:``).
    """

    key: str
    name: str
    destination: Destination | None = None
    category: str | None = None
    topic: str | None = None
    forum: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Mention:
    """
    Who a route pings: ``everyone``, ``here``, a role or a user.

    Only this ever pings; values from events never can.
    """

    kind: str
    id: str | None = None

    @property
    def content(self) -> str:
        """The text that pings, for the message ``content``."""
        if self.kind == "role":
            return f"<@&{self.id}>"
        if self.kind == "user":
            return f"<@{self.id}>"
        return f"@{self.kind}"

    @property
    def allowed_mentions(self) -> dict[str, Any]:
        """Exactly the permission this ping needs, and nothing more."""
        if self.kind == "role":
            return {"parse": [], "roles": [self.id]}
        if self.kind == "user":
            return {"parse": [], "users": [self.id]}
        return {"parse": ["everyone"]}


@dataclass(frozen=True, slots=True, kw_only=True)
class Coalesce:
    """
    How a route's duplicates are merged by delivery.

    Attributes:
        enabled: ``False`` sends every event as its own embed.
        by: Field names that identify duplicates; ``None`` means "renders
            to the same embed".
        window: Seconds within which duplicates merge; ``None`` means the
            delivery default.
    """

    enabled: bool = True
    by: tuple[str, ...] | None = None
    window: float | None = None


@dataclass(frozen=True, slots=True)
class Fold:
    """
    How a route's messages are folded when their channel falls behind.

    When a channel's backlog would take longer than the lag bound to
    drain at the rate Discord allows, its oldest foldable messages are
    replaced by one summary per route. Warnings and above are never
    folded, whatever the route says.

    Attributes:
        never: ``fold: never``: this route's messages are never folded.
        max_lag: The route's ``max_lag:`` in seconds: ``None`` is the
            delivery's (``delivery.max_lag``), ``math.inf`` is ``off``
            (never folded).
        group_by: The field a summary groups the folded events by
            (``None``: by event name).
        measures: Name and measure (``_watching.measures``), in the
            order a summary shows them.
        top: Groups a summary shows, the rest as ``(others)``.
    """

    never: bool = False
    max_lag: float | None = None
    group_by: str | None = None
    measures: tuple[tuple[str, Measure], ...] = ()
    top: int = 10

    def lag_limit(self, default: float | None) -> float:
        """
        Seconds behind past which this route's messages fold.

        *default* is ``delivery.max_lag`` (``None``: off). ``math.inf``
        when they never fold (``fold: never``, or ``max_lag: off`` here
        or, without a ``max_lag`` of the route's own, in ``delivery``).
        """
        if self.never:
            return math.inf
        if self.max_lag is not None:
            return self.max_lag
        return math.inf if default is None else default


@dataclass(frozen=True, slots=True, kw_only=True)
class FieldTemplate:
    """One ``embed.fields`` entry."""

    name: Text
    value: Text
    inline: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class EmbedTemplate:
    """
    A route's ``embed:``. ``None`` parts are left out of the embed.

    *fields* is ``None`` for ``fields: auto`` (one field per event field,
    less those named in *auto_exclude*).
    """

    title: Text | None = None
    description: Text | None = None
    url: Text | None = None
    color: int | Text | None = None
    fields: tuple[FieldTemplate, ...] | None = ()
    auto_exclude: frozenset[str] = frozenset()
    footer: Text | None = None
    footer_icon_url: str | None = None
    author: Text | None = None
    author_url: str | None = None
    author_icon_url: str | None = None
    timestamp: bool | Text = True


@dataclass(frozen=True, slots=True, kw_only=True)
class Identity:
    """
    Who a route's messages say they are from (``identity:``).

    Webhooks only: a bot posts under its own name.

    Attributes:
        username: The name shown, templated (1 to 80 characters; never
            "discord" or "clyde", which Discord refuses).
        avatar_url: The picture shown, templated (``https``, at most
            2,048 characters).
    """

    username: Text | None = None
    avatar_url: Text | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Route:
    """
    One entry of ``routes:``.

    Attributes:
        name: Unique name, shown in ``check`` and captured messages.
        index: Position in the file.
        line: Line of the route in the file.
        matcher: The compiled ``match:``.
        to: Channel keys (templates allowed).
        continue_: Keep matching later routes after this one.
        mention: Who to ping, if anyone.
        coalesce: How duplicates merge.
        embed: The embed template; ``None`` for the default embed.
        fold: How its messages are folded when the channel falls behind
            (``fold:`` and ``max_lag:``).
        board: The board's key, templated (``board:``): one message per
            key, edited in place to show the latest event.
        thread: The thread's name, templated (``thread:``): messages
            with the same name go into one thread, made by the first.
        thread_id: An existing thread's id (``thread_id:``): messages go
            into it.
        identity: Who its messages say they are from (``identity:``).
    """

    name: str
    index: int
    line: int
    matcher: Matcher
    to: tuple[Text, ...]
    continue_: bool = False
    mention: Mention | None = None
    coalesce: Coalesce = Coalesce()
    embed: EmbedTemplate | None = None
    fold: Fold = Fold()
    board: Text | None = None
    thread: Text | None = None
    thread_id: str | None = None
    identity: Identity | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliverySettings:
    """
    ``delivery:``: how the background worker behaves.

    Attributes:
        queue_size: Messages waiting for delivery before drops start
            (the lowest level first).
        flush_timeout: Seconds ``flush()`` and exit wait at most.
        batch_window: Seconds ordinary events gather before sending.
        coalesce_window: Seconds after a message is sent during which its
            duplicates are held and summarised as one (routes may set
            their own with ``coalesce: {window: ...}``).
        retry_for: Seconds a message is retried through server errors
            and timeouts before it is dropped.
        ops_channel: Channel for the handler's own notices.
        console: ``stderr``, ``stdout`` or ``off``: where channels with
            no destination are shown.
        console_per_channel: Show at most this many messages of each
            channel on the console and count the others; ``None`` shows
            every one.
        reload_every: Seconds between checks of the routing file for
            changes; ``None`` (``reload: off``) never reloads by itself.
        report_every: Seconds between summaries of the handler's own
            counters; ``None`` sends none.
        report_channel: Where the summaries go (default: the ops
            channel).
        spool: The spool directory that keeps undelivered messages
            across outages and restarts; ``None`` keeps them in memory
            only.
        spool_size: Bytes of undelivered messages the spool keeps
            before it evicts the oldest of the lowest level.
        relay: The Redis URL of the relay; ``None``: this process
            delivers itself. It may hold a password, so ``repr`` shows
            it redacted.
        max_lag: Seconds a channel may fall behind: past it, the oldest
            of its info-and-below messages are folded into summaries
            (routes may set their own with ``max_lag:``); ``None``
            (``off``) never folds.
        attach_tracebacks: A traceback the embed had to cut is also sent
            whole (redacted) as a ``.txt`` file beside it.
    """

    queue_size: int = 10_000
    flush_timeout: float = 10.0
    batch_window: float = 1.0
    coalesce_window: float = 60.0
    retry_for: float = 300.0
    ops_channel: str | None = None
    console: str = "stderr"
    console_per_channel: int | None = None
    reload_every: float | None = RELOAD_EVERY
    report_every: float | None = None
    report_channel: str | None = None
    spool: str | None = None
    spool_size: int = 50 * 2**20
    relay: str | None = None
    max_lag: float | None = MAX_LAG
    attach_tracebacks: bool = True

    #: Settings a reload cannot change: they shape the worker's queue,
    #: lanes, spool and relay, which keep running.
    FIXED = (
        "queue_size",
        "batch_window",
        "coalesce_window",
        "console",
        "console_per_channel",
        "spool",
        "spool_size",
        "relay",
    )

    def __repr__(self) -> str:
        # the dataclass's own repr, but for the relay's password
        shown = (
            f"{f.name}={redacted_url(self.relay)!r}"
            if f.name == "relay" and self.relay is not None
            else f"{f.name}={getattr(self, f.name)!r}"
            for f in fields(self)
        )
        return f"DeliverySettings({', '.join(shown)})"

    @property
    def notice_channel(self) -> str | None:
        """Where the handler's periodic summary goes, if anywhere."""
        return self.report_channel or self.ops_channel


@dataclass(frozen=True, slots=True, kw_only=True)
class WatchRule:
    """
    One entry of ``watches:``: keys whose silence is told.

    Attributes:
        name: Unique among routes, watches and digests.
        index: Position in ``watches:``.
        line: Line of the watch in the file.
        matcher: Which events keep a key alive.
        key: What names an event's key (``None``: one key, the name).
        alert_after: Seconds of silence that make an alert.
        expect: Keys that must be heard of at all.
        end: Events that end a key cleanly (``None``: none do).
        to: Channel keys (templates allowed) for its messages.
        mention: Who its alerts ping (recoveries ping no one).
        embed: The alert's embed (``None``: the default one).
        recovery: Whether a key heard of again is told.
        recovery_embed: The recovery's embed (``None``: the default).
        max_keys: Keys kept at most; events of keys past it are counted.
        fingerprint: Its definition, hashed: a reload keeps the state of
            a watch whose fingerprint did not change.
    """

    name: str
    index: int
    line: int
    matcher: Matcher
    key: Text | None
    alert_after: float
    expect: tuple[str, ...] = ()
    end: Matcher | None = None
    to: tuple[Text, ...]
    mention: Mention | None = None
    embed: EmbedTemplate | None = None
    recovery: bool = True
    recovery_embed: EmbedTemplate | None = None
    max_keys: int = 1000
    fingerprint: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class DigestRule:
    """
    One entry of ``digests:``: events folded into one message a period.

    Attributes:
        name: Unique among routes, watches and digests.
        index: Position in ``digests:``.
        line: Line of the digest in the file.
        matcher: Which events it counts.
        every: The period's length in seconds (divides a day, or a week).
        zone_name: Its ``timezone:``, as written (``UTC`` by default).
        zone: The zone periods are aligned in.
        group_by: The field that names an event's group (``None``: one
            group).
        measures: Name and measure, in the order they are shown.
        to: Channel keys (templates allowed) for its messages.
        mention: Who its messages ping, if anyone.
        embed: Its embed (``None``: the default, a field per group).
        top: Groups shown at most (by the first measure, largest first);
            the rest are folded into ``(others)``.
        grace: Seconds a period stays open after its end, for events
            still on their way.
        max_groups: Groups a period keeps at most; past it, events go to
            ``(others)``, counted.
        fingerprint: Its definition, hashed (see :class:`WatchRule`).
    """

    name: str
    index: int
    line: int
    matcher: Matcher
    every: float
    zone_name: str = "UTC"
    zone: tzinfo = timezone.utc
    group_by: str | None = None
    measures: tuple[tuple[str, Measure], ...]
    to: tuple[Text, ...]
    mention: Mention | None = None
    embed: EmbedTemplate | None = None
    top: int | None = None
    grace: float = 2.0
    max_groups: int = 100
    fingerprint: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Command:
    """
    One entry of ``commands:``: a question the floor's state answers.

    Attributes:
        name: What it is asked by (``status`` for ``/status``): 1 to 32
            lowercase letters, digits, ``-`` or ``_``, as Discord's
            slash commands are named.
        help: What it answers, in a line (``/help`` lists it).
        reply: The embed it answers with, over the state.
        line: Line of the command in the file.
    """

    name: str
    help: str
    reply: EmbedTemplate
    line: int


@dataclass(frozen=True, slots=True, kw_only=True)
class BotSettings:
    """
    The bot's settings (``bot:``): who may control the floor, and how.

    Attributes:
        control_roles: The roles, by name or id, whose members may run
            ``/pause``, ``/resume`` and ``/switch``; none by default, so
            nobody may until one is named.
        control_stream: The Redis stream control commands go to; their
            acknowledgements come back on this name plus ``:acks``.
        ack_within: Seconds the bot waits for an agent's
            acknowledgement before it says none came.
        prefix: The prefix of the commands typed as messages (``!``), or
            ``None``: off, as it needs the message-content intent.
    """

    control_roles: tuple[str, ...] = ()
    control_stream: str = "polybot:control"
    ack_within: float = 30.0
    prefix: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    """
    A loaded routing file.

    Attributes:
        path: The file it came from (``<string>`` for text).
        version: The schema version.
        channels: Channel key → channel.
        routes: Routes in file order.
        delivery: Worker settings.
        watches: Watches, in file order.
        digests: Digests, in file order.
        notes: Things worth saying once at start-up (disabled mentions).
        state: What the floor's state is made of (``state:``), kept by
            the relay for ``ask`` and the bot; ``None`` without one.
        commands: The questions ``ask`` and the bot answer from it
            (``commands:``), in file order.
        env_references: For each value read with ``${VAR}``
            interpolation (channel destinations and mentions), by key path
            such as ``("channels", "alerts", "webhook")``: the variables
            it referred to, and which of them supplied it. Values without
            a reference map to ``()``.
    """

    path: str
    version: int
    channels: Mapping[str, Channel]
    routes: tuple[Route, ...]
    delivery: DeliverySettings = DeliverySettings()
    watches: tuple[WatchRule, ...] = ()
    digests: tuple[DigestRule, ...] = ()
    notes: tuple[str, ...] = ()
    state: StateSpec | None = None
    commands: tuple[Command, ...] = ()
    bot: BotSettings = BotSettings()
    env_references: Mapping[KeyPath, tuple[Reference, ...]] = field(
        default_factory=dict, repr=False, compare=False
    )

    @property
    def console_channels(self) -> tuple[str, ...]:
        """Keys of channels with no destination: shown on the console."""
        return tuple(
            k for k, c in self.channels.items() if c.destination is None
        )
