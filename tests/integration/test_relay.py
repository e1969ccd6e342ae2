"""
The relay against a real ``redis-server`` and the loopback fake Discord.

Producers here are real processes (``tests/integration/scripts/
relay_producer.py``) or the test's own handler; the relay runs in a
thread of the test, or as ``polybot-loghandler relay``. Everything that
waits on the clock or starts a process is marked ``slow``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from bench._common import fold_summary
from fakes.discord import FakeDiscord
from polybot_loghandler import DiscordHandler, load_config
from polybot_loghandler._ratelimit import RateLimiter
from polybot_loghandler._relay import scripts
from polybot_loghandler._relay.keys import GROUP, LEASE_TTL, Keys
from polybot_loghandler._relay.relay import Relay
from tests.support.helpers import script_environment, wait_for
from tests.support.redisserver import RedisServer, free_port

pytestmark = pytest.mark.slow

SCRIPTS = Path(__file__).parent / "scripts"
ROOT = Path(__file__).parents[2]
#: The command line, run as a process of its own.
CLI = [
    sys.executable,
    "-c",
    "import sys; from polybot_loghandler._cli import main; sys.exit(main())",
]


def routing_text(fake: FakeDiscord, redis_url: str, extra: str = "") -> str:
    """One trades channel on the fake; the relay on *redis_url*."""
    return f"""\
version: 1
channels:
  trades: {{webhook: "{fake.webhook_url("1001", "tok-a")}"}}
  errors: {{webhook: "{fake.webhook_url("1002", "tok-b")}"}}
delivery:
  relay: {redis_url}
  batch_window: 0.2
{extra}
routes:
  - name: trades
    match: {{event: trade_executed}}
    to: trades
  - name: errors
    match: {{level: error}}
    to: errors
"""


def embeds(fake: FakeDiscord, webhook: str = "1001") -> list[dict[str, Any]]:
    """Every embed the fake accepted for *webhook*, in order."""
    return [
        e
        for m in fake.messages
        if m.webhook_id == webhook
        for e in m.json["embeds"]
    ]


class RelayThread:
    """A :class:`Relay` running in a thread of the test."""

    def __init__(self, routing: Path) -> None:
        config = load_config(routing)
        self.relay = Relay(config, None)
        self._thread = threading.Thread(
            target=lambda: asyncio.run(self.relay.run()), daemon=True
        )

    def __enter__(self) -> Relay:
        self._thread.start()
        return self.relay

    def __exit__(self, *_exc: object) -> None:
        self.relay.stop()
        self._thread.join(20)
        assert not self._thread.is_alive(), "the relay did not stop"


@pytest.fixture
def fake() -> Iterator[FakeDiscord]:
    with FakeDiscord(channel_limit=(30, 60.0)) as fake:
        yield fake


@pytest.fixture
def routing(
    tmp_path: Path, fake: FakeDiscord, redis_url: str
) -> Callable[..., Path]:
    def make(extra: str = "") -> Path:
        path = tmp_path / "routing.yaml"
        path.write_text(routing_text(fake, redis_url, extra))
        return path

    return make


def producer_logger(routing: Path) -> tuple[DiscordHandler, logging.Logger]:
    handler = DiscordHandler(routing)
    log = logging.getLogger(f"floor.{time.monotonic_ns()}")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    return handler, log


def test_events_reach_discord_through_the_relay(
    fake: FakeDiscord, routing: Callable[..., Path], redis_url: str
) -> None:
    path = routing()
    handler, log = producer_logger(path)
    try:
        with RelayThread(path) as relay:
            for i in range(50):
                log.info("trade_executed", extra={"agent": "a", "n": i})
            handler.flush()
            wait_for(lambda: len(embeds(fake)) >= 50, timeout=20)
            wait_for(lambda: relay.stats().get("delivered") == 50)
            client = redis.Redis.from_url(redis_url)
            wait_for(
                lambda: client.xpending(Keys.stream, GROUP)["pending"] == 0
            )
    finally:
        handler.close()
    assert [f"{i}" for i in range(50)] == [
        next(f["value"] for f in e["fields"] if f["name"] == "N")
        for e in embeds(fake)
    ]
    assert 50 == handler.stats()["handled"]
    assert 5 >= len(fake.messages)


def test_an_entry_the_relay_cannot_read_is_counted_and_acknowledged(
    fake: FakeDiscord,
    routing: Callable[..., Path],
    redis_url: str,
    capfd: pytest.CaptureFixture[str],
) -> None:
    client = redis.Redis.from_url(redis_url)
    client.xadd(Keys.stream, {"v": "1", "k": "e", "d": '{"e": 1}'})
    client.xadd(Keys.stream, {"v": "9", "k": "e", "d": "{}"})
    client.xadd(
        Keys.stream,
        {
            "v": "1",
            "k": "c",
            "d": json.dumps({"c": {"queue_full": 3}}),
        },
    )
    with RelayThread(routing()) as relay:
        wait_for(
            lambda: (
                relay.stats().get("dropped.relay_malformed") == 2
                and relay.stats().get("dropped.queue_full") == 3
            )
        )
        wait_for(lambda: client.xpending(Keys.stream, GROUP)["pending"] == 0)
    assert [] == fake.messages
    err = capfd.readouterr().err
    assert 1 == err.count("a stream entry could not be read")


def test_a_relay_without_the_lease_can_change_nothing(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    acquire = client.register_script(scripts.ACQUIRE)
    ack = client.register_script(scripts.ACK)
    read = client.register_script(scripts.READ)
    claim = client.register_script(scripts.CLAIM)
    client.xadd(Keys.stream, {"v": "1"})
    client.xgroup_create(Keys.stream, GROUP, "0")
    first = acquire(keys=[Keys.lease, Keys.fence], args=["one", 200])
    assert first is not None
    assert acquire(keys=[Keys.lease, Keys.fence], args=["two", 200]) is None
    entries = read(
        keys=[Keys.lease, Keys.stream], args=[first, GROUP, "one", 10, ">"]
    )
    (entry,) = entries[0][1]
    time.sleep(0.3)  # the lease expires; another relay takes it
    second = acquire(keys=[Keys.lease, Keys.fence], args=["two", 5000])
    assert second is not None
    assert int(second.split(b"|")[1]) > int(first.split(b"|")[1])
    # the first relay woke up late: fenced out of every change
    stale = [first, GROUP, entry[0]]
    assert ack(keys=[Keys.lease, Keys.stream], args=stale) is None
    assert (
        claim(
            keys=[Keys.lease, Keys.stream],
            args=[first, GROUP, "one", "0-0", 10],
        )
        is None
    )
    assert 1 == client.xpending(Keys.stream, GROUP)["pending"]
    assert 1 == ack(
        keys=[Keys.lease, Keys.stream], args=[second, GROUP, entry[0]]
    )


def test_relay_status_tells_whether_a_relay_is_active(
    fake: FakeDiscord, routing: Callable[..., Path]
) -> None:
    path = routing()
    command = [*CLI, "relay", "status", "--routing", str(path)]

    def status() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            command, capture_output=True, text=True, cwd=ROOT, check=False
        )

    idle = status()
    assert 1 == idle.returncode, idle.stderr
    assert "active relay: none" in idle.stdout
    with RelayThread(path) as relay:
        wait_for(lambda: relay.holder is not None)
        wait_for(lambda: status().returncode == 0)
        busy = status()
    assert f"active relay: {relay.id}" in busy.stdout
    assert "redis://" in busy.stdout


def trade(embed: dict[str, Any]) -> tuple[str, ...]:
    """Which producer's which trade an embed shows."""
    names = ("N", "Source")
    return tuple(f["value"] for f in embed["fields"] if f["name"] in names)


_TIMES = re.compile(r"×(\d+)")


def stands_for(embed: dict[str, Any]) -> int:
    """The events one embed stands for: its ``×N``, else 1."""
    footer = embed.get("footer", {}).get("text", "")
    found = _TIMES.search(footer)
    return int(found.group(1)) if found else 1


def run_producers(
    routing: Path, processes: int, count: int, kind: str, gap: float = 0.0
) -> list[dict[str, Any]]:
    """Start *processes* producers together; their reports, once done."""
    script = str(SCRIPTS / "relay_producer.py")
    command = [sys.executable, script, str(routing)]
    procs = [
        subprocess.Popen(
            [*command, f"p{i}", str(count), kind, str(gap)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=script_environment(),
            cwd=ROOT,
        )
        for i in range(processes)
    ]
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    reports = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert 0 == proc.returncode, err
        report = json.loads(out.strip().splitlines()[-1])
        report["stderr"] = err
        reports.append(report)
    return reports


def test_six_producers_share_one_channel_s_limit(
    fake: FakeDiscord, routing: Callable[..., Path]
) -> None:
    path = routing()
    with RelayThread(path) as relay:
        run_producers(path, 6, 50, "trades")
        wait_for(lambda: len(embeds(fake)) >= 300, timeout=90)
        wait_for(lambda: relay.stats().get("delivered") == 300)
    seen = [trade(e) for e in embeds(fake)]
    assert 300 == len(seen) == len(set(seen)), "each trade exactly once"
    assert 31 >= len(fake.messages)
    assert 1 >= sum(1 for r in fake.requests if r.status == 429)


def test_the_relay_folds_what_six_producers_overload_a_channel_with(
    tmp_path: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """
    The relay sees every producer's share of a channel, and folds it.

    The channel's window is a sixth of Discord's (5 messages in 10 s,
    paced alike), so the bound is 5 s: 600 trades from six producers
    in about a second are many times what it carries.
    """
    defaults = RateLimiter.__init__.__kwdefaults__
    assert defaults is not None
    monkeypatch.setitem(defaults, "channel_messages", 5)
    monkeypatch.setitem(defaults, "channel_window", 10.0)
    with FakeDiscord(channel_limit=(5, 10.0)) as fake:
        path = tmp_path / "routing.yaml"
        path.write_text(routing_text(fake, redis_url, "  max_lag: 5s\n"))
        with RelayThread(path) as relay:
            run_producers(path, 6, 100, "trades")

            def arrived() -> tuple[int, int]:
                one, folded = 0, 0
                for embed in embeds(fake):
                    summary = fold_summary(embed)
                    if summary is None:
                        one += 1
                    else:
                        folded += summary[0]
                return one, folded

            assert wait_for(lambda: sum(arrived()) >= 600, timeout=60)
            client = redis.Redis.from_url(redis_url)
            assert wait_for(
                lambda: client.xpending(Keys.stream, GROUP)["pending"] == 0
            )
            stats = relay.stats()
        one, folded = arrived()
        assert 600 == one + folded
        assert folded == stats["folded"] > 0
        summaries = sum(1 for e in embeds(fake) if fold_summary(e))
        assert one + summaries == stats["delivered"]
        assert 1 >= sum(1 for r in fake.requests if r.status == 429)


def test_identical_errors_from_six_producers_coalesce(
    fake: FakeDiscord, routing: Callable[..., Path]
) -> None:
    path = routing("  coalesce_window: 3s\n")
    with RelayThread(path) as relay:
        run_producers(path, 6, 1000, "errors")

        def total() -> int:
            return sum(stands_for(e) for e in embeds(fake, "1002"))

        wait_for(lambda: total() >= 6000, timeout=60)
        wait_for(lambda: relay.stats().get("delivered") == 6000)
    assert 6000 == total()
    assert 3 >= len(fake.messages)


def test_events_logged_with_no_relay_running_are_delivered_when_one_starts(
    fake: FakeDiscord, routing: Callable[..., Path], redis_url: str
) -> None:
    path = routing()
    reports = run_producers(path, 2, 40, "trades")
    assert all(r["stats"]["handled"] == 40 for r in reports)
    client = redis.Redis.from_url(redis_url)
    assert 80 == client.xlen(Keys.stream)
    assert [] == fake.messages
    with RelayThread(path) as relay:
        wait_for(lambda: relay.stats().get("delivered") == 80, timeout=60)
    assert 80 == len(embeds(fake))


def relay_process(routing: Path, *options: str) -> subprocess.Popen[str]:
    """``polybot-loghandler relay`` as a process of its own."""
    return subprocess.Popen(
        [*CLI, "relay", "--routing", str(routing), *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=script_environment(),
        cwd=ROOT,
    )


def active_pid(client: redis.Redis) -> int | None:
    """The pid in the lease's relay id (``host:pid:nonce|token``)."""
    lease = client.get(Keys.lease)
    return None if lease is None else int(lease.split(b":")[1])


def test_a_standby_relay_takes_over_from_a_killed_one(
    tmp_path: Path, redis_url: str
) -> None:
    with FakeDiscord() as fake:  # the webhook limit alone: no long waits
        path = tmp_path / "routing.yaml"
        path.write_text(routing_text(fake, redis_url))
        client = redis.Redis.from_url(redis_url)
        relays = [relay_process(path), relay_process(path)]
        try:
            wait_for(lambda: active_pid(client) is not None)
            first = active_pid(client)
            producers = threading.Thread(
                target=run_producers, args=(path, 3, 100, "trades")
            )
            producers.start()
            wait_for(lambda: len(embeds(fake)) >= 50, timeout=60)
            os.kill(first, signal.SIGKILL)
            killed = time.monotonic()
            wait_for(
                lambda: active_pid(client) not in (None, first), timeout=15
            )
            took_over = time.monotonic() - killed
            producers.join(60)
            wait_for(
                lambda: len({trade(e) for e in embeds(fake)}) >= 300,
                timeout=90,
            )
            seen = [trade(e) for e in embeds(fake)]
        finally:
            for proc in relays:
                proc.kill()
                proc.communicate()
    assert 300 == len(set(seen))
    # the batch on its way when the relay died, and at most the one
    # before it, delivered but its acknowledgement not yet in Redis (a
    # lane does not wait for it: see docs/relay.md)
    assert 20 >= len(seen) - 300, "at most two batches twice"
    assert took_over < 10


def test_producers_keep_events_while_redis_is_away(
    tmp_path: Path, fake: FakeDiscord
) -> None:
    with RedisServer() as server:
        path = tmp_path / "routing.yaml"
        path.write_text(
            routing_text(fake, server.url, "  flush_timeout: 30s\n")
        )
        with RelayThread(path) as relay:
            wait_for(lambda: relay.holder is not None)
            server.stop()
            results: list[list[dict[str, Any]]] = []
            producers = threading.Thread(
                target=lambda: results.append(
                    run_producers(path, 2, 50, "trades", gap=0.02)
                )
            )
            producers.start()
            time.sleep(10)  # Redis is away for 10 s
            server.start()  # a fresh server: no stream, no group, no lease
            producers.join(60)
            wait_for(lambda: len(embeds(fake)) >= 100, timeout=60)
            wait_for(lambda: relay.stats().get("delivered") == 100)
    seen = [trade(e) for e in embeds(fake)]
    assert 100 == len(seen) == len(set(seen)), "each event once"
    (reports,) = results
    for report in reports:
        assert 50 == report["stats"]["handled"]
        assert "dropped.relay_unavailable" not in report["stats"]
        assert 1 == report["stderr"].count("cannot reach Redis")
        assert 1 == report["stderr"].count("answers again")
        assert report["slowest_ms"] < 100, "a log call waited on Redis"


def test_sigterm_hands_the_lease_over_at_once(
    fake: FakeDiscord, routing: Callable[..., Path], redis_url: str
) -> None:
    path = routing()
    client = redis.Redis.from_url(redis_url)
    relays = [relay_process(path), relay_process(path)]
    try:
        wait_for(lambda: active_pid(client) is not None)
        first = active_pid(client)
        (active,) = [p for p in relays if p.pid == first]
        active.send_signal(signal.SIGTERM)
        stopped = time.monotonic()
        _out, err = active.communicate(timeout=20)
        assert 0 == active.returncode, err
        wait_for(lambda: active_pid(client) not in (None, first))
        # released, not expired: well within the lease's 5 s
        assert time.monotonic() - stopped < 4
        assert "Discord destination" not in err
    finally:
        for proc in relays:
            proc.kill()
            proc.communicate()


def test_trimming_counts_the_entries_no_relay_had_read(
    redis_url: str,
) -> None:
    client = redis.Redis.from_url(redis_url)
    append = client.register_script(scripts.APPEND)
    keys = [Keys.stream, Keys.counters]

    def add(*names: str, bound: int = 4) -> int:
        flat: list[str] = []
        for name in names:
            flat += ["d", name]
        return int(append(keys=keys, args=[bound, GROUP, 2, *flat]))

    assert 0 == add("a", "b", "c")
    client.xgroup_create(Keys.stream, GROUP, "0")
    client.xreadgroup(GROUP, "r", {Keys.stream: ">"}, count=2)  # a, b read
    # over a bound of 3 by 3: a and b were read (pending), c was not
    assert 1 == add("d", "e", "f", bound=3)
    assert [b"d", b"e", b"f"] == [
        f[b"d"] for _id, f in client.xrange(Keys.stream)
    ]
    assert b"1" == client.hget(Keys.counters, "trimmed")


def test_the_relay_counts_what_was_trimmed(
    fake: FakeDiscord, routing: Callable[..., Path], redis_url: str
) -> None:
    client = redis.Redis.from_url(redis_url)
    client.hincrby(Keys.counters, "trimmed", 7)
    with RelayThread(routing()) as relay:
        wait_for(lambda: relay.stats().get("dropped.relay_trimmed") == 7)
        wait_for(lambda: client.hget(Keys.counters, "trimmed") == b"0")


@contextlib.contextmanager
def relay_with_a_backlog(
    tmp_path: Path,
) -> Iterator[tuple[RedisServer, FakeDiscord, Relay]]:
    """
    A relay on a Redis of its own, with 12 s of sending ahead of it.

    300 trades are read (30 messages, at the webhook's 5 per 2 s) and
    the first messages have left when it is handed to the test.
    """
    with RedisServer() as server, FakeDiscord() as fake:
        path = tmp_path / "routing.yaml"
        path.write_text(routing_text(fake, server.url))
        handler, log = producer_logger(path)
        try:
            with RelayThread(path) as relay:
                for n in range(300):
                    log.info("trade_executed", extra={"n": n})
                handler.flush()
                wait_for(lambda: relay.stats().get("sent.messages", 0) >= 2)
                yield server, fake, relay
        finally:
            handler.close()


def test_what_the_relay_holds_survives_a_redis_restart(
    tmp_path: Path,
) -> None:
    with relay_with_a_backlog(tmp_path) as (server, fake, _relay):
        server.stop()  # the relay holds the rest in its lanes
        time.sleep(5)
        server.start()  # fresh: the stream, group and lease gone
        wait_for(lambda: len(embeds(fake)) >= 300, timeout=60)
    seen = [trade(e) for e in embeds(fake)]
    assert 300 == len(seen) == len(set(seen))


def test_a_relay_whose_lease_was_taken_stops_and_stands_by(
    fake: FakeDiscord,
    routing: Callable[..., Path],
    redis_url: str,
    capfd: pytest.CaptureFixture[str],
) -> None:
    client = redis.Redis.from_url(redis_url)
    with RelayThread(routing()) as relay:
        wait_for(lambda: relay.holder is not None)
        client.set(Keys.lease, "another:1:x|99", px=3000)
        wait_for(lambda: relay.holder is None)
        # the other never renews: its lease expires, this relay takes it
        wait_for(lambda: relay.holder is not None, timeout=10)
        assert 2 == relay.sessions
    err = capfd.readouterr().err
    assert 1 == err.count("lost its lease")


def test_the_relay_serves_its_counters_to_prometheus(
    fake: FakeDiscord, routing: Callable[..., Path], redis_url: str
) -> None:
    path = routing()
    port = free_port()
    proc = relay_process(path, "--metrics-port", str(port))
    handler, log = producer_logger(path)
    try:
        log.info("trade_executed", extra={"n": 1})
        handler.flush()
        url = f"http://127.0.0.1:{port}/metrics"

        def scraped() -> str:
            try:
                return httpx.get(url, timeout=2).text
            except httpx.HTTPError:
                return ""

        wait_for(
            lambda: "polybot_relay_events_delivered_total 1.0" in scraped()
        )
        text = scraped()
    finally:
        handler.close()
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=20)
    assert "polybot_relay_active 1.0" in text
    assert (
        'polybot_relay_events_dropped_total{reason="queue_full"} 0.0' in text
    )
    assert "tok-a" not in text, "no destination is a label"


@pytest.fixture
def tls_redis(tmp_path: Path) -> Iterator[str]:
    """A ``redis-server`` that speaks only TLS; its ``rediss://`` URL."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
            "-keyout", str(key), "-out", str(cert), "-days", "1",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    port = free_port()
    server = subprocess.Popen(
        [
            "redis-server", "--port", "0", "--tls-port", str(port),
            "--tls-cert-file", str(cert), "--tls-key-file", str(key),
            "--tls-ca-cert-file", str(cert), "--tls-auth-clients", "no",
            "--save", "", "--appendonly", "no", "--dir", str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"rediss://127.0.0.1:{port}/0?ssl_ca_certs={cert}"
    try:

        def answers() -> bool:
            try:
                return bool(redis.Redis.from_url(url).ping())
            except redis.RedisError:
                return False

        assert wait_for(answers), "the TLS redis-server did not start"
        yield url
    finally:
        server.kill()
        server.wait()


def test_rediss_carries_events_over_tls(
    tmp_path: Path, fake: FakeDiscord, tls_redis: str
) -> None:
    path = tmp_path / "routing.yaml"
    path.write_text(routing_text(fake, f"'{tls_redis}'"))
    handler, log = producer_logger(path)
    try:
        with RelayThread(path) as relay:
            for n in range(5):
                log.info("trade_executed", extra={"n": n})
            handler.flush()
            wait_for(lambda: relay.stats().get("delivered") == 5)
    finally:
        handler.close()
    assert 5 == len(embeds(fake))


def test_producers_long_gone_are_forgotten(
    fake: FakeDiscord, routing: Callable[..., Path], redis_url: str
) -> None:
    client = redis.Redis.from_url(redis_url)
    now = time.time()
    client.hset(Keys.producers, "gone:1:a", json.dumps({"seen": now - 7200}))
    client.hset(Keys.producers, "here:2:b", json.dumps({"seen": now}))
    client.hset(Keys.producers, "junk:3:c", "not json")
    with RelayThread(routing()):
        wait_for(lambda: client.hlen(Keys.producers) == 1)
    assert [b"here:2:b"] == client.hkeys(Keys.producers)


def test_the_relay_keeps_no_spool_of_its_own(
    tmp_path: Path,
    fake: FakeDiscord,
    redis_url: str,
    capfd: pytest.CaptureFixture[str],
) -> None:
    spool = tmp_path / "spool"
    path = tmp_path / "routing.yaml"
    path.write_text(routing_text(fake, redis_url, f"  spool: '{spool}'\n"))
    handler, log = producer_logger(path)
    try:
        with RelayThread(path) as relay:
            log.info("trade_executed", extra={"n": 1})
            handler.flush()
            wait_for(lambda: relay.stats().get("delivered") == 1)
    finally:
        handler.close()
    assert not (spool / "spool.db").exists()
    assert "is not used by the relay" in capfd.readouterr().err


def test_a_relay_redis_does_not_answer_stops_sending_before_its_lease_ends(
    tmp_path: Path,
) -> None:
    with relay_with_a_backlog(tmp_path) as (server, fake, _relay):
        # Redis stops answering (as over a broken link) for 7 s
        redis.Redis.from_url(server.url).client_pause(7000)
        paused = time.monotonic()
        time.sleep(6.5)
        late = [m for m in fake.messages if m.time > paused + LEASE_TTL]
        wait_for(lambda: len(embeds(fake)) >= 300, timeout=60)
    assert [] == late, "sent when another relay could hold the lease"
    seen = [trade(e) for e in embeds(fake)]
    assert 300 == len(seen) == len(set(seen))
