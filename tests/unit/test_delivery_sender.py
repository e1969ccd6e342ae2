"""
Tests for the sender (``_delivery/sender.py``): one batch to Discord.

Everything is driven by hand: a :class:`FakeClock` is the sender's clock
and its sleep, so every wait (a 429, a retry's backoff, a rate limit past
its cap) is read, not waited; ``ScriptedDiscord`` is an
``httpx.MockTransport`` that answers as Discord does. Every body sent is
checked against Discord's limits and the OpenAPI schema.
"""

from __future__ import annotations

from collections.abc import Iterable

import anyio
import httpx
import pytest

from fakes.discord_schema import payload_errors
from polybot_loghandler._batching import Pending
from polybot_loghandler._delivery.lanes import Lanes, LaneState
from polybot_loghandler._delivery.ledger import Ledger
from polybot_loghandler._delivery.sender import RETRY, Sender
from polybot_loghandler._discord import BOT_TOKEN_ENV
from polybot_loghandler._losses import Loss
from polybot_loghandler._message import RoutedMessage
from polybot_loghandler._model import Config
from polybot_loghandler._ratelimit import RateLimiter
from polybot_loghandler._stats import Stats
from tests.support.delivery import (
    OPS_URL,
    T0,
    TOKEN,
    Answer,
    FakeClock,
    ScriptedDiscord,
    message,
    routing,
    status,
    too_many,
)


class Rig:
    """A sender wired to a fake clock, a scripted Discord and a ledger."""

    def __init__(self, config: Config, script: Iterable[Answer] = ()) -> None:
        self.config = config
        self.clock = FakeClock()
        self.discord = ScriptedDiscord(script)
        self.stats = Stats()
        self.lanes = Lanes(1.0, 60.0, 100)
        self.ledger = Ledger(self.stats, lambda: config, wall=lambda: T0)
        self.limiter = RateLimiter()

    def lane(self, channel: str = "trades") -> LaneState:
        return self.lanes.of(channel, self.config.channels[channel])

    def batch(
        self, *messages: RoutedMessage, channel: str = "trades"
    ) -> tuple[LaneState, list[Pending]]:
        state = self.lane(channel)
        for m in messages:
            self.lanes.add(state, m, self.clock.now)
        return state, self.lanes.take(state, self.clock.now)

    def send(self, *batches: tuple[LaneState, list[Pending]]) -> None:
        """Deliver each batch in turn, as a lane's task would."""

        async def main() -> None:
            async with httpx.AsyncClient(transport=self.discord) as client:
                sender = Sender(
                    client,
                    self.lanes,
                    self.ledger,
                    lambda: self.config,
                    clock=self.clock,
                    sleep=self.clock.sleep,
                    limiter=self.limiter,
                    jitter=_high,
                )
                for state, batch in batches:
                    await sender.deliver(
                        state, batch, [p.message for p in batch]
                    )

        anyio.run(main, backend="asyncio")

    def counters(self) -> dict[str, int]:
        return {k: v for k, v in self.stats.counters().items() if v}

    def posted(self) -> list[str]:
        """The titles of the ledger's own messages, in order."""
        return [m.embed["title"] for m in self.ledger.outbox]

    def sent_to(self) -> list[str]:
        return [str(r.url).split("?")[0] for r in self.discord.requests]


@pytest.fixture
def config() -> Config:
    return routing()


class TestDelivered:
    def test_a_batch_is_one_request_with_every_embed(
        self, config: Config
    ) -> None:
        rig = Rig(config)
        one, two = message(config, "one"), message(config, "two")

        rig.send(rig.batch(one, two))

        assert [["one", "two"]] == rig.discord.titles()
        assert {
            "delivered": 2,
            "sent.messages": 1,
            "sent.embeds": 2,
        } == rig.counters()

    def test_every_body_passes_the_schema_and_pings_no_one(
        self, config: Config
    ) -> None:
        rig = Rig(config)
        rig.send(rig.batch(message(config, "@everyone <@&123> hi")))

        (body,) = rig.discord.bodies()
        assert [] == payload_errors(body)
        assert {"parse": []} == body["allowed_mentions"]

    def test_the_webhook_is_asked_to_wait_for_the_message(
        self, config: Config
    ) -> None:
        rig = Rig(config)
        rig.send(rig.batch(message(config)))

        (request,) = rig.discord.requests
        assert "wait=true" in str(request.url)


class TestRateLimits:
    def test_a_429_is_waited_out_as_discord_says_then_sent(
        self, config: Config
    ) -> None:
        rig = Rig(config, [too_many(2.5)])
        rig.send(rig.batch(message(config)))

        assert 2 == len(rig.discord.requests)
        assert 2.5 <= sum(rig.clock.slept) < 2.7
        assert {"rate_limited": 1, "delivered": 1} == {
            k: rig.counters()[k] for k in ("rate_limited", "delivered")
        }
        assert "retries" not in rig.counters()

    def test_an_exhausted_bucket_is_waited_before_the_next_batch(
        self, config: Config
    ) -> None:
        spent = httpx.Response(
            200,
            json={"id": "1"},
            headers={
                "x-ratelimit-bucket": "abc",
                "x-ratelimit-limit": "5",
                "x-ratelimit-remaining": "0",
                "x-ratelimit-reset-after": "4",
            },
        )
        rig = Rig(config, [spent])

        rig.send(
            rig.batch(message(config, "first")),
            rig.batch(message(config, "second")),
        )

        assert [["first"], ["second"]] == rig.discord.titles()
        assert 4.0 <= sum(rig.clock.slept) < 4.2  # before, not after, a 429
        assert "rate_limited" not in rig.counters()

    def test_the_wait_shows_in_the_lane_while_it_runs(
        self, config: Config
    ) -> None:
        rig = Rig(config, [too_many(3.0)])
        state, batch = rig.batch(message(config))
        rig.send((state, batch))

        assert 3.0 <= state.resume_at - 1000.0 < 3.2

    def test_a_wait_past_the_cap_is_held_then_dropped_after_the_budget(
        self, config: Config
    ) -> None:
        """A global 429 of an hour: told at once, dropped after 10 s."""
        rig = Rig(config, [too_many(3600.0, scope="global", glob=True)])
        state, batch = rig.batch(message(config))
        rig.send((state, batch))

        assert 1 == len(rig.discord.requests)  # never before Discord's time
        assert {"dropped.rate_limited": 1} == {
            k: v for k, v in rig.counters().items() if k.startswith("drop")
        }
        assert ["⚠️ A Discord destination is failing"] == rig.posted()
        assert (
            "a global rate limit" in rig.ledger.outbox[0].embed["description"]
        )
        assert 10.0 <= rig.clock.now - 1000.0 < 10.5


class TestRetries:
    def test_a_server_error_is_retried_with_backoff(
        self, config: Config
    ) -> None:
        rig = Rig(config, [status(502), status(503)])
        rig.send(rig.batch(message(config)))

        assert 3 == len(rig.discord.requests)
        assert [RETRY.pause(1, _high), RETRY.pause(2, _high)] == (
            rig.clock.slept
        )
        assert {"retries": 2, "delivered": 1} == {
            k: rig.counters()[k] for k in ("retries", "delivered")
        }

    def test_a_connection_error_is_retried(self, config: Config) -> None:
        refused = httpx.ConnectError("connection refused")
        rig = Rig(config, [refused])
        rig.send(rig.batch(message(config)))

        assert 2 == len(rig.discord.requests)
        assert 1 == rig.counters()["delivered"]

    def test_failures_past_the_budget_drop_the_batch(
        self, config: Config
    ) -> None:
        rig = Rig(config)
        rig.discord.then = lambda: status(500)
        state, batch = rig.batch(message(config))
        rig.send((state, batch))

        assert 1 == rig.counters()["dropped.server_error"]
        assert "delivered" not in rig.counters()
        # retried until the budget (10 s), never beyond it
        assert 10.0 <= rig.clock.now - 1000.0 < 10.0 + RETRY.cap
        # remembered on the lane, for the notice after its next delivery
        assert {Loss.SERVER_ERROR: 1} == state.dropped_since

    def test_a_later_batch_of_a_failing_lane_gets_one_more_try(
        self, config: Config
    ) -> None:
        """The budget runs from when the lane began failing."""
        rig = Rig(config)
        rig.discord.then = lambda: status(500)
        first = rig.batch(message(config, "first"))
        rig.send(first)
        tries = len(rig.discord.requests)

        rig.send(rig.batch(message(config, "second")))

        assert tries + 1 == len(rig.discord.requests)
        assert 2 == rig.counters()["dropped.server_error"]

    def test_failing_is_told_once_and_recovery_too(
        self, config: Config
    ) -> None:
        """Past FAILING_AFTER, the ops channel hears it; then the return."""
        rig = Rig(config, [status(500)] * 4)
        rig.send(rig.batch(message(config)))

        assert [
            "⚠️ A Discord destination is failing",
            "✅ A Discord destination recovered",
        ] == rig.posted()
        assert all(
            TOKEN not in m.embed["description"] for m in rig.ledger.outbox
        )

    def test_a_short_blip_is_not_news(self, config: Config) -> None:
        rig = Rig(config, [status(500)])
        rig.send(rig.batch(message(config)))

        assert [] == rig.posted()

    def test_a_spooled_batch_is_never_given_up(self, config: Config) -> None:
        """Past the budget it tries on at the slowest backoff."""
        rig = Rig(config, [status(500)] * 12)
        state, batch = rig.batch(message(config))
        batch[0].spool.append("an entry on disk")
        rig.send((state, batch))

        assert 13 == len(rig.discord.requests)
        assert 1 == rig.counters()["delivered"]
        assert RETRY.cap == rig.clock.slept[-1]


class TestRefusals:
    @pytest.mark.parametrize(
        ("answer", "reason"),
        [
            (
                status(400, {"message": "Invalid Form Body", "code": 50035}),
                "rejected",
            ),
            (status(413), "failed"),
            (status(405), "failed"),
            (status(409), "failed"),
        ],
    )
    def test_a_refusal_is_dropped_at_once_and_never_retried(
        self, config: Config, answer: httpx.Response, reason: str
    ) -> None:
        rig = Rig(config, [answer])
        state = rig.lane()
        rig.send(rig.batch(message(config)))
        rig.send(rig.batch(message(config, "next")))

        assert 2 == len(rig.discord.requests)  # the next one still goes
        assert 1 == rig.counters()[f"dropped.{reason}"]
        assert [] == rig.clock.slept
        assert state.disabled is None

    @pytest.mark.parametrize("code", [401, 403, 404])
    def test_a_destination_that_is_gone_is_disabled(
        self, config: Config, code: int
    ) -> None:
        rig = Rig(
            config,
            [status(code, {"message": "Unknown Webhook", "code": 10015})],
        )
        state = rig.lane()
        waiting = message(config, "waiting")
        first = rig.batch(message(config, "first"))
        rig.lanes.add(state, waiting, rig.clock.now)

        rig.send(first, rig.batch(message(config, "later")))

        assert 1 == len(rig.discord.requests)  # no request after the first
        assert 3 == rig.counters()["dropped.webhook_gone"]
        assert state.disabled is not None
        assert 0 == rig.lanes.pending
        assert ["⛔ A Discord destination was disabled"] == rig.posted()

    def test_an_auth_failure_counts_against_the_invalid_budget(
        self, config: Config
    ) -> None:
        rig = Rig(config, [status(401), status(404)])
        rig.send(rig.batch(message(config)))
        rig.send(rig.batch(message(config, channel="ops"), channel="ops"))

        # a 404 is not an invalid request of the kind Discord bans for
        assert 1 == rig.limiter.invalid_count

    def test_a_bot_channel_without_a_token_is_disabled(
        self, config: Config, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.delenv(BOT_TOKEN_ENV, raising=False)
        rig = Rig(config)
        rig.send(rig.batch(message(config, channel="bot"), channel="bot"))

        assert [] == rig.discord.requests
        assert 1 == rig.counters()["dropped.no_token"]
        assert rig.lane("bot").disabled is not None

    def test_the_ops_channel_is_not_told_through_itself(
        self, config: Config
    ) -> None:
        """A failing ops webhook would only lose the news of itself."""
        rig = Rig(config, [status(404)])
        rig.send(rig.batch(message(config, channel="ops"), channel="ops"))

        assert [] == rig.posted()
        assert [OPS_URL] == rig.sent_to()


class TestUnencodable:
    def test_a_message_that_cannot_be_encoded_is_dropped_alone(
        self, config: Config
    ) -> None:
        rig = Rig(config)
        bad = message(config, "bad \ud800 surrogate")
        rig.send(
            rig.batch(message(config, "one"), bad, message(config, "two"))
        )

        assert [["one", "two"]] == rig.discord.titles()
        assert 1 == rig.counters()["dropped.rejected"]
        assert 2 == rig.counters()["delivered"]

    def test_a_batch_of_nothing_encodable_sends_nothing(
        self, config: Config
    ) -> None:
        rig = Rig(config)
        state, batch = rig.batch(message(config, "\udc00"))
        rig.send((state, batch))

        assert [] == rig.discord.requests
        assert [] == state.inflight
        assert 1 == rig.counters()["dropped.rejected"]


def _high(_low: float, high: float) -> float:
    return high
