"""
Mutes in a running engine (``_delivery/muting.py``) and as the stores
keep them (``_watching/mutes.py``): pure, on a clock the test moves.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from polybot_loghandler._config import parse_config
from polybot_loghandler._delivery.muting import (
    MuteWatch,
    ended_line,
    ended_text,
)
from polybot_loghandler._events import LogEvent
from polybot_loghandler._watching.mutes import (
    MAX_REASON,
    decode,
    encode,
    in_force,
    left,
    mute_text,
    reason_of,
)
from polybot_loghandler._watching.watching import ALERT, Mute, Watching

T0 = 1_800_000_000.0  # 2027-01-15T08:00:00Z
TOKEN = "https://discord.com/api/webhooks/123456789012345678/" + "t" * 68

ROUTING = """\
version: 1
channels:
  ops: ""
routes:
  - {name: trades, match: {event: trade}, to: ops}
watches:
  - name: heartbeats
    match: {event: heartbeat}
    key: "{{ agent }}"
    alert_after: 60s
    to: ops
"""


class Store:
    """Mutes as a store keeps them; ``None`` while it cannot be read."""

    def __init__(self) -> None:
        self.mutes: dict[str, Mute] | None = {}

    def read(self) -> dict[str, Mute] | None:
        return None if self.mutes is None else dict(self.mutes)


class Fixture:
    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.watching = Watching(parse_config(ROUTING), T0, self.count_one)
        self.store = Store()
        self.told: list[tuple[str, Mute, int]] = []
        self.watch = MuteWatch(
            self.watching,
            self.store.read,
            lambda *told: self.told.append(told),
        )

    def count_one(self, key: str, n: int) -> None:
        self.counts[key] += n

    def heartbeat(self, agent: str, now: float) -> None:
        ev = LogEvent(
            event="heartbeat", level=20, time=now, fields={"agent": agent}
        )
        self.watching.observe(ev, ev.context(), now)


@pytest.fixture
def fx() -> Fixture:
    return Fixture()


class TestMuteWatch:
    def test_a_muted_watch_s_alert_is_held_back_and_counted(
        self, fx: Fixture
    ) -> None:
        fx.store.mutes = {"heartbeats": Mute(T0 + 600, "deploying")}
        fx.watch.check(T0)
        fx.heartbeat("A", T0)

        assert [] == fx.watching.due(T0 + 61)

        assert 1 == fx.counts["dropped.muted"]
        assert [] == fx.told

    def test_its_end_is_told_once_with_what_it_held_back(
        self, fx: Fixture
    ) -> None:
        mute = Mute(T0 + 600, "deploying")
        fx.store.mutes = {"heartbeats": mute}
        fx.watch.check(T0)
        fx.heartbeat("A", T0)
        fx.heartbeat("B", T0)
        fx.watching.due(T0 + 61)

        fx.watch.check(T0 + 599)
        assert [] == fx.told
        fx.watch.check(T0 + 600)
        fx.watch.check(T0 + 601)
        fx.watch.check(T0 + 3600)

        assert [("heartbeats", mute, 2)] == fx.told

    def test_after_its_end_the_watch_alerts_again(self, fx: Fixture) -> None:
        fx.store.mutes = {"heartbeats": Mute(T0 + 30)}
        fx.watch.check(T0)
        fx.heartbeat("A", T0)
        fx.watch.check(T0 + 30)
        fx.heartbeat("B", T0 + 30)

        alerts = fx.watching.due(T0 + 91)

        assert [("A", ALERT), ("B", ALERT)] == sorted(
            (o.values["key"], o.kind) for o in alerts
        )

    def test_an_unmute_ends_it_now_and_is_told(self, fx: Fixture) -> None:
        fx.store.mutes = {"trades": Mute(T0 + 600, "noisy")}
        fx.watch.check(T0)
        fx.watching.hold_back("trades", 3)

        fx.store.mutes = {"trades": Mute(T0 + 10, "noisy")}  # as unmute does
        fx.watch.check(T0 + 10)

        assert [("trades", Mute(T0 + 10, "noisy"), 3)] == fx.told
        assert not fx.watching.muted("trades", T0 + 10)

    def test_a_mute_ended_before_the_first_read_is_not_told(
        self, fx: Fixture
    ) -> None:
        """Another process, running then, told it."""
        fx.store.mutes = {"trades": Mute(T0 - 5)}

        fx.watch.check(T0)
        fx.watch.check(T0 + 1)

        assert [] == fx.told

    def test_a_mute_gone_from_the_store_has_ended(self, fx: Fixture) -> None:
        fx.store.mutes = {"trades": Mute(T0 + 600, "noisy")}
        fx.watch.check(T0)
        fx.watching.hold_back("trades")

        fx.store.mutes = {}
        fx.watch.check(T0 + 5)

        assert [("trades", Mute(T0 + 5, "noisy"), 1)] == fx.told
        assert not fx.watching.muted("trades", T0 + 5)

    def test_a_store_that_cannot_be_read_leaves_the_mutes_in_force(
        self, fx: Fixture
    ) -> None:
        fx.store.mutes = {"trades": Mute(T0 + 600)}
        fx.watch.check(T0)

        fx.store.mutes = None
        fx.watch.check(T0 + 1)

        assert fx.watching.muted("trades", T0 + 1)
        assert [] == fx.told

    def test_a_mute_takes_hold_at_the_read(self, fx: Fixture) -> None:
        assert not fx.watching.muted("trades", T0)
        fx.store.mutes = {"trades": Mute(T0 + 600)}
        assert not fx.watching.muted("trades", T0)

        fx.watch.check(T0)

        assert fx.watching.muted("trades", T0)


class TestWords:
    def test_the_end_as_the_ops_channel_reads_it(self) -> None:
        title, text = ended_text(
            "heart_beats", Mute(T0, "deploy @everyone *now*"), 3
        )

        assert "🔔 Mute ended: heart\\_beats" == title
        assert text == (
            "heart\\_beats is no longer muted (it was muted until "
            "08:00:00 UTC: deploy @\u200beveryone \\*now\\*). While it "
            "was, 3 messages were held back here."
        )

    def test_the_end_as_stderr_reads_it(self) -> None:
        assert ended_line("trades", Mute(T0), 0) == (
            "the mute of 'trades' has ended (it ran until 08:00:00 UTC); "
            "nothing was held back while it lasted"
        )
        assert "; 1 message was held back" in ended_line(
            "trades", Mute(T0, "x"), 1
        )

    @pytest.mark.parametrize(
        ("seconds", "shown"),
        [
            (1799.7, "30m"),
            (1800.0, "30m"),
            (1741.0, "30m"),
            (59.2, "1m"),
            (39.2, "40s"),
            (-5.0, "0s"),
            (2 * 86400.0, "2d"),
        ],
    )
    def test_what_is_left_is_rounded_up(
        self, seconds: float, shown: str
    ) -> None:
        assert shown == left(Mute(T0 + seconds), T0)

    def test_one_mute_a_line(self) -> None:
        line = mute_text("hb", Mute(T0 + 1800, "deploy\x1b[2J"), T0, "watch")

        assert line == (
            "hb (watch) until 2027-01-15 08:30:00 UTC, 30m left: deploy␛[2J"
        )


class TestStored:
    def test_a_mute_goes_to_redis_as_json_and_back(self) -> None:
        mute = Mute(T0 + 60, "deploying")

        assert '{"until": 1800000060.0, "reason": "deploying"}' == encode(mute)
        assert mute == decode(encode(mute).encode())

    @pytest.mark.parametrize(
        "kept",
        [
            "not json",
            "[1, 2]",
            '{"reason": "x"}',
            '{"until": "soon"}',
            '{"until": true}',
            '{"until": NaN}',
            '{"until": Infinity}',
            b"\xff\xfe",
            None,
        ],
    )
    def test_what_does_not_read_as_a_mute_is_ignored(self, kept: Any) -> None:
        assert decode(kept) is None

    def test_a_reason_is_one_line_without_tokens_within_bounds(self) -> None:
        assert "a b" == reason_of("a\n  b")
        assert "(redacted)" in reason_of(f"see {TOKEN}")
        assert "t" * 68 not in reason_of(f"see {TOKEN}")
        assert MAX_REASON == len(reason_of("x" * 10_000))

    def test_in_force_leaves_out_the_ended(self) -> None:
        mutes = {"a": Mute(T0), "b": Mute(T0 + 1)}

        assert {"b": Mute(T0 + 1)} == in_force(mutes, T0)
