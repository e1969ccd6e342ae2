"""
Folding in the routing file: ``delivery.max_lag``, and a route's
``max_lag:`` and ``fold:``.

What loads (the :class:`Fold` of each form), what is refused (each
problem with its line and key path), what reaches the messages (a
route's fold is copied onto them; made routes never fold), what a
reload may change, and what ``check`` shows. Error cases build a file
from HEAD (lines 1-6, the route starting at line 5) and the lines of the
case, which start at line 7.
"""

from __future__ import annotations

import logging
import math
import os
import time
from pathlib import Path
from typing import Any

import pytest

from polybot_loghandler._cli import main
from polybot_loghandler._config import load_config, parse_config
from polybot_loghandler._config.fold import MIN_LAG
from polybot_loghandler._diagnostics import Diagnostics
from polybot_loghandler._model import (
    MAX_LAG,
    Config,
    DeliverySettings,
    Fold,
)
from polybot_loghandler._reload import fixed_changes
from polybot_loghandler._routing import RoutingHolder
from polybot_loghandler._stats import Stats
from polybot_loghandler._watching.measures import Measure
from polybot_loghandler._watching.render import made_route
from polybot_loghandler._watching.watching import (
    ALERT,
    DIGEST,
    RECOVERY,
    Output,
)
from polybot_loghandler.exceptions import ConfigError
from tests.conftest import SHIPPED_ROUTING

HEAD = """\
version: 1
channels:
  trades: ""
routes:
  - name: trades
    to: trades
"""
#: The line the lines of a case start at.
FIRST_LINE = 7


def _config(tail: str) -> Config:
    return parse_config(HEAD + tail, "routing.yaml", environ={})


def _fold(tail: str) -> Fold:
    (route,) = _config(tail).routes
    return route.fold


def _problems(tail: str) -> tuple[str, ...]:
    with pytest.raises(ConfigError) as info:
        _config(tail)
    return info.value.problems


def _where(problem: str) -> str:
    """A problem's ``file:line: key.path``."""
    return ": ".join(problem.split(": ", 2)[:2])


# -- what loads ---------------------------------------------------------------

#: A route's ``fold:`` and ``max_lag:``, as written, and its Fold.
FOLDS = [
    pytest.param("", Fold(), id="neither"),
    pytest.param("    fold: never\n", Fold(never=True), id="never"),
    pytest.param("    fold: {}\n", Fold(), id="empty-mapping"),
    pytest.param("    fold:\n", Fold(), id="null"),
    pytest.param(
        "    fold: {group_by: agent}\n", Fold(group_by="agent"), id="group-by"
    ),
    pytest.param(
        "    fold: {measures: {trades: count, volume: sum(amount)}}\n",
        Fold(
            measures=(
                ("trades", Measure("count")),
                ("volume", Measure("sum", "amount")),
            )
        ),
        id="measures-in-order",
    ),
    pytest.param("    fold: {top: 3}\n", Fold(top=3), id="top"),
    pytest.param(
        "    fold:\n"
        "      group_by: market\n"
        "      measures:\n"
        "        price: last(price)\n"
        "      top: 5\n",
        Fold(
            group_by="market",
            measures=(("price", Measure("last", "price")),),
            top=5,
        ),
        id="block-mapping",
    ),
    pytest.param("    max_lag: 30s\n", Fold(max_lag=30.0), id="max-lag"),
    pytest.param("    max_lag: 90\n", Fold(max_lag=90.0), id="max-lag-90"),
    pytest.param(
        f"    max_lag: {MIN_LAG:g}s\n", Fold(max_lag=MIN_LAG), id="max-lag-min"
    ),
    pytest.param("    max_lag: off\n", Fold(max_lag=math.inf), id="lag-off"),
    pytest.param(
        "    max_lag: 'off'\n", Fold(max_lag=math.inf), id="lag-off-quoted"
    ),
    pytest.param(
        "    max_lag: false\n", Fold(max_lag=math.inf), id="lag-false"
    ),
    pytest.param(
        "    max_lag: 1m\n    fold: never\n",
        Fold(never=True, max_lag=60.0),
        id="both",
    ),
    pytest.param(
        "    max_lag: 10m\n    fold: {group_by: agent}\n",
        Fold(max_lag=600.0, group_by="agent"),
        id="both-mapping",
    ),
]


@pytest.mark.parametrize(("tail", "fold"), FOLDS)
def test_a_routes_fold(tail: str, fold: Fold) -> None:
    assert fold == _fold(tail)


#: ``delivery.max_lag`` as written, and the setting.
DELIVERY_LAGS = [
    pytest.param("", MAX_LAG, id="default"),
    pytest.param("delivery:\n  max_lag: 30s\n", 30.0, id="30s"),
    pytest.param("delivery:\n  max_lag: 10m\n", 600.0, id="10m"),
    pytest.param("delivery:\n  max_lag: 45\n", 45.0, id="seconds"),
    pytest.param("delivery:\n  max_lag: off\n", None, id="off"),
    pytest.param("delivery:\n  max_lag: 'off'\n", None, id="off-quoted"),
]


@pytest.mark.parametrize(("tail", "lag"), DELIVERY_LAGS)
def test_delivery_max_lag(tail: str, lag: float | None) -> None:
    assert lag == _config(tail).delivery.max_lag


def test_the_default_is_two_minutes() -> None:
    assert 120.0 == DeliverySettings().max_lag


# -- what is refused ----------------------------------------------------------

#: Each mistake, the ``file:line: key.path`` it is told at, and a part
#: of what it says. Each case makes exactly one problem.
MISTAKES = [
    pytest.param(
        "    fold: sometimes\n",
        "routing.yaml:7: routes[0].fold",
        "must be never, or a mapping {group_by: FIELD, measures: "
        "{NAME: MEASURE}, top: N} (each key optional), not 'sometimes'",
        id="fold-a-word",
    ),
    pytest.param(
        "    fold: false\n",
        "routing.yaml:7: routes[0].fold",
        "must be never, or a mapping",
        id="fold-false",
    ),
    pytest.param(
        "    fold: [agent]\n",
        "routing.yaml:7: routes[0].fold",
        "not a list",
        id="fold-a-list",
    ),
    pytest.param(
        "    fold:\n      grup_by: agent\n",
        "routing.yaml:8: routes[0].fold.grup_by",
        "unknown key (did you mean 'group_by'?) (allowed: group_by, "
        "measures, top)",
        id="fold-key-typo",
    ),
    pytest.param(
        "    fold:\n      max_lag: 30s\n",
        "routing.yaml:8: routes[0].fold.max_lag",
        "unknown key",
        id="max-lag-inside-fold",
    ),
    pytest.param(
        "    fodl: never\n",
        "routing.yaml:7: routes[0].fodl",
        "did you mean 'fold'?",
        id="route-key-typo",
    ),
    pytest.param(
        "    max_lg: 30s\n",
        "routing.yaml:7: routes[0].max_lg",
        "did you mean 'max_lag'?",
        id="route-lag-typo",
    ),
    pytest.param(
        "    fold:\n      group_by: ''\n",
        "routing.yaml:8: routes[0].fold.group_by",
        "name a field to group by",
        id="group-by-empty",
    ),
    pytest.param(
        "    fold:\n      group_by: [agent]\n",
        "routing.yaml:8: routes[0].fold.group_by",
        "group_by must be a string, not a list",
        id="group-by-a-list",
    ),
    pytest.param(
        "    fold:\n      measures:\n        n: total(x)\n",
        "routing.yaml:9: routes[0].fold.measures.n",
        "'total(x)': not a measure (use count, or sum(FIELD)",
        id="measure-unknown",
    ),
    pytest.param(
        "    fold:\n      measures: {n: sum}\n",
        "routing.yaml:8: routes[0].fold.measures.n",
        "sum needs the field it reads: sum(FIELD)",
        id="sum-without-field",
    ),
    pytest.param(
        "    fold:\n      measures: {key: count}\n",
        "routing.yaml:8: routes[0].fold.measures.key",
        "names a group's key",
        id="measure-named-key",
    ),
    pytest.param(
        "    fold:\n      measures: [count]\n",
        "routing.yaml:8: routes[0].fold.measures",
        "measures (name: count, name: sum(FIELD), ...) must be a mapping",
        id="measures-a-list",
    ),
    pytest.param(
        "    fold:\n      measures: {}\n",
        "routing.yaml:8: routes[0].fold.measures",
        "name at least one measure",
        id="measures-empty",
    ),
    pytest.param(
        "    fold:\n      top: 0\n",
        "routing.yaml:8: routes[0].fold.top",
        "must be a positive whole number (the groups a summary shows "
        "before '(others)'), not 0",
        id="top-zero",
    ),
    pytest.param(
        "    fold:\n      top: 2.5\n",
        "routing.yaml:8: routes[0].fold.top",
        "positive whole number",
        id="top-a-fraction",
    ),
    pytest.param(
        "    max_lag: soon\n",
        "routing.yaml:7: routes[0].max_lag",
        "invalid duration 'soon'",
        id="lag-not-a-duration",
    ),
    pytest.param(
        "    max_lag: 31d\n",
        "routing.yaml:7: routes[0].max_lag",
        "at most 30 days",
        id="lag-too-long",
    ),
    pytest.param(
        "    max_lag: 2s\n",
        "routing.yaml:7: routes[0].max_lag",
        "must be at least 5s, or off (Discord sends about one message "
        "every 2 seconds per channel",
        id="lag-too-short",
    ),
    pytest.param(
        "    max_lag: 0\n",
        "routing.yaml:7: routes[0].max_lag",
        "must be at least 5s, or off",
        id="lag-zero",
    ),
    pytest.param(
        "    max_lag: on\n",
        "routing.yaml:7: routes[0].max_lag",
        "invalid duration True",
        id="lag-on",
    ),
    pytest.param(
        "delivery:\n  max_lag: 1s\n",
        "routing.yaml:8: delivery.max_lag",
        "must be at least 5s, or off",
        id="delivery-lag-too-short",
    ),
    pytest.param(
        "delivery:\n  max_lag: a while\n",
        "routing.yaml:8: delivery.max_lag",
        "invalid duration 'a while'",
        id="delivery-lag-not-a-duration",
    ),
    pytest.param(
        "delivery:\n  max_lg: 1m\n",
        "routing.yaml:8: delivery.max_lg",
        "did you mean 'max_lag'?",
        id="delivery-lag-typo",
    ),
]


@pytest.mark.parametrize(("tail", "where", "says"), MISTAKES)
def test_each_mistake_is_told_where_it_is(
    tail: str, where: str, says: str
) -> None:
    problems = _problems(tail)

    assert [where] == [_where(p) for p in problems]
    assert says in problems[0]


def test_a_bad_measure_is_told_as_a_digests_is() -> None:
    """The fold's measures are checked by the digests' own checks."""
    digest = (
        "digests:\n  - name: d\n    every: 1h\n    to: trades\n"
        "    measures: {n: avg}\n"
    )
    fold = "    fold: {measures: {n: avg}}\n"

    (of_digest,) = _problems(digest)
    (of_fold,) = _problems(fold)

    said = "'avg': avg needs the field it reads: avg(FIELD)"
    assert of_digest.endswith(f"digests[0].measures.n: {said}")
    assert of_fold.endswith(f"routes[0].fold.measures.n: {said}")


def test_every_problem_of_a_fold_is_told_at_once() -> None:
    problems = _problems(
        "    max_lag: 1s\n"
        "    fold:\n"
        "      group_by: ''\n"
        "      measures: {n: total(x)}\n"
        "      top: -1\n"
        "      colour: red\n"
    )

    assert [
        "routing.yaml:7: routes[0].max_lag",
        "routing.yaml:9: routes[0].fold.group_by",
        "routing.yaml:10: routes[0].fold.measures.n",
        "routing.yaml:11: routes[0].fold.top",
        "routing.yaml:12: routes[0].fold.colour",
    ] == sorted((_where(p) for p in problems), key=_line)


def _line(where: str) -> int:
    return int(where.split(":")[1])


# -- Fold ---------------------------------------------------------------------

LIMITS = [
    pytest.param(Fold(), 120.0, 120.0, id="the-delivery's"),
    pytest.param(Fold(), None, math.inf, id="delivery-off"),
    pytest.param(Fold(max_lag=30.0), 120.0, 30.0, id="the-route's"),
    pytest.param(Fold(max_lag=30.0), None, 30.0, id="route-over-off"),
    pytest.param(Fold(max_lag=math.inf), 120.0, math.inf, id="route-off"),
    pytest.param(Fold(never=True), 120.0, math.inf, id="never"),
    pytest.param(
        Fold(never=True, max_lag=30.0), 120.0, math.inf, id="never-wins"
    ),
]


@pytest.mark.parametrize(("fold", "default", "limit"), LIMITS)
def test_the_lag_past_which_a_route_folds(
    fold: Fold, default: float | None, limit: float
) -> None:
    assert limit == fold.lag_limit(default)


# -- the messages -------------------------------------------------------------

ROUTING = """\
version: 1
channels:
  trades: ""
  alerts: ""
  perf: ""
delivery:
  max_lag: %s
routes:
  - name: trades
    match: {event: trade_executed}
    to: trades
    max_lag: 30s
    fold: {group_by: agent, measures: {volume: sum(amount)}, top: 3}
  - name: others
    to: alerts
watches:
  - name: heartbeat
    match: {event: heartbeat}
    key: "{{ agent }}"
    alert_after: 3m
    to: alerts
digests:
  - name: hourly
    match: {event: trade_executed}
    every: 1h
    measures: {trades: count}
    to: perf
"""


def _holder(path: Path | None = None, lag: str = "2m") -> RoutingHolder:
    if path is None:
        config = parse_config(ROUTING % lag, "routing.yaml", environ={})
    else:
        _write(path, ROUTING % lag, age=30.0)
        config = load_config(path, environ={})
    where = None if path is None else str(path)
    return RoutingHolder(config, where, Stats(), Diagnostics())


def _raw(event: str, **fields: Any) -> Any:
    return (event, logging.INFO, "app", time.time(), fields, None, None)


def test_a_routes_message_carries_its_fold() -> None:
    holder = _holder()
    (route, other) = holder.current.config.routes

    (trade,) = holder.process(_raw("trade_executed", agent="A", amount=5))
    (anything,) = holder.process(_raw("agent_started", agent="A"))

    written = Fold(
        max_lag=30.0,
        group_by="agent",
        measures=(("volume", Measure("sum", "amount")),),
        top=3,
    )
    assert written == route.fold == trade.fold
    assert Fold() == anything.fold == other.fold
    assert 0 == trade.folded == anything.folded


@pytest.mark.parametrize("kind", [ALERT, RECOVERY, DIGEST])
def test_made_routes_are_never_folded(kind: str) -> None:
    config = _holder().current.config
    rule = config.digests[0] if kind == DIGEST else config.watches[0]

    assert Fold(never=True) == made_route(rule, kind).fold


def test_watch_alerts_and_digests_are_sent_never_folded() -> None:
    holder = _holder()
    alert = Output(
        ALERT,
        "heartbeat",
        time.time(),
        {"watch": "heartbeat", "key": "A", "silent_for": 200.0},
    )
    digest = Output(
        DIGEST,
        "hourly",
        time.time(),
        {
            "digest": "hourly",
            "period": {"start": time.time() - 3600, "end": time.time()},
            "timezone": "UTC",
            "groups": [{"key": "", "trades": 3}],
            "total": {"trades": 3},
            "events": 3,
            "crowded": 0,
            "partial": False,
        },
    )

    messages = holder.made(alert) + holder.made(digest)

    assert ["alerts", "perf"] == [m.channel for m in messages]
    assert all(m.fold == Fold(never=True) for m in messages)


# -- reload -------------------------------------------------------------------


def _write(path: Path, text: str, age: float) -> None:
    """Write *text*, dated *age* seconds ago (long settled)."""
    path.write_text(text, encoding="utf-8")
    then = time.time() - age
    os.utime(path, (then, then))


def test_a_reload_changes_max_lag_live(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "routing.yaml"
    holder = _holder(path, "2m")
    old = holder.current.config.delivery
    _write(path, (ROUTING % "45s").replace("30s", "off"), age=10.0)

    assert holder.check() is None

    new = holder.current.config
    assert 120.0 == old.max_lag
    assert 45.0 == new.delivery.max_lag
    assert math.inf == new.routes[0].fold.max_lag
    assert [] == fixed_changes(old, new.delivery)
    assert "restarts" not in capsys.readouterr().err


def test_max_lag_is_not_a_setting_fixed_at_start() -> None:
    assert "max_lag" not in DeliverySettings.FIXED
    assert [] == fixed_changes(
        DeliverySettings(), DeliverySettings(max_lag=None)
    )


# -- check --------------------------------------------------------------------

CHECKED = """\
version: 1
channels: {trades: "", alerts: ""}
routes:
  - {name: trades, match: {event: trade_executed}, to: trades,
     coalesce: false, fold: {group_by: agent}}
  - {name: live, match: {event: live_trade}, to: trades, fold: never}
  - {name: slow, match: {event: x}, to: alerts, max_lag: 30s}
  - {name: late, match: {event: y}, to: alerts, max_lag: off}
  - {name: plain, to: alerts}
"""


def _options(capsys: pytest.CaptureFixture[str]) -> dict[str, str]:
    """Each route's options, as check printed them."""
    lines = capsys.readouterr().out.splitlines()
    header = lines[1]
    start = header.index("options")
    rows = lines[3 : lines.index("")]
    return {row.split()[1]: row[start:].strip() for row in rows}


def test_check_shows_a_routes_folding(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "routing.yaml"
    path.write_text(CHECKED, encoding="utf-8")

    assert 0 == main(["check", str(path)])

    assert {
        "trades": "no coalescing, folds by agent",
        "live": "never folded",
        "slow": "max_lag 30s",
        "late": "max_lag off",
        "plain": "",
    } == _options(capsys)


def test_the_shipped_routing_folds_and_passes_check(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """
    The busy info routes fold by what reads well in a summary; the
    decisions about agents and capital are never folded.
    """
    assert 0 == main(["check", str(SHIPPED_ROUTING)])
    options = _options(capsys)
    config = load_config(SHIPPED_ROUTING, environ={})
    folds = {route.name: route.fold for route in config.routes}

    assert MAX_LAG == config.delivery.max_lag
    trades = Fold(
        group_by="agent",
        measures=(
            ("trades", Measure("count")),
            ("volume", Measure("sum", "amount")),
            ("fees", Measure("sum", "fees")),
        ),
    )
    assert trades == folds["trade_executed"]
    assert "no coalescing, folds by agent" == options["trade_executed"]
    assert "market" == folds["market_update"].group_by
    for name in ("position_opened", "position_closed", "trade_audit_passed"):
        assert "agent" == folds[name].group_by, name
    for name in ("floor_boss_decision", "capital_reallocation"):
        assert folds[name].never, name
        assert "never folded, as Floor Boss" == options[name]
