"""
Requests to Discord's API with the bot token, as ``setup`` makes them.

Each request has a total deadline (``_discord.REQUEST_DEADLINE``). What
an answer means is :func:`_discord.classify`'s to say; this module only
decides what set-up does about it, and tells a person what to do:

- a rate limit is waited out, up to its cap (``_ratelimit.CAPS``);
- a server error, a timeout or a lost connection is tried again with the
  library's :class:`RetryPolicy`, until its budget is spent;
- a redirect, or an answer that is not Discord's, stops set-up;
- any other refusal stops set-up at once, as one paragraph.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import anyio
import httpx
from anyio.from_thread import BlockingPortal, start_blocking_portal

from polybot_loghandler import _discord
from polybot_loghandler._discord import (
    API_BASE_ENV,
    BOT_TOKEN_ENV,
    CATEGORY_FULL,
    DEFAULT_API_BASE,
    MAX_GUILD_CHANNELS,
    MAX_WEBHOOKS,
    REDIRECT,
    UNKNOWN_GUILD,
    Outcome,
)
from polybot_loghandler._discord import user_agent as _user_agent
from polybot_loghandler._ratelimit import CAPS, RateLimiter, Wait
from polybot_loghandler._retry import RetryPolicy
from polybot_loghandler._text import redact_text

__all__ = [
    "MANAGE_CHANNELS",
    "MANAGE_WEBHOOKS",
    "BotApi",
    "SetupError",
    "bot_api",
    "not_discords",
]

MAX_TRIES = 5  # 429s in a row before setup gives up
#: Server errors, timeouts and lost connections are tried again, as
#: delivery does; setup gives up once its pauses would pass the budget
#: (about four tries: a person is waiting).
RETRY = RetryPolicy(base=0.5, cap=5.0, budget=8.0)
TIMEOUT = 15.0
MANAGE_CHANNELS = "Manage Channels"
MANAGE_WEBHOOKS = "Manage Webhooks"
#: The permission that making each needs.
_MANAGE = {"channel": MANAGE_CHANNELS, "webhook": MANAGE_WEBHOOKS}


class SetupError(Exception):
    """A problem a person can fix, told as one paragraph."""


def not_discords(doing: str, what: str) -> SetupError:
    """
    The answer to the request to *doing* was not Discord's: *what* it was.

    *what* says how it was not: ``200, not JSON``, ``no channel in it``.
    """
    return SetupError(
        f"The answer to the request to {doing} was not Discord's ({what}): "
        f"is a proxy in the way, or {API_BASE_ENV} wrong? Check it, then "
        "run setup again."
    )


class _Http:
    """
    Blocking requests, each within a total deadline.

    httpx's timeouts are per read: an answer trickled a byte at a time
    would never end. The requests run on a private event loop, where a
    deadline can cut one short.
    """

    def __init__(
        self, portal: BlockingPortal, client: httpx.AsyncClient
    ) -> None:
        self._portal = portal
        self._client = client

    def request(
        self, method: str, url: str, *, json: dict[str, Any] | None = None
    ) -> httpx.Response:
        """
        Make one request; its answer, read in full.

        Raises:
            TimeoutError: No complete answer within the deadline.
            httpx.HTTPError: No answer.
        """
        response: httpx.Response = self._portal.call(
            self._request, method, url, json
        )
        return response

    async def _request(
        self, method: str, url: str, body: dict[str, Any] | None
    ) -> httpx.Response:
        with anyio.fail_after(_discord.REQUEST_DEADLINE):
            return await self._client.request(method, url, json=body)


class _Transient(Exception):  # noqa: N818 - not an error the user sees
    """A failure worth another try; *error* is what to say if none helps."""

    def __init__(self, error: SetupError) -> None:
        super().__init__(str(error))
        self.error = error


class BotApi:
    """
    Bot-token requests, waiting on Discord's rate limits.

    Server errors, timeouts and lost connections are tried again with the
    library's :class:`RetryPolicy`; other refusals are told at once.
    """

    def __init__(self, client: _Http, base: str) -> None:
        self._client = client
        self._base = base
        self._limiter = RateLimiter()
        self._sent = 0

    def listing(
        self, path: str, *, doing: str, holds: str, permission: str | None
    ) -> list[Any]:
        """What ``GET`` *path* lists; see :meth:`call`."""
        found: list[Any] = self.call(
            "GET", path, list, doing, holds, permission
        )
        return found

    def create(
        self, path: str, body: dict[str, Any], *, doing: str, holds: str
    ) -> dict[str, Any]:
        """
        What ``POST`` *path* made of *body*: a *holds*; see :meth:`call`.

        Making a ``channel`` (or category) or a ``webhook`` needs the bot
        to have the permission to manage them.
        """
        need = _MANAGE[holds]
        made: dict[str, Any] = self.call(
            "POST", path, dict, doing, holds, need, body
        )
        return made

    def call(  # noqa: PLR0913, PLR0917 - one request's description
        self,
        method: str,
        path: str,
        expect: type[dict[str, Any] | list[Any]],
        doing: str,
        holds: str,
        permission: str | None,
        body: dict[str, Any] | None = None,
    ) -> Any:
        """
        Make a request and return its JSON, of type *expect*.

        *doing* says what it is for, as every message about it does;
        *holds* what its answer holds (``list of channels``), for the
        message when it is not Discord's; *permission* is the one it
        needs, if any. Each route and id is its own rate-limit key.

        Raises:
            SetupError: It failed, for good: the paragraph says what to do.
        """
        key = f"{method} {path}"
        limited = failures = 0
        waited = 0.0
        while limited < MAX_TRIES:
            # set-up calls are not messages: Discord's per-channel message
            # limit does not apply, so each request is its own "channel"
            self._sent += 1
            lane = f"setup:{self._sent}"
            _wait(self._limiter.wait(key, lane, time.monotonic()), doing)
            self._limiter.sending(key, lane, time.monotonic())
            try:
                answer = self._answer(method, path, body, doing, expect)
            except _Transient as failed:
                failures += 1
                pause = RETRY.pause(failures)
                if RETRY.gives_up(waited + pause):
                    raise failed.error from None
                time.sleep(pause)
                waited += pause
                continue
            if answer.kind == "rate_limited":
                # the limiter holds the pause: the next try waits it out,
                # or gives up on it past its cap
                limited += 1
                self._limiter.too_many(
                    key, answer.headers, answer.body, time.monotonic()
                )
                continue
            self._limiter.update(key, answer.headers, time.monotonic())
            if answer.foreign == REDIRECT:
                raise SetupError(
                    f"Discord's answer to the request to {doing} was a "
                    f"redirect ({answer.status}), which setup does not "
                    "follow: it would take the bot token elsewhere. Check "
                    f"{API_BASE_ENV} (unset, it is {DEFAULT_API_BASE}), then "
                    "run setup again."
                )
            if answer.foreign:
                strange = (
                    f"{answer.status}, not JSON"
                    if answer.body is None
                    else f"no {holds} in it"
                )
                raise not_discords(doing, strange)
            if answer.kind == "sent":
                return answer.body
            raise _refusal(answer, doing, permission)
        raise SetupError(
            f"Discord kept answering 429 (rate limited) while trying to "
            f"{doing}. Wait a minute, then run setup again."
        )

    def _answer(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None,
        doing: str,
        expect: type[dict[str, Any] | list[Any]],
    ) -> Outcome:
        """
        The answer to one request, as ``_discord`` classifies it.

        Raises:
            _Transient: No answer, or Discord's trouble (a server error):
                worth another try.
        """
        try:
            response = self._client.request(
                method, self._base + path, json=body
            )
        except TimeoutError:
            raise _Transient(
                SetupError(
                    f"Discord did not answer the request to {doing} within "
                    f"{_discord.REQUEST_DEADLINE:g}s. Check the network (and "
                    f"{API_BASE_ENV}, if set), then run setup again."
                )
            ) from None
        except httpx.HTTPError as exc:
            raise _Transient(
                SetupError(
                    f"Could not reach Discord to {doing}: "
                    f"{redact_text(type(exc).__name__)} "
                    f"({redact_text(str(exc))}). Check the network (and "
                    f"{API_BASE_ENV}, if set), then run setup again."
                )
            ) from None
        answer = _discord.classify(
            response.status_code,
            dict(response.headers.items()),
            response.content,
            expect=expect,
        )
        if answer.kind == "retry" and not answer.foreign:
            # Discord's trouble, not the request's: worth another try
            raise _Transient(_refusal(answer, doing, None))
        return answer


def _wait(wait: Wait, doing: str) -> None:
    """
    Sleep out a rate limit, or give up on one past its cap.

    Never sooner than Discord said (early tries draw more 429s, and
    those count toward a ban), and never for longer than the cap.
    """
    if wait.excessive:
        until = time.strftime(
            "%H:%M UTC", time.gmtime(time.time() + min(wait.seconds, 1e9))
        )
        what = {
            "bucket": "a rate limit",
            "global": "a global rate limit",
            "cloudflare": "a Cloudflare block of this address",
        }.get(wait.scope, "a rate limit")
        span = (
            f"{wait.seconds / 3600:,.0f} hours"
            if wait.seconds >= 7200
            else f"{wait.seconds:,.0f}s"
        )
        raise SetupError(
            f"Discord asked setup to wait {span} ({what}) before it may "
            f"{doing}, longer than the {CAPS[wait.scope]:g}s setup waits. "
            f"Nothing more was changed; run setup again later"
            f"{f' (after {until})' if wait.seconds < 86400 else ''}: "
            "what exists already is kept."
        )
    if wait.seconds > 0:
        time.sleep(wait.seconds)


def _refusal(
    answer: Outcome, doing: str, permission: str | None
) -> SetupError:
    """What to tell a person about a refusal, and what to do about it."""
    status, data = answer.status, answer.body
    body = data if isinstance(data, dict) else {}
    code = body.get("code")
    said = redact_text(str(body.get("message", "")))[:200]
    told = f"{status}{f', code {code}' if code else ''}: {said}"
    if status == 401:
        text = (
            f"Discord did not accept the bot token in {BOT_TOKEN_ENV} "
            f"(401 Unauthorized). Copy the token again from the Developer "
            "Portal (Application → Bot → Reset Token), export it, and run "
            "setup again."
        )
    elif code == UNKNOWN_GUILD or (status == 404 and "guild" in doing):
        text = (
            "Discord knows no server with that id, or the bot is not in it "
            f"({told}). Check --guild (Developer Mode → right-click the "
            "server → Copy Server ID) and invite the bot with the URL in "
            "docs/setup.md."
        )
    elif status == 403 and permission is not None:
        text = (
            f"Discord refused to {doing}: the bot lacks the {permission} "
            f"permission ({told}). Give the bot's role {permission} in "
            "Server Settings → Roles (or invite it again with the URL in "
            "docs/setup.md), then run setup again."
        )
    elif status == 403:
        text = (
            f"Discord refused to {doing} ({told}): the bot cannot see "
            "that server or channel. Invite the bot with the URL in "
            "docs/setup.md, then run setup again."
        )
    elif answer.kind == "retry":
        text = (
            f"Discord could not {doing} ({told}), and still could not "
            "after a few tries: the trouble is on Discord's side. Wait a "
            "few minutes (https://discordstatus.com), then run setup again: "
            "what exists already is kept."
        )
    elif code == MAX_GUILD_CHANNELS:
        text = (
            f"Could not {doing}: the server already has Discord's maximum "
            f"of 500 channels ({told}). Delete channels it no longer "
            "needs, or use another server, then run setup again."
        )
    elif CATEGORY_FULL in str(data):
        text = (
            f"Could not {doing}: the category already holds Discord's "
            "maximum of 50 channels. Move some channels out of it, or give "
            "these channels another category in the routing file, then run "
            "setup again."
        )
    elif code == MAX_WEBHOOKS:
        text = (
            f"Could not {doing}: the channel already has Discord's maximum "
            f"of 15 webhooks ({told}). Delete unused ones in Channel "
            "Settings → Integrations → Webhooks, then run setup again."
        )
    else:
        text = f"Discord refused to {doing} ({told})."
    return SetupError(text)


@contextmanager
def bot_api(version: str) -> Iterator[BotApi]:
    """
    The API, with the bot token from the environment.

    Raises:
        SetupError: No bot token is set.
    """
    token = os.environ.get(BOT_TOKEN_ENV, "").strip()
    if not token:
        raise SetupError(
            f"{BOT_TOKEN_ENV} is not set. setup reads the bot token only "
            "from the environment, never from the command line: copy it "
            "from the Developer Portal (Application → Bot → Reset Token), "
            f"then `export {BOT_TOKEN_ENV}=...` and run setup again."
        )
    headers = {
        "Authorization": f"Bot {token}",
        "User-Agent": _user_agent(version),
    }
    base = (os.environ.get(API_BASE_ENV) or DEFAULT_API_BASE).rstrip("/")
    with (
        start_blocking_portal() as portal,
        portal.wrap_async_context_manager(
            httpx.AsyncClient(
                headers=headers, timeout=TIMEOUT, follow_redirects=False
            )
        ) as client,
    ):
        yield BotApi(_Http(portal, client), base)
