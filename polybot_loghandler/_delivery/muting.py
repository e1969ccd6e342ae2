"""
The mutes a running engine reads, and the end of each, told once.

``polybot-loghandler mute`` writes a mute where this process can read it
(the spool's database); :meth:`MuteWatch.check`, a periodic job of the
engine, reads them about once a second into the watching, which holds
back what they name (counted in ``dropped.muted``). When a mute this
process saw in force ends, or is lifted, it is told once, with how many
messages it held back here: in the ops channel if the routing has one,
else as one line on stderr. A mute that had ended before this process
first read it is not told: another process told it.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from polybot_loghandler._format import counted
from polybot_loghandler._text import escape_markdown, neutralize_mentions
from polybot_loghandler._watching.mutes import in_force
from polybot_loghandler._watching.watching import Mute, Watching

__all__ = ["MuteWatch", "ended_line", "ended_text"]

#: Seconds between reads of the mutes: a mute takes hold within this.
READ_EVERY = 1.0

#: Tells that a mute ended: its name, the mute, what it held back.
Tell = Callable[[str, Mute, int], None]


class MuteWatch:
    """
    Keeps a watching's mutes as the store has them; tells their ends.

    Args:
        watching: Holds back what the mutes name.
        read: The mutes kept, by name; ``None`` when they cannot be read
            now (the mutes read last stay in force).
        tell: Says that a mute ended (see :func:`ended_text`).
    """

    def __init__(
        self,
        watching: Watching,
        read: Callable[[], dict[str, Mute] | None],
        tell: Tell,
    ) -> None:
        self._watching = watching
        self._read = read
        self._tell = tell
        self._kept: dict[str, Mute] = {}  # as last read
        self._seen: set[str] = set()  # seen in force, their end not told

    def check(self, now: float) -> None:
        """Read the mutes, hand them to the watching, tell those ended."""
        found = self._read()
        if found is not None:
            # one seen in force and gone from the store (deleted by
            # hand) has ended now: its end is told like any other
            for name in self._seen - set(found):
                was = self._kept.get(name)
                if was is not None:
                    found[name] = Mute(min(was.until, now), was.reason)
            self._kept = found
            self._watching.set_mutes(found)
        self._seen |= set(in_force(self._kept, now))
        for name, mute, held in self._watching.expired(now):
            if name in self._seen:
                self._seen.discard(name)
                self._tell(name, mute, held)


def ended_text(name: str, mute: Mute, held: int) -> tuple[str, str]:
    """
    The title and text that say a mute ended, markdown escaped.

    ``🔔 Mute ended: heartbeats`` / ``heartbeats is no longer muted (it
    was muted until 14:30:00 UTC: deploying). While it was, 3 messages
    were held back here.``
    """
    shown = neutralize_mentions(escape_markdown(name))
    why = neutralize_mentions(escape_markdown(mute.reason))
    until, kept = _until(mute), _kept(held)
    return (
        f"🔔 Mute ended: {shown}"[:256],
        (
            f"{shown} is no longer muted (it was muted until {until}"
            f"{f': {why}' if why else ''}). While it was, {kept} held "
            "back here."
        ),
    )


def ended_line(name: str, mute: Mute, held: int) -> str:
    """The same, as one line for stderr."""
    reason = f"; {mute.reason}" if mute.reason else ""
    return (
        f"the mute of '{name}' has ended (it ran until {_until(mute)}"
        f"{reason}); {_kept(held)} held back while it lasted"
    )


def _until(mute: Mute) -> str:
    return time.strftime("%H:%M:%S UTC", time.gmtime(mute.until))


def _kept(held: int) -> str:
    if not held:
        return "nothing was"
    return f"{counted(held, 'message')} {'was' if held == 1 else 'were'}"
