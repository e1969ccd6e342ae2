"""
Delivery to the loopback fake Discord, end to end through the worker.

Batching, coalescing, retries, refusals (400, 401, 404), pings, bot
channels, counters, drop notices and fork safety. Every test also checks
that the fake's schema rejected no request body.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable, Mapping
from typing import Any

import pytest

import polybot_loghandler
from fakes.discord import FakeDiscord
from tests.support.connect import Connect
from tests.support.helpers import routing_yaml, run_forked

WAIT = 10.0  # seconds: a bound on waits for real threads, never reached


def _field(embed: Mapping[str, Any], name: str) -> str | None:
    """
    Return the value of the embed field called *name*, if any.
    """
    for item in embed.get("fields", ()):
        if item["name"] == name:
            return str(item["value"])
    return None


def _numbers(embeds: list[dict[str, Any]]) -> list[int]:
    """
    Return the field of each embed that logged ``n`` (shown as ``N``),
    in order.
    """
    return [int(n) for e in embeds if (n := _field(e, "N")) is not None]


def _times(embed: Mapping[str, Any]) -> int:
    """
    Return how many events an embed stands for, by its ``×N`` footer.
    """
    found = re.search(r"×(\d+)", embed.get("footer", {}).get("text", ""))
    return int(found.group(1)) if found else 1


def _notices(embeds: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """
    Return the embeds that say events were not delivered.
    """
    return [
        e
        for e in embeds
        if re.search(r"events? (were|was) not delivered", e.get("title", ""))
    ]


def _wait_until(predicate: Callable[[], bool], timeout: float = WAIT) -> bool:
    """
    Poll *predicate* until it holds or *timeout* passes.
    """
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.005)  # bounded poll of another thread's progress
    return True


pytestmark = pytest.mark.usefixtures("clean_environment")


class TestBatching:
    """
    Ordinary events gather; critical ones and pings keep their own pace.
    """

    @pytest.mark.slow
    def test_critical_goes_at_once_while_ordinary_events_gather(
        self,
        fake_discord: FakeDiscord,
        connect: Connect,
    ) -> None:
        """A critical event skips the batch window; info events wait it."""
        window = 1.5
        handler, log = connect(
            routing_yaml(
                {"alerts": fake_discord.webhook_url("1101", "tok-alerts")},
                "- {name: all, to: alerts, coalesce: false}",
                batch_window=f"{window}s",
            )
        )

        started = time.monotonic()
        log.critical("exchange_down", extra={"n": 0})
        assert fake_discord.wait_for(lambda f: len(f.messages) >= 1, WAIT)
        critical_latency = fake_discord.messages[0].time - started
        gathered = time.monotonic()
        for n in range(1, 4):
            log.info("tick", extra={"n": n})
        assert fake_discord.wait_for(lambda f: len(f.messages) >= 2, WAIT)
        ordinary_latency = fake_discord.messages[1].time - gathered
        handler.flush()

        print(
            f"critical after {critical_latency:.3f}s, ordinary after "
            f"{ordinary_latency:.3f}s (batch window {window}s)"
        )
        assert critical_latency < window / 2
        assert ordinary_latency >= window - 0.05
        assert [[0], [1, 2, 3]] == [
            _numbers(m.json["embeds"]) for m in fake_discord.messages
        ]
        assert [] == fake_discord.rejected

    def test_a_ping_is_never_merged_with_plain_messages(
        self,
        fake_discord: FakeDiscord,
        connect: Connect,
    ) -> None:
        """Messages that ping @everyone carry only the pinging embeds."""
        handler, log = connect(
            routing_yaml(
                {"ops": fake_discord.webhook_url("1102", "tok-ops")},
                """\
                    - name: outage
                      match: {event: outage}
                      to: ops
                      mention: everyone
                      coalesce: false
                    - {name: plain, to: ops, coalesce: false}
                    """,
                batch_window="0.5s",
            )
        )

        # five messages at most: a sixth would wait for the rate limit
        for n in range(5):
            log.warning("outage" if n % 2 else "tick", extra={"n": n})
        handler.flush()

        messages = [m.json for m in fake_discord.messages]
        for body in messages:
            pings = [_field(e, "N") for e in body["embeds"]]
            if body.get("content"):
                assert "@everyone" == body["content"]
                assert {"parse": ["everyone"]} == body["allowed_mentions"]
                assert all(int(n or 0) % 2 for n in pings), body
            else:
                assert not any(int(n or 0) % 2 for n in pings), body
                assert "everyone" not in str(body.get("allowed_mentions"))
        assert list(range(5)) == sorted(_numbers(fake_discord.embeds()))
        assert [] == fake_discord.rejected


class TestCoalescing:
    """
    A flood of one error becomes a few messages that count it.
    """

    @pytest.mark.slow
    def test_five_thousand_identical_errors(
        self,
        fake_discord: FakeDiscord,
        connect: Connect,
    ) -> None:
        """5,000 identical errors arrive as at most 3 messages, ×N summing."""
        handler, log = connect(
            routing_yaml(
                {"errors": fake_discord.webhook_url("1201", "tok-err")},
                "- {name: errors, match: {level: error}, to: errors}",
                batch_window="0.2s",
                flush_timeout="20s",
            )
        )

        started = time.monotonic()
        for _ in range(5000):
            log.error("database_unreachable")
        logged = time.monotonic() - started
        handler.flush()
        elapsed = time.monotonic() - started

        embeds = fake_discord.embeds()
        counts = [_times(e) for e in embeds]
        stats = handler.stats()
        print(
            f"5000 log calls in {logged:.3f}s, flushed after {elapsed:.3f}s:"
            f" {len(fake_discord.messages)} messages, ×N {counts}, {stats}"
        )
        assert len(fake_discord.messages) <= 3
        assert 5000 == sum(counts)
        assert 5000 - len(embeds) == stats.get("coalesced")
        assert 5000 == stats.get("delivered")
        assert len(embeds) == stats.get("sent.embeds")
        assert len(fake_discord.messages) == stats.get("sent.messages")
        assert [] == [k for k in stats if k.startswith("dropped.")]
        assert [] == fake_discord.rejected


class TestRetries:
    """
    Server errors and broken connections are retried until they pass.
    """

    @pytest.mark.parametrize(
        "fault",
        [
            pytest.param("fail_for", id="503"),
            pytest.param("reset_for", id="connection-reset"),
        ],
    )
    @pytest.mark.slow
    def test_fifty_events_arrive_once_after_recovery(
        self,
        fault: str,
        fake_discord: FakeDiscord,
        connect: Connect,
    ) -> None:
        """All 50 events arrive, once each, within 15 s of recovery."""
        outage = 10.0
        handler, log = connect(
            routing_yaml(
                {"trades": fake_discord.webhook_url("1301", "tok-tr")},
                "- {name: trades, to: trades, coalesce: false}",
                batch_window="0.2s",
                retry_for="120s",
                flush_timeout="30s",
            )
        )

        recovery = time.monotonic() + outage  # the fault ends just after
        getattr(fake_discord, fault)(outage)
        for n in range(50):
            log.info("trade_executed", extra={"n": n})
        arrived = fake_discord.wait_for(
            lambda f: len(f.embeds()) >= 50, outage + 25.0
        )
        handler.flush()

        messages = fake_discord.messages
        failed = sum(
            1
            for r in fake_discord.requests
            if r.status is None or r.status >= 500
        )
        stats = handler.stats()
        after = messages[-1].time - recovery if messages else float("nan")
        print(
            f"{fault}: {failed} failed attempts, last of "
            f"{len(fake_discord.embeds())} embeds {after:.2f}s after "
            f"recovery; {stats}"
        )
        assert arrived
        assert list(range(50)) == sorted(_numbers(fake_discord.embeds()))
        assert all(m.time >= recovery for m in messages)
        assert after <= 15.0
        assert 50 == stats.get("delivered")
        assert stats.get("retries", 0) >= 1
        assert [] == [k for k in stats if k.startswith("dropped.")]
        assert [] == fake_discord.rejected


class TestRefusals:
    """
    What Discord refuses is dropped, counted, and never hammered.
    """

    @pytest.mark.parametrize(
        "status",
        [
            pytest.param(401, id="wrong-token-401"),
            pytest.param(404, id="deleted-webhook-404"),
        ],
    )
    def test_a_dead_webhook_is_disabled_quietly(
        self,
        status: int,
        fake_discord: FakeDiscord,
        connect: Connect,
        capsys: pytest.CaptureFixture[str],
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        """
        100 events cost at most 2 requests; the other channel still works.

        The webhook's token shows nowhere: not on stdout or stderr, not in
        any log record at any level.
        """
        caplog.set_level(logging.DEBUG)
        token = "Xq9-secret-webhook-token-7Tz"
        if status == 401:
            fake_discord.set_token("1401", "the-right-token")
        else:
            fake_discord.delete_webhook("1401")
        handler, log = connect(
            routing_yaml(
                {
                    "dead": fake_discord.webhook_url("1401", token),
                    "alive": fake_discord.webhook_url("1402", "tok-ok"),
                },
                """\
                    - {name: dead, match: {event: to_dead}, to: dead,
                       coalesce: false}
                    - {name: alive, match: {event: to_alive}, to: alive,
                       coalesce: false}
                    """,
                batch_window="0.2s",
            )
        )

        for n in range(100):
            log.info("to_dead", extra={"n": n})
            if n % 10 == 0:
                log.info("to_alive", extra={"n": n})
        handler.flush()
        for n in range(100, 105):
            log.info("to_alive", extra={"n": n})
        handler.flush()

        dead = [r for r in fake_discord.requests if "/1401/" in r.path]
        stats = handler.stats()
        out, err = capsys.readouterr()
        print(f"{len(dead)} requests to the dead webhook; {stats}")
        print(err)
        assert len(dead) <= 2
        assert {status} == {r.status for r in dead}
        assert [*range(0, 100, 10), *range(100, 105)] == _numbers(
            fake_discord.embeds(webhook_id="1402")
        )
        assert 100 == stats.get("dropped.webhook_gone")
        assert 1 == err.count("is disabled")
        records = [
            f"{r.name}: {r.getMessage()} {r.args!r} {r.exc_text}"
            for r in caplog.records
        ]
        leaks = [text for text in [out, err, *records] if token in text]
        assert [] == leaks
        assert [] == fake_discord.rejected

    def test_a_rejected_message_is_dropped_once_and_noticed(
        self,
        fake_discord: FakeDiscord,
        connect: Connect,
    ) -> None:
        """A 400 drops that message only, untried again; later ones go."""
        handler, log = connect(
            routing_yaml(
                {"trades": fake_discord.webhook_url("1501", "tok-tr")},
                "- {name: trades, to: trades, coalesce: false}",
                batch_window="0.2s",
            )
        )
        fake_discord.fail_with(
            400,
            times=1,
            body={
                "code": 50035,
                "message": "Invalid Form Body",
                "errors": {"embeds": {"0": {"_errors": []}}},
            },
        )

        log.info("trade_executed", extra={"n": 1})
        handler.flush()
        refused = handler.stats()
        log.info("trade_executed", extra={"n": 2})
        handler.flush()

        stats = handler.stats()
        embeds = fake_discord.embeds()
        print(f"after the 400: {refused}; at the end: {stats}")
        assert 1 == fake_discord.count(400)
        assert 1 == len(fake_discord.requests) - len(fake_discord.messages)
        assert 1 == refused.get("dropped.rejected")
        assert 0 == refused.get("retries", 0)
        assert [2] == _numbers(embeds)
        assert ["⚠️ 1 event was not delivered"] == [
            e["title"] for e in _notices(embeds)
        ]
        assert 1 == stats.get("dropped.rejected")
        assert [] == fake_discord.rejected


class TestBoundedMemory:
    """
    While a destination is stuck, the least severe events make room.
    """

    @pytest.mark.slow
    def test_lowest_level_is_evicted_and_the_ops_channel_told(
        self,
        fake_discord: FakeDiscord,
        connect: Connect,
    ) -> None:
        """
        Over queue_size, the oldest info goes first; the error stays.

        Once delivery recovers, the ops channel hears how many events
        were lost, and every event is either delivered or dropped.
        """
        handler, log = connect(
            routing_yaml(
                {
                    "trades": fake_discord.webhook_url("1601", "tok-tr"),
                    "ops": fake_discord.webhook_url("1602", "tok-ops"),
                },
                "- {name: trades, to: trades, coalesce: false}",
                batch_window="0.2s",
                queue_size="3",
                ops_channel="ops",
            )
        )
        fake_discord.hang(times=1)

        def log_one(level: int, n: int) -> None:
            handled = handler.stats()["handled"]
            log.log(level, "trade_executed", extra={"n": n})
            # one at a time: the worker's own queue never overflows
            assert _wait_until(lambda: handler.stats()["handled"] > handled)

        log_one(logging.INFO, 0)
        assert fake_discord.wait_for(lambda f: f.held == 1, WAIT)
        log_one(logging.ERROR, 1)
        for n in range(2, 6):
            log_one(logging.INFO, n)
        stuck = handler.stats()
        fake_discord.recover()
        handler.flush()

        stats = handler.stats()
        sent = [
            (m.webhook_id, [e.get("title") for e in m.json["embeds"]])
            for m in fake_discord.messages
        ]
        print(f"while stuck: {stuck}; at the end: {stats}; sent: {sent}")
        assert [0, 1, 4, 5] == _numbers(fake_discord.embeds("1601"))
        assert ["⚠️ 2 events were not delivered"] == [
            e["title"] for e in _notices(fake_discord.embeds("1602"))
        ]
        assert 2 == stats.get("dropped.queue_full")
        assert 6 == stats["delivered"] + stats["dropped.queue_full"]
        assert [] == fake_discord.rejected


class TestBotChannels:
    """
    Channels given by id are posted to with the bot token.
    """

    def test_posts_with_the_bot_token(
        self,
        fake_discord: FakeDiscord,
        connect: Connect,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """DISCORD_API_BASE and DISCORD_BOT_TOKEN reach the channel."""
        monkeypatch.setenv("DISCORD_API_BASE", fake_discord.api_base)
        monkeypatch.setenv("DISCORD_BOT_TOKEN", fake_discord.bot_token)
        handler, log = connect(
            routing_yaml(
                {"ops": "{id: '123456789012345678'}"},
                "- {name: all, to: ops, coalesce: false}",
                batch_window="0.2s",
            )
        )

        for n in range(3):
            log.info("deployed", extra={"n": n})
        handler.flush()

        requests = fake_discord.requests
        assert ["/api/v10/channels/123456789012345678/messages"] == [
            r.path for r in requests
        ]
        assert f"Bot {fake_discord.bot_token}" == requests[0].headers.get(
            "authorization"
        )
        assert [0, 1, 2] == _numbers(
            fake_discord.embeds(channel_id="123456789012345678")
        )
        assert 3 == handler.stats().get("delivered")
        assert [] == fake_discord.rejected

    def test_without_a_bot_token_nothing_is_sent(
        self,
        fake_discord: FakeDiscord,
        connect: Connect,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """With no DISCORD_BOT_TOKEN, events are dropped and counted."""
        monkeypatch.setenv("DISCORD_API_BASE", fake_discord.api_base)
        handler, log = connect(
            routing_yaml(
                {"ops": "{id: '123456789012345678'}"},
                "- {name: all, to: ops, coalesce: false}",
                batch_window="0.2s",
            )
        )

        for n in range(3):
            log.info("deployed", extra={"n": n})
        handler.flush()

        assert 0 == fake_discord.count()
        assert 3 == handler.stats().get("dropped.no_token")
        assert 1 == capsys.readouterr().err.count("DISCORD_BOT_TOKEN")
        assert [] == fake_discord.rejected


class TestRequests:
    """
    What every request carries, and what the counters say about them.
    """

    def test_user_agent(
        self,
        fake_discord: FakeDiscord,
        connect: Connect,
    ) -> None:
        """The User-Agent is ``DiscordBot (<url>, <version>)``."""
        handler, log = connect(
            routing_yaml(
                {"ops": fake_discord.webhook_url("1701", "tok-ops")},
                "- {name: all, to: ops}",
                batch_window="0.2s",
            )
        )
        log.info("hello")
        handler.flush()

        agents = {r.headers.get("user-agent") for r in fake_discord.requests}
        assert 1 == len(agents)
        found = re.fullmatch(
            r"DiscordBot \((https?://[^,\s]+), ([^)\s]+)\)", agents.pop() or ""
        )
        assert found is not None
        assert polybot_loghandler.__version__ == found.group(2)
        assert [] == fake_discord.rejected

    @pytest.mark.slow
    def test_stats_count_each_outcome(
        self,
        fake_discord: FakeDiscord,
        connect: Connect,
    ) -> None:
        """A retry, a 429, duplicates and a 400 each show in stats()."""
        handler, log = connect(
            routing_yaml(
                {"ops": fake_discord.webhook_url("1702", "tok-ops")},
                """\
                - {name: errors, match: {level: error}, to: ops}
                - {name: rest, to: ops, coalesce: false}
                """,
                batch_window="0.2s",
            )
        )

        fake_discord.fail_with(503, times=1)
        for _ in range(3):
            log.error("database_unreachable")
        handler.flush()
        fake_discord.fail_with(
            429,
            times=1,
            body={
                "message": "You are being rate limited.",
                "retry_after": 0.2,
            },
            headers={"X-RateLimit-Scope": "user", "Retry-After": "1"},
        )
        log.info("tick", extra={"n": 1})
        handler.flush()
        fake_discord.fail_with(400, times=1, body={"code": 50035})
        log.info("tick", extra={"n": 2})
        handler.flush()

        stats = handler.stats()
        expected = {
            "sent.messages": 2,
            "sent.embeds": 2,
            "delivered": 4,
            "coalesced": 2,
            "retries": 1,
            "rate_limited": 1,
            "dropped.rejected": 1,
        }
        assert expected == {k: stats.get(k) for k in expected}
        assert [] == fake_discord.rejected


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
class TestFork:
    """
    A forked child delivers its own events, and never the parent's.
    """

    @staticmethod
    def _fork(child: Callable[[], int]) -> int:
        """Run *child* in a forked process; return its exit status."""
        return run_forked(child, 2 * WAIT)

    @pytest.mark.slow
    def test_child_gets_a_fresh_worker(
        self,
        fake_discord: FakeDiscord,
        connect: Connect,
    ) -> None:
        """The child's event arrives once; the parent's queue stays its own."""
        handler, log = connect(
            routing_yaml(
                {"ops": fake_discord.webhook_url("1801", "tok-ops")},
                "- {name: all, to: ops, coalesce: false}",
                batch_window="0.2s",
                flush_timeout="5s",
            )
        )
        fake_discord.hang(times=1)
        log.info("in_flight", extra={"n": 1})
        assert fake_discord.wait_for(lambda f: f.held == 1, WAIT)
        log.info("pending_in_parent", extra={"n": 2})
        assert _wait_until(lambda: handler.stats()["handled"] == 2)

        def child() -> int:
            log.info("from_child", extra={"n": 3})
            handler.flush()
            return 0 if handler.stats().get("delivered") == 1 else 3

        status = self._fork(child)
        fake_discord.recover()
        handler.flush()

        assert 0 == status
        assert [1, 2, 3] == sorted(_numbers(fake_discord.embeds()))
        assert [] == fake_discord.rejected
