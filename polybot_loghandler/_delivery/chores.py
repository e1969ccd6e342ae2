"""
The engine's periodic jobs, each at its own interval.

Reloading the routing file when it changed, adopting what a process
that is gone left in the spool, handing out what the watches and
digests have due, reading the mutes and saving the watches' state in
the spool, telling when drops begin, checking the root logger's level,
and the summary of the counters. When each is due
is the pure :class:`~polybot_loghandler._delivery.schedule.Schedule`;
what the jobs say goes through the ledger's outbox.
"""

from __future__ import annotations

from collections.abc import Callable

import anyio

from polybot_loghandler._levels import LevelCheck
from polybot_loghandler._routing import RoutingHolder
from polybot_loghandler._spool.keeper import ADOPT_EVERY
from polybot_loghandler._stats import Stats

from .lanes import Lanes
from .ledger import WATCH_EVERY, Ledger
from .schedule import Schedule

__all__ = ["Chores"]

#: The shortest pause between two looks at the schedule (seconds).
SHORTEST = 0.05
#: Seconds between looks at what the watches and digests have due: an
#: alert is late by at most this much.
WATCHING_EVERY = 0.25
#: Seconds between reads of the mutes and saves of the watches' state
#: in the spool: a mute takes hold, and a crash loses, at most this much.
KEEP_EVERY = 1.0


class Chores:
    """
    Runs the periodic jobs of one engine.

    Args:
        routing: The routing in use (its intervals; the file to reload).
        stats: The counters, for the early warnings and the summary.
        ledger: Says what the jobs find.
        lanes: The lanes, for the destinations disabled so far.
        clock: Monotonic seconds.
        levels: The root-level check (``None``: none).
        adopt: Takes over what a process that is gone left in the spool
            (``None``: no spool).
        watching: Hands out what the watches and digests have due
            (``None``: not here).
        keep: Reads the mutes and saves the watches' state in the
            spool (``None``: no spool, or not here).
    """

    def __init__(  # noqa: PLR0913 - the parts the jobs read
        self,
        routing: RoutingHolder,
        stats: Stats,
        ledger: Ledger,
        lanes: Lanes,
        clock: Callable[[], float],
        *,
        levels: LevelCheck | None = None,
        adopt: Callable[[], None] | None = None,
        watching: Callable[[], None] | None = None,
        keep: Callable[[], None] | None = None,
    ) -> None:
        self._routing = routing
        self._stats = stats
        self._ledger = ledger
        self._lanes = lanes
        self._clock = clock
        self._levels = levels
        self._adopt = adopt
        self._watching = watching
        self._keep = keep
        self._schedule = Schedule()

    async def run(self) -> None:
        """Run the jobs as they fall due, forever (until cancelled)."""
        while True:
            now = self._clock()
            self.run_due(now)
            wait = self._schedule.wait(now, WATCH_EVERY)
            await anyio.sleep(max(wait, SHORTEST))

    def run_due(self, now: float) -> None:
        """Run the jobs due at *now*, in order."""
        delivery = self._routing.config.delivery
        levels, adopt = self._levels, self._adopt
        watching = self._watching
        if self._routing.watching.empty:
            watching = None
        jobs: dict[str, tuple[float | None, Callable[[], None] | None]] = {
            "adopt": (ADOPT_EVERY, adopt),
            "reload": (delivery.reload_every, self._reload),
            "watching": (WATCHING_EVERY, watching),
            "keep": (KEEP_EVERY, self._keep),
            "watch": (WATCH_EVERY, self._watch_drops),
            "levels": (WATCH_EVERY, None if levels is None else levels.check),
            "report": (delivery.report_every, self._report),
        }
        every = {
            name: None if job is None else interval
            for name, (interval, job) in jobs.items()
        }
        for name in self._schedule.due(now, every):
            job = jobs[name][1]
            if job is not None:
                self._run(name, job)

    def _run(self, name: str, job: Callable[[], None]) -> None:
        """Run one job; its failure is counted and told, never raised."""
        try:
            job()
        except Exception as exc:  # the loop goes on regardless
            self._ledger.count("errors.internal")
            self._ledger.warn(f"job:{name}", f"{name} failed: {exc!r}")

    def _reload(self) -> None:
        error = self._routing.check()
        if error is None:
            return
        fence = error.replace("```", "ˋˋˋ")
        self._ledger.alert(
            "⚠️ routing.yaml was not reloaded",
            "The previous routing stays in use until the file loads:\n"
            f"```\n{fence[:3900]}\n```",
        )

    def _watch_drops(self) -> None:
        self._ledger.watch_drops(self._stats.counters(), self._clock())

    def _report(self) -> None:
        self._ledger.report(
            self._stats.read(), self._clock(), self._lanes.disabled()
        )
