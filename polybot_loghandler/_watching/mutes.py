"""
Mutes as the stores keep them, and what every store of them offers.

``polybot-loghandler mute`` writes a mute where running processes read
it: the spool's database (``_spool/mutes.py``) for the processes of one
host, or Redis's ``Keys.mutes`` hash (``_relay/mutes.py``) for the
relay. Redis keeps each as the JSON ``{"until": epoch seconds,
"reason": "..."}`` that :func:`encode` writes and :func:`decode` reads.

An unmute ends a mute now rather than deleting it, so that a running
process sees it end and says what it held back (see
:meth:`Watching.expired`); an ended mute is kept :data:`KEEP_ENDED`
seconds for that, then forgotten by the next write. Nothing read back is
trusted: a record that does not read as a mute is ignored, and a reason
is text with tokens hidden, cut to :data:`MAX_REASON` characters.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from typing import Any, Protocol

from polybot_loghandler._format import duration
from polybot_loghandler._text import redact_text, visible_controls
from polybot_loghandler._values import text_of

from .watching import Mute

__all__ = [
    "KEEP_ENDED",
    "MAX_REASON",
    "MuteBoard",
    "decode",
    "encode",
    "in_force",
    "left",
    "mute_of",
    "mute_text",
    "reason_of",
]

#: Seconds an ended mute is kept, so every process sees it end.
KEEP_ENDED = 86400.0
#: The characters of a reason kept, at most.
MAX_REASON = 200


class MuteBoard(Protocol):
    """Where mutes are kept: the spool's database, or Redis."""

    #: Where it is, for people: ``the spool DIR``, ``Redis URL``.
    where: str

    def read(self) -> dict[str, Mute]:
        """Every mute kept, in force or ended lately, by name."""

    def write(self, name: str, mute: Mute, now: float) -> None:
        """Keep *mute* for *name*; forget mutes ended long before *now*."""


def reason_of(text: Any) -> str:
    """A reason as it is kept: text, tokens hidden, within MAX_REASON."""
    return redact_text(" ".join(text_of(text).split()))[:MAX_REASON]


def encode(mute: Mute) -> str:
    """*mute* as Redis keeps it: ``{"until": ..., "reason": ...}``."""
    return json.dumps({"until": mute.until, "reason": mute.reason})


def decode(text: Any) -> Mute | None:
    """
    The mute *text* holds, or ``None`` if it does not read as one.

    *text* is what a store gave back (bytes or text).
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    try:
        data = json.loads(text)
    except (TypeError, ValueError, RecursionError):
        return None
    if not isinstance(data, Mapping):
        return None
    return mute_of(data.get("until"), data.get("reason", ""))


def mute_of(until: Any, reason: Any) -> Mute | None:
    """A mute from a store's values, or ``None`` if they make none."""
    if isinstance(until, bool) or not isinstance(until, (int, float)):
        return None
    if not math.isfinite(until):
        return None
    return Mute(float(until), reason_of(reason) if reason else "")


def in_force(mutes: Mapping[str, Mute], now: float) -> dict[str, Mute]:
    """The mutes of *mutes* that have not ended at *now*, by name."""
    return {name: m for name, m in mutes.items() if now < m.until}


def left(mute: Mute, now: float) -> str:
    """How long *mute* has still to run: ``30m``, ``1h 5m``, ``40s``."""
    seconds = max(0.0, mute.until - now)
    if seconds > 60:  # to the minute, up: a command takes a moment
        seconds = math.ceil(seconds / 60) * 60
    return duration(math.ceil(seconds))


def mute_text(name: str, mute: Mute, now: float, kind: str = "") -> str:
    """
    One mute in force, as the commands list it.

    ``heartbeats (watch) until 2026-12-06 14:30:00 UTC, 30m left:
    deploying the agents``; safe on a terminal.
    """
    stamp = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(mute.until))
    what = f" ({kind})" if kind else ""
    why = f": {mute.reason}" if mute.reason else ""
    return visible_controls(
        f"{name}{what} until {stamp}, {left(mute, now)} left{why}"
    )
