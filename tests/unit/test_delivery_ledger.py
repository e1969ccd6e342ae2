"""
Tests for the ledger (``_delivery/ledger.py``): counts and news.

Every loss is counted by its reason, once, and the engine's own messages
never count as events. The news (failing, recovered, disabled, drops
began, the summary, "N events were not delivered") goes into the outbox,
to the ops channel, never through the destination it is about. Times
come from the caller: nothing here reads a clock of its own but the
wall clock, injected.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest

from fakes.discord_schema import payload_errors
from polybot_loghandler._delivery.lanes import Lanes, LaneState, Trouble
from polybot_loghandler._delivery.ledger import (
    FAILING_AFTER,
    NOTICE_ROUTE,
    QUIET_AFTER,
    Ledger,
    trouble_text,
)
from polybot_loghandler._diagnostics import Diagnostics
from polybot_loghandler._discord import Outcome
from polybot_loghandler._losses import Loss
from polybot_loghandler._message import RoutedMessage
from polybot_loghandler._model import Config
from polybot_loghandler._payload import build_payload
from polybot_loghandler._selfreport import GREEN, ORANGE, RED
from polybot_loghandler._stats import Stats
from polybot_loghandler._text import escape_markdown
from tests.support.delivery import BOT_CHANNEL, TOKEN, message, routing

NOW = 1000.0
#: 14:23:45 UTC
WALL = 1706624625.0
FIVE_HUNDRED = Outcome("retry", status=500, detail="500 Internal Server Error")
GONE = "answered 404 Unknown Webhook"
FIX = "check the URL or token in your routing"
#: The trades webhook, as people read it.
LABEL = "https://discord.com/api/webhooks/111111111111111111/(redacted)"


class _Keeper:
    """Stands for the spool: notes which entries are done."""

    def __init__(self) -> None:
        self.done_entries: list[Any] = []

    def done(self, entries: Iterable[Any]) -> None:
        self.done_entries.extend(entries)


class Books:
    """A ledger with its counters, over one routing."""

    def __init__(self, config: Config, keeper: Any = None) -> None:
        self.config = config
        self.stats = Stats()
        self.ledger = Ledger(
            self.stats,
            lambda: self.config,
            keeper,
            started=NOW,
            wall=lambda: WALL,
        )
        self.lanes = Lanes(1.0, 60.0, 100)

    def lane(self, channel: str = "trades") -> LaneState:
        return self.lanes.of(self.config.channels[channel])

    def counters(self) -> dict[str, int]:
        return {k: v for k, v in self.stats.counters().items() if v}

    def posted(self) -> list[tuple[str, str]]:
        """(channel, title) of each message in the outbox."""
        return [(m.channel, m.embed["title"]) for m in self.ledger.outbox]

    def descriptions(self) -> list[str]:
        return [m.embed.get("description", "") for m in self.ledger.outbox]


def _said(capsys: pytest.CaptureFixture[str]) -> list[str]:
    """The lines written to stderr since the last look."""
    return capsys.readouterr().err.splitlines()


def _warned(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The warnings the library logged."""
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "polybot_loghandler"
    ]


@pytest.fixture
def books() -> Books:
    return Books(routing())


class TestCounting:
    def test_a_drop_counts_events_by_reason(self, books: Books) -> None:
        state = books.lane()
        messages = [message(books.config, t) for t in ("a", "b")]
        books.ledger.drop(messages, Loss.REJECTED, state)

        assert {"dropped.rejected": 2} == books.counters()
        assert {Loss.REJECTED: 2} == state.dropped_since

    def test_losses_add_up_by_reason(self, books: Books) -> None:
        state = books.lane()
        books.ledger.drop([message(books.config)] * 2, Loss.FAILED, state)
        books.ledger.drop([message(books.config)], Loss.FAILED, state)
        item, _ = books.lanes.add(state, message(books.config), NOW)
        books.lanes.add(state, message(books.config), NOW)  # a copy
        books.ledger.evicted(state, item)
        books.ledger.evicted(state, item)

        assert {
            "dropped.failed": 3,
            "dropped.queue_full": 4,
        } == books.counters()
        assert {Loss.FAILED: 3, Loss.QUEUE_FULL: 4} == state.dropped_since

    def test_a_batch_counts_what_each_item_stands_for(
        self, books: Books
    ) -> None:
        state = books.lane()
        books.lanes.add(state, message(books.config), NOW)
        books.lanes.add(state, message(books.config), NOW)  # a copy
        batch = books.lanes.take(state, NOW)

        books.ledger.drop_items(batch, Loss.FAILED, state)

        assert {"dropped.failed": 2} == books.counters()

    @pytest.mark.parametrize(
        "route", ["polybot_loghandler.alert", "polybot_loghandler.dropped"]
    )
    def test_our_own_messages_are_not_events(
        self, books: Books, route: str
    ) -> None:
        state = books.lane()
        books.lanes.add(state, message(books.config, route=route), NOW)
        batch = books.lanes.take(state, NOW)

        books.ledger.drop_items(batch, Loss.FAILED, state)
        books.ledger.sent(state, batch, NOW)

        assert {"sent.messages": 1, "sent.embeds": 1} == books.counters()
        assert not state.dropped_since

    def test_delivered_and_lost_entries_are_done_in_the_spool(
        self,
    ) -> None:
        keeper = _Keeper()
        books = Books(routing(), keeper)
        state = books.lane()
        for title in ("sent", "lost"):
            books.lanes.add(state, message(books.config, title), NOW)
        sent, lost = books.lanes.take(state, NOW)
        sent.spool.append("entry-1")
        lost.spool.append("entry-2")

        books.ledger.sent(state, [sent], NOW)
        books.ledger.drop_items([lost], Loss.REJECTED, state)

        assert ["entry-1", "entry-2"] == keeper.done_entries

    def test_evicted_and_lost(self, books: Books) -> None:
        state = books.lane()
        item, _ = books.lanes.add(state, message(books.config), NOW)
        books.ledger.evicted(state, item)
        books.ledger.lost(Loss.SHUTDOWN, 3)
        books.ledger.lost(Loss.SHUTDOWN, 0)

        assert {
            "dropped.queue_full": 1,
            "dropped.shutdown": 3,
        } == books.counters()
        assert {Loss.QUEUE_FULL: 1} == state.dropped_since

    def test_an_unrenderable_event_is_counted_and_warned_once(
        self, books: Books, caplog: pytest.LogCaptureFixture
    ) -> None:
        for _ in range(3):
            books.ledger.unrenderable(ValueError("bad value"))

        assert {"dropped.unrenderable": 3} == books.counters()
        said = (
            "an event could not be routed or queued and was dropped "
            "(ValueError: bad value); the next such are counted as "
            "dropped.unrenderable"
        )
        assert [said] == _warned(caplog)

    def test_what_was_said_once_stays_said_for_the_next_ledger(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A restarted engine keeps its pipeline's diagnostics."""
        config = routing()
        diagnostics = Diagnostics()
        for _ in range(2):
            ledger = Ledger(Stats(), lambda: config, diagnostics=diagnostics)
            ledger.unrenderable(ValueError("bad value"))

        assert ledger.diagnostics is diagnostics
        assert 1 == len(_warned(caplog))


class TestNotices:
    def test_losses_are_told_after_the_next_delivery(
        self, books: Books
    ) -> None:
        state = books.lane()
        books.ledger.drop([message(books.config)], Loss.REJECTED, state)
        books.ledger.drop([message(books.config)], Loss.FAILED, state)

        books.ledger.sent(state, [], NOW)
        books.ledger.sent(state, [], NOW)  # told once

        assert [("ops", "⚠️ 2 events were not delivered")] == books.posted()
        (notice,) = books.ledger.outbox
        assert {
            "title": "⚠️ 2 events were not delivered",
            "description": "Reasons: failed: 1, rejected: 1",
            "color": ORANGE,
        } == notice.embed
        assert NOTICE_ROUTE == notice.route
        assert books.ledger.posted.is_set()

    def test_each_notice_tells_what_was_lost_since_the_last(
        self, books: Books
    ) -> None:
        state = books.lane()
        books.ledger.drop([message(books.config)] * 3, Loss.FAILED, state)
        books.ledger.notice(state)
        books.ledger.drop([message(books.config)], Loss.FAILED, state)
        books.ledger.notice(state)

        assert [
            ("ops", "⚠️ 3 events were not delivered"),
            ("ops", "⚠️ 1 event was not delivered"),
        ] == books.posted()
        assert ["Reasons: failed: 3", "Reasons: failed: 1"] == (
            books.descriptions()
        )

    def test_a_lane_whose_channel_is_gone_has_no_one_to_tell(self) -> None:
        """Without an ops channel, nor a channel of its destination now."""
        books = Books(routing())
        state = books.lane()
        books.ledger.drop([message(books.config)], Loss.FAILED, state)
        reloaded = routing(ops_channel="")
        books.config = dataclasses.replace(
            reloaded,
            channels={
                k: v for k, v in reloaded.channels.items() if k != "trades"
            },
        )

        books.ledger.notice(state)

        assert [] == books.posted()
        assert not state.dropped_since  # told as far as it can be

    def test_without_an_ops_channel_the_lane_s_own_channel_hears(
        self,
    ) -> None:
        books = Books(routing(ops_channel=""))
        state = books.lane()
        books.ledger.drop([message(books.config)], Loss.REJECTED, state)

        books.ledger.notice(state)

        assert [("trades", "⚠️ 1 event was not delivered")] == books.posted()

    def test_nothing_lost_nothing_told(self, books: Books) -> None:
        books.ledger.notice(books.lane())

        assert [] == books.posted()


class TestHealth:
    def test_failing_is_told_after_a_while_and_once(
        self, books: Books, capsys: pytest.CaptureFixture[str]
    ) -> None:
        state = books.lane()
        books.ledger.failing(state, FIVE_HUNDRED, NOW, NOW)
        assert [] == books.posted()  # a blip is not news

        later = NOW + FAILING_AFTER
        books.ledger.failing(state, FIVE_HUNDRED, NOW + 1, later)
        books.ledger.failing(state, FIVE_HUNDRED, later, later + 1)

        assert [("ops", "⚠️ A Discord destination is failing")] == (
            books.posted()
        )
        err = capsys.readouterr().err
        assert 1 == err.count("failing since 14:23:45 UTC")
        assert TOKEN not in err
        assert "retried for up to 10s, then dropped" in err

    @pytest.mark.parametrize(
        ("outcome", "how"),
        [
            (
                FIVE_HUNDRED,
                "failing since 14:23:43 UTC (500 Internal Server Error)",
            ),
            (Outcome("retry", status=502), "failing since 14:23:43 UTC (502)"),
            (
                Outcome(
                    "retry", detail="connection refused", unreachable=True
                ),
                "unreachable since 14:23:43 UTC (connection refused)",
            ),
        ],
    )
    def test_the_news_of_failing_in_full(
        self,
        books: Books,
        capsys: pytest.CaptureFixture[str],
        outcome: Outcome,
        how: str,
    ) -> None:
        """Since when: the wall clock when the first failed try began."""
        books.ledger.failing(books.lane(), outcome, NOW, NOW + FAILING_AFTER)

        text = (
            f"{LABEL} {how}; its messages are retried for up to 10s, "
            "then dropped"
        )
        assert [f"polybot_loghandler: {text}"] == _said(capsys)
        assert [escape_markdown(text)] == books.descriptions()

    def test_the_latest_failure_says_why(self, books: Books) -> None:
        state = books.lane()
        refused = Outcome(
            "retry", detail="connection refused", unreachable=True
        )
        books.ledger.failing(state, FIVE_HUNDRED, NOW, NOW)
        assert [
            f"{LABEL} failing since 14:23:45 UTC (500 Internal Server Error)"
        ] == books.ledger.troubles(books.lanes)

        books.ledger.failing(state, refused, NOW + 1, NOW + 1)

        assert [
            f"{LABEL} unreachable since 14:23:45 UTC (connection refused)"
        ] == books.ledger.troubles(books.lanes)

    def test_a_wait_past_the_cap_is_told_at_once(self, books: Books) -> None:
        books.ledger.failing(
            books.lane(), FIVE_HUNDRED, NOW, NOW, at_once=True
        )

        assert 1 == len(books.posted())

    def test_a_short_budget_is_told_before_it_runs_out(self) -> None:
        books = Books(routing(retry_for="1s"))
        books.ledger.failing(books.lane(), FIVE_HUNDRED, NOW, NOW + 1)

        assert 1 == len(books.posted())

    def test_with_a_spool_the_messages_are_kept(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        books = Books(routing(), _Keeper())
        books.ledger.failing(books.lane(), FIVE_HUNDRED, NOW, NOW + 5)

        assert "then kept in the spool" in capsys.readouterr().err

    def test_the_news_of_recovery_in_full(
        self, books: Books, capsys: pytest.CaptureFixture[str]
    ) -> None:
        state = books.lane()
        books.ledger.failing(state, FIVE_HUNDRED, NOW, NOW + 5)
        _said(capsys)

        books.ledger.answered(state, NOW + 65)

        text = (
            f"{LABEL} answers again, after 1m 5s (failing since 14:23:40 UTC)"
        )
        assert [f"polybot_loghandler: {text}"] == _said(capsys)
        assert escape_markdown(text) == books.descriptions()[-1]

    def test_the_ops_destination_s_recovery_is_not_sent_through_it(
        self, books: Books, capsys: pytest.CaptureFixture[str]
    ) -> None:
        ops = books.lane("ops")
        books.ledger.failing(ops, FIVE_HUNDRED, NOW, NOW, at_once=True)
        books.ledger.answered(ops, NOW + 1)

        assert [] == books.posted()
        assert 2 == len(_said(capsys))  # stderr hears both

    def test_recovery_is_told_only_if_failing_was(self, books: Books) -> None:
        state = books.lane()
        books.ledger.failing(state, FIVE_HUNDRED, NOW, NOW)
        books.ledger.answered(state, NOW + 1)
        assert [] == books.posted()

        books.ledger.failing(state, FIVE_HUNDRED, NOW, NOW + 5)
        books.ledger.answered(state, NOW + 65)

        assert [
            "⚠️ A Discord destination is failing",
            "✅ A Discord destination recovered",
        ] == [title for _, title in books.posted()]
        assert "after 1m 5s" in books.ledger.outbox[1].embed["description"]
        assert state.trouble is None

    def test_flapping_is_not_told_again_within_the_quiet_time(
        self, books: Books
    ) -> None:
        state = books.lane()
        books.ledger.failing(state, FIVE_HUNDRED, NOW, NOW + 5)
        books.ledger.answered(state, NOW + 6)
        books.ledger.failing(state, FIVE_HUNDRED, NOW + 7, NOW + 20)
        assert 2 == len(books.posted())  # failing, recovered

        told = NOW + 5  # when its failing was told
        books.ledger.answered(state, told + QUIET_AFTER - 10)
        books.ledger.failing(
            state, FIVE_HUNDRED, told + QUIET_AFTER - 5, told + QUIET_AFTER
        )

        assert 3 == len(books.posted())

    def test_disabled_is_told_once_and_severe(
        self, books: Books, capsys: pytest.CaptureFixture[str]
    ) -> None:
        state = books.lane()
        books.ledger.disabled(state, GONE, FIX)
        books.ledger.disabled(state, GONE, FIX)

        assert [("ops", "⛔ A Discord destination was disabled")] == (
            books.posted()
        )
        text = (
            f"{LABEL} answered 404 Unknown Webhook; it is disabled and its "
            "messages are dropped (check the URL or token in your routing)"
        )
        assert [f"polybot_loghandler: {text}"] == _said(capsys)
        assert [escape_markdown(text)] == books.descriptions()
        assert logging.ERROR == books.ledger.outbox[0].event.level

    def test_news_of_the_ops_destination_is_not_sent_through_it(
        self, books: Books
    ) -> None:
        ops = books.lane("ops")
        books.ledger.disabled(ops, GONE, FIX)
        books.ledger.failing(ops, FIVE_HUNDRED, NOW, NOW, at_once=True)

        assert [] == books.posted()

    def test_troubles_name_each_failing_destination(
        self, books: Books
    ) -> None:
        state = books.lane()
        books.lane("bot")
        unreachable = Outcome(
            "retry", detail="connection refused", unreachable=True
        )
        books.ledger.failing(state, unreachable, NOW - 3, NOW)

        (text,) = books.ledger.troubles(books.lanes)
        assert text.endswith(
            "unreachable since 14:23:42 UTC (connection refused)"
        )
        assert text == trouble_text(state.label, state.trouble)  # type: ignore[arg-type]


@pytest.fixture
def tokyo() -> Iterator[None]:
    """The process's local time is Tokyo's (UTC+9)."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = "Asia/Tokyo"
    time.tzset()
    try:
        yield
    finally:
        if before is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = before
        time.tzset()


def test_times_are_told_in_utc_wherever_the_process_runs(
    books: Books, tokyo: None
) -> None:
    state = books.lane()
    books.ledger.failing(state, FIVE_HUNDRED, NOW, NOW)

    assert "since 14:23:45 UTC" in trouble_text(state.label, state.trouble)  # type: ignore[arg-type]


class TestPeriodicNews:
    def test_drops_beginning_are_told_once_per_episode(
        self, books: Books
    ) -> None:
        ledger = books.ledger
        ledger.watch_drops({"dropped.queue_full": 5}, NOW)
        ledger.watch_drops({"dropped.queue_full": 9}, NOW + 1)
        ledger.watch_drops({"dropped.queue_full": 9}, NOW + 2)
        assert 1 == len(books.posted())

        ledger.watch_drops({"dropped.queue_full": 10}, NOW + 1 + QUIET_AFTER)

        assert ["⚠️ Discord delivery is dropping events"] * 2 == [
            title for _, title in books.posted()
        ]
        assert (
            "5 events dropped (queue_full)"
            in (books.ledger.outbox[0].embed["description"])
        )

    def test_each_reason_has_its_own_episodes(
        self, books: Books, caplog: pytest.LogCaptureFixture
    ) -> None:
        ledger = books.ledger
        ledger.watch_drops(
            {"dropped.shutdown": 5, "dropped.queue_full": 3}, NOW
        )
        ledger.watch_drops(
            {
                "dropped.shutdown": 5,
                "dropped.queue_full": 4,  # the same episode
                "dropped.failed": 2,
            },
            NOW + 1,
        )

        told = [
            f"{n} events dropped ({reason}) in the last 1s; the next summary "
            "has the totals"
            for n, reason in ((3, "queue_full"), (2, "failed"))
        ]
        assert told == books.descriptions()
        assert told == _warned(caplog)

    def test_a_new_episode_counts_from_the_last_look(
        self, books: Books
    ) -> None:
        ledger = books.ledger
        ledger.watch_drops({"dropped.failed": 9}, NOW)
        ledger.watch_drops({"dropped.failed": 10}, NOW + QUIET_AFTER)

        assert (
            "1 event dropped (failed) in the last 1s; the next summary has "
            "the totals"
        ) == books.descriptions()[-1]

    def test_losses_at_shutdown_are_not_an_alarm(self, books: Books) -> None:
        books.ledger.watch_drops({"dropped.shutdown": 5}, NOW)

        assert [] == books.posted()

    def test_the_summary_goes_to_the_report_channel(self) -> None:
        books = Books(routing(report="{every: 1m, channel: trades}"))
        books.ledger.report({"accepted": 3, "delivered": 3}, NOW + 60, [])
        books.ledger.report({"accepted": 3, "delivered": 3}, NOW + 120, [])

        assert [("trades", "📊 Discord delivery: the last 1m")] == (
            books.posted()
        )

    def test_the_first_summary_counts_from_the_start(self) -> None:
        """The first summary covers the time since the run started."""
        config = routing(report="{every: 1m, channel: trades}")
        ledger = Ledger(Stats(), lambda: config, started=NOW - 60)
        ledger.report({"accepted": 1}, NOW, [])
        ledger.report({"accepted": 3}, NOW + 120, [])

        assert [
            "📊 Discord delivery: the last 1m",
            "📊 Discord delivery: the last 2m",
        ] == [m.embed["title"] for m in ledger.outbox]

    def test_the_summary_names_the_disabled_destinations(self) -> None:
        books = Books(routing(report="{every: 1m, channel: trades}"))
        books.ledger.report(
            {"accepted": 1}, NOW + 60, [f"channel {BOT_CHANNEL}"]
        )

        (summary,) = books.ledger.outbox
        assert {
            "name": "Disabled destinations",
            "value": f"channel {BOT_CHANNEL}",
            "inline": False,
        } in summary.embed["fields"]
        assert RED == summary.embed["color"]

    def test_no_channel_no_summary(self) -> None:
        books = Books(routing(ops_channel=""))
        books.ledger.report({"accepted": 3}, NOW + 60, [])

        assert [] == books.posted()


def _failing(books: Books) -> None:
    books.ledger.failing(books.lane(), FIVE_HUNDRED, NOW, NOW, at_once=True)


def _recovered(books: Books) -> None:
    _failing(books)
    books.ledger.answered(books.lane(), NOW + 1)


def _disabled(books: Books) -> None:
    books.ledger.disabled(books.lane(), GONE, FIX)


def _dropping(books: Books) -> None:
    books.ledger.watch_drops({"dropped.queue_full": 1}, NOW)


def _notice(books: Books) -> None:
    state = books.lane()
    books.ledger.drop([message(books.config)], Loss.FAILED, state)
    books.ledger.notice(state)


def _summary(books: Books) -> None:
    books.config = routing(report="{every: 1m, channel: trades}")
    books.ledger.report({"delivered": 1}, NOW + 60, [])


ALERT = "polybot_loghandler.alert"


@pytest.mark.parametrize(
    ("news", "expected"),
    [
        (_failing, (ALERT, logging.WARNING, ORANGE, "ops")),
        (_recovered, (ALERT, logging.WARNING, ORANGE, "ops")),
        (_disabled, (ALERT, logging.ERROR, RED, "ops")),
        (_dropping, (ALERT, logging.WARNING, ORANGE, "ops")),
        (_notice, (NOTICE_ROUTE, logging.WARNING, ORANGE, "ops")),
        (
            _summary,
            ("polybot_loghandler.report", logging.INFO, GREEN, "trades"),
        ),
    ],
)
def test_the_ledger_s_own_messages_are_filed_like_any_other(
    books: Books,
    news: Callable[[Books], None],
    expected: tuple[str, int, int, str],
) -> None:
    """
    Each is a message of the engine's own route, for its channel, with
    a body Discord takes; it says nothing of any event's fields.
    """
    route, level, color, channel = expected
    news(books)

    m: RoutedMessage = books.ledger.outbox[-1]
    assert (route, route) == (m.route, m.event.event)
    assert (level, "polybot_loghandler", {}) == (
        m.event.level,
        m.event.logger,
        m.event.fields,
    )
    assert m.embed["title"] == m.event.message
    assert color == m.embed["color"]
    assert channel == m.channel
    assert m.target is books.config.channels[channel]
    assert build_payload([m.embed], None) == m.payload
    assert [] == payload_errors(m.payload)


@pytest.mark.parametrize(
    ("case", "failing", "resumed"),
    [
        ("it answers again after failing", True, 1234.5),
        ("it never failed", False, 0.0),
    ],
)
def test_a_destination_that_answers_again_is_fresh_from_then(
    case: str, failing: bool, resumed: float
) -> None:
    """What waited out the trouble is judged late only from its end."""
    config = routing()
    ledger = Ledger(Stats(), lambda: config, wall=lambda: 1234.5)
    state = Lanes(1.0, 60.0, 100).of(config.channels["trades"])
    if failing:
        state.trouble = Trouble(0.0, 1000.0, "503", unreachable=False)

    ledger.answered(state, 5.0)

    assert resumed == state.resumed, case
