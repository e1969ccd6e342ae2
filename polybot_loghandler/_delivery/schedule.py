"""
When each of the engine's periodic jobs is due.

Each job has its own interval, which a reload may change or turn off
(``None``); a job first runs one interval after it is known. Pure: the
caller passes ``now`` and runs what :meth:`Schedule.due` returns.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["Schedule"]


class Schedule:
    """The next time each named job is due."""

    def __init__(self) -> None:
        self._next: dict[str, float] = {}

    def due(self, now: float, every: Mapping[str, float | None]) -> list[str]:
        """
        The jobs due at *now*, in *every*'s order.

        Each is then booked one interval later. A job whose interval is
        ``None`` is off.
        """
        out = []
        for name, interval in every.items():
            if interval is None:
                self._next.pop(name, None)
                continue
            when = self._next.setdefault(name, now + interval)
            if now >= when:
                self._next[name] = now + interval
                out.append(name)
        return out

    def wait(self, now: float, default: float) -> float:
        """Seconds from *now* until the next job is due (or *default*)."""
        return min(self._next.values(), default=now + default) - now
