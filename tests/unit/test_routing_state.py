"""
Through the relay, the producers send what the floor's state takes: an
event no route or watch takes still reaches the stream when a ``state:``
rule matches it, for the relay to keep the state from.
"""

from __future__ import annotations

import dataclasses
import logging

import pytest

from polybot_loghandler._config import parse_config
from polybot_loghandler._floor.model import Rule, StateSpec, TableSpec
from polybot_loghandler._floor.values import compile_value
from polybot_loghandler._matching import EventPattern, Matcher
from polybot_loghandler._routing import Routing

ROUTING = """\
version: 1
channels:
  ops: ""
routes:
  - {name: trades, match: {event: trade_executed}, to: ops}
"""
STATE = StateSpec(
    tables=(
        TableSpec(
            name="agents",
            key=compile_value("{{ agent }}"),
            rules=(
                Rule(
                    matcher=Matcher(event=EventPattern(["agent_started"])),
                    set=(("status", compile_value("running")),),
                ),
            ),
        ),
    )
)


@pytest.mark.parametrize(
    ("relay", "state", "taken"),
    [
        pytest.param("redis://127.0.0.1:6379/0", STATE, True, id="relay"),
        pytest.param("", STATE, False, id="no-relay: no one keeps it"),
        pytest.param("redis://127.0.0.1:6379/0", None, False, id="no-state"),
    ],
)
def test_an_event_only_the_state_takes_is_sent_through_the_relay(
    relay: str, state: StateSpec | None, taken: bool
) -> None:
    config = parse_config(ROUTING, "routing.yaml", environ={})
    config = dataclasses.replace(
        config,
        state=state,
        delivery=dataclasses.replace(config.delivery, relay=relay),
    )
    router = Routing.of(config).router

    assert router.could_match("agent_started", logging.INFO, "", {}) is taken
    assert router.could_match("trade_executed", logging.INFO, "", {})
    assert not router.could_match("market_update", logging.INFO, "", {})
