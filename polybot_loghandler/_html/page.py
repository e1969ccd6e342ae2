"""
The whole preview page: the server's sidebar and every channel's messages.

One self-contained HTML file: its style is inline, it has no script, and
it fetches nothing (no fonts, avatars or images), so it opens offline
and shows no one that it was opened. The sidebar lists the routing's
categories and channels in the file's order, with how many messages
each got; the channels follow one another, each with its messages in
the order they were sent, and its threads (a forum's posts) below.
"""

from __future__ import annotations

from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from html import escape
from importlib.resources import files

from polybot_loghandler._format import counted
from polybot_loghandler._model import Channel, Config

from .message import message_html
from .transcript import Shown

__all__ = ["page_html"]

#: The category of channels the routing does not list.
_UNLISTED = "not in channels:"


@dataclass(slots=True)
class _View:
    """One channel's part of the page."""

    key: str
    channel: Channel | None
    listed: bool
    stream: list[Shown] = field(default_factory=list)
    threads: dict[str, list[Shown]] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.channel.name if self.channel else self.key

    @property
    def count(self) -> int:
        return len(self.stream) + sum(map(len, self.threads.values()))

    @property
    def pings(self) -> int:
        every = [*self.stream, *(s for t in self.threads.values() for s in t)]
        return sum(1 for shown in every if shown.message.content)


def page_html(  # noqa: PLR0913 - what the page says, all by keyword
    shown: Sequence[Shown],
    *,
    config: Config | None,
    cuts: AbstractSet[str] = frozenset(),
    title: str,
    webhook_name: str,
    notes: Sequence[str] = (),
) -> str:
    """
    The page showing *shown*, laid out as *config*'s server.

    Args:
        shown: The messages, in the order they were sent.
        config: The routing, for the sidebar's categories and channels.
        cuts: Texts the library cut to fit a limit (marked where shown).
        title: The page's title and the server's name in the sidebar.
        webhook_name: The name a message without ``identity:`` is sent
            under (a webhook's own name).
        notes: Lines shown above the channels (what was left out).
    """
    groups = _grouped(_views(shown, config))
    body = [
        _sidebar(groups, title),
        "<main>",
        *(f'<p class="notice">{escape(note)}</p>' for note in notes),
    ]
    if not shown:
        body.append('<p class="notice">No message: nothing would be sent.</p>')
    for _, group in groups:
        body.extend(
            _channel(view, cuts, webhook_name) for view in group if view.count
        )
    body.append("</main>")
    style = files(__package__).joinpath("discord.css").read_text("utf-8")
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width">\n'
        '<meta http-equiv="Content-Security-Policy" content="default-src '
        "'none'; style-src 'unsafe-inline'\">\n"
        f"<title>{escape(title)}</title>\n<style>\n{style}</style>\n</head>\n"
        f"<body>\n{''.join(body)}\n</body>\n</html>\n"
    )


def _views(shown: Sequence[Shown], config: Config | None) -> dict[str, _View]:
    """Every channel of *config*, in its order, then the unlisted ones."""
    channels = dict(config.channels) if config else {}
    views = {
        key: _View(key, channel, listed=True)
        for key, channel in channels.items()
    }
    for item in shown:
        message = item.message
        view = views.get(message.channel)
        if view is None:
            view = views[message.channel] = _View(
                message.channel, message.target, listed=False
            )
        thread = _thread_of(item)
        if thread is None:
            view.stream.append(item)
        else:
            view.threads.setdefault(thread, []).append(item)
    return views


def _thread_of(item: Shown) -> str | None:
    """The name of the thread a message is in, as its card is headed."""
    message = item.message
    if message.thread is not None:
        return message.thread
    if message.thread_id is not None:
        return f"thread {message.thread_id}"
    return None


def _grouped(views: dict[str, _View]) -> list[tuple[str, list[_View]]]:
    """
    The channels by category, as Discord's sidebar lists them.

    Channels with no category first (``""``), then each category in the
    order the routing first names it; channels no routing lists last.
    """
    groups: dict[str, list[_View]] = {"": []}
    for view in views.values():
        if view.listed:
            category = view.channel.category if view.channel else None
            groups.setdefault(category or "", []).append(view)
    unlisted = [view for view in views.values() if not view.listed]
    if unlisted:
        groups[_UNLISTED] = unlisted
    return [(name, group) for name, group in groups.items() if group]


def _sidebar(groups: list[tuple[str, list[_View]]], title: str) -> str:
    out = [
        '<nav class="sidebar">',
        f'<div class="server-name">{escape(title)}</div>',
    ]
    for category, group in groups:
        if category:
            out.append(f'<div class="category">{escape(category)}</div>')
        out.extend(_link(view) for view in group)
    out.append("</nav>")
    return "".join(out)


def _link(view: _View) -> str:
    """
    A channel in the sidebar, as Discord marks it for a reader.

    A channel with messages reads white (unread); one whose messages
    ping also carries a red badge, counting them.
    """
    count = view.count
    pings = view.pings
    badge = f'<span class="count">{pings}</span>' if pings else ""
    state = " unread" if count else " quiet"
    title = counted(count, "message") + (
        f", {counted(pings, 'ping')}" if pings else ""
    )
    key = escape(view.key)
    return (
        f'<a class="channel-link{state}" href="#channel-{key}" '
        f'title="{title}" data-channel="{key}" data-messages="{count}">'
        f'{_icon(view.channel)}<span class="name">{escape(view.name)}</span>'
        f"{badge}</a>"
    )


def _icon(channel: Channel | None) -> str:
    forum = channel is not None and channel.forum
    icon, what = ("💬", "forum") if forum else ("#", "text channel")
    return f'<span class="channel-icon" title="{what}">{icon}</span>'


def _channel(view: _View, cuts: AbstractSet[str], webhook_name: str) -> str:
    channel = view.channel
    topic = (
        f'<span class="topic">{escape(channel.topic)}</span>'
        if channel and channel.topic
        else ""
    )
    key = escape(view.key)
    head = (
        f'<section class="channel-view" id="channel-{key}" '
        f'data-channel="{key}"><header class="channel-header">'
        f"{_icon(channel)}<h2>{escape(view.name)}</h2>{topic}</header>"
    )
    out = [head]
    out.extend(
        message_html(item, cuts=cuts, webhook_name=webhook_name)
        for item in view.stream
    )
    if view.threads:
        kind = "posts" if channel and channel.forum else "threads"
        out.append(f'<div class="threads-title">{kind}</div>')
    for name, items in view.threads.items():
        out.append(
            f'<div class="thread" data-thread="{escape(name)}">'
            f'<div class="thread-name">{escape(name)}</div>'
        )
        out.extend(
            message_html(item, cuts=cuts, webhook_name=webhook_name)
            for item in items
        )
        out.append("</div>")
    out.append("</section>")
    return "".join(out)
