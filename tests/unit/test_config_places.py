"""
Boards, threads and identities in the routing file: a route's
``board:``, ``thread:``, ``thread_id:`` and ``identity:``, a channel's
``type: forum`` and ``delivery.attach_tracebacks``.

What loads, what is refused (each problem with its line and key path),
what reaches the messages (their place and identity, rendered for each
event), what ``check``, ``preview`` and ``capture()`` show. Route cases
build a file from HEAD (lines 1-7, the route starting at line 7) and
the lines of the case, which start at line 8.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import pytest

from polybot_loghandler._cli import main
from polybot_loghandler._config import parse_config
from polybot_loghandler._diagnostics import Diagnostics
from polybot_loghandler._events import LogEvent
from polybot_loghandler._message import Place, RoutedMessage
from polybot_loghandler._model import (
    BotChannelDestination,
    Config,
    DeliverySettings,
    Fold,
    Route,
)
from polybot_loghandler._reload import fixed_changes
from polybot_loghandler._routing import RoutingHolder, _routed
from polybot_loghandler._stats import Stats
from polybot_loghandler._watching.render import LOGGER as WATCHING_LOGGER
from polybot_loghandler._watching.render import made_route
from polybot_loghandler._watching.watching import ALERT, DIGEST
from polybot_loghandler.exceptions import ConfigError

HEAD = """\
version: 1
channels:
  text: ""
  forum: {webhook: "", type: forum}
  bot: {id: "123456789012345678"}
routes:
  - name: r
"""
#: The line the lines of a case start at.
FIRST_LINE = 8
WEBHOOK_TOKEN = "SeCrEtToKeN-abc123"
HOOK = f"https://discord.com/api/webhooks/123456/{WEBHOOK_TOKEN}"
BOT_TOKEN = "MTAxMjM0NTY3ODkwMTIzNDU2Nw.GaBcDe.abcdefghijklmnopqrstuvwxyz0123"


def _config(tail: str, head: str = HEAD) -> Config:
    return parse_config(head + tail, "routing.yaml", environ={})


def _route(tail: str) -> Route:
    (route,) = _config(tail).routes
    return route


def _problems(tail: str, head: str = HEAD) -> tuple[str, ...]:
    with pytest.raises(ConfigError) as info:
        _config(tail, head)
    return info.value.problems


def _where(problem: str) -> str:
    """A problem's ``file:line: key.path``."""
    return ": ".join(problem.split(": ", 2)[:2])


# -- what loads ---------------------------------------------------------------


def test_a_route_without_them_has_none() -> None:
    route = _route("    to: text\n")

    assert (None, None, None, None) == (
        route.board,
        route.thread,
        route.thread_id,
        route.identity,
    )


def test_each_key_is_read() -> None:
    route = _route(
        "    to: text\n"
        "    board: \"{{ component | default('floor') }}\"\n"
        "    thread: '{{ component }} — {{ issue }}'\n"
        "    identity:\n"
        "      username: '{{ agent }}'\n"
        "      avatar_url: https://example.com/a.png\n"
    )

    assert route.board is not None
    assert "{{ component | default('floor') }}" == route.board.source
    assert route.thread is not None
    assert "{{ component }} — {{ issue }}" == route.thread.source
    assert route.identity is not None
    assert route.identity.username is not None
    assert "{{ agent }}" == route.identity.username.source
    assert route.identity.avatar_url is not None
    assert "https://example.com/a.png" == route.identity.avatar_url.source


#: What a route may say, with what it sends to: each loads.
ACCEPTED = [
    pytest.param("    to: forum\n    thread: '{{ x }}'\n", id="forum-thread"),
    pytest.param(
        "    to: forum\n    thread_id: 123456789012345678\n",
        id="forum-thread-id-a-number",
    ),
    pytest.param(
        "    to: forum\n    thread: incidents\n    board: '{{ x }}'\n",
        id="forum-thread-and-board",
    ),
    pytest.param(
        "    to: bot\n    thread_id: '123456789012345678'\n    board: b\n",
        id="bot-thread-id-and-board",
    ),
    pytest.param("    to: bot\n    board: '{{ x }}'\n", id="bot-board"),
    pytest.param("    to: text\n    board: ''\n", id="board-empty"),
    pytest.param(
        "    to: text\n    identity: {username: Floor Boss}\n",
        id="username-only",
    ),
    pytest.param(
        "    to: text\n    identity: {avatar_url: 'https://x.io/a.png'}\n",
        id="avatar-only",
    ),
    pytest.param(
        "    to: '{{ ch }}'\n    identity: {username: '{{ agent }}'}\n",
        id="templated-target-not-checked",
    ),
    pytest.param(
        f"    to: text\n    identity: {{username: '{'x' * 80}'}}\n",
        id="username-80",
    ),
    pytest.param(f"    to: text\n    thread: '{'x' * 100}'\n", id="name-100"),
]


@pytest.mark.parametrize("tail", ACCEPTED)
def test_what_loads(tail: str) -> None:
    _route(tail)


def test_a_thread_id_is_kept_as_text() -> None:
    route = _route("    to: forum\n    thread_id: 123456789012345678\n")

    assert "123456789012345678" == route.thread_id


def test_channel_types() -> None:
    config = _config("    to: text\n")

    assert not config.channels["text"].forum
    assert config.channels["forum"].forum
    assert isinstance(
        config.channels["bot"].destination, BotChannelDestination
    )
    text = parse_config(
        'version: 1\nchannels:\n  a: {webhook: "", type: text}\nroutes: []\n',
        "routing.yaml",
        environ={},
    )
    assert not text.channels["a"].forum


@pytest.mark.parametrize(
    ("tail", "attach"),
    [
        pytest.param("", True, id="default"),
        pytest.param("delivery: {attach_tracebacks: false}\n", False, id="f"),
        pytest.param("delivery: {attach_tracebacks: true}\n", True, id="t"),
    ],
)
def test_attach_tracebacks(tail: str, attach: bool) -> None:
    config = _config("    to: text\n" + tail)

    assert attach is config.delivery.attach_tracebacks


def test_attach_tracebacks_changes_on_reload() -> None:
    assert "attach_tracebacks" not in DeliverySettings.FIXED
    assert [] == fixed_changes(
        DeliverySettings(), DeliverySettings(attach_tracebacks=False)
    )


# -- what is refused ----------------------------------------------------------

#: Each mistake, the ``file:line: key.path`` it is told at, and a part
#: of what it says. Each case makes exactly one problem.
MISTAKES = [
    pytest.param(
        "    to: text\n    board: [a]\n",
        "routing.yaml:9: routes[0].board",
        "a template must be a string, not a list",
        id="board-a-list",
    ),
    pytest.param(
        "    to: text\n    board: '{{ x'\n",
        "routing.yaml:9: routes[0].board",
        "template error",
        id="board-bad-template",
    ),
    pytest.param(
        "    to: text\n    thread: '{{ x | nope }}'\n",
        "routing.yaml:9: routes[0].thread",
        "unknown filter 'nope'",
        id="thread-bad-filter",
    ),
    pytest.param(
        f"    to: text\n    thread: '{'x' * 101}'\n",
        "routing.yaml:9: routes[0].thread",
        "a thread name is at most 100 characters (Discord's limit)",
        id="thread-name-too-long",
    ),
    pytest.param(
        "    to: text\n    thred: x\n",
        "routing.yaml:9: routes[0].thred",
        "unknown key (did you mean 'thread'?)",
        id="thread-typo",
    ),
    pytest.param(
        "    to: text\n    bord: x\n",
        "routing.yaml:9: routes[0].bord",
        "did you mean 'board'?",
        id="board-typo",
    ),
    pytest.param(
        "    to: text\n    thread_id: '{{ id }}'\n",
        "routing.yaml:9: routes[0].thread_id",
        "a thread id is an existing thread's id, not a template (to "
        "choose a thread by the event, name it with thread:)",
        id="thread-id-templated",
    ),
    pytest.param(
        "    to: text\n    thread_id: general\n",
        "routing.yaml:9: routes[0].thread_id",
        "a thread id is a number, not 'general'",
        id="thread-id-a-word",
    ),
    pytest.param(
        "    to: text\n    thread_id: 99999999999999999999\n",
        "routing.yaml:9: routes[0].thread_id",
        "a thread id is a number no larger than 18446744073709551615",
        id="thread-id-too-large",
    ),
    pytest.param(
        "    to: text\n    thread_id: [1]\n",
        "routing.yaml:9: routes[0].thread_id",
        "a thread id must be a string, not a list",
        id="thread-id-a-list",
    ),
    pytest.param(
        "    to: text\n    thread: x\n    thread_id: 123456789012345678\n",
        "routing.yaml:10: routes[0].thread_id",
        "give either 'thread' (a thread made by name) or 'thread_id' (an "
        "existing thread), not both",
        id="thread-and-thread-id",
    ),
    pytest.param(
        "    to: text\n    identity: Floor Boss\n",
        "routing.yaml:9: routes[0].identity",
        "identity ({username: ..., avatar_url: ...}) must be a mapping, "
        "not a string",
        id="identity-a-string",
    ),
    pytest.param(
        "    to: text\n    identity: {}\n",
        "routing.yaml:9: routes[0].identity",
        "give a username, an avatar_url or both",
        id="identity-empty",
    ),
    pytest.param(
        "    to: text\n    identity: {username: a, avatar: b}\n",
        "routing.yaml:9: routes[0].identity.avatar",
        "unknown key (did you mean 'avatar_url'?) (allowed: username, "
        "avatar_url)",
        id="identity-key-typo",
    ),
    pytest.param(
        "    to: text\n    identity: {username: ''}\n",
        "routing.yaml:9: routes[0].identity.username",
        "a username is 1 to 80 characters, not 0 (Discord refuses others)",
        id="username-empty",
    ),
    pytest.param(
        f"    to: text\n    identity: {{username: '{'x' * 81}'}}\n",
        "routing.yaml:9: routes[0].identity.username",
        "a username is 1 to 80 characters, not 81",
        id="username-too-long",
    ),
    pytest.param(
        "    to: text\n    identity: {username: My Discord Bot}\n",
        "routing.yaml:9: routes[0].identity.username",
        "a username must not contain 'discord' (in any case): Discord "
        "refuses it; choose another name",
        id="username-discord",
    ),
    pytest.param(
        "    to: text\n    identity: {username: cLyDe}\n",
        "routing.yaml:9: routes[0].identity.username",
        "must not contain 'clyde'",
        id="username-clyde",
    ),
    pytest.param(
        "    to: text\n    identity: {username: '{{ a'}\n",
        "routing.yaml:9: routes[0].identity.username",
        "template error",
        id="username-bad-template",
    ),
    pytest.param(
        "    to: text\n    identity: {avatar_url: 'ftp://x.io/a.png'}\n",
        "routing.yaml:9: routes[0].identity.avatar_url",
        "must be an http(s) URL, not 'ftp://x.io/a.png'",
        id="avatar-not-http",
    ),
    pytest.param(
        "    to: text\n"
        f"    identity: {{avatar_url: 'https://x.io/{'a' * 2040}'}}\n",
        "routing.yaml:9: routes[0].identity.avatar_url",
        "an avatar URL is at most 2,048 characters, not 2,053",
        id="avatar-too-long",
    ),
    pytest.param(
        f"    to: text\n    identity: {{avatar_url: '{HOOK}'}}\n",
        "routing.yaml:9: routes[0].identity.avatar_url",
        "this URL holds a webhook or bot token, which every message would "
        "show; use a picture's URL",
        id="avatar-a-webhook",
    ),
    pytest.param(
        "    to: forum\n",
        "routing.yaml:8: routes[0].to",
        "'forum' is a forum channel (type: forum), where every message "
        "goes into a thread (a post), and Discord refuses one without "
        "(error 220001): give this route thread: (the post's name, a "
        "template) or thread_id: (an existing post's id)",
        id="forum-without-thread",
    ),
    pytest.param(
        "    to: [text, forum]\n    board: b\n",
        "routing.yaml:8: routes[0].to[1]",
        "'forum' is a forum channel",
        id="forum-in-a-list-with-a-board",
    ),
    pytest.param(
        "    to: bot\n    identity: {username: Boss}\n",
        "routing.yaml:9: routes[0].identity",
        "'bot' is a bot-token channel ({id: ...}): a bot posts under its "
        "own name and picture, so identity: cannot apply (remove it, or "
        "send to a webhook channel)",
        id="bot-identity",
    ),
    pytest.param(
        "    to: [text, bot]\n    thread: '{{ agent }}'\n",
        "routing.yaml:9: routes[0].thread",
        "'bot' is a bot-token channel ({id: ...}), and a bot's messages "
        "cannot start a thread by name here: give thread_id: (an "
        "existing thread's id, which a bot posts into), or send to a "
        "webhook channel",
        id="bot-thread",
    ),
    pytest.param(
        "    to: text\ndelivery: {attach_tracebacks: maybe}\n",
        "routing.yaml:9: delivery.attach_tracebacks",
        "must be true or false, not 'maybe'",
        id="attach-not-a-boolean",
    ),
    pytest.param(
        "    to: text\ndelivery: {attach_traceback: false}\n",
        "routing.yaml:9: delivery.attach_traceback",
        "did you mean 'attach_tracebacks'?",
        id="attach-typo",
    ),
]


@pytest.mark.parametrize(("tail", "where", "says"), MISTAKES)
def test_each_mistake_is_told_where_it_is(
    tail: str, where: str, says: str
) -> None:
    problems = _problems(tail)

    assert [where] == [_where(p) for p in problems]
    assert says in problems[0]


def test_a_token_in_an_avatar_url_is_not_shown() -> None:
    for url in (HOOK, f"https://x.io/{BOT_TOKEN}.png"):
        (problem,) = _problems(
            f"    to: text\n    identity: {{avatar_url: '{url}'}}\n"
        )
        assert WEBHOOK_TOKEN not in problem
        assert BOT_TOKEN not in problem


#: Each mistake of ``channels:`` (lines 1-3 and the case's, at line 4).
CHANNEL_MISTAKES = [
    pytest.param(
        "  a: {webhook: '', type: forom}\n",
        "routing.yaml:4: channels.a.type",
        "must be text or forum, not 'forom' (did you mean 'forum'?)",
        id="type-typo",
    ),
    pytest.param(
        "  a: {webhook: '', type: 1}\n",
        "routing.yaml:4: channels.a.type",
        "must be text or forum, not 1",
        id="type-a-number",
    ),
    pytest.param(
        "  a: {id: '123456789012345678', type: forum}\n",
        "routing.yaml:4: channels.a.type",
        "a forum channel takes a webhook, not an 'id': a bot starts a "
        "forum post through channel thread endpoints this library does "
        "not use (give the forum's webhook: {webhook: URL, type: forum})",
        id="forum-with-a-bot",
    ),
    pytest.param(
        "  a: {id: '${FORUM_ID:-}', type: forum}\n",
        "routing.yaml:4: channels.a.type",
        "a forum channel takes a webhook, not an 'id'",
        id="forum-with-a-bot-unset-here",
    ),
    pytest.param(
        "  a: {webhook: '', kind: forum}\n",
        "routing.yaml:4: channels.a.kind",
        "unknown key",
        id="type-misnamed",
    ),
]


@pytest.mark.parametrize(("spec", "where", "says"), CHANNEL_MISTAKES)
def test_each_channel_mistake_is_told_where_it_is(
    spec: str, where: str, says: str
) -> None:
    head = "version: 1\nroutes: []\nchannels:\n"

    problems = _problems(spec, head)

    assert [where] == [_where(p) for p in problems]
    assert says in problems[0]


def test_a_bot_channel_is_known_by_its_form_whatever_its_variable() -> None:
    """A bot channel with its id unset here is refused an identity too."""
    head = (
        "version: 1\nchannels:\n  bot: {id: '${BOT_CHANNEL:-}'}\n"
        "routes:\n  - name: r\n    to: bot\n"
    )

    (problem,) = _problems("    identity: {username: Boss}\n", head)

    assert "routing.yaml:7: routes[0].identity" == _where(problem)


def test_every_problem_is_told_at_once() -> None:
    problems = _problems(
        "    to: forum\n"
        "    board: [x]\n"
        "    identity: {username: Clyde, avatar_url: nope}\n"
        "    thread_id: x\n"
    )

    assert [
        "routing.yaml:9: routes[0].board",
        "routing.yaml:10: routes[0].identity.username",
        "routing.yaml:10: routes[0].identity.avatar_url",
        "routing.yaml:11: routes[0].thread_id",
    ] == [_where(p) for p in problems]


# -- the messages -------------------------------------------------------------

ROUTING = """\
version: 1
channels:
  alerts_critical: {webhook: "${POLYBOT_WEBHOOK_ALERTS_CRITICAL}", type: forum}
  system_health: ""
  agent_momentum: ""
  bot: {id: "123456789012345678"}
routes:
  - name: health_board
    match: {event: system_health}
    to: system_health
    board: "{{ component | default('floor') }}"
    mention: here
  - name: critical
    match: {event: critical_alert}
    to: alerts_critical
    thread: "{{ component }} {{ issue }}"
  - name: agent_logs
    match: {logger: "agents.*"}
    to: agent_momentum
    thread: "{{ agent }}"
    identity: {username: "{{ agent }}", avatar_url: "{{ avatar }}"}
  - name: broken
    match: {event: broken}
    to: [agent_momentum, "{{ 'bot' }}"]
    board: "{{ 1 / 0 }}"
    thread: "{{ nope() }}"
    identity: {username: "{{ 1 // 0 }}"}
  - name: by_id
    match: {event: by_id}
    to: ["{{ 'bot' }}", agent_momentum]
    thread_id: 123456789012345678
    identity: {username: Floor Boss}
  - name: plain
    to: system_health
    mention: here
"""


class _Told(Diagnostics):
    """Diagnostics that keep what they were told."""

    def __init__(self) -> None:
        super().__init__()
        self.said: list[tuple[str, str]] = []

    def warn(self, key: str, text: str, *args: Any, **kwargs: Any) -> None:
        self.said.append((key, text))


def _holder() -> tuple[RoutingHolder, _Told, Stats]:
    config = parse_config(ROUTING, "routing.yaml", environ={})
    told, stats = _Told(), Stats()
    return RoutingHolder(config, None, stats, told), told, stats


def _sent(
    event: str, level: int = logging.INFO, logger: str = "app", **fields: Any
) -> list[RoutedMessage]:
    holder, _, _ = _holder()
    raw = (event, level, logger, time.time(), fields, None, None)
    return holder.process(raw)


def test_a_message_without_them_has_no_place() -> None:
    (message,) = _sent("anything")

    assert message.place is None
    assert "username" not in message.payload
    assert "avatar_url" not in message.payload
    assert "@here" == message.content


def test_a_thread_name_is_rendered_plain() -> None:
    (message,) = _sent("critical_alert", component="db_main", issue="*down*")

    assert Place(thread="db_main *down*") == message.place
    assert "db_main *down*" == message.thread


def test_a_thread_name_is_cut_at_100() -> None:
    (message,) = _sent("critical_alert", component="x" * 150, issue="")

    assert message.thread is not None
    assert 100 == len(message.thread)
    assert message.thread.endswith("…")


def test_an_empty_thread_name_is_the_routes_name() -> None:
    (message,) = _sent("critical_alert", component=" ", issue="\x00\n")

    assert "critical" == message.thread


def test_control_characters_leave_a_thread_name() -> None:
    (message,) = _sent("critical_alert", component="db\x1b[31m", issue="x\ny")

    assert "db[31m x y" == message.thread


def test_a_token_in_a_thread_name_or_username_is_hidden() -> None:
    (by_value,) = _sent(
        "critical_alert", component=BOT_TOKEN, issue=f"see {HOOK}"
    )
    (logs,) = _sent("x", logger="agents.m", agent=f"A {BOT_TOKEN}")
    # a token split by a control character is joined before the search
    split = BOT_TOKEN[:10] + "\x00" + BOT_TOKEN[10:]
    (joined,) = _sent("critical_alert", component=split, issue="")

    assert by_value.thread is not None
    assert BOT_TOKEN not in by_value.thread
    assert WEBHOOK_TOKEN not in by_value.thread
    assert "(redacted)" in by_value.thread
    assert logs.username is not None
    assert BOT_TOKEN not in logs.username
    assert logs.thread is not None
    assert BOT_TOKEN not in logs.thread
    assert "(redacted)" == joined.thread


def test_an_identity_goes_into_the_body() -> None:
    (message,) = _sent(
        "x", logger="agents.m", agent="Momentum", avatar="https://x.io/m.png"
    )

    assert "Momentum" == message.payload["username"] == message.username
    assert "https://x.io/m.png" == message.payload["avatar_url"]
    assert "https://x.io/m.png" == message.avatar_url
    assert Place(thread="Momentum") == message.place


@pytest.mark.parametrize(
    ("agent", "word"),
    [
        pytest.param("discord_bot", "discord", id="discord"),
        pytest.param("CLYDE", "clyde", id="clyde"),
        pytest.param("   ", "empty", id="empty"),
    ],
)
def test_a_username_discord_refuses_is_left_out_and_told_once(
    agent: str, word: str
) -> None:
    holder, told, _ = _holder()
    raw = ("x", logging.INFO, "agents.m", time.time(), {"agent": agent})

    first = holder.process((*raw, None, None))
    second = holder.process((*raw, None, None))

    assert 2 == len(first + second)  # the messages still go
    assert all("username" not in m.payload for m in first + second)
    assert ["identity:agent_logs:identity.username"] == sorted(
        {key for key, _ in told.said}
    )
    assert all(word in text for _, text in told.said)


@pytest.mark.parametrize(
    "avatar",
    [
        pytest.param("ftp://x.io/a.png", id="not-http"),
        pytest.param("https://x.io/" + "a" * 2048, id="too-long"),
        pytest.param(HOOK, id="a-webhook"),
        pytest.param(f"https://x.io/{BOT_TOKEN}", id="a-bot-token"),
        pytest.param("https://x.io/a b.png", id="a-space"),
    ],
)
def test_an_avatar_discord_refuses_is_left_out_and_told(avatar: str) -> None:
    holder, told, _ = _holder()
    fields = {"agent": "A", "avatar": avatar}
    raw = ("x", logging.INFO, "agents.m", time.time(), fields, None, None)

    (message,) = holder.process(raw)

    assert "avatar_url" not in message.payload
    assert "A" == message.username
    ((key, text),) = told.said
    assert "identity:agent_logs:identity.avatar_url" == key
    assert WEBHOOK_TOKEN not in text
    assert BOT_TOKEN not in text


def test_a_board_never_pings_and_is_never_folded() -> None:
    (message,) = _sent("system_health", component="db")

    assert Place(board="db") == message.place
    assert "db" == message.board
    assert "content" not in message.payload
    assert {"parse": []} == message.payload["allowed_mentions"]
    assert Fold(never=True) == message.fold


def test_a_board_key_may_come_from_a_default() -> None:
    (message,) = _sent("system_health")

    assert "floor" == message.board


def test_a_warning_on_a_board_also_posts_a_message_that_pings() -> None:
    board, ping = _sent("system_health", logging.WARNING, component="db")

    assert "db" == board.board
    assert "content" not in board.payload
    assert ping.place is None
    assert "system_health" == ping.channel == board.channel
    assert "@here" == ping.content
    assert {"parse": ["everyone"]} == ping.payload["allowed_mentions"]
    assert Fold() == ping.fold
    assert ping.embed == board.embed
    assert ping.embed is not board.embed  # delivery may change either


def test_the_ping_of_a_board_in_a_thread_goes_into_the_thread() -> None:
    text = (
        "version: 1\nchannels: {f: {webhook: '', type: forum}}\nroutes:\n"
        "  - {name: r, to: f, thread: incidents, board: '{{ c }}', "
        "mention: 'role:123456789012345678'}\n"
    )
    config = parse_config(text, "routing.yaml", environ={})
    holder = RoutingHolder(config, None, Stats(), Diagnostics())
    raw = ("e", logging.ERROR, "app", time.time(), {"c": "db"}, None, None)

    board, ping = holder.process(raw)

    assert Place(thread="incidents", board="db") == board.place
    assert Place(thread="incidents") == ping.place
    assert "<@&123456789012345678>" == ping.content


def test_template_errors_never_cost_the_message() -> None:
    holder, told, stats = _holder()
    raw = ("broken", logging.INFO, "app", time.time(), {}, None, None)

    webhook, bot = holder.process(raw)

    # the board's key failed: posted as an ordinary message, in the
    # thread named after the route (its name failed too)
    assert Place(thread="broken") == webhook.place == bot.place
    assert "username" not in webhook.payload
    assert 3 == stats.get("errors.template")
    assert {
        "render:broken:board",
        "render:broken:thread",
        "render:broken:identity.username",
    } == {key for key, _ in told.said}


def test_a_bot_channel_gets_no_identity() -> None:
    bot, webhook = _sent("by_id")

    assert Place(thread_id="123456789012345678") == bot.place == webhook.place
    assert "123456789012345678" == bot.thread_id
    assert "username" not in bot.payload
    assert "Floor Boss" == webhook.username


@pytest.mark.parametrize("kind", [ALERT, DIGEST])
def test_made_routes_have_no_place(kind: str) -> None:
    text = (
        "version: 1\nchannels: {a: ''}\nroutes: []\n"
        "watches:\n  - {name: w, alert_after: 1m, to: a}\n"
        "digests:\n  - {name: d, every: 1h, measures: {n: count}, to: a}\n"
    )
    config = parse_config(text, "routing.yaml", environ={})
    rule = config.digests[0] if kind == DIGEST else config.watches[0]

    route = made_route(rule, kind)

    assert (None, None, None, None) == (
        route.board,
        route.thread,
        route.thread_id,
        route.identity,
    )


# -- check and preview --------------------------------------------------------


def test_check_shows_a_routes_board_thread_and_identity(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "routing.yaml"
    path.write_text(ROUTING, encoding="utf-8")

    assert 0 == main(["check", str(path)])

    out = capsys.readouterr().out
    header = out.splitlines()[1]
    start = header.index("options")
    rows = {
        line.split()[1]: line[start:].strip() for line in out.splitlines()[3:9]
    }
    assert (
        "pings @here, board {{ component | default('…"
        == (rows["health_board"])
    )
    assert "thread {{ component }} {{ issue }}" == rows["critical"]
    assert (
        "thread {{ agent }}, as {{ agent }}, own ava…" == (rows["agent_logs"])
    )
    assert "thread id 123456789012345678, as Floor Boss" == rows["by_id"]
    assert "pings @here" == rows["plain"]


def test_preview_says_where_a_message_goes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "routing.yaml"
    path.write_text(ROUTING, encoding="utf-8")
    long = "Momentum_" + "x" * 80  # a thread's name may be 100 long
    events = [
        {"event": "system_health", "level": "error", "component": "db"},
        {"event": "x", "logger": "agents.a", "agent": "Momentum"},
        {"event": "anything"},
        {"event": "x", "logger": "agents.a", "agent": long},
    ]
    argv = ["preview", str(path)]
    for event in events:
        argv += ["--event", json.dumps(event)]

    assert 0 == main(argv)

    lines = capsys.readouterr().out.splitlines()
    said = [
        lines[n + 1]
        for n, line in enumerate(lines)
        if line.startswith("#") and not lines[n + 1].startswith("{")
    ]
    assert [
        "  ↳ board 'db' (edited in place)",
        "  ↳ thread 'Momentum' · as Momentum",
        # whole, wider than a console (the name is cut to Discord's 80)
        f"  ↳ thread '{long}' · as {long[:79]}…",
    ] == said


@pytest.mark.parametrize(
    ("to", "noted"),
    [
        ("hooked", True),  # a webhook channel, not declared a forum
        ("forum", False),  # a forum: threads are made there
        ("text", False),  # the console: nothing to make
        ("'{{ where }}'", False),  # chosen per event: cannot be told
    ],
)
def test_a_thread_to_a_channel_not_declared_a_forum_is_noted(
    to: str, noted: bool
) -> None:
    """A webhook makes threads only in a forum: check says what follows."""
    head = HEAD.replace('  text: ""\n', f'  text: ""\n  hooked: "{HOOK}"\n')
    config = _config(
        f"    match: {{event: a}}\n    to: {to}\n    thread: x\n", head
    )
    said = [n for n in config.notes if "not declared a forum" in n]
    assert noted == bool(said)
    if noted:
        assert said[0].startswith("routing.yaml:11: routes[0].thread: ")
        assert WEBHOOK_TOKEN not in said[0]


FORUM_TARGETS = """\
    to: text
watches:
  - {name: silent, match: {event: hb}, key: agent, alert_after: 1m,
     to: forum}
digests:
  - {name: hourly, match: {event: t}, every: 1h, measures: {n: count},
     to: forum}
delivery:
  ops_channel: forum
  report: {every: 1h, channel: forum}
"""


def test_a_forum_takes_notices_reports_watches_and_digests() -> None:
    """Each goes into a thread of its own there, so none is refused."""
    config = _config(FORUM_TARGETS)

    assert "forum" == config.delivery.ops_channel
    assert "forum" == config.delivery.notice_channel
    assert config.watches[0].to[0].source == "forum"


KEYED = {"watch": "silent", "key": "Momentum_BTC"}


@pytest.mark.parametrize(
    ("kind", "values", "thread"),
    [
        (
            ALERT,
            {"watch": "silent", "key": "Momentum_BTC"},
            "silent — Momentum_BTC",
        ),
        (
            "recovery",
            {"watch": "silent", "key": "Momentum_BTC"},
            "silent — Momentum_BTC",
        ),
        (ALERT, {"watch": "silent", "key": None}, "silent"),
        (DIGEST, {}, "hourly"),
    ],
)
def test_in_a_forum_an_alert_and_its_recovery_share_a_thread(
    kind: str, values: dict[str, Any], thread: str
) -> None:
    """A watch's key has its thread; a digest has one of its own."""
    config = _config(FORUM_TARGETS)
    rule = config.watches[0] if kind != DIGEST else config.digests[0]
    route = made_route(rule, kind)
    event = LogEvent(
        event="watch_alert",
        level=logging.ERROR,
        logger=WATCHING_LOGGER,
        time=time.time(),
        fields=values,
        message="watch_alert",
    )
    channel = config.channels["forum"]
    (message,) = _routed(
        event,
        route,
        ("forum", channel),
        {"title": "t"},
        place=None,
        identity={},
    )

    assert thread == message.thread
