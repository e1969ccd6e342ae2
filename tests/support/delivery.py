"""
Parts for unit tests of the delivery side (``_delivery``).

A :class:`FakeClock` stands for both the engine's clock and its sleep:
a sleep moves the clock on at once, so a test of a 30 s retry budget
runs in microseconds and can read every pause it took. A
:class:`ScriptedDiscord` is an ``httpx.MockTransport`` that answers each
request from a script, as Discord would, and keeps what it was sent.
"""

from __future__ import annotations

import json
import logging
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

import httpx

from polybot_loghandler._config import parse_config
from polybot_loghandler._events import LogEvent
from polybot_loghandler._message import RoutedMessage
from polybot_loghandler._model import Coalesce, Config
from polybot_loghandler._payload import build_payload

#: 2024-01-30T14:23:45Z
T0 = 1706624625.0
TOKEN = "SeCrEtWeBhOoKtOkEn_abc-123"
TRADES_URL = f"https://discord.com/api/webhooks/111111111111111111/{TOKEN}"
OPS_URL = "https://discord.com/api/webhooks/222222222222222222/opsToken_xyz"
BOT_CHANNEL = "333333333333333333"


class FakeClock:
    """Monotonic seconds that move only when a sleep moves them."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        """Note the pause and move the clock past it, at once."""
        self.slept.append(seconds)
        self.now += max(seconds, 0.0)


def routing(**delivery: str) -> Config:
    """
    A routing with a webhook channel ``trades``, a bot channel ``bot``,
    an ops channel ``ops`` (its own webhook) and a console channel, and
    the route ``errors`` that :func:`message` names (the spool rebuilds
    a message from its route).
    """
    settings = {"ops_channel": "ops", "retry_for": "10s", **delivery}
    lines = [
        "version: 1",
        "channels:",
        f"  trades: {TRADES_URL}",
        f"  ops: {OPS_URL}",
        f"  bot: {{id: '{BOT_CHANNEL}'}}",
        "  console: ''",
        "routes:",
        "  - {name: errors, match: {event: order_failed}, to: trades}",
        "delivery:",
        *(f"  {key}: {value}" for key, value in settings.items() if value),
    ]
    return parse_config("\n".join(lines) + "\n")


def message(
    config: Config,
    title: str = "Order Failed",
    *,
    channel: str = "trades",
    level: int = logging.ERROR,
    time: float = T0,
    route: str = "errors",
    description: str | None = None,
    coalesce: Coalesce | None = None,
) -> RoutedMessage:
    """A message for *channel*, as the routing would render it."""
    embed: dict[str, Any] = {"title": title, "color": 0xE74C3C}
    if description is not None:
        embed["description"] = description
    return RoutedMessage(
        channel=channel,
        route=route,
        payload=build_payload([embed], None),
        embed=embed,
        event=LogEvent(
            event="order_failed",
            level=level,
            logger="floor_boss",
            time=time,
            fields={},
            message="order_failed",
        ),
        target=config.channels[channel],
        coalesce=Coalesce() if coalesce is None else coalesce,
    )


Answer = httpx.Response | Exception


def ok() -> httpx.Response:
    """Discord's answer to a webhook post with ``?wait=true``."""
    return httpx.Response(200, json={"id": "1", "channel_id": "9"})


def status(code: int, body: Any = None, **headers: str) -> httpx.Response:
    """An answer with *code*, a JSON *body* and *headers*."""
    return httpx.Response(
        code,
        json={"message": "error", "code": 0} if body is None else body,
        headers=headers,
    )


def too_many(
    retry_after: float, *, scope: str = "user", glob: bool = False
) -> httpx.Response:
    """A 429 as Discord sends it."""
    return httpx.Response(
        429,
        json={
            "message": "You are being rate limited.",
            "retry_after": retry_after,
            "global": glob,
        },
        headers={
            "retry-after": str(int(retry_after + 0.999)),
            "x-ratelimit-scope": scope,
            **({"x-ratelimit-global": "true"} if glob else {}),
        },
    )


class ScriptedDiscord(httpx.MockTransport):
    """
    Answers requests from a script, oldest first, and keeps them.

    When the script runs out, *then* answers (by default: ``ok()``).
    An exception in the script is raised, as the network would.
    """

    def __init__(
        self,
        script: Iterable[Answer] = (),
        then: Callable[[], Answer] = ok,
    ) -> None:
        self.script: deque[Answer] = deque(script)
        self.then = then
        self.requests: list[httpx.Request] = []
        super().__init__(self._answer)

    def _answer(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.script.popleft() if self.script else self.then()
        if isinstance(answer, Exception):
            raise answer
        return answer

    def bodies(self) -> list[dict[str, Any]]:
        """The JSON bodies sent, in order."""
        return [json.loads(r.content) for r in self.requests]

    def titles(self) -> list[list[str]]:
        """The embeds' titles of each request, in order."""
        return [[e["title"] for e in b["embeds"]] for b in self.bodies()]
