"""
``state:`` in the routing file: the spec it loads into, and what is
refused, each problem told with its line and key path; the shipped
routing's state, fed a scripted floor; and how ``check`` lists it.

A spec holds compiled matchers and values, which compare by identity:
specs are compared through :func:`outline`, which spells out everything
a spec says (each match as ``check`` describes it, each value by its
source and the way it is worked out).
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from polybot_loghandler._cli import main
from polybot_loghandler._config import load_config, parse_config
from polybot_loghandler._events import LogEvent
from polybot_loghandler._floor.model import (
    Rule,
    StateSpec,
    TableSpec,
    TotalSpec,
)
from polybot_loghandler._floor.state import FloorState
from polybot_loghandler._floor.values import Value, compile_value
from polybot_loghandler._matching import (
    EventPattern,
    Matcher,
    field_check,
)
from polybot_loghandler.exceptions import ConfigError
from tests.conftest import SHIPPED_ROUTING

pytestmark = pytest.mark.filterwarnings(
    "ignore:mypy_extensions.TypedDict is deprecated:DeprecationWarning"
)

HEAD = 'version: 1\nchannels:\n  a: ""\nroutes: []\n'  # state: on line 5


def _config(tail: str) -> Any:
    return parse_config(HEAD + tail, "routing.yaml", environ={})


def _problems(tail: str) -> tuple[str, ...]:
    with pytest.raises(ConfigError) as info:
        _config(tail)
    return info.value.problems


def _kind(value: Value) -> str:
    if value.native is not None:
        return "native"
    if value.pieces:
        return "pieces"
    if value.template is not None:
        return "template"
    return "constant"


def _values(pairs: tuple[tuple[str, Value], ...]) -> list[Any]:
    return [
        (name, type(v.source).__name__, v.source, _kind(v))
        for name, v in pairs
    ]


def _rule(rule: Rule) -> dict[str, Any]:
    return {
        "match": rule.matcher.describe(),
        "level": rule.matcher.min_level,
        "set": _values(rule.set),
        "add": _values(rule.add),
        "remove": rule.remove,
        "continue": rule.continue_,
    }


def outline(spec: StateSpec | None) -> Any:
    """Everything *spec* says, as plain values that compare."""
    if spec is None:
        return None
    return {
        "zone": (spec.zone_name, spec.zone),
        "tables": [
            {
                "name": t.name,
                "key": (t.key.source, _kind(t.key)),
                "each": t.each,
                "keep": t.keep,
                "rules": [_rule(r) for r in t.rules],
            }
            for t in spec.tables
        ],
        "totals": [
            {
                "name": t.name,
                "periods": t.periods,
                "rules": [_rule(r) for r in t.rules],
            }
            for t in spec.totals
        ],
    }


def on(*events: str, level: int = 0) -> Matcher:
    return Matcher(event=EventPattern(list(events)), min_level=level)


def values(**sources: object) -> tuple[tuple[str, Value], ...]:
    return tuple((n, compile_value(s)) for n, s in sources.items())


# -- what loads ---------------------------------------------------------------

FULL = """\
state:
  timezone: Europe/Paris
  tables:
    agents:
      key: "{{ agent }}"
      keep: 50
      rules:
        - match: {fields: {agent: {exists: true}}}
          set: {last_seen: "{{ time }}"}
          continue: true
        - match: {event: agent_started, level: info}
          set: {status: running, mode: "{{ mode }}", n: 1, "on": true, x: null}
        - match: {event: agent_stopped}
          remove: true
    health:
      key: "{{ item.key }}"
      each: components
      rules:
        - match: {event: health_check}
          set: {ok: "ok: {{ item.value }}", v: "{% if x %}y{% endif %}"}
  totals:
    pnl:
      periods: [week, day]
      rules:
        - match: {event: position_closed}
          add: {realised: "{{ pnl }}", closed: 1, half: 0.5}
          continue: false
"""

FULL_SPEC = StateSpec(
    zone=ZoneInfo("Europe/Paris"),
    zone_name="Europe/Paris",
    tables=(
        TableSpec(
            name="agents",
            key=compile_value("{{ agent }}"),
            keep=50,
            rules=(
                Rule(
                    matcher=Matcher(
                        fields=(("agent", field_check("exists", True)),),
                        conditions=("agent?",),
                    ),
                    set=values(last_seen="{{ time }}"),
                    continue_=True,
                ),
                Rule(
                    matcher=on("agent_started", level=logging.INFO),
                    set=values(
                        status="running",
                        mode="{{ mode }}",
                        n=1,
                        on=True,
                        x=None,
                    ),
                ),
                Rule(matcher=on("agent_stopped"), remove=True),
            ),
        ),
        TableSpec(
            name="health",
            key=compile_value("{{ item.key }}"),
            each="components",
            rules=(
                Rule(
                    matcher=on("health_check"),
                    set=values(
                        ok="ok: {{ item.value }}",
                        v="{% if x %}y{% endif %}",
                    ),
                ),
            ),
        ),
    ),
    totals=(
        TotalSpec(
            name="pnl",
            periods=("week", "day"),
            rules=(
                Rule(
                    matcher=on("position_closed"),
                    add=values(realised="{{ pnl }}", closed=1, half=0.5),
                ),
            ),
        ),
    ),
)


def test_a_state_with_every_key_loads_into_its_spec() -> None:
    assert outline(FULL_SPEC) == outline(_config(FULL).state)


def test_the_kinds_of_value() -> None:
    state = _config(FULL).state
    assert state is not None
    agents, health = state.tables
    kinds = [_kind(v) for _, v in (*agents.rules[1].set, *health.rules[0].set)]

    assert ["constant", "native", "constant", "constant", "constant"] == (
        kinds[:5]
    )
    assert ["pieces", "template"] == kinds[5:]


def test_the_defaults() -> None:
    config = _config(
        "state:\n"
        "  tables:\n"
        "    t: {key: k, rules: [{set: {a: 1}}]}\n"
        "  totals:\n"
        "    n: {rules: [{add: {events: 1}}]}\n"
    )
    expected = StateSpec(
        tables=(
            TableSpec(
                name="t",
                key=compile_value("k"),
                rules=(Rule(matcher=Matcher(), set=values(a=1)),),
            ),
        ),
        totals=(
            TotalSpec(
                name="n",
                rules=(Rule(matcher=Matcher(), add=values(events=1)),),
            ),
        ),
    )

    assert outline(expected) == outline(config.state)
    assert config.state is not None
    assert ("UTC", timezone.utc) == (
        config.state.zone_name,
        config.state.zone,
    )
    assert (None, 1000) == (
        config.state.tables[0].each,
        config.state.tables[0].keep,
    )
    assert ("day", "week", "all") == config.state.totals[0].periods


@pytest.mark.parametrize(
    ("tail", "zone"),
    [
        ("  timezone: utc\n", ("UTC", timezone.utc)),
        ("  timezone: America/New_York\n", ("America/New_York", None)),
        ("", ("UTC", timezone.utc)),
    ],
)
def test_the_time_zone(tail: str, zone: tuple[str, tzinfo | None]) -> None:
    state = _config(
        f"state:\n{tail}  totals: {{n: {{rules: [{{add: {{e: 1}}}}]}}}}\n"
    ).state
    assert state is not None
    name, found = zone
    assert name == state.zone_name
    assert (found or ZoneInfo(name)) == state.zone


def test_a_file_without_state_has_none() -> None:
    assert _config("").state is None
    assert _config("state:\n").state is None


def test_a_single_period_may_be_written_alone() -> None:
    state = _config("state:\n  totals: {n: {periods: all, rules: "
                    "[{add: {e: 1}}]}}\n").state  # fmt: skip
    assert state is not None
    assert ("all",) == state.totals[0].periods


def test_only_totals_or_only_tables() -> None:
    only_totals = _config("state: {totals: {n: {rules: [{add: {e: 1}}]}}}\n")
    only_tables = _config(
        "state: {tables: {t: {key: k, rules: [{remove: true}]}}}\n"
    )

    assert only_totals.state is not None
    assert () == only_totals.state.tables
    assert only_tables.state is not None
    assert () == only_tables.state.totals


# -- what is refused ----------------------------------------------------------

TABLE_RULE = """\
state:
  tables:
    agents:
      key: "{{ agent }}"
      rules:
        - match: {event: agent_started}
"""  # the rule's own keys start on line 11
TOTAL_RULE = """\
state:
  totals:
    pnl:
      rules:
        - match: {event: position_closed}
"""  # the rule's own keys start on line 10

MISTAKES = [
    pytest.param(
        "state: [1]\n",
        "routing.yaml:5: state: state must be a mapping, not a list",
        id="state not a mapping",
    ),
    pytest.param(
        "state: {}\n",
        "routing.yaml:5: state: declares no table and no total (give it "
        "tables:, totals: or both, or leave state: out)",
        id="empty",
    ),
    pytest.param(
        "state: {timezone: UTC}\n",
        "routing.yaml:5: state: declares no table and no total (give it "
        "tables:, totals: or both, or leave state: out)",
        id="no table, no total",
    ),
    pytest.param(
        "state:\n  tabels: {}\n  totals: {t: {rules: [{add: {n: 1}}]}}\n",
        "routing.yaml:6: state.tabels: unknown key (did you mean 'tables'?) "
        "(allowed: timezone, tables, totals)",
        id="unknown key",
    ),
    pytest.param(
        "state:\n  timezone: Mars/Base\n"
        "  totals: {t: {rules: [{add: {n: 1}}]}}\n",
        "routing.yaml:6: state.timezone: unknown time zone 'Mars/Base' (use "
        "a name from the IANA database, such as Europe/London or "
        "America/New_York, or UTC)",
        id="time zone",
    ),
    pytest.param(
        "state:\n  timezone: 2\n  totals: {t: {rules: [{add: {n: 1}}]}}\n",
        "routing.yaml:6: state.timezone: timezone must be a string, not a "
        "number",
        id="time zone not text",
    ),
    pytest.param(
        "state:\n  tables: [agents]\n",
        "routing.yaml:6: state.tables: tables must be a mapping, not a list",
        id="tables not a mapping",
    ),
    pytest.param(
        "state:\n  totals: pnl\n",
        "routing.yaml:6: state.totals: totals must be a mapping, not a string",
        id="totals not a mapping",
    ),
    pytest.param(
        "state:\n  tables:\n    1st: {key: k, rules: [{set: {a: 1}}]}\n",
        "routing.yaml:7: state.tables.1st: a table's name is letters, digits "
        "and _, starting with a letter, not '1st'",
        id="table name",
    ),
    pytest.param(
        "state:\n  tables:\n    _rows: {key: k, rules: [{set: {a: 1}}]}\n",
        "routing.yaml:7: state.tables._rows: a table's name is letters, "
        "digits and _, starting with a letter, not '_rows'",
        id="table name starting with _",
    ),
    pytest.param(
        "state:\n  totals:\n    day-pnl: {rules: [{add: {n: 1}}]}\n",
        "routing.yaml:7: state.totals.day-pnl: a total's name is letters, "
        "digits and _, starting with a letter, not 'day-pnl'",
        id="total name",
    ),
    pytest.param(
        "state:\n  tables:\n    pnl: {key: k, rules: [{set: {a: 1}}]}\n"
        "  totals:\n    pnl: {rules: [{add: {n: 1}}]}\n",
        "routing.yaml:9: state.totals.pnl: duplicate name 'pnl' (a table is "
        "called that; tables and totals need names of their own)",
        id="a name twice",
    ),
    pytest.param(
        "state:\n  tables:\n    agents: 3\n",
        "routing.yaml:7: state.tables.agents: a table must be a mapping, not "
        "a number",
        id="table not a mapping",
    ),
    pytest.param(
        "state:\n  tables:\n    agents: {rules: [{set: {a: 1}}]}\n",
        "routing.yaml:7: state.tables.agents: missing required key 'key'",
        id="no key",
    ),
    pytest.param(
        "state:\n  tables:\n"
        "    agents: {key: k, kee: 3, rules: [{set: {a: 1}}]}\n",
        "routing.yaml:7: state.tables.agents.kee: unknown key (did you mean "
        "'keep'?) (allowed: key, each, keep, rules)",
        id="unknown table key",
    ),
    pytest.param(
        "state:\n  tables:\n    agents: {key: ' ', rules: [{set: {a: 1}}]}\n",
        "routing.yaml:7: state.tables.agents.key: a key must not be empty (a "
        "template such as '{{ agent }}')",
        id="key empty",
    ),
    pytest.param(
        "state:\n  tables:\n    agents: {key: [a], rules: [{set: {a: 1}}]}\n",
        "routing.yaml:7: state.tables.agents.key: key must be a string, not "
        "a list",
        id="key not text",
    ),
    pytest.param(
        "state:\n  tables:\n    agents:\n      key: '{{ agent'\n"
        "      rules: [{set: {a: 1}}]\n",
        "routing.yaml:8: state.tables.agents.key: template error: unexpected "
        "end of template, expected 'end of print statement'.",
        id="key template",
    ),
    pytest.param(
        "state:\n  tables:\n"
        "    agents: {key: k, each: [a], rules: [{set: {a: 1}}]}\n",
        "routing.yaml:7: state.tables.agents.each: 'each' takes the name of "
        "a field that holds a mapping or a list, not ['a']",
        id="each",
    ),
    pytest.param(
        "state:\n  tables:\n"
        "    agents: {key: k, keep: 0, rules: [{set: {a: 1}}]}\n",
        "routing.yaml:7: state.tables.agents.keep: must be a positive whole "
        "number (the most rows kept), not 0",
        id="keep",
    ),
    pytest.param(
        "state:\n  tables:\n    agents: {key: k}\n",
        "routing.yaml:7: state.tables.agents: missing required key 'rules'",
        id="no rules",
    ),
    pytest.param(
        "state:\n  tables:\n    agents: {key: k, rules: []}\n",
        "routing.yaml:7: state.tables.agents.rules: 'rules' takes a list of "
        "rules, at least one, not []",
        id="rules empty",
    ),
    pytest.param(
        "state:\n  tables:\n    agents: {key: k, rules: {a: 1}}\n",
        "routing.yaml:7: state.tables.agents.rules: 'rules' takes a list of "
        "rules, at least one, not a mapping",
        id="rules not a list",
    ),
    pytest.param(
        "state:\n  tables:\n    agents:\n      key: k\n      on:\n"
        "        - set: {a: 1}\n",
        "routing.yaml:9: state.tables.agents.True: YAML reads a bare 'on' as "
        "true: the rules go under 'rules:'",
        id="on: for rules:",
    ),
    pytest.param(
        "state:\n  totals:\n    pnl:\n      on: [{add: {n: 1}}]\n",
        "routing.yaml:8: state.totals.pnl.True: YAML reads a bare 'on' as "
        "true: the rules go under 'rules:'",
        id="on: for a total's rules:",
    ),
    pytest.param(
        "state:\n  tables:\n    agents: {key: k, rules: [agent_started]}\n",
        "routing.yaml:7: state.tables.agents.rules[0]: a rule must be a "
        "mapping, not a string",
        id="rule not a mapping",
    ),
    pytest.param(
        TABLE_RULE + "          set: {a: 1}\n          contine: true\n",
        "routing.yaml:12: state.tables.agents.rules[0].contine: unknown key "
        "(did you mean 'continue'?) (allowed: match, set, remove, continue)",
        id="unknown rule key",
    ),
    pytest.param(
        TABLE_RULE + "          set: {a: 1}\n          add: {n: 1}\n",
        "routing.yaml:12: state.tables.agents.rules[0].add: unknown key "
        "(add: is a total's; a table's rule has set: or remove: true)",
        id="add in a table",
    ),
    pytest.param(
        TABLE_RULE + "          set: {a: 1}\n          remove: true\n",
        "routing.yaml:10: state.tables.agents.rules[0]: a rule has set: or "
        "remove: true, not both",
        id="set and remove",
    ),
    pytest.param(
        TABLE_RULE,
        "routing.yaml:10: state.tables.agents.rules[0]: a rule needs set: "
        "(the values to write) or remove: true",
        id="neither set nor remove",
    ),
    pytest.param(
        TABLE_RULE + "          remove: false\n",
        "routing.yaml:11: state.tables.agents.rules[0].remove: 'remove' "
        "takes true, not false (to keep the row, leave remove: out)",
        id="remove false",
    ),
    pytest.param(
        TABLE_RULE + "          set: {}\n",
        "routing.yaml:11: state.tables.agents.rules[0].set: 'set' takes a "
        "mapping of name: value, at least one, not {}",
        id="set empty",
    ),
    pytest.param(
        TABLE_RULE + "          set: running\n",
        "routing.yaml:11: state.tables.agents.rules[0].set: 'set' takes a "
        "mapping of name: value, at least one, not a string",
        id="set not a mapping",
    ),
    pytest.param(
        TABLE_RULE + "          set: {_key: x}\n",
        "routing.yaml:11: state.tables.agents.rules[0].set._key: '_key' "
        "starts with _, as the names a row holds of its own do (_key, "
        "_created, _updated); name it without",
        id="a row's own name",
    ),
    pytest.param(
        TABLE_RULE + "          set: {last-seen: x}\n",
        "routing.yaml:11: state.tables.agents.rules[0].set.last-seen: a "
        "value's name is letters, digits and _, starting with a letter, not "
        "'last-seen'",
        id="value name",
    ),
    pytest.param(
        TABLE_RULE + "          set: {7: x}\n",
        "routing.yaml:11: state.tables.agents.rules[0].set.7: a value's name "
        "is letters, digits and _, starting with a letter, not '7'",
        id="value name a number",
    ),
    pytest.param(
        TABLE_RULE + "          set: {on: true}\n",
        "routing.yaml:11: state.tables.agents.rules[0].set.True: YAML reads "
        "a bare on, yes or true as true, and off, no or false as false: "
        "quote the name ('on')",
        id="value name read as true",
    ),
    pytest.param(
        TABLE_RULE + "          set: {markets: [a, b]}\n",
        "routing.yaml:11: state.tables.agents.rules[0].set.markets: a value "
        "is a number, true/false, text or a template, not a list (a lone "
        "'{{ field }}' keeps a field's list or mapping)",
        id="value a list",
    ),
    pytest.param(
        TABLE_RULE + "          set: {config: {risk: 1}}\n",
        "routing.yaml:11: state.tables.agents.rules[0].set.config: a value "
        "is a number, true/false, text or a template, not a mapping (a lone "
        "'{{ field }}' keeps a field's list or mapping)",
        id="value a mapping",
    ),
    pytest.param(
        TABLE_RULE + "          set: {mode: '{{ mode'}\n",
        "routing.yaml:11: state.tables.agents.rules[0].set.mode: template "
        "error: unexpected end of template, expected 'end of print "
        "statement'.",
        id="value template",
    ),
    pytest.param(
        TABLE_RULE + "          set:\n            note: |\n"
        "              line one\n              {{ agent | nosuch }}\n",
        "routing.yaml:14: state.tables.agents.rules[0].set.note: template "
        "error: unknown filter 'nosuch'",
        id="value template, on its own line",
    ),
    pytest.param(
        TABLE_RULE + "          set: {a: 1}\n          continue: yes please\n",
        "routing.yaml:12: state.tables.agents.rules[0].continue: must be true "
        "or false, not 'yes please'",
        id="continue",
    ),
    pytest.param(
        "state:\n  tables:\n    agents:\n      key: k\n      rules:\n"
        "        - match: {levl: info}\n          set: {a: 1}\n",
        "routing.yaml:10: state.tables.agents.rules[0].match.levl: unknown "
        "key (did you mean 'level'?) (allowed: event, level, logger, fields, "
        "when)",
        id="match, as a route's",
    ),
    pytest.param(
        "state:\n  tables:\n    agents:\n      key: k\n      rules:\n"
        "        - match: {fields: {agent: {exist: true}}}\n"
        "          set: {a: 1}\n",
        "routing.yaml:10: state.tables.agents.rules[0].match.fields.agent."
        "exist: unknown test (did you mean 'exists'?) (use one of: in, "
        "regex, gt, gte, lt, lte, exists; a plain value means equality)",
        id="match fields, as a route's",
    ),
    pytest.param(
        "state:\n  totals:\n    pnl: [1]\n",
        "routing.yaml:7: state.totals.pnl: a total must be a mapping, not a "
        "list",
        id="total not a mapping",
    ),
    pytest.param(
        "state:\n  totals:\n"
        "    pnl: {period: [day], rules: [{add: {n: 1}}]}\n",
        "routing.yaml:7: state.totals.pnl.period: unknown key (did you mean "
        "'periods'?) (allowed: periods, rules)",
        id="unknown total key",
    ),
    pytest.param(
        "state:\n  totals:\n    pnl: {rules: []}\n",
        "routing.yaml:7: state.totals.pnl.rules: 'rules' takes a list of "
        "rules, at least one, not []",
        id="a total's rules empty",
    ),
    pytest.param(
        "state:\n  totals:\n"
        "    pnl: {periods: [day, month], rules: [{add: {n: 1}}]}\n",
        "routing.yaml:7: state.totals.pnl.periods[1]: unknown period 'month' "
        "(periods: day, week, all)",
        id="unknown period",
    ),
    pytest.param(
        "state:\n  totals:\n"
        "    pnl: {periods: [day, wek], rules: [{add: {n: 1}}]}\n",
        "routing.yaml:7: state.totals.pnl.periods[1]: unknown period 'wek' "
        "(did you mean 'week'?) (periods: day, week, all)",
        id="period misspelt",
    ),
    pytest.param(
        "state:\n  totals:\n"
        "    pnl: {periods: hour, rules: [{add: {n: 1}}]}\n",
        "routing.yaml:7: state.totals.pnl.periods: unknown period 'hour' "
        "(periods: day, week, all)",
        id="a period alone",
    ),
    pytest.param(
        "state:\n  totals:\n    pnl: {periods: [], rules: [{add: {n: 1}}]}\n",
        "routing.yaml:7: state.totals.pnl.periods: 'periods' takes a list of "
        "day, week and all, at least one",
        id="no period",
    ),
    pytest.param(
        "state:\n  totals:\n"
        "    pnl: {periods: [day, day], rules: [{add: {n: 1}}]}\n",
        "routing.yaml:7: state.totals.pnl.periods[1]: 'day' is listed twice",
        id="a period twice",
    ),
    pytest.param(
        TOTAL_RULE,
        "routing.yaml:9: state.totals.pnl.rules[0]: missing required key "
        "'add'",
        id="no add",
    ),
    pytest.param(
        TOTAL_RULE + "          add: {n: 1}\n          set: {a: 1}\n",
        "routing.yaml:11: state.totals.pnl.rules[0].set: unknown key (set: is "
        "a table's; a total's rule has add:)",
        id="set in a total",
    ),
    pytest.param(
        TOTAL_RULE + "          add: {n: 1}\n          remove: true\n",
        "routing.yaml:11: state.totals.pnl.rules[0].remove: unknown key "
        "(remove: is a table's; a total's rule has add:)",
        id="remove in a total",
    ),
    pytest.param(
        TOTAL_RULE + "          add: {n: 1}\n          contnue: true\n",
        "routing.yaml:11: state.totals.pnl.rules[0].contnue: unknown key (did "
        "you mean 'continue'?) (allowed: match, add, continue)",
        id="unknown key in a total's rule",
    ),
    pytest.param(
        TOTAL_RULE + "          add: {}\n",
        "routing.yaml:10: state.totals.pnl.rules[0].add: 'add' takes a "
        "mapping of name: value, at least one, not {}",
        id="add empty",
    ),
    pytest.param(
        TOTAL_RULE + "          add: {n: abc}\n",
        "routing.yaml:10: state.totals.pnl.rules[0].add.n: 'add' takes a "
        "number, or a template that gives one, not 'abc'",
        id="add text",
    ),
    pytest.param(
        TOTAL_RULE + "          add: {n: true}\n",
        "routing.yaml:10: state.totals.pnl.rules[0].add.n: 'add' takes a "
        "number, or a template that gives one, not true",
        id="add true",
    ),
    pytest.param(
        TOTAL_RULE + "          add: {n: }\n",
        "routing.yaml:10: state.totals.pnl.rules[0].add.n: 'add' takes a "
        "number, or a template that gives one, not nothing",
        id="add nothing",
    ),
    pytest.param(
        TOTAL_RULE + "          add: {n: .inf}\n",
        "routing.yaml:10: state.totals.pnl.rules[0].add.n: 'add' takes a "
        "number, or a template that gives one, not inf",
        id="add infinity",
    ),
    pytest.param(
        TOTAL_RULE + "          add: {_n: 1}\n",
        "routing.yaml:10: state.totals.pnl.rules[0].add._n: a measure's name "
        "is letters, digits and _, starting with a letter, not '_n'",
        id="measure name",
    ),
    pytest.param(
        TOTAL_RULE + "          add: {n: '{{ pnl +'}\n",
        "routing.yaml:10: state.totals.pnl.rules[0].add.n: template error: "
        "unexpected 'end of template'",
        id="add template",
    ),
]


@pytest.mark.parametrize(("tail", "message"), MISTAKES)
def test_each_mistake_is_told_where_it_is(tail: str, message: str) -> None:
    assert (message,) == _problems(tail)


def test_problems_of_the_state_and_of_routes_are_all_told() -> None:
    text = (
        'version: 1\nchannels:\n  a: ""\n'
        "routes:\n"
        "  - {name: r, to: nowhere}\n"
        "state:\n"
        "  tables:\n"
        "    agents:\n"
        "      key: '{{ agent }}'\n"
        "      keep: -1\n"
        "      rules:\n"
        "        - {set: {_key: 1}}\n"
        "        - {match: {event: x}, remove: true, continue: 2}\n"
        "  totals:\n"
        "    agents: {periods: [year], rules: [{add: {n: x}}]}\n"
    )
    with pytest.raises(ConfigError) as info:
        parse_config(text, "routing.yaml", environ={})

    assert [
        (
            "routing.yaml:5: routes[0].to: unknown channel 'nowhere' "
            "(channels are declared under 'channels:')"
        ),
        (
            "routing.yaml:10: state.tables.agents.keep: must be a positive "
            "whole number (the most rows kept), not -1"
        ),
        (
            "routing.yaml:12: state.tables.agents.rules[0].set._key: '_key' "
            "starts with _, as the names a row holds of its own do (_key, "
            "_created, _updated); name it without"
        ),
        (
            "routing.yaml:13: state.tables.agents.rules[1].continue: must be "
            "true or false, not 2"
        ),
        (
            "routing.yaml:15: state.totals.agents: duplicate name 'agents' (a "
            "table is called that; tables and totals need names of their own)"
        ),
        (
            "routing.yaml:15: state.totals.agents.periods[0]: unknown period "
            "'year' (periods: day, week, all)"
        ),
        (
            "routing.yaml:15: state.totals.agents.rules[0].add.n: 'add' "
            "takes a number, or a template that gives one, not 'x'"
        ),
    ] == list(info.value.problems)


def test_rules_under_a_bare_on_are_checked_too() -> None:
    problems = _problems(
        "state:\n"
        "  tables:\n"
        "    agents:\n"
        "      key: k\n"
        "      on:\n"
        "        - set: {_since: 1}\n"
    )

    assert (
        (
            "routing.yaml:9: state.tables.agents.True: YAML reads a bare 'on' "
            "as true: the rules go under 'rules:'"
        ),
        (
            "routing.yaml:10: state.tables.agents.True[0].set._since: "
            "'_since' starts with _, as the names a row holds of its own do "
            "(_key, _created, _updated); name it without"
        ),
    ) == problems


# -- the shipped routing's state ----------------------------------------------


def at(iso: str) -> float:
    return datetime.fromisoformat(iso).replace(tzinfo=timezone.utc).timestamp()


def ev(event: str, t: float, **fields: Any) -> LogEvent:
    return LogEvent(event=event, level=logging.INFO, time=t, fields=fields)


def public(rows: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        key: {n: x for n, x in row.items() if not n.startswith("_")}
        for key, row in rows.items()
    }


def test_the_shipped_state_is_read_from_the_file() -> None:
    state = load_config(SHIPPED_ROUTING, environ={}).state
    assert state is not None
    found = outline(state)

    assert ("UTC", timezone.utc) == found["zone"]
    assert ["agents", "positions", "health"] == [
        t["name"] for t in found["tables"]
    ]
    assert [
        ["agent?", "agent_deployed", "agent_started", "agent_stopped"]
    ] == [[r["match"] for r in found["tables"][0]["rules"]]]
    assert [True, False, False, False] == [
        r["continue"] for r in found["tables"][0]["rules"]
    ]
    assert ("{{ agent }} {{ market }} {{ side }}", "pieces") == (
        found["tables"][1]["key"]
    )
    assert "components" == found["tables"][2]["each"]
    (pnl,) = found["totals"]
    assert ("pnl", ("day", "week", "all")) == (pnl["name"], pnl["periods"])
    assert ("position_closed", "trade_executed") == tuple(
        r["match"] for r in pnl["rules"]
    )


def test_the_shipped_state_follows_a_scripted_floor() -> None:
    state = load_config(SHIPPED_ROUTING, environ={}).state
    assert state is not None
    t = at("2026-02-02T09:00")  # a Monday
    floor = FloorState(state)
    for event in [
        ev("agent_deployed", t, agent="alpha", strategy="momentum",
           capital=1000.0, mode="paper"),
        ev("agent_started", t + 1, agent="alpha", mode="paper",
           capital=1000.0, config={"risk": 0.02}, markets=["BTC-100K"]),
        ev("agent_started", t + 2, agent="beta"),  # no mode, no capital
        ev("heartbeat", t + 3, agent="beta", status="healthy"),
        ev("trade_executed", t + 10, agent="alpha", market="BTC-100K",
           side="YES", amount=50.0, price=0.62, fees=0.1, is_paper=True),
        ev("trade_executed", t + 11, agent="beta", market="ETH-5K",
           side="NO", amount=20.0, price=0.3),  # no fees
        ev("position_opened", t + 20, agent="alpha", market="BTC-100K",
           side="YES", entry_price=0.62, size=50.0),
        ev("position_opened", t + 21, agent="alpha", market="BTC-100K",
           side="NO", entry_price=0.4, size=10.0),
        ev("position_opened", t + 22, agent="beta", market="ETH-5K",
           side="NO", entry_price=0.3, size=20.0),
        ev("position_closed", t + 30, agent="alpha", market="BTC-100K",
           side="YES", entry_price=0.62, exit_price=0.7, pnl=6.45),
        ev("position_closed", t + 31, agent="beta", market="ETH-5K",
           side="NO", pnl=-2.5),
        ev("agent_stopped", t + 40, agent="beta", reason="drawdown"),
        ev("health_check", t + 50, components={
            "database": {"ok": True, "latency_ms": 12},
            "redis": {"ok": False, "detail": "timeout"},
        }),
        ev("health_check", t + 60, components={"polymarket_api": True}),
    ]:  # fmt: skip
        floor.feed(event)

    assert {
        "alpha": {
            "last_seen": t + 30,
            "status": "running",
            "strategy": "momentum",
            "mode": "paper",
            "capital": 1000.0,
            "since": t + 1,
            "reason": None,
        },
        "beta": {
            "last_seen": t + 40,
            "status": "stopped",
            "mode": None,
            "capital": None,
            "since": t + 40,
            "reason": "drawdown",
        },
    } == public(floor.tables["agents"])
    assert {
        "alpha BTC-100K NO": {
            "agent": "alpha",
            "market": "BTC-100K",
            "side": "NO",
            "entry_price": 0.4,
            "size": 10.0,
            "opened": t + 21,
        }
    } == public(floor.tables["positions"])
    assert {
        "database": {"ok": True, "latency_ms": 12, "detail": None},
        "redis": {"ok": False, "latency_ms": None, "detail": "timeout"},
        "polymarket_api": {"ok": True, "latency_ms": None, "detail": None},
    } == public(floor.tables["health"])
    sums = {
        "realised": 3.95,
        "closed": 2,
        "wins": 1,
        "losses": 1,
        "trades": 2,
        "fees": 0.1,
        "volume": 70.0,
    }
    assert {"2026-02-02": sums} == floor.totals["pnl"]["day"]
    assert {"2026-W06": sums} == floor.totals["pnl"]["week"]
    assert {"all": sums} == floor.totals["pnl"]["all"]
    assert {"pnl.fees: failed": 1} == dict(floor.errors)


# -- check --------------------------------------------------------------------


LISTED = """\
table   key             options          rules
──────  ──────────────  ───────────────  ────────────────────────────────────────────────
agents  {{ agent }}     keep 50 rows     agent? → set last_seen (continue)
                                         agent_started ≥info → set status, mode, n, on, x
                                         agent_stopped → remove
health  {{ item.key }}  each components  health_check → set ok, v

total  periods                   rules
─────  ────────────────────────  ────────────────────────────────────────────
pnl    week, day (Europe/Paris)  position_closed → add realised, closed, half

channels no route names: a
"""  # noqa: E501 - as check prints it


def test_check_lists_the_tables_and_totals(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "floor.yaml"
    path.write_text(HEAD + FULL, encoding="utf-8")

    assert 0 == main(["check", str(path)])

    summary, *rest = capsys.readouterr().out.splitlines(keepends=True)
    assert f"{path}: OK, 1 channel, 0 routes, 2 tables, 1 total\n" == summary
    assert LISTED == "".join(rest[: LISTED.count("\n")])


def test_check_without_routes_shows_no_route_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "floor.yaml"
    path.write_text(
        HEAD + "state: {totals: {n: {rules: [{add: {e: 1}}]}}}\n",
        encoding="utf-8",
    )

    main(["check", str(path)])

    assert [
        f"{path}: OK, 1 channel, 0 routes, 1 total",
        "total  periods               rules",
        "─────  ────────────────────  ────────────────────",
        "n      day, week, all (UTC)  (everything) → add e",
        "",
    ] == capsys.readouterr().out.splitlines()[:5]


STATE = """\
state:
  tables:
    agents:
      key: "{{ agent }}"
      rules:
        - match: {event: agent_started}
          set: {status: running}
          CONTINUE
        - match: {event: agent_stopped}
          set: {status: stopped}
"""


def test_the_fingerprint_is_the_section_as_written() -> None:
    """Any change to the section changes it; reading it again does not."""
    base = STATE.replace("CONTINUE", "")
    variants = [
        base,
        STATE.replace("CONTINUE", "continue: true"),
        base.replace("running", "up"),
        base.replace("{status: stopped}", "{status: stopped, n: 1}"),
        base.replace("state:\n", "state:\n  timezone: Asia/Tokyo\n"),
    ]
    prints = [_config(text).state.fingerprint for text in variants]
    assert len(set(prints)) == len(variants)
    assert _config(base).state.fingerprint == prints[0]
    assert _config("# a comment\n" + base).state.fingerprint == prints[0]


@pytest.mark.parametrize("name", ["key", "created", "updated"])
def test_a_value_cannot_take_a_name_replies_give_every_row(name: str) -> None:
    text = STATE.replace("CONTINUE", "").replace(
        "{status: running}", f"{{status: running, {name}: x}}"
    )
    (problem,) = _problems(text)
    assert f"state.tables.agents.rules[0].set.{name}: '{name}' is what a " in (
        problem
    )
    assert "(key, created, updated)" in problem
