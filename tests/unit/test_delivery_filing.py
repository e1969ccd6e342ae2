"""
Tests for filing (``_delivery/filing.py``) without a spool.

(With a spool, filing is exercised with the engine as a whole, in
``tests/integration/test_engine.py``: the spool needs the routes a
message came from.)
"""

from __future__ import annotations

import logging

import pytest

from polybot_loghandler._delivery.filing import Filer
from polybot_loghandler._delivery.lanes import Lanes
from polybot_loghandler._delivery.ledger import Ledger
from polybot_loghandler._losses import Loss
from polybot_loghandler._model import Coalesce, Config
from polybot_loghandler._stats import Stats
from tests.support.delivery import FakeClock, message, routing


class Desk:
    def __init__(self, bound: int = 100) -> None:
        self.config: Config = routing()
        self.stats = Stats()
        self.lanes = Lanes(1.0, 60.0, bound)
        self.ledger = Ledger(self.stats, lambda: self.config)
        self.filer = Filer(
            self.lanes, self.ledger, None, lambda: self.config, FakeClock()
        )

    def counters(self) -> dict[str, int]:
        return {k: v for k, v in self.stats.counters().items() if v}

    def titles(self, channel: str = "trades") -> list[str]:
        state = self.lanes.of(channel, self.config.channels[channel])
        return [p.embed()["title"] for p in state.lane.items()]


def test_a_message_goes_to_its_lane_which_is_returned() -> None:
    desk = Desk()
    state = desk.filer.file(message(desk.config, "a"))

    assert state is desk.lanes.of("trades", desk.config.channels["trades"])
    assert ["a"] == desk.titles()


def test_copies_merge_and_are_counted() -> None:
    desk = Desk()
    for _ in range(3):
        desk.filer.file(message(desk.config, "same"))

    assert {"coalesced": 2} == desk.counters()
    assert 1 == desk.lanes.pending


def test_without_coalescing_each_is_its_own() -> None:
    desk = Desk()
    off = Coalesce(enabled=False)
    for _ in range(3):
        desk.filer.file(message(desk.config, "same", coalesce=off))

    assert 3 == desk.lanes.pending


def test_a_disabled_destination_drops_at_once() -> None:
    desk = Desk()
    state = desk.lanes.of("trades", desk.config.channels["trades"])
    state.disabled = Loss.WEBHOOK_GONE

    assert desk.filer.file(message(desk.config)) is None
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
    bound: int, kept: list[str]
) -> None:
    desk = Desk(bound)
    desk.filer.file(message(desk.config, "error"))
    for n in range(3):
        desk.filer.file(message(desk.config, f"info-{n}", level=logging.INFO))

    assert kept == desk.titles()
    assert len(kept) == desk.lanes.pending
    assert 4 - bound == desk.stats.get("dropped.queue_full")


def test_notices_never_push_an_event_out() -> None:
    desk = Desk(1)
    desk.filer.file(message(desk.config, "event"))
    notice = message(desk.config, "notice", route="polybot_loghandler.dropped")

    desk.filer.file(notice, notice=True)

    assert {} == desk.counters()
    assert ["event", "notice"] == desk.titles()


def test_without_a_spool_nothing_is_refilled_or_left_over() -> None:
    desk = Desk()
    state = desk.lanes.of("trades", desk.config.channels["trades"])

    assert [] == desk.filer.refill(state)
    assert [] == desk.filer.left_over([])
