"""
Boards, threads, files and identities against the loopback fake Discord.

A board is one message per key, edited in place, across restarts; a
thread per name, made by its first message in a forum; a traceback the
embed had to cut goes whole beside it. The boards' scenario runs real
processes one after the other (``scripts/board_process.py``), sharing a
spool directory, so the second edits what the first posted.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from fakes.discord import FakeDiscord
from fakes.discord_schema import payload_errors
from tests.support.helpers import flushed, routing_yaml

SCRIPT = Path(__file__).parent / "scripts" / "board_process.py"
TIMEOUT = 120.0  # seconds: a bound for a script, never reached
WEBHOOK = ("4001", "tok-health")
CHANNEL = "7001"
TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GaBcDe.abcdefghijklmnopqrstuvwxyz0123456"

pytestmark = pytest.mark.usefixtures("clean_environment")

MakeRouting = Callable[[str], Path]


def _board_routing(fake: FakeDiscord, spool: Path | None = None) -> str:
    settings = {
        "batch_window": "0.05s",
        "flush_timeout": "20s",
        "reload": "off",
    }
    if spool is not None:
        settings["spool"] = str(spool)
    return routing_yaml(
        {"health": fake.webhook_url(*WEBHOOK)},
        "- name: health_board\n"
        "  match: {event: system_health}\n"
        "  to: health\n"
        "  board: '{{ component }}'\n"
        "  embed: {title: '{{ component }}', fields: [{name: N, value: "
        "'{{ n }}'}]}\n",
        **settings,
    )


def _boards(fake: FakeDiscord) -> dict[str, Any]:
    """The board messages posted, by title, as they stand now."""
    out = {}
    for posted in fake.messages:
        state = fake.message(posted.id)
        if state.deleted:
            continue
        title = state.embeds[0]["title"]
        assert title not in out, f"two live messages for board {title}"
        out[title] = state
    return out


def _shown(state: Any) -> int:
    """The event number a board message shows now."""
    fields = state.embeds[0]["fields"]
    return int(next(f["value"] for f in fields if f["name"] == "N"))


def _run(routing: Path, start: int, count: int, seconds: float) -> Any:
    env = {
        k: v
        for k, v in os.environ.items()
        if k != "POLYBOT_ROUTING" and not k.startswith("DISCORD_")
    }
    done = subprocess.run(
        [
            sys.executable,
            SCRIPT,
            routing,
            str(start),
            str(count),
            str(seconds),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=TIMEOUT,
        check=False,
    )
    assert 0 == done.returncode, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


class TestBoards:
    def test_one_message_per_key_edited_to_the_latest(
        self,
        fake_discord: FakeDiscord,
        connect: Any,
    ) -> None:
        """Events for five keys make five messages; the rest edit them."""
        fake_discord.set_channel(WEBHOOK[0], CHANNEL)
        handler, log = connect(_board_routing(fake_discord))
        for n in range(60):
            log.info("system_health", extra={"component": f"c{n % 5}", "n": n})
        assert flushed(handler)

        boards = _boards(fake_discord)
        assert [f"c{k}" for k in range(5)] == sorted(boards)
        assert 5 == len(fake_discord.messages)
        for k in range(5):
            # the last event logged for c{k} is 55 + k
            assert 55 + k == _shown(boards[f"c{k}"])
        for state in boards.values():
            assert all("content" not in e.json for e in state.edits)
            for edit in state.edits:
                assert "username" not in edit.json
        stats = handler.stats()
        assert 0 == sum(v for k, v in stats.items() if k.startswith("dropped"))

    def test_a_deleted_board_is_posted_again_once(
        self, fake_discord: FakeDiscord, connect: Any
    ) -> None:
        """Discord answers 10008 for a deleted message: one new post."""
        fake_discord.set_channel(WEBHOOK[0], CHANNEL)
        handler, log = connect(_board_routing(fake_discord))
        log.info("system_health", extra={"component": "db", "n": 1})
        assert flushed(handler)
        (first,) = fake_discord.messages
        fake_discord.delete_message(first.id)

        for n in range(2, 6):
            log.info("system_health", extra={"component": "db", "n": n})
            assert flushed(handler)

        posted = fake_discord.messages
        assert 2 == len(posted)
        assert 5 == _shown(fake_discord.message(posted[1].id))
        assert 1 == sum(1 for r in fake_discord.requests if r.status == 404)

    def test_a_board_too_old_to_edit_is_posted_anew(
        self, fake_discord: FakeDiscord, connect: Any
    ) -> None:
        """30046 (edits of a message over an hour old): posted anew."""
        fake_discord.set_channel(WEBHOOK[0], CHANNEL)
        fake_discord.old_message_edits = 1
        handler, log = connect(_board_routing(fake_discord))
        log.info("system_health", extra={"component": "db", "n": 1})
        assert flushed(handler)
        (first,) = fake_discord.messages
        fake_discord.age_message(first.id, 3700)

        for n in range(2, 5):
            log.info("system_health", extra={"component": "db", "n": n})
            assert flushed(handler)

        posted = fake_discord.messages
        assert 2 == len(posted)
        assert 1 == fake_discord.message(first.id).edit_count
        assert 4 == _shown(fake_discord.message(posted[1].id))

    @pytest.mark.slow  # two processes, each logging for about five seconds
    def test_across_a_restart_with_a_spool(
        self, fake_discord: FakeDiscord, tmp_path: Path
    ) -> None:
        """
        200 events for 5 components over ~10 s, a restart in the middle:
        5 messages and many edits; each ends with its latest state; a
        board deleted between the two processes is posted once more.
        """
        fake_discord.set_channel(WEBHOOK[0], CHANNEL)
        routing = tmp_path / "routing.yaml"
        routing.write_text(_board_routing(fake_discord, tmp_path / "spool"))

        first = _run(routing, 0, 100, 5.0)
        boards = _boards(fake_discord)
        assert 5 == len(boards)
        gone = boards["c2"].id
        fake_discord.delete_message(gone)
        second = _run(routing, 100, 100, 5.0)

        boards = _boards(fake_discord)
        assert [f"c{k}" for k in range(5)] == sorted(boards)
        assert 6 == len(fake_discord.messages)  # c2's, once more
        for k in range(5):
            assert 195 + k == _shown(boards[f"c{k}"])
        edits = len(fake_discord.edits())
        assert edits >= 20, edits
        for stats in (first, second):
            lost = {k: v for k, v in stats.items() if k.startswith("dropped")}
            assert not any(lost.values()), lost


def _thread_routing(fake: FakeDiscord, *, forum: bool) -> str:
    kind = ", type: forum" if forum else ""
    url = fake.webhook_url("4002", "tok-a")
    return routing_yaml(
        {"alerts": f"{{webhook: '{url}'{kind}}}"},
        "- name: critical\n"
        "  match: {event: critical_alert}\n"
        "  to: alerts\n"
        "  thread: '{{ component }} — {{ issue }}'\n"
        "  identity: {username: Floor Boss}\n",
        batch_window="0.05s",
        flush_timeout="10s",
        reload="off",
    )


class TestThreads:
    def test_incidents_get_a_thread_each(
        self, fake_discord: FakeDiscord, connect: Any
    ) -> None:
        """3 incidents with 4 follow-ups each: 3 threads of 5 each."""
        fake_discord.set_channel("4002", CHANNEL, forum=True)
        handler, log = connect(_thread_routing(fake_discord, forum=True))
        incidents = [("feed", "down"), ("db", "slow"), ("api", "5xx")]
        for step in range(5):
            for component, issue in incidents:
                log.error(
                    "critical_alert",
                    extra={
                        "component": component,
                        "issue": issue,
                        "step": step,
                    },
                )
            assert flushed(handler)

        threads = fake_discord.threads(CHANNEL)
        names = sorted(t.name for t in threads)
        assert ["api — 5xx", "db — slow", "feed — down"] == names
        for thread in threads:
            inside = fake_discord.messages_in(thread.id)
            embeds = [e for m in inside for e in m.json["embeds"]]
            assert 5 == len(embeds), thread.name
            assert {"Floor Boss"} == {m.username for m in inside}
        assert [] == fake_discord.messages_in(CHANNEL)  # none outside

    def test_a_text_channel_gets_the_thread_in_the_author_line(
        self,
        fake_discord: FakeDiscord,
        connect: Any,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        """
        A webhook cannot make threads in a text channel (220003): the
        messages go into the channel, their thread named; said once.
        """
        fake_discord.set_channel("4002", CHANNEL)
        handler, log = connect(_thread_routing(fake_discord, forum=False))
        for step in range(3):
            log.error(
                "critical_alert",
                extra={"component": "feed", "issue": "down", "step": step},
            )
            assert flushed(handler)

        posted = fake_discord.messages_in(CHANNEL)
        authors = [m.json["embeds"][0]["author"]["name"] for m in posted]
        assert 3 == len(posted)
        assert all(a.startswith("feed — down") for a in authors)
        refused = [r for r in fake_discord.requests if r.status == 400]
        assert 1 == len(refused)  # the first, never again
        said = [r for r in caplog.records if "not a forum" in r.getMessage()]
        assert 1 == len(said)
        assert 0 == handler.stats().get("dropped.rejected", 0)


def _raise_deep(depth: int, secret: str) -> None:
    """Raise through *depth* distinct frames (repeats would be folded)."""
    source = "".join(
        f"def f{n}(s):\n    return f{n + 1}(s)\n" for n in range(depth)
    )
    source += f"def f{depth}(s):\n    raise RuntimeError('feed lost: ' + s)\n"
    scope: dict[str, Any] = {}
    exec(compile(source, "agents/momentum.py", "exec"), scope)
    scope["f0"](secret)


class TestTracebackFiles:
    def test_a_long_traceback_arrives_whole_beside_its_embed(
        self, fake_discord: FakeDiscord, connect: Any
    ) -> None:
        """60 frames: all in the file, redacted; the embed within limits."""
        secret = fake_discord.webhook_url("9", "tok-leaked-secret-value")
        routing = routing_yaml(
            {"ops": fake_discord.webhook_url("4003", "tok-ops")},
            "- {name: errors, match: {level: error}, to: ops}",
            batch_window="0.05s",
            flush_timeout="10s",
            reload="off",
        )
        handler, log = connect(routing)
        try:
            _raise_deep(60, secret)
        except RuntimeError:
            log.exception("feed_failed")
        assert flushed(handler)

        (posted,) = fake_discord.messages
        (upload,) = posted.files
        text = upload.data.decode("utf-8")
        assert all(f", in f{n}\n" in text for n in range(61))
        assert "tok-leaked-secret-value" not in text
        assert "RuntimeError: feed lost: " in text
        assert [] == payload_errors(posted.json)
        embed = posted.json["embeds"][0]
        assert "traceback.txt" in embed["footer"]["text"]
        assert "tok-leaked-secret-value" not in json.dumps(posted.json)
        assert [{"id": "0", "filename": "traceback.txt"}] == [
            {k: a[k] for k in ("id", "filename")}
            for a in posted.json["attachments"]
        ]


def test_a_bot_channel_board_is_edited_through_the_channel(
    fake_discord: FakeDiscord,
    connect: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With the bot token a board is posted once, then edited in place."""
    monkeypatch.setenv("DISCORD_API_BASE", fake_discord.api_base)
    monkeypatch.setenv("DISCORD_BOT_TOKEN", fake_discord.bot_token)
    routing = routing_yaml(
        {"health": "{id: '222222222222222222'}"},
        "- name: health_board\n"
        "  match: {event: system_health}\n"
        "  to: health\n"
        "  board: '{{ component }}'\n"
        "  embed: {title: '{{ component }}', fields: [{name: N, value: "
        "'{{ n }}'}]}\n",
        batch_window="0.05s",
        flush_timeout="10s",
        reload="off",
    )
    handler, log = connect(routing)
    for n in range(4):
        log.info("system_health", extra={"component": "db", "n": n})
        assert flushed(handler)

    (posted,) = fake_discord.messages
    state = fake_discord.message(posted.id)
    assert 3 == state.edit_count
    assert 3 == _shown(state)
    edits = [r for r in fake_discord.requests if r.method == "PATCH"]
    assert 3 == len(edits)
    assert all(
        "/channels/222222222222222222/messages/" in r.path for r in edits
    )
