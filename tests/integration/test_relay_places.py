"""
The boards' and threads' ids with the relay, in a real Redis.

:class:`RedisPlaces` on its own first: its calls run on a loop of their
own thread, as the relay's do, asked from the test's thread, as the
engine asks. Then a relay that restarts and edits the same boards.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from fakes.discord import FakeDiscord
from polybot_loghandler._places import KEEP_FOR, Places, Posted
from polybot_loghandler._relay.connect import async_client
from polybot_loghandler._relay.keys import Keys
from polybot_loghandler._relay.places import RedisPlaces, place_field
from polybot_loghandler._relay.status import read_status, status_text
from tests.integration.test_relay import RelayThread, producer_logger
from tests.support.helpers import wait_for
from tests.support.redisserver import free_port

#: The lease's value the tests' "relay" holds.
HELD = "relay-1|7"
#: Discord ids (17 to 20 digits: the store reads back nothing else).
ID_A, ID_B, ID_C, ID_D = (f"1{n}" * 9 for n in "2345")


class Wall:
    """A wall clock the test moves."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    """An event loop running in a thread of its own, as the relay's."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield loop
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()


@pytest.fixture
def plain(redis_url: str) -> Iterator[redis.Redis]:
    """A plain client of the test's database; the lease is HELD."""
    client = redis.Redis.from_url(redis_url)
    client.set(Keys.lease, HELD)
    yield client
    client.close()


class Stores:
    """Makes :class:`RedisPlaces` on the test's loop and database."""

    def __init__(self, url: str, loop: asyncio.AbstractEventLoop) -> None:
        self.url = url
        self.loop = loop
        self.wall = Wall()
        self.holder: str | None = HELD
        self._clients: list[Any] = []

    def __call__(self, url: str | None = None, **kw: Any) -> RedisPlaces:
        client = async_client(url or self.url, "test")
        self._clients.append(client)
        store = RedisPlaces(lambda: self.holder, self.wall, **kw)
        store.attach(client, self.loop)
        return store

    def close(self) -> None:
        for client in self._clients:
            asyncio.run_coroutine_threadsafe(
                client.aclose(), self.loop
            ).result(5)


@pytest.fixture
def stores(
    redis_url: str, loop: asyncio.AbstractEventLoop, plain: redis.Redis
) -> Iterator[Stores]:
    made = Stores(redis_url, loop)
    yield made
    made.close()


def board(key: str, used: float, id_: str = ID_A, thread: str = "") -> Posted:
    return Posted("board", "webhook:1001", key, id_, thread, used - 5, used)


def test_places_saved_are_read_back(
    stores: Stores, plain: redis.Redis
) -> None:
    store = stores()
    now = stores.wall.now
    made = [
        board("feeds", now, "111", thread="999"),
        # a key holds anything: JSON keeps the three apart
        Posted("thread", "bot:42", 'a","b\x00c — é', ID_B, "", now, now),
        board("feeds", now, ID_C, thread=ID_D),  # replaces the first
    ]
    for place in made:
        store.save(place)

    assert sorted(made[1:], key=lambda p: p.id) == sorted(
        store.load(), key=lambda p: p.id
    )
    assert 2 == plain.hlen(Keys.places)
    value = plain.hget(Keys.places, '["board","webhook:1001","feeds"]')
    assert value is not None
    assert {"id": ID_C, "thread": ID_D, "at": now - 5, "used": now} == (
        json.loads(value)
    )


def test_a_place_forgotten_is_gone(stores: Stores, plain: redis.Redis) -> None:
    store = stores()
    now = stores.wall.now
    store.save(board("feeds", now))
    store.save(board("orders", now))

    store.forget(("board", "webhook:1001", "feeds"))
    store.forget(("board", "webhook:1001", "never kept"))

    assert [board("orders", now)] == store.load()
    assert [b'["board","webhook:1001","orders"]'] == plain.hkeys(Keys.places)


def test_what_is_not_a_place_is_ignored_and_left(
    stores: Stores, plain: redis.Redis
) -> None:
    store = stores()
    now = stores.wall.now
    good = board("feeds", now)
    store.save(good)
    value = {"id": "1", "thread": "", "at": now, "used": now}
    field = ["board", "webhook:1001", "x"]
    junk = {
        "not json": json.dumps(value),
        json.dumps(field[:2]): json.dumps(value),
        json.dumps(["watch", *field[1:]]): json.dumps(value),
        json.dumps([*field, "more"]): json.dumps(value),
        json.dumps(field): "not json",
        json.dumps(field) + " ": json.dumps([1, 2]),
        json.dumps(field) + "  ": json.dumps({**value, "id": "12a"}),
        json.dumps(field) + "   ": json.dumps({**value, "id": "¹²"}),
        json.dumps(field) + "    ": json.dumps({**value, "used": True}),
        json.dumps(field) + "     ": json.dumps({**value, "at": "now"}),
        json.dumps(field) + "      ": '{"id":"1","at":1,"used":NaN}',
        json.dumps(field) + "       ": json.dumps({**value, "thread": 5}),
        json.dumps(["board", "webhook:1001", "k" * 500]): json.dumps(value),
    }
    plain.hset(Keys.places, mapping=junk)
    plain.hset(Keys.places, b"\xff\xfe", b"\xff")

    assert [good] == store.load()
    assert 2 + len(junk) == plain.hlen(Keys.places)  # not ours to delete


def test_places_unused_for_a_week_are_forgotten_on_load(
    stores: Stores, plain: redis.Redis
) -> None:
    store = stores()
    now = stores.wall.now
    old = board("old", now - KEEP_FOR - 1)
    fresh = board("fresh", now - KEEP_FOR + 60)
    store.save(old)
    store.save(fresh)

    assert [fresh] == store.load()
    assert [place_field(fresh.slot).encode()] == plain.hkeys(Keys.places)


def test_past_the_cap_the_longest_unused_are_forgotten_on_load(
    stores: Stores, plain: redis.Redis
) -> None:
    store = stores(most=3)
    now = stores.wall.now
    made = [board(f"key {i}", now - 100 + i) for i in range(5)]
    for place in reversed(made):
        store.save(place)

    assert made[2:] == store.load()  # the most recently used last
    assert {place_field(p.slot).encode() for p in made[2:]} == set(
        plain.hkeys(Keys.places)
    )


def test_places_loads_what_the_store_keeps(stores: Stores) -> None:
    store = stores()
    now = stores.wall.now
    store.save(board("feeds", now))

    places = Places()
    assert 1 == places.load(now, store)
    assert board("feeds", now) == places.get(
        "board", "webhook:1001", "feeds", now
    )
    assert not places.store_failed


def test_a_relay_without_the_lease_changes_nothing(
    stores: Stores, plain: redis.Redis
) -> None:
    store = stores()
    now = stores.wall.now
    store.save(board("feeds", now))
    plain.set(Keys.lease, "relay-2|8")  # another relay took over

    store.save(board("orders", now))
    store.forget(("board", "webhook:1001", "feeds"))
    stores.wall.now += KEEP_FOR + 1
    assert [] == store.load()  # expired: but not this relay's to delete

    assert [b'["board","webhook:1001","feeds"]'] == plain.hkeys(Keys.places)


def test_a_relay_not_active_is_told_so_and_places_go_on_in_memory(
    stores: Stores, plain: redis.Redis
) -> None:
    store = stores()
    now = stores.wall.now
    stores.holder = None
    with pytest.raises(RuntimeError, match="not active"):
        store.save(board("feeds", now))

    places = Places(store)
    places.put(board("feeds", now), now)
    assert places.store_failed
    assert board("feeds", now) == places.get(
        "board", "webhook:1001", "feeds", now
    )
    assert 0 == plain.hlen(Keys.places)


def test_a_store_without_a_client_or_redis_raises_to_places(
    stores: Stores,
) -> None:
    now = stores.wall.now
    detached = stores()
    detached.detach()
    with pytest.raises(RuntimeError, match="not connected"):
        detached.load()
    away = stores(f"redis://127.0.0.1:{free_port()}/0")
    with pytest.raises(redis.ConnectionError):
        away.save(board("feeds", now))

    for store in (detached, away):
        places = Places()
        assert 0 == places.load(now, store)
        assert places.store_failed


def test_relay_status_counts_the_boards_and_threads_kept(
    stores: Stores, plain: redis.Redis
) -> None:
    now = stores.wall.now
    before = status_text(read_status(plain, "redis://test"), now)
    assert "boards and threads" not in before

    store = stores()
    store.save(board("feeds", now))
    store.save(board("orders", now))
    store.save(Posted("thread", "webhook:1001", "BTC", ID_B, "", now, now))
    plain.hset(Keys.places, "junk", "{}")

    text = status_text(read_status(plain, "redis://test"), now)
    assert "boards and threads kept: 2 boards, 1 thread" in text.splitlines()


# -- a relay that restarts --------------------------------------------------


def board_routing(fake: FakeDiscord, redis_url: str) -> str:
    """One board per component on the fake; the relay on *redis_url*."""
    return f"""\
version: 1
channels:
  health: {{webhook: "{fake.webhook_url("1001", "tok-a")}"}}
delivery:
  relay: {redis_url}
  batch_window: 0.2
routes:
  - name: health
    match: {{event: system_health}}
    to: health
    board: "{{{{ component }}}}"
    embed:
      title: "{{{{ component }}}}: {{{{ state }}}}"
"""


def titles(fake: FakeDiscord) -> dict[str, str]:
    """Each message's title as it stands now, by message id."""
    return {m.id: fake.message(m.id).embeds[0]["title"] for m in fake.messages}


@pytest.mark.slow
def test_a_new_relay_edits_the_boards_the_last_one_posted(
    tmp_path: Path, redis_url: str
) -> None:
    with FakeDiscord() as fake:
        path = tmp_path / "routing.yaml"
        path.write_text(board_routing(fake, redis_url))
        plain = redis.Redis.from_url(redis_url)
        handler, log = producer_logger(path)
        try:
            with RelayThread(path):
                for component in ("feeds", "orders"):
                    log.info(
                        "system_health",
                        extra={"component": component, "state": "up"},
                    )
                handler.flush()
                assert wait_for(lambda: 2 == plain.hlen(Keys.places))
            first = titles(fake)
            assert ["feeds: up", "orders: up"] == sorted(first.values())

            with RelayThread(path) as relay:
                for component in ("feeds", "orders"):
                    log.info(
                        "system_health",
                        extra={"component": component, "state": "down"},
                    )
                handler.flush()
                assert wait_for(lambda: relay.stats().get("delivered") == 2)
                status = read_status(plain, "redis://test")
        finally:
            handler.close()
            plain.close()

        assert 2 == len(fake.messages)  # edited, not posted anew
        assert {i: t.replace("up", "down") for i, t in first.items()} == (
            titles(fake)
        )
        assert dict.fromkeys(first, 1) == {
            id_: fake.message(id_).edit_count for id_ in first
        }
        assert {"board": 2} == status.places
        assert [] == fake.server_errors
