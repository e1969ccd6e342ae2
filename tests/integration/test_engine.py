"""
The delivery engine as a whole, with Discord as an ``httpx.MockTransport``.

A real worker thread and event loop run the engine; Discord is a
``ScriptedDiscord`` answering in-process, so nothing waits on a network
and each test takes a fraction of a second: ``flush()`` and ``close()``
send at once, whatever the windows. What the loop does between the
pure parts is checked here: filing in order, the bound and the spool,
the engine's own news reaching the ops channel, the periodic jobs, and
what is counted when time runs out.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from polybot_loghandler._config import load_config
from polybot_loghandler._console import ConsoleSink
from polybot_loghandler._delivery import Engine, chores
from polybot_loghandler._diagnostics import Diagnostics
from polybot_loghandler._events import RawEvent
from polybot_loghandler._routing import RoutingHolder
from polybot_loghandler._stats import Stats
from polybot_loghandler._worker import Worker
from tests.support.delivery import (
    OPS_URL,
    TRADES_URL,
    Answer,
    FakeClock,
    ScriptedDiscord,
    status,
)
from tests.support.helpers import routing_yaml

WAIT = 10.0
ROUTES = """\
- {name: trades, match: {event: trade_*}, to: trades, coalesce: false}
- {name: shown, match: {event: shown}, to: console}
"""


def _raw(
    n: int, event: str = "trade_executed", level: int = logging.INFO
) -> RawEvent:
    return (event, level, "app", time.time(), {"n": n}, None, None)


def _until(check: Callable[[], bool], timeout: float = WAIT) -> bool:
    """Wait for *check* to hold, polling, for at most *timeout* s."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)  # a bounded poll of another thread's progress
    return True


def _settled(path: Path, text: str) -> None:
    """Write *text* to *path*, dated long enough ago to be read at once."""
    path.write_text(text)
    then = time.time() - 5
    os.utime(path, (then, then))


class Floor:
    """An engine and its worker, delivering to a scripted Discord."""

    def __init__(
        self,
        tmp_path: Path,
        script: Iterable[Answer] = (),
        *,
        name: str = "routing.yaml",
        trades: str = "trades",
        clock: FakeClock | None = None,
        gate: threading.Event | None = None,
        **delivery: str,
    ) -> None:
        self.path = tmp_path / name
        channels = {trades: TRADES_URL, "ops": OPS_URL, "console": ""}
        routes = ROUTES.replace("to: trades", f"to: {trades}")
        settings = {"ops_channel": "ops", **delivery}
        self.path.write_text(routing_yaml(channels, routes, **settings))
        config = load_config(self.path)
        self.stats = Stats()
        self.holder = RoutingHolder(
            config, str(self.path), self.stats, Diagnostics()
        )
        self.discord = ScriptedDiscord(script)
        # a fake clock drives the lanes' windows and every wait on
        # Discord; while a gate is closed, nothing is sent
        timing: dict[str, Any] = (
            {} if clock is None else {"clock": clock, "sleep": clock.sleep}
        )
        self.engine = Engine(
            self.holder,
            self.stats,
            ConsoleSink("off"),
            transport=self.discord,
            may_send=None if gate is None else gate.is_set,
            **timing,
        )
        self.errors: list[BaseException] = []
        self.worker = Worker(
            None,
            self.errors.append,
            1000,  # the lanes' bound is the one under test
            loop=self.engine.run,
        )

    def log(self, *raws: RawEvent) -> None:
        for raw in raws:
            assert self.worker.submit(raw, reserve=raw[1] >= logging.WARNING)

    def sent(self, url: str = TRADES_URL) -> list[list[int]]:
        """The ``n`` of each embed of each request to *url*, in order."""
        return [
            [
                int(f["value"])
                for e in body["embeds"]
                for f in e["fields"]
                if f["name"] == "N"
            ]
            for request, body in zip(
                self.discord.requests, self.discord.bodies(), strict=True
            )
            if str(request.url).startswith(url)
        ]

    def titles(self, url: str = OPS_URL) -> list[str]:
        return [
            e["title"]
            for request, body in zip(
                self.discord.requests, self.discord.bodies(), strict=True
            )
            if str(request.url).startswith(url)
            for e in body["embeds"]
        ]

    def embeds(self, url: str = TRADES_URL) -> list[int]:
        """The embeds of each request to *url*, in order."""
        return [
            len(body["embeds"])
            for request, body in zip(
                self.discord.requests, self.discord.bodies(), strict=True
            )
            if str(request.url).startswith(url)
        ]

    def waiting(self) -> int:
        """Messages in the lanes and waiting on disk."""
        engine = self.engine
        keeper = engine.spool
        on_disk = (
            0
            if keeper is None
            else sum(keeper.waiting(s.key) for s in engine.lanes)
        )
        return engine.lanes.pending + on_disk

    def count(self, key: str) -> int:
        return self.stats.get(key)

    def close(self, timeout: float = WAIT) -> bool:
        return self.worker.close(timeout)


@pytest.fixture
def floors(tmp_path: Path) -> Iterator[Callable[..., Floor]]:
    made: list[Floor] = []

    def make(*args: Any, **kwargs: Any) -> Floor:
        floor = Floor(tmp_path, *args, **kwargs)
        made.append(floor)
        return floor

    yield make
    for floor in made:
        floor.close(1.0)
        assert [] == floor.errors


class TestFiling:
    def test_events_leave_in_order_as_one_batch(
        self, floors: Callable[..., Floor]
    ) -> None:
        floor = floors()
        floor.log(*(_raw(n) for n in range(3)))

        assert floor.worker.flush(WAIT)

        assert [[0, 1, 2]] == floor.sent()
        assert 3 == floor.count("delivered")
        assert {"pending": 0, "rate_limit.wait_s": 0} == {
            k: floor.stats.read()[k] for k in ("pending", "rate_limit.wait_s")
        }

    def test_the_console_lane_shows_without_discord(
        self, floors: Callable[..., Floor]
    ) -> None:
        floor = floors()
        floor.log(_raw(1, "shown"), _raw(2, "shown"))

        assert floor.worker.flush(WAIT)

        assert [] == floor.discord.requests
        assert 0 == floor.count("delivered")

    def test_over_the_bound_the_oldest_goes_and_is_told(
        self, floors: Callable[..., Floor]
    ) -> None:
        floor = floors(queue_size="2")
        floor.log(*(_raw(n) for n in range(5)))

        assert floor.worker.flush(WAIT)
        floor.log(_raw(5))
        assert floor.worker.flush(WAIT)

        assert [[3, 4], [5]] == floor.sent()
        assert 3 == floor.count("dropped.queue_full")
        assert ["⚠️ 3 events were not delivered"] == floor.titles()

    def test_a_disabled_destination_drops_what_comes_after(
        self, floors: Callable[..., Floor]
    ) -> None:
        floor = floors(
            [status(404, {"message": "Unknown Webhook", "code": 10015})]
        )
        floor.log(_raw(1))
        assert floor.worker.flush(WAIT)
        floor.log(_raw(2), _raw(3))
        assert floor.worker.flush(WAIT)

        assert [[1]] == floor.sent()
        assert 3 == floor.count("dropped.webhook_gone")
        assert ["⛔ A Discord destination was disabled"] == floor.titles()


class TestSpool:
    def test_over_the_bound_messages_wait_on_disk_in_order(
        self, floors: Callable[..., Floor], tmp_path: Path
    ) -> None:
        floor = floors(queue_size="2", spool=str(tmp_path / "spool"))
        floor.log(*(_raw(n) for n in range(7)))

        assert floor.worker.flush(WAIT)

        assert list(range(7)) == [n for batch in floor.sent() for n in batch]
        assert 0 == floor.count("dropped.queue_full")
        assert 7 == floor.count("delivered")

    def test_what_one_process_left_the_next_sends(
        self, floors: Callable[..., Floor], tmp_path: Path
    ) -> None:
        spool = str(tmp_path / "spool")
        down = floors([status(503)] * 1000, spool=spool, retry_for="0.2s")
        down.log(_raw(1), _raw(2))
        assert down.close(2.0)
        assert 2 == down.count("spool.kept")
        assert 0 == down.count("dropped.shutdown")
        assert 0 == down.count("delivered")

        up = floors(spool=spool, name="again.yaml")
        up.worker.start()

        assert _until(lambda: up.count("delivered") == 2)
        assert [[1, 2]] == up.sent()
        assert 2 == up.count("spool.replayed")

    def test_a_channel_gone_from_the_routing_is_counted(
        self, floors: Callable[..., Floor], tmp_path: Path
    ) -> None:
        spool = str(tmp_path / "spool")
        down = floors([status(503)] * 1000, spool=spool, retry_for="0.2s")
        down.log(_raw(1))
        down.close(2.0)

        later = floors(spool=spool, name="later.yaml", trades="renamed")
        later.worker.start()

        assert _until(lambda: later.count("dropped.unknown_channel") == 1)
        assert [] == later.discord.requests


class TestFolding:
    @pytest.mark.parametrize("spooled", [False, True], ids=["memory", "spool"])
    def test_a_lane_that_folds_still_sends_full_messages(
        self, floors: Callable[..., Floor], tmp_path: Path, spooled: bool
    ) -> None:
        """
        A backlog a hundred messages long: the oldest are folded, and the
        lane goes on sending 10 embeds a message, the summary among them.
        With a spool most of the backlog waits on disk (the lanes hold
        100, the rest steps aside): what the fold took from the lane is
        made up from the disk before the batch is taken, not after it
        left with the summary alone.
        """
        clock, gate = FakeClock(), threading.Event()
        where = (
            {"spool": str(tmp_path / "spool"), "queue_size": "100"}
            if spooled
            else {}
        )
        floor = floors(clock=clock, gate=gate, max_lag="30s", **where)
        floor.log(*(_raw(n) for n in range(1000)))
        assert _until(lambda: floor.waiting() == 1000)

        gate.set()
        assert floor.worker.flush(WAIT)

        embeds = floor.embeds()
        assert [10] * (len(embeds) - 1) == embeds[:-1]
        trades = sum(len(batch) for batch in floor.sent())
        assert 1000 == trades + floor.count("folded")
        assert floor.count("folded") > 0


class TestTimeRunsOut:
    def test_what_was_not_delivered_in_time_is_counted(
        self, floors: Callable[..., Floor]
    ) -> None:
        floor = floors([status(503)] * 1000)
        floor.log(_raw(1), _raw(2))

        assert floor.close(1.0)  # the loop ended within the timeout

        assert 2 == floor.count("dropped.shutdown")
        assert 2 == floor.engine.leftover
        assert floor.engine.troubles()
        assert 0 == floor.engine.lanes.pending


class TestPeriodicJobs:
    def test_a_changed_file_is_reloaded_and_routes(
        self, floors: Callable[..., Floor]
    ) -> None:
        floor = floors(reload="0.1s")
        first = floor.holder.config
        floor.worker.start()
        _settled(
            floor.path, floor.path.read_text().replace("trade_", "order_")
        )

        assert _until(lambda: floor.holder.config is not first)
        floor.log(_raw(1, "order_placed"), _raw(2, "trade_executed"))
        assert floor.worker.flush(WAIT)
        assert [[1]] == floor.sent()

    def test_a_broken_file_is_told_in_the_ops_channel(
        self, floors: Callable[..., Floor]
    ) -> None:
        floor = floors(reload="0.1s")
        floor.worker.start()
        _settled(floor.path, "version: 1\nchannels: {}\nroutes: [{to: x}]\n")

        assert _until(
            lambda: floor.engine.lanes.pending > 0 or bool(floor.titles())
        )
        assert floor.worker.flush(WAIT)
        assert ["⚠️ routing.yaml was not reloaded"] == floor.titles()

    def test_drops_beginning_are_told_at_once(
        self, floors: Callable[..., Floor], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(chores, "WATCH_EVERY", 0.05)
        floor = floors(queue_size="1")
        floor.log(*(_raw(n) for n in range(3)))

        assert _until(
            lambda: (
                "⚠️ Discord delivery is dropping events" in floor.titles()
                or floor.engine.lanes.pending > 1
            )
        )
        assert floor.worker.flush(WAIT)
        assert "⚠️ Discord delivery is dropping events" in floor.titles()

    def test_the_summary_goes_out_on_its_schedule(
        self, floors: Callable[..., Floor]
    ) -> None:
        floor = floors(report="{every: 0.1s}")
        floor.log(_raw(1))
        assert floor.worker.flush(WAIT)

        assert _until(
            lambda: (
                floor.engine.lanes.pending > 0
                or any(t.startswith("📊") for t in floor.titles())
            )
        )
        assert floor.worker.flush(WAIT)
        assert any(t.startswith("📊") for t in floor.titles())


def test_news_not_yet_filed_keeps_a_flush_waiting(
    floors: Callable[..., Floor],
) -> None:
    """An alert in the ledger's outbox is still to be sent: not idle."""
    floor = floors()
    engine = floor.engine
    assert engine._idle()

    engine.ledger.alert("⚠️ something", "to tell")

    assert not engine._idle()
