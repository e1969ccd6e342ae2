"""
Caller cost with the spool on and off: the disk work is the worker's.

Two ``DiscordHandler``s on the shipped routing, both sending to one
loopback fake Discord that answers; one keeps a spool
(``delivery.spool``), the other does not. They take turns batch by
batch, each batch ``BATCH`` matched calls (CPU time of the calling
thread, and wall time, which includes waiting for the GIL while the
worker writes and renders); the ratio is the median of the ratios of
neighbouring batches.

    python bench/spool_cost.py [--quick]

Target: with the spool, a log call costs at most 1.1x what it costs
without.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from caller_extras import BATCH, drained, handler_logger, quantile  # noqa: E402
from handler_cost import TRADE  # noqa: E402

TARGET = 1.10


def routing(spool: str) -> Path:
    text = (REPO / "routing.yaml").read_text(encoding="utf-8")
    text = text.replace(
        "\ndelivery:\n",
        # a short flush_timeout: what is still pending when the timing
        # ends is not measured, and exit would otherwise wait for it
        '\ndelivery:\n  console: "off"\n  queue_size: 1000000\n'
        "  flush_timeout: 1s\n",
        1,
    )
    text = text.replace("${POLYBOT_SPOOL:-./data/discord-spool}", spool)
    path = Path(tempfile.mkdtemp()) / "routing.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    rounds, batches, wait = (4, 8, 0.2) if args.quick else (11, 20, 0.5)

    for name in list(os.environ):
        if name.upper().startswith(("DISCORD_", "POLYBOT_")):
            del os.environ[name]
    from fakes.discord import FakeDiscord
    from polybot_loghandler import DiscordHandler

    fake = FakeDiscord(rate_limit=None).start()
    os.environ["DISCORD_WEBHOOK_URL"] = fake.webhook_url("1", "tok-a")
    spool_dir = Path(tempfile.mkdtemp()) / "spool"
    handlers = {
        "without spool": DiscordHandler(routing("off")),
        "with spool": DiscordHandler(routing(str(spool_dir))),
    }
    logs = {
        k: handler_logger(k.replace(" ", "_"), h) for k, h in handlers.items()
    }
    ids = iter(range(10**9))
    cpu: dict[str, list[float]] = {k: [] for k in handlers}
    wall: dict[str, list[float]] = {k: [] for k in handlers}
    # batch by batch, the two in turn, as bench/caller_extras.py does: the
    # machine's drift touches both alike, and the ratio pairs neighbours
    for _ in range(rounds):
        for _ in range(batches):
            for name, log in logs.items():
                c0, w0 = time.thread_time_ns(), time.perf_counter_ns()
                for _ in range(BATCH):
                    log.info(
                        "trade_executed",
                        extra={**TRADE, "trade_id": f"t{next(ids)}"},
                    )
                c1, w1 = time.thread_time_ns(), time.perf_counter_ns()
                cpu[name].append((c1 - c0) / BATCH)
                wall[name].append((w1 - w0) / BATCH)
                drained(handlers[name].stats, wait)
    spooled = handlers["with spool"].stats()

    print(
        f"# Caller cost with the spool ({rounds} rounds x {batches} "
        f"batches x {BATCH} calls)\n"
    )
    print(
        "| variant | CPU median ns | CPU p99 ns | wall median ns "
        "| wall p99 ns |"
    )
    print("|---|---:|---:|---:|---:|")
    med: dict[str, float] = {}
    for k in handlers:
        med[k] = statistics.median(cpu[k])
        cells = [
            med[k],
            quantile(cpu[k], 0.99),
            statistics.median(wall[k]),
            quantile(wall[k], 0.99),
        ]
        print(f"| {k} | " + " | ".join(f"{c:,.0f}" for c in cells) + " |")
    pairs = zip(cpu["with spool"], cpu["without spool"], strict=True)
    ratio = statistics.median(a / b for a, b in pairs)
    verdict = "✅" if ratio <= TARGET else "❌ missed"
    print(
        f"\n| ratio | measured | target | |\n|---|---:|---:|---|\n"
        f"| with spool / without (CPU, median of paired batches) "
        f"| {ratio:.2f}x | "
        f"<= {TARGET:.2f}x | {verdict} |"
    )
    print(
        f"\nThe spooled handler wrote {spooled.get('handled', 0):,} events "
        f"through the spool; {spooled.get('spool.pending', 0):,} were "
        "still pending when the timing ended."
    )
    fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
