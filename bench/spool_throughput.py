"""
The whole worker's throughput with the spool on and off.

A ``DiscordHandler`` on the shipped ``routing.yaml``, with a webhook of
its own for each of its channels (as Polybot runs it), delivers to a
loopback fake Discord (``fakes/discord.py``) that runs in
a process of its own, so its HTTP work does not share the worker's
GIL. A pass logs 2,000 (``--quick``) or 3,000 distinct
``trade_executed`` events, half paper and half live, as fast as the
logger takes them; each renders to two messages (``trades_executed``,
and ``trades_paper`` or ``trades_live``), so three lanes send at once.
The pass's time runs from the first log call until ``flush()``
returns, when Discord has accepted every message (checked with
``stats()``): events per second, end to end. The two handlers, one
with ``delivery.spool`` and one without, take turns pass by pass; the
ratio is the median of the ratios of neighbouring passes.

Rate limits are kept out of the way, both alike, since they would set
the pace instead of the worker: the fake announces a bucket of a million
requests a minute per webhook in its ``X-RateLimit-*`` headers, and the
library's own pacing of Discord's hidden per-channel limit (30 messages
a minute) is lifted in the benchmark's processes. The fake also skips
its check of each body against Discord's schema: at 3.5 ms of CPU a
request of 10 embeds it would set the pace itself.

The same passes run with the package as of commit ``3e79ae5`` (the old
store, segment files), taken from git, in a process of its own: the
ratio then compares the old store with the new one on the same worker.

    python bench/spool_throughput.py [--quick]

Target: with the spool, the worker delivers at least 90% of the events a
second it delivers without.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from _common import TRADE as BENCH_TRADE  # noqa: E402
from spool_store import (  # noqa: E402
    BEFORE,
    RESULT,
    Child,
    old_package,
    store_module,
)

TARGET = 0.90
#: Requests a webhook's bucket holds, per minute: never the limit here.
GENEROUS = (1_000_000, 60.0)
#: Seconds a pass may take before it counts as failed.
PASS_TIMEOUT = 120.0
#: The benchmarks' trade, without ``is_paper``: a pass sets it per event.
TRADE: dict[str, Any] = {
    k: v for k, v in BENCH_TRADE.items() if k != "is_paper"
}


# -- the fake Discord, in a process of its own -------------------------------


def fake() -> int:
    """Serve a fake Discord until stdin ends; a line asks for its counts."""
    from fakes import discord as fake_discord
    from fakes.discord import FakeDiscord

    # its check of every body against Discord's schema takes 3.5 ms of
    # CPU a request of 10 embeds, several times what the worker spends
    # on one: with it, the fake would set the pace (the bodies' schema
    # is the tests' business)
    fake_discord.discord_errors = lambda _payload: []
    server = FakeDiscord(rate_limit=GENEROUS).start()
    print(RESULT + json.dumps({"url": server.url}), flush=True)
    for _ in sys.stdin:
        requests = server.requests
        counts = {
            "requests": len(requests),
            "accepted": sum(1 for r in requests if r.status in {200, 204}),
            "embeds": len(server.embeds()),
            "errors": len(server.server_errors),
        }
        print(RESULT + json.dumps(counts), flush=True)
    server.stop()
    return 0


# -- a worker process: one version of the package, two handlers ---------------


def routing(text: str, spool: str, into: Path) -> Path:
    """The shipped routing, quiet, unbounded, with *spool* as its spool."""
    text = text.replace(
        "\ndelivery:\n",
        '\ndelivery:\n  console: "off"\n  queue_size: 1000000\n'
        f"  flush_timeout: {PASS_TIMEOUT:g}s\n",
        1,
    )
    text = text.replace("${POLYBOT_SPOOL:-./data/discord-spool}", spool)
    path = into / f"routing-{'off' if spool == 'off' else 'on'}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def use_fake_webhooks(text: str, url: str) -> None:
    """A webhook of the fake's for each channel of the routing *text*."""
    for name in list(os.environ):
        if name.upper().startswith(("DISCORD_", "POLYBOT_")):
            del os.environ[name]
    keys = re.findall(r"\$\{DISCORD_WEBHOOK_(\w+):-", text)
    for n, key in enumerate(keys, start=1):
        os.environ[f"DISCORD_WEBHOOK_{key}"] = (
            f"{url}/api/webhooks/{1000 + n}/tok-{n}"
        )


def commits_counted() -> list[float]:
    """
    Count and time the spool's commits, from now on.

    Both stores have the same ``Spool.commit()``; it runs on the worker's
    event loop.

    Returns:
        ``[commits, seconds]``, kept up to date.
    """
    spool_class = store_module().Spool
    counted = [0.0, 0.0]
    commit = spool_class.commit

    def timed(self: Any) -> Any:
        started = time.perf_counter()
        try:
            return commit(self)
        finally:
            counted[0] += 1
            counted[1] += time.perf_counter() - started

    spool_class.commit = timed
    return counted


class Passes:
    """Two handlers, spool off and on, that log and deliver passes."""

    def __init__(self, text: str, work: Path) -> None:
        from polybot_loghandler import DiscordHandler
        from polybot_loghandler._ratelimit import RateLimiter

        # Discord's hidden per-channel limit, which the library paces:
        # lifted, or 30 messages a minute a channel is all we would see
        defaults = RateLimiter.__init__.__kwdefaults__
        assert defaults is not None
        defaults["channel_messages"] = 10**9
        self.commits = commits_counted()
        self.handlers = {
            False: DiscordHandler(routing(text, "off", work)),
            True: DiscordHandler(routing(text, str(work / "spool"), work)),
        }
        self.logs = {}
        for spooled, handler in self.handlers.items():
            log = logging.getLogger(f"bench.spool_throughput.{spooled}")
            log.handlers[:] = [handler]
            log.setLevel(logging.DEBUG)
            log.propagate = False
            self.logs[spooled] = log
        self.ids = iter(range(10**9))

    def one(self, spooled: bool, events: int) -> dict[str, Any]:
        """Log *events* trades and wait until Discord has them all."""
        log, handler = self.logs[spooled], self.handlers[spooled]
        before, commits = handler.stats(), list(self.commits)
        cpu, started = time.process_time(), time.perf_counter()
        for i in range(events):
            log.info(
                "trade_executed",
                extra={
                    **TRADE,
                    "is_paper": i % 2 == 0,
                    "trade_id": f"t{next(self.ids)}",
                },
            )
        handler.flush(PASS_TIMEOUT)
        took = time.perf_counter() - started
        cpu = time.process_time() - cpu
        after = handler.stats()
        delta = {k: v - before.get(k, 0) for k, v in after.items()}
        return {
            "rate": events / took,
            "cpu": cpu / events,
            "embeds": delta.get("sent.embeds", 0),
            "messages": delta.get("sent.messages", 0),
            "expected": 2 * events,
            "lost": {
                k: v for k, v in delta.items() if k.startswith("dropped") and v
            },
            "commits": self.commits[0] - commits[0],
            "seconds": self.commits[1] - commits[1],
            "committing": (self.commits[1] - commits[1]) / took,
        }

    def close(self) -> None:
        """Close both handlers."""
        for handler in self.handlers.values():
            handler.close()


def worker(root: str, url: str) -> int:
    """Serve passes for the package under *root*, one per stdin line."""
    text = (REPO / "routing.yaml").read_text(encoding="utf-8")
    use_fake_webhooks(text, url)
    sys.path.insert(0, root)
    import polybot_loghandler

    work = Path(tempfile.mkdtemp(prefix="bench-spool-worker-"))
    passes = Passes(text, work)
    for spooled in (False, True):  # untimed: connections, caches, database
        passes.one(spooled, 200)
    print(
        RESULT + json.dumps({"module": polybot_loghandler.__file__}),
        flush=True,
    )
    for line in sys.stdin:
        ask = json.loads(line)
        got = passes.one(ask["spool"], ask["events"])
        print(RESULT + json.dumps(got), flush=True)
    passes.close()
    shutil.rmtree(work, ignore_errors=True)
    sys.stdout.flush()
    os._exit(0)  # the worker threads are daemons: no wait at exit


# -- the report ------------------------------------------------------------


def complete(got: dict[str, Any]) -> bool:
    """Whether a pass delivered every message and lost none."""
    return got["embeds"] == got["expected"] and not got["lost"]


def median(passes: list[dict[str, Any]], name: str) -> float:
    """The median of *name* over *passes*."""
    return float(statistics.median(got[name] for got in passes))


def ratios(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> list[float]:
    """The ratios of the rates of neighbouring passes of *a* and *b*."""
    return [x["rate"] / y["rate"] for x, y in zip(a, b, strict=True)]


def paired(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> str:
    """The median of :func:`ratios`, and their range."""
    found = ratios(a, b)
    return (
        f"{statistics.median(found):.2f}x ({min(found):.2f}-{max(found):.2f})"
    )


LABELS = {
    ("new", False): "without spool",
    ("new", True): "with spool (SQLite)",
    ("old", False): f"without spool, {BEFORE}",
    ("old", True): f"with spool (segment files), {BEFORE}",
}


def run(rounds: int, events: int) -> tuple[dict[Any, Any], Any, str | None]:
    """
    Every variant's passes, in turn; and what the fake Discord counted.

    Returns:
        The passes by (version, spooled), the fake's counts, and why the
        old version is missing, if it is.
    """
    script = str(Path(__file__).resolve())
    discord = Child(script, "--fake")
    url = discord.hello["url"]
    work = Path(tempfile.mkdtemp(prefix="bench-spool-old-"))
    missing = old_package(work)
    versions = {"new": Child(script, "--worker", str(REPO), url)}
    if missing is None:
        versions["old"] = Child(script, "--worker", str(work), url)
    results: dict[tuple[str, bool], list[dict[str, Any]]] = {}
    try:
        for r in range(rounds):
            # every variant in turn, the order reversed every other round
            order = [(v, s) for v in versions for s in (False, True)]
            for version, spooled in order[:: -1 if r % 2 else 1]:
                got = versions[version].ask(
                    {"spool": spooled, "events": events}
                )
                results.setdefault((version, spooled), []).append(got)
        counts = discord.ask({})
    finally:
        for child in [*versions.values(), discord]:
            child.close()
        shutil.rmtree(work, ignore_errors=True)
    return results, counts, missing


def report(
    results: dict[tuple[str, bool], list[dict[str, Any]]],
    counts: dict[str, int],
    missing: str | None,
) -> None:
    """Print the variants, the ratios, and where the spool's time goes."""
    print(
        "| variant | events/s | CPU µs per event | messages sent "
        "| spool commits | time in commits | passes complete |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for key, label in LABELS.items():
        got = results.get(key)
        if got is None:
            continue
        cells = [
            f"{median(got, 'rate'):,.0f}",
            f"{median(got, 'cpu') * 1e6:,.0f}",
            f"{median(got, 'messages'):,.0f}",
            f"{median(got, 'commits'):,.0f}" if key[1] else "",
            f"{median(got, 'committing'):.0%}" if key[1] else "",
            f"{sum(map(complete, got))} of {len(got)}",
        ]
        print(f"| {label} | " + " | ".join(cells) + " |")
    on, off = results[("new", True)], results[("new", False)]
    ratio = statistics.median(ratios(on, off))
    print(
        "\n| ratio (median of paired passes, and their range) | measured "
        "| target | |\n|---|---:|---:|---|"
    )
    print(
        f"| with spool / without, events/s | {paired(on, off)} "
        f"| ≥ {TARGET:.2f}x | {'✅' if ratio >= TARGET else '❌ missed'} |"
    )
    if missing is None:
        old_on, old_off = results[("old", True)], results[("old", False)]
        print(
            f"| {BEFORE} (segment files): with spool / without "
            f"| {paired(old_on, old_off)} | | |"
        )
        print(
            "| with spool, new store / old store, events/s "
            f"| {paired(on, old_on)} | | |"
        )
    else:
        print(
            "| with spool, new store / old store | before: not available | | |"
        )
        print(f"\nThe old store could not be measured: {missing}.")
    per_commit = sum(g["seconds"] for g in on) / max(
        1, sum(g["commits"] for g in on)
    )
    print(
        "\nWith the spool, the worker commits every 100 ms (the old "
        "store's also before each send with something new to write): here "
        f"{median(on, 'commits'):,.0f} commits a pass for "
        f"{median(on, 'messages'):,.0f} messages sent, "
        f"{median(on, 'committing'):.0%} of the pass's time, "
        f"{per_commit * 1e3:.2f} ms a commit on average, on the worker's "
        "event loop."
    )
    bad = [
        f"{LABELS[key]}: {g['embeds']:,} of {g['expected']:,} embeds, "
        f"lost {g['lost']}"
        for key, passes in results.items()
        for g in passes
        if not complete(g)
    ]
    print(
        f"\nThe fake Discord accepted {counts['accepted']:,} of "
        f"{counts['requests']:,} requests, {counts['embeds']:,} embeds "
        f"({counts['errors']} errors of its own). "
        + (
            "Incomplete passes: " + "; ".join(bad)
            if bad
            else "Every pass delivered every message."
        )
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--fake", action="store_true")
    parser.add_argument("--worker", nargs=2, metavar=("ROOT", "URL"))
    args = parser.parse_args(argv)
    if args.fake:
        return fake()
    if args.worker:
        return worker(*args.worker)
    rounds, events = (5, 2_000) if args.quick else (9, 3_000)
    results, counts, missing = run(rounds, events)
    print(
        f"# Worker throughput with the spool ({rounds} rounds, "
        f"{events:,} events a pass)\n"
    )
    print(
        "The shipped `routing.yaml`, a webhook per channel, "
        f"{events:,} `trade_executed` events a pass (two messages each, on "
        "three lanes), logged as fast as the logger takes them; from the "
        "first call until `flush()` returns with everything accepted by a "
        "loopback fake Discord in its own process, rate limits out of the "
        "way (see `bench/spool_throughput.py`). Medians of the passes; "
        "CPU is the whole worker process's (`time.process_time`, the "
        "caller's thread included) per event. The variants take turns, "
        "pass by pass.\n"
    )
    report(results, counts, missing)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
