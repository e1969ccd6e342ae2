"""
A command's reply: what its templates see of the state, and the embed
they make, as safe and as bounded as any route's.
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from polybot_loghandler._config import parse_config
from polybot_loghandler._events import LogEvent
from polybot_loghandler._floor.model import (
    Rule,
    StateSpec,
    TableSpec,
    TotalSpec,
)
from polybot_loghandler._floor.replies import reply_context, reply_embed
from polybot_loghandler._floor.state import FloorState
from polybot_loghandler._floor.values import compile_value
from polybot_loghandler._matching import EventPattern, Matcher
from polybot_loghandler._model import Config
from tests.support.floor import match, sets

T = datetime(2026, 2, 1, 14, 0, tzinfo=timezone.utc).timestamp()


def _rule(event: str, **values: object) -> Rule:
    """A table rule: on *event*, set *values*."""
    return Rule(matcher=match(event), set=sets(**values))


AGENTS = TableSpec(
    name="agents",
    key=compile_value("{{ agent }}"),
    rules=(
        _rule("agent_started", status="running", mode="{{ mode }}"),
        _rule("agent_stopped", status="stopped"),
        _rule("heartbeat", last_seen="{{ time }}"),
    ),
)
POSITIONS = TableSpec(
    name="positions",
    key=compile_value("{{ agent }} {{ market }}"),
    rules=(
        _rule("position_opened", agent="{{ agent }}", market="{{ market }}"),
        Rule(
            matcher=Matcher(event=EventPattern(["position_closed"])),
            remove=True,
        ),
    ),
)
PNL = TotalSpec(
    name="pnl",
    periods=("day", "week", "all"),
    rules=(
        Rule(
            matcher=Matcher(event=EventPattern(["position_closed"])),
            add=(("realised", compile_value("{{ pnl }}")),),
        ),
    ),
)
SPEC = StateSpec(tables=(AGENTS, POSITIONS), totals=(PNL,))

ROUTING = """\
version: 1
channels:
  ops: ""
routes:
  - {name: all, match: {}, to: ops}
watches:
  - name: agent_heartbeat
    match: {event: heartbeat}
    key: "{{ agent }}"
    alert_after: 3m
    to: ops
commands:
  status:
    help: The floor at a glance
    reply:
      title: >-
        {{ tables.agents | selectattr('status', 'equalto', 'running')
        | list | length }} agents running,
        {{ tables.positions | length }} position open
      description: >-
        {% for a in tables.agents if a.status == 'running'
        and now_ts - (a.last_seen or 0)
        > watches.agent_heartbeat.alert_after %}silent: {{ a.key }}
        {% endfor %}
  pnl:
    help: Today's realised P&L
    reply:
      title: "{{ totals.pnl.day.realised | default(0) | money }}"
"""


def _config(spec: StateSpec = SPEC) -> Config:
    config = parse_config(ROUTING, "routing.yaml", environ={})
    return dataclasses.replace(config, state=spec)


def _ev(event: str, when: float, **fields: Any) -> LogEvent:
    return LogEvent(
        event=event, level=logging.INFO, logger="floor", time=when,
        fields=fields,
    )  # fmt: skip


def _floor(*events: LogEvent, spec: StateSpec = SPEC) -> FloorState:
    state = FloorState(spec)
    for ev in events:
        state.feed(ev)
    return state


def _reply(name: str, state: FloorState, now: float) -> dict[str, Any]:
    config = _config(state.spec)
    command = next(c for c in config.commands if c.name == name)
    return reply_embed(config, command, state, now)


SCRIPTED = (
    *(_ev("agent_started", T, agent=a, mode="paper") for a in "ABC"),
    _ev("position_opened", T + 10, agent="A", market="BTC"),
    _ev("position_opened", T + 20, agent="B", market="ETH"),
    _ev("position_closed", T + 30, agent="A", market="BTC", pnl=2.42),
    _ev("position_closed", T + 40, agent="X", market="SOL", pnl=-0.3),
    _ev("agent_stopped", T + 50, agent="C"),
    _ev("heartbeat", T + 60, agent="A"),
    _ev("heartbeat", T + 300, agent="B"),
)


class TestScriptedFloor:
    def test_status_counts_and_names_the_silent_agent(self) -> None:
        embed = _reply("status", _floor(*SCRIPTED), T + 330)

        assert embed["title"] == "2 agents running, 1 position open"
        assert embed["description"] == "silent: A"  # B was heard 30 s ago

    def test_pnl_is_today_s_realised_sum(self) -> None:
        assert _reply("pnl", _floor(*SCRIPTED), T + 330)["title"] == "$2.12"


class TestContext:
    def test_rows_by_key_with_their_times(self) -> None:
        state = _floor(*SCRIPTED)
        context = reply_context(_config(), state, T + 330)

        agents = context["tables"]["agents"]
        assert [a["key"] for a in agents] == ["A", "B", "C"]
        assert agents[0]["created"] == datetime.fromtimestamp(T, timezone.utc)
        assert agents[0]["updated"] == datetime.fromtimestamp(
            T + 60, timezone.utc
        )
        assert context["now_ts"] == T + 330
        assert context["watches"] == {
            "agent_heartbeat": {"alert_after": 180.0}
        }

    @pytest.mark.parametrize(
        ("zone", "asked", "today"),
        [
            pytest.param("UTC", T, 2.0, id="same-day"),
            pytest.param("UTC", T + 86_400, 0.0, id="next-day: none yet"),
            # 14:00 UTC is 23:00 in Tokyo; 1.5 h later is tomorrow there
            pytest.param("Asia/Tokyo", T + 5_400, 0.0, id="tokyo-midnight"),
            pytest.param("America/New_York", T + 5_400, 2.0, id="new-york"),
        ],
    )
    def test_totals_are_the_current_period_s_in_the_state_s_zone(
        self, zone: str, asked: float, today: float
    ) -> None:
        spec = dataclasses.replace(SPEC, zone=ZoneInfo(zone), zone_name=zone)
        state = _floor(
            _ev("position_closed", T, agent="A", market="M", pnl=2.0),
            spec=spec,
        )
        totals = reply_context(_config(spec), state, asked)["totals"]["pnl"]

        assert totals["day"].get("realised", 0.0) == today
        assert totals["all"] == {"realised": 2.0}


class TestSafety:
    def test_values_are_escaped_and_cannot_ping(self) -> None:
        state = _floor(
            _ev("agent_started", T, agent="**x** @everyone", mode="paper"),
            _ev("heartbeat", T, agent="**x** @everyone"),
        )

        embed = _reply("status", state, T + 600)

        assert "\\*\\*x\\*\\*" in embed["description"]
        assert "@everyone" not in embed["description"]
        assert "@\u200beveryone" in embed["description"]

    def test_a_long_reply_is_cut_to_discord_s_limits(self) -> None:
        many = [_ev("agent_started", T, agent=f"agent-{n:04d}", mode="paper")
                for n in range(2000)]  # fmt: skip

        embed = _reply("status", _floor(*many), T + 600)

        assert len(embed["description"]) <= 4096
        assert embed["description"].endswith("…")
