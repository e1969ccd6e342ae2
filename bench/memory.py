"""
Memory and caller blocking while Discord hangs.

Logs N distinct ``trade_executed`` events (default 1,000,000) as fast
as possible through a ``DiscordHandler`` on the shipped routing with
default delivery settings (console off), every channel on one webhook
of a loopback fake Discord that reads each request and never answers.
Run it as its own process: peak RSS (``resource.getrusage``
``ru_maxrss``) is compared before and after.

    python bench/memory.py [--quick] [--events N]

Targets: peak RSS grows by at most 100 MB; no log call blocks.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from _common import TRADE  # noqa: E402

TARGET_MB = 100.0


def max_rss_mb() -> float:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


def main(argv: list[str] | None = None) -> int:  # noqa: PLR0915
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--events", type=int)
    args = parser.parse_args(argv)
    events = args.events or (100_000 if args.quick else 1_000_000)
    import logging

    from fakes.discord import FakeDiscord
    from polybot_loghandler import DiscordHandler

    for name in list(os.environ):
        if name.upper().startswith("DISCORD_") or name.upper().endswith(
            "_PROXY"
        ):
            del os.environ[name]
    fake = FakeDiscord().start()
    fake.hang()
    os.environ["DISCORD_WEBHOOK_URL"] = fake.webhook_url("1", "tok-hung")
    text = (REPO / "routing.yaml").read_text(encoding="utf-8")
    routing = Path(tempfile.mkdtemp()) / "routing.yaml"
    routing.write_text(
        text.replace("\ndelivery:\n", '\ndelivery:\n  console: "off"\n', 1),
        encoding="utf-8",
    )
    # the shipped routing's spool, in a directory of its own
    os.environ["POLYBOT_SPOOL"] = str(routing.parent / "spool")
    handler = DiscordHandler(routing)
    log = logging.getLogger("bench.memory")
    log.handlers[:] = [handler]
    log.setLevel(logging.DEBUG)
    log.propagate = False
    extras = [{**TRADE, "trade_id": f"paper_{i}"} for i in range(1000)]
    log.info("trade_executed", extra=extras[0])  # warm up, start the worker
    time.sleep(0.5)

    depth = {"queued": 0, "pending": 0}
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.01):
            stats = handler.stats()
            for key, seen in depth.items():
                depth[key] = max(seen, stats[key])

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    before = max_rss_mb()
    slowest = 0
    over_1ms = over_10ms = 0
    clock = time.perf_counter_ns
    t0 = time.perf_counter()
    for i in range(events):
        extra = extras[i % 1000]
        c0 = clock()
        log.info("trade_executed", extra=extra)
        took = clock() - c0
        if took > 1_000_000:
            over_1ms += 1
            over_10ms += took > 10_000_000
            slowest = max(took, slowest)
    elapsed = time.perf_counter() - t0
    after_logging = max_rss_mb()
    time.sleep(2.0)  # the worker works through what is queued
    done.set()
    sampler.join()
    after = max_rss_mb()
    stats = handler.stats()
    growth = after - before
    print(
        f"# Memory: {events:,} events logged as fast as possible, "
        "Discord hung\n"
    )
    print("| measure | value | target | |")
    print("|---|---:|---:|---|")
    ok = growth <= TARGET_MB
    print(
        f"| peak RSS growth (2 s after the last call) | {growth:,.1f} MB "
        f"| ≤ {TARGET_MB:g} MB | {'✅' if ok else '❌ missed'} |"
    )
    print(f"| peak RSS before → after | {before:,.1f} → {after:,.1f} MB | | |")
    print(
        "| peak RSS growth at the last call | "
        f"{after_logging - before:,.1f} MB | | |"
    )
    print(
        f"| slowest single log call | {slowest / 1e6:,.2f} ms | "
        "never blocks | |"
    )
    print(
        f"| calls over 1 ms / over 10 ms | {over_1ms:,} / {over_10ms:,} | | |"
    )
    print(f"| time to log all | {elapsed:,.1f} s | | |")
    print(f"| max queue depth seen (`queued`) | {depth['queued']:,} | | |")
    print(
        f"| max waiting for delivery seen (`pending`) | "
        f"{depth['pending']:,} | | |"
    )
    print(f"| requests held by the hung fake | {fake.held} | | |")
    drops = {k: v for k, v in stats.items() if k.startswith("dropped.")}
    print(
        "\n`handler.stats()` at the end: "
        f"`handled` {stats['handled']:,}, `queued` {stats['queued']:,}, "
        f"`pending` {stats['pending']:,}"
        + "".join(f", `{k}` {v:,}" for k, v in drops.items())
        + ". The queue is sampled every 10 ms by a thread of its own."
    )
    sys.stdout.flush()
    os._exit(0)  # no exit-time flush into the hung fake


if __name__ == "__main__":
    raise SystemExit(main())
