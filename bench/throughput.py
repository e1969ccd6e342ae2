"""
Worker throughput: match + render with the shipped Polybot routing.

Captures the events of a simulated day of ``examples/trading_floor.py``
(the Polybot vocabulary, as the application logs it) as the worker
would receive them, then calls the pipeline's ``process()`` on them
directly, on this one thread, with no delivery. Every event captured is
one a route might match (the caller's cheap check let it through).

    python bench/throughput.py [--quick]

Target: at least 20,000 events per second on one core.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import os
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "examples"))

TARGET = 20_000


def use_bench_destination() -> None:
    """
    One webhook for every channel, so every match is rendered.

    Nothing is sent: ``process()`` only matches and renders.
    """
    for name in list(os.environ):
        if name.upper().startswith("DISCORD_"):
            del os.environ[name]
    os.environ["DISCORD_WEBHOOK_URL"] = (
        "http://127.0.0.1:9/api/webhooks/1/bench-token"
    )


def capture_day(routing: Path, hours: int) -> tuple[Any, list[Any]]:
    import trading_floor as floor_sim

    from polybot_loghandler._registry import get_pipeline

    pipeline = get_pipeline(routing)
    raws: list[Any] = []
    pipeline.submit = raws.append  # type: ignore[method-assign]
    with contextlib.redirect_stderr(io.StringIO()):
        floor_sim.configure_logging(str(routing))
        floor_sim.run_day(floor_sim.new_floor(7), hours, 0.0)
    logging.getLogger().handlers.clear()
    return pipeline, raws


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    hours, repeats, per_pass = (
        (6, 9, 3_000) if args.quick else (24, 15, 10_000)
    )
    use_bench_destination()
    pipeline, raws = capture_day(REPO / "routing.yaml", hours)
    kinds = Counter(raw[0] for raw in raws)
    process = pipeline.process
    for raw in raws[:200]:  # warm the template caches
        process(raw)
    messages = sum(len(process(raw)) for raw in raws)
    batch = raws * max(1, per_pass // len(raws))
    rates: list[float] = []
    for _ in range(repeats):
        t0 = time.thread_time()
        for raw in batch:
            process(raw)
        rates.append(len(batch) / (time.thread_time() - t0))
    # Other work on a shared machine only ever slows a pass down (CPU
    # time grows with the caches and cores it takes from us), so the
    # fastest pass is the closest to what the code itself costs, as
    # timeit's documentation advises; the median is shown beside it.
    rate = max(rates)
    median = statistics.median(rates)
    ok = rate >= TARGET
    print("# Worker throughput: match + render, one thread\n")
    print(
        f"{len(raws):,} events captured from {hours} simulated hours of "
        f"`examples/trading_floor.py` (seed 7) through the shipped "
        f"`routing.yaml`; {len(kinds)} distinct event names, most common: "
        + ", ".join(f"`{k}` {n:,}" for k, n in kinds.most_common(6))
        + f". They render to {messages:,} messages; a pass replays them "
        "in order, repeated.\n"
    )
    print("| measure | value | target | |")
    print("|---|---:|---:|---|")
    print(
        f"| events/s, fastest of {repeats} passes of {len(batch):,} "
        f"(CPU time) | {rate:,.0f} "
        f"| ≥ {TARGET:,} | {'✅' if ok else '❌ missed'} |"
    )
    print(f"| µs per event, fastest pass | {1e6 / rate:,.1f} | | |")
    print(f"| events/s, median pass | {median:,.0f} | | |")
    print(f"| slowest / fastest pass | {max(rates) / min(rates):.2f}x | | |")
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    raise SystemExit(main())
