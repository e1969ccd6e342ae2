"""
Tests for the sender (``_delivery/sender.py``): one batch to Discord.

Everything is driven by hand: a :class:`FakeClock` is the sender's clock
and its sleep, so every wait (a 429, a retry's backoff, a rate limit past
its cap) is read, not waited; ``ScriptedDiscord`` is an
``httpx.MockTransport`` that answers as Discord does. Every body sent is
checked against Discord's limits and the OpenAPI schema. What people
read (stderr, the warnings, the ops channel's alerts) is checked whole.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

import anyio
import httpx
import pytest

from fakes.discord_schema import payload_errors
from polybot_loghandler._batching import Pending
from polybot_loghandler._delivery import sender as sender_module
from polybot_loghandler._delivery.lanes import Lanes, LaneState
from polybot_loghandler._delivery.ledger import Ledger
from polybot_loghandler._delivery.placing import Placer
from polybot_loghandler._delivery.sender import (
    RETRY,
    Sender,
    _held,
    outgoing,
)
from polybot_loghandler._discord import BOT_TOKEN_ENV, PayloadError
from polybot_loghandler._losses import Loss
from polybot_loghandler._message import Place, RoutedMessage
from polybot_loghandler._model import Config
from polybot_loghandler._ratelimit import RateLimiter, Wait
from polybot_loghandler._stats import Stats
from polybot_loghandler._text import escape_markdown
from tests.support.delivery import (
    BOT_CHANNEL,
    OPS_URL,
    T0,
    TOKEN,
    TRADES_URL,
    Answer,
    FakeClock,
    ScriptedDiscord,
    message,
    ok,
    routing,
    status,
    too_many,
)

#: The trades webhook, as people read it.
LABEL = "https://discord.com/api/webhooks/111111111111111111/(redacted)"
#: The ledger's wall clock (T0) as people read it.
SINCE = "since 14:23:45 UTC"
#: The retry pauses with the highest jitter: 0.5, 1, 2, 4, then 5 s.
PAUSES = [RETRY.pause(n, lambda _low, high: high) for n in range(1, 6)]
GONE = status(404, {"message": "Unknown Webhook", "code": 10015})


class Rig:
    """A sender wired to a fake clock, a scripted Discord and a ledger."""

    def __init__(
        self,
        config: Config,
        script: Iterable[Answer] = (),
        *,
        limiter: RateLimiter | None = None,
        defaults: bool = False,
    ) -> None:
        self.config = config
        self.clock = FakeClock()
        self.discord = ScriptedDiscord(script)
        self.stats = Stats()
        self.lanes = Lanes(1.0, 60.0, 100)
        self.ledger = Ledger(self.stats, lambda: config, wall=lambda: T0)
        self.limiter = RateLimiter() if limiter is None else limiter
        #: the sender makes its own limiter and jitter
        self.defaults = defaults
        #: run at the start of each sleep, in turn (another task's doing)
        self.meanwhile: deque[Callable[[], None]] = deque()
        self.sender: Sender | None = None

    def lane(self, channel: str = "trades") -> LaneState:
        return self.lanes.of(self.config.channels[channel])

    def batch(
        self, *messages: RoutedMessage, channel: str = "trades"
    ) -> tuple[LaneState, list[Pending]]:
        state = self.lane(channel)
        for m in messages:
            self.lanes.add(state, m, self.clock.now)
        return state, self.lanes.take(state, self.clock.now)

    async def _sleep(self, seconds: float) -> None:
        if self.meanwhile:
            self.meanwhile.popleft()()
        await self.clock.sleep(seconds)

    def send(self, *batches: tuple[LaneState, list[Pending]]) -> None:
        """Deliver each batch in turn, as a lane's task would."""

        async def main() -> None:
            async with httpx.AsyncClient(transport=self.discord) as client:
                seams: dict[str, Any] = (
                    {}
                    if self.defaults
                    else {"limiter": self.limiter, "jitter": _high}
                )
                self.sender = Sender(
                    client,
                    self.lanes,
                    self.ledger,
                    lambda: self.config,
                    clock=self.clock,
                    sleep=self._sleep,
                    **seams,
                )
                for state, batch in batches:
                    state.inflight = batch  # as the engine does
                    await self.sender.deliver(
                        state, batch, outgoing(batch, T0)
                    )

        anyio.run(main, backend="asyncio")
        for body in self.discord.bodies():
            assert [] == payload_errors(body)

    def counters(self) -> dict[str, int]:
        return {k: v for k, v in self.stats.counters().items() if v}

    def dropped(self) -> dict[str, int]:
        return {
            k: v for k, v in self.counters().items() if k.startswith("drop")
        }

    def posted(self) -> list[str]:
        """The titles of the ledger's own messages, in order."""
        return [m.embed["title"] for m in self.ledger.outbox]

    def sent_to(self) -> list[str]:
        return [str(r.url).split("?")[0] for r in self.discord.requests]


def _high(_low: float, high: float) -> float:
    return high


def _said(capsys: pytest.CaptureFixture[str]) -> list[str]:
    """The lines the library wrote to stderr, without its prefix."""
    prefix = "polybot_loghandler: "
    lines = capsys.readouterr().err.splitlines()
    assert all(line.startswith(prefix) for line in lines)
    return [line.removeprefix(prefix) for line in lines]


def _warned(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The warnings the library logged."""
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "polybot_loghandler" and r.levelno == logging.WARNING
    ]


def _failing(how: str) -> str:
    """What stderr says of the trades webhook failing, *how*."""
    return (
        f"{LABEL} failing {SINCE} ({how}); its messages are retried for "
        "up to 10s, then dropped"
    )


@pytest.fixture
def config() -> Config:
    return routing()


class TestDelivered:
    def test_a_batch_is_one_request_with_every_embed(
        self, config: Config
    ) -> None:
        rig = Rig(config)
        one, two = message(config, "one"), message(config, "two")

        rig.send(rig.batch(one, two, message(config, "two")))

        assert [["one", "two"]] == rig.discord.titles()
        assert {
            "delivered": 3,
            "sent.messages": 1,
            "sent.embeds": 2,
        } == rig.counters()
        assert rig.lane().failing is False
        assert [] == rig.clock.slept

    def test_every_body_pings_no_one(self, config: Config) -> None:
        rig = Rig(config)
        rig.send(rig.batch(message(config, "@everyone <@&123> hi")))

        (body,) = rig.discord.bodies()
        assert {"parse": []} == body["allowed_mentions"]

    def test_the_webhook_is_asked_to_wait_for_the_message(
        self, config: Config
    ) -> None:
        rig = Rig(config)
        rig.send(rig.batch(message(config)))

        (request,) = rig.discord.requests
        assert "wait=true" in str(request.url)

    def test_a_batch_that_encodes_is_built_once(
        self, config: Config, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Messages are built alone only when the whole batch fails."""
        built: list[int] = []
        real = sender_module.build_request

        def counting(
            destination: Any, payload: dict[str, Any], **kw: Any
        ) -> Any:
            built.append(len(payload["embeds"]))
            return real(destination, payload, **kw)

        monkeypatch.setattr(sender_module, "build_request", counting)
        rig = Rig(config)
        state, batch = rig.batch(
            message(config, "one"), message(config, "two")
        )

        rig.send((state, batch))

        assert [2] == built
        assert batch == state.inflight  # left as the engine set it


class TestOutgoing:
    """A message that waited says how late it is when it leaves."""

    @staticmethod
    def _pending(
        m: RoutedMessage, *, count: int = 1, repeat: bool = False
    ) -> Pending:
        return Pending(
            m, None, m.event.level, T0, T0, 0.0, count=count, repeat=repeat
        )

    @pytest.mark.parametrize(
        ("count", "repeat", "late", "footer"),
        [
            (1, False, 0.0, None),
            (1, False, 119.0, None),
            (1, False, 3600.0, "delayed 1h"),
            (3, False, 0.0, "×3"),
            (3, False, 3600.0, "×3 · delayed 1h"),
            # a held repeat waited on purpose: it says nothing of it
            (3, True, 3600.0, "×3 more"),
        ],
    )
    def test_the_footer_as_it_leaves(
        self,
        config: Config,
        count: int,
        repeat: bool,
        late: float,
        footer: str | None,
    ) -> None:
        m = message(config)
        item = self._pending(m, count=count, repeat=repeat)

        (out,) = outgoing([item], T0 + late)

        assert footer == out.embed.get("footer", {}).get("text")
        assert ("timestamp" in out.embed) is (late >= 120.0 and not repeat)
        assert (m.channel, m.route, m.payload, m.target) == (
            out.channel,
            out.route,
            out.payload,
            out.target,
        )
        assert "footer" not in m.embed  # the message itself is unchanged

    def test_each_of_a_batch_leaves_as_itself(self, config: Config) -> None:
        items = [self._pending(message(config, t)) for t in ("a", "b")]

        out = outgoing(items, T0)

        assert ["a", "b"] == [m.embed["title"] for m in out]


class TestRateLimits:
    def test_a_429_is_waited_out_as_discord_says_then_sent(
        self, config: Config
    ) -> None:
        rig = Rig(config, [too_many(2.5)])
        state, batch = rig.batch(message(config))
        rig.send((state, batch))

        assert 2 == len(rig.discord.requests)
        assert [pytest.approx(2.55)] == rig.clock.slept  # with a margin
        assert pytest.approx(1002.55) == state.resume_at
        assert {"rate_limited": 1, "delivered": 1} == {
            k: rig.counters()[k] for k in ("rate_limited", "delivered")
        }
        assert "retries" not in rig.counters()
        assert state.failing is False

    def test_a_wait_under_a_second_is_waited_too(self, config: Config) -> None:
        rig = Rig(config, [too_many(0.3)])
        rig.send(rig.batch(message(config)))

        assert [pytest.approx(0.35)] == rig.clock.slept
        assert 2 == len(rig.discord.requests)

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
        assert [pytest.approx(4.05)] == rig.clock.slept  # before, no 429
        assert "rate_limited" not in rig.counters()

    def test_a_channel_s_own_limit_is_kept(self, config: Config) -> None:
        """Discord's hidden per-channel limit, here 2 a minute."""
        limiter = RateLimiter(channel_messages=2, channel_window=60.0)
        rig = Rig(config, limiter=limiter)

        rig.send(*(rig.batch(message(config, t)) for t in ("a", "b", "c")))

        assert [["a"], ["b"], ["c"]] == rig.discord.titles()
        assert [60.0] == rig.clock.slept
        assert 1060.0 == rig.lane().resume_at

    @pytest.mark.parametrize(
        ("case", "paced_for", "level", "slept"),
        [
            ("a lane that folded keeps the pace", 60.0, logging.INFO, 2),
            ("its warnings never wait for it", 60.0, logging.WARNING, 0),
            ("a minute after its last fold, none", -1.0, logging.INFO, 0),
        ],
    )
    def test_only_a_lane_that_fell_behind_is_paced(
        self,
        config: Config,
        case: str,
        paced_for: float,
        level: int,
        slept: int,
    ) -> None:
        rig = Rig(config)
        rig.lane().paced_until = rig.clock.now + paced_for
        names = ("a", "b", "c", "d", "e")

        rig.send(*(rig.batch(message(config, t, level=level)) for t in names))

        assert 5 == len(rig.discord.requests), case
        # past the 3 a window keeps for warnings, one each 60 s / 27
        assert [pytest.approx(60 / 27)] * slept == rig.clock.slept, case

    def test_a_pause_for_all_that_comes_during_a_wait_is_waited_too(
        self, config: Config
    ) -> None:
        """Another lane's global 429 arrives while this one waits."""
        rig = Rig(config, [too_many(1.0)])
        glob = too_many(5.0, scope="global", glob=True)
        rig.meanwhile.append(
            lambda: rig.limiter.too_many(
                "elsewhere", dict(glob.headers), glob.json(), rig.clock.now
            )
        )

        rig.send(rig.batch(message(config)))

        assert [pytest.approx(1.05), pytest.approx(4.0)] == rig.clock.slept
        assert 2 == len(rig.discord.requests)


def _global_429() -> httpx.Response:
    return too_many(3600.0, scope="global", glob=True)


def _cloudflare_429() -> httpx.Response:
    """A 429 without Discord's headers: Cloudflare's."""
    return httpx.Response(429, json={"retry_after": 400})


class TestHeldPastTheCap:
    """A wait longer than any answer may ask is a destination failing."""

    @pytest.mark.parametrize(
        ("answer", "held"),
        [
            (
                lambda: too_many(120.0),
                (
                    "held for 2m by its rate limit, past the cap",
                    "held for 1m 50s by its rate limit, past the cap",
                ),
            ),
            (
                _global_429,
                (
                    "held for 1h by a global rate limit, past the cap",
                    "held for 59m 50s by a global rate limit, past the cap",
                ),
            ),
            (
                _cloudflare_429,
                (
                    "held for 6m 40s by a Cloudflare block, past the cap",
                    "held for 6m 30s by a Cloudflare block, past the cap",
                ),
            ),
        ],
        ids=["bucket", "global", "cloudflare"],
    )
    def test_held_then_dropped_after_the_budget(
        self,
        config: Config,
        capsys: pytest.CaptureFixture[str],
        caplog: pytest.LogCaptureFixture,
        answer: Callable[[], httpx.Response],
        held: tuple[str, str],
    ) -> None:
        """Told at once; the budget runs, then the batch is dropped."""
        first, then = held  # the wait told, then the one given up on
        rig = Rig(config, [answer()])
        state, batch = rig.batch(message(config), message(config))
        seen: list[tuple[int, bool]] = []
        rig.meanwhile.append(
            lambda: seen.append((len(rig.ledger.outbox), state.failing))
        )

        rig.send((state, batch))

        assert 1 == len(rig.discord.requests)  # never before Discord's time
        assert [10.0] == rig.clock.slept  # the budget, not the wait
        assert [(1, True)] == seen  # told at once, failing while held
        assert {"dropped.rate_limited": 2} == rig.dropped()
        assert {Loss.RATE_LIMITED: 2} == state.dropped_since
        assert [_failing(first)] == _said(capsys)
        assert ["⚠️ A Discord destination is failing"] == rig.posted()
        assert [escape_markdown(_failing(first))] == [
            m.embed["description"] for m in rig.ledger.outbox
        ]
        said = (
            f"{LABEL}: giving up after 10s of failures ({then}); its "
            "messages are dropped (rate_limited)"
        )
        assert [said] == _warned(caplog)

    def test_a_hold_it_has_no_words_for_is_named_as_it_is(self) -> None:
        assert "held for 6m 40s by a ban, past the cap" == _held(
            Wait(400.0, "a ban")
        )


class TestRetries:
    def test_a_server_error_is_retried_with_backoff(
        self, config: Config
    ) -> None:
        rig = Rig(config, [status(502), status(503)])
        rig.send(rig.batch(message(config)))

        assert 3 == len(rig.discord.requests)
        assert PAUSES[:2] == rig.clock.slept
        assert {"retries": 2, "delivered": 1} == {
            k: rig.counters()[k] for k in ("retries", "delivered")
        }
        assert rig.lane().failing is False

    def test_a_lane_is_failing_while_it_waits_to_try_again(
        self, config: Config
    ) -> None:
        rig = Rig(config, [status(500)])
        state = rig.lane()
        seen: list[bool] = []
        rig.meanwhile.append(lambda: seen.append(state.failing))

        rig.send(rig.batch(message(config)))

        assert [True] == seen
        assert state.failing is False

    def test_a_connection_error_is_retried(self, config: Config) -> None:
        refused = httpx.ConnectError("connection refused")
        rig = Rig(config, [refused])
        rig.send(rig.batch(message(config)))

        assert 2 == len(rig.discord.requests)
        assert 1 == rig.counters()["delivered"]

    def test_any_other_error_sending_is_retried_and_told_redacted(
        self, config: Config, capsys: pytest.CaptureFixture[str]
    ) -> None:
        boom = RuntimeError(f"boom at {TRADES_URL}")
        rig = Rig(config, [boom] * 4)

        rig.send(rig.batch(message(config)))

        assert {"retries": 4, "delivered": 1} == {
            k: rig.counters()[k] for k in ("retries", "delivered")
        }
        said = _said(capsys)
        assert [
            _failing(f"send failed: RuntimeError('boom at {LABEL}')"),
            f"{LABEL} answers again, after 8s (failing {SINCE})",
        ] == said
        assert TOKEN not in "".join(said)

    def test_the_default_backoff_and_limiter(self, config: Config) -> None:
        """Without seams the sender has its own, with random jitter."""
        rig = Rig(config, [status(500), status(500)], defaults=True)
        rig.send(rig.batch(message(config)))

        first, second = rig.clock.slept
        assert 0.25 <= first <= 0.5
        assert 0.5 <= second <= 1.0
        assert rig.sender is not None
        assert isinstance(rig.sender.limiter, RateLimiter)
        assert 1 == rig.counters()["delivered"]

    @pytest.mark.parametrize(
        ("retry_for", "pauses"),
        [
            # the last pause ends with the budget: the last try is then
            ("10s", [*PAUSES[:4], 2.5]),
            ("8s", [*PAUSES[:4], 0.5]),
            ("1s", [0.5, 0.5]),
        ],
    )
    def test_failures_past_the_budget_drop_the_batch(
        self,
        config: Config,
        caplog: pytest.LogCaptureFixture,
        retry_for: str,
        pauses: list[float],
    ) -> None:
        rig = Rig(routing(retry_for=retry_for))
        rig.discord.then = lambda: status(500)
        state, batch = rig.batch(message(config), message(config))
        rig.send((state, batch))

        assert pauses == rig.clock.slept
        assert len(pauses) + 1 == len(rig.discord.requests)
        assert {"dropped.server_error": 2} == rig.dropped()
        assert "delivered" not in rig.counters()
        # remembered on the lane, for the notice after its next delivery
        assert {Loss.SERVER_ERROR: 2} == state.dropped_since
        budget = retry_for.removesuffix("s")
        said = (
            f"{LABEL}: giving up after {budget}s of failures (500 error); "
            "its messages are dropped (server_error)"
        )
        assert [said] == _warned(caplog)

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

    def test_a_spooled_batch_is_never_given_up(
        self, config: Config, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Past the budget it tries on at the slowest backoff."""
        rig = Rig(config, [status(500)] * 12)
        state, batch = rig.batch(message(config))
        batch[0].spool.append("an entry on disk")
        rig.send((state, batch))

        assert 13 == len(rig.discord.requests)
        assert 1 == rig.counters()["delivered"]
        assert [*PAUSES[:4], 2.5, *[RETRY.cap] * 7] == rig.clock.slept
        said = (
            f"{LABEL}: failing for 10s; its messages are kept in the spool "
            "and sent when it answers again"
        )
        assert [said] == _warned(caplog)


#: What people read of a 400.
REJECTED = (
    f"Discord rejected a message for {LABEL}: 400 Invalid Form Body (code "
    "50035); it is dropped (rejected)"
)


class TestRefusals:
    @pytest.mark.parametrize(
        ("answer", "reason", "warning"),
        [
            (
                status(400, {"message": "Invalid Form Body", "code": 50035}),
                "rejected",
                REJECTED,
            ),
            (
                status(413),
                "failed",
                f"{LABEL} answered 413 error; message dropped (failed)",
            ),
            (
                status(405),
                "failed",
                f"{LABEL} answered 405 error; message dropped (failed)",
            ),
        ],
    )
    def test_a_refusal_is_dropped_at_once_and_never_retried(
        self,
        config: Config,
        caplog: pytest.LogCaptureFixture,
        answer: httpx.Response,
        reason: str,
        warning: str,
    ) -> None:
        rig = Rig(config, [answer])
        state = rig.lane()
        rig.send(rig.batch(message(config), message(config)))  # 2 events
        rig.send(rig.batch(message(config, "next")))

        assert 2 == len(rig.discord.requests)  # the next one still goes
        assert {f"dropped.{reason}": 2} == rig.dropped()
        assert [] == rig.clock.slept
        assert state.disabled is None
        assert state.failing is False
        assert [warning] == _warned(caplog)

    def test_a_rejection_is_an_answer_after_failures(
        self, config: Config, capsys: pytest.CaptureFixture[str]
    ) -> None:
        rig = Rig(config, [*[status(500)] * 4, status(400)])
        state = rig.lane()
        rig.send(rig.batch(message(config)))

        assert [
            "⚠️ A Discord destination is failing",
            "✅ A Discord destination recovered",
        ] == rig.posted()
        recovered = f"{LABEL} answers again, after 8s (failing {SINCE})"
        assert [_failing("500 error"), recovered] == _said(capsys)
        assert state.trouble is None
        assert {"dropped.rejected": 1} == rig.dropped()

    @pytest.mark.parametrize(
        ("code", "invalid"), [(401, 1), (403, 1), (404, 0)]
    )
    def test_an_auth_failure_counts_against_the_invalid_budget(
        self, config: Config, code: int, invalid: int
    ) -> None:
        """A 404 is not an invalid request of the kind Discord bans for."""
        rig = Rig(config, [status(code)])
        rig.send(rig.batch(message(config)))

        assert invalid == rig.limiter.invalid_count

    @pytest.mark.parametrize("code", [401, 403, 404])
    def test_a_destination_that_is_gone_is_disabled(
        self, config: Config, capsys: pytest.CaptureFixture[str], code: int
    ) -> None:
        rig = Rig(
            config,
            [status(code, {"message": "Unknown Webhook", "code": 10015})],
        )
        state = rig.lane()
        first = rig.batch(message(config, "first"))
        for _ in range(2):  # one message standing for two events
            rig.lanes.add(state, message(config, "waiting"), rig.clock.now)

        rig.send(first)

        assert {"dropped.webhook_gone": 3} == rig.dropped()
        assert {Loss.WEBHOOK_GONE: 3} == state.dropped_since
        assert Loss.WEBHOOK_GONE == state.disabled
        assert 0 == rig.lanes.pending
        assert ["⛔ A Discord destination was disabled"] == rig.posted()
        said = (
            f"{LABEL} answered {code} Unknown Webhook (code 10015); it is "
            "disabled and its messages are dropped (check the URL or token "
            "in your routing)"
        )
        assert [said] == _said(capsys)

        rig.send(rig.batch(message(config, "later")))

        assert 1 == len(rig.discord.requests)  # no request after the first
        assert {"dropped.webhook_gone": 4} == rig.dropped()

    def test_a_bot_channel_without_a_token_is_disabled(
        self,
        config: Config,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        monkeypatch.delenv(BOT_TOKEN_ENV, raising=False)
        rig = Rig(config)
        state = rig.lane("bot")
        first = rig.batch(message(config, channel="bot"), channel="bot")
        rig.lanes.add(state, message(config, "waiting", channel="bot"), 0.0)

        rig.send(first)

        assert [] == rig.discord.requests
        assert {"dropped.no_token": 2} == rig.dropped()
        assert Loss.NO_TOKEN == state.disabled
        said = (
            f"channel {BOT_CHANNEL} cannot be posted to: DISCORD_BOT_TOKEN "
            "is not set; it is disabled and its messages are dropped (set "
            "it in the process's environment)"
        )
        assert [said] == _said(capsys)

    def test_the_ops_channel_is_not_told_through_itself(
        self, config: Config
    ) -> None:
        """A failing ops webhook would only lose the news of itself."""
        rig = Rig(config, [GONE])
        rig.send(rig.batch(message(config, channel="ops"), channel="ops"))

        assert [] == rig.posted()
        assert [OPS_URL] == rig.sent_to()


class TestUnencodable:
    def test_a_message_that_cannot_be_encoded_is_dropped_alone(
        self, config: Config, caplog: pytest.LogCaptureFixture
    ) -> None:
        rig = Rig(config)
        bad = message(config, "bad \ud800 surrogate")
        state, batch = rig.batch(
            message(config, "one"), bad, bad, message(config, "two")
        )

        rig.send((state, batch))

        assert [["one", "two"]] == rig.discord.titles()
        assert {"dropped.rejected": 2} == rig.dropped()
        assert 2 == rig.counters()["delivered"]
        assert [batch[0], batch[2]] == state.inflight
        said = (
            f"a message for {LABEL} was dropped (rejected): its payload "
            "cannot be encoded as UTF-8: surrogates not allowed (U+D800); "
            "the rest of its batch is sent"
        )
        assert [said] == _warned(caplog)

    def test_a_message_that_cannot_be_built_is_dropped_alone(
        self,
        config: Config,
        caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """Any error building it: its text is not shown, only its type."""
        real = sender_module.build_request

        def odd_fails(
            destination: Any, payload: dict[str, Any], **kw: Any
        ) -> Any:
            if any(e["title"] == "odd" for e in payload["embeds"]):
                raise TypeError(f"odd {TOKEN}")
            return real(destination, payload, **kw)

        monkeypatch.setattr(sender_module, "build_request", odd_fails)
        rig = Rig(config)

        rig.send(rig.batch(message(config, "one"), message(config, "odd")))

        assert [["one"]] == rig.discord.titles()
        assert {"dropped.rejected": 1} == rig.dropped()
        said = (
            f"a message for {LABEL} was dropped (rejected): its payload "
            "could not be built (TypeError); the rest of its batch is sent"
        )
        assert [said] == _warned(caplog)

    def test_a_batch_of_nothing_encodable_sends_nothing(
        self, config: Config
    ) -> None:
        rig = Rig(config)
        state, batch = rig.batch(message(config, "\udc00"))
        rig.send((state, batch))

        assert [] == rig.discord.requests
        assert [] == state.inflight
        assert 1 == rig.counters()["dropped.rejected"]

    def test_messages_that_go_alone_but_not_together_are_dropped(
        self,
        config: Config,
        caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        real = sender_module.build_request

        def alone_only(
            destination: Any, payload: dict[str, Any], **kw: Any
        ) -> Any:
            if len(payload["embeds"]) > 1:
                raise PayloadError("is too large")
            return real(destination, payload, **kw)

        monkeypatch.setattr(sender_module, "build_request", alone_only)
        rig = Rig(config)
        bad = message(config, "bad \ud800")
        state, batch = rig.batch(
            bad, message(config, "one"), message(config, "two")
        )

        rig.send((state, batch))

        assert [] == rig.discord.requests
        assert [] == state.inflight
        assert {"dropped.rejected": 3} == rig.dropped()
        alone = (
            f"a message for {LABEL} was dropped (rejected): its payload "
            "cannot be encoded as UTF-8: surrogates not allowed (U+D800); "
            "the rest of its batch is sent"
        )
        together = (
            f"2 messages for {LABEL} were dropped (rejected): each could "
            "be sent alone, but together their payload is too large"
        )
        assert [alone, together] == _warned(caplog)


def test_a_disabled_lane_drops_what_it_is_given(config: Config) -> None:
    """Messages read back from the spool may reach a disabled lane."""
    rig = Rig(config)
    state, batch = rig.batch(message(config), message(config))
    state.disabled = Loss.WEBHOOK_GONE

    rig.send((state, batch))

    assert [] == rig.discord.requests
    assert {"dropped.webhook_gone": 2} == rig.dropped()


def test_what_the_answer_was_never_matters_after_a_delivery(
    config: Config,
) -> None:
    """A 200 that is not Discord's is retried, then delivered."""
    rig = Rig(config, [httpx.Response(200, text="<html>hi</html>"), ok()])
    rig.send(rig.batch(message(config)))

    assert 2 == len(rig.discord.requests)
    assert 1 == rig.counters()["delivered"]


def test_a_placed_batch_that_cannot_be_built_is_dropped_not_raised(
    config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A thread's or board's request that fails to build: rejected."""

    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise PayloadError("cannot be encoded as JSON: a test's value")

    monkeypatch.setattr(Placer, "aim", broken)
    rig = Rig(config)
    state = rig.lanes.of(config.channels["trades"], Place(thread="BTC"))
    rig.lanes.add(state, message(config, "one"), rig.clock.now)
    batch = rig.lanes.take(state, rig.clock.now)

    rig.send((state, batch))

    assert [] == rig.discord.requests
    assert 1 == rig.stats.read().get(Loss.REJECTED.counter, 0)
