"""
Loss: every reason an event may not reach Discord, in one place.

Each reason is counted as ``dropped.<reason>`` in ``stats()``, told in
the self-report and the notice "N events were not delivered", and
documented in ``docs/delivery.md`` (a test holds the page to this list).
Nothing is lost for a reason that is not here.
"""

from __future__ import annotations

import enum

__all__ = ["Loss"]


class Loss(str, enum.Enum):
    """Why events were dropped; the value is the counter's last part."""

    #: Over ``delivery.queue_size``: the lowest level went first.
    QUEUE_FULL = "queue_full"
    #: Server errors, timeouts and connection failures past ``retry_for``.
    SERVER_ERROR = "server_error"
    #: Discord answered ``400``: this payload will never be taken.
    REJECTED = "rejected"
    #: Discord answered ``401``, ``403`` or ``404``: the destination is
    #: disabled.
    WEBHOOK_GONE = "webhook_gone"
    #: Discord answered another ``4xx`` (``405``, ``413``, ...): not
    #: retried, since the same request would get the same answer.
    FAILED = "failed"
    #: A bot channel with no ``DISCORD_BOT_TOKEN``.
    NO_TOKEN = "no_token"  # noqa: S105 - a reason, not a token
    #: A route chose a channel key the routing file does not declare.
    UNKNOWN_CHANNEL = "unknown_channel"
    #: A route chose no channel at all (its ``to:`` rendered empty).
    NO_CHANNEL = "no_channel"
    #: Discord asked for a wait longer than the cap.
    RATE_LIMITED = "rate_limited"
    #: Still waiting when the flush timeout ran out at exit.
    SHUTDOWN = "shutdown"
    #: Logged after the handler was closed (as at interpreter exit).
    AFTER_SHUTDOWN = "after_shutdown"
    #: Could not be rendered into anything Discord takes.
    UNRENDERABLE = "unrenderable"
    #: The worker failed for good and takes nothing more.
    WORKER_STOPPED = "worker_stopped"
    #: Evicted from the spool by ``spool_size``.
    SPOOL_FULL = "spool_full"
    #: Read back from the spool with nothing that can be shown.
    SPOOL_CORRUPT = "spool_corrupt"

    #: Held back by ``polybot-loghandler mute``: a muted route's
    #: messages, a muted watch's alerts and recoveries, a muted digest's
    #: periods.
    MUTED = "muted"

    #: With the relay: Redis was unreachable and the producer's memory
    #: (``delivery.queue_size``) full, or the process ended first.
    RELAY_UNAVAILABLE = "relay_unavailable"
    #: With the relay: trimmed from the stream (full at its bound)
    #: before a relay read it.
    RELAY_TRIMMED = "relay_trimmed"
    #: With the relay: a stream entry the relay cannot read (not written
    #: by this library, or by a newer version of it).
    RELAY_MALFORMED = "relay_malformed"

    @property
    def counter(self) -> str:
        """The ``stats()`` key: ``dropped.queue_full``."""
        return f"dropped.{self.value}"

    def __str__(self) -> str:
        return self.value
