"""
Tests for the table of lanes (``_delivery/lanes.py``).

Pure bookkeeping: every call takes ``now``; nothing sleeps, sends or
counts. The bound spans every lane, and eviction takes the lowest level
first: the oldest of it without a spool, the newest with one.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable

import pytest

from polybot_loghandler._batching import Pending
from polybot_loghandler._delivery import lanes as lanes_module
from polybot_loghandler._delivery.lanes import (
    CONSOLE,
    OWN_ROUTES,
    Lanes,
    LaneState,
    is_own,
)
from polybot_loghandler._losses import Loss
from polybot_loghandler._message import Place, RoutedMessage
from polybot_loghandler._model import Channel, Config, WebhookDestination
from tests.support.delivery import BOT_CHANNEL, message, routing

NOW = 1000.0


@pytest.fixture
def config() -> Config:
    return routing()


def _lanes(bound: int = 100) -> Lanes:
    return Lanes(gather=1.0, window=60.0, bound=bound)


class TestTheTable:
    def test_each_destination_has_its_lane(self, config: Config) -> None:
        lanes = _lanes()
        keys = {
            name: lanes.of(config.channels[name]).key
            for name in ("trades", "ops", "bot", "console")
        }

        assert CONSOLE == keys["console"]
        assert f"bot:{BOT_CHANNEL}" == keys["bot"]
        assert keys["trades"].startswith("webhook:https://")
        assert 4 == len(set(keys.values()))
        assert 4 == len(list(lanes))

    def test_a_lane_is_made_once(self, config: Config) -> None:
        lanes = _lanes()
        first = lanes.for_message(message(config))
        again = lanes.of(config.channels["trades"])

        assert first is again

    def test_labels_never_show_a_token(self, config: Config) -> None:
        lanes = _lanes()
        label = lanes.of(config.channels["trades"]).label

        assert "111111111111111111" in label
        assert "SeCrEt" not in label

    def test_a_webhook_stands_for_its_channel(self, config: Config) -> None:
        """Discord's per-channel limit is kept per webhook id."""
        lanes = _lanes()
        state = lanes.of(config.channels["trades"])
        bot = lanes.of(config.channels["bot"])

        assert "webhook:111111111111111111" == state.channel
        assert BOT_CHANNEL == bot.channel

    def test_channels_without_a_destination_share_the_console(
        self, config: Config
    ) -> None:
        lanes = _lanes()
        console = lanes.of(config.channels["console"])

        assert lanes.of(None) is console
        assert (CONSOLE, CONSOLE, None) == (
            console.label,
            console.channel,
            console.destination,
        )

    def test_a_message_goes_to_its_target_s_lane(self, config: Config) -> None:
        """The lane is the destination's, whatever the channel's name."""
        lanes = _lanes()
        ops = message(config, channel="ops")

        assert lanes.for_message(ops) is lanes.of(config.channels["ops"])
        assert lanes.for_message(ops) is not lanes.of(
            config.channels["trades"]
        )

    def test_the_console_shows_messages_in_the_order_logged(
        self, config: Config
    ) -> None:
        """Discord's lanes send higher levels first; the console does not."""
        lanes = _lanes()
        order = {}
        for channel in ("trades", "bot", "console"):
            state = lanes.of(config.channels[channel])
            for title, level in (("i", logging.INFO), ("w", logging.WARNING)):
                lanes.add(state, message(config, title, level=level), NOW)
            order[channel] = [p.embed()["title"] for p in state.waiting()]

        expected = {"trades": ["w", "i"], "bot": ["w", "i"]}
        assert {**expected, "console": ["i", "w"]} == order


class TestCounting:
    def test_new_messages_are_pending_and_copies_merge(
        self, config: Config
    ) -> None:
        lanes = _lanes()
        state = lanes.of(config.channels["trades"])
        first, new = lanes.add(state, message(config), NOW)
        copy, again = lanes.add(state, message(config), NOW)

        assert (True, False) == (new, again)
        assert first is copy
        assert 2 == first.count
        assert 1 == lanes.pending

    def test_a_message_waits_the_gather_window_from_when_it_came(
        self, config: Config
    ) -> None:
        lanes = Lanes(gather=2.5, window=60.0, bound=100)
        state = lanes.of(config.channels["trades"])
        item, _ = lanes.add(state, message(config), NOW)

        assert NOW == item.queued
        assert NOW + 2.5 == state.lane.due(NOW)

    def test_taking_and_dropping_lower_the_count(self, config: Config) -> None:
        lanes = _lanes()
        state = lanes.of(config.channels["trades"])
        for title in ("a", "b", "c"):
            lanes.add(state, message(config, title), NOW)
        lanes.add(state, message(config, "d", level=logging.CRITICAL), NOW)

        taken = lanes.take(state, NOW)
        assert 4 == len(taken)
        assert 0 == lanes.pending
        lanes.add(state, message(config, "e"), NOW)
        dropped = lanes.drop_all(state)

        assert ["e"] == [p.embed()["title"] for p in dropped]
        assert all(p.dropped for p in dropped)
        assert 0 == lanes.pending
        assert not state.busy

    def test_over_the_bound(self, config: Config) -> None:
        lanes = _lanes(bound=2)
        state = lanes.of(config.channels["trades"])
        for title in ("a", "b"):
            lanes.add(state, message(config, title), NOW)
        assert not lanes.over()

        lanes.add(state, message(config, "c"), NOW)

        assert lanes.over()


class TestEviction:
    def _full(self, config: Config) -> Lanes:
        lanes = _lanes(bound=3)
        trades = lanes.of(config.channels["trades"])
        bot = lanes.of(config.channels["bot"])
        lanes.add(trades, message(config, "info-1", level=logging.INFO), NOW)
        lanes.add(bot, message(config, "error", channel="bot"), NOW)
        lanes.add(trades, message(config, "info-2", level=logging.INFO), NOW)
        lanes.add(
            bot,
            message(config, "info-3", channel="bot", level=logging.INFO),
            NOW,
        )
        return lanes

    @pytest.mark.parametrize(
        ("newest", "expected"), [(False, "info-1"), (True, "info-3")]
    )
    def test_the_lowest_level_goes_first(
        self, config: Config, newest: bool, expected: str
    ) -> None:
        lanes = self._full(config)

        pushed = lanes.evict(newest=newest)

        assert pushed is not None
        state, victim = pushed
        assert expected == victim.embed()["title"]
        assert state is lanes.for_message(victim.message)
        assert victim.dropped
        assert 3 == lanes.pending
        assert expected not in [p.embed()["title"] for p in state.waiting()]

    def test_levels_empty_in_order(self, config: Config) -> None:
        lanes = self._full(config)
        order = []
        while (pushed := lanes.evict(newest=False)) is not None:
            order.append(pushed[1].embed()["title"])

        assert ["info-1", "info-2", "info-3", "error"] == order
        assert 0 == lanes.pending

    def test_what_was_taken_is_not_evicted(self, config: Config) -> None:
        lanes = _lanes(bound=1)
        state = lanes.of(config.channels["trades"])
        lanes.add(state, message(config, "on its way"), NOW)
        lanes.take(state, NOW)

        assert lanes.evict(newest=False) is None

    def test_notices_are_outside_the_bound(self, config: Config) -> None:
        lanes = _lanes(bound=1)
        state = lanes.of(config.channels["trades"])
        lanes.add(state, message(config, "notice"), NOW, bounded=False)

        assert lanes.evict(newest=False) is None
        assert 1 == lanes.pending
        assert not lanes.over()
        assert 1 == lanes.room()

    @pytest.mark.parametrize(
        "leave",
        [
            lambda lanes, state: lanes.take(state, NOW),  # sent
            lambda lanes, state: lanes.drop_all(state),  # disabled
            lambda lanes, _state: lanes.give_up(),  # the end
        ],
        ids=["taken", "dropped", "given up"],
    )
    def test_a_notice_gone_leaves_the_bound_as_it_was(
        self, config: Config, leave: Callable[[Lanes, LaneState], object]
    ) -> None:
        lanes = _lanes(bound=1)
        state = lanes.of(config.channels["trades"])
        lanes.add(state, message(config, "notice"), NOW, bounded=False)
        leave(lanes, state)
        lanes.add(state, message(config, "a"), NOW)
        lanes.add(state, message(config, "b"), NOW)

        assert lanes.over()
        assert -1 == lanes.room()

    @pytest.mark.parametrize(
        ("newest", "infos"),
        [(False, ("raised", "info")), (True, ("info", "raised"))],
        ids=["oldest", "newest"],
    )
    def test_a_merge_that_raised_a_level_is_evicted_at_it(
        self, config: Config, newest: bool, infos: tuple[str, str]
    ) -> None:
        """A warning copy merged into an info makes it a warning."""
        lanes = _lanes()
        state = lanes.of(config.channels["trades"])
        for title in infos:
            lanes.add(state, message(config, title, level=logging.INFO), NOW)
        lanes.add(state, message(config, "raised", level=logging.WARNING), NOW)
        order = []
        while (pushed := lanes.evict(newest=newest)) is not None:
            order.append(pushed[1].embed()["title"])

        assert (["info", "raised"], 0) == (order, lanes.pending)

    @pytest.mark.parametrize(
        "leave",
        [
            lambda lanes, state: lanes.take(state, NOW),  # sent
            lambda lanes, state: lanes.drop_all(state),  # disabled
            lambda lanes, state: lanes.remove(  # folded
                state, state.lane.items()
            ),
        ],
        ids=["taken", "dropped", "removed"],
    )
    def test_what_left_is_not_kept_for_eviction(
        self, config: Config, leave: Callable[[Lanes, LaneState], object]
    ) -> None:
        """Lanes that never overflow keep none of what they sent."""
        lanes = _lanes()
        state = lanes.of(config.channels["trades"])
        bot = lanes.of(config.channels["bot"])
        waits, _ = lanes.add(bot, message(config, "w", channel="bot"), NOW)
        for n in range(1000):
            lanes.add(state, message(config, f"{n}"), NOW)
            leave(lanes, state)
        kept = sum(len(queue) for queue in lanes._by_level.values())

        assert kept <= 1 + 65
        assert 1 == lanes.pending
        assert (bot, waits) == lanes.evict(newest=False)


class TestFolding:
    """Taking items out of a lane, and putting a summary in front."""

    def _lane(self, lanes: Lanes, config: Config) -> LaneState:
        state = lanes.of(config.channels["trades"])
        for title, level in (
            ("a", logging.INFO),
            ("w", logging.WARNING),
            ("b", logging.INFO),
            ("c", logging.INFO),
        ):
            lanes.add(state, message(config, title, level=level), NOW)
        return state

    def test_removed_items_leave_the_count_and_are_never_evicted(
        self, config: Config
    ) -> None:
        lanes = _lanes(bound=4)
        state = self._lane(lanes, config)
        _, a, b, c = state.lane.items()

        lanes.remove(state, [a, b])

        assert (2, 2) == (lanes.pending, lanes.room())
        assert ["w", "c"] == [p.embed()["title"] for p in state.waiting()]
        assert [(True, False)] * 2 == [(p.taken, p.dropped) for p in (a, b)]
        pushed = lanes.evict(newest=False)
        assert pushed is not None
        assert c is pushed[1]

    def test_an_item_named_twice_is_removed_once(self, config: Config) -> None:
        lanes = _lanes(bound=4)
        state = self._lane(lanes, config)
        a = state.lane.items()[1]

        lanes.remove(state, iter([a, a]))

        assert (3, 1) == (lanes.pending, lanes.room())

    def test_a_removed_notice_leaves_the_free_ones(
        self, config: Config
    ) -> None:
        lanes = _lanes(bound=1)
        state = lanes.of(config.channels["trades"])
        notice, _ = lanes.add(state, message(config, "n"), NOW, bounded=False)

        lanes.remove(state, [notice])

        assert (0, 1) == (lanes.pending, lanes.room())

    def test_what_is_not_queued_is_not_removed(self, config: Config) -> None:
        lanes = _lanes()
        state = self._lane(lanes, config)
        bot = lanes.of(config.channels["bot"])
        other, _ = lanes.add(bot, message(config, "x", channel="bot"), NOW)
        a = state.lane.items()[1]

        with pytest.raises(ValueError, match="not queued"):
            lanes.remove(state, [a, other])

        assert 5 == lanes.pending
        assert not a.taken

    @pytest.mark.parametrize(
        ("bounded", "evicted", "room"),
        [(True, "s", -1), (False, "c", 0)],
        ids=["bounded", "free"],
    )
    def test_push_front_counts_as_added(
        self, config: Config, bounded: bool, evicted: str, room: int
    ) -> None:
        """A summary in front is counted, and evictable unless free."""
        lanes = _lanes(bound=4)
        state = self._lane(lanes, config)
        summary = Pending(
            message(config, "s", level=logging.DEBUG),
            None,
            logging.DEBUG,
            NOW,
            NOW,
            NOW,
        )

        lanes.push_front(state, summary, bounded=bounded)

        assert (5, room) == (lanes.pending, lanes.room())
        titles = [p.embed()["title"] for p in state.waiting()]
        assert ["w", "a", "b", "c", "s"] == titles
        pushed = lanes.evict(newest=True)
        assert pushed is not None
        assert evicted == pushed[1].embed()["title"]

    def test_push_front_goes_first_in_its_level(self, config: Config) -> None:
        lanes = _lanes()
        state = self._lane(lanes, config)
        summary = Pending(
            message(config, "s", level=logging.INFO),
            None,
            logging.INFO,
            NOW,
            NOW,
            NOW,
        )

        lanes.push_front(state, summary)

        titles = [p.embed()["title"] for p in lanes.take(state, NOW)]
        assert (["w", "s", "a", "b", "c"], 0) == (titles, lanes.pending)


class TestReadings:
    def test_the_longest_rate_limit_wait(self, config: Config) -> None:
        lanes = _lanes()
        assert 0.0 == lanes.rate_limit_wait(NOW)
        lanes.of(config.channels["trades"]).resume_at = NOW + 4
        lanes.of(config.channels["bot"]).resume_at = NOW + 9
        lanes.of(config.channels["ops"]).resume_at = NOW - 50

        assert 9.0 == lanes.rate_limit_wait(NOW)
        assert 0.0 == lanes.rate_limit_wait(NOW + 100)

    def test_disabled_destinations_by_label(self, config: Config) -> None:
        lanes = _lanes()
        bot = lanes.of(config.channels["bot"])
        lanes.of(config.channels["trades"])
        assert [] == lanes.disabled()

        bot.disabled = Loss.NO_TOKEN

        assert [f"channel {BOT_CHANNEL}"] == lanes.disabled()


class TestTheEnd:
    """What the engine asks of the lanes when it stops."""

    def _state(self, lanes: Lanes, config: Config, name: str) -> LaneState:
        return lanes.of(config.channels[name])

    def test_a_lane_is_busy_while_it_holds_or_sends(
        self, config: Config
    ) -> None:
        lanes = _lanes()
        state = self._state(lanes, config, "trades")
        assert not state.busy
        lanes.add(state, message(config, "a"), NOW)
        assert state.busy

        state.inflight = lanes.take(state, NOW)
        state.sending = True
        assert state.busy
        lanes.add(state, message(config, "b"), NOW)

        assert ["a", "b"] == [p.embed()["title"] for p in state.waiting()]
        state.sending = False
        lanes.take(state, NOW)
        assert not state.busy

    @pytest.mark.parametrize(
        ("holds", "on_disk", "idle"),
        [
            ((), (), True),
            (("trades",), (), False),
            ((), ("bot",), False),
            (("console",), (), False),
        ],
    )
    def test_idle_when_nothing_waits_anywhere(
        self,
        config: Config,
        holds: tuple[str, ...],
        on_disk: tuple[str, ...],
        idle: bool,
    ) -> None:
        lanes = _lanes()
        states = {
            name: self._state(lanes, config, name)
            for name in ("trades", "bot", "console")
        }
        for name in holds:
            lanes.add(states[name], message(config, channel=name), NOW)
        disk = {states[name].key for name in on_disk}

        assert idle == lanes.idle(lambda key: key in disk)

    @pytest.mark.parametrize(
        ("lanes_", "expected"),
        [
            # (channel, failing, every item in the spool) of busy lanes
            ((), True),
            ((("trades", True, True),), True),
            ((("trades", True, True), ("bot", True, True)), True),
            ((("trades", False, True),), False),
            ((("trades", True, False),), False),
            ((("console", True, True),), False),
            ((("trades", True, True), ("bot", False, True)), False),
            ((("bot", False, True), ("trades", True, True)), False),
        ],
    )
    def test_all_on_disk_when_only_failing_spooled_lanes_hold_anything(
        self,
        config: Config,
        lanes_: tuple[tuple[str, bool, bool], ...],
        expected: bool,
    ) -> None:
        lanes = _lanes()
        idle = self._state(lanes, config, "ops")  # holds nothing
        idle.failing = False
        for name, failing, spooled in lanes_:
            state = self._state(lanes, config, name)
            state.failing = failing
            for title in ("a", "b"):
                item, _ = lanes.add(
                    state, message(config, title, channel=name), NOW
                )
                if spooled or title == "a":
                    item.spool.append(f"{name}-{title}")

        assert expected == lanes.all_on_disk()

    def test_what_is_on_its_way_counts_for_all_on_disk(
        self, config: Config
    ) -> None:
        lanes = _lanes()
        state = self._state(lanes, config, "trades")
        state.failing = True
        lanes.add(state, message(config, "in memory only"), NOW)
        state.inflight = lanes.take(state, NOW)
        state.sending = True

        assert not lanes.all_on_disk()

    def test_giving_up_counts_what_is_lost_and_what_is_kept(
        self, config: Config
    ) -> None:
        lanes = _lanes()
        trades = self._state(lanes, config, "trades")
        bot = self._state(lanes, config, "bot")
        copies, _ = lanes.add(trades, message(config, "copies"), NOW)
        lanes.add(trades, message(config, "copies"), NOW)
        lanes.add(trades, message(config, "copies"), NOW)  # stands for 3
        trades.inflight = lanes.take(trades, NOW)
        lanes.add(trades, message(config, "own", route=OWN_ROUTES + "x"), NOW)
        spooled, _ = lanes.add(trades, message(config, "on disk"), NOW)
        spooled.spool.extend(["entry-1", "entry-2"])
        lanes.add(bot, message(config, "one", channel="bot"), NOW)
        lanes.add(bot, message(config, "two", channel="bot"), NOW)
        kept, _ = lanes.add(bot, message(config, "kept", channel="bot"), NOW)
        kept.spool.append("entry-3")

        assert (3 + 2, 2 + 1, 0) == lanes.give_up()
        assert 0 == lanes.pending
        assert ([], []) == (trades.inflight, bot.inflight)
        assert not trades.busy
        assert not bot.busy
        assert 3 == copies.count

    def test_the_engine_s_own_routes(self) -> None:
        assert is_own("polybot_loghandler.dropped")
        assert is_own(OWN_ROUTES + "alert")
        assert not is_own("errors")
        assert not is_own("x.polybot_loghandler.alert")


def _placed(
    config: Config,
    place: Place | None,
    *,
    route: str = "errors",
    target: Channel | None = None,
) -> RoutedMessage:
    """A message for ``trades`` (or *target*) into *place*."""
    return dataclasses.replace(
        message(config, route=route),
        place=place,
        target=config.channels["trades"] if target is None else target,
    )


FORUM = Channel(
    key="forum",
    name="forum",
    destination=WebhookDestination(
        url="https://discord.com/api/webhooks/444444444444444444/forumTok",
        webhook_id="444444444444444444",
    ),
    forum=True,
)


class TestPlaces:
    def test_a_lane_per_thread_and_board_sharing_the_channel(
        self, config: Config
    ) -> None:
        lanes = _lanes()
        places = [
            None,
            Place(thread="BTC"),
            Place(thread="ETH"),
            Place(thread_id="777777777777777777"),
            Place(board="db"),
            Place(thread="BTC", board="db"),
        ]
        states = [lanes.for_message(_placed(config, p)) for p in places]
        base = states[0]

        assert len(places) == len({id(s) for s in states})
        assert len(places) == len({s.key for s in states})
        assert {base.channel} == {s.channel for s in states}
        for state, place in zip(states, places, strict=True):
            assert place == state.place
            assert state.key.startswith(base.key)
            assert "SeCrEt" not in state.label
        assert states[5].label.endswith(" (thread 'BTC', board 'db')")
        assert states[3].label.endswith(" (thread id '777777777777777777')")
        again = lanes.for_message(_placed(config, Place(thread="BTC")))
        assert again is states[1]

    def test_the_console_has_no_places(self, config: Config) -> None:
        lanes = _lanes()
        console = config.channels["console"]

        state = lanes.of(console, Place(board="db"))

        assert state is lanes.of(console)
        assert state.place is None

    @pytest.mark.parametrize(
        ("route", "place", "expected"),
        [
            ("errors", None, Place(thread="errors")),
            ("errors", Place(board="db"), Place(thread="errors", board="db")),
            (
                f"{OWN_ROUTES}notice",
                None,
                Place(thread="polybot_loghandler"),
            ),
            ("r" * 150, None, Place(thread="r" * 99 + "…")),
            ("errors", Place(thread="BTC"), Place(thread="BTC")),
            (
                "errors",
                Place(thread_id="777777777777777777", board="db"),
                Place(thread_id="777777777777777777", board="db"),
            ),
        ],
    )
    def test_a_forum_takes_messages_only_into_threads(
        self,
        config: Config,
        route: str,
        place: Place | None,
        expected: Place,
    ) -> None:
        lanes = _lanes()

        state = lanes.for_message(
            _placed(config, place, route=route, target=FORUM)
        )

        assert expected == state.place

    def test_a_channel_that_is_not_a_forum_needs_no_thread(
        self, config: Config
    ) -> None:
        state = _lanes().for_message(_placed(config, None))

        assert state.place is None

    def test_siblings(self, config: Config) -> None:
        lanes = _lanes()
        base = lanes.of(config.channels["trades"])
        thread = lanes.of(config.channels["trades"], Place(thread="BTC"))
        board = lanes.of(config.channels["trades"], Place(board="db"))
        ops = lanes.of(config.channels["ops"])
        ops_board = lanes.of(config.channels["ops"], Place(board="db"))
        console = lanes.of(config.channels["console"])

        family = {id(base), id(thread), id(board)}
        for state in (base, thread, board):
            assert family == {id(s) for s in lanes.siblings(state)}
        assert {id(ops), id(ops_board)} == {
            id(s) for s in lanes.siblings(ops_board)
        }
        assert [console] == lanes.siblings(console)

    def test_a_new_place_of_a_disabled_destination_is_disabled(
        self, config: Config
    ) -> None:
        lanes = _lanes()
        lanes.of(config.channels["trades"]).disabled = Loss.WEBHOOK_GONE

        thread = lanes.of(config.channels["trades"], Place(thread="BTC"))
        other = lanes.of(config.channels["ops"], Place(thread="BTC"))

        assert Loss.WEBHOOK_GONE == thread.disabled
        assert other.disabled is None

    def test_idle_place_lanes_are_let_go_over_the_most(
        self, config: Config, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(lanes_module, "MOST_LANES", 8)
        lanes = _lanes()
        trades = config.channels["trades"]
        base = lanes.of(trades)
        idle = [lanes.of(trades, Place(board=f"idle{n}")) for n in range(3)]
        holding = lanes.of(trades, Place(board="holding"))
        lanes.add(holding, _placed(config, Place(board="holding")), NOW)
        running = lanes.of(trades, Place(board="running"))
        running.running = True
        disk = lanes.of(trades, Place(board="disk"))
        lanes.on_disk = lambda key: key == disk.key
        item = _placed(config, Place(thread="held"))
        held = lanes.for_message(item)
        lanes.add(held, item, NOW)
        lanes.take(held, NOW)
        lanes.add(held, item, NOW)  # held for its window, not queued
        assert 8 == len(list(lanes))

        newest = lanes.of(trades, Place(board="new"))

        kept = {s.key for s in lanes}
        for state in idle:
            assert state.key not in kept
        for state in (base, holding, running, disk, held, newest):
            assert state.key in kept
        assert lanes.of(trades, Place(board="idle0")) is not idle[0]

    def test_under_the_most_nothing_is_let_go(self, config: Config) -> None:
        lanes = _lanes()
        trades = config.channels["trades"]
        first = lanes.of(trades, Place(board="idle"))
        for n in range(50):
            lanes.of(trades, Place(board=str(n)))

        assert lanes.of(trades, Place(board="idle")) is first
