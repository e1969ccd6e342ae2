"""
Where each channel's messages go in an environment: ``check --env``.

:func:`env_report` turns a loaded :class:`Config` into rows a person can
read: each channel's destination, with its secret hidden, and the
variable that supplied it; the variables that are not set, grouped so
that 37 per-channel variables make one line; and a summary. Nothing here
ever holds a webhook token or the bot token in its text.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from polybot_loghandler._discord import BOT_TOKEN_ENV
from polybot_loghandler._env import Reference
from polybot_loghandler._format import counted
from polybot_loghandler._model import (
    BotChannelDestination,
    Channel,
    Config,
    Destination,
    DigestRule,
    Route,
    WatchRule,
)
from polybot_loghandler._yaml import KeyPath

__all__ = [
    "BOT_CHANNEL",
    "CONSOLE",
    "WEBHOOK",
    "ChannelRow",
    "EnvReport",
    "Unset",
    "env_report",
]

WEBHOOK = "webhook"
BOT_CHANNEL = "bot channel"
CONSOLE = "console"

FROM_FILE = "the file"
FROM_UNSET = "not set"
FROM_NOWHERE = "not in the file"
KEY_PLACEHOLDER = "<KEY>"
MAX_NAMED = 5  # name the channels or routes concerned up to this many
MIN_FAMILY = 3  # unset per-channel variables shown as one DISCORD_..._<KEY>


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelRow:
    """
    One channel as this environment resolves it.

    Attributes:
        key: The channel's key.
        category: Its Discord category, if the file gives one.
        kind: ``webhook``, ``bot channel`` or ``console``.
        destination: The webhook URL with its token hidden, ``channel
            <id>``, or where the console output goes (``stderr``).
        source: The variables that supplied the destination (``A + B``),
            ``the file`` when it is written in the file, ``not set`` when
            its variables are unset, or ``not in the file``.
        shared_by: How many channels have this same destination (1 when
            it is its own); shared ones are named in their embeds.
        dropped: A bot channel whose messages are dropped, for want of
            ``DISCORD_BOT_TOKEN``.
    """

    key: str
    category: str | None
    kind: str
    destination: str
    source: str
    shared_by: int = 1
    dropped: bool = False

    @property
    def note(self) -> str:
        """A short remark for the row: sharing, or why it is dropped."""
        notes = []
        if self.shared_by > 1:
            notes.append(f"shared by {self.shared_by}")
        if self.dropped:
            notes.append(f"dropped: no {BOT_TOKEN_ENV}")
        return ", ".join(notes)


@dataclass(frozen=True, slots=True, kw_only=True)
class Unset:
    """
    A variable (or a family, ``DISCORD_WEBHOOK_<KEY>``) that is not set.

    Attributes:
        variable: Its name, with ``<KEY>`` standing for channel keys.
        detail: Who looked it up, and what they do instead.
    """

    variable: str
    detail: str


@dataclass(frozen=True, slots=True, kw_only=True)
class EnvReport:
    """
    What :func:`env_report` found.

    Attributes:
        channels: One row per channel, grouped by category (categories in
            the order they first appear, channels in file order).
        unset: Variables not set (or empty) that change where messages
            go or who is pinged, in the order the file meets them.
        written_in_file: Keys of channels whose webhook URL is written in
            the routing file itself rather than read from a variable.
        webhooks: How many distinct webhooks the channels post to.
    """

    channels: tuple[ChannelRow, ...]
    unset: tuple[Unset, ...]
    written_in_file: tuple[str, ...]
    webhooks: int

    def count(self, kind: str) -> int:
        """How many channels go to *kind*."""
        return sum(1 for row in self.channels if row.kind == kind)

    @property
    def shared(self) -> int:
        """How many channels share their destination with another."""
        return sum(1 for row in self.channels if row.shared_by > 1)

    @property
    def summary(self) -> str:
        """One line: how many channels go to each kind of destination."""
        distinct = f" ({self.webhooks} distinct)" if self.webhooks else ""
        bots = self.count(BOT_CHANNEL)
        dropped = sum(1 for r in self.channels if r.dropped)
        bot_note = (
            f" ({dropped} dropped: no {BOT_TOKEN_ENV})" if dropped else ""
        )
        return (
            f"{counted(self.count(WEBHOOK), 'channel')} → Discord webhooks"
            f"{distinct}, {counted(bots, 'bot channel')}{bot_note}, "
            f"{self.count(CONSOLE)} console"
        )


def env_report(config: Config, environ: Mapping[str, str]) -> EnvReport:
    """
    Describe where each channel of *config* goes, and what is not set.

    Args:
        config: A routing file loaded with the same environment.
        environ: The environment the application runs with; it is read
            here only for ``DISCORD_BOT_TOKEN``, which is needed when a
            message is sent rather than when the file loads.

    .. versionadded:: 0.1.0
    """
    has_token = bool(environ.get(BOT_TOKEN_ENV))
    refs = {key: _channel_refs(config, key) for key in config.channels}
    shares = Counter(
        c.destination for c in config.channels.values() if c.destination
    )
    rows = [
        _row(channel, refs[key], shares, config.delivery.console, has_token)
        for key, channel in _by_category(config.channels)
    ]
    unset = [
        *_unset_for_channels(config, refs),
        *_unset_for_mentions(config),
    ]
    bots = [r.key for r in rows if r.dropped]
    if bots:
        unset.append(
            Unset(
                variable=BOT_TOKEN_ENV,
                detail=f"the messages of {counted(len(bots), 'bot channel')} "
                f"are dropped: {', '.join(bots)}",
            )
        )
    return EnvReport(
        channels=tuple(rows),
        unset=_merged(unset),
        written_in_file=tuple(
            r.key for r in rows if r.kind == WEBHOOK and r.source == FROM_FILE
        ),
        webhooks=sum(
            1 for d in shares if not isinstance(d, BotChannelDestination)
        ),
    )


# -- channels ---------------------------------------------------------------


def _channel_refs(config: Config, key: str) -> tuple[Reference, ...] | None:
    """The references of a channel's destination; None if none written."""
    for path in (
        ("channels", key),
        ("channels", key, "webhook"),
        ("channels", key, "id"),
    ):
        found = config.env_references.get(path)
        if found is not None:
            return found
    return None


def _by_category(
    channels: Mapping[str, Channel],
) -> list[tuple[str, Channel]]:
    order = {
        c: n
        for n, c in enumerate(
            dict.fromkeys(channels[k].category for k in channels)
        )
    }
    return sorted(channels.items(), key=lambda kv: order[kv[1].category])


def _row(
    channel: Channel,
    refs: tuple[Reference, ...] | None,
    shares: Counter[Destination],
    console: str,
    has_token: bool,
) -> ChannelRow:
    dest = channel.destination
    if dest is None:
        return ChannelRow(
            key=channel.key,
            category=channel.category,
            kind=CONSOLE,
            destination=console,
            source=FROM_UNSET if refs else FROM_NOWHERE,
        )
    supplied = _supplied_by(refs or ())
    source = " + ".join(supplied) if supplied else FROM_FILE
    if isinstance(dest, BotChannelDestination):
        return ChannelRow(
            key=channel.key,
            category=channel.category,
            kind=BOT_CHANNEL,
            destination=f"channel {dest.channel_id}",
            source=source,
            shared_by=shares[dest],
            dropped=not has_token,
        )
    return ChannelRow(
        key=channel.key,
        category=channel.category,
        kind=WEBHOOK,
        destination=dest.redacted_url,
        source=source,
        shared_by=shares[dest],
    )


def _supplied_by(refs: Iterable[Reference]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(r.name for r in refs if r.used))


def _unset_names(refs: Iterable[Reference]) -> tuple[str, ...]:
    return tuple(
        dict.fromkeys(r.name for r in refs if r.consulted and not r.is_set)
    )


# -- what is not set ------------------------------------------------------


def _unset_for_channels(
    config: Config, refs: Mapping[str, tuple[Reference, ...] | None]
) -> list[Unset]:
    """
    One line per unset variable, or per family of per-channel variables.

    A variable that only one channel refers to, and whose name holds that
    channel's key (``DISCORD_WEBHOOK_TRADES_PAPER``), belongs to the
    family ``DISCORD_WEBHOOK_<KEY>``; a family with fewer than
    ``MIN_FAMILY`` unset members is shown by their own names.
    """
    users = Counter(
        name
        for found in refs.values()
        for name in dict.fromkeys(r.name for r in found or ())
    )

    def family(key: str, name: str) -> str | None:
        if users[name] != 1:
            return None
        return _key_pattern(key, name)

    members: dict[str, int] = Counter(
        pattern
        for key, found in refs.items()
        for name in dict.fromkeys(r.name for r in found or ())
        if (pattern := family(key, name)) is not None
    )
    groups: dict[str, list[tuple[str, str]]] = {}
    for key, found in refs.items():
        for name in _unset_names(found or ()):
            variable = family(key, name) or name
            groups.setdefault(variable, []).append((key, name))
    lines = []
    for variable, pairs in groups.items():
        total = members.get(variable)
        if total is not None and len(pairs) < MIN_FAMILY:
            # too few to be worth a pattern: each by its own name
            lines += [
                _channels_line(config, refs, name, [key], None)
                for key, name in pairs
            ]
        else:
            keys = [key for key, _ in pairs]
            lines.append(_channels_line(config, refs, variable, keys, total))
    return lines


def _channels_line(
    config: Config,
    refs: Mapping[str, tuple[Reference, ...] | None],
    variable: str,
    keys: Sequence[str],
    total: int | None,
) -> Unset:
    if len(keys) == 1:
        scope = f"for {keys[0]}"
    elif len(keys) == total:
        scope = f"for all {counted(total, 'channel')}"
    else:
        of = f" of {total}" if total is not None else ""
        scope = (
            f"for {len(keys)}{of} channels{_named(keys, MAX_NAMED, ' ({})')}"
        )
    outcomes = [_outcome(config, key, refs[key]) for key in keys]
    return Unset(variable=variable, detail=scope + _consequence(outcomes))


def _key_pattern(key: str, name: str) -> str | None:
    """``DISCORD_WEBHOOK_<KEY>`` for a name holding *key* as its own word."""
    word = key.upper().replace("-", "_")
    padded = f"_{name}_"
    at = padded.rfind(f"_{word}_")
    if at < 0:
        return None
    return name[:at] + KEY_PLACEHOLDER + name[at + len(word) :]


def _outcome(
    config: Config, key: str, refs: tuple[Reference, ...] | None
) -> tuple[str, str]:
    """What the channel does instead: (singular, plural) verb phrases."""
    if config.channels[key].destination is None:
        if config.delivery.console == "off":
            return (
                "is not shown (console: off)",
                "are not shown (console: off)",
            )
        return (
            f"goes to the console ({config.delivery.console})",
            f"go to the console ({config.delivery.console})",
        )
    supplied = _supplied_by(refs or ())
    what = (
        " + ".join(supplied) if supplied else "the value written in the file"
    )
    return f"uses {what}", f"use {what}"


def _consequence(outcomes: Sequence[tuple[str, str]]) -> str:
    counts = Counter(outcomes)
    if len(counts) == 1:
        singular, plural = outcomes[0]
        return f", which {singular if len(outcomes) == 1 else plural}"
    return ": " + ", ".join(
        f"{n} {singular if n == 1 else plural}"
        for (singular, plural), n in counts.items()
    )


#: Nouns whose plural is not the noun and an "s".
_PLURALS = {"watch": "watches"}


def _unset_for_mentions(config: Config) -> list[Unset]:
    """The mention variables unset: which routes, watches, digests lose."""
    rules: list[tuple[str, str, Route | WatchRule | DigestRule]] = [
        *(("routes", "route", r) for r in config.routes),
        *(("watches", "watch", w) for w in config.watches),
        *(("digests", "digest", d) for d in config.digests),
    ]
    by_variable: dict[str, list[tuple[str, str, str, str]]] = {}
    for section, noun, rule in rules:
        path: KeyPath = (section, rule.index, "mention")
        unset = _unset_names(config.env_references.get(path, ()))
        outcome = (
            ("pings no one", "ping no one")
            if rule.mention is None
            else (
                f"pings {rule.mention.content} instead",
                f"ping {rule.mention.content} instead",
            )
        )
        for name in unset:
            by_variable.setdefault(name, []).append(
                (noun, rule.name, *outcome)
            )
    lines = []
    for variable, found in by_variable.items():
        groups: dict[tuple[str, str, str], list[str]] = {}
        for noun, name, singular, plural in found:
            groups.setdefault((noun, singular, plural), []).append(name)
        parts = [
            f"{counted(len(names), noun, _PLURALS.get(noun))} "
            f"{singular if len(names) == 1 else plural}"
            f"{_named(names, MAX_NAMED)}"
            for (noun, singular, plural), names in groups.items()
        ]
        lines.append(Unset(variable=variable, detail="; ".join(parts)))
    return lines


def _merged(lines: Iterable[Unset]) -> tuple[Unset, ...]:
    """One line per variable, its details joined, in first-seen order."""
    details: dict[str, list[str]] = {}
    for line in lines:
        details.setdefault(line.variable, []).append(line.detail)
    return tuple(
        Unset(variable=name, detail="; ".join(parts))
        for name, parts in details.items()
    )


# -- wording ----------------------------------------------------------------


def _named(names: Sequence[str], limit: int, form: str = ": {}") -> str:
    """``: a, b`` naming up to *limit* names, else nothing."""
    return form.format(", ".join(names)) if len(names) <= limit else ""
