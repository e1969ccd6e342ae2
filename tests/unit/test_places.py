"""
Tests for the memory of boards and threads (``_places.py``) and its
store in the spool's database (``_spool/places.py``).

Pure bookkeeping: every call takes the wall-clock time, so nothing
sleeps. A store that fails costs only the memory across a restart.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from polybot_loghandler._model import (
    BotChannelDestination,
    WebhookDestination,
)
from polybot_loghandler._places import (
    BOARD,
    KEEP_FOR,
    THREAD,
    Places,
    Posted,
    destination_id,
)
from polybot_loghandler._spool.db import Database
from polybot_loghandler._spool.places import SpoolPlaces
from polybot_loghandler._spool.store import Spool
from tests.support.spool import T0, database, new

DEST = "webhook:111111111111111111"
HOUR = 3600.0


def _posted(
    key: str = "db",
    *,
    kind: str = BOARD,
    id_: str = "900000000000000001",
    used: float = T0,
    thread: str = "",
) -> Posted:
    return Posted(kind, DEST, key, id_, thread, used, used)


class Store:
    """A place store in memory that keeps what it was told, in order."""

    def __init__(self, kept: Iterable[Posted] = ()) -> None:
        self.rows = {p.slot: p for p in kept}
        self.saved: list[Posted] = []
        self.forgotten: list[tuple[str, str, str]] = []

    def load(self) -> Iterable[Posted]:
        return list(self.rows.values())

    def save(self, place: Posted) -> None:
        self.saved.append(place)
        self.rows[place.slot] = place

    def forget(self, slot: tuple[str, str, str]) -> None:
        self.forgotten.append(slot)
        self.rows.pop(slot, None)


class Broken:
    """A place store whose every call fails (a disk gone read-only)."""

    def __init__(self) -> None:
        self.calls = 0

    def load(self) -> Iterable[Posted]:
        self.calls += 1
        raise OSError("disk I/O error")

    def save(self, place: Posted) -> None:
        self.calls += 1
        raise OSError("disk I/O error")

    def forget(self, slot: tuple[str, str, str]) -> None:
        self.calls += 1
        raise OSError("disk I/O error")


class TestDestinationId:
    @pytest.mark.parametrize(
        ("destination", "expected"),
        [
            (
                WebhookDestination(
                    url="https://discord.com/api/webhooks/1/SeCrEt",
                    webhook_id="111111111111111111",
                ),
                "webhook:111111111111111111",
            ),
            (BotChannelDestination(channel_id="333"), "bot:333"),
        ],
    )
    def test_what_places_are_kept_under(
        self,
        destination: WebhookDestination | BotChannelDestination,
        expected: str,
    ) -> None:
        assert expected == destination_id(destination)

    def test_a_webhook_without_an_id_never_shows_its_token(self) -> None:
        url = "https://example.com/hooks/SeCrEtToKeN"
        said = destination_id(WebhookDestination(url=url))

        assert said.startswith("webhook:https://example.com/")
        assert "SeCrEtToKeN" not in said


class TestMemory:
    def test_put_then_get(self) -> None:
        places = Places()
        place = _posted()
        places.put(place, T0)

        assert place == places.get(BOARD, DEST, "db", T0)
        assert 1 == len(places)

    @pytest.mark.parametrize(
        ("kind", "destination", "key"),
        [
            (THREAD, DEST, "db"),  # another kind
            (BOARD, "webhook:222222222222222222", "db"),  # another webhook
            (BOARD, DEST, "other"),  # another key
        ],
    )
    def test_kept_by_kind_destination_and_key(
        self, kind: str, destination: str, key: str
    ) -> None:
        places = Places()
        places.put(_posted(), T0)

        assert places.get(kind, destination, key, T0) is None

    @pytest.mark.parametrize(
        ("later", "known"),
        [(KEEP_FOR, True), (KEEP_FOR + 1.0, False)],
    )
    def test_expires_unused(self, later: float, known: bool) -> None:
        store = Store()
        places = Places(store)
        places.put(_posted(), T0)

        found = places.get(BOARD, DEST, "db", T0 + later)

        assert known == (found is not None)
        assert known == (1 == len(places))
        assert known == (not store.forgotten)

    def test_a_use_keeps_it_from_expiring(self) -> None:
        places = Places()
        place = _posted()
        places.put(place, T0)

        fresh = places.used(place, T0 + KEEP_FOR - 1.0)

        assert T0 + KEEP_FOR - 1.0 == fresh.used
        assert T0 == fresh.at
        assert fresh == places.get(BOARD, DEST, "db", T0 + KEEP_FOR + 10.0)

    def test_over_the_cap_the_longest_unused_goes(self) -> None:
        store = Store()
        places = Places(store, most=2)
        a, b, c = (_posted(k) for k in "abc")
        places.put(a, T0)
        places.put(b, T0 + 1)
        places.used(a, T0 + 2)  # a is newer than b now
        places.put(c, T0 + 3)

        assert 2 == len(places)
        assert places.get(BOARD, DEST, "b", T0 + 3) is None
        assert places.get(BOARD, DEST, "a", T0 + 3) is not None
        assert places.get(BOARD, DEST, "c", T0 + 3) is not None
        assert [b.slot] == store.forgotten

    def test_putting_again_replaces(self) -> None:
        places = Places()
        places.put(_posted(id_="1"), T0)
        places.put(_posted(id_="2"), T0)

        found = places.get(BOARD, DEST, "db", T0)
        assert found is not None
        assert "2" == found.id
        assert 1 == len(places)

    def test_forget(self) -> None:
        store = Store()
        places = Places(store)
        place = _posted()
        places.put(place, T0)

        places.forget(place.slot)
        places.forget(place.slot)  # the second time: nothing to forget

        assert places.get(BOARD, DEST, "db", T0) is None
        assert [place.slot] == store.forgotten


class TestTheStore:
    def test_every_put_is_saved(self) -> None:
        store = Store()
        places = Places(store)
        place = _posted()
        places.put(place, T0)

        assert [place] == store.saved

    @pytest.mark.parametrize(
        ("uses", "saved"),
        [
            ([10.0, 20.0, HOUR - 1.0], 0),  # within the hour: none
            ([HOUR], 1),
            ([HOUR, HOUR + 10.0], 1),  # an hour after the last saved
            ([HOUR, 2 * HOUR], 2),
            # used every half hour: still heard of once an hour
            ([HOUR / 2 * n for n in range(1, 5)], 2),
        ],
    )
    def test_uses_are_saved_at_most_once_an_hour(
        self, uses: list[float], saved: int
    ) -> None:
        store = Store()
        places = Places(store)
        place = _posted()
        places.put(place, T0)
        store.saved.clear()

        for after in uses:  # as the placer does: found, then used
            known = places.get(BOARD, DEST, "db", T0 + after)
            assert known is not None
            places.used(known, T0 + after)

        assert saved == len(store.saved)

    def test_a_place_used_often_outlives_a_restart(self) -> None:
        """
        A board edited every ten minutes for more than a week is still
        known to the next process: the store heard of its uses.
        """
        store = Store()
        places = Places(store)
        places.put(_posted(), T0)
        now = T0
        while now < T0 + KEEP_FOR + HOUR:
            now += 600.0
            known = places.get(BOARD, DEST, "db", now)
            assert known is not None
            places.used(known, now)

        again = Places(Store(store.rows.values()))

        assert 1 == again.load(now)

    def test_load_keeps_the_fresh_and_drops_the_expired(self) -> None:
        fresh, stale = _posted("fresh"), _posted("stale", used=T0 - KEEP_FOR)
        places = Places(Store([fresh, stale]))

        assert 1 == places.load(T0 + 1.0)
        assert fresh == places.get(BOARD, DEST, "fresh", T0 + 1.0)
        assert places.get(BOARD, DEST, "stale", T0 + 1.0) is None

    def test_load_keeps_the_cap_newest_first(self) -> None:
        kept = [_posted(str(n), used=T0 + n) for n in range(5)]
        places = Places(Store(kept), most=3)

        assert 3 == places.load(T0 + 10.0)
        for n, known in enumerate([False, False, True, True, True]):
            found = places.get(BOARD, DEST, str(n), T0 + 10.0)
            assert known == (found is not None)

    def test_a_store_given_at_load_is_kept(self) -> None:
        store = Store([_posted("old")])
        places = Places()

        assert 0 == places.load(T0)  # no store yet: nothing kept
        assert 1 == places.load(T0, store)
        places.put(_posted("new"), T0)

        assert ["new"] == [p.key for p in store.saved]

    @pytest.mark.parametrize("loaded", [True, False])
    def test_a_failing_store_costs_only_the_memory(self, loaded: bool) -> None:
        broken = Broken()
        places = Places(broken)
        if loaded:
            assert 0 == places.load(T0)
        places.put(_posted(), T0)

        assert places.store_failed
        assert 1 == broken.calls
        assert _posted() == places.get(BOARD, DEST, "db", T0)
        places.put(_posted("more"), T0)
        places.used(_posted("more"), T0 + 2 * HOUR)
        places.forget(_posted().slot)
        assert ["more"] == [p.key for p in places._known.values()]
        assert 1 == broken.calls  # failed once: never asked again

    def test_a_store_failing_to_forget(self) -> None:
        class ForgetFails(Store):
            def forget(self, slot: tuple[str, str, str]) -> None:
                raise OSError("disk I/O error")

        store = ForgetFails()
        places = Places(store)
        place = _posted()
        places.put(place, T0)

        places.forget(place.slot)

        assert places.store_failed
        assert places.get(BOARD, DEST, "db", T0) is None

    def test_a_new_store_at_load_clears_the_failure(self) -> None:
        places = Places(Broken())
        places.load(T0)
        assert places.store_failed

        places.load(T0, Store())

        assert not places.store_failed


# -- the spool's places table --------------------------------------------


@pytest.fixture
def spool(tmp_path: Path) -> Iterator[Spool]:
    directory = tmp_path / "spool"
    directory.mkdir(mode=0o700)
    spool = new(directory)
    spool.open()
    yield spool
    spool.close()


def _store(spool: Spool, wall: float = T0) -> SpoolPlaces:
    return SpoolPlaces(lambda: spool.database, wall)


def _db(spool: Spool) -> Database:
    assert spool.database is not None
    return spool.database


class TestSpoolPlaces:
    def test_save_load_forget(self, spool: Spool) -> None:
        board = _posted(thread="900000000000000009")
        thread = _posted("BTC", kind=THREAD, id_="900000000000000002")
        store = _store(spool)
        store.save(board)
        store.save(thread)

        assert {board, thread} == set(_store(spool).load())

        store.forget(board.slot)
        store.forget(board.slot)  # not there: nothing happens

        assert [thread] == list(_store(spool).load())

    def test_save_replaces_its_slot(self, spool: Spool) -> None:
        store = _store(spool)
        store.save(_posted(id_="1" * 18))
        store.save(_posted(id_="2" * 18, used=T0 + 5.0))

        assert [_posted(id_="2" * 18, used=T0 + 5.0)] == list(store.load())

    def test_places_outlive_the_process(self, tmp_path: Path) -> None:
        directory = tmp_path / "spool"
        directory.mkdir(mode=0o700)
        first = new(directory)
        first.open()
        places = Places(SpoolPlaces(lambda: first.database, T0))
        places.put(_posted(), T0)
        first.close()

        again = new(directory)
        again.open()
        try:
            places = Places()
            assert 1 == places.load(T0, _store(again))
            assert _posted() == places.get(BOARD, DEST, "db", T0)
        finally:
            again.close()

    def test_rows_unused_for_a_week_are_deleted_on_load(
        self, spool: Spool
    ) -> None:
        store = _store(spool)
        store.save(_posted("old", used=T0 - KEEP_FOR - 1.0))
        store.save(_posted("new", used=T0 - KEEP_FOR + 1.0))

        assert ["new"] == [p.key for p in store.load()]
        with database(spool.directory) as db:
            keys = db.execute("SELECT key FROM places").fetchall()
        assert [("new",)] == keys

    @pytest.mark.parametrize(
        "row",
        [
            ("sign", DEST, "k", "1", "", T0, T0),  # not a kind kept
            ("board", DEST, "k", "not-an-id", "", T0, T0),
            ("board", DEST, "k", "", "", T0, T0),
            ("board", DEST, "k", b"1", "", T0, T0),  # an id not as text
            ("board", DEST, "k", "1", b"1", T0, T0),
            ("board", DEST, "k" * 401, "1", "", T0, T0),
            ("board", b"7", "k", "1", "", T0, T0),
            ("thread", DEST, "k", "1" * 401, "", T0, T0),
            ("board", DEST, "k", "1", "", "yesterday", T0),
            ("board", DEST, "k", "1", "", T0, b"\x00"),
        ],
    )
    def test_malformed_rows_are_ignored(
        self, spool: Spool, row: tuple[object, ...]
    ) -> None:
        store = _store(spool)
        store.save(_posted("good"))
        with _db(spool).transaction() as db:
            db.execute("INSERT INTO places VALUES (?, ?, ?, ?, ?, ?, ?)", row)

        assert [_posted("good")] == list(store.load())

    def test_no_spool_yet_nothing_is_kept(self) -> None:
        store = SpoolPlaces(lambda: None, T0)

        assert [] == list(store.load())
        places = Places(store)
        places.put(_posted(), T0)  # the save fails: memory goes on
        assert places.store_failed
        assert _posted() == places.get(BOARD, DEST, "db", T0)
