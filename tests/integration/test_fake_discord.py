"""
Tests of the loopback fake Discord itself, with a plain ``httpx.Client``.

The delivery engine is tested and benchmarked against this fake, so these
pin what it answers: statuses, bodies, rate-limit headers and faults.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from fakes import discord
from fakes.discord import FakeDiscord, rule_violation_log
from fakes.discord_schema import Pings, response_errors

BODY: dict[str, Any] = {
    "embeds": [{"title": "Trade Executed", "color": 0x2ECC71}],
    "allowed_mentions": {"parse": []},
}
#: An embed as ``discord-webhook`` builds it: every unset part ``null``.
NULL_PARTS_EMBED: dict[str, Any] = {
    "title": "Trade Executed",
    "description": None,
    "url": None,
    "footer": None,
    "image": None,
    "thumbnail": None,
    "video": None,
    "provider": None,
    "author": None,
    "fields": [],
    "color": 242424,
}
USER = "123456789012345678"
ROLE = "223456789012345678"
RATE_HEADERS = (
    "x-ratelimit-limit",
    "x-ratelimit-remaining",
    "x-ratelimit-reset",
    "x-ratelimit-reset-after",
    "x-ratelimit-bucket",
)


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    """A plain httpx client with a short timeout."""
    with httpx.Client(timeout=5.0) as http:
        yield http


class FakeTime:
    """
    The ``time`` module as the fake sees it, its clock moved on at will.

    The fake's windows and fault deadlines are read off
    ``time.monotonic()``; a test moves that clock forward instead of
    sleeping until the real one gets there.
    """

    def __init__(self) -> None:
        self.ahead = 0.0

    def monotonic(self) -> float:
        """The real clock, moved on by what :meth:`advance` added."""
        return time.monotonic() + self.ahead

    def advance(self, seconds: float) -> None:
        """Move the fake's clock *seconds* forward."""
        self.ahead += seconds

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


@pytest.fixture
def fake_time(monkeypatch: pytest.MonkeyPatch) -> FakeTime:
    """The fakes' clock, for this test only, moved on by the test."""
    clock = FakeTime()
    monkeypatch.setattr(discord, "time", clock)
    return clock


def rate_headers(response: httpx.Response) -> dict[str, str]:
    """Return the X-RateLimit-* headers of *response*."""
    return {
        name: value
        for name, value in response.headers.items()
        if name.startswith("x-ratelimit-")
    }


class TestExecuteWebhook:
    def test_post_without_wait_answers_204_and_records(
        self, fake_discord: FakeDiscord, client: httpx.Client
    ) -> None:
        """A valid body answers 204 with no content and is recorded."""
        response = client.post(fake_discord.webhook_url(), json=BODY)

        assert 204 == response.status_code
        assert b"" == response.content
        assert [BODY] == [m.json for m in fake_discord.messages]
        assert "webhook:1001" == fake_discord.messages[0].key
        assert BODY["embeds"] == fake_discord.embeds()
        assert 1 == fake_discord.count(status=204)

    def test_wait_true_answers_200_with_a_message(
        self, fake_discord: FakeDiscord, client: httpx.Client
    ) -> None:
        """With wait=true the answer is 200 and a message object."""
        body = {**BODY, "content": "hello"}
        response = client.post(
            fake_discord.webhook_url("1002", "tok-b"),
            params={"wait": "true"},
            json=body,
        )

        message = response.json()
        assert 200 == response.status_code
        assert fake_discord.messages[0].id == message["id"]
        assert "1002" == message["channel_id"]
        assert "hello" == message["content"]
        assert "Trade Executed" == message["embeds"][0]["title"]

    def test_versioned_path_is_served(
        self, fake_discord: FakeDiscord, client: httpx.Client
    ) -> None:
        """The /api/v10/webhooks form of the URL works too."""
        url = f"{fake_discord.api_base}/webhooks/1001/tok-a"

        response = client.post(url, json=BODY)

        assert 204 == response.status_code

    def test_every_request_is_recorded(
        self, fake_discord: FakeDiscord, client: httpx.Client
    ) -> None:
        """Requests keep method, path, lower-cased headers, JSON, status."""
        client.post(
            fake_discord.webhook_url(), params={"wait": "1"}, json=BODY
        )

        [recorded] = fake_discord.requests
        assert ("POST", "/api/webhooks/1001/tok-a") == (
            recorded.method,
            recorded.path,
        )
        assert {"wait": "1"} == recorded.query
        assert "application/json" == recorded.headers["content-type"]
        assert (BODY, 200) == (recorded.json, recorded.status)


class TestValidation:
    def test_invalid_body_answers_400_and_is_recorded(
        self, fake_discord: FakeDiscord, client: httpx.Client
    ) -> None:
        """A 300-character title answers 50035 with Discord's errors tree."""
        body = {**BODY, "embeds": [{"title": "x" * 300}]}

        response = client.post(fake_discord.webhook_url(), json=body)

        errors = response.json()["errors"]["embeds"]["0"]["title"]["_errors"]
        assert 400 == response.status_code
        assert 50035 == response.json()["code"]
        assert "BASE_TYPE_MAX_LENGTH" == errors[0]["code"]
        [(payload, problems)] = fake_discord.rejected
        assert body == payload
        assert any("embeds[0].title" in problem for problem in problems)
        assert [] == fake_discord.messages

    def test_non_json_content_type_answers_400(
        self, fake_discord: FakeDiscord, client: httpx.Client
    ) -> None:
        """A form-encoded body is refused with 50035."""
        response = client.post(
            fake_discord.webhook_url(), data={"content": "hi"}
        )

        assert (400, 50035) == (response.status_code, response.json()["code"])
        assert 1 == len(fake_discord.rejected)

    @pytest.mark.parametrize(
        "body",
        [
            pytest.param({"allowed_mentions": {"parse": []}}, id="nothing"),
            pytest.param(
                {"content": " \n", "allowed_mentions": {"parse": []}},
                id="blank-content",
            ),
            pytest.param(
                {"content": "", "embeds": [], "allowed_mentions": None},
                id="empty-content-no-embeds",
            ),
        ],
    )
    @pytest.mark.foreign_payloads
    def test_empty_message_answers_50006(
        self,
        fake_discord: FakeDiscord,
        client: httpx.Client,
        body: dict[str, Any],
    ) -> None:
        """Nothing to show answers Discord's own 50006, not 50035."""
        response = client.post(fake_discord.webhook_url(), json=body)

        expected = {"code": 50006, "message": "Cannot send an empty message"}
        assert (400, expected) == (response.status_code, response.json())
        assert [] == fake_discord.messages

    @pytest.mark.parametrize(
        ("body", "broken"),
        [
            pytest.param(
                {"embeds": BODY["embeds"]},
                ["rule: allowed_mentions: must be sent as an object"],
                id="allowed-mentions-absent",
            ),
            pytest.param(
                {"embeds": BODY["embeds"], "allowed_mentions": None},
                [
                    "rule: allowed_mentions: must be sent as an object",
                    "rule: allowed_mentions: null",
                ],
                id="allowed-mentions-null",
            ),
            pytest.param(
                {"embeds": BODY["embeds"], "allowed_mentions": {}},
                ["rule: allowed_mentions.parse: must be an explicit list"],
                id="allowed-mentions-without-parse",
            ),
            pytest.param(
                {
                    "embeds": BODY["embeds"],
                    "allowed_mentions": {"parse": ["users"], "users": []},
                },
                ["rule: allowed_mentions: parse contains 'users'"],
                id="parse-users-beside-an-empty-users-list",
            ),
            pytest.param(
                {
                    "attachments": [],
                    "embeds": [NULL_PARTS_EMBED],
                    "username": "bench",
                    "allowed_mentions": {"parse": []},
                },
                [
                    f"rule: embeds[0].{part}: null"
                    for part in (
                        "description",
                        "url",
                        "footer",
                        "image",
                        "thumbnail",
                        "video",
                        "provider",
                        "author",
                    )
                ],
                id="discord-webhook-null-embed-parts",
            ),
        ],
    )
    @pytest.mark.foreign_payloads
    def test_discord_accepts_what_only_our_rules_forbid(
        self,
        fake_discord: FakeDiscord,
        client: httpx.Client,
        body: dict[str, Any],
        broken: list[str],
    ) -> None:
        """
        Discord's schema allows these, so the fake takes them, and records
        which of our own rules each breaks, for tests of our payloads.
        """
        before = len(rule_violation_log())

        response = client.post(fake_discord.webhook_url(), json=body)

        assert 204 == response.status_code
        assert [body] == [m.json for m in fake_discord.messages]
        assert [] == fake_discord.rejected
        [(payload, problems)] = fake_discord.rule_violations()
        assert body == payload
        assert len(broken) == len(problems)
        for expected, problem in zip(broken, problems, strict=True):
            assert problem.startswith(expected)
        assert [(payload, problems)] == rule_violation_log()[before:]

    @pytest.mark.foreign_payloads
    def test_clear_forgets_rule_violations(
        self, fake_discord: FakeDiscord, client: httpx.Client
    ) -> None:
        """clear() empties the fake's own list, not the process-wide log."""
        before = len(rule_violation_log())
        client.post(fake_discord.webhook_url(), json={"content": "x"})
        fake_discord.clear()

        assert [] == fake_discord.rule_violations()
        assert before + 1 == len(rule_violation_log())


class TestPings:
    """Who Discord would notify, from ``content`` and ``allowed_mentions``."""

    @pytest.mark.parametrize(
        ("body", "expected"),
        [
            pytest.param(
                {"content": f"@everyone <@{USER}> <@&{ROLE}>"},
                Pings(users=(USER,)),
                id="webhook-default-parses-users-only",
            ),
            pytest.param(
                {
                    "content": f"@here <@!{USER}>",
                    "allowed_mentions": None,
                },
                Pings(users=(USER,)),
                id="null-is-the-default",
            ),
            pytest.param(
                {
                    "content": f"@everyone <@{USER}> <@&{ROLE}>",
                    "allowed_mentions": {"parse": []},
                },
                Pings(),
                id="parse-empty-suppresses-all",
            ),
            pytest.param(
                {
                    "content": f"@everyone <@{USER}>",
                    "allowed_mentions": {"parse": ["everyone"]},
                },
                Pings(everyone=True),
                id="parse-everyone",
            ),
            pytest.param(
                {
                    "content": f"<@&{ROLE}> <@&1>",
                    "allowed_mentions": {"parse": [], "roles": [ROLE]},
                },
                Pings(roles=(ROLE,)),
                id="listed-role-only",
            ),
            pytest.param(
                {
                    "embeds": [{"title": f"@everyone <@{USER}>"}],
                },
                Pings(),
                id="embeds-never-ping",
            ),
            pytest.param(
                {"content": f"```@everyone``` `<@{USER}>`"},
                Pings(),
                id="code-is-not-counted",
            ),
            pytest.param(
                {"content": f"```log``` <@{USER}>```"},
                Pings(users=(USER,)),
                id="a-value-that-closes-the-code-block",
            ),
        ],
    )
    @pytest.mark.foreign_payloads
    @pytest.mark.slow
    def test_webhook_pings(
        self,
        fake_discord: FakeDiscord,
        client: httpx.Client,
        body: dict[str, Any],
        expected: Pings,
    ) -> None:
        """pings() and the message object both say who is notified."""
        response = client.post(
            fake_discord.webhook_url(), params={"wait": "true"}, json=body
        )

        message = response.json()
        assert 200 == response.status_code
        pinged = [who for _, who in fake_discord.pings()]
        assert ([expected] if expected else []) == pinged
        assert expected.everyone == message["mention_everyone"]
        assert list(expected.users) == [u["id"] for u in message["mentions"]]
        assert list(expected.roles) == message["mention_roles"]

    @pytest.mark.foreign_payloads
    def test_bot_default_parses_every_type(
        self, fake_discord: FakeDiscord, client: httpx.Client
    ) -> None:
        """A bot message without allowed_mentions parses all three types."""
        url = f"{fake_discord.api_base}/channels/42/messages"
        auth = {"Authorization": f"Bot {fake_discord.bot_token}"}
        body = {"content": f"@everyone <@{USER}> <@&{ROLE}>"}

        client.post(url, json=body, headers=auth)

        [(message, who)] = fake_discord.pings()
        assert "channel:42" == message.key
        assert Pings(everyone=True, users=(USER,), roles=(ROLE,)) == who


class TestRateLimits:
    def test_headers_count_down_then_429(
        self, fake_discord: FakeDiscord, client: httpx.Client
    ) -> None:
        """Remaining goes 4..0, and the 6th request in 2 s gets a 429."""
        responses = [
            client.post(fake_discord.webhook_url(), json=BODY)
            for _ in range(6)
        ]

        assert [204] * 5 + [429] == [r.status_code for r in responses]
        remaining = [r.headers["x-ratelimit-remaining"] for r in responses]
        assert ["4", "3", "2", "1", "0", "0"] == remaining
        assert all(set(RATE_HEADERS) <= set(r.headers) for r in responses)
        assert 1 == len({r.headers["x-ratelimit-bucket"] for r in responses})
        limited = responses[-1]
        body = limited.json()
        assert {"message", "retry_after", "global"} == set(body)
        assert "You are being rate limited." == body["message"]
        assert body["global"] is False
        assert 0 < body["retry_after"] <= 2.0
        reset_after = limited.headers["x-ratelimit-reset-after"]
        assert f"{body['retry_after']:.3f}" == reset_after
        retry_after = str(math.ceil(body["retry_after"]))
        assert retry_after == limited.headers["retry-after"]
        assert "user" == limited.headers["x-ratelimit-scope"]
        assert 1 == fake_discord.invalid_requests
        assert 5 == len(fake_discord.messages)

    def test_buckets_are_per_webhook_and_token(
        self, fake_discord: FakeDiscord, client: httpx.Client
    ) -> None:
        """Another webhook has its own bucket, with another hash."""
        first = client.post(fake_discord.webhook_url("1"), json=BODY)
        second = client.post(fake_discord.webhook_url("2"), json=BODY)

        assert ["4", "4"] == [
            first.headers["x-ratelimit-remaining"],
            second.headers["x-ratelimit-remaining"],
        ]
        assert (
            first.headers["x-ratelimit-bucket"]
            != second.headers["x-ratelimit-bucket"]
        )

    def test_window_resets_after_reset_after(
        self, client: httpx.Client, fake_time: FakeTime
    ) -> None:
        """After Reset-After seconds the bucket is full again."""
        with FakeDiscord(rate_limit=(2, 0.3)) as fake:
            url = fake.webhook_url()
            statuses = [client.post(url, json=BODY).status_code]
            statuses.append(client.post(url, json=BODY).status_code)
            limited = client.post(url, json=BODY)
            statuses.append(limited.status_code)
            fake_time.advance(
                float(limited.headers["x-ratelimit-reset-after"])
            )
            again = client.post(url, json=BODY)

        assert [204, 204, 429] == statuses
        assert (204, "1") == (
            again.status_code,
            again.headers["x-ratelimit-remaining"],
        )

    def test_failed_requests_use_the_bucket(
        self, fake_discord: FakeDiscord, client: httpx.Client
    ) -> None:
        """A 400 counts against the webhook's bucket too."""
        client.post(
            fake_discord.webhook_url(),
            json={"embeds": [], "allowed_mentions": {"parse": []}},
        )

        response = client.post(fake_discord.webhook_url(), json=BODY)

        assert "3" == response.headers["x-ratelimit-remaining"]

    def test_global_429(
        self, fake_discord: FakeDiscord, client: httpx.Client
    ) -> None:
        """global_429 answers the next request with a global 429 only."""
        fake_discord.global_429(1.5)

        limited = client.post(fake_discord.webhook_url(), json=BODY)
        after = client.post(fake_discord.webhook_url(), json=BODY)

        expected = {
            "message": "You are being rate limited.",
            "retry_after": 1.5,
            "global": True,
        }
        assert (429, expected) == (limited.status_code, limited.json())
        assert "2" == limited.headers["retry-after"]
        assert "true" == limited.headers["x-ratelimit-global"]
        assert "global" == limited.headers["x-ratelimit-scope"]
        assert 204 == after.status_code

    def test_cloudflare_429_has_no_rate_limit_headers(
        self, fake_discord: FakeDiscord, client: httpx.Client
    ) -> None:
        """A Cloudflare ban is a 429 with neither X-RateLimit-* nor Via."""
        fake_discord.cloudflare_429(n=2)

        responses = [
            client.post(fake_discord.webhook_url(), json=BODY)
            for _ in range(3)
        ]

        assert [429, 429, 204] == [r.status_code for r in responses]
        assert {} == rate_headers(responses[0])
        assert "via" not in responses[0].headers
        assert 0 == responses[0].json()["code"]
        assert (
            responses[0].json()["message"].startswith("You are being blocked")
        )
        assert 2 == fake_discord.invalid_requests

    def test_channel_limit_is_shared_by_webhooks(
        self, client: httpx.Client
    ) -> None:
        """Two webhooks of one channel share its limit: a 20028 429."""
        with FakeDiscord(channel_limit=(2, 60.0)) as fake:
            fake.set_channel("1", "42")
            fake.set_channel("2", "42")
            statuses = [
                client.post(fake.webhook_url(wid), json=BODY).status_code
                for wid in ("1", "2")
            ]
            limited = client.post(fake.webhook_url("1"), json=BODY)
            other = client.post(fake.webhook_url("3"), json=BODY)
            invalid = fake.invalid_requests

        body = limited.json()
        assert [204, 204, 429] == [*statuses, limited.status_code]
        assert (20028, False) == (body["code"], body["global"])
        assert 59 < body["retry_after"] <= 60
        # the webhook's own bucket still shows room: 2 of its 5 used
        assert "3" == limited.headers["x-ratelimit-remaining"]
        assert "shared" == limited.headers["x-ratelimit-scope"]
        assert 0 == invalid
        assert 204 == other.status_code


class TestWebhookState:
    def test_wrong_token_answers_401(
        self, fake_discord: FakeDiscord, client: httpx.Client
    ) -> None:
        """Once a token is set, another token answers 401 / 50027."""
        fake_discord.set_token("1001", "right")

        wrong = client.post(fake_discord.webhook_url("1001", "no"), json=BODY)
        right = client.post(
            fake_discord.webhook_url("1001", "right"), json=BODY
        )

        expected = {"code": 50027, "message": "Invalid Webhook Token"}
        assert (401, expected) == (wrong.status_code, wrong.json())
        assert 204 == right.status_code
        assert 1 == fake_discord.invalid_requests

    def test_deleted_webhook_answers_404(
        self, fake_discord: FakeDiscord, client: httpx.Client
    ) -> None:
        """A deleted webhook answers 404 / 10015, and is not invalid."""
        fake_discord.delete_webhook("1001")

        response = client.post(fake_discord.webhook_url(), json=BODY)

        expected = {"code": 10015, "message": "Unknown Webhook"}
        assert (404, expected) == (response.status_code, response.json())
        assert 0 == fake_discord.invalid_requests


class TestBot:
    @pytest.mark.parametrize(
        "headers",
        [
            pytest.param({}, id="missing"),
            pytest.param({"Authorization": "Bot wrong"}, id="wrong"),
            pytest.param(
                {"Authorization": "bot-token-for-tests"}, id="no-prefix"
            ),
        ],
    )
    def test_bad_authorization_answers_401(
        self,
        fake_discord: FakeDiscord,
        client: httpx.Client,
        headers: dict[str, str],
    ) -> None:
        """Without the right Bot token, channel messages answer 401."""
        url = f"{fake_discord.api_base}/channels/42/messages"

        response = client.post(url, json=BODY, headers=headers)

        expected = {"code": 0, "message": "401: Unauthorized"}
        assert (401, expected) == (response.status_code, response.json())
        assert [] == fake_discord.messages

    def test_bot_token_creates_a_message(
        self, fake_discord: FakeDiscord, client: httpx.Client
    ) -> None:
        """With the Bot token, a message is created in the channel."""
        url = f"{fake_discord.api_base}/channels/42/messages"
        auth = {"Authorization": f"Bot {fake_discord.bot_token}"}

        response = client.post(url, json=BODY, headers=auth)

        assert (200, "42") == (
            response.status_code,
            response.json()["channel_id"],
        )
        assert "channel:42" == fake_discord.messages[0].key
        assert BODY["embeds"] == fake_discord.embeds(channel_id="42")


class TestFaults:
    def test_fail_for_then_recovery(
        self,
        fake_discord: FakeDiscord,
        client: httpx.Client,
        fake_time: FakeTime,
    ) -> None:
        """fail_for answers 503 until its deadline, then serves again."""
        fake_discord.fail_for(0.5)

        failed = client.post(fake_discord.webhook_url(), json=BODY)
        fake_time.advance(0.5)
        recovered = client.post(fake_discord.webhook_url(), json=BODY)

        assert (503, {}) == (failed.status_code, rate_headers(failed))
        assert 204 == recovered.status_code
        assert [503, 204] == [r.status for r in fake_discord.requests]

    def test_fail_with_times_then_recover(
        self, fake_discord: FakeDiscord, client: httpx.Client
    ) -> None:
        """fail_with(times=2) fails two requests; recover() clears it."""
        fake_discord.fail_with(502, times=2, body={"oops": True})
        statuses = [
            client.post(fake_discord.webhook_url(), json=BODY).status_code
            for _ in range(3)
        ]
        fake_discord.fail_with(500)
        failing = client.post(fake_discord.webhook_url(), json=BODY)
        fake_discord.recover()

        served = client.post(fake_discord.webhook_url(), json=BODY)

        assert [502, 502, 204] == statuses
        assert 500 == failing.status_code
        assert 204 == served.status_code

    def test_reset_connection_raises_transport_error(
        self, fake_discord: FakeDiscord, client: httpx.Client
    ) -> None:
        """A reset connection surfaces as an httpx transport error."""
        fake_discord.reset_connections(times=1)

        with pytest.raises(httpx.TransportError):
            client.post(fake_discord.webhook_url(), json=BODY)
        served = client.post(fake_discord.webhook_url(), json=BODY)

        assert 204 == served.status_code
        assert [None, 204] == [r.status for r in fake_discord.requests]

    @pytest.mark.slow
    def test_hang_times_out_the_client(
        self, fake_discord: FakeDiscord, client: httpx.Client
    ) -> None:
        """A hung request times out; after recover() requests are served."""
        fake_discord.hang()

        with pytest.raises(httpx.ReadTimeout):
            client.post(fake_discord.webhook_url(), json=BODY, timeout=0.3)
        held = fake_discord.held
        fake_discord.recover()
        served = client.post(fake_discord.webhook_url(), json=BODY)

        assert 1 == held
        assert 204 == served.status_code
        assert fake_discord.wait_for(lambda f: f.held == 0, timeout=2)
        assert 1 == len(fake_discord.messages)

    def test_hung_request_is_answered_after_recover(
        self, fake_discord: FakeDiscord
    ) -> None:
        """A client still waiting when recover() comes gets its answer."""
        fake_discord.hang(times=1)
        answers: list[int] = []

        def post() -> None:
            with httpx.Client(timeout=5.0) as http:
                url = fake_discord.webhook_url()
                answers.append(http.post(url, json=BODY).status_code)

        thread = threading.Thread(target=post)
        thread.start()
        assert fake_discord.wait_for(lambda f: f.held == 1, timeout=2)
        fake_discord.recover()
        thread.join(5)

        assert [204] == answers

    def test_stop_while_a_request_hangs_is_prompt(self) -> None:
        """stop() returns within a second, dropping the hung request."""
        errors: list[Exception] = []
        fake = FakeDiscord().start()
        fake.hang()

        def post() -> None:
            with httpx.Client(timeout=10.0) as http:
                try:
                    http.post(fake.webhook_url(), json=BODY)
                except httpx.TransportError as exc:
                    errors.append(exc)

        thread = threading.Thread(target=post)
        thread.start()
        assert fake.wait_for(lambda f: f.held == 1, timeout=2)
        started = time.monotonic()
        fake.stop()
        elapsed = time.monotonic() - started
        thread.join(5)

        assert elapsed < 1.0
        assert 1 == len(errors)
        assert not thread.is_alive()


class TestHostileFaults:
    """
    Answers no real Discord gives: trickles, redirects, garbage, refusals.
    """

    @pytest.mark.slow
    def test_slow_loris_trickles_past_the_read_timeout(
        self, fake_discord: FakeDiscord
    ) -> None:
        """
        Bytes arrive slower than nothing: a per-read timeout never fires.

        The client reads at most a few bytes, each within its read timeout,
        and the fake accepts no message.
        """
        fake_discord.slow_loris(times=1, interval=0.01)
        received = b""
        with (
            httpx.Client(timeout=1.0) as http,
            http.stream("POST", fake_discord.webhook_url(), json=BODY) as r,
        ):
            assert 503 == r.status_code  # the head came, byte by byte
            for chunk in r.iter_raw(1):
                received += chunk
        assert b"Service Unavailable" in received
        assert [] == fake_discord.messages
        assert (
            204
            == httpx.post(fake_discord.webhook_url(), json=BODY).status_code
        )

    def test_stop_ends_a_trickle_promptly(self) -> None:
        """stop() does not wait for a slow answer to finish."""
        fake = FakeDiscord().start()
        fake.slow_loris(interval=30.0)
        errors: list[Exception] = []

        def post() -> None:
            with httpx.Client(timeout=60.0) as http:
                try:
                    http.post(fake.webhook_url(), json=BODY)
                except httpx.TransportError as exc:
                    errors.append(exc)

        thread = threading.Thread(target=post)
        thread.start()
        assert fake.wait_for(lambda f: len(f.requests) == 1, timeout=2)
        started = time.monotonic()
        fake.stop()
        elapsed = time.monotonic() - started
        thread.join(5)
        assert elapsed < 1.0
        assert (1, False) == (len(errors), thread.is_alive())

    @pytest.mark.parametrize("status", [301, 302, 307, 308])
    def test_redirect(
        self, fake_discord: FakeDiscord, client: httpx.Client, status: int
    ) -> None:
        """A redirect names its target and accepts nothing."""
        fake_discord.redirect(status, "http://elsewhere.invalid/x", times=1)
        response = client.post(fake_discord.webhook_url(), json=BODY)
        assert (status, "http://elsewhere.invalid/x") == (
            response.status_code,
            response.headers["location"],
        )
        assert [] == fake_discord.messages

    @pytest.mark.parametrize(
        ("status", "body", "content_type"),
        [
            pytest.param(200, b"<html>portal</html>", "text/html", id="200"),
            pytest.param(200, b"", "application/json", id="200-empty"),
            pytest.param(200, b'{"id": ', "application/json", id="truncated"),
            pytest.param(429, b"<html>1015</html>", "text/html", id="429"),
            pytest.param(400, b"Bad Request", "text/plain", id="400"),
            pytest.param(500, b"\xff\x00", "application/json", id="500"),
        ],
    )
    @pytest.mark.slow
    def test_garbage(
        self,
        fake_discord: FakeDiscord,
        client: httpx.Client,
        status: int,
        body: bytes,
        content_type: str,
    ) -> None:
        """The body and type are as asked, and nothing is accepted."""
        fake_discord.garbage(status, body, content_type=content_type, times=1)
        response = client.post(fake_discord.webhook_url(), json=BODY)
        assert (status, body, content_type) == (
            response.status_code,
            response.content,
            response.headers["content-type"],
        )
        assert [] == fake_discord.messages

    @pytest.mark.parametrize(
        ("retry_after", "header", "text"),
        [
            pytest.param(1e9, "1000000000", "1000000000.0", id="a-billion"),
            pytest.param(-1, "-1", "-1", id="negative"),
            pytest.param(math.nan, None, "NaN", id="nan"),
            pytest.param(math.inf, "inf", "Infinity", id="infinity"),
            pytest.param("soon", "soon", '"soon"', id="garbage"),
        ],
    )
    def test_rate_limited_with_any_retry_after(
        self,
        fake_discord: FakeDiscord,
        client: httpx.Client,
        retry_after: Any,
        header: str | None,
        text: str,
    ) -> None:
        """A 429 carries exactly the retry_after asked for."""
        fake_discord.rate_limited(retry_after, header=header)
        response = client.post(fake_discord.webhook_url(), json=BODY)
        assert 429 == response.status_code
        assert f'"retry_after": {text}' in response.text
        assert header == response.headers.get("retry-after")
        assert (
            204
            == client.post(fake_discord.webhook_url(), json=BODY).status_code
        )

    def test_refused_url(self, fake_discord: FakeDiscord) -> None:
        """Nothing listens at a refused URL: connecting fails at once."""
        url = fake_discord.refused_url("9", "tok")
        with pytest.raises(httpx.ConnectError):
            httpx.post(url, json=BODY, timeout=5.0)
        assert url.endswith("/api/webhooks/9/tok")


class TestLifecycle:
    def test_stop_closes_idle_keep_alive_connections(
        self, client: httpx.Client
    ) -> None:
        """stop() is prompt even while a client keeps a connection open."""
        fake = FakeDiscord().start()
        client.post(fake.webhook_url(), json=BODY)

        started = time.monotonic()
        fake.stop()
        elapsed = time.monotonic() - started

        names = {t.name for t in threading.enumerate()}
        assert elapsed < 1.0
        assert not names & {"fake_discord.server", "fake_discord.connection"}

    def test_urls(self) -> None:
        """The URLs point at 127.0.0.1 and the bound port."""
        with FakeDiscord() as fake:
            port = fake.port

            urls = (fake.url, fake.api_base, fake.webhook_url("9", "t"))

        assert (
            f"http://127.0.0.1:{port}",
            f"http://127.0.0.1:{port}/api/v10",
            f"http://127.0.0.1:{port}/api/webhooks/9/t",
        ) == urls

    def test_concurrent_clients_are_all_recorded(
        self, fake_discord: FakeDiscord
    ) -> None:
        """Four threads posting to four webhooks lose no message."""

        def post(webhook_id: str) -> None:
            with httpx.Client(timeout=5.0) as http:
                for _ in range(5):
                    http.post(fake_discord.webhook_url(webhook_id), json=BODY)

        threads = [
            threading.Thread(target=post, args=(str(n),)) for n in range(4)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(5)

        assert fake_discord.wait_for(lambda f: len(f.embeds()) >= 20, 1)
        assert 20 == fake_discord.count(status=204)
        ids = [m.id for m in fake_discord.messages]
        assert len(ids) == len(set(ids))


def edit_url(
    fake: FakeDiscord, message_id: str, webhook_id: str = "1001"
) -> str:
    """The Edit Webhook Message URL of *message_id* on *fake*."""
    return f"{fake.webhook_url(webhook_id)}/messages/{message_id}"


def post(
    client: httpx.Client,
    fake: FakeDiscord,
    body: dict[str, Any] = BODY,
    webhook_id: str = "1001",
    **params: str,
) -> httpx.Response:
    """Execute webhook *webhook_id* with ``wait=true`` and *params*."""
    return client.post(
        fake.webhook_url(webhook_id),
        params={"wait": "true", **params},
        json=body,
    )


def form(
    payload: dict[str, Any], *files: tuple[str, bytes, str]
) -> dict[str, Any]:
    """httpx arguments for a multipart body: payload_json and files[n]."""
    return {
        "data": {"payload_json": json.dumps(payload)},
        "files": {f"files[{n}]": file for n, file in enumerate(files)},
    }


EDIT: dict[str, Any] = {
    "content": "board: 3 open",
    "allowed_mentions": {"parse": []},
}
#: Bytes a careless parser would mangle: CRLFs, a fake delimiter, NULs.
AWKWARD = (
    b"\r\n\x00\r\n--boundary\r\n\r\nline\n\xff\xfe"
    + bytes(range(256))
    + b"\r\n"
)


class TestMessageObject:
    def test_wait_answers_what_message_response_requires(
        self, fake_discord: FakeDiscord, client: httpx.Client
    ) -> None:
        """The answer passes Discord's MessageResponse schema."""
        body = {**BODY, "username": "polybot", "avatar_url": "https://x.y/a"}

        answer = post(client, fake_discord, body).json()

        assert [] == response_errors(answer)
        assert "polybot" == answer["author"]["username"]
        assert ("polybot", "https://x.y/a") == (
            fake_discord.messages[0].username,
            fake_discord.messages[0].avatar_url,
        )

    def test_bot_message_answer_conforms(
        self, fake_discord: FakeDiscord, client: httpx.Client
    ) -> None:
        """A bot's message object passes MessageResponse as well."""
        response = client.post(
            f"{fake_discord.api_base}/channels/42/messages",
            json=BODY,
            headers={"Authorization": f"Bot {fake_discord.bot_token}"},
        )

        assert [] == response_errors(response.json())


class TestEdits:
    def test_edit_answers_the_updated_message(
        self, fake_discord: FakeDiscord, client: httpx.Client
    ) -> None:
        """200 with the message edited; state and edits are recorded."""
        message_id = post(client, fake_discord).json()["id"]

        response = client.patch(
            edit_url(fake_discord, message_id),
            params={"wait": "true"},
            json=EDIT,
        )

        answer = response.json()
        assert (200, "board: 3 open") == (
            response.status_code,
            answer["content"],
        )
        assert [] == response_errors(answer)
        assert answer["edited_timestamp"] is not None
        assert "Trade Executed" == answer["embeds"][0]["title"]
        state = fake_discord.message(message_id)
        assert ("board: 3 open", 1) == (state.content, state.edit_count)
        assert [EDIT] == [e.json for e in fake_discord.edits(message_id)]
        assert [BODY] == [m.json for m in fake_discord.messages]

    @pytest.mark.parametrize(
        "case", ["unknown", "deleted", "other-webhook", "other-token-owner"]
    )
    def test_unknown_message_answers_10008(
        self, fake_discord: FakeDiscord, client: httpx.Client, case: str
    ) -> None:
        """Unknown, deleted or another webhook's: 404 Unknown Message."""
        message_id = post(client, fake_discord).json()["id"]
        other = post(client, fake_discord, webhook_id="1002").json()["id"]
        target = {
            "unknown": "123",
            "deleted": message_id,
            "other-webhook": other,
            "other-token-owner": other,
        }[case]
        if case == "deleted":
            fake_discord.delete_message(message_id)

        response = client.patch(edit_url(fake_discord, target), json=EDIT)

        expected = {"code": 10008, "message": "Unknown Message"}
        assert (404, expected) == (response.status_code, response.json())
        assert [] == fake_discord.edits()

    def test_edit_body_is_checked_against_the_update_schema(
        self, fake_discord: FakeDiscord, client: httpx.Client
    ) -> None:
        """A 300-character title in an edit answers 50035."""
        message_id = post(client, fake_discord).json()["id"]

        response = client.patch(
            edit_url(fake_discord, message_id),
            json={**EDIT, "embeds": [{"title": "x" * 300}]},
        )

        assert (400, 50035) == (response.status_code, response.json()["code"])
        assert 0 == fake_discord.message(message_id).edit_count

    def test_edit_that_empties_the_message_answers_50006(
        self, fake_discord: FakeDiscord, client: httpx.Client
    ) -> None:
        """Taking away the only embed leaves nothing to show."""
        message_id = post(client, fake_discord).json()["id"]

        response = client.patch(
            edit_url(fake_discord, message_id),
            json={"embeds": [], "allowed_mentions": {"parse": []}},
        )

        assert (400, 50006) == (response.status_code, response.json()["code"])

    @pytest.mark.foreign_payloads
    def test_identity_in_an_edit_is_ignored_and_breaks_our_rules(
        self, fake_discord: FakeDiscord, client: httpx.Client
    ) -> None:
        """
        The update schema has no username, nor additionalProperties:
        false; Discord ignores it. Our own rules record it.
        """
        message_id = post(client, fake_discord).json()["id"]
        body = {**EDIT, "username": "renamed", "thread_name": "t"}

        response = client.patch(edit_url(fake_discord, message_id), json=body)

        assert 200 == response.status_code
        assert "Fake Webhook" == response.json()["author"]["username"]
        [(payload, broken)] = fake_discord.rule_violations()
        assert body == payload
        assert [
            "rule: username: an edit cannot change it; Discord ignores it",
            "rule: thread_name: an edit cannot change it; Discord ignores it",
        ] == broken

    @pytest.mark.foreign_payloads
    def test_edit_without_allowed_mentions_breaks_our_rules(
        self, fake_discord: FakeDiscord, client: httpx.Client
    ) -> None:
        """Discord takes it (and parses with the defaults); we do not."""
        message_id = post(client, fake_discord).json()["id"]

        response = client.patch(
            edit_url(fake_discord, message_id),
            json={"content": f"<@{USER}>"},
        )

        assert 200 == response.status_code
        assert [USER] == [u["id"] for u in response.json()["mentions"]]
        [(_, broken)] = fake_discord.rule_violations()
        assert broken[0].startswith("rule: allowed_mentions")

    def test_edit_route_has_its_own_bucket(
        self, fake_discord: FakeDiscord, client: httpx.Client
    ) -> None:
        """Edits count down their own bucket, with its own hash and 429."""
        executed = post(client, fake_discord)
        message_id = executed.json()["id"]
        url = edit_url(fake_discord, message_id)

        edits = [client.patch(url, json=EDIT) for _ in range(6)]
        after = post(client, fake_discord)

        assert [200] * 5 + [429] == [r.status_code for r in edits]
        assert ["4", "3", "2", "1", "0", "0"] == [
            r.headers["x-ratelimit-remaining"] for r in edits
        ]
        assert all(set(RATE_HEADERS) <= set(r.headers) for r in edits)
        assert {edits[0].headers["x-ratelimit-bucket"]} == {
            r.headers["x-ratelimit-bucket"] for r in edits
        }
        assert (
            executed.headers["x-ratelimit-bucket"]
            != edits[0].headers["x-ratelimit-bucket"]
        )
        assert "user" == edits[-1].headers["x-ratelimit-scope"]
        assert "3" == after.headers["x-ratelimit-remaining"]
        assert 5 == fake_discord.message(message_id).edit_count

    def test_edits_do_not_count_toward_the_channel_limit(
        self, client: httpx.Client
    ) -> None:
        """A channel full of messages still takes edits."""
        with FakeDiscord(channel_limit=(1, 60.0)) as fake:
            message_id = post(client, fake).json()["id"]
            edited = client.patch(edit_url(fake, message_id), json=EDIT)
            posted = post(client, fake)

        assert (200, 429) == (edited.status_code, posted.status_code)

    def test_old_message_edits_run_out_with_30046(
        self, fake_discord: FakeDiscord, client: httpx.Client
    ) -> None:
        """Past old_message_edits, a message over an hour old: 30046."""
        fake_discord.old_message_edits = 2
        message_id = post(client, fake_discord).json()["id"]
        url = edit_url(fake_discord, message_id)
        young = client.patch(url, json=EDIT)
        fake_discord.age_message(message_id, 3601)

        old = [client.patch(url, json=EDIT).status_code for _ in range(2)]
        refused = client.patch(url, json=EDIT)

        assert (200, [200, 200]) == (young.status_code, old)
        assert (400, 30046) == (
            refused.status_code,
            refused.json()["code"],
        )
        assert refused.json()["message"].startswith(
            "Maximum number of edits to messages older than 1 hour"
        )
        assert 3 == fake_discord.message(message_id).edit_count

    def test_bot_edits_its_own_message_not_a_webhooks(
        self, fake_discord: FakeDiscord, client: httpx.Client
    ) -> None:
        """PATCH /channels/{id}/messages/{id}: own 200, a webhook's 403."""
        auth = {"Authorization": f"Bot {fake_discord.bot_token}"}
        base = f"{fake_discord.api_base}/channels"
        own = client.post(f"{base}/42/messages", json=BODY, headers=auth)
        webhook_message = post(client, fake_discord).json()["id"]

        edited = client.patch(
            f"{base}/42/messages/{own.json()['id']}", json=EDIT, headers=auth
        )
        foreign = client.patch(
            f"{base}/1001/messages/{webhook_message}", json=EDIT, headers=auth
        )
        elsewhere = client.patch(
            f"{base}/43/messages/{own.json()['id']}", json=EDIT, headers=auth
        )
        unauthorized = client.patch(
            f"{base}/42/messages/{own.json()['id']}", json=EDIT
        )

        assert (200, "board: 3 open") == (
            edited.status_code,
            edited.json()["content"],
        )
        assert (403, 50005) == (foreign.status_code, foreign.json()["code"])
        assert (404, 10008) == (
            elsewhere.status_code,
            elsewhere.json()["code"],
        )
        assert 401 == unauthorized.status_code
        assert (
            own.headers["x-ratelimit-bucket"]
            != edited.headers["x-ratelimit-bucket"]
        )


class TestThreads:
    def test_thread_name_in_a_forum_makes_a_post(
        self, fake_discord: FakeDiscord, client: httpx.Client
    ) -> None:
        """A new thread; the answer's channel_id is the thread's id."""
        fake_discord.set_channel("1001", "500", forum=True)

        answer = post(
            client, fake_discord, {**BODY, "thread_name": "Incident 7"}
        ).json()

        [thread] = fake_discord.threads()
        assert ("Incident 7", "500", False) == (
            thread.name,
            thread.parent_id,
            thread.archived,
        )
        assert thread.id == answer["channel_id"] == answer["id"]
        assert (answer["id"],) == thread.message_ids
        assert [answer["id"]] == [
            m.id for m in fake_discord.messages_in(thread.id)
        ]
        assert 1 == len(fake_discord.messages_in("500", threads=True))
        assert [] == fake_discord.messages_in("500")

    @pytest.mark.parametrize(
        ("where", "body", "expected"),
        [
            pytest.param(
                (False, False),
                {**BODY, "thread_name": "t"},
                (220003, "Webhooks can only create threads in forum channels"),
                id="thread-name-in-a-text-channel",
            ),
            pytest.param(
                (True, False),
                BODY,
                (
                    220001,
                    (
                        "Webhooks posted to forum channels must have a "
                        "thread_name or thread_id"
                    ),
                ),
                id="forum-without-either",
            ),
            pytest.param(
                (True, True),
                {**BODY, "thread_name": "t"},
                (
                    220002,
                    (
                        "Webhooks posted to forum channels cannot have both a "
                        "thread_name and thread_id"
                    ),
                ),
                id="forum-with-both",
            ),
        ],
    )
    def test_thread_refusals(
        self,
        fake_discord: FakeDiscord,
        client: httpx.Client,
        where: tuple[bool, bool],
        body: dict[str, Any],
        expected: tuple[int, str],
    ) -> None:
        """Discord's 2200xx codes, with 400 and nothing posted."""
        forum, thread = where
        if forum:
            fake_discord.forum("1001")
        params = (
            {"thread_id": fake_discord.add_thread("1001")} if thread else {}
        )

        response = post(client, fake_discord, body, **params)

        code, message = expected
        assert (400, {"code": code, "message": message}) == (
            response.status_code,
            response.json(),
        )
        assert [] == fake_discord.messages

    def test_thread_id_posts_into_the_thread_and_unarchives_it(
        self, fake_discord: FakeDiscord, client: httpx.Client
    ) -> None:
        """?thread_id= lands in the thread, which is open again."""
        thread_id = fake_discord.add_thread("1001", "ops")
        fake_discord.archive(thread_id)

        answer = post(client, fake_discord, thread_id=thread_id).json()

        [thread] = fake_discord.threads("1001")
        assert (thread_id, False) == (answer["channel_id"], thread.archived)
        assert (answer["id"],) == thread.message_ids
        assert "1001" == fake_discord.messages[0].parent_id

    def test_thread_of_another_channel_answers_unknown_channel(
        self, fake_discord: FakeDiscord, client: httpx.Client
    ) -> None:
        """A thread the webhook's channel does not hold: 10003."""
        elsewhere = fake_discord.add_thread("999")

        response = post(client, fake_discord, thread_id=elsewhere)

        assert (400, 10003) == (response.status_code, response.json()["code"])
        assert [] == fake_discord.messages

    def test_message_in_a_thread_is_edited_with_its_thread_id(
        self, fake_discord: FakeDiscord, client: httpx.Client
    ) -> None:
        """Without ?thread_id= 404 10008; with it 200; archived 50083."""
        thread_id = fake_discord.add_thread("1001")
        message_id = post(client, fake_discord, thread_id=thread_id).json()[
            "id"
        ]
        url = edit_url(fake_discord, message_id)

        missing = client.patch(url, json=EDIT)
        edited = client.patch(url, params={"thread_id": thread_id}, json=EDIT)
        fake_discord.archive(thread_id)
        archived = client.patch(
            url, params={"thread_id": thread_id}, json=EDIT
        )

        assert (404, 10008) == (missing.status_code, missing.json()["code"])
        assert (200, thread_id) == (
            edited.status_code,
            edited.json()["channel_id"],
        )
        assert (400, 50083) == (archived.status_code, archived.json()["code"])

    def test_bot_posts_in_a_thread_not_in_a_forum(
        self, fake_discord: FakeDiscord, client: httpx.Client
    ) -> None:
        """A thread is a channel to a bot; a forum takes no message."""
        auth = {"Authorization": f"Bot {fake_discord.bot_token}"}
        fake_discord.forum("500")
        thread_id = fake_discord.add_thread("500", archived=True)
        base = f"{fake_discord.api_base}/channels"

        in_thread = client.post(
            f"{base}/{thread_id}/messages", json=BODY, headers=auth
        )
        in_forum = client.post(f"{base}/500/messages", json=BODY, headers=auth)

        assert (200, thread_id) == (
            in_thread.status_code,
            in_thread.json()["channel_id"],
        )
        assert [False] == [t.archived for t in fake_discord.threads()]
        assert (400, 40058) == (in_forum.status_code, in_forum.json()["code"])

    def test_bot_makes_a_forum_channel(
        self, fake_discord: FakeDiscord, client: httpx.Client
    ) -> None:
        """A guild channel of type 15 is a forum for its webhooks."""
        auth = {"Authorization": f"Bot {fake_discord.bot_token}"}
        guild = fake_discord.add_guild()
        made = client.post(
            f"{fake_discord.api_base}/guilds/{guild}/channels",
            json={"name": "incidents", "type": 15},
            headers=auth,
        ).json()
        hook = client.post(
            f"{fake_discord.api_base}/channels/{made['id']}/webhooks",
            json={"name": "polybot"},
            headers=auth,
        ).json()

        response = client.post(hook["url"], json=BODY)

        assert 15 == made["type"]
        assert (400, 220001) == (response.status_code, response.json()["code"])


class TestFiles:
    def test_files_are_recorded_byte_exact(
        self, fake_discord: FakeDiscord, client: httpx.Client
    ) -> None:
        """payload_json is the body; each files[n] keeps its bytes."""
        payload = {
            **BODY,
            "attachments": [
                {"id": "1", "filename": "trace.txt", "description": "tb"}
            ],
        }

        response = client.post(
            fake_discord.webhook_url(),
            params={"wait": "true"},
            **form(
                payload,
                ("a.bin", AWKWARD, "application/octet-stream"),
                ("b.txt", b"traceback", "text/plain"),
            ),
        )

        answer = response.json()
        assert 200 == response.status_code
        assert [] == response_errors(answer)
        [message] = fake_discord.messages
        assert payload == message.json
        assert [
            ("a.bin", AWKWARD, "application/octet-stream", None),
            ("trace.txt", b"traceback", "text/plain", "tb"),
        ] == [
            (f.filename, f.data, f.content_type, f.description)
            for f in message.files
        ]
        assert [
            (f.id, f.filename, f.size, f.content_type) for f in message.files
        ] == [
            (a["id"], a["filename"], a["size"], a["content_type"])
            for a in answer["attachments"]
        ]

    def test_a_file_alone_is_a_message(
        self, fake_discord: FakeDiscord, client: httpx.Client
    ) -> None:
        """No content and no embed, but a file: not 50006."""
        payload = {"allowed_mentions": {"parse": []}}

        response = client.post(
            fake_discord.webhook_url(),
            **form(payload, ("a.txt", b"x", "text/plain")),
        )

        assert 204 == response.status_code

    @pytest.mark.parametrize(
        ("payload", "files", "where"),
        [
            pytest.param(
                {**BODY, "embeds": [{"title": "x" * 300}]},
                1,
                "embeds",
                id="payload-json-validated",
            ),
            pytest.param(
                {**BODY, "attachments": [{"id": "5"}]},
                1,
                "attachments",
                id="attachment-names-no-file",
            ),
            pytest.param(BODY, 11, "files", id="eleven-files"),
        ],
    )
    def test_invalid_forms_answer_50035(
        self,
        fake_discord: FakeDiscord,
        client: httpx.Client,
        payload: dict[str, Any],
        files: int,
        where: str,
    ) -> None:
        """What Discord refuses in a multipart body: Invalid Form Body."""
        parts = [(f"{n}.txt", b"x", "text/plain") for n in range(files)]

        response = client.post(
            fake_discord.webhook_url(), **form(payload, *parts)
        )

        assert (400, 50035) == (response.status_code, response.json()["code"])
        assert where in response.json()["errors"]
        assert [] == fake_discord.messages

    def test_attachment_not_found_is_discords_error(
        self, fake_discord: FakeDiscord, client: httpx.Client
    ) -> None:
        """The shape seen from Discord (Cogmasters/concord#78)."""
        payload = {**BODY, "attachments": [{"id": "0"}, {"id": "1"}]}

        response = client.post(
            fake_discord.webhook_url(),
            **form(payload, ("a.txt", b"x", "text/plain")),
        )

        assert {
            "code": "ATTACHMENT_NOT_FOUND",
            "message": "Attachment data not found",
        } == response.json()["errors"]["attachments"]["1"]["_errors"][0]

    def test_file_over_the_upload_limit_answers_413(
        self, fake_discord: FakeDiscord, client: httpx.Client
    ) -> None:
        """One file over upload_limit: 413 / 40005."""
        fake_discord.upload_limit = 1024

        small = client.post(
            fake_discord.webhook_url(),
            **form(BODY, ("a.bin", b"x" * 1024, "application/octet-stream")),
        )
        large = client.post(
            fake_discord.webhook_url(),
            **form(BODY, ("a.bin", b"x" * 1025, "application/octet-stream")),
        )

        assert 204 == small.status_code
        assert (
            413,
            {"code": 40005, "message": "Request entity too large"},
        ) == (
            large.status_code,
            large.json(),
        )
        assert 1 == len(fake_discord.messages)

    def test_edit_keeps_only_the_attachments_it_lists(
        self, fake_discord: FakeDiscord, client: httpx.Client
    ) -> None:
        """With attachments: kept ids plus new placeholders; else append."""
        created = client.post(
            fake_discord.webhook_url(),
            params={"wait": "true"},
            **form(
                BODY,
                ("a.txt", b"a", "text/plain"),
                ("b.txt", b"b", "text/plain"),
            ),
        ).json()
        kept = created["attachments"][1]["id"]
        url = edit_url(fake_discord, created["id"])

        replaced = client.patch(
            url,
            **form(
                {**EDIT, "attachments": [{"id": kept}, {"id": "0"}]},
                ("c.txt", AWKWARD, "text/plain"),
            ),
        )
        appended = client.patch(
            url, **form(EDIT, ("d.txt", b"d", "text/plain"))
        )

        assert (200, 200) == (replaced.status_code, appended.status_code)
        assert ["b.txt", "c.txt"] == [
            a["filename"] for a in replaced.json()["attachments"]
        ]
        state = fake_discord.message(created["id"])
        assert [b"b", AWKWARD, b"d"] == [f.data for f in state.attachments]
        assert [("c.txt",), ("d.txt",)] == [
            tuple(f.filename for f in edit.files)
            for edit in fake_discord.edits()
        ]


class TestIdentity:
    @pytest.mark.parametrize(
        ("username", "word"),
        [
            pytest.param("Polybot Discord relay", "discord", id="discord"),
            pytest.param("CLYDE", "clyde", id="clyde-any-case"),
        ],
    )
    def test_forbidden_username_answers_50035(
        self,
        fake_discord: FakeDiscord,
        client: httpx.Client,
        username: str,
        word: str,
    ) -> None:
        """The error sits under username, as Discord words it."""
        response = post(client, fake_discord, {**BODY, "username": username})

        assert (400, 50035) == (response.status_code, response.json()["code"])
        assert {
            "code": "USERNAME_INVALID_CONTAINS",
            "message": f'Username cannot contain "{word}"',
        } == response.json()["errors"]["username"]["_errors"][0]
        assert [] == fake_discord.messages

    @pytest.mark.parametrize(
        "body",
        [
            pytest.param({**BODY, "username": ""}, id="empty-username"),
            pytest.param({**BODY, "username": "x" * 81}, id="username-81"),
            pytest.param(
                {**BODY, "avatar_url": "https://x.y/" + "a" * 2040},
                id="avatar-url-2049",
            ),
        ],
    )
    def test_identity_limits_answer_50035(
        self,
        fake_discord: FakeDiscord,
        client: httpx.Client,
        body: dict[str, Any],
    ) -> None:
        """username 1 to 80 characters, avatar_url at most 2048."""
        response = post(client, fake_discord, body)

        assert (400, 50035) == (response.status_code, response.json()["code"])
