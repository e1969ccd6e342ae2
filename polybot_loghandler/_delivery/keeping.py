"""
The watches' state and the mutes, kept in the spool, for one engine.

With ``delivery.spool`` (and no relay), the engine keeps what its
watches and digests know in the spool's database, and reads the mutes
that ``polybot-loghandler mute`` wrote there. :class:`Keeping` is the
engine's one seam to both: :meth:`~Keeping.start` before any event (the
state a stopped process left; the mutes in force), :meth:`~Keeping.run`
about once a second, :meth:`~Keeping.stop` at the end, after the last
digests were handed out. The state is :class:`.keepstate.StateKeeper`'s,
the mutes :class:`.muting.MuteWatch`'s.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from polybot_loghandler._diagnostics import Diagnostics, say
from polybot_loghandler._routing import RoutingHolder
from polybot_loghandler._spool import mutes as spool_mutes
from polybot_loghandler._spool.db import Database
from polybot_loghandler._spool.keeper import SpoolKeeper
from polybot_loghandler._spool.store import SpoolEntry
from polybot_loghandler._stats import Stats
from polybot_loghandler._watching.watching import Mute

from .keepstate import StateKeeper, routing_key
from .ledger import Ledger
from .muting import MuteWatch, ended_line, ended_text

__all__ = ["Keeping"]


class Keeping:
    """
    The state and the mutes of one engine's watching, in its spool.

    Args:
        routing: The routing (its watching, clock and ops channel).
        keeper: The engine's spool.
        stats: The counters.
        diagnostics: Where problems are said once.
        ledger: The engine's ledger of the run (it tells the ops channel).
        left_over: Sends what a process left in the spool, when opening
            it finds some (while the engine runs).
    """

    def __init__(  # noqa: PLR0913 - the engine's parts it uses
        self,
        routing: RoutingHolder,
        keeper: SpoolKeeper,
        *,
        stats: Stats,
        diagnostics: Diagnostics,
        ledger: Callable[[], Ledger],
        left_over: Callable[[list[SpoolEntry]], None],
    ) -> None:
        self._routing = routing
        self._keeper = keeper
        self._stats = stats
        self._diag = diagnostics
        self._ledger = ledger
        self._left_over = left_over
        self._running = False
        self.state = StateKeeper(
            routing.watching,
            routing_key(routing.config.path),
            spool=self._database,
            wall=routing.wall,
            count=stats.count,
            warn=diagnostics.warn,
        )
        self.mutes = MuteWatch(routing.watching, self._read, self._ended)

    def start(self) -> None:
        """Before any event: the state a stopped process left; the mutes."""
        self._running = True
        self.state.load()
        self.mutes.check(self._routing.wall())

    def run(self) -> None:
        """The periodic job: read the mutes, save the state if changed."""
        self.mutes.check(self._routing.wall())
        self.state.save()

    def stop(self) -> None:
        """At the end, after the last hand-out: save the state, let it go."""
        self._running = False
        try:
            self.state.save(final=True)
        except Exception as exc:  # the spool is closed regardless
            self._stats.count("errors.internal")
            self._diag.warn("watching:final", f"saving failed: {exc!r}")

    def _database(self, *, create: bool) -> tuple[Database, int] | None:
        """
        The spool's database and our owner id, opening it if need be.

        With *create*, a missing directory is made. What a process left
        there is sent while the engine runs; at the end, it is let go
        with the rest, for the next process.
        """
        keeper = self._keeper
        if keeper.database is None:
            left = keeper.open(create=create)
            if self._running:
                self._left_over(left)
        database = keeper.database
        return None if database is None else (database, keeper.owner)

    def _read(self) -> dict[str, Mute] | None:
        """The mutes in the spool; ``None`` if they cannot be read now."""
        opened = self._database(create=False)  # none yet: no mute in it
        if opened is None:
            return None
        try:
            with opened[0].connection() as db:
                return spool_mutes.read(db)
        except (sqlite3.Error, OSError) as exc:
            self._stats.count("errors.spool")
            self._diag.warn(
                "spool:mutes", f"reading the mutes in the spool failed: {exc}"
            )
            return None

    def _ended(self, name: str, mute: Mute, held: int) -> None:
        """Tell the ops channel, or else stderr, that a mute ended."""
        config = self._routing.config
        ops = config.delivery.ops_channel
        if ops is not None and ops in config.channels:
            self._ledger().alert(*ended_text(name, mute, held))
        else:
            say(ended_line(name, mute, held))
