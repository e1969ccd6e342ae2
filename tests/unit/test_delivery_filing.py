"""
Tests for filing (``_delivery/filing.py``): into the lanes, or the spool.

Without a spool, over the bound the oldest of the lowest level is
dropped. With one (a real ``SpoolKeeper`` on ``tmp_path``), every
message for Discord is written first; over the bound the newest of the
lowest level steps aside to wait on disk, and what arrives behind it,
of its level or lower, waits there too, so each lane sends in order
(higher levels first); ``refill`` reads them back as the lanes drain,
and ``left_over`` queues what an earlier process left.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from polybot_loghandler._delivery.filing import REFILL, Filer
from polybot_loghandler._delivery.lanes import Lanes, LaneState
from polybot_loghandler._delivery.ledger import NOTICE_ROUTE, Ledger
from polybot_loghandler._losses import Loss
from polybot_loghandler._message import RoutedMessage
from polybot_loghandler._model import Coalesce, Config
from polybot_loghandler._spool.keeper import SpoolKeeper
from polybot_loghandler._spool.store import SpoolEntry
from polybot_loghandler._stats import Stats
from tests.support.delivery import T0, FakeClock, message, routing

INFO = logging.INFO


class Desk:
    """A filer over lanes bound to *bound*, with a spool in *spool*."""

    def __init__(self, bound: int = 100, spool: Path | None = None) -> None:
        self.config: Config = routing()
        self.stats = Stats()
        self.lanes = Lanes(1.0, 60.0, bound)
        self.keeper = (
            None
            if spool is None
            else SpoolKeeper(str(spool), 50_000_000, self.stats.count)
        )
        self.ledger = Ledger(self.stats, lambda: self.config, self.keeper)
        self.clock = FakeClock()
        self.filer = Filer(
            self.lanes,
            self.ledger,
            self.keeper,
            lambda: self.config,
            self.clock,
        )

    def file(
        self, title: str, *, channel: str = "trades", level: int = 40
    ) -> LaneState | None:
        return self.filer.file(
            message(self.config, title, channel=channel, level=level)
        )

    def lane(self, channel: str = "trades") -> LaneState:
        return self.lanes.of(self.config.channels[channel])

    def counters(self) -> dict[str, int]:
        return {k: v for k, v in self.stats.counters().items() if v}

    def titles(self, channel: str = "trades") -> list[str]:
        return [p.embed()["title"] for p in self.lane(channel).lane.items()]

    def on_disk(self, channel: str = "trades") -> int:
        assert self.keeper is not None
        return self.keeper.waiting(self.lane(channel).key)


@pytest.fixture
def spool(tmp_path: Path) -> Path:
    return tmp_path / "spool"


@pytest.fixture
def desks() -> Iterator[list[Desk]]:
    """The desks a test made; their spools are closed after it."""
    made: list[Desk] = []
    yield made
    for desk in made:
        if desk.keeper is not None:
            desk.keeper.close()


def _spooled(desks: list[Desk], spool: Path, bound: int = 100) -> Desk:
    desk = Desk(bound, spool)
    desks.append(desk)
    return desk


def _left(spool: Path, messages: list[RoutedMessage]) -> None:
    """Write *messages* to the spool as a process that then stopped."""
    earlier = SpoolKeeper(str(spool), 50_000_000, Stats().count)
    for m in messages:
        assert earlier.append(m) is not None
    earlier.close()


def _start(desk: Desk) -> list[SpoolEntry]:
    """Open *desk*'s spool as the engine does: what was left there."""
    assert desk.keeper is not None
    return desk.keeper.start()


class TestWithoutASpool:
    def test_a_message_goes_to_its_lane_which_is_returned(self) -> None:
        desk = Desk()
        desk.clock.now = 1234.0
        state = desk.file("a")

        assert state is desk.lane()
        assert ["a"] == desk.titles()
        assert 1235.0 == state.lane.due(1234.0)  # one gather from now

    def test_copies_merge_and_are_counted(self) -> None:
        desk = Desk()
        for _ in range(3):
            desk.file("same")

        assert {"coalesced": 2} == desk.counters()
        assert 1 == desk.lanes.pending

    def test_without_coalescing_each_is_its_own(self) -> None:
        desk = Desk()
        off = Coalesce(enabled=False)
        for _ in range(3):
            desk.filer.file(message(desk.config, "same", coalesce=off))

        assert 3 == desk.lanes.pending

    def test_a_disabled_destination_drops_at_once(self) -> None:
        desk = Desk()
        desk.lane().disabled = Loss.WEBHOOK_GONE

        assert desk.file("a") is None
        assert {"dropped.webhook_gone": 1} == desk.counters()
        assert 0 == desk.lanes.pending

    @pytest.mark.parametrize(
        ("bound", "kept"),
        [
            (1, ["error"]),
            (2, ["error", "info-2"]),
            (3, ["error", "info-1", "info-2"]),
            (4, ["error", "info-0", "info-1", "info-2"]),
        ],
    )
    def test_over_the_bound_the_oldest_of_the_lowest_level_goes(
        self, bound: int, kept: list[str]
    ) -> None:
        desk = Desk(bound)
        desk.file("error")
        for n in range(3):
            desk.file(f"info-{n}", level=INFO)

        assert kept == desk.titles()
        assert len(kept) == desk.lanes.pending
        assert 4 - bound == desk.stats.get("dropped.queue_full")

    def test_notices_never_push_an_event_out(self) -> None:
        """Nor make room for one: the bound counts events."""
        desk = Desk(1)
        desk.file("event")
        notice = message(desk.config, "notice", route=NOTICE_ROUTE)

        desk.filer.file(notice, notice=True)
        assert {} == desk.counters()
        assert ["event", "notice"] == desk.titles()

        desk.file("next")

        assert ["notice", "next"] == desk.titles()
        assert {"dropped.queue_full": 1} == desk.counters()

    def test_nothing_is_refilled_or_left_over(self) -> None:
        desk = Desk()

        assert [] == desk.filer.refill(desk.lane())
        assert [] == desk.filer.left_over([])


class TestWithASpool:
    @pytest.mark.parametrize(
        ("channel", "notice", "written"),
        [
            ("trades", False, True),
            ("bot", False, True),
            ("trades", True, False),  # a notice is about this process
            ("console", False, False),  # not for Discord
        ],
    )
    def test_each_message_for_discord_is_written_first(
        self,
        desks: list[Desk],
        spool: Path,
        channel: str,
        notice: bool,
        written: bool,
    ) -> None:
        desk = _spooled(desks, spool)
        m = message(desk.config, "a", channel=channel)

        state = desk.filer.file(m, notice=notice)

        assert state is desk.lane(channel)
        (item,) = state.lane.items()
        assert desk.keeper is not None
        assert (1 if written else 0) == desk.keeper.pending
        assert (1 if written else 0) == len(item.spool)
        assert "errors.spool" not in desk.counters()

    def test_behind_messages_on_disk_the_next_wait_there_too(
        self, desks: list[Desk], spool: Path
    ) -> None:
        desk = _spooled(desks, spool, bound=2)
        for title in ("a", "b", "c"):
            assert desk.file(title, level=INFO) is desk.lane()
        # c stepped aside (the newest of the lowest level); d, of its
        # level, comes after it and waits behind it: the lane keeps order
        assert desk.file("d", level=INFO) is desk.lane()

        assert ["a", "b"] == desk.titles()
        assert 2 == desk.on_disk()
        assert {} == desk.counters()

        notice = message(desk.config, "notice", route=NOTICE_ROUTE)
        desk.filer.file(notice, notice=True)  # never on disk
        assert ["notice", "a", "b"] == desk.titles()  # an error: first

        desk.lanes.take(desk.lane(), desk.clock.now)
        assert [] == desk.filer.refill(desk.lane())

        assert ["c", "d"] == desk.titles()
        assert 0 == desk.on_disk()
        assert [1, 1] == [len(p.spool) for p in desk.lane().lane.items()]

        # read back, they are under the bound again: the newest of the
        # lowest level steps aside for a more urgent message
        desk.file("urgent", channel="bot")

        assert ["c"] == desk.titles()
        assert ["urgent"] == desk.titles("bot")
        assert 1 == desk.on_disk()
        assert {} == desk.counters()

    @pytest.mark.parametrize(
        ("level", "lane", "disk"),
        [
            pytest.param(
                logging.WARNING, ["x", "a"], ["b", "c"], id="warning-ahead"
            ),
            pytest.param(
                logging.ERROR, ["x", "a"], ["b", "c"], id="error-ahead"
            ),
        ],
    )
    def test_a_higher_level_goes_ahead_of_what_waits_on_disk(
        self,
        desks: list[Desk],
        spool: Path,
        level: int,
        lane: list[str],
        disk: list[str],
    ) -> None:
        """
        A warning is never put behind infos on disk.

        It goes into the lane, and the bound makes room as ever: the
        newest info steps aside, to wait on disk behind the others.
        """
        desk = _spooled(desks, spool, bound=2)
        for title in ("a", "b", "c"):
            desk.file(title, level=INFO)  # c waits on disk

        desk.file("x", level=level)

        assert desk.keeper is not None
        key = desk.lane().key
        on_disk = desk.keeper.take(key, 10, desk.config)
        assert (lane, disk) == (
            desk.titles(),
            [m.embed["title"] for m, _ in on_disk],
        )
        assert {} == desk.counters()

    def test_behind_a_warning_on_disk_an_info_waits_there_too(
        self, desks: list[Desk], spool: Path
    ) -> None:
        """And a warning waits behind the warnings on disk."""
        desk = _spooled(desks, spool, bound=2)
        for title in ("e1", "e2"):
            desk.file(title, level=logging.ERROR)
        desk.file("w1", level=logging.WARNING)  # steps aside at once
        desk.lanes.take(desk.lane(), desk.clock.now)  # room for two

        for title, level in (("i", INFO), ("w2", logging.WARNING)):
            desk.file(title, level=level)

        assert ([], 3) == (desk.titles(), desk.on_disk())
        read: list[str] = []
        while desk.on_disk():
            desk.filer.refill(desk.lane())
            read += desk.titles()
            desk.lanes.take(desk.lane(), desk.clock.now)
        assert ["w1", "w2", "i"] == read

    def test_what_the_spool_does_not_hold_is_dropped_over_the_bound(
        self, desks: list[Desk], spool: Path
    ) -> None:
        desk = _spooled(desks, spool, bound=1)
        desk.file("shown", channel="console", level=INFO)
        desk.file("error")

        assert [] == desk.titles("console")
        assert ["error"] == desk.titles()
        assert {"dropped.queue_full": 1} == desk.counters()

    def test_a_refill_takes_only_the_room_there_is(
        self, desks: list[Desk], spool: Path
    ) -> None:
        desk = _spooled(desks, spool, bound=2)
        for title in ("e1", "e2", "e3", "e4"):
            desk.file(title)
        desk.lanes.take(desk.lane(), desk.clock.now)
        desk.file("shown", channel="console", level=INFO)

        assert [] == desk.filer.refill(desk.lane())

        # one room left: one read back, none pushed out for it
        assert ["e3"] == desk.titles()
        assert 1 == desk.on_disk()
        assert ["shown"] == desk.titles("console")
        assert {} == desk.counters()

    def test_no_room_no_refill(self, desks: list[Desk], spool: Path) -> None:
        desk = _spooled(desks, spool, bound=1)
        for title in ("e1", "e2"):
            desk.file(title)

        desk.filer.refill(desk.lane())

        assert ["e1"] == desk.titles()
        assert 1 == desk.on_disk()

    @pytest.mark.parametrize(
        ("holding", "read"), [(REFILL - 1, 3), (REFILL, 0)]
    )
    def test_a_lane_holding_a_refill_s_worth_reads_nothing_back(
        self, desks: list[Desk], spool: Path, holding: int, read: int
    ) -> None:
        config = routing()
        _left(spool, [message(config, f"old-{n}") for n in range(3)])
        desk = _spooled(desks, spool, bound=1000)
        entries = _start(desk)
        for n in range(holding):
            desk.file(f"new-{n}")
        desk.filer.left_over(entries)

        desk.filer.refill(desk.lane())

        assert holding + read == len(desk.titles())
        assert 3 - read == desk.on_disk()

    def test_a_message_whose_channel_moved_goes_to_its_new_lane(
        self, desks: list[Desk], spool: Path
    ) -> None:
        """On reload ``trades`` now posts through the ops webhook."""
        _left(spool, [message(routing(), "a")])
        desk = _spooled(desks, spool)
        entries = _start(desk)
        (old,) = desk.filer.left_over(entries)
        channels = desk.config.channels
        desk.config = dataclasses.replace(
            desk.config, channels={**channels, "trades": channels["ops"]}
        )

        moved = desk.filer.refill(old)

        assert [desk.lanes.of(channels["ops"])] == moved
        assert ["a"] == [p.embed()["title"] for p in moved[0].lane.items()]
        assert 0 == len(old.lane)


class TestLeftOver:
    def test_what_an_earlier_process_left_is_queued_in_order(
        self, desks: list[Desk], spool: Path
    ) -> None:
        config = routing()
        made = [
            message(config, "a", time=T0),
            dataclasses.replace(
                message(config, "g", time=T0 + 1), channel="gone"
            ),
            message(config, "c", channel="console", time=T0 + 2),
            message(config, "b", time=T0 + 3),
            message(config, "d", channel="bot", time=T0 + 4),
        ]
        _left(spool, made)
        desk = _spooled(desks, spool)
        entries = _start(desk)

        touched = desk.filer.left_over(entries)

        assert [desk.lane(), desk.lane("bot")] == touched
        assert (2, 1, 0) == (
            desk.on_disk(),
            desk.on_disk("bot"),
            desk.on_disk("console"),
        )
        assert {
            "spool.replayed": 5,
            "dropped.unknown_channel": 1,  # no such channel any more
        } == desk.counters()
        assert desk.keeper is not None
        # the console's stays for a process that sends to Discord
        assert 4 == desk.keeper.pending
        assert 0 == desk.lanes.pending  # waiting on disk, not in memory

        desk.filer.refill(desk.lane())

        assert ["a", "b"] == desk.titles()

    def test_nothing_left_nothing_counted(
        self, desks: list[Desk], spool: Path
    ) -> None:
        desk = _spooled(desks, spool)

        assert [] == desk.filer.left_over([])
        assert {} == desk.counters()
