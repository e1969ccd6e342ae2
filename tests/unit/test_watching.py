"""
The pure parts of watches and digests: silence, periods and measures.

Every time is given: no clock is read, nothing sleeps.
"""

from __future__ import annotations

import itertools
import math
import time
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from polybot_loghandler._watching.digest import OTHERS, Closed, Digest
from polybot_loghandler._watching.measures import (
    FUNCTIONS,
    Measure,
    parse_measure,
)
from polybot_loghandler._watching.periods import (
    DAY,
    WEEK,
    Period,
    check_every,
    period_of,
)
from polybot_loghandler._watching.silence import Alert, Recovery, Silence

T0 = datetime(2026, 3, 2, 14, 23, 45, tzinfo=timezone.utc).timestamp()


class TestSilence:
    def test_a_key_silent_too_long_is_told_once(self) -> None:
        watch = Silence(180, started=T0)
        assert watch.seen("Momentum", T0, {"cpu": 12}) is None
        assert [] == watch.due(T0 + 180)  # not longer than alert_after
        (alert,) = watch.due(T0 + 181)
        assert alert == Alert("Momentum", 181, T0, {"cpu": 12})
        assert [] == watch.due(T0 + 500)  # told once

    def test_the_return_is_told_once_with_how_long_it_was_away(self) -> None:
        watch = Silence(180, started=T0)
        watch.seen("Momentum", T0)
        watch.due(T0 + 200)
        assert Recovery("Momentum", 252) == watch.seen("Momentum", T0 + 252)
        assert watch.seen("Momentum", T0 + 253) is None
        # and a new silence is a new alert
        assert ["Momentum"] == [a.key for a in watch.due(T0 + 500)]

    def test_a_key_seen_in_time_is_never_told(self) -> None:
        watch = Silence(3, started=T0)
        for step in range(100):
            watch.seen("a", T0 + step * 2.5)
            assert [] == watch.due(T0 + step * 2.5 + 2.9)

    def test_an_ended_key_is_forgotten_without_an_alert(self) -> None:
        watch = Silence(3, started=T0)
        watch.seen("a", T0)
        watch.ended("a")
        assert [] == watch.due(T0 + 100)
        watch.ended("never-seen")  # nothing to forget: no error

    def test_an_expected_key_never_seen_is_told_from_the_start(self) -> None:
        watch = Silence(60, started=T0, expect=["Momentum_BTC_v1"])
        (alert,) = watch.due(T0 + 61)
        assert alert == Alert("Momentum_BTC_v1", 61, None, {})

    def test_keys_past_the_limit_are_refused_and_counted(self) -> None:
        watch = Silence(60, started=T0, limit=2)
        for key in "abcd":
            watch.seen(key, T0)
        watch.seen("c", T0 + 1)
        assert ["a", "b"] == list(watch.keys)
        assert 3 == watch.refused

    def test_next_due_is_the_earliest_silence_not_told(self) -> None:
        watch = Silence(10, started=T0)
        assert watch.next_due() is None
        watch.seen("a", T0)
        watch.seen("b", T0 + 4)
        assert T0 + 10 == watch.next_due()
        watch.due(T0 + 11)
        assert T0 + 14 == watch.next_due()

    @given(
        gaps=st.lists(st.floats(0, 10, allow_nan=False), max_size=40),
        after=st.floats(0.5, 5, allow_nan=False),
    )
    def test_alerts_and_recoveries_alternate(
        self, gaps: list[float], after: float
    ) -> None:
        watch = Silence(after, started=T0)
        now = T0
        told: list[str] = []
        watch.seen("k", now)
        for gap in gaps:
            told += ["alert" for _ in watch.due(now + gap / 2)]
            now += gap
            if watch.seen("k", now) is not None:
                told.append("back")
        assert all(a != b for a, b in itertools.pairwise(told))
        assert not told or told[0] == "alert"


class TestPeriods:
    @pytest.mark.parametrize(
        ("every", "start", "end"),
        [
            (3600, "14:00:00", "15:00:00"),
            (300, "14:20:00", "14:25:00"),
            (5, "14:23:45", "14:23:50"),
            (DAY, "00:00:00", "00:00:00+1"),
        ],
    )
    def test_periods_start_at_multiples_from_midnight(
        self, every: float, start: str, end: str
    ) -> None:
        period = period_of(T0, every)
        assert (_hms(period.start), _hms(period.end)) == (start, end)
        assert T0 in period

    def test_a_week_starts_on_monday(self) -> None:
        sunday = datetime(2026, 3, 8, 23, 0, tzinfo=timezone.utc).timestamp()
        period = period_of(sunday, WEEK)
        start = datetime.fromtimestamp(period.start, timezone.utc)
        assert (start.weekday(), start.hour) == (0, 0)
        assert WEEK == period.end - period.start
        assert sunday in period

    def test_a_time_zone_moves_midnight(self) -> None:
        new_york = ZoneInfo("America/New_York")
        period = period_of(T0, DAY, new_york)
        start = datetime.fromtimestamp(period.start, new_york)
        assert (start.hour, start.minute) == (0, 0)
        assert T0 in period

    def test_a_day_that_loses_an_hour_keeps_every_period(self) -> None:
        london = ZoneInfo("Europe/London")
        day = datetime(2026, 3, 29, tzinfo=london)  # clocks go forward
        first = period_of(day.timestamp(), 6 * 3600, london)
        periods = [first]
        while periods[-1].end < (day + timedelta(days=1)).timestamp():
            periods.append(period_of(periods[-1].end, 6 * 3600, london))
        ends = [p.end for p in periods]
        assert [p.start for p in periods[1:]] == ends[:-1], "no gap"
        assert 23 * 3600 == periods[-1].end - periods[0].start

    @pytest.mark.parametrize(
        ("every", "fine"),
        [
            (1, True), (5, True), (300, True), (3600, True), (DAY, True),
            (WEEK, True), (7 * 60, False), (0.5, False), (0, False),
            (-60, False), (2 * DAY, False), (7 * 3600, False),
        ],
    )  # fmt: skip
    def test_every_must_divide_a_day(self, every: float, fine: bool) -> None:
        assert (check_every(every) is None) is fine
        if not fine:
            with pytest.raises(ValueError, match="every="):
                period_of(T0, every)

    @given(
        when=st.floats(0, 4e9, allow_nan=False),
        every=st.sampled_from([1, 15, 60, 300, 900, 3600, 21600, DAY]),
    )
    def test_every_time_is_in_its_own_period(
        self, when: float, every: float
    ) -> None:
        period = period_of(when, every)
        assert when in period
        assert period == period_of(period.start, every)
        assert 0 < period.end - period.start <= every


class TestMeasures:
    @pytest.mark.parametrize(
        ("text", "measure"),
        [
            ("count", Measure("count")),
            ("sum(amount)", Measure("sum", "amount")),
            (" min( pnl ) ", Measure("min", "pnl")),
            ("last(position.size)", Measure("last", "position.size")),
        ],
    )
    def test_a_measure_reads_as_written(
        self, text: str, measure: Measure
    ) -> None:
        assert measure == parse_measure(text)

    @pytest.mark.parametrize(
        ("text", "said"),
        [
            ("total", "not a measure"),
            ("sum", "sum needs the field"),
            ("count(x)", "count reads no field"),
            ("sum(1x)", "not a measure"),
            ("SUM(x)", "not a measure"),
            ("sum(x) + 1", "not a measure"),
        ],
    )
    def test_a_mistake_says_what_is_allowed(
        self, text: str, said: str
    ) -> None:
        with pytest.raises(ValueError, match=said.replace("(", r"\(")):
            parse_measure(text)

    def test_every_function_over_the_same_events(self) -> None:
        events = [
            {"pnl": 5.5}, {"pnl": "1,250"}, {"pnl": -3}, {"pnl": None},
            {"pnl": True}, {"other": 1}, {"pnl": math.nan},
        ]  # fmt: skip
        results = {}
        skipped = {}
        for name in FUNCTIONS:
            tally = Measure(name, None if name == "count" else "pnl").tally()
            for fields in events:
                tally.add(fields)
            results[name], skipped[name] = tally.value, tally.skipped
        # first and last take any value that is there, a number or not
        assert math.isnan(results.pop("last"))
        assert results == {
            "count": 7,
            "sum": 1252.5,
            "min": -3,
            "max": 1250,
            "avg": 1252.5 / 3,
            "first": 5.5,
        }
        assert skipped["sum"] == 4  # None, True, missing, NaN
        assert skipped["last"] == 2  # None, missing

    def test_nothing_gathered(self) -> None:
        values = {n: Measure(n, "x").tally().value for n in FUNCTIONS}
        assert values == {
            "count": 0, "sum": 0, "min": None, "max": None, "avg": None,
            "first": None, "last": None,
        }  # fmt: skip

    @given(
        parts=st.lists(
            st.lists(st.integers(-1000, 1000), max_size=10),
            min_size=1,
            max_size=5,
        )
    )
    def test_merged_parts_equal_one_tally(
        self, parts: list[list[int]]
    ) -> None:
        for name in FUNCTIONS:
            measure = Measure(name, None if name == "count" else "x")
            whole = measure.tally()
            merged = measure.tally()
            for part in parts:
                piece = measure.tally()
                for x in part:
                    whole.add({"x": x})
                    piece.add({"x": x})
                merged.merge(piece)
            assert whole.value == merged.value, name


def _hms(when: float) -> str:
    moment = datetime.fromtimestamp(when, timezone.utc)
    day = datetime.fromtimestamp(T0, timezone.utc).day
    later = "+1" if moment.day != day else ""
    return moment.strftime("%H:%M:%S") + later


def test_period_is_a_half_open_range() -> None:
    period = Period(10.0, 20.0)
    assert 10.0 in period
    assert 19.999 in period
    assert 20.0 not in period
    assert "15" not in period


class TestDigest:
    MEASURES = {  # noqa: RUF012 - read only
        "trades": Measure("count"),
        "volume": Measure("sum", "amount"),
        "worst": Measure("min", "pnl"),
    }

    def digest(self, **options: Any) -> Digest:
        return Digest(self.MEASURES, 3600, group_by="agent", **options)

    def test_a_period_closes_once_its_grace_is_past(self) -> None:
        digest = self.digest(grace=2)
        hour = period_of(T0, 3600)
        digest.add(T0, {"agent": "b", "amount": 10, "pnl": -1})
        digest.add(T0 + 1, {"agent": "a", "amount": 5, "pnl": 2})
        digest.add(T0 + 2, {"agent": "b", "amount": "1,000", "pnl": -4})
        assert [] == digest.close_due(hour.end + 1.9)
        assert hour.end + 2 == digest.next_due()
        (closed,) = digest.close_due(hour.end + 2)
        assert closed == Closed(
            hour,
            [
                ("a", {"trades": 1, "volume": 5, "worst": 2}),
                ("b", {"trades": 2, "volume": 1010, "worst": -4}),
            ],
            {"trades": 3, "volume": 1015, "worst": -4},
            3,
        )
        assert [] == digest.close_due(hour.end + 3600 * 5)
        assert digest.next_due() is None

    def test_an_event_counts_in_the_period_of_its_own_time(self) -> None:
        digest = self.digest()
        hour = period_of(T0, 3600)
        digest.add(hour.end + 10, {"agent": "a"})  # the next hour's
        digest.add(T0, {"agent": "a"})  # read late, but this hour's
        first, second = digest.close_all()
        assert (first.period, first.events) == (hour, 1)
        assert (second.period.start, second.events) == (hour.end, 1)

    def test_an_event_for_a_closed_period_is_late_and_nothing_else(
        self,
    ) -> None:
        digest = self.digest()
        hour = period_of(T0, 3600)
        digest.add(T0, {"agent": "a"})
        digest.close_due(hour.end + 5)
        digest.add(T0 + 60, {"agent": "a"})
        assert 1 == digest.late
        assert [] == digest.close_all()

    def test_groups_past_the_limit_go_to_others_and_are_counted(
        self,
    ) -> None:
        digest = self.digest(limit=2)
        for agent in ["c", "a", "b", "d", "b", "e"]:
            digest.add(T0, {"agent": agent, "amount": 1})
        (closed,) = digest.close_all()
        assert [("a", 1), ("c", 1), (OTHERS, 4)] == [
            (key, measures["trades"]) for key, measures in closed.groups
        ]
        assert 4 == closed.crowded
        assert 6 == closed.total["trades"] == closed.events

    def test_without_group_by_one_group(self) -> None:
        digest = Digest(self.MEASURES, 300)
        digest.add(T0, {"agent": "a", "amount": 2})
        digest.add(T0, {"amount": 3})
        (closed,) = digest.close_all()
        assert [("", {"trades": 2, "volume": 5, "worst": None})] == (
            closed.groups
        )

    @given(
        events=st.lists(
            st.tuples(
                st.floats(0, 3 * 3600, allow_nan=False),
                st.sampled_from(["a", "b", "c", None]),
                st.integers(-100, 100),
            ),
            max_size=60,
        )
    )
    def test_every_event_is_counted_exactly_once(
        self, events: list[tuple[float, str | None, int]]
    ) -> None:
        digest = self.digest(limit=2)
        for offset, agent, amount in events:
            digest.add(T0 + offset, {"agent": agent, "amount": amount})
        closed = digest.close_all()
        assert len(events) == sum(c.events for c in closed)
        assert len(events) == sum(c.total["trades"] for c in closed)
        assert sum(a for *_, a in events) == sum(
            c.total["volume"] for c in closed
        )
        starts = [c.period.start for c in closed]
        assert starts == sorted(set(starts))


class TestWhatTheMutantsShowed:
    """Cases the first mutation run found untested."""

    def test_check_every_says_why(self) -> None:
        assert "must be at most a day (1d), or a week (1w)" == check_every(
            2 * DAY
        )
        assert check_every(7 * 60) == (
            "must divide a day evenly (e.g. 1s, 5m, 15m, 1h, 6h, 1d), so "
            "that periods start at the same times every day"
        )

    def test_periods_do_not_depend_on_the_machine_s_time_zone(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        new_york = ZoneInfo("America/New_York")
        expected = [
            period_of(T0, every, zone)
            for every in (3600, DAY, WEEK)
            for zone in (timezone.utc, new_york)
        ]
        monkeypatch.setenv("TZ", "Asia/Kolkata")  # +05:30
        time.tzset()
        try:
            seen = [
                period_of(T0, every, zone)
                for every in (3600, DAY, WEEK)
                for zone in (timezone.utc, new_york)
            ]
        finally:
            monkeypatch.undo()
            time.tzset()
        assert expected == seen

    def test_a_digest_s_days_start_at_its_zone_s_midnight(self) -> None:
        new_york = ZoneInfo("America/New_York")
        digest = Digest({"n": Measure("count")}, DAY, zone=new_york)
        digest.add(T0, {})
        (closed,) = digest.close_all()
        start = datetime.fromtimestamp(closed.period.start, new_york)
        assert (start.hour, start.minute) == (0, 0)

    def test_the_default_grace_is_two_seconds(self) -> None:
        digest = Digest({"n": Measure("count")}, 60)
        digest.add(T0, {})
        end = period_of(T0, 60).end
        assert [] == digest.close_due(end + 1.9)
        assert 1 == len(digest.close_due(end + 2))

    def test_an_event_without_the_group_field_is_in_the_empty_group(
        self,
    ) -> None:
        digest = Digest({"n": Measure("count")}, 60, group_by="agent")
        digest.add(T0, {"agent": None})
        digest.add(T0, {})
        (closed,) = digest.close_all()
        assert [("", {"n": 2})] == closed.groups

    def test_a_recovery_under_a_second_is_told_as_it_is(self) -> None:
        watch = Silence(0.25, started=T0)
        watch.seen("a", T0)
        watch.due(T0 + 0.5)
        assert Recovery("a", 0.75) == watch.seen("a", T0 + 0.75)

    def test_a_field_by_a_dotted_path(self) -> None:
        tally = parse_measure("sum(position.size)").tally()
        tally.add({"position": {"size": 3}})
        tally.add({"position": {"size": "4"}})
        tally.add({"position": 5})  # not a mapping: skipped
        tally.add({"position.size": 10})  # a field named so wins
        assert (17, 1) == (tally.value, tally.skipped)

    def test_a_mistake_lists_every_function(self) -> None:
        with pytest.raises(ValueError, match="not a measure") as raised:
            parse_measure("total")
        assert str(raised.value) == (
            "not a measure (use count, or sum(FIELD), min(FIELD), "
            "max(FIELD), avg(FIELD), first(FIELD), last(FIELD))"
        )

    def test_merging_adds_what_was_skipped(self) -> None:
        one, two = (Measure("sum", "x").tally() for _ in range(2))
        one.add({})
        two.add({"x": None})
        two.add({"x": 2})
        one.merge(two)
        assert (2, 2) == (one.value, one.skipped)
