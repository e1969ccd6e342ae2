"""
The one module that knows Discord's URLs and what its answers mean.

It builds the request for a destination (execute a webhook, or post to a
channel with the bot token), sends it, and sorts the answer into an
:class:`Outcome` the engine acts on. httpx's exceptions are translated
here, in one place; tokens never leave it in any text.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from ._model import BotChannelDestination, Destination, WebhookDestination
from ._text import redact_text

__all__ = [
    "API_BASE_ENV",
    "BOT_TOKEN_ENV",
    "DEFAULT_API_BASE",
    "Outcome",
    "Request",
    "build_request",
    "send",
    "user_agent",
]

API_BASE_ENV = "DISCORD_API_BASE"
BOT_TOKEN_ENV = "DISCORD_BOT_TOKEN"  # noqa: S105 - a variable's name
DEFAULT_API_BASE = "https://discord.com/api/v10"
PROJECT_URL = "https://github.com/polybot/polybot_loghandler"

# Discord's JSON error codes we act on
UNKNOWN_WEBHOOK = 10015
INVALID_WEBHOOK_TOKEN = 50027


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


@dataclass(frozen=True, slots=True)
class Request:
    """One request to make; its ``repr`` hides the URL and headers."""

    url: str = field(repr=False)
    json: dict[str, Any] = field(repr=False)
    headers: dict[str, str] = field(repr=False)
    label: str = ""


def build_request(
    destination: Destination,
    payload: dict[str, Any],
    *,
    api_base: str | None = None,
    bot_token: str | None = None,
) -> Request | None:
    """
    The request that posts *payload* to *destination*.

    Webhooks are executed with ``wait=true``, so Discord reports a message
    it could not save instead of answering 204 regardless. Returns
    ``None`` for a bot channel when no bot token is set.
    """
    if isinstance(destination, WebhookDestination):
        parts = urlsplit(destination.url)
        kept = [
            q
            for q in parts.query.split("&")
            if q and not q.startswith("wait=")
        ]
        query = "&".join([*kept, "wait=true"])
        url = urlunsplit((*parts[:3], query, ""))
        return Request(url, payload, {}, destination.redacted_url)
    assert isinstance(destination, BotChannelDestination)
    token = (
        bot_token if bot_token is not None else os.environ.get(BOT_TOKEN_ENV)
    )
    if not token:
        return None
    base = (
        api_base or os.environ.get(API_BASE_ENV) or DEFAULT_API_BASE
    ).rstrip("/")
    url = f"{base}/channels/{destination.channel_id}/messages"
    headers = {"Authorization": f"Bot {token}"}
    return Request(url, payload, headers, f"channel {destination.channel_id}")


@dataclass(frozen=True, slots=True)
class Outcome:
    """
    What an attempt came to.

    Attributes:
        kind: ``sent``; ``retry`` (5xx, timeout, connection error);
            ``rate_limited`` (429); ``rejected`` (400: the payload);
            ``gone`` (401/403/404: the destination no longer takes
            messages); ``failed`` (any other answer).
        status: The HTTP status, ``0`` when no answer came.
        headers: The answer's headers, lower-cased.
        body: The answer's JSON body, if any.
        detail: A short description for people, tokens redacted.
    """

    kind: str
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    detail: str = ""


async def send(client: httpx.AsyncClient, request: Request) -> Outcome:
    """Post *request* and classify the answer; never raises httpx errors."""
    try:
        response = await client.post(
            request.url, json=request.json, headers=request.headers
        )
    except httpx.TimeoutException as exc:
        return Outcome("retry", detail=f"timed out ({type(exc).__name__})")
    except httpx.TransportError as exc:
        text = redact_text(str(exc)) or type(exc).__name__
        return Outcome("retry", detail=f"connection failed: {text}")
    except httpx.HTTPError as exc:  # e.g. an answer that cannot be decoded
        text = redact_text(str(exc)) or type(exc).__name__
        return Outcome("retry", detail=f"unreadable answer: {text}")
    return classify(
        response.status_code, dict(response.headers.items()), response.content
    )


def classify(status: int, headers: dict[str, str], content: bytes) -> Outcome:
    """Sort an HTTP answer into an :class:`Outcome`."""
    headers = {k.lower(): v for k, v in headers.items()}
    body = _json(content)
    detail = _describe(status, body)
    if 200 <= status < 300:
        kind = "sent"
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
    return Outcome(kind, status, headers, body, detail)


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
