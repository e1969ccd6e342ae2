"""
Worker cost in instructions: match + render, counted under valgrind.

The same work as ``bench/throughput.py`` (the events of simulated hours
of ``examples/trading_floor.py`` through the shipped ``routing.yaml``),
counted in CPU instructions instead of timed. A count does not change
with the machine's load, so two versions of the library can be compared
on a shared machine, where timings drift by tens of percent.

    python bench/instructions.py [--hours 6]

Runs the workload twice under ``valgrind --tool=callgrind`` (hash seed
fixed), once without passes and once with three, and prints the
difference per event. Needs valgrind; takes about a minute.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
PASSES = 3


def child(hours: int, passes: int) -> int:
    """Capture the events and process them *passes* times; print how many."""
    sys.path.insert(0, str(HERE))
    import throughput

    throughput.use_bench_destination()
    pipeline, raws = throughput.capture_day(
        throughput.REPO / "routing.yaml", hours
    )
    process = pipeline.process
    for raw in raws:  # as in throughput.py: caches warm before counting
        process(raw)
    for _ in range(passes):
        for raw in raws:
            process(raw)
    print(len(raws))
    sys.stdout.flush()
    os._exit(0)


def count(hours: int, passes: int) -> tuple[int, int]:
    """(instructions, events captured) of one child run under valgrind."""
    done = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            "--callgrind-out-file=/dev/null",
            sys.executable,
            __file__,
            "--child",
            str(passes),
            "--hours",
            str(hours),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONHASHSEED": "0"},
        check=True,
    )
    found = re.search(r"Collected : (\d+)", done.stderr)
    if found is None:
        raise SystemExit(f"valgrind printed no count:\n{done.stderr[-2000:]}")
    return int(found.group(1)), int(done.stdout.split()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hours", type=int, default=6)
    parser.add_argument(
        "--child", type=int, default=None, help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.child is not None:
        return child(args.hours, args.child)
    if shutil.which("valgrind") is None:
        print("bench/instructions.py needs valgrind (apt install valgrind)")
        return 2
    base, events = count(args.hours, 0)
    total, _ = count(args.hours, PASSES)
    per_event = (total - base) / (PASSES * events)
    print("# Worker cost in instructions: match + render\n")
    print(
        f"{events:,} events from {args.hours} simulated hours of "
        "`examples/trading_floor.py` (seed 7) through the shipped "
        f"`routing.yaml`, processed {PASSES} times under callgrind.\n"
    )
    print("| measure | value |")
    print("|---|---:|")
    print(f"| instructions per event | {per_event:,.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
