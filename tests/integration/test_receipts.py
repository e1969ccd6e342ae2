"""
Receipts: every way a message can end settles its event's receipt once.

The relay acknowledges a stream entry when its event's receipt is
settled, so a path that forgets to settle leaves an entry pending for
ever (delivered again by the next relay), and one that settles twice or
too early acknowledges an event Discord has not taken. The engine runs
here as in the relay, with a ``route`` that gives each event a receipt,
against a scripted Discord; each case ends its messages one way, and
the receipts must say exactly which events are done.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from polybot_loghandler._config import load_config
from polybot_loghandler._console import ConsoleSink
from polybot_loghandler._delivery import Engine
from polybot_loghandler._diagnostics import Diagnostics
from polybot_loghandler._message import RoutedMessage
from polybot_loghandler._receipts import Receipt
from polybot_loghandler._routing import RoutingHolder
from polybot_loghandler._stats import Stats
from polybot_loghandler._worker import Worker
from tests.support.delivery import (
    OPS_URL,
    TRADES_URL,
    Answer,
    ScriptedDiscord,
    ok,
    status,
)
from tests.support.helpers import routing_yaml, wait_for

WAIT = 10.0
ROUTES = """\
- {name: trades, match: {event: trade}, to: trades, coalesce: false}
- {name: twice, match: {event: twice}, to: trades, continue: true,
   coalesce: false}
- {name: twice_too, match: {event: twice}, to: ops, coalesce: false}
- {name: same, match: {event: same}, to: trades}
- {name: shown, match: {event: shown}, to: console}
"""


class ReceiptFloor:
    """An engine as the relay runs it: each event has a receipt."""

    def __init__(
        self, tmp_path: Path, script: Iterable[Answer], **delivery: str
    ) -> None:
        path = tmp_path / "routing.yaml"
        channels = {"trades": TRADES_URL, "ops": OPS_URL, "console": ""}
        settings = {"retry_for": "0.3s", **delivery}
        path.write_text(routing_yaml(channels, ROUTES, **settings))
        self.stats = Stats()
        self.holder = RoutingHolder(
            load_config(path), None, self.stats, Diagnostics()
        )
        self.discord = ScriptedDiscord(script)
        self.engine = Engine(
            self.holder,
            self.stats,
            ConsoleSink("off"),
            transport=self.discord,
            route=self._route,
        )
        self.errors: list[BaseException] = []
        self.worker = Worker(
            None, self.errors.append, 1000, loop=self.engine.run
        )
        self._lock = threading.Lock()
        self.done: list[str] = []
        self.receipts: dict[str, Receipt] = {}

    def _route(self, item: Any) -> list[RoutedMessage]:
        entry, raw = item
        messages = self.holder.process(raw)
        if not messages:
            self._done(entry)
            return []
        receipt = Receipt(entry, len(messages), self._done)
        self.receipts[entry] = receipt
        return [dataclasses.replace(m, receipt=receipt) for m in messages]

    def _done(self, entry: str) -> None:
        with self._lock:
            self.done.append(entry)

    def log(self, entry: str, event: str, level: int = logging.INFO) -> None:
        raw = (event, level, "app", time.time(), {"n": entry}, None, None)
        assert self.worker.submit((entry, raw), reserve=True)

    def settled(self) -> list[str]:
        """The entries done, each at most once."""
        with self._lock:
            done = list(self.done)
        assert len(done) == len(set(done)), f"settled twice: {done}"
        assert all(r.left >= 0 for r in self.receipts.values())
        return sorted(done)


@pytest.fixture
def floor(tmp_path: Path) -> Iterator[Any]:
    made: list[ReceiptFloor] = []

    def make(script: Iterable[Answer] = (), **delivery: str) -> ReceiptFloor:
        floor = ReceiptFloor(tmp_path, script, **delivery)
        made.append(floor)
        return floor

    yield make
    for floor in made:
        floor.worker.close(1.0)
        assert [] == floor.errors


#: (case, events as (entry, event), Discord's answers, entries done)
ENDINGS = [
    ("delivered", [("a", "trade")], [ok()], ["a"]),
    ("rejected (400)", [("a", "trade")], [status(400)], ["a"]),
    ("failed (405)", [("a", "trade")], [status(405)], ["a"]),
    (
        "gone (404), with what was waiting with it",
        [("a", "trade"), ("b", "trade")],
        [status(404)],
        ["a", "b"],
    ),
    (
        "server errors past retry_for",
        [("a", "trade")],
        [status(500)] * 50,
        ["a"],
    ),
    ("shown on the console", [("a", "shown")], [], ["a"]),
    ("no route takes it", [("a", "nothing_wants_this")], [], ["a"]),
    (
        "two channels, both delivered",
        [("a", "twice")],
        [ok(), ok()],
        ["a"],
    ),
    (
        "duplicates merged into one message",
        [("a", "same"), ("b", "same"), ("c", "same")],
        [ok()],
        ["a", "b", "c"],
    ),
]


@pytest.mark.parametrize(
    ("events", "script", "done"),
    [pytest.param(e, s, d, id=case) for case, e, s, d in ENDINGS],
)
def test_every_ending_settles_each_receipt_once(
    floor: Any,
    events: list[tuple[str, str]],
    script: list[httpx.Response],
    done: list[str],
) -> None:
    rig = floor(script)
    for entry, event in events:
        rig.log(entry, event)
    assert rig.worker.flush(WAIT)
    assert wait_for(lambda: rig.settled() == done)


def test_an_event_for_two_channels_is_done_only_when_both_are(
    floor: Any,
) -> None:
    # the trades lane is answered at once; the ops lane fails until
    # retry_for runs out: until then the event is not done
    rig = floor()
    rig.discord.then = lambda: (
        status(503) if len(rig.discord.requests) > 1 else ok()
    )
    rig.log("a", "twice")
    assert wait_for(lambda: rig.stats.get("sent.messages") == 1)
    assert [] == rig.settled()
    assert rig.worker.flush(WAIT)
    assert ["a"] == rig.settled()
    assert 1 == rig.stats.get("dropped.server_error")


def test_messages_for_a_disabled_webhook_are_settled(floor: Any) -> None:
    rig = floor([status(404)])
    rig.log("a", "trade")
    assert rig.worker.flush(WAIT)
    rig.log("b", "trade")  # filed after: dropped before any lane
    assert rig.worker.flush(WAIT)
    assert ["a", "b"] == rig.settled()
    assert 2 == rig.stats.get("dropped.webhook_gone")


def test_evicted_messages_are_settled(floor: Any) -> None:
    rig = floor([status(503)], queue_size="2", retry_for="30s")
    for entry in "abcde":
        rig.log(entry, "trade")
    assert wait_for(lambda: rig.stats.get("dropped.queue_full") >= 2)
    assert set(rig.settled()) <= set("abcde")
    assert rig.worker.flush(WAIT)
    assert list("abcde") == rig.settled()


def test_handing_over_leaves_what_has_not_left_unsettled(
    floor: Any,
) -> None:
    rig = floor([status(503)] * 200, retry_for="60s")
    for entry in "abc":
        rig.log(entry, "trade")
    assert wait_for(lambda: len(rig.discord.requests) >= 1)
    assert rig.worker.close(2.0, hand_over=True)
    assert [] == rig.settled()
    assert 3 == rig.stats.get("relay.left_pending")
    assert 0 == rig.stats.get("dropped.shutdown")
