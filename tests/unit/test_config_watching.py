"""
``watches:`` and ``digests:`` in the routing file: what loads, and what
is refused, each problem told with its line and key path.
"""

from __future__ import annotations

from datetime import timezone
from zoneinfo import ZoneInfo

import pytest

from polybot_loghandler._config import parse_config
from polybot_loghandler._events import LogEvent
from polybot_loghandler._model import Config, Mention
from polybot_loghandler._watching.measures import Measure
from polybot_loghandler.exceptions import ConfigError

HEAD = """\
version: 1
channels:
  alerts: ""
  perf: ""
routes:
  - {name: trades, match: {event: trade_executed}, to: perf}
"""


def _config(tail: str) -> Config:
    return parse_config(HEAD + tail, "routing.yaml", environ={})


def _problems(tail: str) -> tuple[str, ...]:
    with pytest.raises(ConfigError) as info:
        _config(tail)
    return info.value.problems


WATCH = """\
watches:
  - name: agent_heartbeat
    match: {event: heartbeat}
    key: "{{ agent }}"
    alert_after: 3m
    expect: [Momentum_BTC_v1, 7]
    end: {event: agent_stopped}
    to: alerts
    mention: everyone
    max_keys: 50
"""

DIGEST = """\
digests:
  - name: hourly
    match: {event: trade_executed}
    every: 1h
    timezone: Europe/London
    group_by: agent
    measures: {trades: count, volume: sum(amount), worst: min(pnl)}
    to: perf
    top: 5
    grace: 500ms
    max_groups: 20
"""


class TestLoads:
    def test_a_watch_with_every_key(self) -> None:
        (watch,) = _config(WATCH).watches

        assert "agent_heartbeat" == watch.name
        assert 180.0 == watch.alert_after
        assert ("Momentum_BTC_v1", "7") == watch.expect
        assert Mention(kind="everyone") == watch.mention
        assert 50 == watch.max_keys
        assert watch.recovery
        assert watch.key is not None
        assert "A" == watch.key.render({"agent": "A"})
        assert watch.end is not None
        stopped = LogEvent(event="agent_stopped", level=20)
        assert watch.end.matches(stopped, {})
        assert 8 == watch.line

    def test_a_digest_with_every_key(self) -> None:
        (digest,) = _config(DIGEST).digests

        assert 3600.0 == digest.every
        assert ZoneInfo("Europe/London") == digest.zone
        assert "Europe/London" == digest.zone_name
        assert "agent" == digest.group_by
        assert (
            ("trades", Measure("count")),
            ("volume", Measure("sum", "amount")),
            ("worst", Measure("min", "pnl")),
        ) == digest.measures
        assert (5, 0.5, 20) == (digest.top, digest.grace, digest.max_groups)

    def test_the_defaults(self) -> None:
        config = _config(
            "watches:\n  - {name: w, alert_after: 10, to: alerts}\n"
            "digests:\n  - {name: d, every: 1d, measures: {n: count}, "
            "to: perf}\n"
        )
        (watch,), (digest,) = config.watches, config.digests

        assert (None, (), None, True, 1000) == (
            watch.key,
            watch.expect,
            watch.end,
            watch.recovery,
            watch.max_keys,
        )
        assert ("UTC", timezone.utc, None, None, 2.0, 100) == (
            digest.zone_name,
            digest.zone,
            digest.group_by,
            digest.top,
            digest.grace,
            digest.max_groups,
        )

    @pytest.mark.parametrize(
        ("every", "seconds"),
        [
            pytest.param("1s", 1.0, id="second"),
            pytest.param("5m", 300.0, id="five-minutes"),
            pytest.param("1h", 3600.0, id="hour"),
            pytest.param("6h", 21600.0, id="six-hours"),
            pytest.param("1d", 86400.0, id="day"),
            pytest.param("1w", 604800.0, id="week"),
        ],
    )
    def test_periods_that_divide_a_day(
        self, every: str, seconds: float
    ) -> None:
        config = _config(
            f"digests:\n  - {{name: d, every: {every}, measures: "
            "{n: count}, to: perf}\n"
        )

        assert seconds == config.digests[0].every

    def test_recovery_off_or_with_its_own_embed(self) -> None:
        config = _config(
            "watches:\n"
            "  - {name: a, alert_after: 1m, to: alerts, recovery: false}\n"
            "  - name: b\n"
            "    alert_after: 1m\n"
            "    to: alerts\n"
            "    recovery: {embed: {title: '{{ key }} is back'}}\n"
        )
        off, own = config.watches

        assert (False, None) == (off.recovery, off.recovery_embed)
        assert own.recovery
        assert own.recovery_embed is not None

    def test_a_changed_definition_has_another_fingerprint(self) -> None:
        before = _config(WATCH).watches[0].fingerprint
        same = _config(WATCH).watches[0].fingerprint
        after = _config(WATCH.replace("3m", "4m")).watches[0].fingerprint

        assert before == same
        assert before != after

    def test_a_file_without_them_has_none(self) -> None:
        config = _config("")

        assert ((), ()) == (config.watches, config.digests)


#: Each mistake, with the ``file:line: key.path`` it is told at and a
#: part of what it says.
MISTAKES = [
    pytest.param(
        "watches: {name: w}\n",
        "routing.yaml:7: watches",
        "must be a list",
        id="watches-not-a-list",
    ),
    pytest.param(
        "watches:\n  - {name: w, to: alerts}\n",
        "routing.yaml:8: watches[0]",
        "missing required key 'alert_after'",
        id="no-alert-after",
    ),
    pytest.param(
        "watches:\n  - {name: w, alert_after: 0, to: alerts}\n",
        "routing.yaml:8: watches[0].alert_after",
        "longer than 0s",
        id="alert-after-zero",
    ),
    pytest.param(
        "watches:\n  - {name: w, alert_after: soon, to: alerts}\n",
        "routing.yaml:8: watches[0].alert_after",
        "invalid duration",
        id="alert-after-not-a-duration",
    ),
    pytest.param(
        "watches:\n  - {name: w, alert_after: 1m, to: alert}\n",
        "routing.yaml:8: watches[0].to",
        "did you mean 'alerts'",
        id="unknown-channel",
    ),
    pytest.param(
        "watches:\n  - {name: trades, alert_after: 1m, to: alerts}\n",
        "routing.yaml:8: watches[0].name",
        "duplicate name 'trades' (first used by routes[0]",
        id="name-of-a-route",
    ),
    pytest.param(
        "watches:\n  - {name: w, alert_after: 1m, to: alerts}\n"
        "digests:\n  - {name: w, every: 1h, measures: {n: count}, "
        "to: perf}\n",
        "routing.yaml:10: digests[0].name",
        "first used by watches[0]",
        id="name-of-a-watch",
    ),
    pytest.param(
        "watches:\n  - {name: ' ', alert_after: 1m, to: alerts}\n",
        "routing.yaml:8: watches[0].name",
        "must not be empty",
        id="empty-name",
    ),
    pytest.param(
        "watches:\n  - {name: w, alert_after: 1m, to: alerts, "
        "expect: [{a: 1}]}\n",
        "routing.yaml:8: watches[0].expect[0]",
        "a string",
        id="expect-a-mapping",
    ),
    pytest.param(
        "watches:\n  - {name: w, alert_after: 1m, to: alerts, "
        "key: '{{ agent'}\n",
        "routing.yaml:8: watches[0].key",
        "",
        id="key-template-broken",
    ),
    pytest.param(
        "watches:\n  - {name: w, alert_after: 1m, to: alerts, "
        "end: {evnt: x}}\n",
        "routing.yaml:8: watches[0].end.evnt",
        "did you mean 'event'",
        id="end-match-typo",
    ),
    pytest.param(
        "watches:\n  - {name: w, alert_after: 1m, to: alerts, recovery: 3}\n",
        "routing.yaml:8: watches[0].recovery",
        "true, false or {embed",
        id="recovery-a-number",
    ),
    pytest.param(
        "watches:\n  - {name: w, alert_after: 1m, to: alerts, max_keys: 0}\n",
        "routing.yaml:8: watches[0].max_keys",
        "positive whole number",
        id="max-keys-zero",
    ),
    pytest.param(
        "watches:\n  - {name: w, alert_after: 1m, to: alerts, "
        "mention: somebody}\n",
        "routing.yaml:8: watches[0].mention",
        "unknown mention",
        id="mention-unknown",
    ),
    pytest.param(
        "watches:\n  - {name: w, alert_after: 1m, to: alerts, colour: red}\n",
        "routing.yaml:8: watches[0].colour",
        "unknown key",
        id="unknown-key",
    ),
    pytest.param(
        "digests:\n  - {name: d, every: 7m, measures: {n: count}, to: perf}\n",
        "routing.yaml:8: digests[0].every",
        "must divide a day evenly",
        id="every-7m",
    ),
    pytest.param(
        "digests:\n  - {name: d, every: 2d, measures: {n: count}, to: perf}\n",
        "routing.yaml:8: digests[0].every",
        "at most a day (1d), or a week (1w)",
        id="every-2d",
    ),
    pytest.param(
        "digests:\n  - {name: d, every: 1h, measures: {n: count}, "
        "to: perf, timezone: Mars/Olympus}\n",
        "routing.yaml:8: digests[0].timezone",
        "unknown time zone 'Mars/Olympus'",
        id="unknown-zone",
    ),
    pytest.param(
        "digests:\n  - {name: d, every: 1h, to: perf}\n",
        "routing.yaml:8: digests[0]",
        "missing required key 'measures'",
        id="no-measures",
    ),
    pytest.param(
        "digests:\n  - {name: d, every: 1h, measures: {}, to: perf}\n",
        "routing.yaml:8: digests[0].measures",
        "at least one measure",
        id="measures-empty",
    ),
    pytest.param(
        "digests:\n  - {name: d, every: 1h, measures: [count], to: perf}\n",
        "routing.yaml:8: digests[0].measures",
        "must be a mapping",
        id="measures-a-list",
    ),
    pytest.param(
        "digests:\n  - {name: d, every: 1h, measures: {n: total(x)}, "
        "to: perf}\n",
        "routing.yaml:8: digests[0].measures.n",
        "not a measure (use count, or sum(FIELD)",
        id="measure-unknown",
    ),
    pytest.param(
        "digests:\n  - {name: d, every: 1h, measures: {n: sum}, to: perf}\n",
        "routing.yaml:8: digests[0].measures.n",
        "sum needs the field it reads",
        id="sum-without-field",
    ),
    pytest.param(
        "digests:\n  - {name: d, every: 1h, measures: {key: count}, "
        "to: perf}\n",
        "routing.yaml:8: digests[0].measures.key",
        "names a group's key",
        id="measure-named-key",
    ),
    pytest.param(
        "digests:\n  - {name: d, every: 1h, measures: {'a b': count}, "
        "to: perf}\n",
        "routing.yaml:8: digests[0].measures.a b",
        "letters, digits and _",
        id="measure-name-with-space",
    ),
    pytest.param(
        "digests:\n  - {name: d, every: 1h, measures: {n: count}, "
        "to: perf, group_by: ''}\n",
        "routing.yaml:8: digests[0].group_by",
        "name a field",
        id="group-by-empty",
    ),
    pytest.param(
        "digests:\n  - {name: d, every: 1h, measures: {n: count}, "
        "to: perf, top: -1}\n",
        "routing.yaml:8: digests[0].top",
        "positive whole number",
        id="top-negative",
    ),
]


@pytest.mark.parametrize(("tail", "where", "says"), MISTAKES)
def test_each_mistake_is_told_where_it_is(
    tail: str, where: str, says: str
) -> None:
    problems = _problems(tail)

    assert [where] == [": ".join(p.split(": ", 2)[:2]) for p in problems]
    assert says in problems[0]


def test_every_problem_of_both_lists_is_told_at_once() -> None:
    problems = _problems(
        "watches:\n"
        "  - {name: a, alert_after: 0, to: nowhere}\n"
        "digests:\n"
        "  - {name: b, every: 7m, measures: {n: count}, to: perf}\n"
    )

    assert 3 == len(problems)
