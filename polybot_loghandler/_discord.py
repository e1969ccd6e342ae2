"""
The one module that knows Discord's URLs and what its answers mean.

It builds the request for a destination (execute a webhook, or post to a
channel with the bot token), sends it, and sorts the answer into an
:class:`Outcome` the engine acts on. httpx's exceptions are translated
here, in one place; tokens never leave it in any text.

The body is encoded when the request is built, so a payload that cannot
be encoded (a lone surrogate, a ``NaN``) fails there, as a
:class:`PayloadError`, and never reaches the network or a retry. Each
request has a total deadline (:data:`REQUEST_DEADLINE`), on top of
httpx's per-read timeout: an answer that trickles in a byte at a time
fails at the deadline like one that never comes. Redirects are never
followed (the URL holds the token) and count as a failure.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import ssl
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import anyio
import httpx

from ._model import BotChannelDestination, Destination, WebhookDestination
from ._text import redact_text

__all__ = [
    "API_BASE_ENV",
    "BOT_TOKEN_ENV",
    "DEFAULT_API_BASE",
    "REQUEST_DEADLINE",
    "SNOWFLAKE_MAX",
    "NotASnowflake",
    "Outcome",
    "PayloadError",
    "Request",
    "build_request",
    "send",
    "snowflake_problem",
    "user_agent",
]

API_BASE_ENV = "DISCORD_API_BASE"
BOT_TOKEN_ENV = "DISCORD_BOT_TOKEN"  # noqa: S105 - a variable's name
DEFAULT_API_BASE = "https://discord.com/api/v10"
PROJECT_URL = "https://github.com/polybot/polybot_loghandler"

#: The content type of the files sent beside a message.
FILE_TYPE = "text/plain; charset=utf-8"
#: Seconds one request may take in all, from connecting to the last byte
#: of the answer.
REQUEST_DEADLINE = 30.0

# Discord's JSON error codes we act on (delivery, and setup's advice)
UNKNOWN_GUILD = 10004
UNKNOWN_MESSAGE = 10008
UNKNOWN_WEBHOOK = 10015
MAX_WEBHOOKS = 30007
MAX_GUILD_CHANNELS = 30013
INVALID_WEBHOOK_TOKEN = 50027
#: Too many edits of a message older than an hour (a board).
OLD_MESSAGE_EDITS = 30046
#: A forum channel takes a post only into a thread.
FORUM_NEEDS_THREAD = 220001
#: A webhook can make threads only in a forum channel.
THREADS_ONLY_IN_FORUMS = 220003
#: Said in the errors of a category that holds 50 channels already.
CATEGORY_FULL = "CHANNEL_PARENT_MAX_CHANNELS"

#: Why an answer is not Discord's (:attr:`Outcome.foreign`).
REDIRECT = "redirect"
STRANGE_BODY = "body"

#: The largest Discord id: a snowflake is an unsigned 64-bit number.
SNOWFLAKE_MAX = 2**64 - 1
#: How a Discord id is written, said to whoever gave something else.
SNOWFLAKE_DIGITS = "17 to 20 digits"
#: Fewer digits than any id Discord has made: an id counts milliseconds
#: since 2015 in its top 42 bits, so it had 17 digits within a month,
#: before Discord opened, and has 20 once it passes 10**19 (about 2090).
_FEWEST_DIGITS = 17
_MOST_DIGITS = len(str(SNOWFLAKE_MAX))  # 20
_ASCII_DIGITS = re.compile(r"[0-9]+")


@dataclass(frozen=True, slots=True)
class NotASnowflake:
    """
    Why a value is not a Discord id.

    Attributes:
        rule: The rule it breaks, for a message: ``17 to 20 digits``, or
            ``no larger than 18446744073709551615``.
        number: It is written as a number (ASCII digits only).
        short: It is a number that fits, only with fewer digits than any
            id Discord makes: a digit or more lost, a placeholder, or the
            id of a server that is not Discord's.
    """

    rule: str
    number: bool = False
    short: bool = False


def snowflake_problem(value: str) -> NotASnowflake | None:
    """
    Why *value* is not a Discord id ("snowflake"), or ``None`` if it is.

    A snowflake is an unsigned 64-bit number, written in decimal (ASCII
    digits only, no sign, no space); every one Discord has made has 17
    to 20 digits, the first not a zero. This is the one rule for every
    id the library reads: a server's, a channel's, a role's, a user's.
    """
    if not _ASCII_DIGITS.fullmatch(value):
        return NotASnowflake(SNOWFLAKE_DIGITS)
    if len(value) > _MOST_DIGITS:  # int() of it may be slow, or refused
        return NotASnowflake(SNOWFLAKE_DIGITS, number=True)
    if int(value) > SNOWFLAKE_MAX:
        return NotASnowflake(f"no larger than {SNOWFLAKE_MAX}", number=True)
    if len(value.lstrip("0")) < _FEWEST_DIGITS:  # the number's own digits
        return NotASnowflake(SNOWFLAKE_DIGITS, number=True, short=True)
    return None


class RedactTokens(logging.Filter):
    """
    Hide webhook tokens in httpx's own log records.

    httpx logs every request's URL at INFO; a webhook's URL holds its
    token, and an application logging at INFO would write it out.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's message with tokens redacted; keep it."""
        try:
            text = record.getMessage()
        except Exception:
            return True
        redacted = redact_text(text)
        if redacted != text:
            record.msg, record.args = redacted, ()
        return True


def _guard_httpx_log() -> None:
    log = logging.getLogger("httpx")
    if not any(isinstance(f, RedactTokens) for f in log.filters):
        log.addFilter(RedactTokens())


_guard_httpx_log()


def user_agent(version: str) -> str:
    """The ``User-Agent`` Discord requires: ``DiscordBot (url, version)``."""
    return f"DiscordBot ({PROJECT_URL}, {version})"


class PayloadError(ValueError):
    """A payload that cannot be encoded as a request body."""


@dataclass(frozen=True, slots=True)
class Request:
    """
    One request to make; its ``repr`` hides the URL and headers.

    Attributes:
        url: Where to post, token and all.
        json: The payload.
        headers: Extra headers (the bot token's ``Authorization``).
        label: The destination for people, token redacted.
        content: The payload encoded, as it is sent.
        method: ``POST`` a new message, or ``PATCH`` (edit) one.
        files: Files sent beside it, as (name, bytes): the request is
            then ``multipart/form-data``, the payload its
            ``payload_json`` part.
    """

    url: str = field(repr=False)
    json: dict[str, Any] = field(repr=False)
    headers: dict[str, str] = field(repr=False)
    label: str = ""
    content: bytes = field(default=b"", repr=False)
    method: str = "POST"
    files: tuple[tuple[str, bytes], ...] = field(default=(), repr=False)


def encode(payload: dict[str, Any]) -> bytes:
    """
    The JSON body of *payload*, as httpx would send it.

    Raises:
        PayloadError: It cannot be encoded: a lone surrogate, a ``NaN``,
            a value JSON has no form for. The message names the problem,
            never the text.
    """
    try:
        return json.dumps(
            payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False
        ).encode("utf-8")
    except UnicodeEncodeError as exc:
        what = f"{exc.reason} (U+{ord(exc.object[exc.start]):04X})"
        raise PayloadError(f"cannot be encoded as UTF-8: {what}") from None
    except (TypeError, ValueError, RecursionError) as exc:
        text = redact_text(str(exc))[:200]
        raise PayloadError(f"cannot be encoded as JSON: {text}") from None


def build_request(  # noqa: PLR0913 - where a message goes, all explicit
    destination: Destination,
    payload: dict[str, Any],
    *,
    api_base: str | None = None,
    bot_token: str | None = None,
    thread_id: str | None = None,
    edit: str | None = None,
    files: tuple[tuple[str, bytes], ...] = (),
) -> Request | None:
    """
    The request that posts *payload* to *destination*.

    Webhooks are executed with ``wait=true``, so Discord reports a message
    it could not save instead of answering 204 regardless, and answers
    with the message (its id, for a board; its channel, for a new
    thread). With *thread_id* the message goes into that thread; with
    *edit* it replaces that message's content (``PATCH``). Returns
    ``None`` for a bot channel when no bot token is set.

    Raises:
        PayloadError: *payload* cannot be encoded (see :func:`encode`).
    """
    method = "POST" if edit is None else "PATCH"
    if isinstance(destination, WebhookDestination):
        parts = urlsplit(destination.url)
        # a URL's own ?thread_id= stands unless the message names one
        dropped = ("wait=",) if thread_id is None else ("wait=", "thread_id=")
        kept = [
            q
            for q in parts.query.split("&")
            if q and not q.startswith(dropped)
        ]
        extra = [] if thread_id is None else [f"thread_id={thread_id}"]
        if edit is None:
            query = "&".join([*kept, "wait=true", *extra])
            path = parts.path
        else:
            query = "&".join([*kept, *extra])
            path = f"{parts.path.rstrip('/')}/messages/{edit}"
        url = urlunsplit((parts.scheme, parts.netloc, path, query, ""))
        return Request(
            url,
            payload,
            {},
            destination.redacted_url,
            encode(payload),
            method,
            files,
        )
    assert isinstance(destination, BotChannelDestination)
    token = (
        bot_token if bot_token is not None else os.environ.get(BOT_TOKEN_ENV)
    )
    if not token:
        return None
    base = (
        api_base or os.environ.get(API_BASE_ENV) or DEFAULT_API_BASE
    ).rstrip("/")
    # a thread is a channel: a bot posts into it by its id
    channel = thread_id or destination.channel_id
    url = f"{base}/channels/{channel}/messages"
    if edit is not None:
        url += f"/{edit}"
    headers = {"Authorization": f"Bot {token}"}
    label = f"channel {destination.channel_id}"
    return Request(
        url, payload, headers, label, encode(payload), method, files
    )


@dataclass(frozen=True, slots=True)
class Outcome:
    """
    What an attempt came to.

    Attributes:
        kind: ``sent``; ``retry`` (5xx, timeout, connection error, the
            deadline, a redirect, a 2xx that is not Discord's);
            ``rate_limited`` (429); ``rejected`` (400: the payload);
            ``gone`` (401/403/404: the destination no longer takes
            messages); ``failed`` (any other answer).
        status: The HTTP status, ``0`` when no answer came.
        headers: The answer's headers, lower-cased.
        body: The answer's JSON body, if any.
        detail: A short description for people, tokens redacted.
        unreachable: No connection could be made (refused, DNS, TLS).
        foreign: Why the answer is not Discord's, if it is not: a
            :data:`REDIRECT` (never followed), or a 2xx with a
            :data:`STRANGE_BODY`, one Discord does not send; ``""`` for
            Discord's own. Either is retried (``kind`` ``retry``).
    """

    kind: str
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    detail: str = ""
    unreachable: bool = False
    foreign: str = ""

    @property
    def code(self) -> int | None:
        """Discord's JSON error code, if the answer has one."""
        if isinstance(self.body, dict):
            code = self.body.get("code")
            if type(code) is int:
                return code
        return None


async def send(
    client: httpx.AsyncClient,
    request: Request,
    deadline: float | None = None,
) -> Outcome:
    """
    Post *request* and classify the answer; never raises httpx errors.

    The whole exchange must end within *deadline* seconds (by default
    :data:`REQUEST_DEADLINE`); past it the request is abandoned and its
    outcome is ``retry``.
    """
    limit = REQUEST_DEADLINE if deadline is None else deadline
    content = request.content or encode(request.json)
    response = None
    try:
        with anyio.move_on_after(limit):
            if request.files:
                # multipart: httpx writes the boundary's Content-Type
                response = await client.request(
                    request.method,
                    request.url,
                    headers=request.headers,
                    data={"payload_json": content.decode("utf-8")},
                    files=[
                        (f"files[{n}]", (name, data, FILE_TYPE))
                        for n, (name, data) in enumerate(request.files)
                    ],
                )
            else:
                headers = {
                    **request.headers,
                    "Content-Type": "application/json",
                }
                response = await client.request(
                    request.method,
                    request.url,
                    content=content,
                    headers=headers,
                )
    except httpx.HTTPError as exc:
        return _no_answer(exc)
    if response is None:
        return Outcome("retry", detail=f"no complete answer within {limit:g}s")
    return classify(
        response.status_code, dict(response.headers.items()), response.content
    )


def _no_answer(exc: httpx.HTTPError) -> Outcome:
    """The outcome of a request that got no usable answer."""
    said = redact_text(str(exc))[:300]
    if isinstance(exc, httpx.ConnectTimeout):
        return Outcome(
            "retry", detail="connection timed out", unreachable=True
        )
    if isinstance(exc, httpx.TimeoutException):
        return Outcome("retry", detail=f"timed out ({type(exc).__name__})")
    if isinstance(exc, httpx.ConnectError):
        return Outcome("retry", detail=_connect_failure(exc), unreachable=True)
    if isinstance(exc, httpx.TransportError):
        text = said or type(exc).__name__
        return Outcome("retry", detail=f"connection failed: {text}")
    # e.g. an answer that cannot be decoded
    text = said or type(exc).__name__
    return Outcome("retry", detail=f"unreadable answer: {text}")


def _connect_failure(exc: httpx.ConnectError) -> str:
    """Say why no connection could be made, in a few words."""
    for cause in _causes(exc):
        if isinstance(cause, ssl.SSLError):
            return f"TLS error: {redact_text(str(cause))[:200]}"
        for kind, reason in _CONNECT_CAUSES:
            if isinstance(cause, kind):
                return reason
    text = redact_text(str(exc))
    lower = text.lower()
    if "ssl" in lower or "certificate" in lower or "tls" in lower:
        return f"TLS error: {text[:200]}"
    words = [("refused", "connection refused")]
    words += [(w, "DNS lookup failed") for w in _DNS_WORDS]
    found = next((why for word, why in words if word in lower), None)
    return found or f"connection failed: {text[:300] or 'ConnectError'}"


_CONNECT_CAUSES: tuple[tuple[type[BaseException], str], ...] = (
    (ConnectionRefusedError, "connection refused"),
    (socket.gaierror, "DNS lookup failed"),
)
_DNS_WORDS = (
    "name or service not known",
    "nodename nor servname",
    "name resolution",
    "getaddrinfo",
    "no address associated",
)


def _causes(exc: BaseException) -> list[BaseException]:
    """*exc* and what it was raised from, a few levels deep."""
    chain: list[BaseException] = []
    cause: BaseException | None = exc
    while cause is not None and len(chain) < 8 and cause not in chain:
        chain.append(cause)
        cause = cause.__cause__ or cause.__context__
    return chain


def classify(
    status: int,
    headers: dict[str, str],
    content: bytes,
    *,
    expect: type[dict[str, Any] | list[Any]] | None = None,
) -> Outcome:
    """
    Sort an HTTP answer into an :class:`Outcome`.

    A 2xx counts as sent only if it is Discord's: a 204, or a JSON object
    (with ``wait=true`` Discord returns the message); with *expect*, only
    JSON of that type (``list`` for a listing, ``dict`` for what a
    request made). Anything else came from something between us and
    Discord (a captive portal, a proxy's page) and is retried. A redirect
    is never followed: the URL holds the token, and Discord's API does
    not redirect.
    """
    headers = {k.lower(): v for k, v in headers.items()}
    body = _json(content)
    detail = _describe(status, body)
    foreign = ""
    if 200 <= status < 300:
        kind = "sent"
        if expect is not None:
            discords = isinstance(body, expect)
        else:
            discords = status == 204 or isinstance(body, dict)
        if not discords:
            kind, foreign = "retry", STRANGE_BODY
            detail = f"{status} with a body that is not Discord's"
    elif 300 <= status < 400:
        kind, foreign = "retry", REDIRECT
        detail = f"{status} redirect (not followed)"
    elif status == 429:
        kind = "rate_limited"
    elif status >= 500 or status == 408:
        kind = "retry"
    elif status == 400:
        kind = "rejected"
    elif status in (401, 403, 404):
        kind = "gone"
    else:
        kind = "failed"
    return Outcome(kind, status, headers, body, detail, foreign=foreign)


def _json(content: bytes) -> Any:
    if not content:
        return None
    try:
        return json.loads(content)
    except ValueError:
        return None


def _describe(status: int, body: Any) -> str:
    if isinstance(body, dict):
        code = body.get("code")
        message = body.get("message", "")
        errors = body.get("errors")
        text = f"{status} {message}".strip()
        if code:
            text += f" (code {code})"
        if errors:
            text += ": " + json.dumps(errors, separators=(",", ":"))[:500]
        return redact_text(text)
    return str(status)
