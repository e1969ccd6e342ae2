"""
Watches and digests with the relay: the parts that need no Redis.

- what the watches and digests make travels the stream as an output
  entry and comes back as it was, renders the same as in process, and
  anything else is :class:`Malformed`;
- a relay that takes over shows the watches only the entries after the
  saved state's mark, and an entry a watch took waits to be
  acknowledged until a saved state counted it;
- when a save is due, and when the relay has caught up with the stream,
  on a given clock;
- a failover at any point, with saves at any points, counts every
  digest's event once and tells a silence once.

Every time is given: no clock is read, nothing sleeps.
"""

from __future__ import annotations

import json
import logging
import math
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from polybot_loghandler._config import parse_config
from polybot_loghandler._diagnostics import Diagnostics
from polybot_loghandler._events import RawEvent
from polybot_loghandler._relay.watching import (
    PRODUCERS_BACK,
    READ_GAP,
    SAVE_EVERY,
    SAVE_SOON,
    CatchUp,
    StateAccount,
    decode_state,
    encode_state,
    entry_id,
)
from polybot_loghandler._relay.wire import (
    FORMAT,
    MAX_ENTRY,
    Malformed,
    decode_output,
    encode_output,
    entry_fields,
    read_entry,
)
from polybot_loghandler._routing import RoutingHolder
from polybot_loghandler._stats import Stats
from polybot_loghandler._watching.periods import period_of
from polybot_loghandler._watching.watching import (
    ALERT,
    DIGEST,
    RECOVERY,
    Output,
    Watching,
)

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
    suppress_health_check=[HealthCheck.too_slow],
)

#: 2026-01-30 14:23:45 UTC.
T0 = 1_769_783_025.0

ROUTING = """\
version: 1
channels:
  floor: ""
  alerts: ""
routes:
  - name: errors
    match: {level: error}
    to: alerts
watches:
  - name: agents
    match: {event: heartbeat}
    key: "{{ agent }}"
    alert_after: 30s
    to: alerts
    mention: everyone
  - name: lonely
    match: {event: zulu_heartbeat}
    alert_after: 2s
    to: alerts
digests:
  - name: volume
    match: {event: trade_executed}
    every: 5s
    group_by: agent
    measures:
      trades: count
      volume: sum(amount)
      token_count: sum(tokens)
      best: max(amount)
      first: first(note)
      latest: last(note)
    to: floor
"""


class Clock:
    """Epoch seconds a test moves on."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def holder(clock: Clock) -> RoutingHolder:
    return RoutingHolder(
        parse_config(ROUTING), None, Stats(), Diagnostics(), wall=clock
    )


def _raw(event: str, when: float, **fields: Any) -> RawEvent:
    return (event, logging.INFO, "floor", when, fields, event, None)


def outputs_of_every_kind() -> list[Output]:
    """An alert, a recovery and a digest, as a relay's watching makes."""
    clock = Clock()
    routing = holder(clock)
    routing.process(_raw("heartbeat", T0, agent="Momentum_BTC", cpu=12.5))
    for n, (agent, amount) in enumerate(
        [("a", 10), ("b", "1,250.5"), ("a", math.inf), ("c", None)]
    ):
        routing.process(
            _raw(
                "trade_executed",
                T0 + n,
                agent=agent,
                amount=amount,
                tokens=3,
                note={0: Decimal("1.10"), 2: math.inf}.get(n, "later"),
            )
        )
    clock.now = T0 + 40
    made = routing.watching.due(clock.now)
    routing.process(_raw("heartbeat", clock.now, agent="Momentum_BTC"))
    made += routing.watching.due(clock.now)
    assert {ALERT, RECOVERY, DIGEST} <= {o.kind for o in made}
    return made


# -- 1. outputs on the wire ---------------------------------------------------


def test_every_kind_of_output_comes_back_as_it_was() -> None:
    for output in outputs_of_every_kind():
        fields = entry_fields("w", "relay-1", "hash", encode_output(output))
        pairs = dict(zip(fields[::2], fields[1::2], strict=True))
        entry = {k.encode(): v.encode() for k, v in pairs.items()}
        back = read_entry(entry)
        assert isinstance(back, Output)
        assert (back.kind, back.name, back.time) == (
            output.kind,
            output.name,
            output.time,
        )
        assert _plain(back.values) == _plain(output.values)


def _plain(value: Any) -> str:
    """Values compared by their JSON, NaN and infinities included."""
    return json.dumps(value, default=repr, sort_keys=True)


def test_outputs_render_the_same_through_the_wire() -> None:
    routing = holder(Clock(T0 + 40))
    for output in outputs_of_every_kind():
        here = [m.payload for m in routing.made(output)]
        back = decode_output(encode_output(output))
        there = [m.payload for m in routing.made(back)]
        assert here
        assert here == there


def test_a_digest_s_values_keep_their_type_and_names() -> None:
    (digest,) = [o for o in outputs_of_every_kind() if o.kind == DIGEST]
    back = decode_output(encode_output(digest))
    groups = {g["key"]: g for g in back.values["groups"]}
    assert math.isinf(groups["a"]["latest"])  # tagged, not a bare Infinity
    assert Decimal("1.10") == groups["a"]["first"]
    # a measure named like a secret is the relay's own: not hidden
    assert 12 == back.values["total"]["token_count"]


def test_an_alert_pings_as_its_watch_says_and_values_never() -> None:
    clock = Clock()
    routing = holder(clock)
    routing.process(_raw("heartbeat", T0, agent="@everyone <@&123>"))
    clock.now = T0 + 31
    (alert,) = routing.watching.due(clock.now)
    (message,) = routing.made(decode_output(encode_output(alert)))
    assert "@everyone" == message.payload["content"]
    assert {"parse": ["everyone"]} == message.payload["allowed_mentions"]
    title = message.payload["embeds"][0]["title"]
    assert "@everyone" not in title
    assert "<@&123>" not in title


def test_an_output_too_large_for_an_entry_is_cut_to_fit() -> None:
    groups = [{"key": f"{n}" + "k" * 16_000, "n": n} for n in range(100)]
    output = Output(
        DIGEST,
        "volume",
        T0,
        {
            "digest": "volume",
            "period": {"start": T0, "end": T0 + 5},
            "timezone": "UTC",
            "groups": groups,
            "total": {"n": 4950},
            "events": 4950,
            "crowded": 0,
            "partial": False,
        },
    )
    text = encode_output(output)
    assert len(text) <= MAX_ENTRY
    back = decode_output(text)
    assert [g["n"] for g in back.values["groups"]] == list(range(100))


ALERT_VALUES = {
    "watch": "agents",
    "key": "a",
    "silent_for": 3.5,
    "alert_after": 2,
    "last_seen": None,
    "last": {},
}
DIGEST_VALUES = {
    "digest": "volume",
    "period": {"start": T0, "end": T0 + 5},
    "timezone": "UTC",
    "groups": [{"key": "a", "trades": 1}],
    "total": {"trades": 1},
    "events": 1,
    "crowded": 0,
    "partial": False,
}


def _output_json(kind: str = ALERT, **changes: Any) -> str:
    values = dict(ALERT_VALUES if kind == ALERT else DIGEST_VALUES)
    inner: dict[str, Any] = {"k": kind, "n": "agents", "t": T0, "v": values}
    for key, value in changes.items():
        if key.startswith("v_"):
            name = key[2:]
            if value is _GONE:
                values.pop(name)
            else:
                values[name] = value
        elif value is _GONE:
            inner.pop(key)
        else:
            inner[key] = value
    return json.dumps({"o": inner})


_GONE = object()


def test_the_valid_outputs_read() -> None:
    assert ALERT == decode_output(_output_json()).kind
    assert DIGEST == decode_output(_output_json(DIGEST)).kind
    recovery = dict(ALERT_VALUES)
    del recovery["last_seen"], recovery["last"]
    text = json.dumps({"o": {"k": RECOVERY, "n": "a", "t": 1, "v": recovery}})
    assert RECOVERY == decode_output(text).kind


@pytest.mark.parametrize(
    "text",
    [
        _output_json(k="silence"),
        _output_json(k=1),
        _output_json(n=""),
        _output_json(n=7),
        _output_json(t="now"),
        _output_json(t=True),
        _output_json(v=[]),
        _output_json(v=_GONE),
        _output_json(z=1),
        _output_json(v_key=_GONE),
        _output_json(v_key=3),
        _output_json(v_extra="x"),
        _output_json(v_silent_for="3s"),
        _output_json(v_silent_for=False),
        _output_json(v_last_seen="yesterday"),
        _output_json(v_last=[]),
        _output_json(DIGEST, v_period={"start": 1}),
        _output_json(DIGEST, v_period={"start": 1, "end": "2"}),
        _output_json(DIGEST, v_groups=[{"trades": 1}]),
        _output_json(DIGEST, v_groups=["a"]),
        _output_json(DIGEST, v_events=1.5),
        _output_json(DIGEST, v_partial=0),
        _output_json(DIGEST, v_timezone=None),
        json.dumps({"o": {"k": ALERT}, "e": 1}),
        json.dumps(["o"]),
        '{"o": {"k": "alert", "n": "a", "t": NaN, "v": {}}}',
        '{"o": {"k": "alert", "n": "a", "t": 1e999, "v": {}}}',
        "not json",
        "",
    ],
)
def test_anything_else_is_malformed(text: str) -> None:
    with pytest.raises(Malformed):
        decode_output(text)
    with pytest.raises(Malformed):
        read_entry({b"v": FORMAT.encode(), b"k": b"w", b"d": text.encode()})


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=10,
)


@SETTINGS
@given(
    inner=st.fixed_dictionaries(
        {
            "k": st.sampled_from([ALERT, RECOVERY, DIGEST]) | _JSON,
            "n": st.text(max_size=5) | _JSON,
            "t": st.floats() | _JSON,
            "v": st.fixed_dictionaries(
                {},
                optional=dict.fromkeys({*ALERT_VALUES, *DIGEST_VALUES}, _JSON),
            )
            | _JSON,
        }
    )
)
def test_any_json_is_an_output_or_malformed(inner: dict[str, Any]) -> None:
    try:
        output = decode_output(json.dumps({"o": inner}))
    except Malformed:
        return
    assert output.kind in (ALERT, RECOVERY, DIGEST)
    assert math.isfinite(output.time)


# -- 2. which entries the watches see, and when they are acknowledged ---------


def test_entry_ids_read_as_numbers_in_the_stream_s_order() -> None:
    assert (1_700_000_000_000, 3) == entry_id("1700000000000-3")
    assert (5, 0) == entry_id(b"5-0")
    assert entry_id("9-0") < entry_id("10-0")  # type: ignore[operator]
    for text in ("", "5", "5-", "-5", "a-1", "1-2-3", None, 5, "1-1 "):
        assert entry_id(text) is None


@pytest.mark.parametrize(
    ("mark", "entry", "observes"),
    [
        (None, "1-0", True),  # no state restored: every entry
        ("5-3", "5-2", False),  # counted in the restored state
        ("5-3", "5-3", False),
        ("5-3", "5-4", True),  # after the mark: not counted yet
        ("5-3", "6-0", True),
        ("5-3", "4-9", False),
        ("5-3", "not-an-id", True),
    ],
)
def test_a_relay_that_takes_over_skips_what_the_state_counted(
    mark: str | None, entry: str, observes: bool
) -> None:
    assert observes is StateAccount(entry_id(mark), T0).observes(entry)


@pytest.mark.parametrize(
    ("saved", "live", "entry", "waits"),
    [
        (None, None, "3-0", False),  # nothing taken at all
        (None, "3-0", "3-0", True),  # taken, no state saved yet
        (None, "3-0", "2-0", True),  # perhaps taken: before the mark
        ("2-0", "3-0", "2-0", False),  # covered by the saved state
        ("2-0", "3-0", "3-0", True),
        ("2-0", "3-0", "4-0", False),  # after the live mark: not taken
        ("3-0", "3-0", "3-0", False),
    ],
)
def test_an_entry_a_watch_took_is_acknowledged_once_saved(
    saved: str | None, live: str | None, entry: str, waits: bool
) -> None:
    account = StateAccount(entry_id(saved), T0)
    assert waits is account.waits(entry, live)


def test_a_save_frees_the_acknowledgements_it_covers() -> None:
    account = StateAccount(None, T0)
    account.held += ["1-0", "2-0", "3-0"]
    account.hurry = True
    assert ["1-0", "2-0"] == account.stored("2-0", T0 + 1)
    assert ["3-0"] == account.held
    assert account.hurry, "one that had messages may still wait"
    assert ["3-0"] == account.stored("3-0", T0 + 2)
    assert not account.hurry
    assert (entry_id("3-0"), T0 + 2) == (account.saved, account.saved_at)


# -- 3. when a save is due ----------------------------------------------------


def _due(account: StateAccount, now: float, **given: Any) -> bool:
    given.setdefault("live", None)
    given.setdefault("next_due", None)
    given.setdefault("evaluate", True)
    return account.due_to_save(now, **given)


def test_a_save_comes_when_something_is_made_or_due() -> None:
    account = StateAccount(None, T0)
    assert not _due(account, T0 + 100)  # nothing changed
    assert _due(account, T0, next_due=-math.inf)  # a recovery, made
    assert _due(account, T0, next_due=T0)  # an alert due
    assert not _due(account, T0, next_due=T0 + 0.1)


def test_nothing_is_due_until_the_relay_has_caught_up() -> None:
    account = StateAccount(None, T0)
    assert not _due(account, T0 + 9, next_due=T0, evaluate=False)
    # what is made already is saved all the same
    assert _due(account, T0, next_due=-math.inf, evaluate=False)


def test_events_taken_are_saved_once_a_second_or_sooner_if_delivered() -> None:
    account = StateAccount(entry_id("1-0"), T0)
    assert not _due(account, T0 + 60, live="1-0")  # the restored state
    assert not _due(account, T0 + SAVE_EVERY - 0.01, live="2-0")
    assert _due(account, T0 + SAVE_EVERY, live="2-0")
    account.hurry = True
    assert not _due(account, T0 + SAVE_SOON - 0.01, live="2-0")
    assert _due(account, T0 + SAVE_SOON, live="2-0")
    assert _due(account, T0, live="2-0", final=True)  # stopping


def test_caught_up_once_what_was_read_at_the_end_is_routed() -> None:
    catching = CatchUp()
    assert not catching.caught_up(100.0, routed=0)  # taken over: behind
    catching.at_tail(100.0, submitted=40)  # the backlog, read
    assert not catching.caught_up(100.1, routed=39)
    assert catching.caught_up(100.1, routed=40)
    catching.at_tail(100.4, submitted=45)  # more since: still caught up
    assert catching.caught_up(100.5, routed=40)


def test_behind_again_when_reading_fails_or_stalls() -> None:
    catching = CatchUp()
    catching.at_tail(100.0, submitted=0)
    assert catching.caught_up(100.0, routed=0)
    catching.lost()  # a read failed
    assert not catching.caught_up(100.1, routed=0)
    catching.at_tail(100.2, submitted=5)
    assert catching.caught_up(100.2, routed=5)
    # no end found for a while: behind, whatever was routed
    assert not catching.caught_up(100.2 + READ_GAP + 0.01, routed=5)


def test_after_redis_was_away_the_producers_get_time_to_append() -> None:
    catching = CatchUp()
    catching.back(100.0)  # (as the lease is taken back, too)
    catching.restart()
    catching.at_tail(100.1, submitted=3)
    assert not catching.caught_up(100.1, routed=3)
    catching.at_tail(100.0 + PRODUCERS_BACK - 0.5, submitted=3)
    assert not catching.caught_up(100.0 + PRODUCERS_BACK - 0.01, routed=3)
    assert catching.caught_up(100.0 + PRODUCERS_BACK, routed=3)
    # reading stalled without an error (Redis paused): the same wait
    catching.at_tail(200.0, submitted=9)
    assert not catching.caught_up(200.0, routed=9)
    for step in range(1, 6):  # the reader reads on, every half second
        catching.at_tail(200.0 + step / 2, submitted=9)
    assert catching.caught_up(200.0 + PRODUCERS_BACK, routed=9)


# -- 4. the stored state ----------------------------------------


def test_the_state_round_trips_with_its_mark() -> None:
    clock = Clock()
    routing = holder(clock)
    routing.process(_raw("heartbeat", T0, agent="a"), mark="7-1")
    routing.process(_raw("trade_executed", T0, agent="a", amount=3))
    _outputs, state = routing.watching.due_and_snapshot(T0 + 1)
    assert "7-1" == state["mark"], "the last event a watch took"
    saved = decode_state(encode_state(state, "relay-1", T0).encode())
    assert saved is not None
    again = Watching(parse_config(ROUTING), T0 + 2)
    again.restore(saved)
    assert "7-1" == again.mark
    assert state == again.snapshot()


@pytest.mark.parametrize(
    "data",
    [b"", b"[]", b'{"v": 2, "state": {}}', b'{"v": 1}', b'{"v":1,"state":[]}'],
)
def test_a_state_this_library_did_not_save_is_refused(data: bytes) -> None:
    with pytest.raises(ValueError):
        decode_state(data)
    assert decode_state(None) is None


# -- 5. a failover, anywhere --------------------------------------------------

AGENTS = ("alpha", "bravo", "charlie")


class Relay:
    """One relay's watching, as the relay drives it (without Redis)."""

    def __init__(self, clock: Clock, saved: dict[str, Any] | None) -> None:
        self.clock = clock
        self.routing = holder(clock)
        if saved is not None:
            self.routing.watching.restore(saved)
        self.account = StateAccount(
            entry_id(self.routing.watching.mark), clock()
        )
        self.observed: set[str] = set()
        self.settled: list[str] = []  # its messages done: to acknowledge
        self.acked: set[str] = set()

    def take(self, entry: str, raw: RawEvent) -> None:
        """Route *entry*'s event (its messages are then done)."""
        if self.account.observes(entry):
            self.observed.add(entry)
            self.routing.process(raw, mark=entry)
        else:
            self.routing.process(raw, observe=False)
        self.settled.append(entry)

    def ack(self) -> None:
        """The acker: what is settled, but what waits for a save."""
        live = self.routing.watching.mark
        for entry in self.settled:
            if entry in self.observed and self.account.waits(entry, live):
                self.account.held.append(entry)
            else:
                self.acked.add(entry)
        self.settled = []

    def save(self, *, evaluate: bool = True) -> tuple[Any, list[Output]]:
        """The save script: the state and the outputs, together."""
        now = self.clock()
        outputs, state = self.routing.watching.due_and_snapshot(
            now, evaluate=evaluate
        )
        stored = decode_state(encode_state(state, "relay", now))
        # freed, acknowledged by the acker's next round (or never: the
        # relay may die first, and they stay pending)
        self.settled += self.account.stored(state["mark"], now)
        return stored, outputs


def _floor(n: int) -> list[tuple[str, RawEvent]]:
    """
    A lonely heartbeat, then *n* events 0.4 s apart, in stream order.

    The agents' heartbeats and trades take turns; the lonely watch is
    heard of once, first, and never again (one alert is due, once).
    """
    out = [(f"{int(T0 * 1000)}-0", _raw("zulu_heartbeat", T0))]
    for i in range(1, n + 1):
        when = T0 + i * 0.4
        agent = AGENTS[i % len(AGENTS)]
        raw = (
            _raw("heartbeat", when, agent=agent)
            if i % 2
            else _raw("trade_executed", when, agent=agent, amount=i)
        )
        out.append((f"{int(when * 1000)}-{i}", raw))
    return out


#: After an entry, what each relay does: 1 saves, 2 acknowledges.
SAVE, ACK = 1, 2


@settings(SETTINGS, max_examples=300)
@given(
    n=st.integers(10, 80),
    crash=st.integers(0, 81),
    steps=st.lists(st.integers(0, 3), min_size=162, max_size=162),
    gap=st.floats(0, 10),
)
def test_a_failover_anywhere_counts_each_event_once_and_tells_once(
    n: int, crash: int, steps: list[int], gap: float
) -> None:
    entries = _floor(n)
    stop = min(crash, len(entries))
    clock = Clock()
    first = Relay(clock, None)
    saved: Any = None
    sent: list[Output] = []  # what is in the stream: saved outputs only
    for i, (entry, raw) in enumerate(entries[:stop]):
        clock.now = raw[3] + 0.05
        first.take(entry, raw)
        if steps[i] & SAVE:
            saved, outputs = first.save()
            sent += outputs
        if steps[i] & ACK:
            first.ack()
    # the first relay dies; what it did not save is gone with it. The
    # next takes over *gap* s later, and claims what was not acknowledged
    clock.now += gap
    second = Relay(clock, saved)
    for i, (entry, raw) in enumerate(entries):
        if entry in first.acked:
            continue
        clock.now = max(clock.now, raw[3] + 0.05)
        second.take(entry, raw)
        if steps[n + i] & SAVE:
            # silences told and periods closed only once it has read
            # what the stream holds by now (the relay's catching up)
            later = [r[3] for _e, r in entries[i + 1 :]]
            _state, outputs = second.save(
                evaluate=not later or later[0] > clock.now
            )
            sent += outputs
        if steps[n + i] & ACK:
            second.ack()
    # later: every period closed, and the silence long enough to tell
    # (from when the relay that took over heard of it, if it did)
    clock.now = max(clock.now, entries[-1][1][3]) + 8
    _state, outputs = second.save()
    sent += outputs

    digests = [o for o in sent if o.kind == DIGEST]
    starts = [o.values["period"]["start"] for o in digests]
    assert len(starts) == len(set(starts)), "one digest per period"
    told = {
        (o.values["period"]["start"], g["key"]): (g["trades"], g["volume"])
        for o in digests
        for g in o.values["groups"]
    }
    logged: dict[tuple[float, str], list[int]] = {}
    for _entry, raw in entries:
        if raw[0] == "trade_executed":
            key = (period_of(raw[3], 5).start, raw[4]["agent"])
            logged.setdefault(key, []).append(raw[4]["amount"])
    assert told == {k: (len(v), sum(v)) for k, v in logged.items()}
    alerts = [o.name for o in sent if o.kind == ALERT]
    assert ["lonely"] == alerts, "one alert, for the one silence"
    assert [] == [o for o in sent if o.kind == RECOVERY]
    stats = second.routing._stats.read()
    assert "watching.late" not in stats, "nothing counted into a closed period"
