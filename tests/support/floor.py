"""
Building a floor's ``state:`` spec in Python, for the tests of the state.

``match("agent_started")`` is a rule's ``match: {event: …}``;
``sets(status="running", mode="{{ mode }}")`` its ``set:`` (or ``add:``)
values, compiled as the routing file compiles them.
"""

from __future__ import annotations

from typing import Any

from polybot_loghandler._floor.values import compile_value
from polybot_loghandler._matching import EventPattern, Matcher

__all__ = ["match", "sets"]


def match(*events: str, **extra: Any) -> Matcher:
    """A matcher of these event names (and *extra* parts)."""
    return Matcher(event=EventPattern(list(events)), **extra)


def sets(**values: object) -> tuple[tuple[str, Any], ...]:
    """Names and their compiled values, in order."""
    return tuple((name, compile_value(v)) for name, v in values.items())
