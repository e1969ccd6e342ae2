"""
Tests for deciding which routes take an event (``_matching.py``).

Routes come from routing YAML through ``parse_config``, as users write
them. ``Router.route`` decides exactly; ``Router.could_match`` is the
cheap pre-check in the caller's thread and must never turn away an event
``route`` would take.
"""

from __future__ import annotations

import logging
import textwrap
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polybot_loghandler._config import parse_config
from polybot_loghandler._events import LogEvent
from polybot_loghandler._matching import describe_check
from polybot_loghandler._model import Route
from polybot_loghandler._router import Router

# hypothesis imports libcst to suggest a patch for a failing example, and
# libcst trips a DeprecationWarning that filterwarnings = ["error"] would
# turn into an INTERNALERROR, hiding the real failure
pytestmark = pytest.mark.filterwarnings(
    "ignore:mypy_extensions.TypedDict is deprecated:DeprecationWarning"
)

HEADER = """\
version: 1
channels: {a: "", b: "", c: "", trades_paper: "", trades_live: ""}
routes:
"""

DEBUG, INFO, WARNING, ERROR, CRITICAL = (
    logging.DEBUG,
    logging.INFO,
    logging.WARNING,
    logging.ERROR,
    logging.CRITICAL,
)


def _router(routes: str) -> Router:
    """
    Build a router from the YAML of a ``routes:`` list.
    """
    text = HEADER + textwrap.indent(textwrap.dedent(routes), "  ")
    return Router(parse_config(text).routes)


def _event(
    event: str = "thing_happened",
    level: int = INFO,
    logger: str = "app",
    **fields: Any,
) -> LogEvent:
    """
    A structured event, as the handler would build it.
    """
    return LogEvent(
        event=event,
        level=level,
        logger=logger,
        time=1_700_000_000.0,
        fields=fields,
        message=event,
    )


class Errors:
    """
    Collects what ``Router.route`` reports through *on_error*.
    """

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, type[Exception]]] = []

    def __call__(self, route: Route, part: str, exc: Exception) -> None:
        self.seen.append((route.name, part, type(exc)))


def _route(router: Router, ev: LogEvent) -> list[tuple[str, tuple[str, ...]]]:
    """
    Route *ev*, failing the test if any route reports an error.
    """
    errors = Errors()
    taken = router.route(ev, ev.context(), errors)
    assert [] == errors.seen
    return [(hit.route.name, hit.channels) for hit in taken]


def _names(router: Router, ev: LogEvent) -> list[str]:
    """
    The names of the routes that take *ev*.
    """
    return [name for name, _ in _route(router, ev)]


def _could(router: Router, ev: LogEvent) -> bool:
    """
    Ask the cheap check about *ev*, as the caller's thread would.
    """
    return router.could_match(ev.event, ev.level, ev.logger, ev.fields)


class TestEventNames:
    """
    ``match.event`` takes exact names, globs, lists and regexes.
    """

    ROUTER = _router(
        """
        - {name: exact, match: {event: trade_executed}, to: a}
        - {name: glob, match: {event: "position_*"}, to: a}
        - {name: listed, match: {event: [daily_summary, weekly_summary]},
           to: a}
        - {name: regex, match: {event: {regex: "^market_(btc|eth)$"}}, to: a}
        - {name: mixed, match: {event: [alpha, {regex: "^beta\\\\d+$"}]},
           to: a}
        """
    )

    @pytest.mark.parametrize(
        ("event", "expected"),
        [
            pytest.param("trade_executed", ["exact"], id="exact"),
            pytest.param("trade_executed_x", [], id="exact-is-whole"),
            pytest.param("position_opened", ["glob"], id="glob"),
            pytest.param("position", [], id="glob-needs-underscore"),
            pytest.param("weekly_summary", ["listed"], id="list"),
            pytest.param("market_eth", ["regex"], id="regex"),
            pytest.param("market_sol", [], id="regex-miss"),
            pytest.param("alpha", ["mixed"], id="mixed-name"),
            pytest.param("beta42", ["mixed"], id="mixed-regex"),
            pytest.param("Trade_Executed", [], id="case-sensitive"),
        ],
    )
    def test_event(self, event: str, expected: list[str]) -> None:
        """
        An event is taken by the route whose name pattern it fits.
        """
        ev = _event(event)

        assert expected == _names(self.ROUTER, ev)
        assert bool(expected) == _could(self.ROUTER, ev)


class TestLevelsAndLoggers:
    """
    ``match.level`` is a minimum; ``match.logger`` also takes children.
    """

    ROUTER = _router(
        """
        - {name: boss, match: {logger: floor_boss}, to: a}
        - {name: agents, match: {logger: "agent_*", level: warning}, to: a}
        - {name: several, match: {logger: [db, cache]}, to: a}
        - {name: errors, match: {level: error}, to: b}
        """
    )

    @pytest.mark.parametrize(
        ("logger", "level", "expected"),
        [
            pytest.param("floor_boss", DEBUG, ["boss"], id="logger-exact"),
            pytest.param(
                "floor_boss.capital", INFO, ["boss"], id="logger-child"
            ),
            pytest.param(
                "floor_boss.capital.risk", INFO, ["boss"], id="grandchild"
            ),
            pytest.param("floor_bossy", INFO, [], id="not-a-child"),
            pytest.param("app.floor_boss", INFO, [], id="not-a-parent"),
            pytest.param(
                "agent_momentum", WARNING, ["agents"], id="glob-at-level"
            ),
            pytest.param(
                "agent_momentum.orders",
                CRITICAL,
                ["agents"],
                id="glob-child-above-level",
            ),
            pytest.param("agent_momentum", INFO, [], id="glob-below-level"),
            pytest.param("cache", INFO, ["several"], id="logger-list"),
            pytest.param("app", ERROR, ["errors"], id="level-minimum"),
            pytest.param("app", 45, ["errors"], id="custom-level"),
            pytest.param("app", WARNING, [], id="level-below"),
        ],
    )
    def test_level_and_logger(
        self, logger: str, level: int, expected: list[str]
    ) -> None:
        """
        Loggers match by glob and ancestry, levels by minimum.
        """
        ev = _event(logger=logger, level=level)

        assert expected == _names(self.ROUTER, ev)
        assert bool(expected) == _could(self.ROUTER, ev)


class TestFields:
    """
    ``match.fields`` tests equality, membership, regex, ranges, presence.
    """

    @pytest.mark.parametrize(
        ("spec", "fields", "expected"),
        [
            pytest.param("{asset: BTC}", {"asset": "BTC"}, True, id="eq"),
            pytest.param("{asset: BTC}", {"asset": "ETH"}, False, id="eq-no"),
            pytest.param("{asset: BTC}", {}, False, id="eq-missing"),
            pytest.param("{count: 3}", {"count": 3.0}, True, id="eq-float"),
            pytest.param("{count: 3}", {"count": "3"}, False, id="eq-str"),
            pytest.param(
                "{passed: true}", {"passed": True}, True, id="eq-bool"
            ),
            pytest.param(
                "{passed: true}", {"passed": 1}, False, id="eq-bool-not-1"
            ),
            pytest.param(
                "{count: 1}", {"count": True}, False, id="eq-1-not-bool"
            ),
            pytest.param(
                "{strategy: {in: [momentum, volume]}}",
                {"strategy": "volume"},
                True,
                id="in",
            ),
            pytest.param(
                "{strategy: {in: [momentum, volume]}}",
                {"strategy": "arb"},
                False,
                id="in-no",
            ),
            pytest.param(
                "{asset: {regex: '^(?i:btc|eth)$'}}",
                {"asset": "eth"},
                True,
                id="regex",
            ),
            pytest.param(
                "{code: {regex: '^4'}}",
                {"code": 404},
                True,
                id="regex-number",
            ),
            pytest.param(
                "{asset: {regex: '.*'}}",
                {"asset": None},
                False,
                id="regex-none",
            ),
            pytest.param(
                "{amount: {gt: 100}}", {"amount": 100.5}, True, id="gt"
            ),
            pytest.param(
                "{amount: {gt: 100}}", {"amount": 100}, False, id="gt-equal"
            ),
            pytest.param(
                "{amount: {gte: 100}}", {"amount": 100}, True, id="gte"
            ),
            pytest.param(
                "{amount: {lt: 0}}", {"amount": -0.01}, True, id="lt"
            ),
            pytest.param("{amount: {lte: 0}}", {"amount": 0}, True, id="lte"),
            pytest.param(
                "{amount: {gt: 10, lt: 20}}",
                {"amount": 15},
                True,
                id="range",
            ),
            pytest.param(
                "{amount: {gt: 10, lt: 20}}",
                {"amount": 25},
                False,
                id="range-above",
            ),
            pytest.param(
                "{amount: {gt: 100}}",
                {"amount": "150"},
                False,
                id="gt-string",
            ),
            pytest.param(
                "{amount: {gt: 0}}", {"amount": True}, False, id="gt-bool"
            ),
            pytest.param(
                "{amount: {gt: 100}}",
                {"amount": 10**400},
                True,
                id="gt-huge-int",
            ),
            pytest.param(
                "{amount: {lt: 0}}",
                {"amount": float("nan")},
                False,
                id="lt-nan",
            ),
            pytest.param(
                "{error: {exists: true}}",
                {"error": "boom"},
                True,
                id="exists",
            ),
            pytest.param(
                "{error: {exists: true}}",
                {"error": None},
                False,
                id="exists-none",
            ),
            pytest.param("{error: {exists: false}}", {}, True, id="absent"),
            pytest.param(
                "{error: {exists: false}}",
                {"error": ""},
                False,
                id="absent-but-empty",
            ),
            pytest.param(
                "{asset: BTC, side: BUY}",
                {"asset": "BTC", "side": "SELL"},
                False,
                id="all-must-hold",
            ),
        ],
    )
    def test_field(
        self, spec: str, fields: dict[str, Any], expected: bool
    ) -> None:
        """
        Each test on a field's value decides whether the route matches.
        """
        router = _router(f"- {{name: r, match: {{fields: {spec}}}, to: a}}\n")
        ev = _event(**fields)

        routed = bool(_names(router, ev))

        assert expected == routed
        assert _could(router, ev) or not routed

    def test_record_attribute_names_are_left_to_the_worker(self) -> None:
        """
        A check on a name ``LogRecord`` also has is not made early.
        """
        router = _router(
            "- {name: r, match: {fields: {name: alice}}, to: a}\n"
        )
        record_dict = {"name": "app.db", "msg": "hello"}

        assert router.could_match("hello", INFO, "app.db", record_dict)


class TestOrder:
    """
    The first matching route wins unless it says ``continue: true``.
    """

    ROUTER = _router(
        """
        - {name: first, match: {event: trade}, to: a, continue: true}
        - {name: second, match: {event: trade}, to: b}
        - {name: third, match: {event: trade}, to: c}
        - {name: catch_all, to: c}
        """
    )

    def test_continue_then_first_match_wins(self) -> None:
        """
        A ``continue`` route passes the event on; the next match stops it.
        """
        expected = [("first", ("a",)), ("second", ("b",))]

        assert expected == _route(self.ROUTER, _event("trade"))

    def test_unnamed_events_reach_the_catch_all(self) -> None:
        """
        A route with no ``match`` takes every event the others leave.
        """
        expected = [("catch_all", ("c",))]

        assert expected == _route(self.ROUTER, _event("other"))


class TestDestinations:
    """
    ``to:`` names channels, possibly through templates.
    """

    ROUTER = _router(
        """
        - name: trades
          match: {event: trade_executed}
          to:
            - a
            - "{{ 'trades_paper' if is_paper else 'trades_live' }}"
            - a
        - name: blank
          match: {event: blank}
          to: ["{{ channel }}", b]
        """
    )

    @pytest.mark.parametrize(
        ("ev", "expected"),
        [
            pytest.param(
                _event("trade_executed", is_paper=True),
                [("trades", ("a", "trades_paper"))],
                id="paper",
            ),
            pytest.param(
                _event("trade_executed", is_paper=False),
                [("trades", ("a", "trades_live"))],
                id="live",
            ),
            pytest.param(
                _event("trade_executed"),
                [("trades", ("a", "trades_live"))],
                id="missing-field",
            ),
            pytest.param(
                _event("blank"), [("blank", ("b",))], id="empty-key-skipped"
            ),
        ],
    )
    def test_templated_to(
        self, ev: LogEvent, expected: list[tuple[str, tuple[str, ...]]]
    ) -> None:
        """
        Templates choose channels; duplicates and empty keys are dropped.
        """
        assert expected == _route(self.ROUTER, ev)

    def test_failing_to_template_is_reported_and_skipped(self) -> None:
        """
        A ``to`` template that raises costs that channel, not the route.
        """
        router = _router(
            '- {name: r, match: {event: x}, to: [a, "{{ 1 // n }}"]}\n'
        )
        errors = Errors()
        ev = _event("x", n=0)

        taken = router.route(ev, ev.context(), errors)

        assert [("r", ("a",))] == [(t.route.name, t.channels) for t in taken]
        assert [("r", "to[1]", ZeroDivisionError)] == errors.seen


class TestWhen:
    """
    ``match.when`` is a sandboxed expression over the event's fields.
    """

    ROUTER = _router(
        """
        - name: big
          match: {event: trade, when: "amount > 100 and side == 'BUY'"}
          to: a
        - name: nested
          match: {event: nested, when: "order.fill.price >= 0.5"}
          to: a
        - name: by_level
          match: {event: lvl, when: "level == 'warning'"}
          to: a
        """
    )

    @pytest.mark.parametrize(
        ("ev", "expected"),
        [
            pytest.param(
                _event("trade", amount=150, side="BUY"), ["big"], id="true"
            ),
            pytest.param(
                _event("trade", amount=50, side="BUY"), [], id="false"
            ),
            pytest.param(_event("trade", side="BUY"), [], id="missing"),
            pytest.param(_event("trade"), [], id="all-missing"),
            pytest.param(
                _event("nested", order={"fill": {"price": 0.6}}),
                ["nested"],
                id="nested",
            ),
            pytest.param(_event("nested"), [], id="nested-missing"),
            pytest.param(
                _event("nested", order={"fill": None}),
                [],
                id="nested-none",
            ),
            pytest.param(
                _event("lvl", level=WARNING), ["by_level"], id="level-name"
            ),
        ],
    )
    def test_when(self, ev: LogEvent, expected: list[str]) -> None:
        """
        The route matches when the expression is true; missing is false.
        """
        assert expected == _names(self.ROUTER, ev)

    @pytest.mark.parametrize(
        ("when", "fields", "exc_type"),
        [
            pytest.param("1 // n", {"n": 0}, ZeroDivisionError, id="zero"),
            pytest.param(
                "amount > 'x'", {"amount": 5}, TypeError, id="type-error"
            ),
            pytest.param(
                "tags.append('x')",
                {"tags": []},
                Exception,
                id="sandboxed-mutation",
            ),
        ],
    )
    def test_errors_are_reported_and_skipped(
        self, when: str, fields: dict[str, Any], exc_type: type[Exception]
    ) -> None:
        """
        A ``when`` that raises is reported, and later routes still match.
        """
        router = _router(
            f"""
            - {{name: risky, match: {{when: "{when}"}}, to: a}}
            - {{name: fallback, to: b}}
            """
        )
        errors = Errors()
        ev = _event(**fields)

        taken = router.route(ev, ev.context(), errors)

        assert ["fallback"] == [t.route.name for t in taken]
        assert [("risky", "match.when")] == [e[:2] for e in errors.seen]
        assert issubclass(errors.seen[0][2], exc_type)
        assert fields == dict(ev.fields)  # the sandbox changed nothing

    def test_could_match_ignores_when(self) -> None:
        """
        The cheap check does not run ``when``, so it says yes.
        """
        assert _could(self.ROUTER, _event("trade", amount=1))


class TestCouldMatch:
    """
    ``could_match`` is cheap, and never says no to an event routed later.
    """

    def test_no_route_below_the_lowest_level(self) -> None:
        """
        Below every route's minimum level, nothing could match.
        """
        router = _router(
            """
            - {name: w, match: {level: warning}, to: a}
            - {name: e, match: {level: error, event: x}, to: a}
            """
        )

        assert not router.could_match("x", INFO, "app", {})
        assert router.could_match("x", WARNING, "app", {})

    def test_a_field_too_large_for_a_float_does_not_raise(self) -> None:
        """
        A huge int is compared as a number; the caller's thread never raises.
        """
        router = _router(
            "- {name: r, match: {fields: {amount: {gt: 100}}}, to: a}\n"
        )

        assert router.could_match("x", INFO, "app", {"amount": 10**400})

    def test_ignored_loggers_are_taken_by_no_route(self) -> None:
        """
        A logger the router ignores is turned away by both checks.
        """
        router = Router(
            _router("- {name: all, to: a}\n").routes,
            ignore=lambda name: name.startswith("httpx"),
        )
        ev = _event(logger="httpx")

        assert not _could(router, ev)
        assert [] == _route(router, ev)

    def test_empty_routing_matches_nothing(self) -> None:
        """
        With no routes, no event could match.
        """
        router = Router(())

        assert not router.could_match("x", CRITICAL, "app", {})

    def test_a_plan_and_its_field_checks_agree_with_could_match(self) -> None:
        """
        ``plan`` settles what name, level and logger can; ``fields_pass``
        does the rest, as ``could_match`` does in one call.
        """
        router = _router(
            "- {name: r, match: {event: x, fields: {amount: {gt: 5}}}, "
            "to: a}\n"
        )

        assert router.plan("y", INFO, "app") is False
        plan = router.plan("x", INFO, "app")
        assert not isinstance(plan, bool)
        for fields in ({}, {"amount": 1}, {"amount": 9}, {"other": 9}):
            assert router.fields_pass(plan, fields) == router.could_match(
                "x", INFO, "app", fields
            )
        assert router.fields_pass(plan, {"amount": 9})

    def test_the_memo_is_bounded(self) -> None:
        """What a caller remembers on the router cannot grow without end."""
        router = Router(())

        for n in range(Router.PLAN_LIMIT + 10):
            router.remember(n, n)

        assert len(router.memo) <= Router.PLAN_LIMIT
        assert Router.PLAN_LIMIT + 9 in router.memo


# -- could_match never says no to what route takes --------------------------

PROPERTY_ROUTER = _router(
    """
    - name: paper
      match: {event: trade_executed, fields: {is_paper: true}}
      to: a
    - name: big_trade
      match: {event: trade_executed, level: warning, when: "amount > 10"}
      to: b
    - name: positions
      match: {event: "position_*", level: warning}
      to: a
    - name: markets
      match: {event: {regex: "^mark"}, fields: {asset: {regex: "^(?i:btc)$"}}}
      to: "{{ channel or 'a' }}"
    - name: ranged
      match: {event: [audit, risk], fields: {amount: {gte: 0, lt: 1000}}}
      to: a
      continue: true
    - name: strategies
      match: {fields: {strategy: {in: [momentum, 1, true]}}}
      to: b
    - name: clean_audit
      match: {event: audit, fields: {error: {exists: false}}, level: info}
      to: c
    - name: errors
      match: {fields: {error: {exists: true}, amount: {lte: 0}}, level: error}
      to: c
    - name: boss
      match: {logger: floor_boss}
      to: a
      continue: true
    - name: agents
      match: {logger: ["agent_*", db], level: info}
      to: b
    - name: record_name
      match: {event: named, fields: {name: alice}}
      to: c
    - name: flagged
      match: {event: flagged, when: "fields.flag is sameas true"}
      to: c
    - name: critical
      match: {level: critical}
      to: c
    """
)

FIELD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-2000, max_value=2000),
    st.sampled_from([2**64, -(2**64)]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["BTC", "btc", "momentum", "volume", "alice", "", "1"]),
    st.text(max_size=8),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)

EVENTS = st.builds(
    LogEvent,
    event=st.one_of(
        st.sampled_from(
            [
                "trade_executed",
                "position_opened",
                "position",
                "market_update",
                "mark",
                "audit",
                "risk",
                "named",
                "flagged",
                "other",
                "",
            ]
        ),
        st.text(max_size=12),
    ),
    level=st.sampled_from([0, 5, DEBUG, INFO, 25, WARNING, ERROR, CRITICAL]),
    logger=st.one_of(
        st.sampled_from(
            [
                "",
                "floor_boss",
                "floor_boss.capital",
                "floor_bossy",
                "agent_momentum",
                "agent_",
                "db",
                "db.pool",
                "dbx",
            ]
        ),
        st.text(max_size=12),
    ),
    time=st.just(1_700_000_000.0),
    fields=st.dictionaries(
        st.sampled_from(
            [
                "is_paper",
                "amount",
                "asset",
                "channel",
                "strategy",
                "error",
                "name",
                "flag",
                "other",
            ]
        ),
        FIELD_VALUES,
        max_size=6,
    ),
)


class TestCouldMatchProperty:
    """
    Over a fixed routing, ``could_match`` covers everything ``route`` takes.
    """

    @settings(max_examples=400, deadline=None, database=None)
    @given(ev=EVENTS)
    @pytest.mark.slow
    def test_could_match_whenever_routed(self, ev: LogEvent) -> None:
        """
        If ``route`` takes an event, ``could_match`` said it might.
        """
        routed = PROPERTY_ROUTER.route(ev, ev.context(), Errors())

        if routed:
            assert _could(PROPERTY_ROUTER, ev)


class TestDescribe:
    @pytest.mark.parametrize(
        ("fields", "expected"),
        [
            pytest.param("{passed: true}", "passed=true", id="true"),
            pytest.param("{passed: false}", "passed=false", id="false"),
            pytest.param("{agent: null}", "agent=null", id="null"),
            pytest.param("{mode: paper}", "mode=paper", id="word"),
            pytest.param("{amount: 20}", "amount=20", id="number"),
            pytest.param("{mode: 'a b'}", 'mode="a b"', id="spaces-quoted"),
            pytest.param("{mode: '20'}", "mode=20", id="digits-as-text"),
            pytest.param(
                "{mode: {in: [paper, live]}}", "mode=paper|live", id="in"
            ),
            pytest.param("{amount: {gt: 100}}", "amount>100", id="gt"),
            pytest.param("{amount: {gte: 1.5}}", "amount≥1.5", id="gte"),
            pytest.param("{amount: {lt: 0}}", "amount<0", id="lt"),
            pytest.param("{amount: {lte: -2}}", "amount≤-2", id="lte"),
            pytest.param(
                "{amount: {gte: 1, lt: 9}}", "amount≥1 amount<9", id="range"
            ),
            pytest.param(
                "{asset: {regex: '^BTC\\d$'}}",
                "asset~/^BTC\\d$/",
                id="regex",
            ),
            pytest.param("{asset: {exists: true}}", "asset?", id="exists"),
            pytest.param("{asset: {exists: false}}", "no asset", id="absent"),
            pytest.param(
                '{note: "\\e[2J"}', 'note="\\u001b[2J"', id="escape-quoted"
            ),
        ],
    )
    def test_conditions(self, fields: str, expected: str) -> None:
        """A route's field checks read as written: passed=true, not passed?"""
        config = parse_config(
            "version: 1\nchannels: {a: ''}\nroutes:\n"
            f"  - {{name: r, to: a, match: {{event: e, fields: {fields}}}}}\n"
        )

        assert f"e {expected}" == config.routes[0].matcher.describe()

    def test_control_characters_in_a_regex_are_shown(self) -> None:
        """A regex's control characters are shown, never sent."""
        assert "x~/a␛b/" == describe_check("x", "regex", "a\x1bb")
