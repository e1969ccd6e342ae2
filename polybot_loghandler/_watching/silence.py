r"""
A watch's keys: when each was last heard of, and which have gone silent.

Pure: every method takes ``now`` (epoch seconds on the watching
process's clock, not the events': hosts' clocks differ, and a backlog
read late is not a silence). A key silent for longer than
``alert_after`` is due for one alert; seen again, for one recovery;
neither repeats. A key that ends cleanly (the watch's ``end`` event) is
forgotten without an alert. Keys the watch ``expect``\\ s are silent
from the start until first seen. The number of keys is bounded; keys
past the bound are refused and counted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Alert", "KeyState", "Recovery", "Silence"]

#: Keys one watch keeps at most.
KEY_LIMIT = 1000


@dataclass(slots=True)
class KeyState:
    """What a watch knows of one key."""

    seen: float  # when it was last heard of (or the watch began, if never)
    heard: bool = False  # heard of at all (an expected key may not be)
    alerted: bool = False  # its silence was told
    last: Mapping[str, Any] = field(default_factory=dict)  # its last fields


@dataclass(frozen=True, slots=True)
class Alert:
    """A key silent for *silent_for* seconds: told once."""

    key: str
    silent_for: float
    last_seen: float | None  # ``None``: never heard of
    last: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Recovery:
    """A key heard of again after its silence was told."""

    key: str
    silent_for: float


class Silence:
    """
    The keys of one watch.

    Args:
        alert_after: Seconds of silence that make an alert.
        started: When the watch began (``now`` of the first look).
        expect: Keys that must be heard of at all.
        limit: Keys kept at most.
    """

    def __init__(
        self,
        alert_after: float,
        started: float,
        *,
        expect: Iterable[str] = (),
        limit: int = KEY_LIMIT,
    ) -> None:
        self.alert_after = alert_after
        self.limit = limit
        self.keys: dict[str, KeyState] = {
            key: KeyState(started) for key in expect
        }
        #: events of keys refused by the limit
        self.refused = 0

    def seen(
        self, key: str, now: float, fields: Mapping[str, Any] | None = None
    ) -> Recovery | None:
        """*key* was heard of at *now*; its recovery, if it was silent."""
        state = self.keys.get(key)
        if state is None:
            if len(self.keys) >= self.limit:
                self.refused += 1
                return None
            state = self.keys[key] = KeyState(now)
        back = None
        if state.alerted:
            back = Recovery(key, max(0.0, now - state.seen))
        state.seen, state.heard, state.alerted = now, True, False
        if fields is not None:
            state.last = fields
        return back

    def ended(self, key: str) -> None:
        """*key* ended cleanly: forgotten, nothing told."""
        self.keys.pop(key, None)

    def due(self, now: float) -> list[Alert]:
        """The keys whose silence is now due to be told (once each)."""
        alerts = []
        for key, state in self.keys.items():
            silent = now - state.seen
            if not state.alerted and silent > self.alert_after:
                state.alerted = True
                alerts.append(
                    Alert(
                        key,
                        silent,
                        state.seen if state.heard else None,
                        state.last,
                    )
                )
        return alerts

    def next_due(self) -> float | None:
        """When the next alert could be due (``None``: none can be)."""
        times = [
            s.seen + self.alert_after
            for s in self.keys.values()
            if not s.alerted
        ]
        return min(times, default=None)
