"""
Watches and digests in one process, end to end.

Through the real entry points (the logging handler, the structlog
processor), the caller's filter, a live reload, ``testing.capture`` with
time advanced, and the worker delivering to a loopback fake Discord:
a thread that stops heartbeating is reported once and its return once;
a digest period still open at exit is delivered, marked partial.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import structlog

from fakes.discord import FakeDiscord
from polybot_loghandler import DiscordHandler, DiscordProcessor
from polybot_loghandler._registry import get_pipeline
from polybot_loghandler.testing import RoutedMessage, capture
from tests.support.connect import Connect
from tests.support.helpers import WAIT

WATCHING = """\
watches:
  - name: agent_heartbeat
    match: {event: heartbeat}
    key: "{{ agent }}"
    alert_after: 3m
    to: alerts
digests:
  - name: hourly
    match: {event: trade_executed}
    every: 1h
    group_by: agent
    measures: {trades: count, volume: sum(amount)}
    to: perf
"""

ROUTING = (
    """\
version: 1
channels:
  alerts: ""
  perf: ""
routes:
  - {name: warnings, match: {level: warning}, to: alerts}
"""
    + WATCHING
)


@pytest.fixture
def _structlog_defaults() -> Iterator[None]:
    yield
    structlog.reset_defaults()


def titles(sent: list[RoutedMessage]) -> list[str]:
    return [m.embed.get("title", "") for m in sent]


class TestTheCallersFilter:
    def test_a_heartbeat_no_route_takes_reaches_its_watch(
        self, connect: Connect
    ) -> None:
        _handler, log = connect(ROUTING)

        with capture() as sent:
            log.info("heartbeat", extra={"agent": "A"})
            assert [] == sent  # no route sends it
            sent.advance(181)

        assert ["🚨 A has gone silent"] == titles(sent)

    def test_events_no_route_watch_or_digest_takes_stay_out(
        self, connect: Connect
    ) -> None:
        handler, log = connect(ROUTING)

        with capture() as sent:
            log.info("order_placed", extra={"agent": "A"})

        assert [] == sent
        assert 0 == handler.stats().get("unmatched", 0)  # never queued

    @pytest.mark.usefixtures("_structlog_defaults")
    def test_through_the_structlog_processor_too(
        self, make_routing: Callable[..., Path]
    ) -> None:
        structlog.configure(
            processors=[
                structlog.processors.add_log_level,
                DiscordProcessor(make_routing(ROUTING)),
                structlog.processors.JSONRenderer(),
            ],
            logger_factory=structlog.testing.CapturingLoggerFactory(),
            cache_logger_on_first_use=False,
        )
        log = structlog.get_logger()

        with capture() as sent:
            log.info("heartbeat", agent="A")
            log.info("trade_executed", agent="A", amount=10)
            log.info("trade_executed", agent="B", amount=5)
            sent.advance(3600 + 181)

        assert {"🚨 A has gone silent", "📊 Hourly"} == set(titles(sent))
        (digest,) = [m for m in sent if m.channel == "perf"]
        assert [("A", "Trades: **1**\nVolume: **10**")] == [
            (f["name"], f["value"]) for f in digest.embed["fields"][:1]
        ]


class TestCapture:
    def test_alert_then_recovery_as_time_moves_on(
        self, connect: Connect
    ) -> None:
        _handler, log = connect(ROUTING)

        with capture() as sent:
            log.info("heartbeat", extra={"agent": "A"})
            assert [] == sent.advance(170)
            alerted = sent.advance(11)
            log.info("heartbeat", extra={"agent": "A"})

        assert ["🚨 A has gone silent"] == titles(alerted)
        assert ["🚨 A has gone silent", "✅ A is back"] == titles(sent)
        assert "3m 1s" in sent[1].embed["description"]  # rounded

    def test_time_cannot_go_back(self) -> None:
        with capture() as sent, pytest.raises(ValueError, match="forward"):
            sent.advance(-1)

    def test_a_digest_counts_what_was_logged_in_its_period(
        self, connect: Connect
    ) -> None:
        _handler, log = connect(ROUTING)

        with capture() as sent:
            for n in range(30):
                log.info(
                    "trade_executed",
                    extra={"agent": "AB"[n % 2], "amount": n},
                )
            sent.advance(3600)

        (digest,) = sent
        fields = {f["name"]: f["value"] for f in digest.embed["fields"]}
        assert "Trades: **15**\nVolume: **210**" == fields["A"]
        assert "Trades: **15**\nVolume: **225**" == fields["B"]
        assert "Trades: **30**\nVolume: **435**" == fields["Total"]


class TestReload:
    def test_a_reload_keeps_what_an_unchanged_watch_knows(
        self,
        make_routing: Callable[..., Path],
        logger_with: Callable[..., logging.Logger],
    ) -> None:
        path = make_routing(ROUTING)
        log = logger_with(DiscordHandler(path))
        pipeline = get_pipeline(path)

        with capture() as sent:
            log.info("heartbeat", extra={"agent": "A"})
            sent.advance(181)  # alerted
            path.write_text(ROUTING.replace("every: 1h", "every: 30m"))
            pipeline.reload()
            sent.advance(600)  # still silent: no second alert
            log.info("heartbeat", extra={"agent": "A"})

        assert ["🚨 A has gone silent", "✅ A is back"] == titles(sent)

    def test_a_changed_watch_starts_afresh(
        self,
        make_routing: Callable[..., Path],
        logger_with: Callable[..., logging.Logger],
    ) -> None:
        path = make_routing(ROUTING)
        log = logger_with(DiscordHandler(path))
        pipeline = get_pipeline(path)

        with capture() as sent:
            log.info("heartbeat", extra={"agent": "A"})
            path.write_text(
                ROUTING.replace("alert_after: 3m", "alert_after: 5m")
            )
            pipeline.reload()
            sent.advance(3600)

        assert [] == titles(sent)  # the new watch never heard of A


def _routing(fake: FakeDiscord, **delivery: str) -> str:
    settings = "".join(f"  {k}: {v}\n" for k, v in delivery.items())
    return (
        "version: 1\n"
        "channels:\n"
        f"  alerts: {fake.webhook_url('2101', 'tok-alerts')}\n"
        f"  perf: {fake.webhook_url('2102', 'tok-perf')}\n"
        "routes: []\n"
        "watches:\n"
        "  - name: worker_heartbeat\n"
        "    match: {event: heartbeat}\n"
        '    key: "{{ worker }}"\n'
        "    alert_after: 1s\n"
        "    to: alerts\n"
        "    mention: everyone\n"
        "digests:\n"
        "  - name: daily_trades\n"
        "    match: {event: trade_executed}\n"
        "    every: 1d\n"
        "    measures: {trades: count, volume: sum(amount)}\n"
        "    to: perf\n"
        f"delivery:\n  batch_window: 0.1s\n{settings}"
    )


class Beating:
    """A thread that logs ``heartbeat`` every 0.1 s until stopped."""

    def __init__(self, log: logging.Logger, worker: str) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(log, worker), daemon=True
        )
        self._thread.start()

    def _run(self, log: logging.Logger, worker: str) -> None:
        while not self._stop.wait(0.1):
            log.info("heartbeat", extra={"worker": worker})

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


@pytest.mark.slow
class TestInProcess:
    def test_a_thread_that_stops_heartbeating_is_reported_once(
        self, fake_discord: FakeDiscord, connect: Connect
    ) -> None:
        handler, log = connect(_routing(fake_discord))
        beats = {name: Beating(log, name) for name in ("scanner", "trader")}
        time.sleep(0.5)

        beats["scanner"].stop()
        stopped = time.monotonic()
        assert fake_discord.wait_for(lambda f: len(f.messages) >= 1, WAIT)
        noticed = fake_discord.messages[0].time - stopped
        time.sleep(2)  # a second alert would come by now
        beats["scanner"] = Beating(log, "scanner")
        assert fake_discord.wait_for(lambda f: len(f.messages) >= 2, WAIT)
        time.sleep(0.5)
        for beat in beats.values():
            beat.stop()
        assert handler._pipeline is not None
        assert handler._pipeline.close()  # as at the interpreter's exit

        print(f"the alert came {noticed:.2f}s after the last heartbeat")
        embeds = fake_discord.embeds()
        assert [
            "🚨 scanner has gone silent",
            "✅ scanner is back",
        ] == [e["title"] for e in embeds[:2]]
        alert, recovery = fake_discord.messages[:2]
        assert "@everyone" == alert.json["content"]
        assert {"parse": ["everyone"]} == alert.json["allowed_mentions"]
        assert "content" not in recovery.json
        # the last thread stopped with the handler closing: no alert for it
        assert 2 == len(fake_discord.messages)
        assert noticed < 3.0

    def test_an_open_digest_period_is_delivered_at_exit_as_partial(
        self, fake_discord: FakeDiscord, connect: Connect
    ) -> None:
        handler, log = connect(_routing(fake_discord))
        for n in range(10):
            log.info("trade_executed", extra={"amount": n})

        assert handler._pipeline is not None
        assert handler._pipeline.close()  # as at the interpreter's exit

        (digest,) = fake_discord.embeds()
        assert "📊 Daily Trades (partial)" == digest["title"]
        assert "Trades: **10**\nVolume: **45**" == digest["fields"][0]["value"]
