"""
Folding a lane that fell behind (``_delivery/folding.py``).

The lanes, the rate limiter and the spool are the real ones; the clocks
are numbers handed in. A lane is *behind* when the limiter says its
channel already sent its 30 messages this minute.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from polybot_loghandler._batching import Pending
from polybot_loghandler._delivery.folding import PACED_FOR, Folder, lag_of
from polybot_loghandler._delivery.lanes import Lanes, LaneState
from polybot_loghandler._delivery.ledger import Ledger
from polybot_loghandler._message import Place, RoutedMessage
from polybot_loghandler._model import Coalesce, Config, Fold
from polybot_loghandler._ratelimit import RateLimiter
from polybot_loghandler._receipts import Receipt
from polybot_loghandler._spool.keeper import SpoolKeeper
from polybot_loghandler._stats import Stats
from tests.support.delivery import T0, message, routing

NOW = 1000.0  # the monotonic clock
NEVER = Coalesce(enabled=False)


def behind(state: LaneState, sent: int = 30) -> RateLimiter:
    """A limiter whose channel sent *sent* messages just now."""
    limiter = RateLimiter()
    for _ in range(sent):
        limiter.sending(state.key, state.channel, NOW)
    return limiter


def trade(
    config: Config,
    n: int,
    *,
    level: int = logging.INFO,
    fold: Fold | None = None,
    route: str = "errors",
    time: float = T0,
) -> RoutedMessage:
    base = message(
        config,
        f"Trade {n}",
        level=level,
        time=time,
        route=route,
        coalesce=NEVER,
    )
    event = base.event
    fields = {"agent": f"agent-{n % 3}", "amount": 10.0}
    return RoutedMessage(
        channel=base.channel,
        route=route,
        payload=base.payload,
        embed=base.embed,
        event=type(event)(
            event="trade_executed",
            level=level,
            logger=event.logger,
            time=time,
            fields=fields,
            message="trade_executed",
        ),
        target=base.target,
        coalesce=NEVER,
        fold=fold,
    )


def spool(tmp_path: Path) -> SpoolKeeper:
    return SpoolKeeper(str(tmp_path / "spool"), 10_000_000, _ignore)


@pytest.fixture
def keeper(tmp_path: Path) -> Iterator[SpoolKeeper]:
    """An open spool in a temporary directory, closed after the test."""
    opened = spool(tmp_path)
    opened.open(create=True)
    yield opened
    opened.close()


def on_disk(keeper: SpoolKeeper, lane: str, messages: list) -> None:
    """Write *messages* to the spool, waiting on disk for *lane*."""
    for msg in messages:
        entry = keeper.append(msg)
        assert entry is not None
        keeper.wait(lane, entry)


def _ignore(_key: str, _n: int) -> None:
    pass


class Setup:
    def __init__(self, config: Config, keeper: SpoolKeeper | None = None):
        self.config = config
        self.lanes = Lanes(gather=1.0, window=60.0, bound=100_000)
        self.keeper = keeper
        self.requeued: list[RoutedMessage] = []
        self.folder = Folder(
            self.lanes,
            keeper,
            lambda: config,
            lambda _state, m, _entry: self.requeued.append(m),
            clock=lambda: NOW,
            wall=lambda: T0,
        )
        self.state = self.lanes.of(config.channels["trades"])

    def add(self, msg: RoutedMessage) -> Pending:
        entry = None if self.keeper is None else self.keeper.append(msg)
        item, _ = self.lanes.add(self.state, msg, NOW)
        if entry is not None:
            item.spool.append(entry)
        return item

    def log(self, numbers: range, **kwargs: object) -> None:
        """Add a trade for each of *numbers* (``trade``'s options)."""
        for n in numbers:
            self.add(trade(self.config, n, **kwargs))

    def summaries(self) -> list[Pending]:
        return [p for p in self.state.lane.in_order() if p.message.folded]


@pytest.fixture
def config() -> Config:
    return routing(max_lag="30s")


def test_a_lane_on_time_folds_nothing(config: Config) -> None:
    setup = Setup(config)
    setup.log(range(50))

    folded = setup.folder.fold(setup.state, RateLimiter())

    assert 0 == folded
    assert 50 == len(setup.state.lane.in_order())


def test_a_lane_behind_folds_its_oldest_into_one_summary(
    config: Config,
) -> None:
    setup = Setup(config)
    setup.log(range(400))

    folded = setup.folder.fold(setup.state, behind(setup.state))

    order = setup.state.lane.in_order()
    (summary,) = setup.summaries()
    assert summary is order[0]  # in the backlog's place
    assert folded == summary.message.folded == 400 - (len(order) - 1)
    assert folded > 0
    # the newest are kept, one by one, in order
    titles = [p.message.embed["title"] for p in order[1:]]
    assert titles == [f"Trade {n}" for n in range(folded, 400)]
    assert setup.lanes.pending == len(order)
    embed = summary.message.embed
    assert embed["footer"]["text"].startswith(f"folded: {folded} ")
    assert "allowed_mentions" in summary.message.payload
    assert not summary.message.payload.get("content")


def test_a_waiting_summary_takes_in_what_is_folded_later(
    config: Config,
) -> None:
    setup = Setup(config)
    limiter = behind(setup.state)
    setup.log(range(400))
    first = setup.folder.fold(setup.state, limiter)
    setup.log(range(400, 800))

    more = setup.folder.fold(setup.state, limiter)

    (summary,) = setup.summaries()
    assert more > 0
    assert summary.message.folded == first + more


def test_once_a_summary_is_taken_the_next_fold_makes_another(
    config: Config,
) -> None:
    setup = Setup(config)
    limiter = behind(setup.state)
    setup.log(range(400))
    setup.folder.fold(setup.state, limiter)
    taken = setup.lanes.take(setup.state, NOW)
    assert taken[0].message.folded
    setup.log(range(400, 800))

    setup.folder.fold(setup.state, limiter)

    (summary,) = setup.summaries()
    assert summary is not taken[0]


@pytest.mark.parametrize(
    ("case", "level", "fold"),
    [
        ("a warning", logging.WARNING, None),
        ("an error", logging.ERROR, None),
        ("fold: never", logging.INFO, Fold(never=True)),
        ("max_lag: off", logging.INFO, Fold(max_lag=float("inf"))),
    ],
)
def test_what_is_never_folded(config: Config, case, level, fold) -> None:
    setup = Setup(config)
    for n in range(400):
        setup.add(trade(config, n, level=level, fold=fold))

    assert 0 == setup.folder.fold(setup.state, behind(setup.state)), case
    assert 400 == len(setup.state.lane.in_order())


def test_a_route_with_a_longer_bound_keeps_more(config: Config) -> None:
    folded = {}
    for lag in (30.0, 300.0):
        setup = Setup(config)
        for n in range(400):
            setup.add(trade(config, n, fold=Fold(max_lag=lag)))
        limiter = behind(setup.state, sent=29)
        folded[lag] = setup.folder.fold(setup.state, limiter)

    assert folded[300.0] < folded[30.0]


def test_the_console_is_never_folded(config: Config) -> None:
    setup = Setup(config)
    state = setup.lanes.of(config.channels["console"])
    for n in range(400):
        setup.lanes.add(state, trade(config, n), NOW)

    assert 0 == setup.folder.fold(state, behind(state))


def started_an_hour_ago(setup: Setup, now: list[float]) -> None:
    """Give *setup* a folder that started an hour before ``now[0]``."""
    now[0] = T0 - 3600
    setup.folder = Folder(
        setup.lanes,
        None,
        lambda: setup.config,
        lambda _state, _message, _entry: None,
        clock=lambda: NOW,
        wall=lambda: now[0],
    )
    now[0] = T0


def test_a_message_already_too_old_is_sent_as_it_is_when_alone(
    config: Config,
) -> None:
    setup = Setup(config)
    started_an_hour_ago(setup, [0.0])
    setup.add(trade(config, 1, time=T0 - 600))

    assert 0 == setup.folder.fold(setup.state, RateLimiter())
    assert not setup.summaries()


@pytest.mark.parametrize(
    ("case", "count", "limiter", "folds"),
    [
        ("a short old backlog is sent as it is", 50, RateLimiter, False),
        ("a long one is folded", 400, None, True),
    ],
)
def test_a_backlog_older_than_the_run_is_judged_by_how_long_it_takes(
    config: Config, case, count, limiter, folds
) -> None:
    setup = Setup(config)
    for n in range(count):  # left in the spool an hour ago
        setup.add(trade(config, n, time=T0 - 3600))
    limits = behind(setup.state) if limiter is None else limiter()

    assert folds == bool(setup.folder.fold(setup.state, limits)), case


def test_what_waited_out_a_failing_spell_is_late_only_from_its_end(
    config: Config,
) -> None:
    setup = Setup(config)
    started_an_hour_ago(setup, [0.0])
    for n in range(50):  # logged while Discord was failing
        setup.add(trade(config, n, time=T0 - 600))

    assert setup.folder.fold(setup.state, RateLimiter())  # late

    setup = Setup(config)
    for n in range(50):
        setup.add(trade(config, n, time=T0 - 600))
    setup.state.resumed = T0  # it answers again

    assert not setup.folder.fold(setup.state, RateLimiter())


def test_delivery_off_folds_nothing() -> None:
    config = routing(max_lag="off")
    setup = Setup(config)
    setup.log(range(400))

    assert 0 == setup.folder.fold(setup.state, behind(setup.state))


def test_a_summary_carries_the_receipts_of_what_it_folded(
    config: Config,
) -> None:
    setup = Setup(config)
    acked: list[str] = []
    for n in range(400):
        msg = trade(config, n)
        receipt = Receipt(f"{n}-0", 1, acked.append)
        item = setup.add(msg)
        item.receipts.append(receipt)
    folded = setup.folder.fold(setup.state, behind(setup.state))
    assert not acked  # not yet: the summary is still to be sent

    stats = Stats()
    ledger = Ledger(stats, lambda: config)
    batch = setup.lanes.take(setup.state, NOW)
    ledger.sent(setup.state, batch, NOW)

    assert folded + len(batch) - 1 == len(acked)
    counts = stats.counters()
    assert folded == counts["folded"]
    assert len(batch) == counts["delivered"]  # the summary is one


def test_a_dropped_summary_counts_what_it_folded(config: Config) -> None:
    from polybot_loghandler._losses import Loss

    setup = Setup(config)
    setup.log(range(400))
    folded = setup.folder.fold(setup.state, behind(setup.state))
    stats = Stats()
    ledger = Ledger(stats, lambda: config)

    ledger.drop_items(setup.summaries(), Loss.REJECTED, setup.state)

    assert folded == stats.counters()[Loss.REJECTED.counter]


def test_the_spool_holds_the_summary_not_what_it_folded(
    config: Config, keeper: SpoolKeeper, tmp_path: Path
) -> None:
    setup = Setup(config, keeper)
    setup.log(range(400))
    keeper.commit()
    assert 400 == keeper.pending

    folded = setup.folder.fold(setup.state, behind(setup.state))
    keeper.commit()

    assert 400 - folded + 1 == keeper.pending
    keeper.close()
    # a restart finds the summary, which says how many it folded
    again = spool(tmp_path)
    left = again.start()
    for entry in left:
        again.wait("lane", entry)
    read = [m for m, _ in again.take("lane", 1000, config)]
    summaries = [m for m in read if m.folded]
    assert [folded] == [m.folded for m in summaries]
    assert not summaries[0].payload.get("content")
    assert 400 - folded == len(read) - 1
    again.close()


def test_folding_reads_what_waits_on_disk(
    config: Config, keeper: SpoolKeeper
) -> None:
    setup = Setup(config, keeper)
    setup.log(range(50))
    # no room in memory: they wait on disk
    on_disk(
        keeper, setup.state.key, [trade(config, n) for n in range(50, 400)]
    )
    keeper.commit()

    folded = setup.folder.fold(setup.state, behind(setup.state))
    keeper.commit()

    assert folded > 50  # all in memory, and some from disk
    assert 400 - folded + 1 == keeper.pending
    (summary,) = setup.summaries()
    assert summary.message.folded == folded


def test_lag_of_reads_the_route_then_the_delivery(config: Config) -> None:
    assert 30.0 == lag_of(trade(config, 1), 30.0)
    assert 5.0 == lag_of(trade(config, 1, fold=Fold(max_lag=5.0)), 30.0)
    assert lag_of(trade(config, 1), None) is None
    assert lag_of(trade(config, 1, level=logging.WARNING), 30.0) is None
    own = trade(config, 1, route="polybot_loghandler.dropped")
    assert lag_of(own, 30.0) is None


def test_a_lane_that_folded_keeps_the_pace_for_a_minute(
    config: Config,
) -> None:
    setup = Setup(config)
    setup.log(range(400))
    assert setup.state.paced_until < NOW

    setup.folder.fold(setup.state, behind(setup.state))
    assert setup.state.paced_until == NOW + PACED_FOR

    while setup.state.lane.in_order():  # caught up: the pace stays
        setup.lanes.take(setup.state, NOW)
    setup.folder.fold(setup.state, RateLimiter())
    assert setup.state.paced_until == NOW + PACED_FOR


def test_each_route_has_its_own_summary_and_their_counts_add_up(
    config: Config,
) -> None:
    setup = Setup(config)
    for n in range(400):
        setup.add(trade(config, n, route="errors" if n % 2 else "other"))

    folded = setup.folder.fold(setup.state, behind(setup.state))

    summaries = {p.message.route: p.message.folded for p in setup.summaries()}
    assert {"errors", "other"} == set(summaries)
    assert folded == sum(summaries.values())
    assert 400 - folded + 2 == len(setup.state.lane.in_order())


def test_a_summary_uses_its_route_s_fold_and_the_times_it_covers(
    config: Config,
) -> None:
    setup = Setup(config)
    by_agent = Fold(group_by="agent")
    for n in range(400):
        item = setup.add(trade(config, n, fold=by_agent, time=T0 + n))
        if n == 0:  # three copies of the first, coalesced
            item.count, item.first = 3, T0 - 60

    folded = setup.folder.fold(setup.state, behind(setup.state))

    (summary,) = setup.summaries()
    embed = summary.message.embed
    names = {f["name"] for f in embed["fields"]}
    assert {"agent-0", "agent-1", "agent-2", "Total"} == names
    assert summary.message.folded == folded == 2 + (folded - 2)
    assert summary.first == T0 - 60
    assert summary.last == T0 + folded - 3
    assert "more than 30s behind" in embed["description"]


def test_a_second_fold_adds_its_receipts_and_replaces_the_spool_entry(
    config: Config, keeper: SpoolKeeper
) -> None:
    setup = Setup(config, keeper)
    limiter = behind(setup.state)
    acked: list[str] = []

    def log(start: int) -> None:
        for n in range(start, start + 400):
            item = setup.add(trade(config, n))
            item.receipts.append(Receipt(f"{n}-0", 1, acked.append))

    log(0)
    first = setup.folder.fold(setup.state, limiter)
    log(400)
    second = setup.folder.fold(setup.state, limiter)
    keeper.commit()

    (summary,) = setup.summaries()
    assert first + second == len(summary.receipts)
    assert 1 == len(summary.spool)
    assert 800 - first - second + 1 == keeper.pending


def test_two_of_a_route_are_folded_and_a_lone_one_joins_a_summary(
    config: Config,
) -> None:
    setup = Setup(config)
    started_an_hour_ago(setup, [0.0])
    setup.add(trade(config, 1, time=T0 - 600))
    setup.add(trade(config, 2, time=T0 - 600))

    assert 2 == setup.folder.fold(setup.state, RateLimiter())

    setup.add(trade(config, 3, time=T0 - 600))
    assert 1 == setup.folder.fold(setup.state, RateLimiter())
    (summary,) = setup.summaries()
    assert 3 == summary.message.folded


def test_what_waits_on_disk_for_a_route_that_never_folds_is_queued(
    config: Config, keeper: SpoolKeeper
) -> None:
    setup = Setup(config, keeper)
    config_never = dataclasses.replace(  # its route now says never
        config,
        routes=tuple(
            dataclasses.replace(r, fold=Fold(never=True))
            for r in config.routes
        ),
    )
    setup.config = config_never
    folder = Folder(
        setup.lanes,
        keeper,
        lambda: config_never,
        lambda state, m, entry: queued.append((state, m, entry)),
        clock=lambda: NOW,
        wall=lambda: T0,
    )
    queued: list[tuple[LaneState, RoutedMessage, object]] = []
    on_disk(keeper, setup.state.key, [trade(config, n) for n in range(400)])

    assert 0 == folder.fold(setup.state, behind(setup.state))
    assert queued  # read back, and queued in its lane instead
    for state, m, entry in queued:
        assert state is setup.state
        assert m.fold == Fold(never=True)
        assert entry is not None


def test_warnings_keep_their_place_and_each_level_folds_its_own(
    config: Config, keeper: SpoolKeeper
) -> None:
    setup = Setup(config, keeper)
    for n in range(20):
        setup.add(trade(config, n, level=logging.WARNING))
    setup.log(range(20, 420))
    debug = [trade(config, n, level=logging.DEBUG) for n in range(420, 720)]
    on_disk(keeper, setup.state.key, debug)

    folded = setup.folder.fold(setup.state, behind(setup.state))

    order = setup.state.lane.in_order()
    assert [p.level for p in order[:20]] == [logging.WARNING] * 20
    assert not any(p.message.folded for p in order[:20])
    by_level = {p.level: p.message.folded for p in setup.summaries()}
    assert set(by_level) == {logging.INFO, logging.DEBUG}
    assert by_level[logging.DEBUG] == 300  # nothing of it could go in time
    assert folded == sum(by_level.values())
    assert order[20].message.folded  # in the infos' place


def test_lanes_on_one_channel_take_turns_in_the_projection() -> None:
    """
    Two threads of one channel, both behind: each leaves on every other
    place of the channel, so each folds more than a lane alone would.
    """
    config = routing(max_lag="90s")
    alone = Setup(config)
    alone.log(range(200))
    folded_alone = alone.folder.fold(alone.state, behind(alone.state))

    shared = Setup(config)
    target = config.channels["trades"]
    first = shared.lanes.of(target, Place(thread="A"))
    second = shared.lanes.of(target, Place(thread="B"))
    board = shared.lanes.of(target, Place(board="db"))
    for n in range(200):
        shared.lanes.add(first, trade(config, n), NOW)
        shared.lanes.add(second, trade(config, n), NOW)
    shared.lanes.add(board, trade(config, 0), NOW)  # edits: not a share
    folded_shared = shared.folder.fold(first, behind(first))

    assert 0 < folded_alone < folded_shared
    assert 2 == shared.folder._sharing(first)
