"""
Connecting to Redis: the optional ``redis`` package, and its clients.

The core install does not have ``redis`` (it comes with the ``relay``
extra), so it is imported only here, and only when a routing file turns
the relay on. The clients never retry by themselves: the callers decide
when to try again, so that no call waits longer than its timeout.
"""

from __future__ import annotations

import json
import os
import socket
import uuid
from typing import Any
from urllib.parse import unquote, urlsplit

from polybot_loghandler._redisurl import redacted_url
from polybot_loghandler.exceptions import PolybotError

__all__ = [
    "CONNECT_TIMEOUT",
    "INSTALL",
    "READ_TIMEOUT",
    "RelayUnavailable",
    "async_client",
    "decoded",
    "from_redis",
    "load_redis",
    "loads",
    "member_id",
    "scrub",
    "sync_client",
]

#: Seconds to wait for a connection to Redis.
CONNECT_TIMEOUT = 2.0
#: Seconds to wait for an answer (a blocking read adds its own wait).
READ_TIMEOUT = 5.0
#: What to run when the package is missing.
INSTALL = "pip install 'polybot-loghandler[relay]'"


class RelayUnavailable(PolybotError):  # noqa: N818 - a state, not a fault
    """The relay mode cannot run here (the ``redis`` package is missing)."""


def load_redis() -> None:
    """
    Import ``redis`` now, or raise :class:`RelayUnavailable`.

    A producer's worker may first run at interpreter exit, when imports
    that register at-exit hooks (redis-py's do) fail: the pipeline
    imports it when it is made.
    """
    _redis()


def _redis() -> Any:
    try:
        import redis  # noqa: PLC0415 - optional: only with the relay on
        import redis.asyncio  # noqa: PLC0415
    except ImportError:
        raise RelayUnavailable(
            "delivery.relay is set, but the redis package is not "
            f"installed; install it with: {INSTALL}"
        ) from None
    return redis


def _options(name: str) -> dict[str, Any]:
    from redis.backoff import NoBackoff  # noqa: PLC0415
    from redis.retry import Retry  # noqa: PLC0415

    return {
        "socket_connect_timeout": CONNECT_TIMEOUT,
        "socket_timeout": READ_TIMEOUT,
        "retry": Retry(NoBackoff(), 0),
        "client_name": name,
    }


def sync_client(url: str, name: str) -> Any:
    """
    A ``redis.Redis`` for *url* (used from one thread).

    Raises:
        RelayUnavailable: ``redis`` is not installed, or *url* is not a
            Redis URL (the message has its password hidden).
    """
    redis = _redis()
    try:
        return redis.Redis.from_url(url, **_options(name))
    except ValueError as exc:
        raise RelayUnavailable(
            f"delivery.relay {redacted_url(url)} is not a Redis URL: "
            f"{scrub(str(exc), url)}"
        ) from None


def async_client(url: str, name: str) -> Any:
    """A ``redis.asyncio.Redis`` for *url*; see :func:`sync_client`."""
    redis = _redis()
    from redis.asyncio.retry import Retry  # noqa: PLC0415
    from redis.backoff import NoBackoff  # noqa: PLC0415

    options = _options(name)
    options["retry"] = Retry(NoBackoff(), 0)
    try:
        return redis.asyncio.Redis.from_url(url, **options)
    except ValueError as exc:
        raise RelayUnavailable(
            f"delivery.relay {redacted_url(url)} is not a Redis URL: "
            f"{scrub(str(exc), url)}"
        ) from None


def member_id() -> str:
    """This process's name among producers and relays: host, pid, nonce."""
    host = socket.gethostname() or "host"
    return f"{host}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def scrub(text: str, url: str) -> str:
    """
    *text* (an error's) without *url*'s user name and password in it.

    redis-py's errors do not quote the URL, but a server's or a proxy's
    might; the URL itself is shown as :func:`redacted_url` shows it.
    """
    text = text.replace(url, redacted_url(url))
    try:
        parts = urlsplit(url)
        secrets = {parts.password, parts.username}
    except ValueError:
        return text
    for secret in secrets:
        for form in {secret, unquote(secret or "")}:
            if form and len(form) > 2:
                text = text.replace(form, "***")
    return text


def decoded(value: Any) -> str:
    """
    A Redis answer's bytes (or anything else) as text.

    Bytes that are not UTF-8 (anything may write to a stream) read with
    U+FFFD in their place, never as an error.
    """
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def loads(data: Any, largest: int | None = None) -> Any:
    """
    *data* (Redis's bytes, or text) read as JSON; ``None`` if it is not.

    Anything may be written to Redis: text that is not JSON, not UTF-8,
    nested too deep to read, or (with *largest*) longer than that many
    bytes is ``None``, never an error.
    """
    if not isinstance(data, (bytes, str)):
        return None
    if largest is not None and len(data) > largest:
        return None
    try:
        return json.loads(data)
    except (ValueError, RecursionError):  # UnicodeDecodeError too
        return None


def from_redis(exc: BaseException) -> bool:
    """Whether *exc* is Redis's (or the network's) doing, not ours."""
    module = type(exc).__module__
    return module.split(".")[0] == "redis" or isinstance(
        exc, (OSError, TimeoutError)
    )
