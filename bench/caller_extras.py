"""
More caller costs: the structlog processor, and a hung Discord.

Variants take turns batch by batch (``BATCH`` calls each), and the
per-call time of every batch is kept, so the report gives the median and
the p99 over batches (a p99 of single calls would mostly measure the
timer). A ratio is the median of the ratios of neighbouring batches, so
the drift of a shared machine cancels out, and every timed batch follows
``WARM`` untimed calls of its own variant, so the order of the variants
does not show. CPU is the caller thread's own
(``time.thread_time``); wall includes waiting for the GIL while the
worker runs.

    python bench/caller_extras.py [--quick]

Targets: a structlog chain with ``DiscordProcessor`` costs at most 1.1x
the same chain without it; a matched ``DiscordHandler`` call costs the
same (within noise) whether Discord answers or hangs. For reading the
structlog ratio, the same chain is timed with two floors: a processor
that only copies the event dict (no processor that keeps events for
another thread can cost less), and one that also hands the copy to a
thread through a ``SimpleQueue``, as the standard library's
``QueueHandler`` does for ``logging``. A third hands the copy to a
thread that then works on each event as long as the worker takes to
match and render it: what doing the worker's work in the same process
costs the caller, whoever writes it.
"""

from __future__ import annotations

import argparse
import logging
import os
import queue
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from handler_cost import TRADE, UNMATCHED, bench_routing  # noqa: E402

BATCH = 100
#: untimed calls of a variant just before each of its timed batches: the
#: batch after a worker has run would otherwise start with its code and
#: data pushed out of the CPU's caches and pay for it (about 0.1x at 100
#: calls a batch), so the order of the variants would show in the ratios
WARM = 20


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    pos = q * (len(ordered) - 1)
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def structlog_chain(extra: list[Any]) -> Any:
    import structlog

    processors = [
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        *extra,
        structlog.processors.KeyValueRenderer(),
    ]
    return structlog.wrap_logger(
        structlog.ReturnLogger(),
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG),
    )


def copy_only(
    _logger: Any, _method_name: str, event_dict: dict[str, Any]
) -> dict[str, Any]:
    """
    The floor for a processor that keeps events for another thread.

    Later processors may change the event dict, so such a processor must
    copy it at the least; this one copies it and throws the copy away.
    """
    dict(event_dict)
    return event_dict


class HandOff:
    """
    The floor for a processor that hands events to another thread.

    What the standard library offers for it, as ``QueueHandler`` does for
    ``logging``: copy the event dict, put the copy on a ``SimpleQueue``,
    and let a thread take it off. With *work* (seconds) the thread then
    spends that much CPU on each event, as a worker that renders it
    would; without, it only counts what it takes.
    """

    def __init__(self, work: float = 0.0) -> None:
        self.queue: queue.SimpleQueue[dict[str, Any]] = queue.SimpleQueue()
        self.work = work
        self.taken = 0
        threading.Thread(target=self._take, daemon=True).start()

    def _take(self) -> None:
        while True:
            self.queue.get()
            self.taken += 1
            if self.work:
                until = time.thread_time() + self.work
                while time.thread_time() < until:
                    pass

    def __call__(
        self, _logger: Any, _method_name: str, event_dict: dict[str, Any]
    ) -> dict[str, Any]:
        self.queue.put(dict(event_dict))
        return event_dict


def render_cost(processor: Any) -> float:
    """The worker's CPU seconds to match and render one ``trade_executed``."""
    from polybot_loghandler.testing import capture

    chain = structlog_chain([processor])
    with capture():  # rendered here, in this thread: nothing is queued
        chain.info("trade_executed", **TRADE)
        start = time.thread_time()
        for _ in range(200):
            chain.info("trade_executed", **TRADE)
        with_render = time.thread_time() - start
    plain = structlog_chain([])
    start = time.thread_time()
    for _ in range(200):
        plain.info("trade_executed", **TRADE)
    return max(with_render - (time.thread_time() - start), 0.0) / 200


def handler_logger(name: str, handler: logging.Handler) -> logging.Logger:
    log = logging.getLogger(f"bench.extras.{name}")
    log.handlers[:] = [handler]
    log.setLevel(logging.DEBUG)
    log.propagate = False
    return log


def drained(stats: Callable[[], dict[str, int]], timeout: float) -> None:
    """Wait (bounded) for the worker to empty its queue; never flush()."""
    deadline = time.monotonic() + timeout
    while stats()["queued"] and time.monotonic() < deadline:
        time.sleep(0.002)
    time.sleep(0.005)


def main(argv: list[str] | None = None) -> int:  # noqa: C901, PLR0915
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    rounds, batches, wait = (4, 8, 0.2) if args.quick else (11, 20, 0.5)

    for name in list(os.environ):
        if name.upper().startswith("DISCORD_") or name.upper().endswith(
            "_PROXY"
        ):
            del os.environ[name]
    from fakes.discord import FakeDiscord
    from polybot_loghandler import DiscordHandler, DiscordProcessor

    answering = FakeDiscord().start()
    hung = FakeDiscord().start()
    hung.hang()

    plain = structlog_chain([])
    processor = DiscordProcessor(bench_routing())
    with_proc = structlog_chain([processor])
    with_floor = structlog_chain([copy_only])
    with_hand_off = structlog_chain([HandOff()])
    render = render_cost(processor)
    with_hand_off_work = structlog_chain([HandOff(render)])
    no_webhook = DiscordHandler(bench_routing())
    os.environ["DISCORD_WEBHOOK_URL"] = answering.webhook_url("1", "tok-a")
    to_answering = DiscordHandler(bench_routing())
    os.environ["DISCORD_WEBHOOK_URL"] = hung.webhook_url("2", "tok-h")
    to_hung = DiscordHandler(bench_routing())
    del os.environ["DISCORD_WEBHOOK_URL"]
    logs = {
        "none": handler_logger("none", no_webhook),
        "answering": handler_logger("answering", to_answering),
        "hung": handler_logger("hung", to_hung),
    }
    ids = iter(range(10**9))

    def trade(log: logging.Logger) -> Callable[[], None]:
        return lambda: log.info(
            "trade_executed", extra={**TRADE, "trade_id": f"t{next(ids)}"}
        )

    variants: dict[str, tuple[Callable[[], None], Any]] = {
        "structlog chain, unmatched event": (
            lambda: plain.debug("cache_refreshed", **UNMATCHED),
            None,
        ),
        "structlog chain + DiscordProcessor, unmatched event": (
            lambda: with_proc.debug("cache_refreshed", **UNMATCHED),
            processor.stats,
        ),
        "structlog chain, trade_executed": (
            lambda: plain.info("trade_executed", **TRADE),
            None,
        ),
        "structlog chain + DiscordProcessor, trade_executed": (
            lambda: with_proc.info("trade_executed", **TRADE),
            processor.stats,
        ),
        "structlog chain + copy of the dict (the floor), trade_executed": (
            lambda: with_floor.info("trade_executed", **TRADE),
            None,
        ),
        "structlog chain + copy handed to a thread (SimpleQueue), "
        "trade_executed": (
            lambda: with_hand_off.info("trade_executed", **TRADE),
            None,
        ),
        "structlog chain + copy handed to a thread that works as long as "
        "the worker renders, trade_executed": (
            lambda: with_hand_off_work.info("trade_executed", **TRADE),
            None,
        ),
        "DiscordHandler trade_executed, no webhook set": (
            trade(logs["none"]),
            no_webhook.stats,
        ),
        "DiscordHandler trade_executed, fake Discord answering": (
            trade(logs["answering"]),
            to_answering.stats,
        ),
        "DiscordHandler trade_executed, fake Discord HUNG": (
            trade(logs["hung"]),
            to_hung.stats,
        ),
    }
    cpu: dict[str, list[float]] = {k: [] for k in variants}
    wall: dict[str, list[float]] = {k: [] for k in variants}
    # batch by batch, every variant in turn: the machine's drift (other
    # work, frequency changes) touches all of them alike, and each pair of
    # variants is compared batch against neighbouring batch
    for _ in range(rounds):
        for _ in range(batches):
            for name, (call, stats) in variants.items():
                for _ in range(WARM):
                    call()
                c0, w0 = time.thread_time_ns(), time.perf_counter_ns()
                for _ in range(BATCH):
                    call()
                c1, w1 = time.thread_time_ns(), time.perf_counter_ns()
                cpu[name].append((c1 - c0) / BATCH)
                wall[name].append((w1 - w0) / BATCH)
                if stats is not None:
                    drained(stats, wait)

    print(
        f"# Caller cost: structlog processor and a hung Discord "
        f"({rounds} rounds x {batches} batches x {BATCH} calls)\n"
    )
    print(
        "| variant | CPU median ns | CPU p99 ns | wall median ns "
        "| wall p99 ns |"
    )
    print("|---|---:|---:|---:|---:|")
    med: dict[str, float] = {}
    for k in variants:
        med[k] = statistics.median(cpu[k])
        cells = [
            med[k],
            quantile(cpu[k], 0.99),
            statistics.median(wall[k]),
            quantile(wall[k], 0.99),
        ]
        print(f"| {k} | " + " | ".join(f"{c:,.0f}" for c in cells) + " |")

    def ratio(a: str, b: str) -> float:
        """The median of the batch-by-batch ratios of *a* to *b*."""
        pairs = zip(cpu[a], cpu[b], strict=True)
        return statistics.median(x / y for x, y in pairs)

    rows = [
        (
            "structlog + DiscordProcessor / structlog, unmatched",
            ratio(
                "structlog chain + DiscordProcessor, unmatched event",
                "structlog chain, unmatched event",
            ),
            1.10,
        ),
        (
            "structlog + DiscordProcessor / structlog, trade_executed",
            ratio(
                "structlog chain + DiscordProcessor, trade_executed",
                "structlog chain, trade_executed",
            ),
            1.10,
        ),
        (
            "copy of the dict / structlog, trade_executed (the floor)",
            ratio(
                "structlog chain + copy of the dict (the floor), "
                "trade_executed",
                "structlog chain, trade_executed",
            ),
            None,
        ),
        (
            "copy handed to a thread / structlog, trade_executed",
            ratio(
                "structlog chain + copy handed to a thread (SimpleQueue), "
                "trade_executed",
                "structlog chain, trade_executed",
            ),
            None,
        ),
        (
            "thread that works as the worker / structlog, trade_executed",
            ratio(
                "structlog chain + copy handed to a thread that works as "
                "long as the worker renders, trade_executed",
                "structlog chain, trade_executed",
            ),
            None,
        ),
        (
            "DiscordHandler matched: hung / answering",
            ratio(
                "DiscordHandler trade_executed, fake Discord HUNG",
                "DiscordHandler trade_executed, fake Discord answering",
            ),
            1.10,
        ),
    ]
    print("\n| ratio (CPU, median of paired batches) | measured | target | |")
    print("|---|---:|---:|---|")
    for label, value, target in rows:
        if target is None:  # for reading the others by, no target
            print(f"| {label} | {value:.2f}x | | |")
            continue
        mark = "✅" if value <= target else "❌ missed"
        print(f"| {label} | {value:.2f}x | ≤ {target:.2f}x | {mark} |")
    hung_stats = to_hung.stats()
    print(
        f"\nThe hung fake held {hung.held} requests at the end; the hung "
        f"pipeline had {hung_stats['handled']:,} events handled, "
        f"{hung_stats['pending']:,} pending delivery, drops: "
        + (
            ", ".join(
                f"`{k}` {v:,}"
                for k, v in hung_stats.items()
                if k.startswith("dropped.")
            )
            or "none"
        )
        + ". For the hung ratio, 'noise' is read as within 10%. Between "
        f"variants the worker gets at most {wait:g} s to catch up; it runs on "
        "while later variants are timed, which is in their wall times. "
        f"The thread that works as the worker spends {render * 1e6:,.0f} µs "
        "of CPU on each event: what matching and rendering one "
        "`trade_executed` took in this run."
    )
    hung.stop()
    answering.stop()
    sys.stdout.flush()
    os._exit(0)  # the hung pipeline's exit-time flush would wait for it


if __name__ == "__main__":
    raise SystemExit(main())
