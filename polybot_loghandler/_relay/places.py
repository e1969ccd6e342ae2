"""
The boards and threads with the relay: their ids in Redis.

With ``delivery.relay``, the ids Discord gave each board's message and
each thread made (see :mod:`polybot_loghandler._places`) are kept in
one hash, ``Keys.places``, so that the next active relay, after a
restart or a failover, edits the same boards and posts into the same
threads. One field per kind, destination and key: the three as a JSON
array (a key is any text, and JSON escapes whatever it holds); its
value the rest, as JSON::

    ["board","webhook:1001","feeds"] -> {"id":"1234","thread":"","at":
                                        1767225600.0,"used":1767225600.0}

Every change is a fenced script (:data:`.scripts.SAVE_PLACE`,
:data:`.scripts.FORGET_PLACES`), as every change a relay makes: a relay
whose lease passed to another changes nothing. Reading back forgets
what was not used for :data:`~polybot_loghandler._places.KEEP_FOR` and
the longest unused past :data:`~polybot_loghandler._places.MOST`, so
the hash stays bounded; what does not read as a place this library
wrote is ignored and left alone.

Threads: the engine asks from its own thread, and the relay's client
belongs to the relay's loop. :class:`RedisPlaces` hands each call to
that loop and waits for its answer, so every Redis call runs where the
relay's others run. A call that fails, or a relay not connected or not
active, raises to :class:`~polybot_loghandler._places.Places`, which
goes on in memory.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from polybot_loghandler._places import (
    BOARD,
    KEEP_FOR,
    MOST,
    THREAD,
    Posted,
    posted_from,
)

from . import scripts
from .connect import loads
from .keys import Keys

__all__ = [
    "WAIT",
    "RedisPlaces",
    "place_field",
    "place_value",
    "read_kind",
    "read_place",
]

_T = TypeVar("_T")

#: Seconds the engine waits for the relay's loop to answer one call:
#: longer than the client's own timeout, which answers first.
WAIT = 6.0
#: Longest field or value read back, in bytes (a place's are far less).
_LARGEST = 4096
#: Fields read per HSCAN, and forgotten per script call.
_CHUNK = 1000

#: The client, its registered scripts, and the loop it belongs to.
_Link = tuple[Any, dict[str, Any], asyncio.AbstractEventLoop]


class RedisPlaces:
    """
    A :class:`~polybot_loghandler._places.PlaceStore` in Redis.

    Made with the relay, before its client is; :meth:`attach` gives it
    the client once there is one.

    Args:
        holder: The lease's value while the relay is active, else
            ``None`` (every change is fenced by it).
        wall: Wall-clock seconds (to forget what was unused for long).
        most: Places kept at most.
        keep_for: Seconds one is kept without use.
    """

    def __init__(
        self,
        holder: Callable[[], str | None],
        wall: Callable[[], float],
        *,
        most: int = MOST,
        keep_for: float = KEEP_FOR,
    ) -> None:
        self._holder = holder
        self._wall = wall
        self._most = most
        self._keep_for = keep_for
        self._link: _Link | None = None

    def attach(self, client: Any, loop: asyncio.AbstractEventLoop) -> None:
        """Use *client* (``redis.asyncio``), which belongs to *loop*."""
        registered = {
            name: client.register_script(getattr(scripts, name))
            for name in ("SAVE_PLACE", "FORGET_PLACES")
        }
        self._link = (client, registered, loop)

    def detach(self) -> None:
        """The client is closing: calls fail from now on."""
        self._link = None

    # -- the PlaceStore -------------------------------------------------

    def load(self) -> list[Posted]:
        """
        Every place kept and used lately, the most recently used last.

        Forgets, in Redis too, those unused for longer than *keep_for*,
        and the longest unused beyond *most*.
        """
        return self._call(self._load)

    def save(self, place: Posted) -> None:
        """Keep *place*, replacing the one of its slot."""
        field, value = place_field(place.slot), place_value(place)

        async def save(registered: dict[str, Any]) -> None:
            await registered["SAVE_PLACE"](
                keys=[Keys.lease, Keys.places],
                args=[self._fence(), field, value],
            )

        self._call(lambda _client, registered: save(registered))

    def forget(self, slot: tuple[str, str, str]) -> None:
        """Forget the place of *slot*, if kept."""
        field = place_field(slot)

        async def forget(registered: dict[str, Any]) -> None:
            await self._forget(registered, [field])

        self._call(lambda _client, registered: forget(registered))

    # -- the work, on the relay's loop ----------------------------------

    async def _load(
        self, client: Any, registered: dict[str, Any]
    ) -> list[Posted]:
        now = self._wall()
        found: dict[bytes | str, Posted] = {}
        gone: list[bytes | str] = []
        cursor = 0
        while True:
            cursor, page = await client.hscan(
                Keys.places, cursor, count=_CHUNK
            )
            for field, value in page.items():
                place = read_place(field, value)
                if place is None:  # not one this library wrote
                    continue
                if now - place.used > self._keep_for:
                    gone.append(field)
                else:
                    found[field] = place  # HSCAN may give one twice
            if not cursor:
                break
        kept = sorted(found.items(), key=lambda item: item[1].used)
        over = len(kept) - self._most
        if over > 0:
            gone += [field for field, _ in kept[:over]]
            kept = kept[over:]
        if gone:
            await self._forget(registered, list(dict.fromkeys(gone)))
        return [place for _, place in kept]

    async def _forget(
        self, registered: dict[str, Any], fields: list[Any]
    ) -> None:
        fence = self._fence()
        for start in range(0, len(fields), _CHUNK):
            await registered["FORGET_PLACES"](
                keys=[Keys.lease, Keys.places],
                args=[fence, *fields[start : start + _CHUNK]],
            )

    def _fence(self) -> str:
        held = self._holder()
        if held is None:
            msg = "the relay is not active: it changes nothing in Redis"
            raise RuntimeError(msg)
        return held

    def _call(
        self, work: Callable[[Any, dict[str, Any]], Awaitable[_T]]
    ) -> _T:
        """Run *work* on the relay's loop, and wait for its answer."""
        link = self._link
        if link is None:
            msg = "the relay is not connected to Redis"
            raise RuntimeError(msg)
        client, registered, loop = link
        try:
            running: asyncio.AbstractEventLoop | None = (
                asyncio.get_running_loop()
            )
        except RuntimeError:
            running = None
        if running is loop:  # it would wait for itself
            msg = "the places are read from another thread than the relay's"
            raise RuntimeError(msg)

        async def run() -> _T:
            return await work(client, registered)

        call = run()
        try:
            future = asyncio.run_coroutine_threadsafe(call, loop)
        except RuntimeError:  # the relay's loop has ended
            call.close()
            raise
        try:
            return future.result(WAIT)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise


def place_field(slot: tuple[str, str, str]) -> str:
    """A slot (kind, destination, key) as its field: a JSON array."""
    return json.dumps(list(slot), ensure_ascii=False, separators=(",", ":"))


def place_value(place: Posted) -> str:
    """What is kept of *place* beside its slot, as JSON."""
    about = {
        "id": place.id,
        "thread": place.thread,
        "at": place.at,
        "used": place.used,
    }
    return json.dumps(about, ensure_ascii=False, separators=(",", ":"))


def read_place(field: Any, value: Any) -> Posted | None:
    """A field and its value as a place, or ``None`` if not one of ours."""
    slot, about = _json(field), _json(value)
    if not (
        isinstance(slot, list) and len(slot) == 3 and isinstance(about, dict)
    ):
        return None
    kind, dest, key = slot
    return posted_from(
        (
            kind,
            dest,
            key,
            about.get("id"),
            about.get("thread", ""),
            about.get("at"),
            about.get("used"),
        )
    )


def read_kind(field: Any) -> str | None:
    """The kind of place a field is of (for ``relay status``), or ``None``."""
    slot = _json(field)
    if (
        isinstance(slot, list)
        and len(slot) == 3
        and slot[0] in (BOARD, THREAD)
    ):
        return str(slot[0])
    return None


def _json(data: Any) -> Any:
    """*data* (Redis's bytes) read as JSON; ``None`` if it is not."""
    return loads(data, _LARGEST)
