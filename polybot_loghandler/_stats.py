"""
The counters of one routing file, and the figures read beside them.

The application's threads, the worker and the render thread all add to
the same counters, so :meth:`Stats.count` takes a short lock. Figures
that are not counts (events queued, messages pending, the longest
rate-limit wait) belong to the parts that hold them: each part lends
the :class:`Stats` a *gauge* that reads them when the figures are
asked for, so the self-report and ``stats()`` see one picture.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Mapping

__all__ = ["Gauge", "Stats"]

#: A part's figures, read when the statistics are (never in ``emit()``).
Gauge = Callable[[], Mapping[str, int]]


class Stats:
    """Named counters, thread-safe, and the gauges read with them."""

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._gauges: list[Gauge] = []

    def count(self, key: str, n: int = 1) -> None:
        """Add *n* to counter *key*."""
        with self._lock:
            self._counts[key] += n

    def get(self, key: str) -> int:
        """One counter's value (``0`` if nothing was counted)."""
        with self._lock:
            return self._counts[key]

    def add_gauge(self, gauge: Gauge) -> None:
        """Read *gauge* with the counters from now on."""
        self._gauges.append(gauge)

    def counters(self) -> dict[str, int]:
        """The counters alone, as they are now."""
        with self._lock:
            return dict(self._counts)

    def read(self) -> dict[str, int]:
        """The counters, then each gauge's figures over them."""
        out = self.counters()
        for gauge in self._gauges:
            out.update(gauge())
        return out

    def after_fork(self) -> None:
        """A forked child counts from nothing, with a lock of its own."""
        self._lock = threading.Lock()
        self._counts = Counter()
