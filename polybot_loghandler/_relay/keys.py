"""
The Redis keys of the relay mode, and the sizes that bound them.

Every key starts with :data:`PREFIX`, so the library's keys are easy to
find and to tell from the application's. Two floors that share one
Redis server use two databases (``redis://host/1``).
"""

from __future__ import annotations

__all__ = [
    "GROUP",
    "LEASE_TTL",
    "PREFIX",
    "STREAM_BOUND",
    "Keys",
]

PREFIX = "polybot_loghandler:"
#: The consumer group every relay reads through.
GROUP = "relay"
#: Entries the stream holds at most; beyond it the oldest are trimmed
#: and the unread among them counted (``dropped.relay_trimmed``).
STREAM_BOUND = 100_000
#: Seconds a relay's lease lasts unless it is renewed: a standby takes
#: over at most this long after the active relay dies.
LEASE_TTL = 5.0


class Keys:
    """The names of the relay mode's keys in one Redis database."""

    __slots__ = ()

    stream = PREFIX + "events"
    #: who is active: ``"<relay id>|<fencing token>"``, with a TTL
    lease = PREFIX + "lease"
    #: the fencing tokens handed out so far (``INCR``)
    fence = PREFIX + "fence"
    #: the active relay's state, for ``relay status`` (a hash)
    status = PREFIX + "status"
    #: the producers, by id: what they last said of themselves (a hash)
    producers = PREFIX + "producers"
    #: the relays, active and standing by, by id (a hash)
    relays = PREFIX + "relays"
    #: counts the scripts keep (``trimmed``), for the relay to take
    counters = PREFIX + "counters"
    #: the watches' and digests' state, written by the active relay
    #: (fenced), read by the next one: a hash, ``state`` (JSON) and
    #: ``batch`` (the last save's, so that a save is stored once)
    watching = PREFIX + "watching"
    #: the mutes in force, by route, watch or digest name: JSON
    #: ``{"until": epoch seconds, "reason": "..."}`` (a hash)
    mutes = PREFIX + "mutes"
    #: the boards' message ids and the threads' ids Discord gave, written
    #: by the active relay (fenced): a hash, field ``["board", dest,
    #: key]`` (JSON), value ``{"id", "thread", "at", "used"}`` (JSON)
    places = PREFIX + "places"
    #: the floor's state, written by the active relay (fenced) with the
    #: cursor in :attr:`floor_meta`: one hash per table (row key → row,
    #: JSON) and one per total (``"<period>|<label>"`` → sums, JSON)
    floor_rows = PREFIX + "floor:rows:"
    floor_sums = PREFIX + "floor:sums:"
    #: the floor's state's ``cursor`` (the last entry applied), the
    #: spec's ``fingerprint``, ``updated``, ``errors``, ``trimmed``, ...
    floor_meta = PREFIX + "floor:meta"
