"""
Tests for the one module that talks to Discord (``_discord.py``).

Requests are built and answers classified without a network; ``send``
runs against ``pytest-httpx``, which answers or fails each request as
told. Tokens must never appear in a ``repr`` or an outcome's detail.
"""

from __future__ import annotations

import json
import ssl
from typing import Any

import anyio
import httpx
import pytest
from pytest_httpx import HTTPXMock

from polybot_loghandler._discord import (
    API_BASE_ENV,
    BOT_TOKEN_ENV,
    DEFAULT_API_BASE,
    Outcome,
    PayloadError,
    Request,
    build_request,
    classify,
    encode,
    send,
    snowflake_problem,
    user_agent,
)
from polybot_loghandler._model import BotChannelDestination, WebhookDestination

WEBHOOK_TOKEN = "SeCrEtWeBhOoKtOkEn_abc-123"
WEBHOOK_URL = f"https://discord.com/api/webhooks/123456789/{WEBHOOK_TOKEN}"
# shaped like a real bot token, so redaction recognises it
BOT_TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GabcDE.abcdefghijklmnopqrstuvwxyz0123"
CHANNEL_ID = "112233445566778899"
PAYLOAD: dict[str, Any] = {
    "allowed_mentions": {"parse": []},
    "embeds": [{"title": "Order Failed"}],
}


@pytest.fixture
def anyio_backend() -> str:
    """Run the async tests on asyncio, as the worker does."""
    return "asyncio"


@pytest.fixture
def no_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """Start without the bot token and API base variables."""
    monkeypatch.delenv(BOT_TOKEN_ENV, raising=False)
    monkeypatch.delenv(API_BASE_ENV, raising=False)
    return monkeypatch


def _webhook(url: str = WEBHOOK_URL) -> WebhookDestination:
    """
    A webhook destination for *url*.
    """
    return WebhookDestination(url=url, webhook_id="123456789")


class TestWebhookRequest:
    """
    Executing a webhook.
    """

    @pytest.mark.parametrize(
        ("url", "expected"),
        [
            pytest.param(
                WEBHOOK_URL, WEBHOOK_URL + "?wait=true", id="adds-wait"
            ),
            pytest.param(
                WEBHOOK_URL + "?thread_id=42",
                WEBHOOK_URL + "?thread_id=42&wait=true",
                id="keeps-query",
            ),
            pytest.param(
                WEBHOOK_URL + "#frag",
                WEBHOOK_URL + "?wait=true",
                id="drops-fragment",
            ),
            pytest.param(
                "https://discordapp.com/api/webhooks/1/tok",
                "https://discordapp.com/api/webhooks/1/tok?wait=true",
                id="old-host",
            ),
            pytest.param(
                "http://127.0.0.1:8080/api/webhooks/1/tok",
                "http://127.0.0.1:8080/api/webhooks/1/tok?wait=true",
                id="loopback",
            ),
        ],
    )
    def test_url(self, url: str, expected: str) -> None:
        """A webhook is executed with ``wait=true``, its query kept."""
        request = build_request(_webhook(url), PAYLOAD)
        assert request is not None
        assert expected == request.url

    def test_body_and_headers(self, no_env: pytest.MonkeyPatch) -> None:
        """The body is the payload; a webhook needs no Authorization."""
        no_env.setenv(BOT_TOKEN_ENV, BOT_TOKEN)
        request = build_request(_webhook(), PAYLOAD)
        assert request is not None
        assert (PAYLOAD, {}) == (request.json, request.headers)

    def test_repr_hides_the_token(self) -> None:
        """Neither the URL's token nor the URL shows in the ``repr``."""
        request = build_request(_webhook(), PAYLOAD)
        expected = (
            "Request(label="
            "'https://discord.com/api/webhooks/123456789/(redacted)', "
            "method='POST')"
        )
        assert expected == repr(request)


class TestBotRequest:
    """
    Posting to a channel with the bot token.
    """

    @pytest.mark.parametrize(
        ("env", "kwargs", "expected_url", "expected_token"),
        [
            pytest.param(
                {BOT_TOKEN_ENV: BOT_TOKEN},
                {},
                f"{DEFAULT_API_BASE}/channels/{CHANNEL_ID}/messages",
                BOT_TOKEN,
                id="token-from-env",
            ),
            pytest.param(
                {
                    BOT_TOKEN_ENV: BOT_TOKEN,
                    API_BASE_ENV: "http://127.0.0.1:9/api/v10/",
                },
                {},
                f"http://127.0.0.1:9/api/v10/channels/{CHANNEL_ID}/messages",
                BOT_TOKEN,
                id="base-from-env",
            ),
            pytest.param(
                {BOT_TOKEN_ENV: "env-token", API_BASE_ENV: "http://env"},
                {"bot_token": BOT_TOKEN, "api_base": "http://arg/api"},
                f"http://arg/api/channels/{CHANNEL_ID}/messages",
                BOT_TOKEN,
                id="arguments-win",
            ),
            pytest.param(
                {API_BASE_ENV: ""},
                {"bot_token": "t"},
                f"{DEFAULT_API_BASE}/channels/{CHANNEL_ID}/messages",
                "t",
                id="empty-base-is-default",
            ),
        ],
    )
    def test_request(
        self,
        no_env: pytest.MonkeyPatch,
        env: dict[str, str],
        kwargs: dict[str, str],
        expected_url: str,
        expected_token: str,
    ) -> None:
        """The channel's messages URL, authorised as the bot."""
        for name, value in env.items():
            no_env.setenv(name, value)
        destination = BotChannelDestination(channel_id=CHANNEL_ID)
        request = build_request(destination, PAYLOAD, **kwargs)
        assert request is not None
        expected = (
            expected_url,
            {"Authorization": f"Bot {expected_token}"},
            PAYLOAD,
            f"channel {CHANNEL_ID}",
        )
        actual = (request.url, request.headers, request.json, request.label)
        assert expected == actual

    @pytest.mark.parametrize(
        ("env", "kwargs"),
        [
            pytest.param({}, {}, id="unset"),
            pytest.param({BOT_TOKEN_ENV: ""}, {}, id="empty"),
            pytest.param({}, {"bot_token": ""}, id="empty-argument"),
        ],
    )
    def test_no_token(
        self,
        no_env: pytest.MonkeyPatch,
        env: dict[str, str],
        kwargs: dict[str, str],
    ) -> None:
        """Without a bot token there is no request to make."""
        for name, value in env.items():
            no_env.setenv(name, value)
        destination = BotChannelDestination(channel_id=CHANNEL_ID)
        assert None is build_request(destination, PAYLOAD, **kwargs)

    def test_repr_hides_the_token(self, no_env: pytest.MonkeyPatch) -> None:
        """The bot token never shows in a request's ``repr``."""
        no_env.setenv(BOT_TOKEN_ENV, BOT_TOKEN)
        destination = BotChannelDestination(channel_id=CHANNEL_ID)
        request = build_request(destination, PAYLOAD)
        expected = f"Request(label='channel {CHANNEL_ID}', method='POST')"
        assert expected == repr(request)


def test_user_agent() -> None:
    """The User-Agent has the form Discord requires of bots."""
    expected = (
        "DiscordBot (https://github.com/polybot/polybot_loghandler, 1.2)"
    )
    assert expected == user_agent("1.2")


def _body(data: Any) -> bytes:
    """
    A JSON answer body.
    """
    return json.dumps(data).encode()


class TestClassify:
    """
    What each answer from Discord means.
    """

    @pytest.mark.parametrize(
        ("status", "content", "expected"),
        [
            pytest.param(200, _body({"id": "1"}), "sent", id="200"),
            pytest.param(204, b"", "sent", id="204"),
            pytest.param(
                429, _body({"retry_after": 1}), "rate_limited", id="429"
            ),
            pytest.param(500, b"", "retry", id="500"),
            pytest.param(502, b"<html>Bad Gateway</html>", "retry", id="502"),
            pytest.param(503, b"", "retry", id="503"),
            pytest.param(504, b"", "retry", id="504"),
            pytest.param(524, b"", "retry", id="524-cloudflare-timeout"),
            pytest.param(408, b"", "retry", id="408"),
            pytest.param(
                400,
                _body({"code": 50035, "message": "x"}),
                "rejected",
                id="400",
            ),
            pytest.param(
                401, _body({"code": 50027, "message": "x"}), "gone", id="401"
            ),
            pytest.param(
                403, _body({"code": 50013, "message": "x"}), "gone", id="403"
            ),
            pytest.param(
                404, _body({"code": 10015, "message": "x"}), "gone", id="404"
            ),
            pytest.param(405, b"", "failed", id="405"),
            pytest.param(
                413, _body({"code": 40005, "message": "x"}), "failed", id="413"
            ),
            pytest.param(301, b"", "retry", id="301-not-followed"),
            pytest.param(302, b"", "retry", id="302-not-followed"),
            pytest.param(307, b"", "retry", id="307-not-followed"),
            pytest.param(308, b"", "retry", id="308-not-followed"),
            pytest.param(200, b"<html>Welcome</html>", "retry", id="200-html"),
            pytest.param(200, b"", "retry", id="200-empty"),
            pytest.param(200, _body(["a"]), "retry", id="200-json-list"),
            pytest.param(201, b"ok", "retry", id="201-text"),
            pytest.param(204, b"x", "sent", id="204-whatever-follows"),
            pytest.param(400, b"<html>", "rejected", id="400-html"),
            pytest.param(500, b"\xff\xfe", "retry", id="500-binary"),
        ],
    )
    def test_kind(self, status: int, content: bytes, expected: str) -> None:
        """Every status family maps to what the engine does next."""
        assert expected == classify(status, {}, content).kind

    @pytest.mark.parametrize(
        ("status", "content", "expected"),
        [
            pytest.param(
                404,
                _body({"message": "Unknown Webhook", "code": 10015}),
                "404 Unknown Webhook (code 10015)",
                id="code",
            ),
            pytest.param(
                400,
                _body(
                    {
                        "message": "Invalid Form Body",
                        "code": 50035,
                        "errors": {"embeds": {"0": {"_errors": []}}},
                    }
                ),
                "400 Invalid Form Body (code 50035): "
                '{"embeds":{"0":{"_errors":[]}}}',
                id="errors",
            ),
            pytest.param(
                429,
                _body({"message": "You are being rate limited.", "code": 0}),
                "429 You are being rate limited.",
                id="code-zero",
            ),
            pytest.param(
                502, b"<html>Bad Gateway</html>", "502", id="not-json"
            ),
            pytest.param(500, b"", "500", id="empty"),
            pytest.param(500, _body(["a"]), "500", id="json-list"),
        ],
    )
    def test_detail(self, status: int, content: bytes, expected: str) -> None:
        """The detail names the status, Discord's message and its code."""
        assert expected == classify(status, {}, content).detail

    def test_detail_redacts_tokens(self) -> None:
        """A token echoed in an error message is not repeated."""
        message = f"bad {WEBHOOK_URL} and {BOT_TOKEN}"
        outcome = classify(400, {}, _body({"message": message, "code": 1}))
        leaked = [t for t in (WEBHOOK_TOKEN, BOT_TOKEN) if t in outcome.detail]
        assert [] == leaked

    def test_errors_detail_is_bounded(self) -> None:
        """A huge ``errors`` object makes a short detail."""
        errors = {
            str(n): {"_errors": [{"message": "x" * 50}]} for n in range(99)
        }
        content = _body({"message": "Invalid Form Body", "errors": errors})
        detail = classify(400, {}, content).detail
        assert len(detail) <= len("400 Invalid Form Body: ") + 500

    def test_headers_are_lower_cased_and_body_parsed(self) -> None:
        """Headers come out lower-cased, the JSON body decoded."""
        headers = {
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset-After": "1.5",
            "Retry-After": "2",
        }
        body = {"retry_after": 1.5, "global": False}
        expected = Outcome(
            "rate_limited",
            429,
            {
                "x-ratelimit-remaining": "0",
                "x-ratelimit-reset-after": "1.5",
                "retry-after": "2",
            },
            body,
            "429",
        )
        assert expected == classify(429, headers, _body(body))


async def _send(request: Request) -> Outcome:
    """
    Send *request* with a fresh client, as the engine does.
    """
    async with httpx.AsyncClient(timeout=5.0) as client:
        return await send(client, request)


def _webhook_request() -> Request:
    """
    The request executing the test webhook.
    """
    request = build_request(_webhook(), PAYLOAD)
    assert request is not None
    return request


@pytest.mark.anyio
class TestSend:
    """
    Sending a request and sorting out what came back.
    """

    async def test_sent(self, httpx_mock: HTTPXMock) -> None:
        """A 200 is ``sent``, and the request carried the payload."""
        httpx_mock.add_response(
            method="POST", url=WEBHOOK_URL + "?wait=true", json={"id": "9"}
        )
        outcome = await _send(_webhook_request())
        sent = httpx_mock.get_request()
        assert sent is not None
        actual = (
            outcome.kind,
            outcome.status,
            outcome.body,
            json.loads(sent.content),
        )
        assert ("sent", 200, {"id": "9"}, PAYLOAD) == actual

    async def test_bot_token_is_sent(
        self, httpx_mock: HTTPXMock, no_env: pytest.MonkeyPatch
    ) -> None:
        """A bot-channel request carries the Authorization header."""
        httpx_mock.add_response(json={"id": "9"})
        destination = BotChannelDestination(channel_id=CHANNEL_ID)
        request = build_request(
            destination,
            PAYLOAD,
            bot_token=BOT_TOKEN,
            api_base="http://fake/api",
        )
        assert request is not None
        await _send(request)
        sent = httpx_mock.get_request()
        assert sent is not None
        expected = (
            f"http://fake/api/channels/{CHANNEL_ID}/messages",
            f"Bot {BOT_TOKEN}",
        )
        assert expected == (str(sent.url), sent.headers["authorization"])

    async def test_rate_limited(self, httpx_mock: HTTPXMock) -> None:
        """A 429 comes back with its headers and body for the limiter."""
        httpx_mock.add_response(
            status_code=429,
            headers={"X-RateLimit-Scope": "user", "Retry-After": "2"},
            json={"retry_after": 1.5, "global": False},
        )
        outcome = await _send(_webhook_request())
        actual = (
            outcome.kind,
            outcome.headers["x-ratelimit-scope"],
            outcome.headers["retry-after"],
            outcome.body,
        )
        expected = (
            "rate_limited",
            "user",
            "2",
            {"retry_after": 1.5, "global": False},
        )
        assert expected == actual

    @pytest.mark.parametrize(
        "exception",
        [
            pytest.param(
                httpx.ReadTimeout("read timed out"), id="read-timeout"
            ),
            pytest.param(
                httpx.ConnectTimeout("timed out"), id="connect-timeout"
            ),
            pytest.param(httpx.WriteTimeout("timed out"), id="write-timeout"),
            pytest.param(httpx.PoolTimeout("timed out"), id="pool-timeout"),
            pytest.param(
                httpx.ConnectError(f"cannot reach {WEBHOOK_URL}?wait=true"),
                id="connect-error-with-url",
            ),
            pytest.param(
                httpx.ConnectError(f"[Errno 111] refused, auth {BOT_TOKEN}"),
                id="connect-error-with-bot-token",
            ),
            pytest.param(httpx.ConnectError(""), id="connect-error-empty"),
            pytest.param(
                httpx.ReadError(f"reset while reading {WEBHOOK_URL}"),
                id="read-error",
            ),
            pytest.param(
                httpx.RemoteProtocolError("Server disconnected"),
                id="remote-protocol-error",
            ),
        ],
    )
    async def test_no_answer_is_retried(
        self, httpx_mock: HTTPXMock, exception: Exception
    ) -> None:
        """Timeouts and connection errors are retried; no token is shown."""
        httpx_mock.add_exception(exception)
        outcome = await _send(_webhook_request())
        leaked = [t for t in (WEBHOOK_TOKEN, BOT_TOKEN) if t in outcome.detail]
        actual = (outcome.kind, outcome.status, bool(outcome.detail), leaked)
        assert ("retry", 0, True, []) == actual

    async def test_garbled_answer_does_not_raise(
        self, httpx_mock: HTTPXMock
    ) -> None:
        """An answer that cannot be decoded is an outcome, not an error."""
        # e.g. a proxy that says gzip and is not: httpx raises DecodingError,
        # a RequestError but not a TransportError
        httpx_mock.add_response(
            status_code=200,
            headers={"Content-Encoding": "gzip"},
            content=b"this is not gzip",
        )
        outcome = await _send(_webhook_request())
        assert ("retry", False) == (
            outcome.kind,
            WEBHOOK_TOKEN in outcome.detail,
        )


UNENCODABLE = [
    pytest.param("report-\udcff.csv", id="lone-surrogate"),
    pytest.param("\ud800", id="high-surrogate"),
    pytest.param(float("nan"), id="nan"),
    pytest.param(float("inf"), id="infinity"),
    pytest.param(object(), id="no-json-form"),
    pytest.param(b"bytes", id="bytes"),
]


class TestEncoding:
    """
    A payload that cannot be encoded fails when its request is built.
    """

    @pytest.mark.parametrize("value", UNENCODABLE)
    def test_unencodable_payload_fails_at_build(
        self, value: Any, no_env: pytest.MonkeyPatch
    ) -> None:
        """Webhook and bot requests alike raise PayloadError, tokens hidden."""
        payload = {**PAYLOAD, "embeds": [{"title": "x", "description": value}]}
        bot = BotChannelDestination(channel_id=CHANNEL_ID)
        for destination in (_webhook(), bot):
            with pytest.raises(PayloadError) as caught:
                build_request(destination, payload, bot_token=BOT_TOKEN)
            text = str(caught.value)
            assert [] == [t for t in (WEBHOOK_TOKEN, BOT_TOKEN) if t in text]

    def test_body_is_what_httpx_would_send(self) -> None:
        """The encoded body is compact UTF-8 JSON, non-ASCII kept."""
        payload = {**PAYLOAD, "embeds": [{"title": "Déjà vu ✅"}]}
        request = build_request(_webhook(), payload)
        assert request is not None
        assert payload == json.loads(request.content)
        assert "Déjà vu ✅".encode() in request.content
        assert encode(payload) == request.content


@pytest.mark.anyio
class TestSendFaults:
    """
    Answers that never end, redirects, and connections never made.
    """

    async def test_answer_past_the_deadline_is_retried(
        self, httpx_mock: HTTPXMock
    ) -> None:
        """An answer slower than the deadline is abandoned and retried."""

        async def slow(request: httpx.Request) -> httpx.Response:
            await anyio.sleep(30)
            return httpx.Response(200, json={"id": "1"})  # pragma: no cover

        httpx_mock.add_callback(slow)
        async with httpx.AsyncClient(timeout=60.0) as client:
            outcome = await send(client, _webhook_request(), deadline=0.05)
        assert ("retry", 0) == (outcome.kind, outcome.status)
        assert "within 0.05s" in outcome.detail

    @pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
    async def test_redirect_is_not_followed(
        self, httpx_mock: HTTPXMock, status: int
    ) -> None:
        """A redirect is a failure: nothing goes to where it points."""
        httpx_mock.add_response(
            status_code=status,
            headers={"Location": f"https://evil.example/{WEBHOOK_TOKEN}"},
        )
        outcome = await _send(_webhook_request())
        assert 1 == len(httpx_mock.get_requests())
        assert ("retry", status) == (outcome.kind, outcome.status)
        assert WEBHOOK_TOKEN not in outcome.detail

    @pytest.mark.parametrize(
        ("exception", "expected"),
        [
            pytest.param(
                httpx.ConnectError("[Errno 111] Connection refused"),
                "connection refused",
                id="refused",
            ),
            pytest.param(
                httpx.ConnectError("[Errno -2] Name or service not known"),
                "DNS lookup failed",
                id="dns",
            ),
            pytest.param(
                httpx.ConnectError(
                    "[Errno -3] Temporary failure in name resolution"
                ),
                "DNS lookup failed",
                id="dns-temporary",
            ),
            pytest.param(
                httpx.ConnectError(
                    "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify "
                    "failed"
                ),
                "TLS error",
                id="tls",
            ),
            pytest.param(
                httpx.ConnectTimeout("timed out"),
                "connection timed out",
                id="connect-timeout",
            ),
        ],
    )
    async def test_unreachable_says_why(
        self, httpx_mock: HTTPXMock, exception: Exception, expected: str
    ) -> None:
        """A connection never made is unreachable, with the reason."""
        httpx_mock.add_exception(exception)
        outcome = await _send(_webhook_request())
        assert ("retry", True) == (outcome.kind, outcome.unreachable)
        assert outcome.detail.startswith(expected)

    async def test_tls_error_found_in_the_cause(
        self, httpx_mock: HTTPXMock
    ) -> None:
        """An ssl error behind a ConnectError names TLS."""
        error = httpx.ConnectError("handshake failed")
        error.__cause__ = ssl.SSLError(1, "WRONG_VERSION_NUMBER")
        httpx_mock.add_exception(error)
        outcome = await _send(_webhook_request())
        assert outcome.detail.startswith("TLS error")


#: Each value, and what keeps it from being a Discord id: None (it is
#: one), or (the rule said, written as a number, shorter than any id).
SNOWFLAKES: dict[str, tuple[str, tuple[str, bool, bool] | None]] = {
    "17-digits": ("12345678901234567", None),
    "18-digits": ("123456789012345678", None),
    "19-digits-today": ("1234567890123456789", None),
    "largest": ("18446744073709551615", None),
    "leading-zero": ("01234567890123456", ("17 to 20", True, True)),
    "one-past-64-bits": ("18446744073709551616", ("no larger", True, False)),
    "20-nines": ("99999999999999999999", ("no larger", True, False)),
    "21-digits": ("123456789012345678901", ("17 to 20", True, False)),
    "5000-digits": ("9" * 5000, ("17 to 20", True, False)),
    "16-digits-a-digit-lost": ("1234567890123456", ("17 to 20", True, True)),
    "placeholder": ("42", ("17 to 20", True, True)),
    "zero": ("0", ("17 to 20", True, True)),
    "empty": ("", ("17 to 20", False, False)),
    "letters": ("abc", ("17 to 20", False, False)),
    "negative": ("-12345678901234567", ("17 to 20", False, False)),
    "decimal": ("1234567890123456.0", ("17 to 20", False, False)),
    "space-inside": ("123456789 012345678", ("17 to 20", False, False)),
    "space-around": (" 123456789012345678", ("17 to 20", False, False)),
    "newline-after": ("123456789012345678\n", ("17 to 20", False, False)),
    "fullwidth": (
        "１２３４５６７８９０１２３４５６７８",
        ("17 to 20", False, False),
    ),
    "arabic-indic": ("١٢٣٤٥٦٧٨٩٠١٢٣٤٥٦٧٨", ("17 to 20", False, False)),
    "channel-mention": ("<#123456789012345678>", ("17 to 20", False, False)),
    "role-mention": ("<@&123456789012345678>", ("17 to 20", False, False)),
}


@pytest.mark.parametrize(
    ("value", "expected"), SNOWFLAKES.values(), ids=SNOWFLAKES
)
def test_snowflake_problem(
    value: str, expected: tuple[str, bool, bool] | None
) -> None:
    """One rule for every Discord id the library reads."""
    problem = snowflake_problem(value)

    if expected is None:
        assert problem is None
    else:
        assert problem is not None
        rule, number, short = expected
        assert (rule, number, short) == (
            problem.rule[: len(rule)],
            problem.number,
            problem.short,
        )


#: Answers, and what each comes to: (kind, why it is not Discord's). A
#: 2xx is Discord's by delivery's rule: a 204, or a JSON object.
BY_DELIVERY_RULE: dict[str, tuple[int, bytes, tuple[str, str]]] = {
    "message": (200, b'{"id": "1"}', ("sent", "")),
    "no-content": (204, b"", ("sent", "")),
    "list-for-a-message": (200, b"[]", ("retry", "body")),
    "page": (200, b"<html>", ("retry", "body")),
    "server-error": (503, b"", ("retry", "")),
}
#: The same when a JSON list is expected (setup's listings)...
LISTINGS = {
    "listing": (200, b"[]", ("sent", "")),
    "object-for-a-listing": (200, b"{}", ("retry", "body")),
    "redirect": (308, b"[]", ("retry", "redirect")),
}
#: ...and when a JSON object is (what setup makes).
MADE = {
    "made": (201, b'{"id": "1"}', ("sent", "")),
    "no-content-for-what-was-made": (204, b"", ("retry", "body")),
    "refusal": (403, b"{}", ("gone", "")),
}
FOREIGN = [
    pytest.param(*case, expect, id=f"{name}{suffix}")
    for cases, expect, suffix in (
        (BY_DELIVERY_RULE, None, ""),
        (LISTINGS, list, "-list"),
        (MADE, dict, "-object"),
    )
    for name, case in cases.items()
]


@pytest.mark.parametrize(("status", "content", "expected", "expect"), FOREIGN)
def test_classify_says_what_is_not_discords(
    status: int,
    content: bytes,
    expected: tuple[str, str],
    expect: type[Any] | None,
) -> None:
    """Setup's listings and creations are classified by the one rule."""
    outcome = classify(status, {}, content, expect=expect)

    assert expected == (outcome.kind, outcome.foreign)
