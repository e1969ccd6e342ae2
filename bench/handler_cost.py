"""
Cost of one log call in the application's thread, side by side.

Every variant logs the same record through a fresh logger that has one
handler; rounds interleave the variants so that a noisy machine slows
them all alike. Reported per call: the median over rounds of the
caller thread's CPU time (``time.thread_time``: what the call itself
costs, excluding time spent waiting for the GIL while the worker runs)
and of wall time. A ratio is the median over rounds of the two
variants' times in the same round.

    python bench/handler_cost.py [--quick] [--rounds N] [--calls N]

Targets: an event no route can match costs at most 1.15x a logger with
only ``logging.NullHandler``; a matched event at most 1.0x a logger with
stdlib ``QueueHandler`` (the floor for handing a record to another
thread).
"""

from __future__ import annotations

import argparse
import logging
import logging.handlers
import os
import queue
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from _common import TRADE as BENCH_TRADE  # noqa: E402

from polybot_loghandler import DiscordHandler  # noqa: E402

TRADE = {**BENCH_TRADE, "trade_id": "paper_1738249425.123"}
UNMATCHED = {"cache": "quotes", "entries": 120}


def bench_routing() -> Path:
    """The shipped routing with the console sink off (output is not
    what is measured)."""
    text = (REPO / "routing.yaml").read_text(encoding="utf-8")
    text = text.replace(
        "\ndelivery:\n",
        '\ndelivery:\n  console: "off"\n  queue_size: 1000000\n',
        1,
    )
    path = Path(tempfile.mkdtemp()) / "routing.yaml"
    path.write_text(text, encoding="utf-8")
    # the shipped routing's spool, in a directory of its own
    os.environ.setdefault("POLYBOT_SPOOL", str(path.parent / "spool"))
    return path


def make_logger(name: str, handler: logging.Handler) -> logging.Logger:
    log = logging.getLogger(f"bench.{name}")
    log.handlers[:] = [handler]
    log.setLevel(logging.DEBUG)
    log.propagate = False
    return log


def timed(call: Callable[[], None], n: int) -> tuple[float, float]:
    cpu0, wall0 = time.thread_time(), time.perf_counter()
    for _ in range(n):
        call()
    cpu1, wall1 = time.thread_time(), time.perf_counter()
    return (cpu1 - cpu0) / n, (wall1 - wall0) / n


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, help="override the rounds")
    parser.add_argument("--calls", type=int, help="override calls per round")
    args = parser.parse_args(argv)
    rounds, n = (15, 2000) if args.quick else (41, 5000)
    rounds, n = args.rounds or rounds, args.calls or n

    routing = bench_routing()
    discord = DiscordHandler(routing)
    listener_queue: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    listener = logging.handlers.QueueListener(
        listener_queue, logging.NullHandler()
    )
    listener.start()

    null_log = make_logger("null", logging.NullHandler())
    queue_log = make_logger(
        "queue", logging.handlers.QueueHandler(listener_queue)
    )
    ours_log = make_logger("ours", discord)

    variants: dict[str, Callable[[], None]] = {
        "NullHandler, trade_executed": lambda: null_log.info(
            "trade_executed", extra=TRADE
        ),
        "QueueHandler, trade_executed": lambda: queue_log.info(
            "trade_executed", extra=TRADE
        ),
        "DiscordHandler, unmatched event": lambda: ours_log.debug(
            "cache_refreshed", extra=UNMATCHED
        ),
        "NullHandler, unmatched event": lambda: null_log.debug(
            "cache_refreshed", extra=UNMATCHED
        ),
        "DiscordHandler, trade_executed": lambda: ours_log.info(
            "trade_executed", extra=TRADE
        ),
    }
    cpu: dict[str, list[float]] = {k: [] for k in variants}
    wall: dict[str, list[float]] = {k: [] for k in variants}

    def settle() -> None:
        # no variant is timed while another's consumer thread catches up
        discord.flush()
        while not listener_queue.empty():
            time.sleep(0.001)
        time.sleep(0.005)

    for _ in range(rounds):
        for name, call in variants.items():
            c, w = timed(call, n)
            cpu[name].append(c)
            wall[name].append(w)
            settle()
    listener.stop()
    stats = discord.stats()

    med = {k: statistics.median(v) * 1e9 for k, v in cpu.items()}
    medw = {k: statistics.median(v) * 1e9 for k, v in wall.items()}
    print(
        f"# Caller cost per log call ({rounds} rounds x {n} calls, "
        f"Python {sys.version.split()[0]})\n"
    )
    print("| variant | CPU ns/call | wall ns/call |")
    print("|---|---:|---:|")
    for k in variants:
        print(f"| {k} | {med[k]:,.0f} | {medw[k]:,.0f} |")

    def ratio(a: str, b: str) -> float:
        """The median over rounds of *a*'s time over *b*'s, same round."""
        pairs = zip(cpu[a], cpu[b], strict=True)
        return statistics.median(x / y for x, y in pairs)

    unmatched = ratio(
        "DiscordHandler, unmatched event", "NullHandler, unmatched event"
    )
    matched = ratio(
        "DiscordHandler, trade_executed", "QueueHandler, trade_executed"
    )
    print("\n| ratio (CPU, median of paired rounds) | measured | target | |")
    print("|---|---:|---:|---|")
    print(
        f"| unmatched / NullHandler | {unmatched:.2f}x | <= 1.15x "
        f"| {'✅' if unmatched <= 1.15 else '❌ missed'} |"
    )
    print(
        f"| matched / QueueHandler | {matched:.2f}x | <= 1.00x "
        f"| {'✅' if matched <= 1.0 else '❌ missed'} |"
    )
    print(
        f"\nworker: {stats.get('handled', 0):,} events handled, "
        f"{stats.get('dropped.queue_full', 0):,} dropped"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
