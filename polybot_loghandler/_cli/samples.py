"""
Sample alerts, recoveries and digests, for ``preview --sample``.

A watch or a digest sends nothing until time passes: a key falls silent,
a period ends. To show what one would send, its sample runs the rule's
own watching (:class:`~polybot_loghandler._watching.watching.Watching`,
with that one rule) on a clock set back: the events given are seen
(when none of them matches the rule, a made-up one is, with the key
``example``, or made-up values in two groups), then the clock moves past
``alert_after``, or past the end of the period, and what falls due is
the sample. So a sample's values are the ones the running watch would
give, and the preview renders them with the rule's own embed.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from polybot_loghandler._events import LogEvent
from polybot_loghandler._format import counted, duration
from polybot_loghandler._matching import Matcher
from polybot_loghandler._model import Config, DigestRule, WatchRule
from polybot_loghandler._templates import compile_text
from polybot_loghandler._watching.periods import period_of
from polybot_loghandler._watching.watching import (
    ALERT,
    RECOVERY,
    Output,
    Watching,
)

__all__ = ["SAMPLE_KEY", "Sample", "digest_sample", "watch_samples"]

#: The key of a watch's sample when no event given names one.
SAMPLE_KEY = "example"
#: The made-up values of a digest's sample: group → each event's value
#: of every field a measure reads.
SAMPLE_VALUES = {"example_1": (12.5, -4.25, 8.0), "example_2": (3.5,)}
#: How far past ``alert_after`` a sample's key is silent when alerted.
_LATE = 1.0


@dataclass(frozen=True, slots=True)
class Sample:
    """
    One sample output, and what a person is told about it.

    Attributes:
        output: What the rule would hand out, to render as it would be.
        made_up: No event given matched the rule: the values are made up.
        summary: What it is, in a few words (``key X, silent for 3m 1s``).
    """

    output: Output
    made_up: bool
    summary: str


def watch_samples(
    config: Config, rule: WatchRule, events: Sequence[LogEvent], now: float
) -> list[Sample]:
    """
    A sample alert of *rule*, and its recovery unless it has none.

    The key is the first one that the *events* the watch takes give; it
    is silent ``alert_after`` and a second when alerted, and twice
    ``alert_after`` and a second when heard from again, at *now*.
    """
    seen_at = now - (2 * rule.alert_after + _LATE)
    alert_at = seen_at + rule.alert_after + _LATE
    made_up = False
    run, seen = dataclasses.replace(rule, expect=(), end=None), events
    watching, alerts = _silent(config, run, seen, seen_at, alert_at)
    if not alerts:  # no event given names a key of this watch
        made_up = True
        run, seen = _any_watched(rule), [_made_up_event(now)]
        watching, alerts = _silent(config, run, seen, seen_at, alert_at)
    alert = alerts[0]
    key = alert.values["key"]
    out = [Sample(alert, made_up, f"key {key}, silent for {_span(alert)}")]
    for ev in seen:
        watching.observe(ev, ev.context(), now)
    back = [
        o
        for o in watching.due(now)
        if o.kind == RECOVERY and o.values["key"] == key
    ]
    if back:
        out.append(
            Sample(back[0], made_up, f"key {key}, back after {_span(back[0])}")
        )
    return out


def _silent(
    config: Config,
    rule: WatchRule,
    events: Sequence[LogEvent],
    seen_at: float,
    alert_at: float,
) -> tuple[Watching, list[Output]]:
    """*rule*'s watching, having seen *events*, and its alerts later."""
    watching = Watching(_only(config, rule), seen_at)
    for ev in events:
        watching.observe(ev, ev.context(), seen_at)
    return watching, [o for o in watching.due(alert_at) if o.kind == ALERT]


def digest_sample(
    config: Config, rule: DigestRule, events: Sequence[LogEvent], now: float
) -> Sample:
    """
    A sample of *rule*: the period before *now*'s, holding *events*.

    The events the digest takes count in that period, as if logged in
    it; without any, made-up events do (:data:`SAMPLE_VALUES`, in the
    groups ``example_1`` and ``example_2`` when it has a ``group_by``).
    The period is closed once it and its grace are over: at *now*.
    """
    current = period_of(now, rule.every, rule.zone)
    when = current.start - 1.0  # in the period before
    closed_at = max(now, current.start + rule.grace + 0.001)
    made_up = False
    watching = Watching(_only(config, rule), now)
    taken = False
    for ev in events:
        moved = dataclasses.replace(ev, time=when)
        taken |= watching.observe(moved, moved.context(), now)
    if not taken:
        made_up = True
        anything = dataclasses.replace(rule, matcher=Matcher())
        watching = Watching(_only(config, anything), now)
        for ev in _made_up_events(rule, when):
            watching.observe(ev, ev.context(), now)
    (output,) = watching.due(closed_at)
    values = output.values
    summary = (
        f"{counted(values['events'], 'event')} in "
        f"{counted(len(values['groups']), 'group')}"
    )
    return Sample(output, made_up, summary)


def _only(config: Config, rule: WatchRule | DigestRule) -> Config:
    """*config* with *rule* as its one watch or digest."""
    if isinstance(rule, WatchRule):
        return dataclasses.replace(config, watches=(rule,), digests=())
    return dataclasses.replace(config, watches=(), digests=(rule,))


def _any_watched(rule: WatchRule) -> WatchRule:
    """*rule*, taking any event, keyed :data:`SAMPLE_KEY` (if keyed)."""
    key = None if rule.key is None else compile_text(SAMPLE_KEY)
    return dataclasses.replace(
        rule, matcher=Matcher(), key=key, expect=(), end=None
    )


def _made_up_event(when: float) -> LogEvent:
    return LogEvent(
        event="sample", level=logging.INFO, time=when, message="sample"
    )


def _made_up_events(rule: DigestRule, when: float) -> list[LogEvent]:
    """The events of a digest's made-up sample."""
    names = [m.field for _, m in rule.measures if m.field is not None]
    out = []
    for group, values in SAMPLE_VALUES.items():
        for value in values:
            fields: dict[str, Any] = dict.fromkeys(names, value)
            if rule.group_by is not None:
                fields[rule.group_by] = group
            out.append(
                dataclasses.replace(_made_up_event(when), fields=fields)
            )
    return out


def _span(output: Output) -> str:
    return duration(output.values["silent_for"])
