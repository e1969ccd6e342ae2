"""
The mutes in Redis: the ``Keys.mutes`` hash, from the command line.

``polybot-loghandler mute`` with the relay on writes here; the relay
reads the hash and holds back what it names. Each field is a route's,
watch's or digest's name, each value the JSON of
:func:`polybot_loghandler._watching.mutes.encode`.
"""

from __future__ import annotations

from typing import Any

from polybot_loghandler._watching.mutes import KEEP_ENDED, decode, encode
from polybot_loghandler._watching.watching import Mute

from .connect import decoded
from .keys import Keys

__all__ = ["RedisMutes", "read_mutes"]


def read_mutes(client: Any) -> dict[str, Mute]:
    """Every mute in the hash (in force or ended lately), by name."""
    out = {}
    for name, value in client.hgetall(Keys.mutes).items():
        mute = decode(value)
        if mute is not None:
            out[decoded(name)] = mute
    return out


class RedisMutes:
    """
    The mutes of one Redis database (redis-py's sync client).

    Args:
        client: The client; its errors are the caller's to tell.
        url: The Redis URL as people may see it (password hidden).
    """

    def __init__(self, client: Any, url: str) -> None:
        self._client = client
        self.where = f"Redis {url}"

    def read(self) -> dict[str, Mute]:
        """The mutes kept."""
        return read_mutes(self._client)

    def write(self, name: str, mute: Mute, now: float) -> None:
        """Keep *mute* for *name*; forget mutes that ended a day before."""
        stale = [
            other
            for other, kept in read_mutes(self._client).items()
            if kept.until < now - KEEP_ENDED and other != name
        ]
        with self._client.pipeline(transaction=True) as pipe:
            pipe.hset(Keys.mutes, name, encode(mute))
            if stale:
                pipe.hdel(Keys.mutes, *stale)
            pipe.execute()
