"""
Tests for the table of lanes (``_delivery/lanes.py``).

Pure bookkeeping: every call takes ``now``; nothing sleeps, sends or
counts. The bound spans every lane, and eviction takes the lowest level
first: the oldest of it without a spool, the newest with one.
"""

from __future__ import annotations

import logging

import pytest

from polybot_loghandler._delivery.lanes import CONSOLE, Lanes
from polybot_loghandler._losses import Loss
from polybot_loghandler._model import Config
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
            name: lanes.of(name, config.channels[name]).key
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
        again = lanes.of("trades", config.channels["trades"])

        assert first is again

    def test_labels_never_show_a_token(self, config: Config) -> None:
        lanes = _lanes()
        label = lanes.of("trades", config.channels["trades"]).label

        assert "111111111111111111" in label
        assert "SeCrEt" not in label

    def test_a_webhook_stands_for_its_channel(self, config: Config) -> None:
        """Discord's per-channel limit is kept per webhook id."""
        lanes = _lanes()
        state = lanes.of("trades", config.channels["trades"])
        bot = lanes.of("bot", config.channels["bot"])

        assert "webhook:111111111111111111" == state.channel
        assert BOT_CHANNEL == bot.channel

    def test_channels_without_a_destination_share_the_console(
        self, config: Config
    ) -> None:
        lanes = _lanes()

        assert lanes.of("nowhere", None) is lanes.of("console", None)


class TestCounting:
    def test_new_messages_are_pending_and_copies_merge(
        self, config: Config
    ) -> None:
        lanes = _lanes()
        state = lanes.of("trades", config.channels["trades"])
        first, new = lanes.add(state, message(config), NOW)
        copy, again = lanes.add(state, message(config), NOW)

        assert (True, False) == (new, again)
        assert first is copy
        assert 2 == first.count
        assert 1 == lanes.pending

    def test_taking_and_dropping_lower_the_count(self, config: Config) -> None:
        lanes = _lanes()
        state = lanes.of("trades", config.channels["trades"])
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
        state = lanes.of("trades", config.channels["trades"])
        for title in ("a", "b"):
            lanes.add(state, message(config, title), NOW)
        assert not lanes.over()

        lanes.add(state, message(config, "c"), NOW)

        assert lanes.over()


class TestEviction:
    def _full(self, config: Config) -> Lanes:
        lanes = _lanes(bound=3)
        trades = lanes.of("trades", config.channels["trades"])
        bot = lanes.of("bot", config.channels["bot"])
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
        state = lanes.of("trades", config.channels["trades"])
        lanes.add(state, message(config, "on its way"), NOW)
        lanes.take(state, NOW)

        assert lanes.evict(newest=False) is None

    def test_notices_are_outside_the_bound(self, config: Config) -> None:
        lanes = _lanes(bound=1)
        state = lanes.of("trades", config.channels["trades"])
        lanes.add(state, message(config, "notice"), NOW, bounded=False)

        assert lanes.evict(newest=False) is None
        assert 1 == lanes.pending


class TestReadings:
    def test_the_longest_rate_limit_wait(self, config: Config) -> None:
        lanes = _lanes()
        assert 0.0 == lanes.rate_limit_wait(NOW)
        lanes.of("trades", config.channels["trades"]).resume_at = NOW + 4
        lanes.of("bot", config.channels["bot"]).resume_at = NOW + 9
        lanes.of("ops", config.channels["ops"]).resume_at = NOW - 50

        assert 9.0 == lanes.rate_limit_wait(NOW)
        assert 0.0 == lanes.rate_limit_wait(NOW + 100)

    def test_disabled_destinations_by_label(self, config: Config) -> None:
        lanes = _lanes()
        bot = lanes.of("bot", config.channels["bot"])
        lanes.of("trades", config.channels["trades"])
        assert [] == lanes.disabled()

        bot.disabled = Loss.NO_TOKEN

        assert [f"channel {BOT_CHANNEL}"] == lanes.disabled()
