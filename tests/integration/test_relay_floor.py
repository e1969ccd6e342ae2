"""
The floor's state kept by the relay, against a real ``redis-server``.

Producers append through a :class:`DiscordHandler` (the scripted floor)
or straight to the stream, in the format producers write; the relay runs
in a thread of the test with a ``state:`` spec built here (the routing
file's ``state:`` section is read elsewhere). What must hold: the state
read back is the floor's, each entry counted once across a relay that
read and died before saving, a stale relay fenced out, and a restart.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import redis

from fakes.discord import FakeDiscord
from polybot_loghandler import DiscordHandler, load_config
from polybot_loghandler._floor.model import (
    Rule,
    StateSpec,
    TableSpec,
    TotalSpec,
)
from polybot_loghandler._floor.values import compile_value
from polybot_loghandler._relay import scripts
from polybot_loghandler._relay.connect import async_client
from polybot_loghandler._relay.floor import FloorKeeper
from polybot_loghandler._relay.floorstore import FloorView, read_floor_sync
from polybot_loghandler._relay.keys import GROUP, Keys
from polybot_loghandler._relay.relay import Relay
from polybot_loghandler._relay.status import read_status, status_text
from polybot_loghandler._relay.wire import encode_event, entry_fields
from tests.support.floor import match, sets
from tests.support.helpers import flushed as flushed_handler
from tests.support.helpers import producer, wait_for

v = compile_value
_T = TypeVar("_T")


AGENTS = TableSpec(
    name="agents",
    key=v("{{ agent }}"),
    rules=(
        Rule(
            matcher=match("agent_started"),
            set=sets(status="running", capital="{{ capital }}"),
        ),
        Rule(matcher=match("agent_stopped"), set=sets(status="stopped")),
    ),
)
POSITIONS = TableSpec(
    name="positions",
    key=v("{{ agent }} {{ market }}"),
    rules=(
        Rule(
            matcher=match("position_opened"),
            set=sets(agent="{{ agent }}", market="{{ market }}"),
        ),
        Rule(matcher=match("position_closed"), remove=True),
    ),
)
PNL = TotalSpec(
    name="pnl",
    periods=("day", "all"),
    rules=(
        Rule(
            matcher=match("position_closed"),
            add=sets(realised="{{ pnl }}", closed=1),
        ),
        Rule(matcher=match("trade_executed"), add=sets(trades=1)),
    ),
)
SPEC = StateSpec(tables=(AGENTS, POSITIONS), totals=(PNL,))
EVENTS = (
    "agent_started",
    "agent_stopped",
    "trade_executed",
    "position_opened",
    "position_closed",
)


def floor_routing(fake: FakeDiscord, redis_url: str) -> str:
    """One channel for every event the state takes; the relay on."""
    return f"""\
version: 1
channels:
  floor: {{webhook: "{fake.webhook_url("3001", "tok-f")}"}}
delivery:
  relay: {redis_url}
  batch_window: 0.2
routes:
  - name: floor
    match: {{event: [{", ".join(EVENTS)}]}}
    to: floor
"""


@pytest.fixture
def fake() -> Iterator[FakeDiscord]:
    with FakeDiscord(channel_limit=(30, 60.0)) as fake:
        yield fake


@pytest.fixture
def path(tmp_path: Path, fake: FakeDiscord, redis_url: str) -> Path:
    made = tmp_path / "routing.yaml"
    made.write_text(floor_routing(fake, redis_url))
    return made


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    with redis.Redis.from_url(redis_url) as made:
        yield made


class FloorRelay:
    """A :class:`Relay` keeping *spec*, in a thread of the test."""

    def __init__(self, path: Path, spec: StateSpec) -> None:
        config = dataclasses.replace(load_config(path), state=spec)
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


def append(client: redis.Redis, event: str, **fields: Any) -> str:
    """Append one event as a producer does; its entry id."""
    raw = (event, logging.INFO, "floor", time.time(), fields, event, None)
    entry = entry_fields("e", "test:1:x", "hash", encode_event(raw))
    pairs = dict(zip(entry[::2], entry[1::2], strict=True))
    return str(client.xadd(Keys.stream, pairs).decode())


def closes(client: redis.Redis, pnls: list[float], agent: str) -> None:
    for n, pnl in enumerate(pnls):
        market = f"M{n}"
        append(client, "position_opened", agent=agent, market=market)
        append(client, "position_closed", agent=agent, market=market, pnl=pnl)


def floor(client: redis.Redis, spec: StateSpec = SPEC) -> FloorView:
    return read_floor_sync(client, spec)


def applied(client: redis.Redis) -> Callable[[], bool]:
    """A check: the saved state's cursor is the stream's last entry."""
    newest = client.xrevrange(Keys.stream, count=1)
    last = newest[0][0].decode() if newest else ""
    return lambda: floor(client).meta.cursor == last


def realised(view: FloorView) -> tuple[float, int]:
    """The P&L realised over every day label, and positions closed."""
    days = view.state.totals["pnl"]["day"].values()
    return (
        sum(s.get("realised", 0) for s in days),
        sum(int(s.get("closed", 0)) for s in days),
    )


@pytest.fixture
def log(path: Path) -> Iterator[logging.Logger]:
    """A producer: a logger whose handler appends to the stream."""
    with producer(path) as made:
        yield made


def flushed(log: logging.Logger) -> bool:
    handler = next(h for h in log.handlers if isinstance(h, DiscordHandler))
    return flushed_handler(handler)


@pytest.mark.slow
def test_the_relay_keeps_the_floor_s_state(
    path: Path, client: redis.Redis, redis_url: str, log: logging.Logger
) -> None:
    pnls = [12.34, -5.67, 100.01]
    with FloorRelay(path, SPEC):
        for agent, capital in (("alpha", 1000), ("bravo", 2000.5)):
            log.info(
                "agent_started", extra={"agent": agent, "capital": capital}
            )
        log.info("agent_started", extra={"agent": "charlie", "capital": 10})
        for n in range(5):
            log.info("trade_executed", extra={"agent": "alpha", "n": n})
        for agent, market in (("alpha", "BTC"), ("bravo", "ETH")):
            log.info(
                "position_opened", extra={"agent": agent, "market": market}
            )
        for pnl in pnls:  # the first closes alpha's; the others none open
            closed = {"agent": "alpha", "market": "BTC", "pnl": pnl}
            log.info("position_closed", extra=closed)
        assert flushed(log)
        assert wait_for(applied(client))
        status = status_text(read_status(client, redis_url))
    view = floor(client)
    agents = view.state.tables["agents"]
    assert ["alpha", "bravo", "charlie"] == sorted(agents)
    assert 2000.5 == agents["bravo"]["capital"]
    assert ["bravo ETH"] == list(view.state.tables["positions"])
    total, closed = realised(view)
    assert round(total, 2) == round(sum(pnls), 2) == 106.68  # to the cent
    assert 3 == closed
    assert 5 == view.state.totals["pnl"]["all"]["all"]["trades"]
    assert view.same_spec
    assert 0 == view.meta.trimmed
    assert "floor state: 4 rows in 2 tables, 1 total; events applied" in status


class Keeper:
    """
    A keeper of the test's own, stepped by hand: a relay's, frozen.

    It runs on a loop of its own, in a thread of its own, kept between
    steps (its client's connections belong to it); the test's thread
    only waits for each step, so no loop state of the test's own thread
    is touched.
    """

    def __init__(self, url: str, holder: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self.loop.run_forever, daemon=True
        )
        self._thread.start()
        self.client = async_client(url, "test")
        self.failures: list[BaseException] = []
        self.keeper = FloorKeeper(
            self.client,
            {
                name: self.client.register_script(getattr(scripts, name))
                for name in ("READ_FLOOR", "SAVE_FLOOR")
            },
            holder=lambda: holder,
            spec=lambda: SPEC,
            failed=self.failures.append,
            name=holder.partition("|")[0],
        )

    def read(self) -> int:
        """Load the saved state if there is none in memory; read on."""

        async def read() -> int:
            if self.keeper.state is None:
                await self.keeper.load(SPEC)
            return await self.keeper.read()

        return self._step(read())

    def save(self) -> bool:
        return self._step(self.keeper.save())

    def _step(self, step: Coroutine[Any, Any, _T]) -> _T:
        """Run *step* on the keeper's loop; its result."""
        return asyncio.run_coroutine_threadsafe(step, self.loop).result(30)

    def sums(self) -> float:
        state = self.keeper.state
        assert state is not None
        days = state.totals["pnl"]["day"].values()
        return sum(s.get("realised", 0) for s in days)

    def close(self) -> None:
        self._step(self.client.aclose())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


@pytest.fixture
def keeper(redis_url: str) -> Iterator[Callable[[str], Keeper]]:
    made: list[Keeper] = []

    def make(holder: str) -> Keeper:
        made.append(Keeper(redis_url, holder))
        return made[-1]

    yield make
    for one in made:
        one.close()


FIRST = [10.01, -2.5, 7.25]
SECOND = [0.1, 0.2, 3.33, -1.01]


@pytest.mark.slow
def test_entries_a_relay_read_and_died_with_are_applied_once(
    path: Path, client: redis.Redis, keeper: Callable[[str], Keeper]
) -> None:
    lease = "dead:1:x|1"
    client.set(Keys.lease, lease)
    dead = keeper(lease)
    closes(client, FIRST, "alpha")
    assert 2 * len(FIRST) == dead.read()
    assert dead.save()
    closes(client, SECOND, "bravo")
    assert 2 * len(SECOND) == dead.read()  # read, then it dies
    assert sum(FIRST + SECOND) == dead.sums()
    client.delete(Keys.lease)  # expired: the next relay takes over
    with FloorRelay(path, SPEC):
        assert wait_for(applied(client))
    total, closed = realised(floor(client))
    assert sum(FIRST + SECOND) == pytest.approx(total, abs=1e-9)
    assert len(FIRST + SECOND) == closed


@pytest.mark.slow
def test_a_relay_whose_lease_was_taken_cannot_save(
    path: Path, client: redis.Redis, keeper: Callable[[str], Keeper]
) -> None:
    client.set(Keys.lease, "stale:1:x|1")
    stale = keeper("stale:1:x|1")
    closes(client, FIRST, "alpha")
    assert 2 * len(FIRST) == stale.read()  # then it stalls
    client.set(Keys.lease, "new:1:y|2")  # its lease passed to another
    assert not stale.save()  # it wakes up: fenced out
    assert stale.keeper.state is None  # and forgets what it held
    assert not client.exists(Keys.floor_meta)
    client.delete(Keys.lease)
    with FloorRelay(path, SPEC):
        assert wait_for(applied(client))
    total, closed = realised(floor(client))
    assert sum(FIRST) == pytest.approx(total, abs=1e-9)
    assert len(FIRST) == closed


def test_a_save_on_a_state_redis_no_longer_holds_is_refused(
    client: redis.Redis, keeper: Callable[[str], Keeper]
) -> None:
    """Two keepers of one lease (one Redis forgot, then gave again)."""
    lease = "one:1:x|1"
    client.set(Keys.lease, lease)
    first, second = keeper(lease), keeper(lease)
    closes(client, FIRST, "alpha")
    assert 6 == first.read() == second.read()
    assert first.save()
    assert not second.save()
    assert second.keeper.state is None  # loaded again before going on
    assert 0 == second.read()
    assert second.save()
    total, closed = realised(floor(client))
    assert sum(FIRST) == pytest.approx(total, abs=1e-9)
    assert len(FIRST) == closed


@pytest.mark.slow
def test_a_restarted_relay_goes_on_from_the_cursor(
    path: Path, client: redis.Redis
) -> None:
    closes(client, FIRST, "alpha")
    with FloorRelay(path, SPEC):
        assert wait_for(applied(client))
    # while no relay runs: trades, a report, an entry nobody could read
    closes(client, SECOND, "bravo")
    report = entry_fields("c", "test:1:x", "hash", '{"c": {"queue_full": 2}}')
    client.xadd(Keys.stream, dict(zip(report[::2], report[1::2], strict=True)))
    client.xadd(Keys.stream, {"v": "1", "k": "e", "d": "{}"})
    with FloorRelay(path, SPEC):
        assert wait_for(applied(client))
    view = floor(client)
    total, closed = realised(view)
    assert sum(FIRST + SECOND) == pytest.approx(total, abs=1e-9)
    assert len(FIRST + SECOND) == closed
    assert {"entry: malformed": 1} == dict(view.state.errors)


@pytest.mark.slow
def test_a_table_no_longer_in_the_spec_is_dropped(
    path: Path, client: redis.Redis
) -> None:
    append(client, "agent_started", agent="alpha", capital=5)
    append(client, "position_opened", agent="alpha", market="BTC")
    closes(client, FIRST, "alpha")
    with FloorRelay(path, SPEC):
        assert wait_for(applied(client))
    assert client.exists(Keys.floor_rows + "positions")
    before = floor(client)
    fewer = StateSpec(tables=(AGENTS,), totals=(PNL,))
    with FloorRelay(path, fewer):
        assert wait_for(lambda: floor(client, fewer).same_spec)
    assert not client.exists(Keys.floor_rows + "positions")
    after = floor(client, fewer)
    assert ("agents",) == after.meta.tables
    assert before.state.tables["agents"] == after.state.tables["agents"]
    assert before.state.totals == after.state.totals


@pytest.mark.slow
def test_entries_trimmed_before_they_were_applied_are_counted(
    path: Path, client: redis.Redis
) -> None:
    closes(client, FIRST, "alpha")
    with FloorRelay(path, SPEC):
        assert wait_for(applied(client))
    closes(client, SECOND, "bravo")  # 8 entries; the first 5 trimmed
    ids = [e[0] for e in client.xrange(Keys.stream, count=1000)]
    client.xtrim(Keys.stream, minid=ids[-3], approximate=False)
    with FloorRelay(path, SPEC):
        assert wait_for(applied(client))
    view = floor(client)
    assert 5 == view.meta.trimmed
    total, _ = realised(view)
    # kept: bravo's last open, and its last two closes
    assert sum(FIRST + SECOND[-2:]) == pytest.approx(total, abs=1e-9)


def test_the_trim_keeps_what_the_floor_has_not_applied(
    client: redis.Redis,
) -> None:
    ids = [append(client, "trade_executed", n=n) for n in range(5)]
    client.xgroup_create(Keys.stream, GROUP, "0")
    client.xreadgroup(GROUP, "r", {Keys.stream: ">"})
    client.xack(Keys.stream, GROUP, *ids)
    client.set(Keys.lease, "r|1")
    client.hset(Keys.floor_meta, "cursor", ids[1])
    tidy = client.register_script(scripts.TIDY)
    keys = [Keys.lease, Keys.stream, Keys.floor_meta]
    assert 2 == tidy(keys=keys, args=["r|1", GROUP, 1])
    assert ids[2:] == [e[0].decode() for e in client.xrange(Keys.stream)]
    assert 3 == tidy(keys=keys, args=["r|1", GROUP, 0])  # floor off
    assert 0 == client.xlen(Keys.stream)
