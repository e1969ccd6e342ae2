"""
Watches and digests as they run (``_watching.watching``), on a clock the
tests set: what is observed, what falls due, what a reload keeps, what a
store gets back, what a mute holds back.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from polybot_loghandler._config import parse_config
from polybot_loghandler._events import LogEvent
from polybot_loghandler._model import Config
from polybot_loghandler._watching.watching import (
    ALERT,
    DIGEST,
    RECOVERY,
    Mute,
    Output,
    Watching,
)
from tests.support.hostile import Unprintable

T0 = 1_800_000_000.0  # 2027-01-15 08:00:00 UTC, on the hour

ROUTING = """\
version: 1
channels:
  alerts: ""
  perf: ""
routes: []
watches:
  - name: beat
    match: {event: heartbeat}
    key: "{{ agent }}"
    alert_after: 30s
    end: {event: agent_stopped}
    to: alerts
digests:
  - name: trades
    match: {event: trade_executed}
    every: 1m
    group_by: agent
    measures: {n: count, volume: sum(amount)}
    to: perf
"""


def config(text: str = ROUTING) -> Config:
    return parse_config(text, "routing.yaml", environ={})


class Floor:
    """A Watching, fed events, with counters, on the tests' clock."""

    def __init__(self, text: str = ROUTING, now: float = T0) -> None:
        self.now = now
        self.counts: dict[str, int] = {}
        self.watching = Watching(config(text), now, self.count)

    def count(self, key: str, n: int) -> None:
        self.counts[key] = self.counts.get(key, 0) + n

    def log(self, event: str, **fields: Any) -> bool:
        ev = LogEvent(
            event=event, level=logging.INFO, time=self.now, fields=fields
        )
        context = {**fields, "event": event, "fields": fields}
        return self.watching.observe(ev, context, self.now)

    def at(self, now: float) -> list[Output]:
        self.now = now
        return self.watching.due(now)


def kinds(outputs: list[Output]) -> list[tuple[str, str]]:
    return [(o.kind, o.values.get("key", o.name)) for o in outputs]


class TestWatches:
    def test_one_alert_per_silence_and_one_recovery_per_return(self) -> None:
        floor = Floor()
        assert floor.log("heartbeat", agent="A")

        assert [] == floor.at(T0 + 30)  # not longer than alert_after
        assert [(ALERT, "A")] == kinds(floor.at(T0 + 31))
        assert [] == floor.at(T0 + 300)  # still silent: told once
        floor.log("heartbeat", agent="A")
        assert [(RECOVERY, "A")] == kinds(floor.at(T0 + 300))
        assert [] == floor.at(T0 + 301)

    def test_an_alert_says_who_when_and_what_last(self) -> None:
        floor = Floor()
        floor.log("heartbeat", agent="A", cpu=0.5, host=object())

        (alert,) = floor.at(T0 + 45)

        assert {
            "watch": "beat",
            "key": "A",
            "silent_for": 45.0,
            "alert_after": 30.0,
            "last_seen": T0,
        }.items() <= alert.values.items()
        assert 0.5 == alert.values["last"]["cpu"]
        assert alert.values["last"]["host"].startswith("<object object")
        json.dumps(alert.values)  # plain: a store can keep it

    def test_a_field_name_that_cannot_be_shown_costs_only_itself(
        self,
    ) -> None:
        """A name whose ``str()`` raises is kept as its type's name."""
        floor = Floor()
        fields = {"agent": "A", Unprintable(): "x"}
        ev = LogEvent(
            event="heartbeat", level=logging.INFO, time=T0, fields=fields
        )
        context = {"agent": "A", "event": "heartbeat", "fields": fields}

        assert floor.watching.observe(ev, context, T0)

        (alert,) = floor.at(T0 + 31)
        assert {"agent": "A", "<Unprintable>": "x"} == alert.values["last"]

    def test_each_key_on_its_own(self) -> None:
        floor = Floor()
        floor.log("heartbeat", agent="A")
        floor.now = T0 + 20
        floor.log("heartbeat", agent="B")

        assert [(ALERT, "A")] == kinds(floor.at(T0 + 31))
        assert [(ALERT, "B")] == kinds(floor.at(T0 + 51))

    def test_a_key_that_ends_cleanly_is_forgotten(self) -> None:
        floor = Floor()
        floor.log("heartbeat", agent="A")
        assert floor.log("agent_stopped", agent="A")

        assert [] == floor.at(T0 + 3600)

    def test_expected_keys_are_silent_from_the_start(self) -> None:
        floor = Floor(
            ROUTING.replace(
                "    to: alerts", "    expect: [X]\n    to: alerts"
            )
        )

        (alert,) = floor.at(T0 + 31)

        assert ("X", None) == (alert.values["key"], alert.values["last_seen"])

    def test_a_watch_of_a_pattern_takes_every_name_it_matches(
        self,
    ) -> None:
        floor = Floor(
            ROUTING.replace("{event: heartbeat}", "{event: 'beat_*'}")
        )

        assert floor.log("beat_fast", agent="A")
        assert floor.log("beat_slow", agent="B")
        assert not floor.log("heartbeat", agent="C")
        assert [(ALERT, "A"), (ALERT, "B")] == kinds(floor.at(T0 + 31))

    def test_an_event_of_no_watch_or_digest_is_not_taken(self) -> None:
        floor = Floor()

        assert not floor.log("order_placed", agent="A")
        assert [] == floor.at(T0 + 3600)

    def test_a_key_that_renders_empty_is_counted(self) -> None:
        floor = Floor()

        assert floor.log("heartbeat")  # no agent: the key is empty
        assert {"watching.no_key": 1} == floor.counts
        assert [] == floor.at(T0 + 3600)

    def test_keys_past_the_cap_are_refused_and_counted(self) -> None:
        floor = Floor(
            ROUTING.replace(
                "alert_after: 30s", "alert_after: 30s\n    max_keys: 2"
            )
        )
        for agent in "ABCD":
            floor.log("heartbeat", agent=agent)

        assert {"watching.keys_refused": 2} == floor.counts
        assert [(ALERT, "A"), (ALERT, "B")] == kinds(floor.at(T0 + 31))

    def test_recovery_false_tells_no_return(self) -> None:
        floor = Floor(
            ROUTING.replace(
                "    to: alerts", "    to: alerts\n    recovery: false"
            )
        )
        floor.log("heartbeat", agent="A")
        floor.at(T0 + 31)
        floor.log("heartbeat", agent="A")

        assert [] == floor.at(T0 + 32)

    def test_a_failing_key_template_is_counted_not_raised(self) -> None:
        floor = Floor(
            ROUTING.replace('"{{ agent }}"', '"{{ 1 // (agent|length - 1) }}"')
        )

        assert not floor.log("heartbeat", agent="A")
        assert {"errors.template": 1} == floor.counts

    def test_next_due_is_when_the_first_alert_could_come(self) -> None:
        floor = Floor()
        floor.log("heartbeat", agent="A")

        assert T0 + 30 == floor.watching.next_due()


class TestDigests:
    def test_a_period_is_told_once_after_its_end_and_grace(self) -> None:
        floor = Floor()
        floor.log("trade_executed", agent="A", amount=10)
        floor.log("trade_executed", agent="B", amount="1,000.5")
        floor.log("trade_executed", agent="A", amount=5)

        assert [] == floor.at(T0 + 61)  # within the grace
        (digest,) = floor.at(T0 + 62)
        assert [] == floor.at(T0 + 600)

        assert DIGEST == digest.kind
        assert {"start": T0, "end": T0 + 60} == digest.values["period"]
        assert [
            {"key": "A", "n": 2, "volume": 15.0},
            {"key": "B", "n": 1, "volume": 1000.5},
        ] == digest.values["groups"]
        assert {"n": 3, "volume": 1015.5} == digest.values["total"]
        assert (3, False) == (
            digest.values["events"],
            digest.values["partial"],
        )

    def test_an_event_counts_in_the_period_of_its_own_time(self) -> None:
        floor = Floor()
        floor.log("trade_executed", agent="A", amount=1)
        floor.now = T0 + 61  # read late, logged in the second period
        floor.log("trade_executed", agent="A", amount=2)

        periods = [o.values["period"]["start"] for o in floor.at(T0 + 200)]

        assert [T0, T0 + 60] == periods

    def test_groups_past_the_cap_go_to_others_counted(self) -> None:
        floor = Floor(
            ROUTING.replace("every: 1m", "every: 1m\n    max_groups: 2")
        )
        for agent in "ABCD":
            floor.log("trade_executed", agent=agent, amount=1)

        (digest,) = floor.at(T0 + 62)

        assert ["A", "B", "(others)"] == [
            g["key"] for g in digest.values["groups"]
        ]
        assert (4, 2) == (digest.values["events"], digest.values["crowded"])
        assert {"watching.groups_crowded": 2} == floor.counts

    def test_close_all_tells_open_periods_as_partial(self) -> None:
        floor = Floor()
        floor.log("trade_executed", agent="A", amount=1)

        (digest,) = floor.watching.close_all(T0 + 10)

        assert digest.values["partial"]
        assert [] == floor.watching.close_all(T0 + 11)

    def test_what_follows_a_partial_period_is_its_partial_rest(
        self,
    ) -> None:
        floor = Floor()
        floor.log("trade_executed", agent="A", amount=1)
        (first,) = floor.watching.close_all(T0 + 10)  # an exit
        saved = json.loads(json.dumps(floor.watching.snapshot()))

        later = Floor(now=T0 + 20)  # the next process, the same period
        later.watching.restore(saved)
        later.log("trade_executed", agent="A", amount=2)
        (rest,) = later.at(T0 + 62)
        later.now = T0 + 62
        later.log("trade_executed", agent="A", amount=4)
        (whole,) = later.at(T0 + 122)

        assert (True, 1.0) == (
            first.values["partial"],
            first.values["total"]["volume"],
        )
        assert (True, 2.0) == (
            rest.values["partial"],
            rest.values["total"]["volume"],
        )
        assert (False, 4.0) == (
            whole.values["partial"],
            whole.values["total"]["volume"],
        )
        assert {} == later.counts  # nothing late

    def test_a_late_event_is_counted_not_told(self) -> None:
        floor = Floor()
        floor.log("trade_executed", agent="A", amount=1)
        floor.at(T0 + 100)
        floor.now = T0 + 100
        late = LogEvent(
            event="trade_executed", level=20, time=T0 + 1, fields={}
        )
        floor.watching.observe(
            late, {"event": "trade_executed", "fields": {}}, T0 + 100
        )

        assert {"watching.late": 1} == floor.counts


class TestReload:
    def test_an_unchanged_watch_keeps_what_it_knows(self) -> None:
        floor = Floor()
        floor.log("heartbeat", agent="A")
        floor.at(T0 + 31)  # alerted

        floor.watching.update(config(), T0 + 40)

        assert [] == floor.at(T0 + 100)  # no second alert

    def test_a_changed_watch_starts_afresh(self) -> None:
        floor = Floor()
        floor.log("heartbeat", agent="A")

        floor.watching.update(
            config(ROUTING.replace("alert_after: 30s", "alert_after: 40s")),
            T0 + 10,
        )

        assert [] == floor.at(T0 + 3600)  # A was never seen by the new one

    def test_a_changed_or_removed_digest_sends_what_it_had(self) -> None:
        floor = Floor()
        floor.log("trade_executed", agent="A", amount=1)

        floor.watching.update(
            config(ROUTING.replace("every: 1m", "every: 5m")), T0 + 10
        )
        (changed,) = floor.at(T0 + 10)
        floor.log("trade_executed", agent="A", amount=1)
        floor.watching.update(
            config(ROUTING.split("digests:", maxsplit=1)[0]), T0 + 20
        )
        (removed,) = floor.at(T0 + 20)

        assert changed.values["partial"]
        assert removed.values["partial"]


class TestStore:
    def test_a_snapshot_restores_what_was_known(self) -> None:
        floor = Floor()
        floor.log("heartbeat", agent="A")
        floor.log("heartbeat", agent="B")
        floor.at(T0 + 31)  # both alerted
        floor.log("trade_executed", agent="A", amount=2.5)
        saved = json.loads(json.dumps(floor.watching.snapshot()))

        later = Floor(now=T0 + 32)
        later.watching.restore(saved)
        later.log("heartbeat", agent="A")

        assert [(RECOVERY, "A")] == kinds(later.at(T0 + 32))
        (digest,) = later.at(T0 + 62)
        assert [{"key": "A", "n": 1, "volume": 2.5}] == (
            digest.values["groups"]
        )

    def test_a_changed_definition_is_not_restored(self) -> None:
        floor = Floor()
        floor.log("heartbeat", agent="A")
        saved = floor.watching.snapshot()

        later = Floor(ROUTING.replace("alert_after: 30s", "alert_after: 1m"))
        later.watching.restore(saved)

        assert [] == later.at(T0 + 3600)

    @pytest.mark.parametrize(
        "saved",
        [
            pytest.param({}, id="empty"),
            pytest.param({"watches": [1, 2]}, id="watches-a-list"),
            pytest.param(
                {"watches": {"beat": {"fingerprint": "x"}}}, id="other-print"
            ),
            pytest.param({"watches": {"beat": "junk"}}, id="junk-state"),
            pytest.param({"digests": {"trades": None}}, id="digest-none"),
        ],
    )
    def test_a_damaged_snapshot_is_ignored(self, saved: Any) -> None:
        floor = Floor()

        floor.watching.restore(saved)

        assert [] == floor.at(T0 + 3600)

    def test_damaged_rows_are_skipped_not_raised(self) -> None:
        floor = Floor()
        floor.log("heartbeat", agent="A")
        saved = floor.watching.snapshot()
        saved["watches"]["beat"]["keys"]["B"] = ["x", 1]
        tallies = {"n": "junk"}
        saved["digests"]["trades"]["state"] = {
            "closed_until": None,
            "late": 0,
            "open": [[T0, T0 + 60, 1, 0, {"A": tallies}]],
        }

        later = Floor()
        later.watching.restore(saved)

        assert [(ALERT, "A")] == kinds(later.at(T0 + 31))


class TestMutes:
    def test_a_muted_watch_is_held_back_and_counted(self) -> None:
        floor = Floor()
        floor.watching.set_mutes({"beat": Mute(T0 + 100, "maintenance")})
        floor.log("heartbeat", agent="A")

        assert [] == floor.at(T0 + 31)
        assert {"dropped.muted": 1} == floor.counts
        assert [] == floor.at(T0 + 200)  # held back, not told later

    def test_the_end_of_a_mute_is_told_once_with_what_it_held(self) -> None:
        floor = Floor()
        mute = Mute(T0 + 100, "maintenance")
        floor.watching.set_mutes({"beat": mute})
        floor.log("heartbeat", agent="A")
        floor.at(T0 + 31)

        assert [] == floor.watching.expired(T0 + 99)
        assert [("beat", mute, 1)] == floor.watching.expired(T0 + 100)
        assert [] == floor.watching.expired(T0 + 101)

    def test_a_muted_digest_closed_at_exit_is_counted(self) -> None:
        floor = Floor()
        floor.watching.set_mutes({"trades": Mute(T0 + 100)})
        floor.log("trade_executed", agent="A", amount=1)

        assert [] == floor.watching.close_all(T0 + 10)
        assert {"dropped.muted": 1} == floor.counts

    def test_only_a_mute_in_force_holds_back(self) -> None:
        floor = Floor()
        floor.watching.set_mutes({"beat": Mute(T0 + 10)})
        floor.log("heartbeat", agent="A")

        assert [(ALERT, "A")] == kinds(floor.at(T0 + 31))
