"""
The active relay keeps the floor's state in Redis, each entry once.

With a ``state:`` section, the active relay reads the stream from a
*cursor* (the last entry applied), plain ``XRANGE``, beside its consumer
group, feeds the captured events to a :class:`FloorState`, and saves
the rows and sums that changed with the new cursor in one fenced script
(``SAVE_FLOOR``), about every half second. Sums are added to, so an
entry applied twice would count twice: a relay that dies before its
save leaves the cursor where the saved state is (the next one reads
those entries again, on that state), and one that saved moved both at
once. The save also checks that the saved cursor is still the one its
state was loaded at, so a relay that stalled, or whose Redis lost the
state, saves nothing on a state it does not hold.

It is a task of its own: it reads for itself and never waits on
delivery, nor delivery on it. Redis away: it keeps what it read and
tries again; a fault of its own: it starts again from the saved state.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import anyio
import anyio.to_thread

from polybot_loghandler._diagnostics import say
from polybot_loghandler._events import LogEvent
from polybot_loghandler._floor.model import StateSpec
from polybot_loghandler._floor.state import FloorState
from polybot_loghandler._watching.watching import Output

from .connect import decoded, from_redis
from .floorstore import FloorView, Meta, Pending, read_floor
from .keys import Keys
from .wire import read_entry

__all__ = ["FloorKeeper"]

#: Entries read at a time; a save is due after this many.
READ_COUNT = 500
SAVE_COUNT = 500
#: Seconds between saves while entries come in.
SAVE_EVERY = 0.5
#: Milliseconds a read waits for new entries once caught up.
BLOCK_MS = 1000
#: Seconds before trying again after a failure; and between looks for
#: a spec when there is none.
RETRY_EVERY = 0.5
IDLE_EVERY = 1.0


class FloorKeeper:
    """
    The floor's state, in memory while this relay is active, and saved.

    Args:
        client: The relay's asyncio Redis client.
        scripts: Its registered scripts (``READ_FLOOR``, ``SAVE_FLOOR``).
        holder: The lease's value while the relay holds it.
        spec: The routing file's ``state:`` now (``None``: none).
        failed: Told of what failed (Redis, or a fault); not raised.
        name: The relay's id, saved with the state.
    """

    def __init__(  # noqa: PLR0913 - the relay's seams
        self,
        client: Any,
        scripts: dict[str, Any],
        *,
        holder: Callable[[], str | None],
        spec: Callable[[], StateSpec | None],
        failed: Callable[[BaseException], None],
        name: str,
    ) -> None:
        self._client = client
        self._scripts = scripts
        self._holder = holder
        self._spec = spec
        self._failed = failed
        self._name = name
        #: the state, and its meta as of the last save (None: to load)
        self.state: FloorState | None = None
        self.meta = Meta()
        self._saved = ""  # the cursor Redis holds, as this state knows
        self._position = "0-0"  # the last entry applied in memory
        self._pending = Pending()
        self._saved_at = float("-inf")

    async def run(self) -> None:
        """Keep the state until cancelled; never raises."""
        while True:
            spec = self._spec()
            try:
                if spec is None:
                    self.state = None
                    await anyio.sleep(IDLE_EVERY)
                    continue
                state = self.state
                if state is not None and state.spec is not spec:
                    if self._pending:  # a reload: what the old one made
                        await self.save()
                    self.state = None
                if self.state is None:
                    await self.load(spec)
                await self.step()
            except Exception as exc:
                self._failed(exc)
                if not from_redis(exc):  # ours: start again from Redis
                    self.state = None
                await anyio.sleep(RETRY_EVERY)

    async def load(self, spec: StateSpec) -> FloorView:
        """Read the saved state; what the spec no longer has goes."""
        view = await read_floor(self._client, spec)
        meta = view.meta
        self.state, self.meta, self._pending = view.state, meta, Pending()
        self._saved = meta.cursor
        self._position = meta.cursor or "0-0"
        for key, names in view.stale.items():
            self._pending.delete(key, names)
        tables = {t.name for t in spec.tables}
        totals = {t.name for t in spec.totals}
        gone = [t for t in meta.tables if t not in tables]
        gone_totals = [t for t in meta.totals if t not in totals]
        for name in gone:
            self._pending.delete(Keys.floor_rows + name)
        for name in gone_totals:
            self._pending.delete(Keys.floor_sums + name)
        if gone or gone_totals:
            say(
                f"relay {self._name}: the floor's state no longer has "
                + ", ".join(gone + gone_totals)
                + "; what was kept of them is deleted"
            )
        meta.fingerprint = view.fingerprint
        meta.tables = tuple(t.name for t in spec.tables)
        meta.totals = tuple(t.name for t in spec.totals)
        self._pending.entries += 1  # saved at once, with the spec's meta
        self._saved_at = float("-inf")
        return view

    async def step(self) -> None:
        """Save if due, read what follows, and wait if nothing did."""
        pending = self._pending
        late = time.monotonic() - self._saved_at >= SAVE_EVERY
        if (
            pending
            and (pending.entries >= SAVE_COUNT or late)
            and not await self.save()
        ):
            await anyio.sleep(RETRY_EVERY)
            return
        if await self.read() >= READ_COUNT:
            return
        if self._pending:  # caught up: save when due
            wait = self._saved_at + SAVE_EVERY - time.monotonic()
            await anyio.sleep(max(wait, 0.0))
        else:  # caught up and saved: wait for the next entry
            await self._client.xread(
                {Keys.stream: self._position}, count=1, block=BLOCK_MS
            )

    async def read(self) -> int:
        """Apply the entries after the position; how many were read."""
        reply = await self._scripts["READ_FLOOR"](
            keys=[Keys.stream], args=[self._position, READ_COUNT]
        )
        entries, added, length = reply
        self._skip_trimmed(int(added), int(length))
        if entries:
            await anyio.to_thread.run_sync(self._apply, entries)
        return len(entries)

    def _skip_trimmed(self, added: int, length: int) -> None:
        """
        Count the entries trimmed before they were applied.

        Trimming removes the stream's oldest entries. On Redis 7, which
        says how many entries the stream was ever given, those removed
        are the given less the length; the position's *ordinal* is how
        many were given up to it, so removed past it are those less the
        ordinal (reading after the position goes on past them). A state
        never saved begins with what the stream holds: what was removed
        before is not counted. Redis before 7.0: not counted.
        """
        meta = self.meta
        if added < 0:
            return
        removed = added - length
        if meta.ordinal < 0 or added < meta.ordinal:  # new, or a new stream
            meta.ordinal = removed
        elif removed > meta.ordinal:
            meta.trimmed += removed - meta.ordinal
            meta.ordinal = removed
            self._pending.entries += 1  # said in the meta: to save

    def _apply(self, entries: list[Any]) -> None:
        """In a thread: feed each entry's event; the position follows."""
        state = self.state
        assert state is not None
        meta = self.meta
        for entry, fields in entries:
            try:
                found = read_entry(fields)
            except Exception:  # the relay counts and says it
                state.errors["entry: malformed"] += 1
            else:
                if not isinstance(found, (dict, Output)):
                    self._pending.add(
                        state.feed(LogEvent.from_raw(found)).changes
                    )
            self._position = decoded(entry)
            if meta.ordinal >= 0:
                meta.ordinal += 1
            self._pending.entries += 1

    async def save(self) -> bool:
        """
        Save the changes and the position, if the lease is still ours.

        Returns whether it saved. When the state in Redis is not the one
        this was loaded from (another relay saved, Redis lost it, or an
        answer was lost after the save), it is loaded again.
        """
        state, holder = self.state, self._holder()
        if state is None:
            return False
        if holder is None:  # not active now: the relay finds out
            self.state = None
            return False
        meta = self.meta
        meta.cursor, meta.updated, meta.relay = (
            self._position,
            time.time(),
            self._name,
        )
        fields = meta.fields(state.errors)
        keys, args = self._pending.script_args()
        done = await self._scripts["SAVE_FLOOR"](
            keys=[Keys.lease, Keys.floor_meta, *keys],
            args=[holder, self._saved, len(fields) // 2, *fields, *args],
        )
        if done != 1:  # not our lease (None), or not our state (0)
            self.state = None
            return False
        self._saved = self._position
        self._pending = Pending()
        self._saved_at = time.monotonic()
        return True
