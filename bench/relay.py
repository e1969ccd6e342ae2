"""
The relay under load: many producer processes, one relay, a real Redis.

Producers log through a ``DiscordHandler`` whose routing sets
``delivery.relay``: their worker appends captured events to a Redis
stream, and ``polybot-loghandler relay`` processes route, render and
deliver them to a loopback fake Discord on 127.0.0.1,
``FakeDiscord(rate_limit=(5, 2.0), channel_limit=(30, 60.0))``:
Discord's webhook limit of 5 requests per 2 s, and its hidden limit of
30 messages a minute per channel, answered with a 429 of scope
``shared``. Nothing goes to the network. Redis is a ``redis-server`` of
each scenario's own (``tests/support/redisserver.py``), empty when the
scenario starts. The fake runs in the scenario's process; producers and
relays run in processes of their own (``--producer``, and the
``relay`` command), except where a scenario says otherwise. Each
scenario runs in a fresh subprocess of this script (``--scenario
NAME``) and prints one JSON line; the parent prints a Markdown report.

    python bench/relay.py [--quick] [--only NAME ...]

Scenarios (targets in brackets; ``--quick`` runs every one, smaller
where it says so):

1. shared-channel: 6 producer processes log 50 distinct trades each to
   one channel, as fast as they can. A, ``shared-each``: every process
   sends itself (``delivery.relay`` off); B, ``shared-relay``: through
   one relay. Reported: events delivered (unique), messages, 429s, the
   drain time (first log call to the last message accepted) and the
   least time the limits allow for the fewest messages. [B: 300/300
   delivered once, ≤ 31 messages, ≤ 1 429, drain ≤ 1.2 × minimum + 2 s]
2. flood: 6 producers log 1,000 identical errors each, through the
   relay, with ``coalesce_window: 3s`` so that the held summary leaves
   soon (the default is a minute). [≤ 3 messages, their ×N adding up to
   6,000]
3. failover: two relay processes; 6 producers (quick: 4) log 50 trades
   each; the active relay (its pid is in the lease) is killed with
   SIGKILL once half the embeds have arrived. [the standby takes over
   within 10 s; every event delivered; at most one batch (10 embeds)
   delivered twice]
4. redis-away: Redis (the scenario's own server) is stopped for 10 s
   while 2 producers log 50 trades each, one every 0.16 s; then a fresh,
   empty server starts on the same port. [100/100 delivered once; the
   slowest log call ≤ 5 ms; "cannot reach Redis" once in each
   producer's stderr]
5. no-relay: 2 producers log 60 trades each over 30 s (quick: 20 over
   10 s) while no relay runs; then a relay starts. [every event
   delivered once]; reported: from the relay's start to the last
   delivery.
6. caller-cost: one matched ``log.info("trade_executed", extra=...)``
   through ``DiscordHandler`` with the relay set (the shipped
   ``routing.yaml``, no relay running), against the standard library's
   ``QueueHandler`` on a plain ``SimpleQueue`` that nothing consumes;
   and an unmatched call against ``NullHandler``. Interleaved rounds,
   the caller thread's CPU time, medians of same-round ratios, as
   ``bench/handler_cost.py``. [matched ≤ 1.0× QueueHandler]
7. producer-rate: events a second one producer appends: 20,000 trades
   (quick: 5,000) logged as fast as possible, timed until
   ``handler.flush()`` returns (everything appended); XLEN checked.
8. relay-rate: the stream filled with 20,000 trades (quick: 5,000) by a
   producer process, then a ``Relay`` in this process whose channel has
   no destination (the console, switched off): from its start until
   every entry is acknowledged (XPENDING 0, the group's lag 0). Wall and
   CPU time (``time.process_time``). [≥ 5,000 events/s]
9. latency: 50 critical alerts, 0.25 s apart, from the log call (a
   producer in the fake's process) through a relay process to the
   request's arrival at the fake, round-robin over 5 channels nothing
   else uses, so every lane has budget. [p99 ≤ 100 ms]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import json
import logging
import logging.handlers
import math
import os
import queue
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _common import (
    REPO,
    RESULT,
    TRADE,
    machine_lines,
    make_logger,
    run_in_child,
)
from delivery import Report, embed_count, quantile

sys.path.insert(0, str(REPO))

#: The fake's webhook limit: requests per window of seconds.
RATE_LIMIT = (5, 2.0)
#: The fake's per-channel limit: messages per window of seconds.
CHANNEL_LIMIT = (30, 60.0)
#: Embeds per message, Discord's maximum (and the library's batch size).
EMBEDS_PER_MESSAGE = 10
#: Marks a child's result line on its stdout, and a producer's readiness.
READY = "BENCH-READY"
#: The command line, as a process of its own.
CLI = [sys.executable, "-m", "polybot_loghandler._cli"]

PRODUCERS = 6
TRADES_EACH = 50
FLOOD_EACH = 1_000
AWAY_S = 10.0
AWAY_EACH = 50
AWAY_GAP = 0.16
LATENCY_EVENTS = 50
LATENCY_LANES = 5
LATENCY_GAP = 0.25
#: Seconds to wait for something that should take a few.
LEASE_WAIT = 30.0

UNMATCHED = {"cache": "quotes", "entries": 120}


@dataclass(frozen=True)
class Sizes:
    """What ``--quick`` makes smaller."""

    failover_producers: int
    quiet_s: float  # no-relay: how long producers log with no relay
    quiet_each: int
    cost_rounds: int
    cost_calls: int
    rate_events: int
    producer_passes: int
    relay_passes: int


QUICK = Sizes(4, 10.0, 20, 7, 1000, 5_000, 2, 2)
FULL = Sizes(6, 30.0, 60, 15, 2000, 20_000, 3, 3)

#: Seconds the parent lets one scenario's subprocess run.
SCENARIO_TIMEOUT = {
    "shared-each": 240.0,
    "shared-relay": 180.0,
    "flood": 120.0,
    "failover": 300.0,
    "redis-away": 180.0,
    "no-relay": 180.0,
    "caller-cost": 300.0,
    "producer-rate": 240.0,
    "relay-rate": 400.0,
    "latency": 150.0,
}
NAMES = tuple(SCENARIO_TIMEOUT)

# One channel on one webhook of the fake; distinct trades, one embed each.
TRADES_ROUTING = """\
version: 1
channels:
  trades: "{url}"
delivery:
  console: "off"
  relay: "{relay}"
  flush_timeout: 120s
routes:
  - name: trades
    match: {{event: trade_executed}}
    to: trades
    coalesce: false
    embed:
      title: "trade {{{{ source }}}}-{{{{ n }}}}"
      fields: auto
"""

# The shipped catch-all for errors, on one channel.
FLOOD_ROUTING = """\
version: 1
channels:
  alerts: "{url}"
delivery:
  console: "off"
  relay: "{relay}"
  coalesce_window: 3s
  flush_timeout: 60s
routes:
  - name: errors
    match: {{level: error}}
    to: alerts
    embed:
      title: "{{{{ event | humanize if message == event else message }}}}"
      color: "{{{{ level }}}}"
      fields: auto
      footer: "{{{{ logger }}}} · {{{{ level | upper }}}}"
"""

# The shipped trade embed, on a channel with no destination (the
# console, switched off).
RATE_ROUTING = """\
version: 1
channels:
  trades: ""
delivery:
  console: "off"
  relay: "{relay}"
  flush_timeout: 300s
{extra}routes:
  - name: trade_executed
    match: {{event: trade_executed}}
    to: trades
    coalesce: false
    embed:
      title: 📝 Trade Executed
      color: "{{{{ 'paper' if is_paper else 'live' }}}}"
      fields:
        - {{name: Agent, value: "{{{{ agent }}}}"}}
        - {{name: Market, value: "{{{{ market }}}}"}}
        - {{name: Side, value: "{{{{ side }}}}"}}
        - {{name: Amount, value: "{{{{ amount | money }}}}"}}
        - {{name: Price, value: "{{{{ price | price }}}}"}}
        - {{name: Fees, value: "{{{{ fees | money }}}}"}}
        - {{name: Time, value: "{{{{ time | datetime }}}}"}}
        - {{name: Trade ID, value: "{{{{ source }}}}-{{{{ n }}}}"}}
"""

LATENCY_ROUTING = """\
version: 1
delivery:
  console: "off"
  relay: "{relay}"
routes:
  - name: probe
    match: {{event: latency_probe}}
    to: "{{{{ lane }}}}"
    coalesce: false
    embed:
      title: "probe {{{{ seq }}}}"
      fields: auto
channels:
{channels}
"""


# -- processes, Redis and the fake (the scenario's side) ----------------------


def _foreign(name: str) -> bool:
    """Settings that could send elsewhere than the fake, or to a spool."""
    upper = name.upper()
    return (
        upper.startswith("DISCORD_")
        or upper.endswith("_PROXY")
        or upper in {"POLYBOT_ROUTING", "POLYBOT_REDIS_URL", "POLYBOT_SPOOL"}
    )


def clean_environment() -> None:
    for name in list(os.environ):
        if _foreign(name):
            del os.environ[name]


def child_environment() -> dict[str, str]:
    """This environment, clean, with this checkout first on the path."""
    env = {k: v for k, v in os.environ.items() if not _foreign(k)}
    paths = [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    return env


_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform == "linux" else None


def _die_with_parent() -> None:
    """In a child: be killed when the scenario's process dies."""
    if _LIBC is not None:
        _LIBC.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def write_routing(text: str, name: str = "routing.yaml") -> Path:
    path = Path(tempfile.mkdtemp(prefix="bench-relay-")) / name
    path.write_text(text, encoding="utf-8")
    return path


def wait_until(
    predicate: Callable[[], bool], timeout: float, poll: float = 0.01
) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            return False
        time.sleep(poll)
    return True


class Producers:
    """
    Producer processes of this script, started together.

    Each builds its handler, says it is ready, and waits for ``go`` on
    stdin, so that every one starts logging at once.
    """

    def __init__(
        self, routing: Path, jobs: list[tuple[str, int, str, float]]
    ) -> None:
        self.procs: list[subprocess.Popen[str]] = []
        for name, count, kind, gap in jobs:
            args = [str(routing), name, str(count), kind, str(gap)]
            self.procs.append(
                subprocess.Popen(
                    [sys.executable, __file__, "--producer", *args],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                    env=child_environment(),
                    cwd=REPO,
                    preexec_fn=_die_with_parent,  # noqa: PLW1509 - prctl only
                )
            )
        for proc in self.procs:
            assert proc.stdout is not None
            for line in proc.stdout:
                if line.strip() == READY:
                    break
            else:
                _, err = proc.communicate()
                raise RuntimeError(
                    f"a producer ended before it was ready: {err}"
                )

    def go(self) -> None:
        for proc in self.procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()

    def finish(self, timeout: float) -> list[dict[str, Any]]:
        """Every producer's report, once each has closed its handler."""
        reports = []
        deadline = time.monotonic() + timeout
        for proc in self.procs:
            try:
                out, err = proc.communicate(
                    timeout=max(1.0, deadline - time.monotonic())
                )
            except subprocess.TimeoutExpired:
                proc.kill()
                out, err = proc.communicate()
                raise RuntimeError(
                    f"a producer did not finish in {timeout:g} s: {err}"
                ) from None
            found = [x for x in out.splitlines() if x.startswith(RESULT)]
            if proc.returncode or not found:
                raise RuntimeError(
                    f"a producer failed (status {proc.returncode}): {err}"
                )
            report: dict[str, Any] = json.loads(found[-1][len(RESULT) :])
            report["stderr"] = err
            reports.append(report)
        return reports


class RelayProcess:
    """``polybot-loghandler relay --routing FILE``, its output in a file."""

    def __init__(self, routing: Path) -> None:
        self.output = routing.parent / f"relay-{time.monotonic_ns()}.log"
        self.started = time.monotonic()
        with self.output.open("w", encoding="utf-8") as out:
            self.proc = subprocess.Popen(
                [*CLI, "relay", "--routing", str(routing)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=child_environment(),
                cwd=REPO,
                preexec_fn=_die_with_parent,  # noqa: PLW1509 - prctl only
            )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        """SIGTERM (the relay hands over), then SIGKILL if it lingers."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def said(self) -> list[str]:
        """The library's lines in its output."""
        text = self.output.read_text(encoding="utf-8", errors="replace")
        return [x for x in text.splitlines() if "polybot" in x]


@contextlib.contextmanager
def own_redis() -> Iterator[Any]:
    """A ``redis-server`` of this scenario's own, empty; stopped after."""
    from tests.support.redisserver import RedisServer

    with RedisServer() as server:
        yield server


class Stream:
    """What the scenario reads from Redis: the stream, the lease, status."""

    def __init__(self, url: str) -> None:
        import redis

        from polybot_loghandler._relay.keys import GROUP, Keys

        self.keys = Keys
        self.group = GROUP
        self.error = redis.RedisError
        self.client = redis.Redis.from_url(
            url, socket_connect_timeout=2.0, socket_timeout=5.0
        )

    def length(self) -> int:
        return int(self.client.xlen(self.keys.stream))

    def drained(self) -> bool:
        """Every entry read by the relays' group and acknowledged."""
        try:
            groups = self.client.xinfo_groups(self.keys.stream)
            for group in groups:
                if _text(group.get("name")) != self.group:
                    continue
                if group.get("pending"):
                    return False
                lag = group.get("lag")
                if lag is not None:
                    return int(lag) == 0
                info = self.client.xinfo_stream(self.keys.stream)
                last = _text(info.get("last-generated-id"))
                return _text(group.get("last-delivered-id")) == last
        except self.error:
            return False
        return False

    def acked(self) -> int:
        """Entries the relays' group has read and acknowledged."""
        try:
            for group in self.client.xinfo_groups(self.keys.stream):
                if _text(group.get("name")) == self.group:
                    read = group.get("entries-read") or 0
                    return int(read) - int(group.get("pending") or 0)
        except self.error:
            pass
        return 0

    def active_pid(self) -> int | None:
        """The pid in the lease (``host:pid:nonce|token``), if any."""
        try:
            lease = self.client.get(self.keys.lease)
        except self.error:
            return None
        return None if lease is None else int(_text(lease).split(":")[1])

    def relays(self) -> int:
        """Relays that announced themselves, active or standing by."""
        try:
            return int(self.client.hlen(self.keys.relays))
        except self.error:
            return 0

    def relay_stats(self, delivered: int, wait: float = 3.0) -> dict[str, int]:
        """
        The active relay's counters, as its status says (written every
        2 s): waits up to *wait* s for them to show *delivered* events.
        """
        stats: dict[str, int] = {}

        def read() -> bool:
            nonlocal stats
            try:
                raw = self.client.hget(self.keys.status, "stats")
            except self.error:
                return False
            stats = json.loads(raw) if raw else {}
            return stats.get("delivered", 0) >= delivered

        wait_until(read, wait, poll=0.2)
        return pick_stats(stats)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def pick_stats(stats: dict[str, int]) -> dict[str, int]:
    keep = (
        *("handled", "delivered", "coalesced", "sent.messages"),
        *("sent.embeds", "rate_limited", "retries", "relay.left_pending"),
    )
    out = {k: stats[k] for k in keep if k in stats}
    out.update(
        {k: v for k, v in stats.items() if k.startswith(("dropped.", "err"))}
    )
    return out


@contextlib.contextmanager
def fake_discord() -> Iterator[Any]:
    from fakes.discord import FakeDiscord

    fake = FakeDiscord(rate_limit=RATE_LIMIT, channel_limit=CHANNEL_LIMIT)
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()


def discord_summary(fake: Any, t0: float) -> dict[str, Any]:
    """What the fake saw; times in seconds after *t0* (monotonic)."""
    requests = fake.requests
    messages = fake.messages
    status_429 = sum(1 for r in requests if r.status == 429)
    refused = sum(1 for r in requests if r.status in {401, 403})
    times = [m.time for m in messages]
    return {
        "requests": len(requests),
        "messages": len(messages),
        "embeds": len(fake.embeds()),
        "status_429": status_429,
        "status_429_shared": status_429 - (fake.invalid_requests - refused),
        "rejected": len(fake.rejected),
        "server_errors": len(fake.server_errors),
        "first_s": min(times, default=t0) - t0,
        "drain_s": max(times, default=t0) - t0,
    }


def trades(fake: Any) -> tuple[int, int]:
    """Distinct trades among the fake's embeds, and all trade embeds."""
    titles = [
        e.get("title", "")
        for e in fake.embeds()
        if str(e.get("title", "")).startswith("trade ")
    ]
    return len(set(titles)), len(titles)


def producer_notes(reports: list[dict[str, Any]]) -> dict[str, Any]:
    """The producers' reports, summed up for the parent."""
    said: list[str] = []
    for r in reports:
        said += [x for x in r["stderr"].splitlines() if "polybot" in x]
    calls = [d for r in reports for d in r["durations_ms"]]
    stats: dict[str, int] = {}
    for r in reports:
        for k, v in r["stats"].items():
            if k.startswith(("dropped.", "err", "handled")):
                stats[k] = stats.get(k, 0) + v
    return {
        "slowest_ms": max(calls, default=0.0),
        "p99_ms": quantile(calls, 0.99) if calls else 0.0,
        "log_s": max(r["t_logged"] - r["t0"] for r in reports),
        "close_s": max(r["t_closed"] - r["t_logged"] for r in reports),
        "stats": stats,
        "said": said[:20],
    }


# -- a producer process ------------------------------------------------------


def producer(
    routing: str, name: str, count: int, kind: str, gap: float
) -> int:
    """Log *count* events when told to, close, and report on stdout."""
    from polybot_loghandler import DiscordHandler

    handler = DiscordHandler(routing)
    log = logging.getLogger("floor")
    log.setLevel(logging.INFO)
    log.propagate = False
    log.addHandler(handler)
    extras = [{**TRADE, "n": n, "source": name} for n in range(count)]
    print(READY, flush=True)
    sys.stdin.readline()  # go
    durations = []
    t0 = time.monotonic()
    for n in range(count):
        if gap:
            time.sleep(max(0.0, t0 + n * gap - time.monotonic()))
        start = time.perf_counter()
        if kind == "trades":
            log.info("trade_executed", extra=extras[n])
        else:
            log.error("database_unreachable", extra={"host": "db-1"})
        durations.append((time.perf_counter() - start) * 1000)
    t_logged = time.monotonic()
    handler.close()  # flush: appended (relay), or delivered (no relay)
    result = {
        "t0": t0,
        "t_logged": t_logged,
        "t_closed": time.monotonic(),
        "durations_ms": durations,
        "stats": handler.stats(),
    }
    print(RESULT + json.dumps(result), flush=True)
    return 0


# -- scenarios ---------------------------------------------------------------


def stop_all(relays: list[RelayProcess]) -> None:
    """Stop every relay of a scenario (at its end, whatever happened)."""
    for relay in relays:
        relay.stop()


def said_by(relays: list[RelayProcess]) -> list[str]:
    """What the relays said on stderr, for the report."""
    return [line for relay in relays for line in relay.said()]


def lease_taken(stream: Stream, relays: list[RelayProcess]) -> None:
    if not wait_until(lambda: stream.active_pid() is not None, LEASE_WAIT):
        said = said_by(relays)
        raise RuntimeError(f"no relay took the lease: {said}")


def scenario_shared(*, relayed: bool, sizes: Sizes) -> dict[str, Any]:
    del sizes  # the same sizes in both modes
    events = PRODUCERS * TRADES_EACH
    with own_redis() as server, fake_discord() as fake:
        stream = Stream(server.url)
        url = fake.webhook_url("1001", "tok-trades")
        relay = server.url if relayed else "off"
        path = write_routing(TRADES_ROUTING.format(url=url, relay=relay))
        relays = [RelayProcess(path)] if relayed else []
        try:
            if relayed:
                lease_taken(stream, relays)
            jobs = [
                (f"p{i}", TRADES_EACH, "trades", 0.0) for i in range(PRODUCERS)
            ]
            producers = Producers(path, jobs)
            producers.go()
            reports = producers.finish(timeout=200)
            complete = wait_until(
                lambda: (
                    trades(fake)[0] >= events
                    and (not relayed or stream.drained())
                ),
                120,
            )
            t0 = min(r["t0"] for r in reports)
            result = discord_summary(fake, t0)
            unique, total = trades(fake)
            result.update(
                events=events,
                delivered=unique,
                duplicates=total - unique,
                complete=complete,
                producers=producer_notes(reports),
                relay_stats=stream.relay_stats(events) if relayed else {},
            )
        finally:
            stop_all(relays)
        result["relay_said"] = said_by(relays)
        return result


def scenario_flood(sizes: Sizes) -> dict[str, Any]:
    del sizes
    events = PRODUCERS * FLOOD_EACH
    with own_redis() as server, fake_discord() as fake:
        stream = Stream(server.url)
        url = fake.webhook_url("1002", "tok-alerts")
        path = write_routing(FLOOD_ROUTING.format(url=url, relay=server.url))
        relays = [RelayProcess(path)]
        try:
            lease_taken(stream, relays)
            jobs = [
                (f"p{i}", FLOOD_EACH, "errors", 0.0) for i in range(PRODUCERS)
            ]
            producers = Producers(path, jobs)
            producers.go()
            reports = producers.finish(timeout=100)

            def counted() -> int:
                return sum(embed_count(e) for e in fake.embeds())

            complete = wait_until(
                lambda: counted() >= events and stream.drained(), 60
            )
            t0 = min(r["t0"] for r in reports)
            result = discord_summary(fake, t0)
            result.update(
                events=events,
                counted=counted(),
                counts=[embed_count(e) for e in fake.embeds()],
                complete=complete,
                producers=producer_notes(reports),
                relay_stats=stream.relay_stats(events),
            )
        finally:
            stop_all(relays)
        result["relay_said"] = said_by(relays)
        return result


def scenario_failover(sizes: Sizes) -> dict[str, Any]:
    count = sizes.failover_producers
    events = count * TRADES_EACH
    with own_redis() as server, fake_discord() as fake:
        stream = Stream(server.url)
        url = fake.webhook_url("1003", "tok-failover")
        path = write_routing(TRADES_ROUTING.format(url=url, relay=server.url))
        relays = [RelayProcess(path), RelayProcess(path)]
        try:
            lease_taken(stream, relays)
            if not wait_until(lambda: stream.relays() >= 2, LEASE_WAIT):
                raise RuntimeError("the second relay did not stand by")
            first = stream.active_pid()
            if first not in {r.pid for r in relays}:
                raise RuntimeError(f"the lease names pid {first}, not a relay")
            jobs = [
                (f"p{i}", TRADES_EACH, "trades", 0.0) for i in range(count)
            ]
            producers = Producers(path, jobs)
            producers.go()
            reports = producers.finish(timeout=100)
            t0 = min(r["t0"] for r in reports)
            half = wait_until(lambda: trades(fake)[1] >= events // 2, 60)
            before_kill = trades(fake)[1]
            assert first is not None
            os.kill(first, signal.SIGKILL)
            killed = time.monotonic()
            took = wait_until(
                lambda: stream.active_pid() not in {None, first}, 30
            )
            took_over_s = time.monotonic() - killed if took else None
            complete = wait_until(
                lambda: trades(fake)[0] >= events and stream.drained(), 150
            )
            result = discord_summary(fake, t0)
            unique, total = trades(fake)
            result.update(
                events=events,
                delivered=unique,
                duplicates=total - unique,
                complete=complete,
                half_reached=half,
                before_kill=before_kill,
                killed_s=killed - t0,
                took_over_s=took_over_s,
                producers=producer_notes(reports),
                relay_stats=stream.relay_stats(events - before_kill),
            )
        finally:
            stop_all(relays)
        result["relay_said"] = said_by(relays)
        return result


def scenario_redis_away(sizes: Sizes) -> dict[str, Any]:
    del sizes  # the outage is the point: the same in both modes
    events = 2 * AWAY_EACH
    with own_redis() as server, fake_discord() as fake:
        url = fake.webhook_url("1004", "tok-away")
        path = write_routing(TRADES_ROUTING.format(url=url, relay=server.url))
        relays = [RelayProcess(path)]
        try:
            lease_taken(Stream(server.url), relays)
            jobs = [(f"p{i}", AWAY_EACH, "trades", AWAY_GAP) for i in range(2)]
            producers = Producers(path, jobs)
            server.stop()
            stopped = time.monotonic()
            producers.go()
            time.sleep(max(0.0, stopped + AWAY_S - time.monotonic()))
            server.start()  # a fresh server: no stream, no group, no lease
            restarted = time.monotonic()
            reports = producers.finish(timeout=120)
            stream = Stream(server.url)
            complete = wait_until(
                lambda: trades(fake)[0] >= events and stream.drained(), 90
            )
            result = discord_summary(fake, stopped)
            unique, total = trades(fake)
            calls = [d for r in reports for d in r["durations_ms"]]
            result.update(
                events=events,
                delivered=unique,
                duplicates=total - unique,
                complete=complete,
                away_s=restarted - stopped,
                logging_s=[
                    [r["t0"] - stopped, r["t_logged"] - stopped]
                    for r in reports
                ],
                appended_s=[r["t_closed"] - stopped for r in reports],
                slowest_ms=max(calls),
                p99_ms=quantile(calls, 0.99),
                p50_ms=quantile(calls, 0.5),
                calls=len(calls),
                warnings=[
                    r["stderr"].count("cannot reach Redis") for r in reports
                ],
                back=[r["stderr"].count("answers again") for r in reports],
                producers=producer_notes(reports),
                relay_stats=stream.relay_stats(events),
            )
        finally:
            stop_all(relays)
        result["relay_said"] = said_by(relays)
        return result


def scenario_no_relay(sizes: Sizes) -> dict[str, Any]:
    each = sizes.quiet_each
    events = 2 * each
    gap = sizes.quiet_s / each
    with own_redis() as server, fake_discord() as fake:
        stream = Stream(server.url)
        url = fake.webhook_url("1005", "tok-quiet")
        path = write_routing(TRADES_ROUTING.format(url=url, relay=server.url))
        jobs = [(f"p{i}", each, "trades", gap) for i in range(2)]
        producers = Producers(path, jobs)
        producers.go()
        reports = producers.finish(timeout=sizes.quiet_s + 60)
        appended = stream.length()
        nothing_sent = fake.count() == 0
        relays = [RelayProcess(path)]
        started = relays[0].started
        try:
            lease_taken(stream, relays)
            lease_s = time.monotonic() - started
            complete = wait_until(
                lambda: trades(fake)[0] >= events and stream.drained(), 90
            )
            result = discord_summary(fake, started)
            unique, total = trades(fake)
            result.update(
                events=events,
                quiet_s=sizes.quiet_s,
                appended=appended,
                nothing_sent=nothing_sent,
                delivered=unique,
                duplicates=total - unique,
                complete=complete,
                lease_s=lease_s,
                producers=producer_notes(reports),
                relay_stats=stream.relay_stats(events),
            )
        finally:
            stop_all(relays)
        result["relay_said"] = said_by(relays)
        return result


def stop(handler: Any) -> None:
    """
    Stop *handler*'s worker now, before its Redis goes: ``close()``
    only flushes, and the worker would go on (and say that Redis is
    gone) until the interpreter exits.
    """
    handler.close()
    handler._pipeline.close()  # noqa: SLF001 - stops the shared worker


def timed(call: Callable[[], None], n: int) -> tuple[float, float]:
    cpu0, wall0 = time.thread_time(), time.perf_counter()
    for _ in range(n):
        call()
    cpu1, wall1 = time.thread_time(), time.perf_counter()
    return (cpu1 - cpu0) / n, (wall1 - wall0) / n


def shipped_with_relay(url: str) -> Path:
    """The shipped routing, quiet, unbounded, no spool, the relay on."""
    text = (REPO / "routing.yaml").read_text(encoding="utf-8")
    text = text.replace("${POLYBOT_SPOOL:-./data/discord-spool}", '"off"')
    relay = "${POLYBOT_REDIS_URL:-}"
    if relay not in text:
        raise SystemExit(f"the shipped routing no longer reads {relay}")
    text = text.replace(relay, f'"{url}"').replace(
        "\ndelivery:\n",
        '\ndelivery:\n  console: "off"\n  queue_size: 1000000\n',
        1,
    )
    return write_routing(text)


def scenario_caller_cost(sizes: Sizes) -> dict[str, Any]:
    from polybot_loghandler import DiscordHandler

    rounds, n = sizes.cost_rounds, sizes.cost_calls
    with own_redis() as server:
        stream = Stream(server.url)
        discord = DiscordHandler(shipped_with_relay(server.url))
        plain: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
        null_log = make_logger("null", logging.NullHandler())
        queue_log = make_logger("queue", logging.handlers.QueueHandler(plain))
        ours_log = make_logger("ours", discord)
        trade = {**TRADE, "trade_id": "paper_1738249425.123"}
        variants: dict[str, Callable[[], None]] = {
            "NullHandler, trade_executed": lambda: null_log.info(
                "trade_executed", extra=trade
            ),
            "QueueHandler, trade_executed": lambda: queue_log.info(
                "trade_executed", extra=trade
            ),
            "DiscordHandler (relay), unmatched event": lambda: ours_log.debug(
                "cache_refreshed", extra=UNMATCHED
            ),
            "NullHandler, unmatched event": lambda: null_log.debug(
                "cache_refreshed", extra=UNMATCHED
            ),
            "DiscordHandler (relay), trade_executed": lambda: ours_log.info(
                "trade_executed", extra=trade
            ),
        }
        cpu: dict[str, list[float]] = {k: [] for k in variants}
        wall: dict[str, list[float]] = {k: [] for k in variants}
        appended = 0

        def settle() -> None:
            # untimed: the producer appends what it holds, the plain
            # queue is emptied, and the stream starts empty again
            nonlocal appended
            discord.flush()
            while not plain.empty():
                plain.get_nowait()
            appended += stream.length()
            stream.client.delete(stream.keys.stream)
            time.sleep(0.005)

        for _ in range(rounds):
            for name, call in variants.items():
                c, w = timed(call, n)
                cpu[name].append(c)
                wall[name].append(w)
                settle()
        stats = discord.stats()
        stop(discord)
    return {
        "rounds": rounds,
        "calls": n,
        "cpu": cpu,
        "wall": wall,
        "appended": appended,
        "stats": pick_stats(stats),
    }


def scenario_producer_rate(sizes: Sizes) -> dict[str, Any]:
    from polybot_loghandler import DiscordHandler

    events = sizes.rate_events
    with own_redis() as server:
        stream = Stream(server.url)
        extra = "  queue_size: 1000000\n"
        path = write_routing(
            RATE_ROUTING.format(relay=server.url, extra=extra)
        )
        handler = DiscordHandler(path)
        log = make_logger("producer", handler)
        passes = []
        for p in range(sizes.producer_passes):
            stream.client.delete(stream.keys.stream)
            extras = [
                {**TRADE, "n": n, "source": f"pass{p}"} for n in range(events)
            ]
            wall0, cpu0 = time.perf_counter(), time.process_time()
            for extra_fields in extras:
                log.info("trade_executed", extra=extra_fields)
            logged = time.perf_counter()
            handler.flush()
            wall1, cpu1 = time.perf_counter(), time.process_time()
            passes.append(
                {
                    "wall_s": wall1 - wall0,
                    "log_s": logged - wall0,
                    "cpu_s": cpu1 - cpu0,
                    "xlen": stream.length(),
                }
            )
        stats = handler.stats()
        stop(handler)
    return {"events": events, "passes": passes, "stats": pick_stats(stats)}


def scenario_relay_rate(sizes: Sizes) -> dict[str, Any]:
    events = sizes.rate_events
    with own_redis() as server:
        stream = Stream(server.url)
        fill = write_routing(
            RATE_ROUTING.format(
                relay=server.url, extra="  queue_size: 1000000\n"
            ),
            "fill.yaml",
        )
        # the relay's own file: default queue_size (10,000), so at most
        # that many entries are read and not yet acknowledged
        relay_path = write_routing(
            RATE_ROUTING.format(relay=server.url, extra=""), "relay.yaml"
        )
        passes = []
        for _ in range(sizes.relay_passes):
            stream.client.flushdb()
            producers = Producers(fill, [("fill", events, "trades", 0.0)])
            producers.go()
            producers.finish(timeout=200)
            passes.append(relay_pass(stream, relay_path))
    return {"events": events, "passes": passes}


def relay_pass(stream: Stream, routing: Path) -> dict[str, Any]:
    """One relay, in a thread of this process, until the stream is done."""
    from polybot_loghandler import load_config
    from polybot_loghandler._relay.relay import Relay

    filled = stream.length()
    relay = Relay(load_config(routing), None)
    thread = threading.Thread(
        target=lambda: asyncio.run(relay.run()),
        name=RELAY_THREAD,
        daemon=True,
    )
    first_ack: list[float] = []

    def drained() -> bool:
        if not first_ack and stream.acked() > 0:
            first_ack.append(time.perf_counter())
        return stream.drained()

    threads0 = thread_cpu()
    wall0, cpu0 = time.perf_counter(), time.process_time()
    thread.start()
    done = wait_until(drained, 300, poll=0.02)
    wall1, cpu1 = time.perf_counter(), time.process_time()
    threads1 = thread_cpu()
    stats = relay.stats()
    relay.stop()
    thread.join(30)
    return {
        "filled": filled,
        "done": done,
        "wall_s": wall1 - wall0,
        "cpu_s": cpu1 - cpu0,
        "first_ack_s": first_ack[0] - wall0 if first_ack else None,
        "threads": {k: v - threads0.get(k, 0.0) for k, v in threads1.items()},
        "stats": pick_stats(stats),
    }


#: The name of the thread the in-process relay's loop runs in.
RELAY_THREAD = "relay loop"
#: Names of the threads whose CPU time ``thread_cpu`` reports, by group.
THREAD_GROUPS = {
    RELAY_THREAD: "relay loop (read, decode, acknowledge)",
    "polybot_loghandler.worker": "engine (intake, lanes, console)",
    "AnyIO worker thread": "render thread (route, render)",
}


def thread_cpu() -> dict[str, float]:
    """
    CPU seconds of this process's live threads, by group of
    ``THREAD_GROUPS`` (other threads as ``other``); Linux only, else
    empty. A thread that ended meanwhile is not counted.
    """
    tasks = Path("/proc/self/task")
    if not tasks.is_dir():
        return {}
    names = {t.native_id: t.name for t in threading.enumerate()}
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[str, float] = {}
    for task in tasks.iterdir():
        try:
            stat = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        name = names.get(int(task.name), "")
        group = THREAD_GROUPS.get(name, "other")
        out[group] = (
            out.get(group, 0.0) + (int(stat[11]) + int(stat[12])) / tick
        )
    return out


def scenario_latency(sizes: Sizes) -> dict[str, Any]:
    del sizes
    from polybot_loghandler import DiscordHandler

    with own_redis() as server, fake_discord() as fake:
        stream = Stream(server.url)
        urls = {
            f"lat_{n}": fake.webhook_url(f"30{n:02d}", f"tok-lat{n}")
            for n in range(LATENCY_LANES)
        }
        channels = "\n".join(f'  {k}: "{u}"' for k, u in urls.items())
        path = write_routing(
            LATENCY_ROUTING.format(relay=server.url, channels=channels)
        )
        relays = [RelayProcess(path)]
        handler = DiscordHandler(path)
        log = make_logger("latency", handler)

        def arrivals() -> dict[str, float]:
            seen: dict[str, float] = {}
            for request in fake.requests:
                for embed in (request.json or {}).get("embeds") or ():
                    seen.setdefault(embed.get("title", ""), request.time)
            return seen

        try:
            lease_taken(stream, relays)
            # warm up: a probe per lane opens the relay's connections
            for lane in urls:
                log.critical(
                    "latency_probe", extra={"lane": lane, "seq": f"w-{lane}"}
                )
            warm = wait_until(lambda: len(arrivals()) >= len(urls), 20)
            time.sleep(RATE_LIMIT[1] + 0.5)  # every bucket starts afresh
            fake.clear()
            sent: dict[str, float] = {}
            start = time.monotonic()
            for i in range(LATENCY_EVENTS):
                time.sleep(
                    max(0.0, start + i * LATENCY_GAP - time.monotonic())
                )
                seq = f"c-{i}"
                lane = f"lat_{i % LATENCY_LANES}"
                t = time.monotonic()
                log.critical("latency_probe", extra={"lane": lane, "seq": seq})
                sent[f"probe {seq}"] = t
            arrived = wait_until(lambda: set(sent) <= set(arrivals()), 30)
            seen = arrivals()
            latency = [seen[k] - t for k, t in sent.items() if k in seen]
            result = discord_summary(fake, start)
            result.update(
                warm=warm,
                arrived=arrived,
                sent=len(sent),
                latency=latency,
                relay_stats=stream.relay_stats(LATENCY_EVENTS),
            )
        finally:
            stop(handler)
            stop_all(relays)
        result["relay_said"] = said_by(relays)
        return result


SCENARIOS: dict[str, Callable[[Sizes], dict[str, Any]]] = {
    "shared-each": lambda s: scenario_shared(relayed=False, sizes=s),
    "shared-relay": lambda s: scenario_shared(relayed=True, sizes=s),
    "flood": scenario_flood,
    "failover": scenario_failover,
    "redis-away": scenario_redis_away,
    "no-relay": scenario_no_relay,
    "caller-cost": scenario_caller_cost,
    "producer-rate": scenario_producer_rate,
    "relay-rate": scenario_relay_rate,
    "latency": scenario_latency,
}


def run_child(name: str, *, quick: bool) -> int:
    clean_environment()
    result = SCENARIOS[name](QUICK if quick else FULL)
    print(RESULT + json.dumps({"scenario": name, **result}), flush=True)
    return 0


# -- the parent: each scenario in its own process, then the report -----------


def run_scenario(name: str, *, quick: bool) -> dict[str, Any]:
    return run_in_child(
        __file__,
        name,
        quick=quick,
        timeout=SCENARIO_TIMEOUT[name],
        env=child_environment(),
    )


def minimum_drain(messages: int) -> float:
    """
    Seconds the fake's limits need for *messages* on one webhook: its
    bucket (5 at once, then 5 every 2 s) and its channel's (30 in the
    first minute, then 30 a minute), whichever is longer.
    """
    limit, window = RATE_LIMIT
    bucket = window * max(0, math.ceil(messages / limit) - 1)
    per_channel, minute = CHANNEL_LIMIT
    channel = minute * max(0, math.ceil(messages / per_channel) - 1)
    return max(bucket, channel)


def mark(ok: bool) -> str:
    return "✅" if ok else "❌ missed"


def said_block(rep: Report, who: str, lines: list[str]) -> None:
    if lines:
        rep.add(f"{who} said:", "", "```text", *lines, "```", "")


def stats_line(rep: Report, who: str, stats: dict[str, int]) -> None:
    if stats:
        shown = ", ".join(f"`{k}` {v:,}" for k, v in stats.items())
        rep.add(f"{who}: {shown}", "")


def side_effects(rep: Report, r: dict[str, Any]) -> None:
    """Anything that went wrong on the side: lost, rejected, dropped."""
    name = r["scenario"]
    if r.get("rejected") or r.get("server_errors"):
        rep.missed.append(
            f"{name}: {r['rejected']} payloads rejected (400), "
            f"{r['server_errors']} errors inside the fake"
        )
    for who in ("relay_stats",):
        dropped = sum(
            v
            for k, v in r.get(who, {}).items()
            if k.startswith(("dropped.", "err"))
        )
        if dropped:
            rep.missed.append(f"{name}: {dropped} drops/errors in {who}")
    if not r.get("complete", True):
        rep.missed.append(f"{name}: not every event arrived in time")


def report_shared(rep: Report, results: list[dict[str, Any]]) -> None:
    events = PRODUCERS * TRADES_EACH
    rep.add(
        f"## 1. Shared channel: {PRODUCERS} producer processes × "
        f"{TRADES_EACH} distinct trades, one channel",
        "",
    )
    labels = {
        "shared-each": "A: each process sends itself",
        "shared-relay": "B: through the relay",
    }
    ok = [
        r for r in results if not rep.failed(r, f"### {labels[r['scenario']]}")
    ]
    b = next((r for r in ok if r["scenario"] == "shared-relay"), None)
    fewest = math.ceil(events / EMBEDS_PER_MESSAGE)
    minimum = minimum_drain(fewest)
    allowed = 1.2 * minimum + 2.0
    if ok:
        measures: list[tuple[str, Callable[[dict[str, Any]], str]]] = [
            (
                "events delivered (unique)",
                lambda r: f"{r['delivered']:,} / {r['events']:,}",
            ),
            ("embeds delivered twice", lambda r: str(r["duplicates"])),
            ("messages accepted", lambda r: str(r["messages"])),
            ("HTTP requests", lambda r: str(r["requests"])),
            (
                "429s (of which scope `shared`)",
                lambda r: f"{r['status_429']} ({r['status_429_shared']})",
            ),
            (
                "drain time (first log call → last message accepted)",
                lambda r: f"{r['drain_s']:.2f} s",
            ),
            ("drain / minimum", lambda r: f"{r['drain_s'] / minimum:.2f}×"),
            (
                "slowest log call",
                lambda r: f"{r['producers']['slowest_ms']:.2f} ms",
            ),
            (
                "longest `handler.close()` in a producer",
                lambda r: f"{r['producers']['close_s']:.2f} s",
            ),
        ]
        rep.add("| measure | " + " | ".join(labels[r["scenario"]] for r in ok))
        rep.lines[-1] += " |"
        rep.add("|---|" + "---:|" * len(ok))
        for label, fmt in measures:
            rep.add(f"| {label} | " + " | ".join(fmt(r) for r in ok) + " |")
        rep.add("")
    rep.add(
        f"The minimum is for the fewest messages that carry the "
        f"{events} embeds ({fewest}, 10 embeds each): the webhook's "
        f"bucket lets {RATE_LIMIT[0]} through at once, then "
        f"{RATE_LIMIT[0]} every {RATE_LIMIT[1]:g} s, and the channel "
        f"takes {CHANNEL_LIMIT[0]} in its first minute: "
        f"{minimum:.0f} s. Drain times run from the first log call of any "
        "producer to the fake's receipt of the last message "
        "(`time.monotonic()`, CLOCK_MONOTONIC, one clock for every "
        "process on the machine). In A each process also closes its "
        "handler, which waits for its own deliveries; in B `close()` "
        "waits only until its events are in the stream.",
        "",
    )
    if b is not None:
        rep.scenario = "shared-relay"
        rep.row(
            "events delivered once",
            f"{b['delivered']:,} / {events:,}, {b['duplicates']} twice",
            f"{events} / {events}, 0 twice",
            b["delivered"] == events and not b["duplicates"],
        )
        rep.row(
            "messages",
            str(b["messages"]),
            f"≤ {fewest + 1}",
            b["messages"] <= fewest + 1,
        )
        rep.row("429s", str(b["status_429"]), "≤ 1", b["status_429"] <= 1)
        rep.row(
            "drain time",
            f"{b['drain_s']:.2f} s",
            f"≤ 1.2 × {minimum:.0f} s + 2 s = {allowed:.1f} s",
            b["drain_s"] <= allowed,
        )
        rep.add("Targets (B, through the relay):", "")
        rep.table()
    for r in ok:
        rep.scenario = r["scenario"]
        side_effects(rep, r)
        stats_line(rep, f"Relay ({r['scenario']})", r["relay_stats"])
        said_block(rep, f"Producers ({r['scenario']})", r["producers"]["said"])


def report_flood(rep: Report, r: dict[str, Any]) -> None:
    events = PRODUCERS * FLOOD_EACH
    title = (
        f"## 2. Flood: {PRODUCERS} producers × {FLOOD_EACH:,} identical "
        "errors, through the relay"
    )
    if not rep.start(title, r):
        return
    counts = " + ".join(f"{n:,}" for n in r["counts"]) or "none"
    rep.row("messages", str(r["messages"]), "≤ 3", r["messages"] <= 3)
    rep.row(
        "sum of ×N",
        f"{r['counted']:,} ({counts})",
        f"= {events:,}",
        r["counted"] == events,
    )
    rep.row("429s", str(r["status_429"]))
    rep.row(
        "time to log (slowest producer)",
        f"{r['producers']['log_s'] * 1000:.0f} ms",
    )
    rep.row("first message accepted", f"{r['first_s']:.2f} s")
    rep.row("last message accepted", f"{r['drain_s']:.2f} s")
    rep.table()
    rep.add(
        "`delivery.coalesce_window: 3s` (the default is 1 minute), so that "
        "the summary held for the window leaves within the scenario; "
        "default batch window (1 s). Times from the first log call.",
        "",
    )
    side_effects(rep, r)
    stats_line(rep, "Relay", r["relay_stats"])


def report_failover(rep: Report, r: dict[str, Any]) -> None:
    title = "## 3. Failover: the active relay killed (SIGKILL) mid-burst"
    if not rep.start(title, r):
        return
    events = r["events"]
    took = r["took_over_s"]
    rep.row(
        "takeover (kill → the standby holds the lease)",
        "never" if took is None else f"{took:.2f} s",
        "≤ 10 s",
        took is not None and took <= 10,
    )
    rep.row(
        "events delivered",
        f"{r['delivered']:,} / {events:,}",
        f"{events:,}",
        r["delivered"] == events,
    )
    rep.row(
        "embeds delivered twice",
        str(r["duplicates"]),
        "≤ 10 (one batch)",
        r["duplicates"] <= EMBEDS_PER_MESSAGE,
    )
    rep.row("embeds accepted before the kill", f"{r['before_kill']:,}")
    rep.row("kill at (after the first log call)", f"{r['killed_s']:.2f} s")
    rep.row("messages accepted", str(r["messages"]))
    rep.row(
        "429s (of which scope `shared`)",
        f"{r['status_429']} ({r['status_429_shared']})",
    )
    rep.row(
        "drain time (first log call → last message)", f"{r['drain_s']:.2f} s"
    )
    rep.table()
    rep.add(
        f"{events // TRADES_EACH} producer processes × {TRADES_EACH} "
        "trades; two `polybot-loghandler relay` processes, the active one "
        "killed once half the embeds had arrived: within about 10 ms of "
        "the fake accepting a message (the scenario polls the fake), "
        "mostly before the relay has acknowledged that batch's entries, "
        "the worst case for duplicates. The takeover is polled every "
        "10 ms on the lease key. The lease lasts 5 s (`LEASE_TTL`) from "
        "its last renewal, up to a second before the kill "
        "(`RENEW_EVERY`), and a standby asks for it every second, so 4 to "
        "6 s is the expected takeover. The "
        "new relay knows nothing of the dead one's sends: the channel's "
        "30-a-minute window it cannot see is what a 429 of scope "
        "`shared` reports.",
        "",
    )
    fewest = math.ceil(events / EMBEDS_PER_MESSAGE)
    if r["messages"] > CHANNEL_LIMIT[0] >= fewest:
        rep.add(
            f"Here the batch delivered twice made {r['messages']} messages, "
            f"one more than the channel's {CHANNEL_LIMIT[0]} a minute: the "
            "last waited for the channel's minute to pass, which sets the "
            "drain time.",
            "",
        )
    side_effects(rep, r)
    stats_line(rep, "The relay that took over", r["relay_stats"])
    said_block(rep, "The relays", r["relay_said"])


def report_redis_away(rep: Report, r: dict[str, Any]) -> None:
    title = (
        f"## 4. Redis away: stopped for {AWAY_S:g} s while 2 producers log "
        f"{2 * AWAY_EACH} events"
    )
    if not rep.start(title, r):
        return
    events = r["events"]
    rep.row(
        "events delivered once",
        f"{r['delivered']:,} / {events}, {r['duplicates']} twice",
        f"{events} / {events}, 0 twice",
        r["delivered"] == events and not r["duplicates"],
    )
    rep.row(
        "slowest log call",
        f"{r['slowest_ms']:.2f} ms",
        "≤ 5 ms",
        r["slowest_ms"] <= 5.0,
    )
    rep.row("p99 log call", f"{r['p99_ms']:.3f} ms")
    rep.row("p50 log call", f"{r['p50_ms']:.3f} ms")
    warned = ", ".join(str(n) for n in r["warnings"])
    rep.row(
        '"cannot reach Redis" per producer',
        warned,
        "1 each",
        all(n == 1 for n in r["warnings"]),
    )
    rep.row(
        '"answers again" per producer', ", ".join(str(n) for n in r["back"])
    )
    rep.row("Redis away for", f"{r['away_s']:.1f} s")
    spans = "; ".join(f"{a:.1f}–{b:.1f} s" for a, b in r["logging_s"])
    rep.row("producers logged (after the stop)", spans)
    appended = ", ".join(f"{t:.1f} s" for t in r["appended_s"])
    rep.row("producers' `close()` returned (all appended)", appended)
    rep.row("last message accepted (after the stop)", f"{r['drain_s']:.1f} s")
    rep.row("messages accepted", str(r["messages"]))
    rep.table()
    rep.add(
        f"Each producer logs {AWAY_EACH} trades, one every "
        f"{AWAY_GAP * 1000:.0f} ms, from just after Redis stops; the "
        f"durations are of each `log.info` call ({r['calls']} in all), "
        "`time.perf_counter()` around it in the producer. Redis comes back "
        "as a fresh, empty server on the same port (no stream, group or "
        "lease), as after a restart without persistence.",
        "",
    )
    side_effects(rep, r)
    stats_line(rep, "Producers (summed)", r["producers"]["stats"])
    stats_line(rep, "Relay", r["relay_stats"])
    said_block(rep, "Producers", r["producers"]["said"])
    said_block(rep, "The relay", r["relay_said"])


def report_no_relay(rep: Report, r: dict[str, Any]) -> None:
    title = f"## 5. No relay for {r.get('quiet_s', 0):g} s, then one starts"
    if not rep.start(title, r):
        return
    events = r["events"]
    messages = math.ceil(events / EMBEDS_PER_MESSAGE)
    rep.row(
        "events delivered once",
        f"{r['delivered']:,} / {events}, {r['duplicates']} twice",
        f"{events} / {events}, 0 twice",
        r["delivered"] == events and not r["duplicates"],
    )
    rep.row(
        "entries in the stream when the relay started", f"{r['appended']:,}"
    )
    rep.row(
        "requests before the relay started",
        "0" if r["nothing_sent"] else "some",
    )
    rep.row("relay start → lease taken", f"{r['lease_s']:.2f} s")
    rep.row("relay start → first message accepted", f"{r['first_s']:.2f} s")
    rep.row(
        "relay start → last message accepted",
        f"{r['drain_s']:.2f} s",
    )
    rep.row(
        f"least time the limits allow for {messages} messages",
        f"{minimum_drain(messages):.0f} s",
    )
    rep.row("messages accepted", str(r["messages"]))
    rep.row("429s", str(r["status_429"]))
    rep.table()
    rep.add(
        f"2 producer processes log {events // 2} trades each, evenly over "
        f"{r['quiet_s']:g} s, and exit; then `polybot-loghandler relay` "
        "starts (the time includes starting Python and importing the "
        "library).",
        "",
    )
    side_effects(rep, r)
    stats_line(rep, "Relay", r["relay_stats"])


def report_caller_cost(rep: Report, r: dict[str, Any]) -> None:
    title = (
        f"## 6. Caller cost with the relay on ({r.get('rounds')} rounds × "
        f"{r.get('calls')} calls)"
    )
    if not rep.start(title, r):
        return
    cpu, wall = r["cpu"], r["wall"]
    rep.add("| variant | CPU ns/call | wall ns/call |", "|---|---:|---:|")
    for k in cpu:
        c = statistics.median(cpu[k]) * 1e9
        w = statistics.median(wall[k]) * 1e9
        rep.add(f"| {k} | {c:,.0f} | {w:,.0f} |")
    rep.add("")

    def ratio(a: str, b: str, times: dict[str, list[float]] = cpu) -> float:
        pairs = zip(times[a], times[b], strict=True)
        return statistics.median(x / y for x, y in pairs)

    matched = ratio(
        "DiscordHandler (relay), trade_executed",
        "QueueHandler, trade_executed",
    )
    unmatched = ratio(
        "DiscordHandler (relay), unmatched event",
        "NullHandler, unmatched event",
    )
    rep.row(
        "matched / QueueHandler (CPU, median of paired rounds)",
        f"{matched:.2f}×",
        "≤ 1.00×",
        matched <= 1.0,
    )
    matched_wall = ratio(
        "DiscordHandler (relay), trade_executed",
        "QueueHandler, trade_executed",
        wall,
    )
    rep.row(
        "matched / QueueHandler (wall, median of paired rounds)",
        f"{matched_wall:.2f}×",
    )
    rep.row(
        "unmatched / NullHandler (CPU, median of paired rounds)",
        f"{unmatched:.2f}×",
        "≤ 1.15× (as without the relay)",
        unmatched <= 1.15,
    )
    rep.table()
    expected = r["rounds"] * r["calls"]
    rep.add(
        "The shipped `routing.yaml` with `delivery.relay` set (console off, "
        "no spool); no relay runs. `QueueHandler` puts each record on a "
        "`SimpleQueue` that nothing consumes while a batch is timed; "
        "between batches (untimed) the producer is flushed, the queue "
        "emptied and the stream deleted. Method as in "
        "`bench/handler_cost.py`: the caller thread's CPU time "
        "(`time.thread_time`), rounds interleaving the variants. Wall "
        "time also holds the caller's waits for the GIL while the "
        "producer's worker thread encodes and appends the batch's events "
        "in the same process (a `QueueHandler` with nothing consuming "
        "has no such thread). "
        f"Entries appended: {r['appended']:,} of {expected:,} matched "
        "calls.",
        "",
    )
    if r["appended"] != expected:
        rep.missed.append(
            f"caller-cost: {r['appended']:,} entries appended, "
            f"{expected:,} expected"
        )
    stats_line(rep, "`handler.stats()`", r["stats"])


def report_producer_rate(rep: Report, r: dict[str, Any]) -> None:
    title = (
        f"## 7. Producer: events appended per second ({r.get('events', 0):,} "
        "trades a pass)"
    )
    if not rep.start(title, r):
        return
    events = r["events"]
    rep.add(
        "| pass | events/s (first call → flush returned) | logging alone "
        "| CPU µs per event (process) | XLEN |",
        "|---:|---:|---:|---:|---:|",
    )
    rates = []
    for n, p in enumerate(r["passes"], 1):
        rate = events / p["wall_s"]
        rates.append(rate)
        rep.add(
            f"| {n} | {rate:,.0f} | {p['log_s'] * 1000:,.0f} ms "
            f"| {p['cpu_s'] / events * 1e6:.1f} | {p['xlen']:,} |"
        )
        if p["xlen"] != events:
            rep.missed.append(
                f"producer-rate: pass {n} appended {p['xlen']:,} of {events:,}"
            )
    rep.add("")
    rep.add(
        f"Best pass {max(rates):,.0f} events/s, median "
        f"{statistics.median(rates):,.0f}. One `DiscordHandler` with the "
        "relay on logs the trades as fast as a loop can, and its worker "
        "encodes each event as JSON and appends them with a Lua script, "
        "500 entries a call; the time ends when `handler.flush()` "
        "returns, which is when everything is in the stream. The CPU is "
        "this process's (caller and worker), not Redis's.",
        "",
    )
    stats_line(rep, "`handler.stats()`", r["stats"])


def report_relay_rate(rep: Report, r: dict[str, Any]) -> None:
    title = (
        f"## 8. Relay: events per second on one core ({r.get('events', 0):,} "
        "events a pass)"
    )
    if not rep.start(title, r):
        return
    events = r["events"]
    groups = list(THREAD_GROUPS.values())
    rep.add(
        "| pass | wall | events/s (wall) | CPU | events/s (CPU) "
        "| start → first ack | events/s after it | CPU: "
        + " / ".join(g.split(" (")[0] for g in groups)
        + " |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    )
    rates = []
    for n, p in enumerate(r["passes"], 1):
        rate = events / p["wall_s"]
        rates.append(rate)
        first = p["first_ack_s"]
        after = (
            f"{events / (p['wall_s'] - first):,.0f}"
            if first is not None and p["wall_s"] > first
            else "n/a"
        )
        split = " / ".join(f"{p['threads'].get(g, 0.0):.2f}" for g in groups)
        rep.add(
            f"| {n} | {p['wall_s']:.2f} s | {rate:,.0f} | {p['cpu_s']:.2f} s "
            f"| {events / p['cpu_s']:,.0f} "
            f"| {'n/a' if first is None else f'{first:.2f} s'} | {after} "
            f"| {split or 'n/a'} s |"
        )
        if not p["done"] or p["filled"] != events:
            rep.missed.append(
                f"relay-rate: pass {n}: {p['filled']:,} entries filled, "
                f"acknowledged all: {p['done']}"
            )
    rep.add("")
    best = max(rates)
    rep.row(
        "events/s, wall time (fastest pass)",
        f"{best:,.0f}",
        "≥ 5,000",
        best >= 5000,
    )
    rep.row(
        "events/s, wall time (median pass)", f"{statistics.median(rates):,.0f}"
    )
    rep.table()
    rep.add(
        "What it measures: a `Relay` in the benchmark's process (its "
        "asyncio loop, the delivery engine's worker thread and the render "
        "thread, under one GIL: one core) takes the lease, reads the "
        "stream through the consumer group (`READ_COUNT` 500 entries a "
        "script call, at most `queue_size` 10,000 unacknowledged), "
        "decodes and checks each entry, routes and renders it (the shipped "
        "trade embed, `coalesce: false`), files it in its lane, 'sends' "
        "the batches of 10 to a console that is switched off, and "
        "acknowledges the entries (`XACK` in a script, up to 1,000 a "
        "call). Time runs from the relay's start until XPENDING is 0 and "
        "the group's lag is 0 (polled every 20 ms); CPU is "
        "`time.process_time()` of this process over the same span (the "
        "polling included; Redis's own CPU, on the other core, is not). "
        "No HTTP: Discord's limits would set the pace instead. The stream "
        "is filled beforehand by a producer process. 'Start → first ack' "
        "is the fixed cost of a start (lease, consumer group, claiming, "
        "the engine's thread and HTTP client) and of the first read; "
        "'events/s after it' leaves it out. The CPU split is by thread "
        "(Linux `/proc`): the relay's loop (Redis replies parsed by "
        "redis-py, entries decoded, acknowledgements), the engine "
        "(filing, lanes, the console) and the render thread (routing and "
        "rendering). The target is judged on the fastest pass, as other "
        "work on a shared machine only slows a pass down.",
        "",
    )
    for n, p in enumerate(r["passes"], 1):
        stats_line(rep, f"Relay, pass {n}", p["stats"])


def report_latency(rep: Report, r: dict[str, Any]) -> None:
    title = "## 9. Latency of a critical alert through the relay"
    if not rep.start(title, r):
        return
    ms = [v * 1000 for v in r["latency"]]
    if not ms:
        rep.add("No probe arrived.", "")
        rep.missed.append("latency: no probe arrived")
        return
    p50, p99 = quantile(ms, 0.5), quantile(ms, 0.99)
    rep.row("p50", f"{p50:.1f} ms")
    rep.row("p99", f"{p99:.1f} ms", "≤ 100 ms", p99 <= 100)
    rep.row("min / max", f"{min(ms):.1f} / {max(ms):.1f} ms")
    rep.row(
        "probes that arrived",
        f"{len(ms)} / {r['sent']}",
        str(r["sent"]),
        r["arrived"],
    )
    rep.row("429s", str(r["status_429"]), "0", not r["status_429"])
    rep.table()
    rep.add(
        f"{LATENCY_EVENTS} `log.critical` probes, one every "
        f"{LATENCY_GAP:g} s, round-robin over {LATENCY_LANES} channels of "
        "their own (a webhook each), so a lane gets one every "
        f"{LATENCY_LANES * LATENCY_GAP:g} s and every bucket has room. The "
        "producer and the fake share the benchmark's process; the relay "
        "is a `polybot-loghandler relay` process. Latency runs from "
        "`time.monotonic()` just before the log call to the fake's "
        "`time.monotonic()` once it has read the request: producer's "
        "worker → append → the relay's blocking read wakes → read script → "
        "route, render → the lane sends at once (critical) → HTTP. A probe "
        "per lane warmed the relay's connections first.",
        "",
    )
    side_effects(rep, r)
    stats_line(rep, "Relay", r["relay_stats"])


def redis_version() -> str:
    try:
        done = subprocess.run(
            ["redis-server", "--version"],
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:
        return "redis-server not found"
    words = done.stdout.split()
    found = [w[2:] for w in words if w.startswith("v=")]
    return f"redis-server {found[0]}" if found else done.stdout.strip()


def machine_facts(quick: bool, total: float) -> list[str]:
    mode = "quick" if quick else "full"
    return [
        "# Relay benchmark: producer processes, Redis, one relay",
        "",
        *machine_lines(
            mode, total, ["polybot-loghandler", "httpx", "redis", "hiredis"]
        ),
        (
            f"- fake: `FakeDiscord(rate_limit={RATE_LIMIT}, "
            f"channel_limit={CHANNEL_LIMIT})` on 127.0.0.1 (a 429 of scope "
            "`shared` past the channel's limit); "
            f"{redis_version()}, a server of each scenario's own; default "
            "delivery settings (1 s batch window) unless a scenario says "
            "otherwise; each scenario in a fresh subprocess"
        ),
        "",
    ]


REPORTS: dict[str, Callable[[Report, dict[str, Any]], None]] = {
    "flood": report_flood,
    "failover": report_failover,
    "redis-away": report_redis_away,
    "no-relay": report_no_relay,
    "caller-cost": report_caller_cost,
    "producer-rate": report_producer_rate,
    "relay-rate": report_relay_rate,
    "latency": report_latency,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--scenario", choices=NAMES)
    parser.add_argument("--only", nargs="+", choices=NAMES, default=NAMES)
    parser.add_argument("--producer", nargs=5, metavar="ARG")
    args = parser.parse_args(argv)
    if args.producer:
        routing, name, count, kind, gap = args.producer
        return producer(routing, name, int(count), kind, float(gap))
    if args.scenario:
        return run_child(args.scenario, quick=args.quick)

    started = time.monotonic()
    results = {}
    for name in NAMES:
        if name in args.only:
            print(f"running {name} ...", file=sys.stderr, flush=True)
            results[name] = run_scenario(name, quick=args.quick)
    rep = Report()
    shared = [
        results[k] for k in ("shared-each", "shared-relay") if k in results
    ]
    if shared:
        report_shared(rep, shared)
    for name, report in REPORTS.items():
        if name in results:
            report(rep, results[name])
    rep.add("## Targets missed", "")
    rep.add(*[f"- {m}" for m in rep.missed] or ["- none"])
    print("\n".join(machine_facts(args.quick, time.monotonic() - started)))
    print("\n".join(rep.lines))
    failed = any("error" in r for r in results.values())
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
