"""
The active relay's upkeep in Redis: its status, and forgetting the gone.

``relay status`` reads what :func:`status_fields` writes; producers and
relays that stopped without a word (``kill -9``) are forgotten after an
hour, and consumers of the group that hold nothing (gone relays) are
removed, so what ``relay status`` reads stays small.
"""

from __future__ import annotations

import json
import time
from typing import Any

from .connect import decoded
from .keys import GROUP, Keys

__all__ = ["FORGET_AFTER", "forget_consumers", "forget_gone", "take_trimmed"]

#: Seconds a producer or relay is kept after it was last heard of.
FORGET_AFTER = 3600.0


async def take_trimmed(client: Any) -> int:
    """The entries trimmed unread since the last look (the APPEND count)."""
    trimmed = int(await client.hget(Keys.counters, "trimmed") or 0)
    if trimmed > 0:
        await client.hincrby(Keys.counters, "trimmed", -trimmed)
    return max(trimmed, 0)


async def forget_gone(client: Any, now: float | None = None) -> None:
    """Forget producers and relays not heard of for FORGET_AFTER s."""
    now = time.time() if now is None else now
    for key in (Keys.producers, Keys.relays):
        gone = []
        for member, about in (await client.hgetall(key)).items():
            try:
                seen = float(json.loads(about).get("seen", 0))
            except (ValueError, TypeError, AttributeError):
                seen = 0.0  # not ours to read: not kept either
            if now - seen > FORGET_AFTER:
                gone.append(member)
        if gone:
            await client.hdel(key, *gone)


async def forget_consumers(client: Any, keep: str) -> None:
    """Remove the group's consumers that hold nothing, but *keep*."""
    for consumer in await client.xinfo_consumers(Keys.stream, GROUP):
        name = decoded(consumer.get("name"))
        if name != keep and not consumer.get("pending"):
            await client.xgroup_delconsumer(Keys.stream, GROUP, name)
