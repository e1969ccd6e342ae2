"""
Discord's rate limits, against the loopback fake's real buckets and 429s.

The fake allows 5 requests per webhook per 2 s, like Discord. The engine
should wait on the ``X-RateLimit-*`` headers instead of running into
429s, and honour ``retry_after`` when a 429 comes anyway.
"""

from __future__ import annotations

import math
import time
from typing import Any

import pytest

from fakes.discord import FakeDiscord
from tests.support.connect import Connect
from tests.support.helpers import routing_yaml

WAIT = 10.0  # seconds: a bound on waits for real threads, never reached
#: The fake's webhook limit: requests per window (seconds).
LIMIT, PER = 5, 2.0


def _numbers(embeds: list[dict[str, Any]]) -> list[int]:
    """
    Return the ``n`` field of each embed that has one, in order.
    """
    return [
        int(item["value"])
        for embed in embeds
        for item in embed.get("fields", ())
        if item["name"] == "N"
    ]


def _allowed(messages: int) -> float:
    """
    Return the least time *messages* requests take at 5 per 2 s.

    The first 5 go at once, then 5 more each 2 s.
    """
    return PER * (math.ceil(messages / LIMIT) - 1)


pytestmark = pytest.mark.usefixtures("clean_environment")


class TestBurst:
    """
    A burst is paced by the headers, not by 429s.
    """

    @pytest.mark.slow
    def test_250_trades_arrive_within_the_limit(
        self,
        fake_discord: FakeDiscord,
        connect: Connect,
    ) -> None:
        """
        250 distinct trades arrive in at most 26 messages and one 429.

        They take at most 1.2 times what 5 requests per 2 s allow for
        the messages sent, plus a second.
        """
        handler, log = connect(
            routing_yaml(
                {"trades": fake_discord.webhook_url("2101", "tok-tr")},
                """\
                    - name: trades
                      match: {event: trade_executed}
                      to: trades
                      coalesce: false
                    """,
                batch_window="0.2s",
                flush_timeout="30s",
            )
        )

        started = time.monotonic()
        for n in range(250):
            log.info(
                "trade_executed",
                extra={"n": n, "agent": "MomentumAlpha", "amount": 20.0},
            )
        arrived = fake_discord.wait_for(lambda f: len(f.embeds()) >= 250, 30)
        handler.flush()

        messages = fake_discord.messages
        took = messages[-1].time - started
        bound = 1.2 * _allowed(len(messages)) + 1.0
        print(
            f"250 embeds in {len(messages)} messages, last after {took:.2f}s"
            f" (bound {bound:.2f}s), {fake_discord.count(429)} 429s"
        )
        assert arrived
        assert list(range(250)) == sorted(_numbers(fake_discord.embeds()))
        assert len(messages) <= 26
        assert fake_discord.count(429) <= 1
        assert took <= bound
        assert [] == fake_discord.rejected


class TestTooManyRequests:
    """
    A 429 is waited out as it says, and is not an error.
    """

    @pytest.mark.slow
    def test_bucket_retry_after_is_honoured(
        self,
        fake_discord: FakeDiscord,
        connect: Connect,
    ) -> None:
        """After a bucket 429, the next request waits its retry_after."""
        retry_after = 1.0
        handler, log = connect(
            routing_yaml(
                {"trades": fake_discord.webhook_url("2201", "tok-tr")},
                "- {name: trades, to: trades, coalesce: false}",
                batch_window="0.2s",
            )
        )
        fake_discord.fail_with(
            429,
            times=1,
            body={
                "message": "You are being rate limited.",
                "retry_after": retry_after,
                "global": False,
            },
            headers={
                "Retry-After": "1",
                "X-RateLimit-Scope": "user",
                "X-RateLimit-Bucket": "a1b2c3",
            },
        )

        log.info("trade_executed", extra={"n": 1})
        handler.flush()

        first, second = fake_discord.requests
        gap = second.time - first.time
        print(f"retried {gap:.3f}s after a 429 with retry_after {retry_after}")
        assert (429, 200) == (first.status, second.status)
        assert retry_after <= gap < retry_after + 2.0
        assert [1] == _numbers(fake_discord.embeds())
        assert 1 == handler.stats().get("rate_limited")
        assert [] == [k for k in handler.stats() if k.startswith("dropped.")]
        assert [] == fake_discord.rejected

    @pytest.mark.slow
    def test_stats_say_how_long_the_wait_has_to_run(
        self,
        fake_discord: FakeDiscord,
        connect: Connect,
    ) -> None:
        """
        While a lane waits out a 429, ``rate_limit.wait_s`` says for how
        long still (whole seconds, rounded up); 0 once nothing waits.
        """
        handler, log = connect(
            routing_yaml(
                {"trades": fake_discord.webhook_url("2202", "tok-tr")},
                "- {name: trades, to: trades, coalesce: false}",
                batch_window="0.1s",
            )
        )
        fake_discord.fail_with(
            429,
            times=1,
            body={
                "message": "You are being rate limited.",
                "retry_after": 3.0,
                "global": False,
            },
            headers={"Retry-After": "3", "X-RateLimit-Scope": "user"},
        )
        before = handler.stats()["rate_limit.wait_s"]

        log.info("trade_executed", extra={"n": 1})
        fake_discord.wait_for(lambda f: len(f.requests) == 1, WAIT)
        deadline = time.monotonic() + WAIT
        waiting = 0
        while not waiting and time.monotonic() < deadline:
            waiting = handler.stats()["rate_limit.wait_s"]
        handler.flush()

        assert 0 == before
        assert 1 <= waiting <= 4  # 3 s and the limiter's safety margin
        assert 0 == handler.stats()["rate_limit.wait_s"]
        assert [1] == _numbers(fake_discord.embeds())

    @pytest.mark.slow
    def test_global_429_pauses_every_channel(
        self,
        fake_discord: FakeDiscord,
        connect: Connect,
    ) -> None:
        """A global 429 on one webhook holds the others back too."""
        retry_after = 1.0
        handler, log = connect(
            routing_yaml(
                {
                    "first": fake_discord.webhook_url("2301", "tok-a"),
                    "second": fake_discord.webhook_url("2302", "tok-b"),
                },
                """\
                    - {name: first, match: {event: to_first}, to: first}
                    - {name: second, match: {event: to_second}, to: second}
                    """,
                batch_window="0.2s",
            )
        )
        fake_discord.global_429(retry_after)

        log.info("to_first")
        # once the engine has taken in the 429, not just once it was sent
        assert fake_discord.wait_for(
            lambda _: handler.stats().get("rate_limited") == 1, WAIT
        )
        limited = fake_discord.requests[0].time
        log.info("to_second")
        handler.flush()

        after = {
            r.path.split("/")[-2]: r.time - limited
            for r in fake_discord.requests[1:]
        }
        print(f"after the global 429, requests went at {after} s")
        assert ["2301"] == [
            r.path.split("/")[-2]
            for r in fake_discord.requests
            if r.status == 429
        ]
        assert {"2301", "2302"} == set(after)
        assert all(gap >= retry_after for gap in after.values())
        assert 2 == len(fake_discord.messages)
        assert [] == fake_discord.rejected
