"""
Watches and digests with the relay, against real ``redis-server``\\ s.

Agents and producers are processes of their own (``scripts/
relay_agent.py``, ``scripts/relay_producer.py``), killed with SIGKILL
where a test says so; relays are ``polybot-loghandler relay``
processes, or a thread of the test. The loopback fake Discord checks
every body against Discord's schema and our own rules. What must hold:
one alert per silence and one recovery per return, whichever relay is
active, with the watch's ping and none else; a digest's counts exact
across a failover.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from fakes.discord import FakeDiscord
from polybot_loghandler._relay import scripts
from polybot_loghandler._relay.keys import GROUP, LEASE_TTL, Keys
from polybot_loghandler._watching.periods import period_of
from polybot_loghandler._watching.render import period_label
from tests.integration.test_relay import (
    ROOT,
    SCRIPTS,
    RelayThread,
    active_pid,
    producer_logger,
    relay_process,
)
from tests.support.helpers import script_environment, wait_for
from tests.support.redisserver import RedisServer

pytestmark = pytest.mark.slow

AGENTS = ("alpha", "bravo", "charlie")
#: The watch's ``alert_after``, and the agents' heartbeat.
ALERT_AFTER = 3.0
HEARTBEAT = 0.5


def watch_routing(fake: FakeDiscord, redis_url: str) -> str:
    """One watch of the agents' heartbeats, pinging everyone."""
    return f"""\
version: 1
channels:
  alerts: {{webhook: "{fake.webhook_url("2001", "tok-w")}"}}
delivery:
  relay: {redis_url}
  batch_window: 0.2
routes:
  - name: errors
    match: {{level: error}}
    to: alerts
watches:
  - name: agents
    match: {{event: heartbeat}}
    key: "{{{{ agent }}}}"
    alert_after: {ALERT_AFTER:g}s
    to: alerts
    mention: everyone
"""


class Floor:
    """Agents that log heartbeats, as processes; started, killed, back."""

    def __init__(self, routing: Path) -> None:
        self.routing = routing
        self.procs: dict[str, subprocess.Popen[str]] = {}

    def start(self, agent: str) -> None:
        proc = subprocess.Popen(
            [
                sys.executable,
                str(SCRIPTS / "relay_agent.py"),
                str(self.routing),
                agent,
                str(HEARTBEAT),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=script_environment(),
            cwd=ROOT,
        )
        assert proc.stdout is not None
        assert "ready" == proc.stdout.readline().strip()
        self.procs[agent] = proc

    def kill(self, agent: str) -> float:
        """SIGKILL *agent*; when (monotonic)."""
        proc = self.procs.pop(agent)
        proc.kill()
        killed = time.monotonic()
        proc.communicate()
        return killed

    def close(self) -> None:
        for proc in self.procs.values():
            proc.kill()
            proc.communicate()
        self.procs.clear()


@pytest.fixture
def floor(tmp_path: Path) -> Iterator[Callable[[Path], Floor]]:
    made: list[Floor] = []

    def make(routing: Path) -> Floor:
        made.append(Floor(routing))
        return made[-1]

    yield make
    for one in made:
        one.close()


@pytest.fixture
def relays() -> Iterator[list[subprocess.Popen[str]]]:
    """Relay processes the test starts; killed at its end."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        proc.kill()
        proc.communicate()


def titled(fake: FakeDiscord, words: str) -> list[tuple[Any, str]]:
    """``(message, title)`` of each embed whose title has *words*."""
    return [
        (m, e.get("title", ""))
        for m in fake.messages
        for e in m.json["embeds"]
        if words in e.get("title", "")
    ]


def alerts(fake: FakeDiscord) -> list[str]:
    """The agent each alert names, in order."""
    return [t.split()[1] for _m, t in titled(fake, "has gone silent")]


def recoveries(fake: FakeDiscord) -> list[str]:
    return [t.split()[1] for _m, t in titled(fake, "is back")]


def watched_keys(client: redis.Redis) -> dict[str, list[Any]]:
    """The watch's keys in the state the relay saved in Redis."""
    data = client.hget(Keys.watching, "state")
    if data is None:
        return {}
    state = json.loads(data)["state"]
    keys: dict[str, list[Any]] = state["watches"]["agents"]["keys"]
    return keys


def read_up(client: redis.Redis) -> Callable[[], bool]:
    """A check: the relay has read every entry in the stream now."""
    newest = client.xrevrange(Keys.stream, count=1)
    last = newest[0][0].decode() if newest else "0-0"

    def check() -> bool:
        for group in client.xinfo_groups(Keys.stream):
            if group["name"] == GROUP.encode():
                read = group["last-delivered-id"].decode()
                return _id(read) >= _id(last)
        return False

    return check


def _id(entry: str) -> tuple[int, ...]:
    return tuple(int(part) for part in entry.split("-"))


def check_pings(fake: FakeDiscord) -> None:
    """The alerts ping everyone, as the watch says; nothing else pings."""
    assert [] == fake.rejected
    for message, title in titled(fake, ""):
        if "has gone silent" in title:
            assert "@everyone" == message.json["content"]
            assert {"parse": ["everyone"]} == message.json["allowed_mentions"]
        else:
            assert "content" not in message.json
            assert {"parse": []} == message.json["allowed_mentions"]
    pinging = [m for m, _pings in fake.pings()]
    assert len(pinging) == len(alerts(fake))


def test_a_killed_agent_is_told_once_and_its_return_once(
    tmp_path: Path,
    redis_url: str,
    floor: Callable[[Path], Floor],
    relays: list[subprocess.Popen[str]],
) -> None:
    with FakeDiscord() as fake:
        path = tmp_path / "routing.yaml"
        path.write_text(watch_routing(fake, redis_url))
        client = redis.Redis.from_url(redis_url)
        relays.append(relay_process(path))
        assert wait_for(lambda: active_pid(client) is not None)
        agents = floor(path)
        for agent in AGENTS:
            agents.start(agent)
        assert wait_for(lambda: set(watched_keys(client)) == set(AGENTS))
        killed = agents.kill("bravo")
        assert wait_for(lambda: alerts(fake) != [], timeout=5)
        latency = time.monotonic() - killed
        agents.start("bravo")
        assert wait_for(lambda: recoveries(fake) != [], timeout=10)
        # nothing more: no second alert, none for the others
        assert not wait_for(lambda: len(fake.messages) > 2, timeout=4)
        check_pings(fake)
    assert ["bravo"] == alerts(fake)
    assert ["bravo"] == recoveries(fake)
    assert latency < 5
    print(f"alert {latency:.2f}s after the SIGKILL")


@pytest.mark.parametrize("when", ["before_the_alert", "after_it_was_made"])
def test_a_relay_killed_during_the_silence_costs_no_second_alert(
    tmp_path: Path,
    redis_url: str,
    floor: Callable[[Path], Floor],
    relays: list[subprocess.Popen[str]],
    when: str,
) -> None:
    with FakeDiscord() as fake:
        path = tmp_path / "routing.yaml"
        path.write_text(watch_routing(fake, redis_url))
        client = redis.Redis.from_url(redis_url)
        relays += [relay_process(path), relay_process(path)]
        assert wait_for(lambda: active_pid(client) is not None)
        first = active_pid(client)
        assert wait_for(lambda: client.hlen(Keys.relays) == 2)
        agents = floor(path)
        for agent in AGENTS:
            agents.start(agent)
        assert wait_for(read_up(client))  # every agent is heard of
        if when == "after_it_was_made":
            fake.fail_for(ALERT_AFTER + LEASE_TTL, 503)  # not delivered
        agents.kill("bravo")
        if when == "before_the_alert":
            time.sleep(1)  # the silence has begun, the alert is not due
            assert [] == alerts(fake)
        else:  # the alert is in the stream, and Discord has not taken it
            assert wait_for(lambda: output_entries(client) == 1)
            assert [] == alerts(fake)
        assert first is not None
        os.kill(first, signal.SIGKILL)
        killed = time.monotonic()
        assert wait_for(
            lambda: active_pid(client) not in (None, first), timeout=15
        )
        took_over = time.monotonic() - killed
        assert wait_for(lambda: alerts(fake) != [], timeout=15)
        agents.start("bravo")
        assert wait_for(lambda: recoveries(fake) != [], timeout=10)
        assert not wait_for(lambda: len(alerts(fake)) > 1, timeout=4)
        check_pings(fake)
    assert ["bravo"] == alerts(fake)
    assert ["bravo"] == recoveries(fake)
    print(f"the standby took over {took_over:.2f}s after the SIGKILL")


def outputs_pending(client: redis.Redis) -> int:
    """The outputs in the stream not yet acknowledged."""
    pending = {
        p["message_id"]
        for p in client.xpending_range(Keys.stream, GROUP, "-", "+", 10_000)
    }
    return sum(
        1
        for entry, fields in client.xrange(Keys.stream)
        if fields[b"k"] == b"w" and entry in pending
    )


def test_redis_silent_for_longer_than_alert_after_is_no_agent_s_silence(
    tmp_path: Path, floor: Callable[[Path], Floor]
) -> None:
    with RedisServer() as server, FakeDiscord() as fake:
        path = tmp_path / "routing.yaml"
        path.write_text(watch_routing(fake, server.url))
        client = redis.Redis.from_url(server.url)
        with RelayThread(path) as relay:
            assert wait_for(lambda: relay.holder is not None)
            agents = floor(path)
            for agent in AGENTS:
                agents.start(agent)
            assert wait_for(read_up(client))
            # Redis does not answer for four times alert_after, past the
            # clients' timeouts: the relay and the agents retry, and the
            # agents keep their events meanwhile
            client.client_pause(int(ALERT_AFTER * 4 * 1000))
            time.sleep(ALERT_AFTER * 4)
            assert not wait_for(lambda: alerts(fake) != [], timeout=6)
            # and the watch still tells a real silence
            agents.kill("bravo")
            assert wait_for(lambda: alerts(fake) != [], timeout=8)
            assert not wait_for(lambda: len(alerts(fake)) > 1, timeout=2)
    assert ["bravo"] == alerts(fake)


def output_entries(client: redis.Redis) -> int:
    """The watches' and digests' outputs in the stream."""
    return sum(
        1 for _id, fields in client.xrange(Keys.stream) if fields[b"k"] == b"w"
    )


# -- a digest across a failover ---------------------------------------------

EVERY = 5.0


def digest_routing(fake: FakeDiscord, redis_url: str) -> str:
    return f"""\
version: 1
channels:
  digests: {{webhook: "{fake.webhook_url("3001", "tok-d")}"}}
delivery:
  relay: {redis_url}
  batch_window: 0.2
routes:
  - name: errors
    match: {{level: error}}
    to: digests
digests:
  - name: floor_volume
    match: {{event: trade_executed}}
    every: {EVERY:g}s
    group_by: agent
    measures: {{trades: count, volume: sum(amount)}}
    to: digests
"""


_MEASURE = re.compile(r"(Trades|Volume): \*\*([\d,]+)\*\*")


def digests(fake: FakeDiscord) -> list[tuple[str, dict[str, tuple[int, int]]]]:
    """Each digest's period, and each agent's trades and volume."""
    out = []
    for message in fake.messages:
        for embed in message.json["embeds"]:
            if not embed.get("title", "").startswith("📊"):
                continue
            groups = {}
            for item in embed.get("fields", []):
                found = dict(_MEASURE.findall(item["value"]))
                groups[item["name"]] = (
                    int(found["Trades"].replace(",", "")),
                    int(found["Volume"].replace(",", "")),
                )
            out.append((embed["description"], groups))
    return out


def expected(
    reports: list[dict[str, Any]],
) -> dict[str, dict[str, tuple[int, int]]]:
    """What each period's digest must say, from what was logged."""
    periods: dict[str, Counter[str]] = {}
    volumes: dict[str, Counter[str]] = {}
    for report in reports:
        for when, agent, amount in report["logged"]:
            period = period_of(when, EVERY)
            label = period_label(period.start, period.end, "UTC")
            periods.setdefault(label, Counter())[agent] += 1
            volumes.setdefault(label, Counter())[agent] += amount
    out = {}
    for label, counts in periods.items():
        groups = {a: (counts[a], volumes[label][a]) for a in sorted(counts)}
        if len(groups) > 1:
            groups["Total"] = (
                sum(counts.values()),
                sum(volumes[label].values()),
            )
        out[label] = groups
    return out


def start_producers(
    routing: Path, counts: list[int], gap: float
) -> list[subprocess.Popen[str]]:
    command = [sys.executable, str(SCRIPTS / "relay_producer.py")]
    procs = [
        subprocess.Popen(
            [*command, str(routing), f"p{i}", str(n), "agents", str(gap)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=script_environment(),
            cwd=ROOT,
        )
        for i, n in enumerate(counts)
    ]
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    return procs


def reports_of(procs: list[subprocess.Popen[str]]) -> list[dict[str, Any]]:
    reports = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert 0 == proc.returncode, err
        reports.append(json.loads(out.strip().splitlines()[-1]))
    return reports


def open_periods(client: redis.Redis) -> int | None:
    """The digest's open periods in the saved state (``None``: none)."""
    data = client.hget(Keys.watching, "state")
    if data is None:
        return None
    state = json.loads(data)["state"]["digests"]["floor_volume"]["state"]
    return len(state["open"])


@pytest.mark.parametrize("stop", ["SIGKILL", "SIGTERM"])
def test_a_digest_counts_every_trade_once_across_a_failover(
    tmp_path: Path,
    redis_url: str,
    relays: list[subprocess.Popen[str]],
    stop: str,
) -> None:
    with FakeDiscord() as fake:
        path = tmp_path / "routing.yaml"
        path.write_text(digest_routing(fake, redis_url))
        client = redis.Redis.from_url(redis_url)
        relays += [relay_process(path), relay_process(path)]
        assert wait_for(lambda: active_pid(client) is not None)
        first = active_pid(client)
        assert first is not None
        assert wait_for(lambda: client.hlen(Keys.relays) == 2)
        # 300 trades in rounds of alpha, bravo, charlie, over about 20 s
        procs = start_producers(path, [102, 99, 99], gap=0.6)
        assert wait_for(lambda: digests(fake) != [], timeout=15)
        # Discord took a digest: once its entry is acknowledged (a crash
        # between the two sends it again, as any message on its way)
        assert wait_for(lambda: outputs_pending(client) == 0)
        os.kill(first, getattr(signal, stop))  # in the middle
        killed = time.time()
        assert wait_for(
            lambda: active_pid(client) not in (None, first), timeout=15
        )
        reports = reports_of(procs)
        assert sum(len(r["logged"]) for r in reports) == 300

        def done() -> bool:
            counted = sum(
                g["Total"][0]
                if "Total" in g
                else sum(t for t, _v in g.values())
                for _label, g in digests(fake)
            )
            idle = client.xpending(Keys.stream, GROUP)["pending"] == 0
            # and nothing more to come: no period open, no entry pending
            return counted >= 300 and idle and not open_periods(client)

        assert wait_for(done, timeout=60)
    seen = digests(fake)
    assert [] == titled(fake, "(partial)"), "the next relay went on"
    labels = [label for label, _groups in seen]
    assert len(labels) == len(set(labels)), "one digest per period"
    assert expected(reports) == dict(seen), "counts and sums exact"
    inside = [g for _label, g in seen if len(g) == len(AGENTS) + 1]
    assert len(inside) >= len(seen) - 1, "each period lists every agent"
    logged = [t for r in reports for t in r["logged"]]
    last = max(when for when, _a, _n in logged)
    first_logged = min(when for when, _a, _n in logged)
    assert first_logged < killed < last, "the failover was in the middle"
    assert 300 == sum(g["Total"][0] for _label, g in seen)
    assert sum(n for _w, _a, n in logged) == sum(
        g["Total"][1] for _label, g in seen
    )


# -- mutes ------------------------------------------------------------------


def test_a_mute_in_redis_holds_a_route_back_and_its_end_is_told_once(
    tmp_path: Path, redis_url: str
) -> None:
    with FakeDiscord() as fake:
        path = tmp_path / "routing.yaml"
        path.write_text(
            f"""\
version: 1
channels:
  trades: {{webhook: "{fake.webhook_url("1001", "tok-a")}"}}
  ops: {{webhook: "{fake.webhook_url("1009", "tok-o")}"}}
delivery:
  relay: {redis_url}
  batch_window: 0.2
  ops_channel: ops
routes:
  - name: trades
    match: {{event: trade_executed}}
    to: trades
"""
        )
        client = redis.Redis.from_url(redis_url)
        until = time.time() + 3
        mute = {"until": until, "reason": "maintenance @everyone"}
        client.hset(Keys.mutes, "trades", json.dumps(mute))
        client.hset(Keys.mutes, "broken", "not json")
        handler, log = producer_logger(path)
        try:
            with RelayThread(path) as relay:
                log.info("trade_executed", extra={"n": 1})
                handler.flush()
                assert wait_for(
                    lambda: relay.stats().get("dropped.muted") == 1
                )
                assert wait_for(
                    lambda: titled(fake, "Mute ended") != [], timeout=10
                )
                log.info("trade_executed", extra={"n": 2})
                handler.flush()
                assert wait_for(lambda: relay.stats().get("delivered") == 1)
                assert not wait_for(
                    lambda: len(titled(fake, "Mute ended")) > 1, timeout=2
                )
        finally:
            handler.close()
    ((message, title),) = titled(fake, "Mute ended")
    assert "🔔 Mute ended: trades" == title
    (embed,) = message.json["embeds"]
    assert "1 message was held back here" in embed["description"]
    assert "maintenance" in embed["description"]
    assert {"parse": []} == message.json["allowed_mentions"]
    assert [] == fake.pings()
    trades = [m for m in fake.messages if m.webhook_id == "1001"]
    assert 1 == len(trades), "the muted trade was held back, the next sent"
    # kept, ended, for mute --list and other readers; the broken ignored
    assert 2 == client.hlen(Keys.mutes)


# -- the scripts ------------------------------------------------------------


def test_a_relay_without_the_lease_saves_nothing(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    acquire = client.register_script(scripts.ACQUIRE)
    save = client.register_script(scripts.SAVE_WATCHING)
    keys = [Keys.lease, Keys.watching, Keys.stream]
    output = ["v", "1", "k", "w", "p", "r", "h", "x", "d", "{}"]
    first = acquire(keys=[Keys.lease, Keys.fence], args=["one", 200])
    assert 1 == save(keys=keys, args=[first, "one:1", "s1", 10, *output])
    # the same save again (its answer was lost): stored once
    assert 2 == save(keys=keys, args=[first, "one:1", "s1", 10, *output])
    assert 1 == client.xlen(Keys.stream)
    time.sleep(0.3)  # the lease expires; another relay takes it
    second = acquire(keys=[Keys.lease, Keys.fence], args=["two", 5000])
    assert second is not None
    # the first woke up late: fenced out
    assert save(keys=keys, args=[first, "one:2", "s2", 10, *output]) is None
    assert b"s1" == client.hget(Keys.watching, "state")
    assert 1 == client.xlen(Keys.stream)
    assert 1 == save(keys=keys, args=[second, "two:1", "s3", 10])
    assert b"s3" == client.hget(Keys.watching, "state")
