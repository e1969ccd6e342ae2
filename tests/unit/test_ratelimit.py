"""
Tests for Discord's rate limits, kept proactively (``_ratelimit.py``).

The limiter is pure: every call takes ``now``, so these tests drive a
clock by hand and never sleep. Headers are given lower-cased, as
``_discord.classify`` hands them over.
"""

from __future__ import annotations

from typing import Any

import pytest

from polybot_loghandler._ratelimit import (
    BUCKET_CAP,
    CHANNEL_MESSAGES,
    CHANNEL_WINDOW,
    CLOUDFLARE_PAUSE,
    GLOBAL_CAP,
    INVALID_BUDGET,
    INVALID_WINDOW,
    LONGEST,
    RESET_MARGIN,
    RateLimiter,
    TooMany,
    Wait,
)

WEBHOOK = "webhook:https://discord.com/api/webhooks/111/tokenA"
OTHER_WEBHOOK = "webhook:https://discord.com/api/webhooks/222/tokenB"
# the first webhook written another way: one webhook, another route
SAME_WEBHOOK = "webhook:https://discord.com/api/v10/webhooks/111/tokenA"
# another webhook with the first one's token
SAME_TOKEN = "webhook:https://discord.com/api/webhooks/333/tokenA"
CHANNEL = "alerts"
OTHER_CHANNEL = "trades"


def _headers(
    remaining: int | str | None = None,
    reset_after: float | str | None = None,
    bucket: str | None = None,
    **extra: str,
) -> dict[str, str]:
    """
    Rate-limit headers as Discord sends them (lower-cased).
    """
    headers = {"x-ratelimit-limit": "5"}
    if remaining is not None:
        headers["x-ratelimit-remaining"] = str(remaining)
    if reset_after is not None:
        headers["x-ratelimit-reset-after"] = str(reset_after)
    if bucket is not None:
        headers["x-ratelimit-bucket"] = bucket
    headers.update({k.replace("_", "-"): v for k, v in extra.items()})
    return headers


class TestProactive:
    """
    Waiting on ``Remaining`` and ``Reset-After`` instead of on a 429.
    """

    def test_unknown_destination_may_send_at_once(self) -> None:
        """A destination nothing is known about yet may send right away."""
        limiter = RateLimiter()
        assert 0.0 == limiter.delay(WEBHOOK, CHANNEL, 100.0)

    @pytest.mark.parametrize(
        ("headers", "expected"),
        [
            pytest.param(_headers(1, 2.5), 0.0, id="room-left"),
            pytest.param(_headers(0, 2.5), 2.5 + RESET_MARGIN, id="exhausted"),
            pytest.param(
                _headers(0, "0.25"), 0.25 + RESET_MARGIN, id="decimal-reset"
            ),
            pytest.param(_headers(0), 0.0, id="no-reset-after"),
            pytest.param(_headers(None, 2.5), 0.0, id="no-remaining"),
            pytest.param(_headers("many", 2.5), 0.0, id="garbage-remaining"),
            pytest.param(_headers(0, "soon"), 0.0, id="garbage-reset"),
            pytest.param(
                _headers(0, "inf"), LONGEST + RESET_MARGIN, id="infinite-reset"
            ),
            pytest.param({}, 0.0, id="no-headers"),
        ],
    )
    def test_delay_after_a_response(
        self, headers: dict[str, str], expected: float
    ) -> None:
        """The headers of an answer say how long the next request waits."""
        limiter = RateLimiter()
        limiter.update(WEBHOOK, headers, 10.0)
        assert pytest.approx(expected) == limiter.delay(WEBHOOK, CHANNEL, 10.0)

    @pytest.mark.parametrize(
        ("sent", "expected"),
        [
            pytest.param(0, 0.0, id="none-sent"),
            pytest.param(1, 0.0, id="one-of-two-sent"),
            pytest.param(2, 4.0 + RESET_MARGIN, id="both-sent"),
        ],
    )
    def test_requests_in_flight_use_up_remaining(
        self, sent: int, expected: float
    ) -> None:
        """Each request counts against the bucket before its answer comes."""
        limiter = RateLimiter()
        limiter.update(WEBHOOK, _headers(2, 5.0), 0.0)
        for _ in range(sent):
            limiter.sending(WEBHOOK, CHANNEL, 1.0)
        assert pytest.approx(expected) == limiter.delay(WEBHOOK, CHANNEL, 1.0)

    @pytest.mark.parametrize(
        ("now", "expected"),
        [
            pytest.param(0.0, 3.0 + RESET_MARGIN, id="just-exhausted"),
            pytest.param(2.0, 1.0 + RESET_MARGIN, id="part-way"),
            pytest.param(3.0 + RESET_MARGIN, 0.0, id="at-reset"),
            pytest.param(10.0, 0.0, id="long-after"),
        ],
    )
    def test_exhausted_bucket_waits_until_reset(
        self, now: float, expected: float
    ) -> None:
        """An exhausted bucket waits for its reset, and no longer."""
        limiter = RateLimiter()
        limiter.update(WEBHOOK, _headers(0, 3.0), 0.0)
        assert pytest.approx(expected) == limiter.delay(WEBHOOK, CHANNEL, now)

    def test_sending_after_reset_forgets_the_old_window(self) -> None:
        """The first request after a reset does not count against the old."""
        limiter = RateLimiter()
        limiter.update(WEBHOOK, _headers(1, 1.0), 0.0)
        limiter.sending(WEBHOOK, CHANNEL, 5.0)
        limiter.sending(WEBHOOK, CHANNEL, 5.1)
        assert 0.0 == limiter.delay(WEBHOOK, CHANNEL, 5.2)

    def test_destinations_without_a_bucket_are_independent(self) -> None:
        """One destination's exhausted bucket does not hold up another."""
        limiter = RateLimiter()
        limiter.update(WEBHOOK, _headers(0, 5.0), 0.0)
        actual = (
            limiter.delay(WEBHOOK, CHANNEL, 0.0),
            limiter.delay(OTHER_WEBHOOK, OTHER_CHANNEL, 0.0),
        )
        assert pytest.approx((5.0 + RESET_MARGIN, 0.0)) == actual

    def test_destinations_sharing_a_bucket_share_its_state(self) -> None:
        """Two destinations that learn one bucket wait on it together."""
        limiter = RateLimiter()
        # two threads of one webhook: one bucket at Discord
        first = WEBHOOK + "?thread_id=1"
        second = WEBHOOK + "?thread_id=2"
        limiter.update(first, _headers(1, 5.0, bucket="abcd"), 0.0)
        limiter.update(second, _headers(1, 5.0, bucket="abcd"), 0.0)
        limiter.sending(first, CHANNEL, 0.5)
        assert pytest.approx(4.5 + RESET_MARGIN) == limiter.delay(
            second, OTHER_CHANNEL, 0.5
        )

    def test_bucket_learned_later_is_shared_from_then_on(self) -> None:
        """A bucket header learned on any answer links the destinations."""
        limiter = RateLimiter()
        first = WEBHOOK + "?thread_id=1"
        second = WEBHOOK + "?thread_id=2"
        limiter.update(second, {"x-ratelimit-bucket": "abcd"}, 0.0)
        limiter.update(first, _headers(0, 2.0, bucket="abcd"), 0.0)
        assert pytest.approx(2.0 + RESET_MARGIN) == limiter.delay(
            second, OTHER_CHANNEL, 0.0
        )

    def test_same_bucket_hash_on_other_channels_is_not_shared(self) -> None:
        """The bucket hash excludes the channel, so channels stay separate."""
        # DISCORD-API.md section 4: X-RateLimit-Bucket "excludes top-level
        # resources"; section 7: discord.py and discord.js key a bucket on
        # the hash *plus* the major parameter (channel or webhook id).
        # Posting to two bot channels reports one hash, two limits.
        limiter = RateLimiter()
        limiter.update("bot:111", _headers(4, 5.0, bucket="abcd"), 0.0)
        limiter.update("bot:222", _headers(0, 5.0, bucket="abcd"), 0.0)
        assert 0.0 == limiter.delay("bot:111", "111", 0.0)


class TestBuckets:
    """
    ``X-RateLimit-Bucket``: which destinations share a bucket's state.

    Discord keys a bucket on its hash *and* the major parameter (the
    webhook's id and token, or the channel). Routes of one webhook (one
    URL written two ways, or another endpoint) share state once both
    have learned the same hash; threads (``?thread_id=``) are one route.
    """

    @pytest.mark.parametrize(
        ("first", "first_bucket", "second", "second_bucket", "expected"),
        [
            pytest.param(
                WEBHOOK,
                "abcd",
                SAME_WEBHOOK,
                "abcd",
                5.0 + RESET_MARGIN,
                id="one-webhook-one-bucket-shared",
            ),
            pytest.param(
                WEBHOOK,
                "abcd",
                SAME_WEBHOOK,
                "wxyz",
                0.0,
                id="one-webhook-two-buckets-apart",
            ),
            pytest.param(
                WEBHOOK,
                None,
                SAME_WEBHOOK,
                None,
                0.0,
                id="routes-unlearned-apart",
            ),
            pytest.param(
                WEBHOOK,
                "abcd",
                SAME_WEBHOOK,
                None,
                0.0,
                id="one-route-unlearned-apart",
            ),
            pytest.param(
                WEBHOOK + "?thread_id=1",
                None,
                WEBHOOK + "?thread_id=2",
                None,
                5.0 + RESET_MARGIN,
                id="threads-one-route-shared",
            ),
            pytest.param(
                WEBHOOK,
                "abcd",
                OTHER_WEBHOOK,
                "abcd",
                0.0,
                id="two-webhooks-one-hash-apart",
            ),
            pytest.param(
                WEBHOOK,
                "abcd",
                SAME_TOKEN,
                "abcd",
                0.0,
                id="two-webhooks-one-token-apart",
            ),
            pytest.param(
                "bot:111", "abcd", "bot:222", "abcd", 0.0, id="two-channels"
            ),
        ],
    )
    def test_who_shares_a_bucket(
        self,
        first: str,
        first_bucket: str | None,
        second: str,
        second_bucket: str | None,
        expected: float,
    ) -> None:
        """Two keys that learn one bucket of one webhook wait together."""
        limiter = RateLimiter()
        limiter.update(second, _headers(3, 5.0, bucket=second_bucket), 0.0)
        limiter.update(first, _headers(0, 5.0, bucket=first_bucket), 0.0)
        actual = (
            limiter.delay(first, CHANNEL, 0.0),
            limiter.delay(second, OTHER_CHANNEL, 0.0),
        )
        assert pytest.approx((5.0 + RESET_MARGIN, expected)) == actual

    def test_keys_learning_one_bucket_count_together(self) -> None:
        """A request on one route uses up the bucket for the other."""
        limiter = RateLimiter()
        limiter.update(WEBHOOK, _headers(2, 5.0, bucket="abcd"), 0.0)
        limiter.update(SAME_WEBHOOK, _headers(2, 5.0, bucket="abcd"), 0.0)
        limiter.sending(WEBHOOK, CHANNEL, 1.0)
        limiter.sending(SAME_WEBHOOK, OTHER_CHANNEL, 1.0)
        assert pytest.approx(4.0 + RESET_MARGIN) == limiter.delay(
            WEBHOOK, CHANNEL, 1.0
        )

    @pytest.mark.parametrize(
        "later",
        [
            pytest.param({"x-ratelimit-bucket": "abcd"}, id="header-alone"),
            pytest.param(
                _headers(bucket="abcd"), id="with-limit-but-no-remaining"
            ),
        ],
    )
    @pytest.mark.parametrize(
        "first",
        [
            pytest.param(_headers(0, 5.0), id="unnamed"),
            pytest.param(_headers(0, 5.0, bucket="old"), id="renamed"),
        ],
    )
    def test_learning_a_bucket_keeps_the_wait(
        self, first: dict[str, str], later: dict[str, str]
    ) -> None:
        """A key's first (or a new) bucket name keeps the wait it had."""
        limiter = RateLimiter()
        limiter.update(WEBHOOK, first, 0.0)
        limiter.update(WEBHOOK, later, 1.0)
        assert pytest.approx(4.0 + RESET_MARGIN) == limiter.delay(
            WEBHOOK, CHANNEL, 1.0
        )

    @pytest.mark.parametrize(
        ("own", "shared", "expected"),
        [
            pytest.param(
                _headers(0, 9.0),
                _headers(3, 5.0, bucket="abcd"),
                9.0 + RESET_MARGIN,
                id="own-longer-wait-kept",
            ),
            pytest.param(
                _headers(0, 2.0),
                _headers(0, 5.0, bucket="abcd"),
                5.0 + RESET_MARGIN,
                id="shared-longer-wait-kept",
            ),
            pytest.param(
                _headers(3, 9.0),
                _headers(0, 5.0, bucket="abcd"),
                5.0 + RESET_MARGIN,
                id="own-room-changes-nothing",
            ),
        ],
    )
    def test_joining_a_known_bucket_keeps_the_longer_wait(
        self, own: dict[str, str], shared: dict[str, str], expected: float
    ) -> None:
        """Joining a bucket already known never shortens either wait."""
        limiter = RateLimiter()
        limiter.update(SAME_WEBHOOK, own, 0.0)
        limiter.update(WEBHOOK, shared, 0.0)
        limiter.update(SAME_WEBHOOK, {"x-ratelimit-bucket": "abcd"}, 0.0)
        actual = (
            limiter.delay(SAME_WEBHOOK, CHANNEL, 0.0),
            limiter.delay(WEBHOOK, OTHER_CHANNEL, 0.0),
        )
        assert pytest.approx((expected, expected)) == actual

    def test_joining_a_bucket_with_room_keeps_its_count(self) -> None:
        """Joining a bucket that has room changes nothing of its state."""
        limiter = RateLimiter()
        limiter.update(SAME_WEBHOOK, _headers(1, 9.0), 0.0)
        limiter.update(WEBHOOK, _headers(3, 5.0, bucket="abcd"), 0.0)
        limiter.update(SAME_WEBHOOK, {"x-ratelimit-bucket": "abcd"}, 0.0)
        for _ in range(2):
            limiter.sending(SAME_WEBHOOK, CHANNEL, 1.0)
        actual = [limiter.delay(WEBHOOK, CHANNEL, 1.0)]
        limiter.sending(SAME_WEBHOOK, CHANNEL, 1.0)
        actual.append(limiter.delay(WEBHOOK, CHANNEL, 1.0))
        assert pytest.approx([0.0, 4.0 + RESET_MARGIN]) == actual

    def test_leaving_a_shared_bucket_leaves_it_to_the_others(self) -> None:
        """A route renamed away takes a copy; the other keeps the bucket."""
        limiter = RateLimiter()
        limiter.update(WEBHOOK, _headers(0, 5.0, bucket="abcd"), 0.0)
        limiter.update(SAME_WEBHOOK, {"x-ratelimit-bucket": "abcd"}, 0.0)
        limiter.update(WEBHOOK, {"x-ratelimit-bucket": "wxyz"}, 1.0)
        waits = (
            limiter.delay(WEBHOOK, CHANNEL, 1.0),
            limiter.delay(SAME_WEBHOOK, OTHER_CHANNEL, 1.0),
        )
        limiter.update(WEBHOOK, _headers(5, 5.0, bucket="wxyz"), 1.0)
        waits += (
            limiter.delay(WEBHOOK, CHANNEL, 1.0),
            limiter.delay(SAME_WEBHOOK, OTHER_CHANNEL, 1.0),
        )
        expected = 4.0 + RESET_MARGIN
        assert pytest.approx((expected, expected, 0.0, expected)) == waits

    def test_buckets_kept_are_those_named(self) -> None:
        """State is kept for each bucket a route is in, and no more."""
        limiter = RateLimiter()
        for n in range(100):
            limiter.update(WEBHOOK, _headers(1, 1.0, f"a{n % 2}"), n)
            limiter.update(SAME_WEBHOOK, _headers(1, 1.0, f"b{n}"), n)
        assert 2 == len(limiter._buckets)


class TestTooManyNeverShortens:
    """
    A 429 adds to a pause in force; it never ends one early.
    """

    @pytest.mark.parametrize(
        ("pauses", "now", "expected"),
        [
            pytest.param(
                [(0.0, 30.0), (1.0, 1.0)],
                2.0,
                28.0 + RESET_MARGIN,
                id="short-after-long",
            ),
            pytest.param(
                [(0.0, 1.0), (0.5, 30.0)],
                1.0,
                29.5 + RESET_MARGIN,
                id="long-after-short",
            ),
            pytest.param(
                [(0.0, 10.0), (5.0, 10.0)],
                6.0,
                9.0 + RESET_MARGIN,
                id="later-end-wins",
            ),
            pytest.param([(0.0, 0.0)], 0.0, RESET_MARGIN, id="zero-at-zero"),
        ],
    )
    @pytest.mark.parametrize(
        ("headers", "other"),
        [
            pytest.param({"x-ratelimit-scope": "user"}, 0.0, id="bucket"),
            pytest.param({"x-ratelimit-scope": "global"}, None, id="global"),
        ],
    )
    def test_pauses(
        self,
        headers: dict[str, str],
        other: float | None,
        pauses: list[tuple[float, float]],
        now: float,
        expected: float,
    ) -> None:
        """The pause lasts until the latest end any 429 named."""
        limiter = RateLimiter()
        for at, retry in pauses:
            limiter.too_many(WEBHOOK, headers, {"retry_after": retry}, at)
        actual = (
            limiter.delay(WEBHOOK, CHANNEL, now),
            limiter.delay(OTHER_WEBHOOK, OTHER_CHANNEL, now),
        )
        assert pytest.approx(
            (expected, expected if other is None else other)
        ) == (actual)

    def test_bucket_429_during_a_global_pause(self) -> None:
        """A short bucket 429 leaves a longer global pause in force."""
        limiter = RateLimiter()
        limiter.too_many(
            WEBHOOK, {"x-ratelimit-scope": "global"}, {"retry_after": 30}, 0.0
        )
        limiter.too_many(
            WEBHOOK, {"x-ratelimit-scope": "user"}, {"retry_after": 1}, 1.0
        )
        wait = limiter.wait(WEBHOOK, CHANNEL, 2.0)
        assert (pytest.approx(28.0 + RESET_MARGIN), "global") == (
            wait.seconds,
            wait.scope,
        )


#: 429 headers (and body) and the scope Discord means by them: the
#: headers alone may say "global", and only a true flag or scope counts.
GLOBAL_CASES = [
    pytest.param(
        {"x-ratelimit-global": "true", "x-ratelimit-scope": "global"},
        {"message": "You are being rate limited.", "retry_after": 2},
        "global",
        id="both-headers-body-silent",
    ),
    pytest.param(
        {"x-ratelimit-global": "true"},
        {"retry_after": 2},
        "global",
        id="global-header-alone",
    ),
    pytest.param(
        {"x-ratelimit-global": " True "},
        {"retry_after": 2},
        "global",
        id="global-header-any-case",
    ),
    pytest.param(
        {"x-ratelimit-scope": "global"},
        {"retry_after": 2},
        "global",
        id="scope-header-alone",
    ),
    pytest.param(
        {"x-ratelimit-scope": " GLOBAL"},
        {"retry_after": 2},
        "global",
        id="scope-header-any-case",
    ),
    pytest.param(
        {"x-ratelimit-scope": "user"},
        {"retry_after": 2, "global": True},
        "global",
        id="body-alone",
    ),
    pytest.param(
        {"x-ratelimit-global": "false", "x-ratelimit-scope": "user"},
        {"retry_after": 2},
        "bucket",
        id="global-header-false",
    ),
    pytest.param(
        {"x-ratelimit-scope": "user"},
        {"retry_after": 2, "global": False},
        "bucket",
        id="user-scope",
    ),
    pytest.param(
        {"x-ratelimit-scope": "shared"},
        {"retry_after": 2},
        "bucket",
        id="shared-scope",
    ),
]


class TestGlobal:
    """
    A global 429 holds every destination, however it says so.
    """

    @pytest.mark.parametrize(("headers", "body", "scope"), GLOBAL_CASES)
    def test_scope(
        self, headers: dict[str, str], body: Any, scope: str
    ) -> None:
        """Global in the body or in either header pauses everything."""
        limiter = RateLimiter()
        said = limiter.too_many(WEBHOOK, headers, body, 0.0)
        other = limiter.wait(OTHER_WEBHOOK, OTHER_CHANNEL, 0.0)
        expected = 2.0 + RESET_MARGIN if scope == "global" else 0.0
        actual = (said.scope, pytest.approx(expected), other.excessive)
        assert (scope, other.seconds, False) == actual

    @pytest.mark.parametrize(
        ("scope", "invalid"),
        [
            pytest.param("shared", 0, id="shared"),
            pytest.param(" Shared ", 0, id="shared-any-case"),
            pytest.param("user", 1, id="user"),
        ],
    )
    def test_shared_scope_in_any_case(self, scope: str, invalid: int) -> None:
        """A shared-scope 429, however written, is not counted."""
        limiter = RateLimiter()
        said = limiter.too_many(
            WEBHOOK, {"x-ratelimit-scope": scope}, {"retry_after": 1}, 0.0
        )
        actual = (said.counts_as_invalid, limiter.invalid_count)
        assert (bool(invalid), invalid) == actual


class TestWaitScope:
    """
    What a wait is for: the longest cause, or ``""`` when there is none.
    """

    @pytest.mark.parametrize(
        ("cause", "now", "expected"),
        [
            pytest.param("nothing", 0.0, Wait(0.0), id="nothing"),
            pytest.param(
                "exhausted",
                1.0,
                Wait(4.0 + RESET_MARGIN, "bucket"),
                id="bucket",
            ),
            pytest.param(
                "exhausted", 5.0 + RESET_MARGIN, Wait(0.0), id="bucket-reset"
            ),
            pytest.param(
                "bucket-429", 1.0, Wait(1.0 + RESET_MARGIN, "bucket"), id="429"
            ),
            pytest.param(
                "bucket-429", 2.0 + RESET_MARGIN, Wait(0.0), id="429-over"
            ),
            pytest.param(
                "global-429",
                1.0,
                Wait(1.0 + RESET_MARGIN, "global"),
                id="global",
            ),
            pytest.param(
                "cloudflare",
                100.0,
                Wait(CLOUDFLARE_PAUSE - 100.0, "cloudflare"),
                id="cloudflare",
            ),
            pytest.param(
                "channel",
                10.0,
                Wait(CHANNEL_WINDOW - 10.0, "channel"),
                id="ch",
            ),
            pytest.param("channel", CHANNEL_WINDOW, Wait(0.0), id="ch-over"),
            pytest.param(
                "invalid",
                100.0,
                Wait(INVALID_WINDOW - 100.0, "invalid"),
                id="ban",
            ),
        ],
    )
    def test_scope(self, cause: str, now: float, expected: Wait) -> None:
        """Each cause names itself while it lasts, and nothing after."""
        limiter = RateLimiter()
        if cause == "exhausted":
            limiter.update(WEBHOOK, _headers(0, 5.0), 0.0)
        elif cause == "bucket-429":
            limiter.too_many(
                WEBHOOK, {"x-ratelimit-scope": "user"}, {"retry_after": 2}, 0
            )
        elif cause == "global-429":
            limiter.too_many(
                WEBHOOK, {"x-ratelimit-scope": "global"}, {"retry_after": 2}, 0
            )
        elif cause == "cloudflare":
            limiter.too_many(WEBHOOK, {}, None, 0.0)
        elif cause == "channel":
            for _ in range(CHANNEL_MESSAGES):
                limiter.sending(OTHER_WEBHOOK, CHANNEL, 0.0)
        elif cause == "invalid":
            for _ in range(INVALID_BUDGET):
                limiter.invalid(0.0)
        actual = limiter.wait(WEBHOOK, CHANNEL, now)
        assert (expected.scope, pytest.approx(expected.seconds)) == (
            actual.scope,
            actual.seconds,
        )

    def test_equal_pause_keeps_its_cause(self) -> None:
        """Two pauses ending together name the one that came first."""
        limiter = RateLimiter()
        limiter.too_many(WEBHOOK, {}, None, 0.0)
        body = {"retry_after": CLOUDFLARE_PAUSE - RESET_MARGIN}
        limiter.too_many(WEBHOOK, {"x-ratelimit-scope": "global"}, body, 0.0)
        assert "cloudflare" == limiter.wait(WEBHOOK, CHANNEL, 1.0).scope


class TestAnyClock:
    """
    ``now`` is any clock's reading: monotonic clocks may start below zero.
    """

    @pytest.mark.parametrize("start", [-1e6, -100.0, -0.5, 0.0, 1e6])
    def test_nothing_known_means_no_wait(self, start: float) -> None:
        """A new limiter lets a destination send at any time."""
        limiter = RateLimiter()
        assert Wait(0.0) == limiter.wait(WEBHOOK, CHANNEL, start)

    @pytest.mark.parametrize("start", [-1e6, -100.0, -0.5, 0.0, 1e6])
    def test_waits_are_relative(self, start: float) -> None:
        """Every wait is the same, whatever the clock read at the start."""
        limiter = RateLimiter()
        limiter.update(WEBHOOK, _headers(0, 5.0), start)
        limiter.too_many(
            OTHER_WEBHOOK, {"x-ratelimit-scope": "user"}, {}, start
        )
        actual = [
            limiter.delay(key, CHANNEL, start + later)
            for key in (WEBHOOK, OTHER_WEBHOOK)
            for later in (0.5, 10.0)
        ]
        expected = [4.5 + RESET_MARGIN, 0.0, 0.5 + RESET_MARGIN, 0.0]
        assert pytest.approx(expected) == actual


class TestChannelWindow:
    """
    Discord's hidden limit of 30 messages a minute per channel.
    """

    @pytest.mark.parametrize(
        ("sends", "now", "expected"),
        [
            pytest.param([], 0.0, 0.0, id="nothing-sent"),
            pytest.param([0.0] * 25, 0.0, 0.0, id="burst-of-25-not-spread"),
            pytest.param([0.0] * 29, 0.0, 0.0, id="29th-then-room"),
            pytest.param(
                [0.0] * 30, 0.0, CHANNEL_WINDOW, id="31st-waits-a-minute"
            ),
            pytest.param(
                [float(t) for t in range(30)],
                30.0,
                30.0,
                id="31st-waits-for-first-to-age",
            ),
            pytest.param(
                [float(t) for t in range(30)],
                59.5,
                0.5,
                id="first-nearly-60s-old",
            ),
            pytest.param(
                [float(t) for t in range(30)],
                60.0,
                0.0,
                id="first-60s-old",
            ),
            pytest.param(
                [0.0] + [50.0] * 29 + [60.0],
                60.0,
                50.0,
                id="sliding-not-fixed-window",
            ),
        ],
    )
    def test_sliding_window(
        self, sends: list[float], now: float, expected: float
    ) -> None:
        """The 31st message in any 60 seconds waits for the oldest to age."""
        limiter = RateLimiter()
        for at in sends:
            assert 0.0 == limiter.delay(WEBHOOK, CHANNEL, at)
            limiter.sending(WEBHOOK, CHANNEL, at)
        assert pytest.approx(expected) == limiter.delay(WEBHOOK, CHANNEL, now)

    def test_limit_is_per_channel_and_shared_by_its_webhooks(self) -> None:
        """Webhooks in one channel share its limit; other channels do not."""
        limiter = RateLimiter()
        for n in range(CHANNEL_MESSAGES):
            key = WEBHOOK if n % 2 else OTHER_WEBHOOK
            limiter.sending(key, CHANNEL, 0.0)
        actual = (
            limiter.delay(WEBHOOK, CHANNEL, 1.0),
            limiter.delay(OTHER_WEBHOOK, CHANNEL, 1.0),
            limiter.delay(WEBHOOK, OTHER_CHANNEL, 1.0),
        )
        assert (CHANNEL_WINDOW - 1.0, CHANNEL_WINDOW - 1.0, 0.0) == actual

    def test_window_and_count_are_settable(self) -> None:
        """A limiter made with another window and count keeps to them."""
        limiter = RateLimiter(channel_messages=2, channel_window=10.0)
        limiter.sending(WEBHOOK, CHANNEL, 0.0)
        limiter.sending(WEBHOOK, CHANNEL, 4.0)
        actual = [limiter.delay(WEBHOOK, CHANNEL, t) for t in (5.0, 10.0)]
        assert [5.0, 0.0] == actual


TOO_MANY_CASES = [
    pytest.param(
        _headers(0, 1.5, x_ratelimit_scope="user", retry_after="2"),
        {"message": "You are being rate limited.", "retry_after": 1.5},
        TooMany(1.5 + RESET_MARGIN, "bucket", counts_as_invalid=True),
        (1.5 + RESET_MARGIN, 0.0),
        id="body-retry-after-wins",
    ),
    pytest.param(
        _headers(0, 1.0, x_ratelimit_scope="user", retry_after="3"),
        {"message": "You are being rate limited."},
        TooMany(3.0 + RESET_MARGIN, "bucket", counts_as_invalid=True),
        (3.0 + RESET_MARGIN, 0.0),
        id="retry-after-header",
    ),
    pytest.param(
        _headers(0, 1.0, x_ratelimit_scope="user", retry_after="4"),
        None,
        TooMany(4.0 + RESET_MARGIN, "bucket", counts_as_invalid=True),
        (4.0 + RESET_MARGIN, 0.0),
        id="no-body",
    ),
    pytest.param(
        _headers(3, 1.0, x_ratelimit_scope="user", retry_after="42"),
        {"code": 20028, "retry_after": 42.0, "global": False},
        TooMany(42.0 + RESET_MARGIN, "bucket", counts_as_invalid=True),
        (42.0 + RESET_MARGIN, 0.0),
        id="hidden-limit-despite-room",
    ),
    pytest.param(
        {
            "x-ratelimit-global": "true",
            "x-ratelimit-scope": "global",
            "retry-after": "1",
        },
        {"message": "global", "retry_after": 0.75, "global": True},
        TooMany(0.75 + RESET_MARGIN, "global", counts_as_invalid=True),
        (0.75 + RESET_MARGIN, 0.75 + RESET_MARGIN),
        id="global-pauses-everything",
    ),
    pytest.param(
        _headers(x_ratelimit_scope="global", retry_after="2"),
        {"message": "global", "retry_after": 2, "global": True},
        TooMany(2.0 + RESET_MARGIN, "global", counts_as_invalid=True),
        (2.0 + RESET_MARGIN, 2.0 + RESET_MARGIN),
        id="global-in-body-only",
    ),
    pytest.param(
        _headers(0, 1.0, x_ratelimit_scope="shared", retry_after="5"),
        {"message": "shared", "retry_after": 5.0, "global": False},
        TooMany(5.0 + RESET_MARGIN, "bucket", counts_as_invalid=False),
        (5.0 + RESET_MARGIN, 0.0),
        id="shared-scope-not-invalid",
    ),
    pytest.param(
        {"content-type": "application/json"},
        {"code": 0, "message": "You are being blocked from accessing our API"},
        TooMany(CLOUDFLARE_PAUSE, "cloudflare", counts_as_invalid=True),
        (CLOUDFLARE_PAUSE, CLOUDFLARE_PAUSE),
        id="cloudflare-no-headers",
    ),
    pytest.param(
        {"retry-after": "5"},
        b"<html>error code: 1015</html>",
        TooMany(CLOUDFLARE_PAUSE, "cloudflare", counts_as_invalid=True),
        (CLOUDFLARE_PAUSE, CLOUDFLARE_PAUSE),
        id="cloudflare-short-retry-is-long",
    ),
]


class TestTooMany:
    """
    What a 429 pauses, and for how long.
    """

    @pytest.mark.parametrize(
        ("headers", "body", "expected", "delays"), TOO_MANY_CASES
    )
    def test_429(
        self,
        headers: dict[str, str],
        body: Any,
        expected: TooMany,
        delays: tuple[float, float],
    ) -> None:
        """A 429 pauses its destination, or everything, as it says."""
        limiter = RateLimiter()
        actual = limiter.too_many(WEBHOOK, headers, body, 100.0)
        assert expected.scope == actual.scope
        assert expected.counts_as_invalid == actual.counts_as_invalid
        assert pytest.approx(expected.retry_after) == actual.retry_after
        waits = (
            limiter.delay(WEBHOOK, CHANNEL, 100.0),
            limiter.delay(OTHER_WEBHOOK, OTHER_CHANNEL, 100.0),
        )
        assert pytest.approx(delays) == waits

    @pytest.mark.parametrize(
        ("headers", "body", "expected", "delays"), TOO_MANY_CASES
    )
    def test_429_pause_ends(
        self,
        headers: dict[str, str],
        body: Any,
        expected: TooMany,
        delays: tuple[float, float],
    ) -> None:
        """Once the pause a 429 asked for is over, sending resumes."""
        limiter = RateLimiter()
        limiter.too_many(WEBHOOK, headers, body, 100.0)
        later = 100.0 + max(delays) + 0.001
        waits = (
            limiter.delay(WEBHOOK, CHANNEL, later),
            limiter.delay(OTHER_WEBHOOK, OTHER_CHANNEL, later),
        )
        assert (0.0, 0.0) == waits

    def test_longer_pause_is_not_shortened(self) -> None:
        """A short 429 after a long one does not shorten the long pause."""
        limiter = RateLimiter()
        limiter.too_many(WEBHOOK, {}, None, 0.0)  # Cloudflare
        limiter.too_many(
            WEBHOOK, _headers(x_ratelimit_global="true"), {"retry_after": 1}, 1
        )
        assert pytest.approx(CLOUDFLARE_PAUSE - 2.0) == limiter.delay(
            OTHER_WEBHOOK, OTHER_CHANNEL, 2.0
        )

    @pytest.mark.parametrize(
        ("scope", "expected"),
        [
            pytest.param("user", 1, id="user"),
            pytest.param("global", 1, id="global"),
            pytest.param("shared", 0, id="shared"),
        ],
    )
    def test_429_counts_as_invalid_unless_shared(
        self, scope: str, expected: int
    ) -> None:
        """Every 429 but a shared-scope one counts toward Discord's ban."""
        limiter = RateLimiter()
        headers = _headers(0, 1.0, x_ratelimit_scope=scope)
        limiter.too_many(WEBHOOK, headers, {"retry_after": 1.0}, 0.0)
        assert expected == limiter.invalid_count


class TestInvalidRequests:
    """
    Staying far below Discord's 10,000 invalid requests in 10 minutes.
    """

    @pytest.mark.parametrize(
        ("count", "now", "expected"),
        [
            pytest.param(0, 0.0, 0.0, id="none"),
            pytest.param(INVALID_BUDGET - 1, 0.0, 0.0, id="under-budget"),
            pytest.param(
                INVALID_BUDGET, 0.0, INVALID_WINDOW, id="budget-reached"
            ),
            pytest.param(
                INVALID_BUDGET, 500.0, INVALID_WINDOW - 500, id="waiting-out"
            ),
            pytest.param(INVALID_BUDGET, INVALID_WINDOW, 0.0, id="aged-out"),
        ],
    )
    def test_budget_pauses_everything(
        self, count: int, now: float, expected: float
    ) -> None:
        """Past the invalid-request budget every destination waits."""
        limiter = RateLimiter()
        for _ in range(count):
            limiter.invalid(0.0)
        waits = (
            limiter.delay(WEBHOOK, CHANNEL, now),
            limiter.delay(OTHER_WEBHOOK, OTHER_CHANNEL, now),
        )
        assert pytest.approx((expected, expected)) == waits

    def test_budget_is_a_sliding_window(self) -> None:
        """The pause lasts until the oldest invalid answer is 10 min old."""
        limiter = RateLimiter()
        for n in range(INVALID_BUDGET):
            limiter.invalid(float(n))
        actual = [
            limiter.delay(WEBHOOK, CHANNEL, t) for t in (499.0, 600.0, 601.0)
        ]
        assert [101.0, 0.0, 0.0] == actual

    @pytest.mark.parametrize(
        ("now", "expected"),
        [
            pytest.param(INVALID_WINDOW - 1, 11, id="still-in-window"),
            pytest.param(INVALID_WINDOW, 1, id="window-just-over"),
            pytest.param(INVALID_WINDOW + 1, 1, id="long-over"),
        ],
    )
    def test_old_invalid_answers_are_forgotten(
        self, now: float, expected: int
    ) -> None:
        """Invalid answers 10 minutes old or older no longer count."""
        limiter = RateLimiter()
        for _ in range(10):
            limiter.invalid(0.0)
        limiter.invalid(now)
        assert expected == limiter.invalid_count

    def test_waiting_forgets_answers_that_aged_out(self) -> None:
        """At the window's end a full budget is forgotten, and no wait."""
        limiter = RateLimiter()
        for _ in range(INVALID_BUDGET):
            limiter.invalid(0.0)
        wait = limiter.wait(WEBHOOK, CHANNEL, INVALID_WINDOW)
        assert (Wait(0.0), 0) == (wait, limiter.invalid_count)

    def test_shared_429s_never_exhaust_the_budget(self) -> None:
        """Shared-scope 429s, however many, leave the budget untouched."""
        limiter = RateLimiter()
        headers = _headers(0, 0.1, x_ratelimit_scope="shared")
        for n in range(INVALID_BUDGET + 10):
            limiter.too_many(WEBHOOK, headers, {"retry_after": 0.1}, n / 100)
        assert 0.0 == limiter.delay(OTHER_WEBHOOK, OTHER_CHANNEL, 10.0)

    def test_counted_429s_exhaust_the_budget(self) -> None:
        """Enough ordinary 429s pause every destination."""
        limiter = RateLimiter()
        headers = _headers(0, 0.1, x_ratelimit_scope="user")
        for n in range(INVALID_BUDGET):
            limiter.too_many(WEBHOOK, headers, {"retry_after": 0.1}, n / 100)
        assert pytest.approx(INVALID_WINDOW - 10.0) == limiter.delay(
            OTHER_WEBHOOK, OTHER_CHANNEL, 10.0
        )


#: What every field the limiter reads may hold when a proxy, a broken
#: server or an attacker answers instead of Discord, and how long it makes
#: the destination wait (None: the field counts as missing).
HOSTILE = [
    pytest.param("-5", 0.0, id="negative"),
    pytest.param("-inf", 0.0, id="minus-infinity"),
    pytest.param("nan", None, id="nan"),
    pytest.param("NaN", None, id="nan-upper"),
    pytest.param("inf", LONGEST, id="infinity"),
    pytest.param("Infinity", LONGEST, id="infinity-word"),
    pytest.param("1e9", 1e9, id="a-billion"),
    pytest.param("1" + "0" * 400, LONGEST, id="400-digits"),
    pytest.param("soon", None, id="garbage"),
    pytest.param("", None, id="empty"),
    pytest.param("0x10", None, id="hex"),
    pytest.param(" 2.5 ", 2.5, id="padded"),
    pytest.param("30", 30.0, id="plain"),
    pytest.param("61", 61.0, id="past-the-bucket-cap"),
]
#: Body values beyond text: JSON numbers, and what is no number at all.
HOSTILE_BODY = [
    *HOSTILE,
    pytest.param(-5, 0.0, id="json-negative"),
    pytest.param(float("nan"), None, id="json-nan"),
    pytest.param(float("inf"), LONGEST, id="json-infinity"),
    pytest.param(10**400, LONGEST, id="json-huge-int"),
    pytest.param(-(10**400), 0.0, id="json-huge-negative-int"),
    pytest.param(1e9, 1e9, id="json-a-billion"),
    pytest.param(True, None, id="json-bool"),
    pytest.param(False, None, id="json-false"),
    pytest.param([1], None, id="json-list"),
    pytest.param({"s": 1}, None, id="json-object"),
]
DEFAULT_RETRY = 1.0  # a 429 that says nothing readable: retry after 1 s


def _check(wait: Wait, expected: float, scope: str) -> None:
    """A wait is finite, never negative, and excessive past its cap."""
    assert pytest.approx(expected) == wait.seconds
    assert 0.0 <= wait.seconds <= LONGEST + RESET_MARGIN
    assert (scope, expected > CAP[scope] + RESET_MARGIN) == (
        wait.scope if wait.seconds else scope,
        wait.excessive,
    )


CAP = {"bucket": BUCKET_CAP, "global": GLOBAL_CAP, "cloudflare": GLOBAL_CAP}


class TestHostileNumbers:
    """
    Every number the limiter reads is bounded, whatever an answer holds.

    Negative waits are none, unreadable ones missing, infinite or absurd
    ones kept (never sending early) but marked excessive past the cap.
    """

    @pytest.mark.parametrize(("value", "seconds"), HOSTILE_BODY)
    def test_body_retry_after(self, value: Any, seconds: float | None) -> None:
        """``retry_after`` in a bucket 429's body."""
        limiter = RateLimiter()
        headers = {"x-ratelimit-scope": "user"}
        pause = limiter.too_many(
            WEBHOOK, headers, {"retry_after": value}, 100.0
        )
        expected = (DEFAULT_RETRY if seconds is None else seconds) + (
            RESET_MARGIN
        )
        _check(limiter.wait(WEBHOOK, CHANNEL, 100.0), expected, "bucket")
        assert pytest.approx(expected) == pause.retry_after
        assert 0.0 == limiter.delay(OTHER_WEBHOOK, OTHER_CHANNEL, 100.0)

    @pytest.mark.parametrize(("value", "seconds"), HOSTILE)
    def test_retry_after_header(
        self, value: str, seconds: float | None
    ) -> None:
        """``Retry-After`` of a bucket 429 whose body says nothing."""
        limiter = RateLimiter()
        headers = {"x-ratelimit-scope": "user", "retry-after": value}
        limiter.too_many(WEBHOOK, headers, b"<html>", 100.0)
        expected = (DEFAULT_RETRY if seconds is None else seconds) + (
            RESET_MARGIN
        )
        _check(limiter.wait(WEBHOOK, CHANNEL, 100.0), expected, "bucket")

    @pytest.mark.parametrize(("value", "seconds"), HOSTILE_BODY)
    def test_global_retry_after(
        self, value: Any, seconds: float | None
    ) -> None:
        """A global 429 holds every destination, as long as it says."""
        limiter = RateLimiter()
        headers = {"x-ratelimit-global": "true", "x-ratelimit-scope": "global"}
        body = {"retry_after": value, "global": True}
        limiter.too_many(WEBHOOK, headers, body, 100.0)
        expected = (DEFAULT_RETRY if seconds is None else seconds) + (
            RESET_MARGIN
        )
        wait = limiter.wait(OTHER_WEBHOOK, OTHER_CHANNEL, 100.0)
        _check(wait, expected, "global")

    @pytest.mark.parametrize(("value", "seconds"), HOSTILE)
    def test_cloudflare_retry_after(
        self, value: str, seconds: float | None
    ) -> None:
        """A Cloudflare block lasts at least its pause, longer if it says."""
        limiter = RateLimiter()
        limiter.too_many(WEBHOOK, {"retry-after": value}, b"<html>", 100.0)
        said = (DEFAULT_RETRY if seconds is None else seconds) + RESET_MARGIN
        expected = max(said, CLOUDFLARE_PAUSE)
        wait = limiter.wait(OTHER_WEBHOOK, OTHER_CHANNEL, 100.0)
        _check(wait, expected, "cloudflare")

    @pytest.mark.parametrize(("value", "seconds"), HOSTILE)
    def test_reset_after(self, value: str, seconds: float | None) -> None:
        """``X-RateLimit-Reset-After`` of an exhausted bucket."""
        limiter = RateLimiter()
        limiter.update(WEBHOOK, _headers(0, value), 100.0)
        expected = 0.0 if seconds is None else seconds + RESET_MARGIN
        _check(limiter.wait(WEBHOOK, CHANNEL, 100.0), expected, "bucket")

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            pytest.param("-3", 2.0 + RESET_MARGIN, id="negative-is-none-left"),
            pytest.param("nan", 0.0, id="nan-ignored"),
            pytest.param("inf", 0.0, id="infinite-room"),
            pytest.param("1" + "0" * 400, 0.0, id="400-digits"),
            pytest.param("lots", 0.0, id="garbage-ignored"),
            pytest.param("2.7", 0.0, id="fraction"),
        ],
    )
    def test_remaining(self, value: str, expected: float) -> None:
        """``X-RateLimit-Remaining``: any value, and the next send."""
        limiter = RateLimiter()
        limiter.update(WEBHOOK, _headers(value, 2.0), 100.0)
        _check(limiter.wait(WEBHOOK, CHANNEL, 100.0), expected, "bucket")
        limiter.sending(WEBHOOK, CHANNEL, 100.0)
        assert 0.0 <= limiter.delay(WEBHOOK, CHANNEL, 100.0) <= 2.1

    @pytest.mark.parametrize(
        "name", ["", "x" * 10_000, "\x00", "a:b", "webhook:1/2"]
    )
    def test_bucket_names(self, name: str) -> None:
        """Any ``X-RateLimit-Bucket`` is a name, and only a name."""
        limiter = RateLimiter()
        limiter.update(WEBHOOK, _headers(0, 1.0, name), 100.0)
        expected = 1.0 + RESET_MARGIN
        _check(limiter.wait(WEBHOOK, CHANNEL, 100.0), expected, "bucket")
        assert 0.0 == limiter.delay(OTHER_WEBHOOK, OTHER_CHANNEL, 100.0)

    def test_a_new_bucket_name_on_every_answer_grows_nothing(self) -> None:
        """Buckets kept stay one per destination, however names change."""
        limiter = RateLimiter()
        for n in range(1000):
            limiter.update(WEBHOOK, _headers(1, 1.0, f"b{n}"), float(n))
        assert 1 == len(limiter._buckets)

    @pytest.mark.parametrize(
        "body",
        [
            pytest.param({"global": "true", "retry_after": 1}, id="str-true"),
            pytest.param({"global": 1, "retry_after": 1}, id="int-true"),
            pytest.param({"global": None, "retry_after": 1}, id="null"),
            pytest.param(["global"], id="list-body"),
            pytest.param("global", id="str-body"),
        ],
    )
    def test_global_flag_must_be_true(self, body: Any) -> None:
        """Only ``"global": true`` (or the header) holds every lane."""
        limiter = RateLimiter()
        limiter.too_many(WEBHOOK, {"x-ratelimit-scope": "user"}, body, 0.0)
        assert 0.0 == limiter.delay(OTHER_WEBHOOK, OTHER_CHANNEL, 0.0)
        assert limiter.delay(WEBHOOK, CHANNEL, 0.0) > 0.0

    @pytest.mark.parametrize(
        ("seconds", "scope", "excessive"),
        [
            pytest.param(BUCKET_CAP, "bucket", False, id="bucket-at-cap"),
            pytest.param(
                BUCKET_CAP + RESET_MARGIN,
                "bucket",
                False,
                id="bucket-at-cap-with-margin",
            ),
            pytest.param(BUCKET_CAP + 1, "bucket", True, id="bucket-past"),
            pytest.param(GLOBAL_CAP, "global", False, id="global-at-cap"),
            pytest.param(GLOBAL_CAP + 1, "global", True, id="global-past"),
            pytest.param(
                GLOBAL_CAP + 1, "cloudflare", True, id="cloudflare-past"
            ),
            pytest.param(LONGEST, "channel", False, id="own-limits-no-cap"),
            pytest.param(LONGEST, "invalid", False, id="ban-budget-no-cap"),
        ],
    )
    def test_caps(self, seconds: float, scope: str, excessive: bool) -> None:
        """A wait past its scope's cap is excessive; ours have no cap."""
        assert excessive == Wait(seconds, scope).excessive

    def test_excessive_wait_ends_when_it_is_over(self) -> None:
        """An excessive wait is still waited: never sending before it."""
        limiter = RateLimiter()
        body = {"retry_after": 120.0}
        limiter.too_many(WEBHOOK, {"x-ratelimit-scope": "user"}, body, 0.0)
        waits = [limiter.wait(WEBHOOK, CHANNEL, t) for t in (0, 59, 61, 121)]
        assert [True, True, False, False] == [w.excessive for w in waits]
        assert 0.0 == waits[-1].seconds


class TestPace:
    """Past 3 messages in its window, ordinary messages are paced."""

    BURST = CHANNEL_MESSAGES // 10
    PACE = CHANNEL_WINDOW / (CHANNEL_MESSAGES - BURST)

    @pytest.mark.parametrize(
        ("sent", "paced", "expected"),
        [
            # a few messages go as the bucket allows
            (2, True, 0.0),
            # past them, an ordinary one waits for the pace
            (3, True, PACE),
            (10, True, PACE),
            # a warning is not paced: the window decides
            (10, False, 0.0),
            (CHANNEL_MESSAGES, False, CHANNEL_WINDOW),
            (CHANNEL_MESSAGES, True, CHANNEL_WINDOW),
        ],
    )
    def test_wait(self, sent: int, paced: bool, expected: float) -> None:
        limiter = RateLimiter()
        for _ in range(sent):
            limiter.sending(WEBHOOK, CHANNEL, 0.0)

        wait = limiter.wait(WEBHOOK, CHANNEL, 0.0, paced=paced)

        assert wait.seconds == pytest.approx(expected)
        assert (wait.scope == "channel") == (expected > 0)

    def test_the_pace_is_the_channels_not_the_destinations(self) -> None:
        limiter = RateLimiter()
        for _ in range(3):
            limiter.sending(WEBHOOK, CHANNEL, 0.0)

        assert limiter.wait(OTHER_WEBHOOK, CHANNEL, 1.0, paced=True).seconds
        assert not limiter.wait(
            OTHER_WEBHOOK, OTHER_CHANNEL, 1.0, paced=True
        ).seconds

    def test_a_paced_channel_never_fills_its_window(self) -> None:
        limiter = RateLimiter()
        now = 0.0
        for _ in range(200):  # an ordinary message whenever it may go
            now += limiter.wait(WEBHOOK, CHANNEL, now, paced=True).seconds
            limiter.sending(WEBHOOK, CHANNEL, now)
            # a warning logged now finds room in the window
            assert limiter.wait(WEBHOOK, CHANNEL, now).seconds < 1e-9
        assert now == pytest.approx((200 - self.BURST) * self.PACE)


class TestSchedule:
    """The projection of when a destination's next messages may leave."""

    def test_an_idle_channel_sends_a_few_then_at_its_pace(self) -> None:
        times = RateLimiter().schedule(WEBHOOK, CHANNEL, 100.0, 5)

        pace = CHANNEL_WINDOW / (CHANNEL_MESSAGES - CHANNEL_MESSAGES // 10)
        assert times == pytest.approx(
            [100, 100, 100, 100 + pace, 100 + 2 * pace]
        )

    def test_it_starts_with_the_wait_in_force(self) -> None:
        limiter = RateLimiter()
        limiter.too_many(WEBHOOK, _headers(), {"retry_after": 5}, 0.0)

        first = limiter.schedule(WEBHOOK, CHANNEL, 0.0, 1)[0]

        assert first == pytest.approx(5 + RESET_MARGIN)

    def test_a_full_window_waits_for_its_oldest(self) -> None:
        limiter = RateLimiter()
        for n in range(CHANNEL_MESSAGES):
            limiter.sending(WEBHOOK, CHANNEL, n * 0.1)

        first = limiter.schedule(WEBHOOK, CHANNEL, 3.0, 2)

        pace = CHANNEL_WINDOW / (CHANNEL_MESSAGES - CHANNEL_MESSAGES // 10)
        assert first == pytest.approx([CHANNEL_WINDOW, CHANNEL_WINDOW + pace])

    def test_a_slow_bucket_sets_the_pace(self) -> None:
        limiter = RateLimiter()
        limiter.update(
            WEBHOOK,
            {
                "x-ratelimit-limit": "1",
                "x-ratelimit-remaining": "0",
                "x-ratelimit-reset-after": "10",
            },
            0.0,
        )

        times = limiter.schedule(WEBHOOK, OTHER_CHANNEL, 0.0, 3)

        margin = RESET_MARGIN
        assert times == pytest.approx(
            [10 + margin, 20 + 2 * margin, 30 + 3 * margin], abs=0.2
        )

    def test_it_notes_nothing(self) -> None:
        limiter = RateLimiter()
        limiter.schedule(WEBHOOK, CHANNEL, 0.0, 100)

        assert 0.0 == limiter.delay(WEBHOOK, CHANNEL, 0.0)
