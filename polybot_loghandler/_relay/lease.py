"""
The lease: which relay delivers, and whether it still surely does.

The lease is one Redis key, ``"<relay id>|<fencing token>"`` with a
time to live. A relay takes it when it is free (or its own from a
session that failed), renews it every second, and gives it up when it
stops. Every change a relay makes checks the value first (see
:mod:`.scripts`), so a relay whose lease passed to another changes
nothing. Sending to Discord cannot be checked so: :meth:`Lease.sure`
says no once Redis has not confirmed the lease for a while, well before
it could pass to another relay.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from .connect import decoded
from .keys import Keys

__all__ = ["SURE_FOR", "Lease"]

#: The share of the lease's time a relay goes on sending after Redis
#: last confirmed it: it stops before anyone else can take the lease.
SURE_FOR = 0.6


class Lease:
    """
    One relay's hold on the lease.

    Args:
        scripts: The registered scripts, by name (``ACQUIRE``, ``RENEW``,
            ``RELEASE``).
        owner: The relay's id.
        ttl: Seconds the lease lasts unless renewed.
        clock: Monotonic seconds.
    """

    def __init__(
        self,
        scripts: dict[str, Any],
        owner: str,
        ttl: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._scripts = scripts
        self._owner = owner
        self.ttl = ttl
        self._clock = clock
        #: the lease's value while this relay holds it, else ``None``
        self.value: str | None = None
        #: set when another relay holds it: this one must stop
        self.lost = asyncio.Event()
        self._confirmed = float("-inf")  # when Redis last confirmed it

    @property
    def _ms(self) -> int:
        return int(self.ttl * 1000)

    async def take(self) -> bool:
        """Take the lease if it is free (or ours); whether it was."""
        asked = self._clock()  # it runs from no later than this
        value = await self._scripts["ACQUIRE"](
            keys=[Keys.lease, Keys.fence], args=[self._owner, self._ms]
        )
        if value is None:
            return False
        self.value = decoded(value)
        self._confirmed = asked
        self.lost = asyncio.Event()
        return True

    async def renew(self) -> None:
        """
        Renew it, or take it again if Redis forgot it (a fresh server).

        Sets :attr:`lost` when another relay holds it.

        Raises:
            Exception: Redis did not answer; :meth:`sure` tells whether
                to go on sending meanwhile.
        """
        asked = self._clock()
        kept = await self._scripts["RENEW"](
            keys=[Keys.lease], args=[self.value, self._ms]
        )
        if kept is not None:
            self._confirmed = asked
        elif not await self.take():
            self.lost.set()

    async def release(self) -> None:
        """Give it up now, if it is still ours: a standby takes over."""
        if self.value is not None:
            await self._scripts["RELEASE"](
                keys=[Keys.lease], args=[self.value]
            )
        self.value = None

    def sure(self) -> bool:
        """
        Whether it is surely still ours for a while yet.

        Judged by the time since Redis last confirmed it, not by a
        renewal failing: a Redis that does not answer fails a call only
        after its timeout, by when another relay may hold the lease.
        """
        return self._clock() - self._confirmed < self.ttl * SURE_FOR
