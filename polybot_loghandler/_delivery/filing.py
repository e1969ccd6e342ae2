"""
Filing: each message into its destination's lane, or the spool.

The stage between the intake and the lanes. A message for a disabled
destination is dropped at once; with a spool, it is written there first
and waits on disk while older messages of its lane of its level or
higher do, so every lane stays in order (higher levels first, each in
order); over the lanes' bound the lowest level makes room (dropped, or
back to the spool). Messages read back from the spool are filed here
too. Every method returns the lanes that now have work: the engine runs
them. Filing knows nothing of the loop or of sending.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from polybot_loghandler._losses import Loss
from polybot_loghandler._message import RoutedMessage
from polybot_loghandler._model import Config
from polybot_loghandler._spool.keeper import SpoolKeeper
from polybot_loghandler._spool.store import SpoolEntry

from .lanes import Lanes, LaneState
from .ledger import Ledger

__all__ = ["REFILL", "Filer"]

#: Messages a lane reads back from the spool at a time.
REFILL = 50


class Filer:
    """
    Puts messages in lanes, and in the spool when there is one.

    Args:
        lanes: The lanes and their bound.
        ledger: Counts what is dropped or merged.
        keeper: The spool (``None``: memory only).
        config: The routing in use, read at each use (it is reloaded).
        clock: Monotonic seconds, for the lanes' windows.
    """

    def __init__(
        self,
        lanes: Lanes,
        ledger: Ledger,
        keeper: SpoolKeeper | None,
        config: Callable[[], Config],
        clock: Callable[[], float],
    ) -> None:
        self._lanes = lanes
        self._ledger = ledger
        self._keeper = keeper
        self._config = config
        self._clock = clock

    def file(
        self, message: RoutedMessage, *, notice: bool = False
    ) -> LaneState | None:
        """
        Put *message* in its destination's lane; the lane, or ``None``.

        A *notice* (the engine's own news) is exempt from the bound and
        not spooled: it must never push out an event it is not about,
        and it is about this process.
        """
        lanes = self._lanes
        state = lanes.for_message(message)
        if state.disabled is not None:
            self._ledger.drop([message], state.disabled, state)
            return None
        keeper = self._keeper
        entry = None
        if keeper is not None and state.destination is not None:
            if not notice:
                entry = keeper.append(message)
            level = message.event.level
            if entry is not None and keeper.has_waiting(state.key, level):
                # older messages of this lane, of its level or higher,
                # wait on disk: in order, this one waits there too (one
                # of a higher level goes ahead of them, into the lane)
                keeper.wait(state.key, entry)
                return state
        self._queue(state, message, entry, bounded=not notice)
        return state

    def refill(self, state: LaneState) -> list[LaneState]:
        """
        Read *state*'s messages back from disk while the lanes have room.

        Returns the other lanes that got some: a message whose channel
        moved to another destination on reload goes there.
        """
        keeper = self._keeper
        if keeper is None or not keeper.has_waiting(state.key):
            return []
        lanes = self._lanes
        room = min(REFILL, lanes.room())
        if room <= 0 or len(state.lane) >= REFILL:
            return []
        others = []
        for message, entry in keeper.take(state.key, room, self._config()):
            target = lanes.for_message(message)
            self._queue(target, message, entry)
            if target is not state:
                others.append(target)
        return others

    def left_over(self, entries: Iterable[SpoolEntry]) -> list[LaneState]:
        """
        Queue what an earlier process left in the spool, oldest first.

        Entries for a channel the routing no longer has are lost; those
        for a channel without Discord here stay for a process that has.
        """
        keeper = self._keeper
        if keeper is None:
            return []
        channels = self._config().channels
        touched: dict[str, LaneState] = {}
        replayed = 0
        for entry in entries:
            replayed += 1
            target = channels.get(entry.channel)
            if target is None:
                self._ledger.lost(Loss.UNKNOWN_CHANNEL, 1)
                keeper.done([entry])
                continue
            if target.destination is None:
                continue
            state = self._lanes.of(target)
            keeper.wait(state.key, entry)
            touched[state.key] = state
        if replayed:
            self._ledger.count("spool.replayed", replayed)
        return list(touched.values())

    def requeue(
        self,
        state: LaneState,
        message: RoutedMessage,
        entry: SpoolEntry | None,
    ) -> None:
        """Queue *message*, read back from the spool, in *state*'s lane."""
        self._queue(state, message, entry)

    def _queue(
        self,
        state: LaneState,
        message: RoutedMessage,
        entry: SpoolEntry | None,
        *,
        bounded: bool = True,
    ) -> None:
        item, new = self._lanes.add(
            state, message, self._clock(), bounded=bounded
        )
        if entry is not None:
            item.spool.append(entry)
        if not new:
            self._ledger.count("coalesced")
        elif bounded:
            self._evict()

    def _evict(self) -> None:
        """
        Over the bound: make room, the lowest level first.

        Without a spool the oldest of the lowest level is dropped. With
        one, the newest of the lowest level steps aside to wait on disk
        (it is there already): its lane then sends in order, taking it
        back when the older ones are gone.
        """
        keeper = self._keeper
        while self._lanes.over():
            pushed = self._lanes.evict(newest=keeper is not None)
            if pushed is None:
                return
            state, victim = pushed
            if victim.spool and keeper is not None:
                for entry in victim.spool:
                    keeper.wait(state.key, entry)
            else:
                self._ledger.evicted(state, victim)
