"""
Where to filter: what an unmatched structlog event costs the whole process.

``DiscordProcessor`` decides in the caller's thread whether any route
might take an event, so events no route wants never cross to the worker.
Another design would hand every event to the worker and decide there: the
caller's thread would then only copy and queue, and look cheaper in
``bench/caller_extras.py``. With the GIL, though, the worker's time is
the application's time too. This measures both designs on the same
unmatched event, in the caller's thread (``time.thread_time``) and in the
whole process (``time.process_time``, all threads, the clock stopped only
once the thread has taken every event of the batch).

    python bench/filter_where.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import queue
import statistics
import sys
import threading
import time
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from caller_extras import WARM, structlog_chain  # noqa: E402
from handler_cost import UNMATCHED, bench_routing  # noqa: E402

BATCH = 500


class FilterInThread:
    """
    The other design: copy and queue every event, filter in a thread.

    The thread asks the same router the processor asks, with the same
    level lookup, so the two designs do the same filtering work; only
    the thread it runs in differs.
    """

    def __init__(self, routing: Path) -> None:
        from polybot_loghandler._events import dict_level
        from polybot_loghandler._registry import get_pipeline

        self._level = dict_level
        self._router = get_pipeline(routing).router  # the processor's
        self.queue: queue.SimpleQueue[tuple[str, dict[str, Any]]] = (
            queue.SimpleQueue()
        )
        self.taken = 0
        self.wanted = 0
        threading.Thread(target=self._take, daemon=True).start()

    def _take(self) -> None:
        while True:
            method_name, event_dict = self.queue.get()
            levelno = self._level(event_dict, method_name)
            event = str(event_dict.get("event", ""))
            if self._router.could_match(event, levelno, "", event_dict):
                self.wanted += 1
            self.taken += 1

    def __call__(
        self, _logger: Any, method_name: str, event_dict: dict[str, Any]
    ) -> MutableMapping[str, Any]:
        self.queue.put((method_name, event_dict.copy()))
        return event_dict

    def wait_for(self, n: int) -> None:
        """Block until the thread has taken *n* events in all."""
        while self.taken < n:
            time.sleep(0.0005)


def measure(
    chains: dict[str, tuple[Any, FilterInThread | None]], rounds: int
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Per-call ns of each chain's batches: caller's thread, process."""
    thread_ns: dict[str, list[float]] = {k: [] for k in chains}
    process_ns: dict[str, list[float]] = {k: [] for k in chains}
    handed = 0
    for _ in range(rounds):
        for name, (chain, thread) in chains.items():
            for _ in range(WARM):
                chain.debug("cache_refreshed", **UNMATCHED)
            t0, p0 = time.thread_time_ns(), time.process_time_ns()
            for _ in range(BATCH):
                chain.debug("cache_refreshed", **UNMATCHED)
            t1 = time.thread_time_ns()
            if thread is not None:  # its share belongs to this batch
                handed += WARM + BATCH
                thread.wait_for(handed)
            p1 = time.process_time_ns()
            thread_ns[name].append((t1 - t0) / BATCH)
            process_ns[name].append((p1 - p0) / BATCH)
            time.sleep(0.002)
    return thread_ns, process_ns


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    rounds = 20 if args.quick else 60

    for name in list(os.environ):
        if name.upper().startswith("DISCORD_"):
            del os.environ[name]
    from polybot_loghandler import DiscordProcessor

    routing = bench_routing()
    processor = DiscordProcessor(routing)
    elsewhere = FilterInThread(routing)
    chains: dict[str, tuple[Any, FilterInThread | None]] = {
        "structlog chain": (structlog_chain([]), None),
        "+ DiscordProcessor (filters in the caller's thread)": (
            structlog_chain([processor]),
            None,
        ),
        "+ copy and queue every event, filter in a thread": (
            structlog_chain([elsewhere]),
            elsewhere,
        ),
    }
    thread_ns, process_ns = measure(chains, rounds)
    base = "structlog chain"

    def ratio(times: dict[str, list[float]], name: str) -> float:
        pairs = zip(times[name], times[base], strict=True)
        return statistics.median(a / b for a, b in pairs)

    print(
        f"# Where to filter: an unmatched structlog event "
        f"({rounds} rounds x {BATCH} calls)\n"
    )
    print(
        "| variant | caller's thread ns | × chain | whole process ns "
        "| × chain |"
    )
    print("|---|---:|---:|---:|---:|")
    for name in chains:
        print(
            f"| {name} | {statistics.median(thread_ns[name]):,.0f} "
            f"| {ratio(thread_ns, name):.2f}x "
            f"| {statistics.median(process_ns[name]):,.0f} "
            f"| {ratio(process_ns, name):.2f}x |"
        )
    print(
        f"\nThe thread took {elsewhere.taken:,} events and found "
        f"{elsewhere.wanted:,} a route might take; the processor queued "
        f"{processor.stats().get('accepted', 0):,}. Ratios are medians of "
        "batch-by-batch ratios against the bare chain. Filtering in a "
        "thread makes the caller's own thread cheaper and the process "
        "dearer: the thread's work takes the GIL from the application."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
