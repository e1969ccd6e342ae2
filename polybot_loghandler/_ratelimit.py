"""
Discord's rate limits, proactively. Pure: every method takes ``now``.

Discord tells us, on every response, how many requests a bucket has left
and when it resets; we wait on that instead of waiting for a 429. On top
of the documented buckets we keep Discord's undocumented per-channel
limit (about 30 messages a minute, shared by every webhook in a channel)
as a sliding window, and we count the 401/403/429 answers that Discord
bans an IP for (10,000 in 10 minutes), pausing long before that.

Every number an answer carries is checked: negative waits count as none,
a value that is not a number (``NaN``, ``soon``, a list) as missing, and
an infinite or absurd one as "longer than we wait". We never send before
the time an answer names (an early retry draws another 429, and those
count toward the ban), but a wait past its cap (:data:`CAPS`) marks the
destination as failing: :attr:`Wait.excessive` says so, and the engine
then treats its messages as it treats a server that does not answer.
"""

from __future__ import annotations

import math
import re
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["CAPS", "RateLimiter", "TooMany", "Wait"]

#: Discord's hidden per-channel limit: messages per window (seconds).
CHANNEL_MESSAGES = 30
CHANNEL_WINDOW = 60.0
#: Discord bans an IP at 10,000 invalid requests in 10 minutes; we stop at
#: a twentieth of that.
INVALID_WINDOW = 600.0
INVALID_BUDGET = 500
#: A 429 without rate-limit headers comes from Cloudflare, not Discord's
#: API: the IP is blocked for a while. Waiting a few seconds would only
#: extend the block.
CLOUDFLARE_PAUSE = 300.0
#: Added to every reset Discord announces: clocks and networks are not
#: exact, and arriving a moment late costs less than a 429.
RESET_MARGIN = 0.05
#: The longest wait one answer may ask for before its destination counts
#: as failing, by the scope of the wait: Discord's own bucket resets and
#: 429s last seconds (the hidden per-channel limit about 45 s), a global
#: or Cloudflare block minutes. Our own limits (``channel``, ``invalid``)
#: have no cap: they are bounded by their windows.
BUCKET_CAP = 60.0
GLOBAL_CAP = 300.0
CAPS = {"bucket": BUCKET_CAP, "global": GLOBAL_CAP, "cloudflare": GLOBAL_CAP}
#: Waits are kept finite: an "infinite" one is this long (about 31 years).
LONGEST = 1e9


@dataclass(slots=True)
class _Bucket:
    remaining: int | None = None
    reset_at: float = 0.0
    #: what the answers said of a whole window, for projections only:
    #: its requests (``X-RateLimit-Limit``) and the longest reset seen
    limit: int | None = None
    period: float = 0.0


@dataclass(frozen=True, slots=True)
class Wait:
    """
    How long a destination must wait before it sends, and why.

    Attributes:
        seconds: The wait; ``0.0`` means now.
        scope: What imposes the longest wait: ``bucket`` (its bucket or a
            429 on it), ``global``, ``cloudflare``, ``channel`` (the
            per-channel limit), ``invalid`` (the ban budget), or ``""``.
    """

    seconds: float
    scope: str = ""

    @property
    def excessive(self) -> bool:
        """Longer than any answer may hold a destination (:data:`CAPS`)."""
        return _excessive(self.seconds, self.scope)


@dataclass(frozen=True, slots=True)
class TooMany:
    """
    What a 429 meant.

    Attributes:
        retry_after: Seconds before this request may be tried again.
        scope: ``bucket``, ``global`` or ``cloudflare``.
        counts_as_invalid: Whether it counts toward Discord's ban limit.
    """

    retry_after: float
    scope: str
    counts_as_invalid: bool


class RateLimiter:
    """
    When each destination may send next.

    *key* names a destination (a webhook's id and token, or a bot channel);
    *channel* the Discord channel it posts to, for the per-channel limit.
    A key without its query (``?thread_id=``) is a route; routes that
    Discord puts in one ``X-RateLimit-Bucket`` for one major parameter
    (the webhook, or the channel) share that bucket's state.

    Args:
        channel_messages: Messages per channel per *channel_window*.
        channel_window: Seconds of the per-channel sliding window.
        cloudflare_pause: Seconds to stop everything after a Cloudflare 429.
    """

    def __init__(
        self,
        *,
        channel_messages: int = CHANNEL_MESSAGES,
        channel_window: float = CHANNEL_WINDOW,
        cloudflare_pause: float = CLOUDFLARE_PAUSE,
    ) -> None:
        self._channel_messages = channel_messages
        self._channel_window = channel_window
        #: a channel that fell behind sends its ordinary messages, past
        #: a few in its window (3 of 30), at a steady pace that leaves
        #: those few to warnings (27 a minute: one every 2.2 s): a burst
        #: never fills the window for the minute that follows, so a
        #: warning, and a fold's summary, find a place within seconds
        self._burst = channel_messages // 10
        self._pace = channel_window / max(channel_messages - self._burst, 1)
        self._cloudflare_pause = cloudflare_pause
        self._bucket_of: dict[str, str] = {}  # route -> learned bucket
        # (bucket, major) once a route has learned its bucket, else
        # ("", route): see _name
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self._paused_until: dict[str, float] = {}  # key -> after a 429
        self._channel_sends: dict[str, deque[float]] = {}
        # scope (global, cloudflare) -> until: pauses of every destination
        self._paused_all: dict[str, float] = {}
        self._invalid: deque[float] = deque()

    def _name(self, route: str) -> tuple[str, str]:
        # Discord's bucket hash leaves out the "major parameter" (the
        # channel, or the webhook's id and token): a bucket's state is
        # per both, shared by every route that learns it. A route that
        # has learned none yet keeps its own.
        learned = self._bucket_of.get(route)
        return (learned, _major(route)) if learned else ("", route)

    def _bucket(self, key: str) -> _Bucket:
        name = self._name(_route(key))
        found = self._buckets.get(name)
        if found is None:
            found = self._buckets[name] = _Bucket()
        return found

    def delay(self, key: str, channel: str, now: float) -> float:
        """Seconds to wait before *key* may send; ``0`` means now."""
        return self.wait(key, channel, now).seconds

    def wait(
        self, key: str, channel: str, now: float, *, paced: bool = False
    ) -> Wait:
        """
        How long *key* must wait before it sends, and for what.

        *paced*: an ordinary message (below warning), which also waits
        for the channel's pace since its last message.
        """
        # every wait is until a time; -inf stands for none
        waits = [Wait(t - now, scope) for scope, t in self._paused_all.items()]
        paused = self._paused_until.get(key, -math.inf)
        waits.append(Wait(paused - now, "bucket"))
        waits.append(Wait(_holds_until(self._bucket(key)) - now, "bucket"))
        sends = self._channel_sends.get(channel)
        if sends is not None:
            while sends and sends[0] <= now - self._channel_window:
                sends.popleft()
            if paced and sends and len(sends) >= self._burst:
                waits.append(Wait(sends[-1] + self._pace - now, "channel"))
            if len(sends) >= self._channel_messages:
                waits.append(
                    Wait(sends[0] + self._channel_window - now, "channel")
                )
        if len(self._invalid) >= INVALID_BUDGET:
            while self._invalid and self._invalid[0] <= now - INVALID_WINDOW:
                self._invalid.popleft()
            if len(self._invalid) >= INVALID_BUDGET:
                waits.append(
                    Wait(self._invalid[0] + INVALID_WINDOW - now, "invalid")
                )
        longest = max(waits, key=lambda w: w.seconds)
        return longest if longest.seconds > 0 else Wait(0.0)

    def schedule(
        self, key: str, channel: str, now: float, n: int
    ) -> list[float]:
        """
        When *key*'s next *n* ordinary messages could leave, at the earliest.

        A projection, for deciding how far behind a destination is: the
        wait in force now, then the channel's pace and window and the
        bucket's window as its answers described it (``X-RateLimit-Limit``
        requests per the longest reset seen), as if *key* alone sent on
        *channel*. Nothing is noted.
        """
        t = now + self.wait(key, channel, now, paced=True).seconds
        window = [
            s
            for s in self._channel_sends.get(channel, ())
            if s > now - self._channel_window
        ]
        most = self._channel_messages
        bucket = self._bucket(key)
        remaining, reset_at = bucket.remaining, bucket.reset_at
        out: list[float] = []
        for _ in range(max(n, 0)):
            if window and len(window) >= self._burst:
                t = max(t, window[-1] + self._pace)
            if len(window) >= most:
                t = max(t, window[-most] + self._channel_window)
            if remaining is not None and bucket.limit is not None:
                if t >= reset_at:  # a new window of the bucket
                    remaining, reset_at = bucket.limit, t + bucket.period
                elif remaining <= 0:
                    t = reset_at
                    remaining, reset_at = bucket.limit, t + bucket.period
                remaining -= 1
            window.append(t)
            out.append(t)
        return out

    def sending(self, key: str, channel: str, now: float) -> None:
        """Note a request about to go out (it counts before it returns)."""
        bucket = self._bucket(key)
        if bucket.remaining is not None:
            if now >= bucket.reset_at:
                bucket.remaining = None  # a new window: we learn it anew
            else:
                bucket.remaining -= 1
        self._channel_sends.setdefault(channel, deque()).append(now)

    def update(self, key: str, headers: Mapping[str, str], now: float) -> None:
        """Learn the bucket's state from a response's headers."""
        name = headers.get("x-ratelimit-bucket")
        if name:
            self._learn(_route(key), name)
        remaining = _number(headers.get("x-ratelimit-remaining"))
        reset_after = _seconds(headers.get("x-ratelimit-reset-after"))
        if remaining is None or reset_after is None:
            return
        bucket = self._bucket(key)
        # a negative count is as good as none left; a huge one is kept
        # within what an int holds cheaply
        bucket.remaining = int(min(max(remaining, 0.0), LONGEST))
        bucket.reset_at = now + reset_after + RESET_MARGIN
        limit = _number(headers.get("x-ratelimit-limit"))
        if limit is not None and limit >= 1:
            bucket.limit = int(min(limit, LONGEST))
            bucket.period = min(max(bucket.period, reset_after), BUCKET_CAP)

    def _learn(self, route: str, name: str) -> None:
        """Note that *route* is in bucket *name*, keeping what it knew."""
        before = self._name(route)
        self._bucket_of[route] = name
        after = self._name(route)
        if after == before:
            return
        old = self._buckets.get(before)
        if old is None:
            return
        # the old state goes when no other route is in it (a server
        # naming a new bucket on every answer grows nothing), or is
        # copied when one still is
        if any(self._name(r) == before for r in self._bucket_of):
            old = _Bucket(old.remaining, old.reset_at, old.limit, old.period)
        else:
            del self._buckets[before]
        # what the route knew carries over; into a bucket known already,
        # only a longer wait: we never send before an answer said
        known = self._buckets.setdefault(after, old)
        if _holds_until(old) > _holds_until(known):
            known.remaining, known.reset_at = old.remaining, old.reset_at

    def too_many(
        self,
        key: str,
        headers: Mapping[str, str],
        body: Any,
        now: float,
    ) -> TooMany:
        """
        Take in a 429: pause what it says to pause, and say for how long.

        ``retry_after`` comes from the body, else ``Retry-After``. With
        ``global: true`` in the body, or ``X-RateLimit-Global: true`` or
        ``X-RateLimit-Scope: global`` in the headers, everything waits;
        without any rate-limit header the answer came from Cloudflare and
        everything waits long. A pause never shortens one in force.
        """
        data = body if isinstance(body, Mapping) else {}
        retry = _seconds(data.get("retry_after"))
        if retry is None:
            retry = _seconds(headers.get("retry-after"))
        retry = (1.0 if retry is None else retry) + RESET_MARGIN
        shared = _flag(headers, "x-ratelimit-scope") == "shared"
        if not any(h.startswith("x-ratelimit-") for h in headers):
            scope = "cloudflare"
            retry = max(retry, self._cloudflare_pause)
            self._pause_all(now + retry, scope)
        elif (
            data.get("global") is True
            or _flag(headers, "x-ratelimit-global") == "true"
            or _flag(headers, "x-ratelimit-scope") == "global"
        ):
            scope = "global"
            self._pause_all(now + retry, scope)
        else:
            scope = "bucket"
            self.update(key, headers, now)
            until = max(self._paused_until.get(key, now), now + retry)
            self._paused_until[key] = until
        if not shared:
            self.invalid(now)
        return TooMany(retry, scope, counts_as_invalid=not shared)

    def _pause_all(self, until: float, scope: str) -> None:
        self._paused_all[scope] = max(
            self._paused_all.get(scope, until), until
        )

    def invalid(self, now: float) -> None:
        """Count an answer Discord counts toward its ban (401, 403, 429)."""
        self._invalid.append(now)
        while self._invalid and self._invalid[0] <= now - INVALID_WINDOW:
            self._invalid.popleft()

    @property
    def invalid_count(self) -> int:
        """Invalid answers in the current 10-minute window."""
        return len(self._invalid)


_WEBHOOK = re.compile(r"/webhooks/(\d+)/([^/?#]+)")


def _route(key: str) -> str:
    """
    The route a key stands for: the key without its query.

    Threads of one webhook (``?thread_id=``) are one route at Discord.
    """
    return key.partition("?")[0]


def _major(key: str) -> str:
    """
    The major parameter a key stands for.

    For a webhook, its id and token (threads of one webhook share them);
    otherwise the key itself.
    """
    found = _WEBHOOK.search(key)
    return f"webhook:{found.group(1)}/{found.group(2)}" if found else key


def _number(value: Any) -> float | None:
    """
    *value* as a number, or ``None`` when it is not one.

    Infinities stay (the callers bound them); ``NaN``, text that is no
    number, booleans and containers are ``None``.
    """
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except OverflowError:  # an int too large for a float
        return math.inf if value > 0 else -math.inf
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def _seconds(value: Any) -> float | None:
    """
    A duration from an answer: ``None`` if unreadable, within [0, LONGEST].

    A negative wait is no wait; an infinite one the longest we know.
    """
    number = _number(value)
    if number is None:
        return None
    return min(max(number, 0.0), LONGEST)


def _holds_until(bucket: _Bucket) -> float:
    """When an exhausted bucket resets; ``-inf`` if it has room."""
    if bucket.remaining is not None and bucket.remaining <= 0:
        return bucket.reset_at
    return -math.inf


def _excessive(seconds: float, scope: str) -> bool:
    cap = CAPS.get(scope)
    return cap is not None and seconds > cap + RESET_MARGIN


def _flag(headers: Mapping[str, str], name: str) -> str:
    """A header's value as a word: stripped, lower case, ``""`` if none."""
    return headers.get(name, "").strip().lower()
