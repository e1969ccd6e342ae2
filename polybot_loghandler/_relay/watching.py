"""
Watches and digests with the relay: what one session keeps, and when.

With the relay, the active relay alone shows every producer's events to
the watches and digests, and keeps their state in Redis
(``Keys.watching``), so that the next active relay goes on where it
stopped. Each save is one fenced script that stores the state and
appends what is due (alerts, recoveries, closed periods) to the stream
as output entries, together: an output is in the stream exactly when
the saved state says it was made, so a failover neither loses nor
doubles one. The outputs then travel as events do: read, rendered,
delivered, acknowledged once Discord took them.

Digests count exactly across a failover by the stream's own order. The
state carries the *mark*: the id of the last entry whose event a watch
or digest took (ids grow along the stream). A relay that takes over
restores the state and shows the watches only the entries after the
mark: those at or below it were counted in the state it restored. And
an entry a watch took is acknowledged only once a state that counted it
is saved: until then it stays pending, and the next relay claims it
and counts it, after the mark.

Pure: every time is given. :class:`StateAccount` is one session's account;
the relay does the I/O.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from polybot_loghandler._values import text_of

__all__ = [
    "PRODUCERS_BACK",
    "READ_GAP",
    "SAVE_EVERY",
    "SAVE_SOON",
    "STATE_FORMAT",
    "CatchUp",
    "EntryId",
    "Save",
    "StateAccount",
    "decode_state",
    "encode_state",
    "entry_id",
]

#: Seconds between saves of a state that changed (events were taken).
SAVE_EVERY = 1.0
#: Seconds between saves while an acknowledgement whose messages Discord
#: took waits for one (the longer it waits, the more a crash sends again).
SAVE_SOON = 0.25
#: The stored state's format (its ``v``).
STATE_FORMAT = 1
#: Seconds after Redis answers again before silences are told: the
#: producers append what they kept meanwhile (they retry every 2 s at
#: most), and a key whose events are in it is not silent.
PRODUCERS_BACK = 2.5
#: Seconds without reaching the stream's end (an idle reader does every
#: half second) after which the relay is no longer caught up with it.
READ_GAP = 2.0

#: A stream entry id, as numbers: (milliseconds, sequence).
EntryId = tuple[int, int]

_ID = re.compile(r"(\d{1,20})-(\d{1,20})")


def entry_id(text: Any) -> EntryId | None:
    """``"1700000000000-3"`` as ``(1700000000000, 3)``; else ``None``."""
    if isinstance(text, bytes):
        text = text.decode("ascii", "replace")
    found = _ID.fullmatch(text) if isinstance(text, str) else None
    if found is None:
        return None
    return int(found.group(1)), int(found.group(2))


@dataclass(frozen=True, slots=True)
class Save:
    """
    One save of the watching state, as the script takes it.

    Tried again as it is until Redis answers: a save whose answer was
    lost may have happened, and its *batch* makes the second try store
    nothing twice (the script appends its outputs only once).

    Attributes:
        batch: Unique to this save.
        state: The state, encoded (:func:`encode_state`).
        mark: The state's mark.
        entries: The output entries' fields, flat.
    """

    batch: str
    state: str
    mark: Any
    entries: list[str]


@dataclass(slots=True)
class StateAccount:
    """
    One active session's account of the watching state in Redis.

    Args:
        mark: The mark of the state this session restored (``None``:
            none, or none that reads as a stream id).
        now: When the session began (epoch seconds).

    Attributes:
        restored: Entries at or below it were counted in the restored
            state: their events are not shown to the watches again.
        saved: The mark of the last state saved (or restored).
        saved_at: When it was saved.
        pending: A save not yet answered (it failed): tried again as
            it is before anything else is made.
        held: Acknowledgements waiting for a save that covers them.
        hurry: Whether one of them is of an event whose messages
            Discord took (a crash now would send them again).
    """

    mark: EntryId | None
    now: float
    restored: EntryId | None = field(init=False)
    saved: EntryId | None = field(init=False)
    saved_at: float = field(init=False)
    pending: Save | None = field(default=None, init=False)
    held: list[str] = field(default_factory=list, init=False)
    hurry: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        self.restored = self.saved = self.mark
        self.saved_at = self.now

    def observes(self, entry: str) -> bool:
        """
        Whether *entry*'s event is shown to the watches and digests.

        Not when the restored state counted it already: an entry at or
        below its mark, which the last relay took and did not
        acknowledge before it stopped. It is still routed.
        """
        if self.restored is None:
            return True
        found = entry_id(entry)
        return found is None or found > self.restored

    def waits(self, entry: str, live: Any) -> bool:
        """
        Whether *entry*'s acknowledgement waits for a save.

        *entry* is an event this session showed to the watches, and
        *live* the watching's mark now. An entry after *live* was not
        taken (the mark would have passed it); one at or below the
        saved mark is covered. The rest wait: acknowledged now, and the
        relay gone before the state that counted them is saved, they
        would be counted by no one.
        """
        found, taken = entry_id(entry), entry_id(live)
        if found is None or taken is None or found > taken:
            return False
        return self.saved is None or found > self.saved

    def due_to_save(
        self,
        now: float,
        *,
        live: Any,
        next_due: float | None,
        evaluate: bool,
        final: bool = False,
    ) -> bool:
        """
        Whether to take what is due and save the state at *now*.

        When a save failed (it is tried again), when something is made
        already (``next_due`` of ``-inf``: a recovery) or due (only
        while *evaluate*: the relay has read what was logged), and when
        events were taken since the last save: every
        :data:`SAVE_EVERY`, or :data:`SAVE_SOON` while acknowledgements
        of delivered messages wait, or at once when *final* (stopping).
        """
        if self.pending is not None:
            return True
        if next_due is not None and (
            next_due == -math.inf or (evaluate and next_due <= now)
        ):
            return True
        if entry_id(live) == self.saved:
            return False
        if final:
            return True
        gap = SAVE_SOON if self.hurry else SAVE_EVERY
        return now - self.saved_at >= gap

    def stored(self, mark: Any, now: float) -> list[str]:
        """
        A state with *mark* is saved: the acknowledgements it frees.

        Those still waiting (of events taken after the snapshot) stay:
        each was at or below the live mark when it was held, and the
        live mark only grows.
        """
        saved = self.saved = entry_id(mark)
        self.saved_at = now
        self.pending = None
        freed: list[str] = []
        kept: list[str] = []
        for entry in self.held:
            found = entry_id(entry)
            covered = saved is not None and (found is None or found <= saved)
            (freed if covered else kept).append(entry)
        self.held = kept
        self.hurry = self.hurry and bool(kept)
        return freed


@dataclass(slots=True)
class CatchUp:
    """
    Whether the relay has read what was logged until lately.

    Silences are told and periods closed only then: after taking over,
    after Redis was away, after reading stalled, the stream holds what
    was logged meanwhile, and a key whose events wait there is not
    silent. Caught up: the reader reached the stream's end lately, the
    engine has routed every entry read by then, and Redis, if it was
    away, answers again since long enough for the producers to append
    what they kept. Times are monotonic seconds.

    Attributes:
        tail_at: Entries handed to the engine when the reader found the
            stream's end, first since it was last behind (``None``: not
            since).
        tail_seen: When the reader last found the end.
        back_at: When Redis last answered again (or reading stalled).
    """

    tail_at: int | None = None
    tail_seen: float | None = None
    back_at: float = -math.inf

    def restart(self) -> None:
        """A new session: behind, until the reader finds the end."""
        self.tail_at = self.tail_seen = None

    def lost(self) -> None:
        """Reading failed: what is logged meanwhile is still to read."""
        self.tail_at = None

    def back(self, now: float) -> None:
        """Redis answers again: the producers append what they kept."""
        self.back_at = max(self.back_at, now)

    def at_tail(self, now: float, submitted: int) -> None:
        """The reader found the stream's end, *submitted* entries read."""
        seen, self.tail_seen = self.tail_seen, now
        if seen is not None and now - seen > READ_GAP:
            # reading stalled (Redis did not answer, without an error)
            self.tail_at = None
            self.back(now)
        if self.tail_at is None:
            self.tail_at = submitted

    def caught_up(self, now: float, routed: int) -> bool:
        """Whether to tell silences and close periods, *routed* done."""
        return (
            self.tail_at is not None
            and self.tail_seen is not None
            and routed >= self.tail_at
            and now - self.tail_seen <= READ_GAP
            and now >= self.back_at + PRODUCERS_BACK
        )


# -- the stored state ---------------------------------------------------------


def encode_state(snapshot: Mapping[str, Any], relay: str, now: float) -> str:
    """
    The watching's snapshot as Redis keeps it, with who saved it, when.

    A value JSON has no type for is kept as its text (the snapshot
    holds plain values; this is a safeguard).
    """
    body = {"v": STATE_FORMAT, "relay": relay, "at": now, "state": snapshot}
    return json.dumps(body, separators=(",", ":"), default=text_of)


def decode_state(data: Any) -> dict[str, Any] | None:
    """
    The snapshot Redis keeps, or ``None`` when there is none.

    Raises:
        ValueError: What is there is not a state this library saved
            (the relay says so once and starts afresh).
    """
    if data is None:
        return None
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        body = json.loads(text)
    except (ValueError, RecursionError, AttributeError):
        msg = "not JSON"
        raise ValueError(msg) from None
    if not isinstance(body, dict) or body.get("v") != STATE_FORMAT:
        msg = "not a state of this version"
        raise ValueError(msg)
    state = body.get("state")
    if not isinstance(state, dict):
        msg = "no state in it"
        raise ValueError(msg)  # noqa: TRY004 - what Redis held, not a type
    return state
