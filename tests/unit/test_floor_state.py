"""The floor's state: the spec's values, the reducer and the state."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Mapping
from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jinja2 import ChainableUndefined

from polybot_loghandler._events import LogEvent
from polybot_loghandler._floor.model import (
    Rule,
    StateSpec,
    TableSpec,
    TotalSpec,
    period_label,
)
from polybot_loghandler._floor.reduce import (
    MAX_EACH,
    RowChange,
    SumsChange,
    step,
)
from polybot_loghandler._floor.state import FloorState
from polybot_loghandler._floor.values import (
    MAX_DEPTH,
    MAX_ITEMS,
    MAX_TEXT,
    ValueFailed,
    compile_value,
    number,
    stored,
)
from polybot_loghandler._matching import Matcher, field_check
from polybot_loghandler._templates import TemplateProblem, compile_expression
from tests.support.floor import match, sets

pytestmark = pytest.mark.filterwarnings(
    "ignore:mypy_extensions.TypedDict is deprecated:DeprecationWarning"
)

UTC = timezone.utc
NEW_YORK = ZoneInfo("America/New_York")
TOKYO = ZoneInfo("Asia/Tokyo")

v = compile_value


def at(iso: str) -> float:
    """Epoch seconds of a UTC time written ``2026-02-01T12:00``."""
    return datetime.fromisoformat(iso).replace(tzinfo=UTC).timestamp()


T0 = at("2026-02-01T12:00")  # a Sunday


def ev(event: str, t: float = T0, **fields: Any) -> LogEvent:
    return LogEvent(
        event=event,
        level=logging.INFO,
        logger="floor",
        time=t,
        fields=fields,
    )


AGENTS = TableSpec(
    name="agents",
    key=v("{{ agent }}"),
    rules=(
        Rule(
            matcher=match("agent_started"),
            set=sets(
                status="running",
                mode="{{ mode }}",
                capital="{{ capital }}",
                since="{{ time }}",
            ),
        ),
        Rule(
            matcher=match("agent_stopped"),
            set=sets(status="stopped", reason="{{ reason }}"),
        ),
    ),
)
POSITIONS = TableSpec(
    name="positions",
    key=v("{{ agent }} {{ market }}"),
    rules=(
        Rule(
            matcher=match("position_opened"),
            set=sets(
                agent="{{ agent }}",
                market="{{ market }}",
                side="{{ side }}",
                entry_price="{{ entry_price }}",
                size="{{ size }}",
                opened="{{ time }}",
            ),
        ),
        Rule(matcher=match("position_closed"), remove=True),
    ),
)
HEALTH = TableSpec(
    name="health",
    key=v("{{ item.key }}"),
    each="components",
    rules=(
        Rule(
            matcher=match("health_check"),
            set=sets(
                ok="{{ item.value.ok if item.value is mapping"
                " else item.value }}",
                at="{{ time }}",
            ),
        ),
    ),
)
PNL = TotalSpec(
    name="pnl",
    periods=("day", "week", "all"),
    rules=(
        Rule(
            matcher=match("position_closed"),
            add=sets(
                realised="{{ pnl }}",
                closed=1,
                wins="{{ 1 if pnl > 0 else 0 }}",
            ),
        ),
        Rule(
            matcher=match("trade_executed"),
            add=sets(trades=1, fees="{{ fees }}"),
        ),
    ),
)
FLOOR = StateSpec(tables=(AGENTS, POSITIONS, HEALTH), totals=(PNL,))


def feed(spec: StateSpec, *events: LogEvent) -> FloorState:
    state = FloorState(spec)
    for event in events:
        state.feed(event)
    return state


def public(rows: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Rows without ``_key``, ``_created`` and ``_updated``."""
    return {
        key: {n: x for n, x in row.items() if not n.startswith("_")}
        for key, row in rows.items()
    }


# values


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (3, 3),
        (2.5, 2.5),
        (True, True),
        (None, None),
        ("running", "running"),
        ("{{ capital }}", 1000.5),
        ("  {{ capital }}\n", 1000.5),
        ("{{ count }}", 3),
        ("{{ markets }}", ["BTC-100K", "ETH-5K"]),
        ("{{ config }}", {"risk": 0.02, "nested": {"a": [1, 2]}}),
        ("{{ time }}", T0),
        ("{{ paper }}", True),
        ("{{ nothing }}", None),
        ("{{ capital * 2 }}", 2001.0),
        ("{{ agent }}-{{ mode }}", "alpha-paper"),
        ("x {{ capital }}", "x 1000.5"),
        ("{{ capital }} {{ count }}", "1000.5 3"),
        ("{{ agent | upper }}", "ALPHA"),
        ("{% if paper %}paper{% else %}live{% endif %}", "paper"),
        ("{{ '}}' }}", "}}"),
    ],
)
def test_values_are_native_for_a_lone_expression(
    source: object, expected: object
) -> None:
    event = ev(
        "agent_started",
        agent="alpha",
        mode="paper",
        capital=1000.5,
        count=3,
        markets=["BTC-100K", "ETH-5K"],
        config={"risk": 0.02, "nested": {"a": (1, 2)}},
        paper=True,
        nothing=None,
    )
    assert stored(v(source).value(event.context())) == expected


@pytest.mark.parametrize(
    "source",
    [
        "{{ missing }}",
        "{{ missing.deeper }}",
        "{{ missing > 0 }}",
        "{{ 1 / 0 }}",
        "{{ agent }}-{{ missing }}",
        "{{ agent.__class__ }}",
    ],
)
def test_a_value_that_fails_raises_value_failed(source: str) -> None:
    with pytest.raises(ValueFailed):
        v(source).value(ev("e", agent="a").context())


@pytest.mark.parametrize(
    ("source", "lineno"),
    [
        ("{{ x +", 1),
        ("{{ x | no_such_filter }}", 1),
        ("a\nb {{ x | no_such_filter }}", 2),
        ("{% if x %}", 1),
        ([1, 2], 1),
        ({"a": 1}, 1),
    ],
)
def test_a_template_that_does_not_compile_is_a_template_problem(
    source: object, lineno: int
) -> None:
    with pytest.raises(TemplateProblem) as caught:
        compile_value(source)
    assert caught.value.lineno == lineno


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("text", "text"),
        (7, 7),
        (2**60, float(2**60)),
        (float("nan"), "nan"),
        (float("inf"), "inf"),
        (True, True),
        (ChainableUndefined(), None),
        (datetime(2026, 2, 1, 12, tzinfo=UTC), T0),
        (datetime(2026, 2, 1, 21, tzinfo=TOKYO), T0),
        (datetime(2026, 2, 1, 12), T0),  # noqa: DTZ001 - naive: as UTC
        ((1, "a"), [1, "a"]),
        ({1: "a", None: 2}, {"1": "a", "None": 2}),
        (object, "<class 'object'>"),
        ("x" * (MAX_TEXT + 5), "x" * (MAX_TEXT - 1) + "…"),
        (list(range(MAX_ITEMS + 5)), list(range(MAX_ITEMS))),
    ],
)
def test_stored_values_are_json_safe(value: object, expected: object) -> None:
    assert stored(value) == expected


def test_stored_values_stop_at_max_depth() -> None:
    deep: Any = "leaf"
    for _ in range(MAX_DEPTH + 3):
        deep = [deep]
    found = stored(deep)
    for _ in range(MAX_DEPTH):
        found = found[0]
    assert isinstance(found, str)
    assert stored(10**5000).startswith("<int of")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1, 1),
        (-2.5, -2.5),
        (2**60, float(2**60)),
        (True, None),
        ("2.5", None),
        (None, None),
        (float("nan"), None),
        (float("-inf"), None),
        (10**400, None),
        ([1], None),
    ],
)
def test_numbers_for_totals(value: object, expected: object) -> None:
    assert number(value) == expected


# tables


def started(agent: str, t: float = T0, **more: Any) -> LogEvent:
    fields = {"agent": agent, "mode": "paper", "capital": 100.0, **more}
    return ev("agent_started", t, **fields)


def opened(agent: str, market: str, t: float = T0) -> LogEvent:
    return ev(
        "position_opened",
        t,
        agent=agent,
        market=market,
        side="YES",
        entry_price=0.5,
        size=10.0,
    )


def closed(agent: str, market: str, pnl: Any = 1.0, t: float = T0) -> LogEvent:
    return ev("position_closed", t, agent=agent, market=market, pnl=pnl)


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        pytest.param(
            [started("a")],
            {"a": {"status": "running", "mode": "paper", "capital": 100.0}},
            id="set creates",
        ),
        pytest.param(
            [started("a"), ev("agent_stopped", agent="a", reason="manual")],
            {
                "a": {
                    "status": "stopped",
                    "mode": "paper",
                    "capital": 100.0,
                    "reason": "manual",
                }
            },
            id="set merges into the row",
        ),
        pytest.param(
            [ev("agent_stopped", agent="b", reason="crash")],
            {"b": {"status": "stopped", "reason": "crash"}},
            id="set without a row makes one",
        ),
        pytest.param(
            [started("a"), started("a", mode="live", capital=5)],
            {"a": {"status": "running", "mode": "live", "capital": 5}},
            id="set overwrites",
        ),
        pytest.param(
            [started("a"), ev("heartbeat", agent="a")],
            {"a": {"status": "running", "mode": "paper", "capital": 100.0}},
            id="no rule, no change",
        ),
    ],
)
def test_set_creates_and_merges_rows(
    events: list[LogEvent], expected: dict[str, Any]
) -> None:
    rows = feed(FLOOR, *events).tables["agents"]
    found = public(rows)
    for row in found.values():
        row.pop("since", None)
    assert found == expected


def test_a_row_has_its_key_and_times() -> None:
    stopped = ev("agent_stopped", T0 + 5, agent="a", reason="r")
    state = feed(FLOOR, started("a", T0), stopped)
    row = state.tables["agents"]["a"]
    assert (row["_key"], row["_created"], row["_updated"]) == ("a", T0, T0 + 5)
    assert row["since"] == T0


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        ([opened("a", "m1")], {"a m1"}),
        ([opened("a", "m1"), closed("a", "m1")], set()),
        ([opened("a", "m1"), closed("a", "m2")], {"a m1"}),
        ([closed("a", "m1")], set()),
        ([opened("a", "m1"), closed("a", "m1"), opened("a", "m1")], {"a m1"}),
    ],
)
def test_remove_takes_the_row_out(
    events: list[LogEvent], expected: set[str]
) -> None:
    assert set(feed(FLOOR, *events).tables["positions"]) == expected


def test_the_first_rule_whose_match_holds_applies() -> None:
    table = TableSpec(
        name="t",
        key=v("{{ agent }}"),
        rules=(
            Rule(matcher=match("x", min_level=logging.ERROR), set=sets(r=1)),
            Rule(matcher=match("x"), set=sets(r=2)),
            Rule(matcher=match("x"), set=sets(r=3)),
        ),
    )
    state = feed(StateSpec(tables=(table,)), ev("x", agent="a"))
    assert public(state.tables["t"]) == {"a": {"r": 2}}


def rule(*events: str, go_on: bool = False, **values: object) -> Rule:
    return Rule(matcher=match(*events), set=sets(**values), continue_=go_on)


SEEN = Rule(
    matcher=Matcher(fields=(("agent", field_check("exists", True)),)),
    set=sets(last_seen="{{ time }}"),
    continue_=True,
)
AGENTS_SEEN = TableSpec(
    name="agents", key=AGENTS.key, rules=(SEEN, *AGENTS.rules)
)


def test_continue_lets_a_catch_all_rule_come_first() -> None:
    state = feed(
        StateSpec(tables=(AGENTS_SEEN,)),
        started("a", T0),
        ev("heartbeat", T0 + 5, agent="a"),
        ev("agent_stopped", T0 + 9, agent="a", reason="manual"),
        ev("heartbeat", T0 + 9, agent="b"),
        ev("heartbeat", T0 + 9),  # no agent: no rule applies
    )
    assert public(state.tables["agents"]) == {
        "a": {
            "last_seen": T0 + 9,
            "status": "stopped",
            "mode": "paper",
            "capital": 100.0,
            "since": T0,
            "reason": "manual",
        },
        "b": {"last_seen": T0 + 9},
    }
    assert not state.errors


@pytest.mark.parametrize(
    ("rules", "expected"),
    [
        pytest.param(
            [rule("x", a=1), rule("x", b=2)],
            {"z": 0, "a": 1},
            id="first only",
        ),
        pytest.param(
            [rule("x", go_on=True, a=1), rule("x", b=2), rule("x", c=3)],
            {"z": 0, "a": 1, "b": 2},
            id="continue: the next that matches, then stop",
        ),
        pytest.param(
            [rule("x", go_on=True, a=1), rule("y", b=2), rule("x", c=3)],
            {"z": 0, "a": 1, "c": 3},
            id="a rule that does not match is skipped",
        ),
        pytest.param(
            [
                rule("x", go_on=True, a=1),
                rule("x", go_on=True, a=2, b=2),
                rule("x", c=3),
            ],
            {"z": 0, "a": 2, "b": 2, "c": 3},
            id="later values win",
        ),
        pytest.param(
            [rule("x", go_on=True, a=1)],
            {"z": 0, "a": 1},
            id="nothing after",
        ),
        pytest.param(
            [
                rule("x", go_on=True, a=1),
                Rule(matcher=match("x"), remove=True),
            ],
            None,
            id="set, then remove",
        ),
        pytest.param(
            [
                Rule(matcher=match("x"), remove=True, continue_=True),
                rule("x", b=2),
            ],
            {"b": 2},
            id="remove, then set anew",
        ),
    ],
)
def test_continue_applies_the_next_matching_rule_too(
    rules: list[Rule], expected: dict[str, Any] | None
) -> None:
    table = TableSpec(name="t", key=v("{{ agent }}"), rules=tuple(rules))
    state = FloorState(StateSpec(tables=(table,)))
    row = {"_key": "a", "_created": T0, "_updated": T0, "z": 0}
    state.apply([RowChange("t", "a", row)])  # a row from before
    state.feed(ev("x", T0 + 1, agent="a"))
    assert public(state.tables["t"]).get("a") == expected


def test_continue_sets_one_row_per_item_of_each() -> None:
    health = TableSpec(
        name="health",
        key=HEALTH.key,
        each="components",
        rules=(
            Rule(
                matcher=match("health_check"),
                set=sets(seen="{{ time }}"),
                continue_=True,
            ),
            Rule(
                matcher=match("health_check"),
                set=sets(ok="{{ item.value }}"),
            ),
        ),
    )
    state = feed(
        StateSpec(tables=(health,)),
        ev("health_check", components={"db": True, "redis": False}),
    )
    assert public(state.tables["health"]) == {
        "db": {"seen": T0, "ok": True},
        "redis": {"seen": T0, "ok": False},
    }


def test_continue_adds_every_applying_rule_to_a_total_once() -> None:
    total = TotalSpec(
        name="flow",
        periods=("all",),
        rules=(
            Rule(matcher=Matcher(), add=sets(events=1), continue_=True),
            Rule(
                matcher=match("trade_executed"),
                add=sets(events=1, trades=1),
                continue_=True,
            ),
            Rule(matcher=match("trade_executed"), add=sets(volume=2.5)),
            Rule(matcher=match("trade_executed"), add=sets(never=1)),
        ),
    )
    spec = StateSpec(totals=(total,))
    state = feed(spec, ev("trade_executed"), ev("heartbeat"))
    assert state.totals["flow"]["all"] == {
        "all": {"events": 3, "trades": 1, "volume": 2.5, "never": 0}
    }
    done = step(spec, state, ev("trade_executed"))
    assert done.changes == (
        SumsChange(
            "flow",
            "all",
            "all",
            {"events": 5, "trades": 2, "volume": 5.0, "never": 0},
        ),
    )


def test_continue_sums_that_overflow_are_counted() -> None:
    total = TotalSpec(
        name="t",
        periods=("all",),
        rules=(
            Rule(matcher=match("x"), add=sets(n=1e308), continue_=True),
            Rule(matcher=match("x"), add=sets(n=1e308)),
        ),
    )
    state = feed(StateSpec(totals=(total,)), ev("x"))
    assert state.errors == {"t.n: overflow": 1}
    assert state.totals["t"]["all"] == {"all": {"n": 1e308}}


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        pytest.param(
            [ev("agent_started", agent="a")],
            {"status": "running", "mode": None, "capital": None},
            id="a field missing",
        ),
        pytest.param(
            [started("a"), ev("agent_stopped", agent="a")],
            {
                "status": "stopped",
                "mode": "paper",
                "capital": 100.0,
                "reason": None,
            },
            id="a missing field overwrites with None",
        ),
    ],
)
def test_a_missing_value_is_set_as_none(
    events: list[LogEvent], expected: dict[str, Any]
) -> None:
    state = feed(FLOOR, *events)
    row = public(state.tables["agents"])["a"]
    row.pop("since")
    assert row == expected
    assert not state.errors


@pytest.mark.parametrize(
    ("source", "fields", "expected"),
    [
        ("{{ config.risk }}", {"config": {}}, None),
        ("{{ config.risk }}", {"config": {"risk": 0.1}}, 0.1),
        ("{{ item.value.ok }}", {"item": {"value": True}}, None),
        ("{{ agent }}-{{ mode }}", {"agent": "a"}, None),
        ("{{ mode or 'paper' }}", {}, "paper"),
        ("{% if mode %}{{ mode }}{% endif %}", {}, ""),
    ],
)
def test_an_undefined_name_in_set_is_none(
    source: str, fields: dict[str, Any], expected: object
) -> None:
    table = TableSpec(
        name="t",
        key=v("k"),
        rules=(Rule(matcher=match("x"), set=sets(value=source)),),
    )
    state = feed(StateSpec(tables=(table,)), ev("x", **fields))
    assert public(state.tables["t"]) == {"k": {"value": expected}}
    assert not state.errors


@pytest.mark.parametrize(
    "source",
    [
        "{{ 1 / 0 }}",
        "{{ pnl > 0 }}",  # an operation on an undefined name is an error
        "{{ agent | round }}",
        "{{ agent | first(x=1) }}",
    ],
)
def test_an_error_in_a_value_leaves_the_row_alone(source: str) -> None:
    table = TableSpec(
        name="t",
        key=v("{{ agent }}"),
        rules=(
            Rule(matcher=match("start"), set=sets(status="on")),
            Rule(matcher=match("x"), set=sets(status="off", value=source)),
        ),
    )
    state = feed(
        StateSpec(tables=(table,)), ev("start", agent="a"), ev("x", agent="a")
    )
    assert public(state.tables["t"]) == {"a": {"status": "on"}}
    assert state.errors == {"t.value: failed": 1}


def test_a_missing_key_or_add_value_still_fails() -> None:
    state = feed(
        FLOOR,
        ev("agent_started", mode="paper"),
        ev("position_closed", agent="a", market="m"),
    )
    assert state.tables["agents"] == {}
    assert state.errors == {
        "agents: key failed": 1,
        "pnl.realised: failed": 1,
        "pnl.wins: failed": 1,
    }
    assert totals(state, "all")["all"]["closed"] == 1


@pytest.mark.parametrize(
    ("components", "expected"),
    [
        pytest.param(
            {"db": {"ok": True, "latency_ms": 3}, "redis": False},
            {"db": {"ok": True}, "redis": {"ok": False}},
            id="mapping, both shapes",
        ),
        pytest.param(
            [True, {"ok": False}],
            {"0": {"ok": True}, "1": {"ok": False}},
            id="list: the key is the index",
        ),
        pytest.param("db", {}, id="not a container"),
        pytest.param(None, {}, id="null"),
    ],
)
def test_each_makes_a_row_per_item(
    components: Any, expected: dict[str, Any]
) -> None:
    state = feed(FLOOR, ev("health_check", components=components))
    found = public(state.tables["health"])
    for row in found.values():
        assert row.pop("at") == T0
    assert found == expected
    assert not state.errors


def test_each_without_the_field_changes_nothing() -> None:
    state = feed(FLOOR, ev("health_check"))
    assert state.tables["health"] == {}
    assert not state.errors


def test_each_takes_at_most_max_each_items() -> None:
    components = {f"c{n:03d}": True for n in range(MAX_EACH + 20)}
    state = feed(FLOOR, ev("health_check", components=components))
    assert len(state.tables["health"]) == MAX_EACH
    assert state.errors == {"health: too many items": 1}


def test_keep_drops_the_least_recently_updated_row() -> None:
    spec = StateSpec(tables=(AGENTS_KEEP_3,))
    state = feed(
        spec,
        started("a", T0 + 1),
        started("b", T0 + 2),
        started("c", T0 + 3),
        ev("agent_stopped", T0 + 4, agent="a", reason="r"),  # a is fresh
        started("d", T0 + 5),  # b goes
        started("e", T0 + 6),  # c goes
    )
    assert list(state.tables["agents"]) == ["a", "d", "e"]
    assert state.errors == {"agents: evicted": 2}


AGENTS_KEEP_3 = TableSpec(
    name=AGENTS.name, key=AGENTS.key, keep=3, rules=AGENTS.rules
)


def test_keep_holds_within_one_event() -> None:
    health = TableSpec(
        name="health", key=HEALTH.key, each="components", keep=2,
        rules=HEALTH.rules,
    )  # fmt: skip
    components = {"a": True, "b": True, "c": True, "d": True}
    state = feed(
        StateSpec(tables=(health,)), ev("health_check", components=components)
    )
    assert list(state.tables["health"]) == ["c", "d"]
    assert state.errors == {"health: evicted": 2}


# totals


def totals(state: FloorState, period: str) -> dict[str, dict[str, float]]:
    return state.totals["pnl"][period]


def test_totals_sum_per_day_week_and_all() -> None:
    state = feed(
        FLOOR,
        closed("a", "m", 12.5),
        closed("a", "m", -2.25),
        ev("trade_executed", fees=0.5),
        ev("trade_executed", fees=0.25),
    )
    expected = {
        "realised": 10.25,
        "closed": 2,
        "wins": 1,
        "trades": 2,
        "fees": 0.75,
    }
    assert totals(state, "day") == {"2026-02-01": expected}
    assert totals(state, "week") == {"2026-W05": expected}
    assert totals(state, "all") == {"all": expected}


def test_a_new_period_starts_every_measure_at_zero() -> None:
    state = feed(FLOOR, ev("trade_executed", fees=0.5))
    assert totals(state, "day")["2026-02-01"] == {
        "realised": 0,
        "closed": 0,
        "wins": 0,
        "trades": 1,
        "fees": 0.5,
    }


@pytest.mark.parametrize(
    ("when", "zone", "day", "week"),
    [
        ("2026-02-01T03:00", UTC, "2026-02-01", "2026-W05"),
        ("2026-02-01T03:00", NEW_YORK, "2026-01-31", "2026-W05"),
        ("2026-02-02T03:00", NEW_YORK, "2026-02-01", "2026-W05"),
        ("2026-02-01T16:00", TOKYO, "2026-02-02", "2026-W06"),
        ("2026-01-31T20:00", TOKYO, "2026-02-01", "2026-W05"),
        # ISO weeks at a year's end
        ("2025-12-29T12:00", UTC, "2025-12-29", "2026-W01"),
        ("2027-01-01T12:00", UTC, "2027-01-01", "2026-W53"),
        ("2021-01-03T12:00", UTC, "2021-01-03", "2020-W53"),
        ("2021-01-03T16:00", TOKYO, "2021-01-04", "2021-W01"),
        ("2026-01-01T02:00", NEW_YORK, "2025-12-31", "2026-W01"),
    ],
)
def test_periods_are_counted_in_the_zone(
    when: str, zone: Any, day: str, week: str
) -> None:
    t = at(when)
    assert period_label("day", t, zone) == day
    assert period_label("week", t, zone) == week
    spec = StateSpec(zone=zone, zone_name=str(zone), totals=(PNL,))
    state = feed(spec, closed("a", "m", 1.0, t))
    assert list(totals(state, "day")) == [day]
    assert list(totals(state, "week")) == [week]


def day_of(iso: str) -> LogEvent:
    return closed("a", "m", 1.0, at(iso + "T12:00"))


@pytest.mark.parametrize(
    ("days", "kept", "late"),
    [
        (["2026-02-01", "2026-02-02"], ["2026-02-01", "2026-02-02"], 0),
        (["2026-02-01", "2026-02-02", "2026-02-03"], ["02", "03"], 0),
        (["2026-02-01", "2026-02-05"], ["05"], 0),
        (["2026-02-03", "2026-02-02"], ["02", "03"], 0),
        (["2026-02-03", "2026-02-01"], ["03"], 1),
        (
            ["2026-02-01", "2026-02-03", "2026-02-02", "2026-01-30"],
            ["02", "03"],
            1,
        ),
    ],
)
def test_only_the_current_and_previous_day_are_kept(
    days: list[str], kept: list[str], late: int
) -> None:
    state = feed(FLOOR, *(day_of(d) for d in days))
    found = sorted(totals(state, "day"))
    assert [d[-2:] for d in found] == [k[-2:] for k in kept]
    assert state.errors["pnl.day: late"] == late
    # a day too late still counts in its week and in all time
    assert totals(state, "all")["all"]["closed"] == len(days)


def test_weeks_are_pruned_and_late_like_days() -> None:
    state = feed(
        FLOOR,
        day_of("2025-12-22"),  # 2025-W52
        day_of("2025-12-29"),  # 2026-W01
        day_of("2026-01-05"),  # 2026-W02: W52 goes
        day_of("2025-12-24"),  # W52 again: late
    )
    assert sorted(totals(state, "week")) == ["2026-W01", "2026-W02"]
    assert state.errors["pnl.week: late"] == 1


def test_pruning_is_a_change_a_store_can_apply() -> None:
    state = feed(FLOOR, day_of("2026-02-01"), day_of("2026-02-02"))
    done = step(FLOOR, state, day_of("2026-02-03"))
    assert SumsChange("pnl", "day", "2026-02-01", None) in done.changes


# errors


AGENTS_WHEN = TableSpec(
    name="agents",
    key=v("{{ agent }}"),
    rules=(
        Rule(
            matcher=match("agent_started", when=compile_expression("1 / 0")),
            set=sets(status="never"),
        ),
        Rule(matcher=match("agent_started"), set=sets(status="running")),
    ),
)


WHEN_FAILS = StateSpec(tables=(AGENTS_WHEN,))
FAILING_SET = StateSpec(
    tables=(
        TableSpec(
            name="agents",
            key=v("{{ agent }}"),
            rules=(
                Rule(
                    matcher=match("agent_started"),
                    set=sets(ratio="{{ capital / 0 }}"),
                ),
            ),
        ),
    )
)
IN_TOKYO = StateSpec(zone=TOKYO, zone_name="Asia/Tokyo", totals=(PNL,))
LAST_HOUR = at("9999-12-31T23:00")  # Tokyo is in the year 10000


class FlakyMapping(Mapping[str, Any]):
    """A mapping whose items() works once (for redaction), then raises."""

    def __init__(self) -> None:
        self.calls = 0

    def __getitem__(self, key: str) -> Any:
        return True

    def __iter__(self) -> Iterator[str]:
        return iter(["x"])

    def __len__(self) -> int:
        return 1

    def items(self) -> Any:
        self.calls += 1
        if self.calls > 1:
            raise RuntimeError
        return super().items()


@pytest.mark.parametrize(
    ("spec", "event", "reason"),
    [
        (FLOOR, ev("agent_started", mode="paper"), "agents: key failed"),
        (FLOOR, started(""), "agents: key empty"),
        (FLOOR, started(None), "agents: key empty"),
        (FAILING_SET, started("a"), "agents.ratio: failed"),
        (FLOOR, ev("position_opened", agent="a"), "positions: key failed"),
        (
            FLOOR,
            ev("health_check", components=dict.fromkeys(range(MAX_EACH + 1))),
            "health: too many items",
        ),
        (
            FLOOR,
            ev("health_check", components=FlakyMapping()),
            "health: each failed",
        ),
        (FLOOR, closed("a", "m", "2.5"), "pnl.realised: not a number"),
        (FLOOR, closed("a", "m", float("nan")), "pnl.realised: not a number"),
        (FLOOR, closed("a", "m", True), "pnl.realised: not a number"),
        (FLOOR, ev("position_closed"), "pnl.realised: failed"),
        (FLOOR, ev("trade_executed"), "pnl.fees: failed"),
        (FLOOR, ev("agent_started", float("nan"), agent="a"), "time failed"),
        (FLOOR, ev("agent_started", 1e20, agent="a"), "time failed"),
        (IN_TOKYO, closed("a", "m", 1.0, LAST_HOUR), "pnl: time failed"),
        (WHEN_FAILS, started("a"), "agents: match failed"),
    ],
)
def test_what_fails_is_counted(
    spec: StateSpec, event: LogEvent, reason: str
) -> None:
    state = feed(spec, event)
    assert reason in state.errors


def test_evicted_late_overflow_and_event_failed_are_counted() -> None:
    state = feed(
        StateSpec(tables=(AGENTS_KEEP_3,), totals=(PNL,)),
        *(started(a) for a in "abcd"),
        day_of("2026-02-05"),
        day_of("2026-02-01"),
        closed("a", "m", 1e308, at("2026-02-05T13:00")),
        closed("a", "m", 1e308, at("2026-02-05T14:00")),
    )
    assert state.errors["agents: evicted"] == 1
    assert state.errors["pnl.day: late"] == 1
    assert state.errors["pnl.realised: overflow"] == 3  # day, week, all
    assert math.isfinite(totals(state, "all")["all"]["realised"])
    hostile = LogEvent(event="x", level=logging.INFO, time="soon")  # type: ignore[arg-type]
    assert step(FLOOR, state, hostile).problems == ("event failed",)


def test_hostile_fields_are_cut_and_kept_apart() -> None:
    deep: Any = 1
    for _ in range(5000):
        deep = [deep]
    huge = "\x00\x1b[31m" + "x" * 1_000_000
    fields: dict[Any, Any] = {
        "agent": huge,
        "mode": deep,
        "capital": float("inf"),
        7: "a key that is not text",
    }
    event = LogEvent(
        event="agent_started", level=logging.INFO, time=T0, fields=fields
    )
    state = feed(FLOOR, event)
    [(key, row)] = state.tables["agents"].items()
    assert key == huge[:200]
    assert row["capital"] == "inf"
    assert len(str(row["mode"])) < 100
    assert not state.errors


# the floor, scripted


def test_a_scripted_floor() -> None:
    day = at("2026-02-01T09:00")
    state = feed(
        FLOOR,
        started("alpha", day, mode="paper", capital=1000.0),
        started("beta", day + 1, mode="live", capital=2500.0),
        started("gamma", day + 2, mode="paper", capital=500.0),
        ev("trade_executed", day + 10, agent="alpha", fees=0.12),
        ev("trade_executed", day + 11, agent="beta", fees=0.3),
        ev("trade_executed", day + 12, agent="alpha", fees=0.08),
        opened("alpha", "BTC-100K", day + 20),
        opened("beta", "ETH-5K", day + 21),
        closed("alpha", "BTC-100K", 42.17, day + 30),
        ev("agent_stopped", day + 40, agent="gamma", reason="drawdown"),
        ev("health_check", day + 50, components={"db": {"ok": True}}),
    )
    agents = public(state.tables["agents"])
    assert {k: r["status"] for k, r in agents.items()} == {
        "alpha": "running",
        "beta": "running",
        "gamma": "stopped",
    }
    assert agents["beta"] == {
        "status": "running",
        "mode": "live",
        "capital": 2500.0,
        "since": day + 1,
    }
    assert agents["gamma"]["reason"] == "drawdown"
    assert public(state.tables["positions"]) == {
        "beta ETH-5K": {
            "agent": "beta",
            "market": "ETH-5K",
            "side": "YES",
            "entry_price": 0.5,
            "size": 10.0,
            "opened": day + 21,
        }
    }
    health = public(state.tables["health"])
    assert health == {"db": {"ok": True, "at": day + 50}}
    today = totals(state, "day")["2026-02-01"]
    assert today == {
        "realised": 42.17,
        "closed": 1,
        "wins": 1,
        "trades": 3,
        "fees": pytest.approx(0.5),
    }
    assert totals(state, "all")["all"] == today
    assert not state.errors


def test_a_store_applying_the_changes_ends_up_the_same() -> None:
    state, store = FloorState(FLOOR), FloorState(FLOOR)
    for event in [
        started("a"),
        opened("a", "m"),
        ev("health_check", components=[True]),
        closed("a", "m", 3.0),
        day_of("2026-02-02"),
    ]:
        store.apply(step(FLOOR, store, event).changes)
        state.feed(event)
    assert (store.tables, store.totals) == (state.tables, state.totals)


def test_a_removal_is_a_change_only_when_there_is_a_row() -> None:
    state = feed(FLOOR, opened("a", "m"))
    gone = RowChange("positions", "a m", None)
    assert gone in step(FLOOR, state, closed("a", "m")).changes
    empty = step(FLOOR, FloorState(FLOOR), closed("a", "m"))
    assert not [c for c in empty.changes if isinstance(c, RowChange)]


# properties

CENTS = st.integers(min_value=-(10**8), max_value=10**8).map(lambda c: c / 100)


@settings(max_examples=150, deadline=None, database=None)
@given(
    pnls=st.lists(CENTS, max_size=40),
    seconds=st.lists(st.integers(0, 86_399), min_size=40, max_size=40),
)
def test_today_realised_is_the_sum_of_the_day(
    pnls: list[float], seconds: list[int]
) -> None:
    midnight = at("2026-02-01T00:00")
    state = feed(
        FLOOR,
        *(
            closed("a", "m", p, midnight + s)
            for p, s in zip(pnls, seconds, strict=False)
        ),
    )
    if not pnls:
        assert totals(state, "day") == {}
        return
    realised = totals(state, "day")["2026-02-01"]["realised"]
    assert abs(realised - math.fsum(pnls)) < 0.005


MOVES = st.lists(
    st.tuples(
        st.booleans(),
        st.sampled_from(["a", "b"]),
        st.sampled_from(["m1", "m2", "m3"]),
    ),
    max_size=60,
)


@settings(max_examples=150, deadline=None, database=None)
@given(moves=MOVES)
def test_positions_hold_what_was_opened_and_not_closed(
    moves: list[tuple[bool, str, str]],
) -> None:
    events = [
        opened(a, m, T0 + n) if is_open else closed(a, m, 1.0, T0 + n)
        for n, (is_open, a, m) in enumerate(moves)
    ]
    last: dict[str, bool] = {}
    for is_open, agent, market in moves:
        last[f"{agent} {market}"] = is_open
    state = feed(FLOOR, *events)
    expected = {key for key, is_open in last.items() if is_open}
    assert set(state.tables["positions"]) == expected


JSONISH = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(alphabet=st.characters(codec="utf-8"), max_size=50)
    | st.datetimes(),
    lambda inner: (
        st.lists(inner, max_size=5)
        | st.dictionaries(
            st.text(max_size=5) | st.integers(), inner, max_size=5
        )
    ),
    max_leaves=30,
)
FIELD_NAMES = st.sampled_from(
    [
        *("agent", "market", "mode", "capital", "pnl", "fees"),
        *("components", "reason", "time", "item", "fields"),
    ]
)


@settings(max_examples=120, deadline=None, database=None)
@given(
    name=st.sampled_from(
        [
            *("agent_started", "agent_stopped", "position_opened"),
            *("position_closed", "trade_executed", "health_check"),
        ]
    ),
    fields=st.dictionaries(FIELD_NAMES, JSONISH, max_size=8),
    t=st.floats(min_value=-1e12, max_value=1e12),
)
def test_the_reducer_never_raises(
    name: str, fields: dict[str, Any], t: float
) -> None:
    state = FloorState(FLOOR)
    state.feed(started("a"))
    state.feed(ev(name, t, **fields))
    state.feed(ev(name, T0, **fields))
    for rows in state.tables.values():
        for key, row in rows.items():
            assert isinstance(key, str)
            assert 0 < len(key) <= 200
            assert set(row) >= {"_key", "_created", "_updated"}
    for periods in state.totals.values():
        for sums in periods.values():
            for measures in sums.values():
                assert all(math.isfinite(x) for x in measures.values())
