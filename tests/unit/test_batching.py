"""
Tests for per-destination batching and coalescing (``_batching.py``).

The lane is pure: every call takes ``now``, so a clock is driven by hand
and nothing sleeps. Messages are built directly, the way the pipeline
builds them; every batch body is checked by the independent oracle in
``tests/support``.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from fakes.discord_schema import payload_errors
from polybot_loghandler._batching import Lane, Pending, coalesce_key
from polybot_loghandler._events import LogEvent
from polybot_loghandler._message import Attachment, Place, RoutedMessage
from polybot_loghandler._model import Coalesce, Mention
from polybot_loghandler._payload import (
    batch_payload,
    clamp_embed,
    embed_length,
)

# 2024-01-30T14:23:45Z
T0 = 1706624625.0
GATHER = 1.0
WINDOW = 60.0
ROLE = Mention(kind="role", id="123456789012345678")
OTHER_ROLE = Mention(kind="role", id="876543210987654321")
EVERYONE = Mention(kind="everyone")
FOOTER = "floor_boss · ERROR"


def _stamp(time: float) -> str:
    """
    An embed timestamp as the renderer writes it.
    """
    when = datetime.fromtimestamp(time, tz=timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{when.microsecond // 1000:03d}Z"
    )


class _Unshowable:
    """
    A field value whose ``repr()`` raises, as a detached ORM object's may.
    """

    def __repr__(self) -> str:
        raise RuntimeError("instance is not bound to a session")


def _message(
    title: str = "Order Failed",
    *,
    time: float = T0,
    level: int = logging.ERROR,
    channel: str = "alerts",
    route: str = "errors",
    mention: Mention | None = None,
    coalesce: Coalesce | None = None,
    fields: dict[str, Any] | None = None,
    description: str | None = None,
    footer: str | None = FOOTER,
) -> RoutedMessage:
    """
    A message as the pipeline makes it: one rendered embed and its body.
    """
    embed: dict[str, Any] = {"title": title, "color": 0xE74C3C}
    if description:
        embed["description"] = description
    if footer is not None:
        embed["footer"] = {"text": footer}
    embed["timestamp"] = _stamp(time)
    payload: dict[str, Any] = {}
    if mention is None:
        payload["allowed_mentions"] = {"parse": []}
    else:
        payload["content"] = mention.content
        payload["allowed_mentions"] = mention.allowed_mentions
    payload["embeds"] = [embed]
    return RoutedMessage(
        channel=channel,
        route=route,
        payload=payload,
        embed=embed,
        event=LogEvent(
            event="order_failed",
            level=level,
            logger="floor_boss",
            time=time,
            fields=fields or {},
            message="order_failed",
        ),
        coalesce=Coalesce() if coalesce is None else coalesce,
    )


def _lane(window: float = WINDOW) -> Lane:
    """
    A lane with the default gathering and coalescing windows.
    """
    return Lane(gather=GATHER, window=window)


def _drain(lane: Lane, now: float) -> list[list[Pending]]:
    """
    Take every batch that is waiting, as a flush would.
    """
    batches = []
    while lane.due(now, flushing=True) is not None:
        batches.append(lane.take(now))
    return batches


def _titles(batches: list[list[Pending]]) -> list[list[str]]:
    """
    The titles of each batch's embeds.
    """
    return [[p.embed()["title"] for p in batch] for batch in batches]


def _footer(item: Pending) -> str:
    """
    The footer text an item is sent with.
    """
    return str(item.embed().get("footer", {}).get("text", ""))


#: Zones far from UTC, as POSIX TZ strings (no zone database needed; the
#: sign is west of UTC, so "IST-5:30" is five and a half hours east).
ZONES = [
    pytest.param("IST-5:30", id="utc+05:30"),
    pytest.param("NST+3:30", id="utc-03:30"),
    pytest.param("LINT-14", id="utc+14"),
    pytest.param("SST+11", id="utc-11"),
]


@pytest.fixture
def local_zone(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """
    Run the test with the process's local time zone set to *param*.
    """
    monkeypatch.setenv("TZ", request.param)
    time.tzset()
    # the zone took: T0 is 14:23:45 UTC, and not here
    assert time.strftime("%H:%M", time.localtime(T0)) != "14:23"
    yield request.param
    monkeypatch.undo()
    time.tzset()


class TestCoalesceKey:
    """
    What makes two messages duplicates.
    """

    @pytest.mark.parametrize(
        ("first", "second", "expected"),
        [
            pytest.param(
                _message(time=T0),
                _message(time=T0 + 30),
                True,
                id="same-embed-other-time",
            ),
            pytest.param(
                _message("Order Failed"),
                _message("Order Rejected"),
                False,
                id="other-title",
            ),
            pytest.param(
                _message(description="a"),
                _message(description="b"),
                False,
                id="other-description",
            ),
            pytest.param(
                _message(channel="alerts"),
                _message(channel="trades"),
                False,
                id="other-channel",
            ),
            pytest.param(
                _message(mention=ROLE),
                _message(mention=None),
                False,
                id="other-ping",
            ),
            pytest.param(
                _message(
                    "BTC at 1", coalesce=Coalesce(by=("symbol",)), fields={}
                ),
                _message("BTC at 2", coalesce=Coalesce(by=("symbol",))),
                True,
                id="by-missing-field",
            ),
            pytest.param(
                _message(
                    "BTC at 1",
                    coalesce=Coalesce(by=("symbol",)),
                    fields={"symbol": "BTC", "price": 1},
                ),
                _message(
                    "BTC at 2",
                    coalesce=Coalesce(by=("symbol",)),
                    fields={"symbol": "BTC", "price": 2},
                ),
                True,
                id="by-same-field-other-embed",
            ),
            pytest.param(
                _message(
                    coalesce=Coalesce(by=("symbol",)),
                    fields={"symbol": "BTC"},
                ),
                _message(
                    coalesce=Coalesce(by=("symbol",)),
                    fields={"symbol": "ETH"},
                ),
                False,
                id="by-other-field",
            ),
            pytest.param(
                _message(
                    coalesce=Coalesce(by=("symbol",)),
                    fields={"symbol": "BTC"},
                    channel="alerts",
                ),
                _message(
                    coalesce=Coalesce(by=("symbol",)),
                    fields={"symbol": "BTC"},
                    channel="trades",
                ),
                False,
                id="by-other-channel",
            ),
        ],
    )
    def test_duplicates(
        self, first: RoutedMessage, second: RoutedMessage, expected: bool
    ) -> None:
        """Messages are duplicates when their keys match."""
        assert expected == (coalesce_key(first) == coalesce_key(second))

    @pytest.mark.parametrize(
        "coalesce",
        [
            pytest.param(Coalesce(enabled=False), id="coalesce-false"),
            pytest.param(
                Coalesce(enabled=False, by=("symbol",)), id="false-with-by"
            ),
        ],
    )
    def test_coalescing_off(self, coalesce: Coalesce) -> None:
        """With ``coalesce: false`` a message has no key at all."""
        assert None is coalesce_key(_message(coalesce=coalesce))

    @pytest.mark.parametrize(
        "value",
        [
            pytest.param(10**5000, id="huge-int"),
            pytest.param(_Unshowable(), id="raising-repr"),
            pytest.param([_Unshowable(), 10**5000], id="inside-a-list"),
        ],
    )
    def test_hostile_by_value(self, value: Any) -> None:
        """A ``by`` value whose repr() fails still gives a key, no error."""
        by = Coalesce(by=("symbol",))
        first = _message(coalesce=by, fields={"symbol": value})
        second = _message(coalesce=by, fields={"symbol": value})
        lane = _lane()

        key = coalesce_key(first)
        lane.add(first, 0.0)
        lane.add(second, 0.0)

        assert isinstance(key, str)
        assert key == coalesce_key(second)
        assert [2] == [p.count for p in lane.items()]

    def test_no_coalesce_settings(self) -> None:
        """A message without coalescing settings has no key."""
        message = _message()
        bare = RoutedMessage(
            channel=message.channel,
            route=message.route,
            payload=message.payload,
            embed=message.embed,
            event=message.event,
        )
        assert None is coalesce_key(bare)

    def test_embed_key_order_does_not_matter(self) -> None:
        """The same embed built in another key order is a duplicate."""
        message = _message(description="d", fields={"a": 1})
        embed = dict(reversed(list(message.embed.items())))
        reordered = dataclasses.replace(message, embed=embed)
        assert coalesce_key(message) == coalesce_key(reordered)

    @pytest.mark.parametrize(
        ("first", "second", "expected"),
        [
            pytest.param(Decimal("1.5"), Decimal("1.5"), True, id="same"),
            pytest.param(Decimal("1.5"), Decimal("2.5"), False, id="other"),
        ],
    )
    def test_embed_value_json_cannot_write(
        self, first: Decimal, second: Decimal, expected: bool
    ) -> None:
        """A value JSON has no type for is keyed by its text, no error."""
        keys = []
        for value in (first, second):
            message = _message()
            embed = {**message.embed, "description": value}
            keys.append(
                coalesce_key(dataclasses.replace(message, embed=embed))
            )
        assert expected == (keys[0] == keys[1])


class TestPending:
    """
    One embed standing for several events.
    """

    def test_single_event_is_sent_as_rendered(self) -> None:
        """An embed for one event is the rendered embed, unchanged."""
        message = _message()
        item = _lane().add(message, 0.0)
        assert item is not None
        assert message.embed == item.embed()

    @pytest.mark.parametrize(
        ("times", "footer", "expected"),
        [
            pytest.param(
                [T0, T0 + 2, T0 + 5],
                FOOTER,
                f"{FOOTER} · ×3 · since 14:23:45 UTC",
                id="span",
            ),
            pytest.param(
                [T0, T0 + 0.5],
                FOOTER,
                f"{FOOTER} · ×2",
                id="same-second",
            ),
            pytest.param(
                [T0, T0 + 60],
                None,
                "×2 · since 14:23:45 UTC",
                id="no-footer",
            ),
            pytest.param(
                [T0 + 5, T0, T0 + 2],
                FOOTER,
                f"{FOOTER} · ×3 · since 14:23:45 UTC",
                id="out-of-order-times",
            ),
        ],
    )
    def test_merged_footer(
        self, times: list[float], footer: str | None, expected: str
    ) -> None:
        """A merged embed's footer shows ``×N`` and first to last time."""
        lane = _lane()
        for t in times:
            lane.add(_message(time=t, footer=footer), 0.0)
        [[item]] = _drain(lane, 0.0)
        assert expected == _footer(item)

    @pytest.mark.parametrize("local_zone", ZONES, indirect=True)
    @pytest.mark.parametrize(
        ("times", "expected"),
        [
            pytest.param(
                [T0, T0 + 2, T0 + 5],
                f"{FOOTER} · ×3 · since 14:23:45 UTC",
                id="span",
            ),
            pytest.param([T0, T0 + 0.5], f"{FOOTER} · ×2", id="same-second"),
            pytest.param(
                [T0 - 0.25, T0 + 0.25],
                f"{FOOTER} · ×2 · since 14:23:44 UTC",
                id="across-a-second",
            ),
        ],
    )
    def test_merged_footer_outside_utc(
        self, local_zone: str, times: list[float], expected: str
    ) -> None:
        """The footer's span is in UTC whatever the local time zone."""
        lane = _lane()
        for t in times:
            lane.add(_message(time=t), 0.0)
        [[item]] = _drain(lane, 0.0)
        assert expected == _footer(item)

    @pytest.mark.parametrize("local_zone", ZONES, indirect=True)
    def test_held_summary_footer_outside_utc(self, local_zone: str) -> None:
        """A held summary says since when in UTC in any local time zone."""
        lane = _lane()
        lane.add(_message(time=T0), 0.0)
        _drain(lane, 0.0)
        for t in (10.0, 20.0):
            lane.add(_message(time=T0 + t), t)
        lane.release(WINDOW)
        [[item]] = _drain(lane, WINDOW)
        assert f"{FOOTER} · ×2 more · since 14:23:55 UTC" == _footer(item)

    def test_merge_does_not_change_the_message_embed(self) -> None:
        """Showing the count leaves the rendered embed itself untouched."""
        first = _message(time=T0)
        lane = _lane()
        lane.add(first, 0.0)
        lane.add(_message(time=T0 + 1), 0.0)
        [[item]] = _drain(lane, 0.0)
        item.embed()
        assert {"text": FOOTER} == item.message.embed["footer"]

    def test_merged_embed_is_a_copy(self) -> None:
        """Changing a merged embed's fields or footer changes nothing kept."""
        lane = _lane()
        for t in (T0, T0 + 1):
            lane.add(_message(time=t), 0.0)
        [[item]] = _drain(lane, 0.0)
        item.message.embed["fields"] = [{"name": "Agent", "value": "bot"}]
        sent = item.embed()
        sent["fields"][0]["value"] = "changed"
        sent["fields"].append({"name": "extra", "value": "x"})
        sent["footer"]["text"] = "changed"
        expected = [{"name": "Agent", "value": "bot"}]
        actual = (item.message.embed["fields"], item.embed()["fields"])
        assert (expected, expected) == actual
        assert {"text": FOOTER} == item.message.embed["footer"]

    def test_long_footer_is_clamped(self) -> None:
        """The count never pushes a footer past Discord's 2048 characters."""
        lane = _lane()
        for t in (T0, T0 + 1):
            lane.add(_message(time=t, footer="x" * 2048), 0.0)
        [[item]] = _drain(lane, 0.0)
        assert 2048 == len(_footer(item))

    def test_merge_keeps_highest_level_and_newest_state(self) -> None:
        """A merge keeps the highest level and the newest event's embed."""
        by = Coalesce(by=("symbol",))
        lane = _lane()
        for title, level in [
            ("BTC 1", logging.WARNING),
            ("BTC 2", logging.ERROR),
            ("BTC 3", logging.INFO),
        ]:
            lane.add(
                _message(
                    title, level=level, coalesce=by, fields={"symbol": "BTC"}
                ),
                0.0,
            )
        [[item]] = _drain(lane, 0.0)
        actual = (item.count, item.level, item.embed()["title"])
        assert (3, logging.ERROR, "BTC 3") == actual


class TestGathering:
    """
    When a lane's next message should leave.
    """

    @pytest.mark.parametrize(
        ("levels", "now", "flushing", "expected"),
        [
            pytest.param([], 0.0, False, None, id="empty"),
            pytest.param([], 0.0, True, None, id="empty-flushing"),
            pytest.param([logging.INFO], 0.0, False, GATHER, id="gathers"),
            pytest.param(
                [logging.ERROR], 0.4, False, GATHER, id="still-gathering"
            ),
            pytest.param([logging.INFO], 5.0, False, 5.0, id="overdue"),
            pytest.param(
                [logging.INFO], 0.0, True, 0.0, id="flushing-sends-now"
            ),
            pytest.param(
                [logging.CRITICAL], 0.0, False, 0.0, id="critical-at-once"
            ),
            pytest.param(
                [logging.INFO, logging.CRITICAL],
                0.0,
                False,
                0.0,
                id="critical-behind-ordinary",
            ),
            pytest.param(
                [logging.INFO] * 9, 0.0, False, GATHER, id="nine-gather"
            ),
            pytest.param(
                [logging.INFO] * 10, 0.0, False, 0.0, id="ten-fill-a-message"
            ),
        ],
    )
    def test_due(
        self,
        levels: list[int],
        now: float,
        flushing: bool,
        expected: float | None,
    ) -> None:
        """Ordinary messages gather for the window; critical ones do not."""
        lane = _lane()
        for n, level in enumerate(levels):
            lane.add(_message(f"event {n}", level=level), 0.0)
        assert expected == lane.due(now, flushing=flushing)

    def test_critical_takes_earlier_ordinary_ones_with_it(self) -> None:
        """A critical message goes at once, first, the others behind it."""
        lane = _lane()
        lane.add(_message("first", level=logging.INFO), 0.0)
        lane.add(_message("urgent", level=logging.CRITICAL), 0.1)
        assert 0.1 == lane.due(0.1)
        assert [["urgent", "first"]] == _titles([lane.take(0.1)])

    def test_critical_duplicate_of_a_waiting_message_is_due(self) -> None:
        """An ordinary message merged with a critical one leaves at once."""
        lane = _lane()
        lane.add(_message(level=logging.ERROR, footer="f"), 0.0)
        lane.add(_message(level=logging.CRITICAL, footer="f"), 0.2)
        assert 0.2 == lane.due(0.2)


class TestBatches:
    """
    What one message carries: up to 10 embeds, 6,000 characters, one ping.
    """

    @pytest.mark.parametrize(
        ("count", "expected"),
        [
            pytest.param(1, [1], id="one"),
            pytest.param(10, [10], id="ten"),
            pytest.param(11, [10, 1], id="eleven"),
            pytest.param(25, [10, 10, 5], id="twenty-five"),
        ],
    )
    def test_at_most_ten_embeds(self, count: int, expected: list[int]) -> None:
        """A message carries at most 10 embeds."""
        lane = _lane()
        for n in range(count):
            lane.add(_message(f"event {n}"), 0.0)
        assert expected == [len(b) for b in _drain(lane, 0.0)]

    @pytest.mark.parametrize(
        ("sizes", "expected"),
        [
            pytest.param([2000, 2000, 1000], [3], id="fits"),
            pytest.param([2000, 2000, 2000], [3], id="exactly-6000"),
            pytest.param([2000, 2000, 2001], [2, 1], id="one-over"),
            pytest.param([2500, 2500, 2500], [2, 1], id="third-overflows"),
            pytest.param([100, 4096, 1900], [2, 1], id="big-second"),
            pytest.param([4096, 4000, 100], [1, 2], id="small-after-big"),
            pytest.param([4096, 4096, 4096], [1, 1, 1], id="one-each"),
        ],
    )
    def test_within_6000_characters(
        self, sizes: list[int], expected: list[int]
    ) -> None:
        """The embeds of one message share 6,000 characters."""
        lane = _lane()
        for n, size in enumerate(sizes):
            title = f"event {n}"
            description = "d" * (size - len(title) - len(FOOTER))
            lane.add(_message(title, description=description), 0.0)
        batches = _drain(lane, 0.0)
        totals = [sum(embed_length(p.embed()) for p in b) for b in batches]
        assert expected == [len(b) for b in batches]
        assert [] == [total for total in totals if total > 6000]

    @pytest.mark.parametrize(
        ("mentions", "expected"),
        [
            pytest.param(
                [None, None, ROLE, ROLE, None],
                [["0", "1"], ["2", "3"], ["4"]],
                id="ping-splits",
            ),
            pytest.param(
                [ROLE, OTHER_ROLE, ROLE],
                [["0"], ["1"], ["2"]],
                id="other-role",
            ),
            pytest.param(
                [EVERYONE, ROLE],
                [["0"], ["1"]],
                id="everyone-and-role",
            ),
            pytest.param(
                [EVERYONE, EVERYONE, EVERYONE],
                [["0", "1", "2"]],
                id="same-ping-together",
            ),
        ],
    )
    def test_one_ping_per_message(
        self, mentions: list[Mention | None], expected: list[list[str]]
    ) -> None:
        """Messages with different pings never share a message, in order."""
        lane = _lane()
        for n, mention in enumerate(mentions):
            lane.add(_message(str(n), mention=mention), 0.0)
        assert expected == _titles(_drain(lane, 0.0))

    def test_order_is_preserved(self) -> None:
        """Messages leave in the order they came, across batches."""
        lane = _lane()
        titles = [f"event {n}" for n in range(23)]
        for n, title in enumerate(titles):
            mention = ROLE if n in (4, 5, 17) else None
            lane.add(_message(title, mention=mention), n / 10)
        actual = [t for batch in _titles(_drain(lane, 5.0)) for t in batch]
        assert titles == actual

    def test_batch_payload_carries_the_ping(self) -> None:
        """A batch's body carries its one ping and passes the oracle."""
        lane = _lane()
        for n in range(3):
            lane.add(_message(f"event {n}", mention=ROLE), 0.0)
        [batch] = _drain(lane, 0.0)
        payload = batch_payload(
            batch[0].message.payload, [p.embed() for p in batch]
        )
        assert [] == payload_errors(payload)
        expected = (ROLE.content, ROLE.allowed_mentions, 3)
        actual = (
            payload["content"],
            payload["allowed_mentions"],
            len(payload["embeds"]),
        )
        assert expected == actual

    def test_dropped_items_are_skipped(self) -> None:
        """An item evicted while waiting is never taken."""
        lane = _lane()
        items = [lane.add(_message(f"event {n}"), 0.0) for n in range(3)]
        assert items[1] is not None
        items[1].dropped = True
        assert [["event 0", "event 2"]] == _titles(_drain(lane, 0.0))

    def test_discarded_items_leave_the_lane(self) -> None:
        """
        Items pushed out of the middle are swept away, not kept alive.

        An overflow discards one item after another; the lane must not
        hold all of them until the items in front of them are sent.
        """
        lane = _lane()
        items = [lane.add(_message(f"event {n}"), 0.0) for n in range(1000)]
        for item in items[1:-1]:
            assert item is not None
            lane.discard(item)
        assert 2 == len(lane)
        assert lane._in_deques() <= 2 + 64 + 1  # the leak it prevents
        assert [["event 0", "event 999"]] == _titles(_drain(lane, 0.0))

    @pytest.mark.parametrize(
        ("size", "discards", "expected"),
        [
            pytest.param(100, 64, 100, id="64-of-100-kept"),
            pytest.param(100, 65, 35, id="65th-of-100-swept"),
            pytest.param(1000, 500, 1000, id="half-of-1000-kept"),
            pytest.param(1000, 501, 499, id="past-half-of-1000-swept"),
            pytest.param(200, 101 + 64, 99, id="second-sweep-not-yet"),
            pytest.param(200, 101 + 65, 34, id="second-sweep"),
        ],
    )
    def test_discarded_items_are_swept_in_bulk(
        self, size: int, discards: int, expected: int
    ) -> None:
        """
        Items discarded from the middle go once over max(64, half) have.

        Sweeping at every discard would cost a pass over the deque each
        time; never sweeping would keep them all alive.
        """
        lane = _lane()
        items = [lane.add(_message(f"event {n}"), 0.0) for n in range(size)]
        for item in items[1 : 1 + discards]:
            assert item is not None
            lane.discard(item)
        actual = (lane._in_deques(), len(lane))
        assert (expected, size - discards) == actual

    def test_discarded_held_summary_is_gone(self) -> None:
        """A held summary discarded is never sent; the rest still are."""
        lane = _lane()
        lane.add(_message(time=T0), 0.0)
        _drain(lane, 0.0)
        held = lane.add(_message(time=T0 + 1), 1.0)
        other = lane.add(_message("other"), 1.0)
        assert held is not None
        lane.discard(held)
        actual = (lane.items(), len(lane))
        lane.release(WINDOW)
        assert ([other], 1) == actual
        assert [["other"]] == _titles(_drain(lane, WINDOW))

    def test_discarded_duplicate_target_is_forgotten(self) -> None:
        """A copy arriving after its twin was discarded starts afresh."""
        lane = _lane()
        first = lane.add(_message("Order Failed"), 0.0)
        assert first is not None
        lane.discard(first)
        assert {} == lane._waiting  # nothing keeps it alive
        again = lane.add(_message("Order Failed"), 0.5)
        assert again is not None
        assert [[1]] == [[p.count for p in b] for b in _drain(lane, 1.0)]


class TestCoalescing:
    """
    Duplicates merge; a flood becomes a few messages.
    """

    def test_waiting_duplicates_merge(self) -> None:
        """Copies of a waiting message add to its count."""
        lane = _lane()
        added = [lane.add(_message(time=T0 + n), n / 10) for n in range(5)]
        [[item]] = _drain(lane, 1.0)
        actual = ([a is None for a in added], item.count)
        assert ([False, True, True, True, True], 5) == actual

    def test_coalesce_false_sends_every_event(self) -> None:
        """With ``coalesce: false`` every event is its own embed."""
        lane = _lane()
        off = Coalesce(enabled=False)
        for n in range(5):
            lane.add(_message(time=T0 + n, coalesce=off), 0.0)
        assert [[1, 1, 1, 1, 1]] == [
            [p.count for p in b] for b in _drain(lane, 1.0)
        ]

    def test_merged_stays_in_place(self) -> None:
        """A merged message keeps the place of its first copy."""
        lane = _lane()
        for title in ["a", "b", "a", "c", "b", "a"]:
            lane.add(_message(title), 0.0)
        [batch] = _drain(lane, 0.0)
        actual = [(p.embed()["title"], p.count) for p in batch]
        assert [("a", 3), ("b", 2), ("c", 1)] == actual

    def test_duplicates_on_other_channels_stay_apart(self) -> None:
        """The same embed for two channels of one webhook is two embeds."""
        lane = _lane()
        for channel in ["alerts", "trades", "alerts"]:
            lane.add(_message(channel=channel), 0.0)
        [batch] = _drain(lane, 0.0)
        assert [2, 1] == [p.count for p in batch]

    def test_duplicate_of_sent_message_is_held(self) -> None:
        """A copy of a message just sent waits for its window to close."""
        lane = _lane()
        lane.add(_message(time=T0), 0.0)
        _drain(lane, 0.0)
        held = lane.add(_message(time=T0 + 10), 10.0)
        merged = [lane.add(_message(time=T0 + t), t) for t in (20.0, 30.0)]
        actual = (
            held is not None,
            merged,
            lane.due(30.0, flushing=True),
            lane.next_release(),
            len(lane),
        )
        assert (True, [None, None], None, WINDOW, 1) == actual

    @pytest.mark.parametrize(
        ("now", "expected"),
        [
            pytest.param(59.9, [], id="window-open"),
            pytest.param(
                60.0,
                [[f"{FOOTER} · ×3 more · since 14:23:55 UTC"]],
                id="window-closed",
            ),
            pytest.param(
                500.0,
                [[f"{FOOTER} · ×3 more · since 14:23:55 UTC"]],
                id="long-after",
            ),
        ],
    )
    def test_held_summary_released_when_window_closes(
        self, now: float, expected: list[list[str]]
    ) -> None:
        """Held copies leave as one summary once the window has closed."""
        lane = _lane()
        lane.add(_message(time=T0), 0.0)
        _drain(lane, 0.0)
        for t in (10.0, 20.0, 30.0):
            lane.add(_message(time=T0 + t), t)
        lane.release(now)
        batches = _drain(lane, now)
        assert expected == [[_footer(p) for p in b] for b in batches]

    def test_release_everything_when_flushing(self) -> None:
        """Flushing releases held summaries before their window closes."""
        lane = _lane()
        lane.add(_message(time=T0), 0.0)
        _drain(lane, 0.0)
        lane.add(_message(time=T0 + 1), 1.0)
        lane.add(_message(time=T0 + 2), 2.0)
        lane.release(3.0, everything=True)
        batches = _drain(lane, 3.0)
        actual = ([[p.count for p in b] for b in batches], lane.next_release())
        assert ([[2]], None) == actual

    @pytest.mark.parametrize(
        ("route_window", "expected"),
        [
            pytest.param(None, WINDOW, id="delivery-default"),
            pytest.param(5.0, 5.0, id="route-window"),
            pytest.param(300.0, 300.0, id="longer-route-window"),
        ],
    )
    def test_route_sets_its_window(
        self, route_window: float | None, expected: float
    ) -> None:
        """``coalesce: {window: ...}`` sets how long copies are held."""
        spec = Coalesce(window=route_window)
        lane = _lane()
        lane.add(_message(coalesce=spec), 0.0)
        _drain(lane, 0.0)
        lane.add(_message(time=T0 + 1, coalesce=spec), 1.0)
        assert expected == lane.next_release()

    def test_copy_after_quiet_window_is_sent_normally(self) -> None:
        """A copy arriving after a quiet window is an ordinary message."""
        lane = _lane()
        lane.add(_message(time=T0), 0.0)
        _drain(lane, 0.0)
        lane.release(61.0)
        item = lane.add(_message(time=T0 + 61), 61.0)
        actual = (item is not None, lane.due(61.0), lane.next_release())
        assert (True, 61.0 + GATHER, None) == actual

    def test_summary_opens_a_new_window(self) -> None:
        """Copies after a summary are held for the next window."""
        lane = _lane()
        lane.add(_message(time=T0), 0.0)
        _drain(lane, 0.0)
        lane.add(_message(time=T0 + 1), 1.0)
        lane.release(60.0)
        _drain(lane, 60.0)
        lane.add(_message(time=T0 + 61), 61.0)
        assert 120.0 == lane.next_release()

    @pytest.mark.parametrize(
        "now",
        [
            pytest.param(WINDOW, id="as-it-closes"),
            pytest.param(WINDOW + 1, id="after"),
        ],
    )
    def test_copy_at_window_close_joins_the_summary(self, now: float) -> None:
        """A copy arriving as the window closes joins the held summary."""
        lane = _lane()
        lane.add(_message(time=T0), 0.0)
        _drain(lane, 0.0)
        lane.add(_message(time=T0 + 10), 10.0)
        # the window has closed, but release() has not run yet: the copy
        # releases the summary and joins it
        merged = lane.add(_message(time=T0 + now), now)
        actual = (merged, lane.due(now), lane.next_release())
        assert (None, now + GATHER, None) == actual
        batches = _drain(lane, now + 1)
        assert [[2]] == [[p.count for p in b] for b in batches]

    @pytest.mark.parametrize(
        "now",
        [
            pytest.param(WINDOW, id="as-it-closes"),
            pytest.param(WINDOW + 1, id="after"),
            pytest.param(500.0, id="long-after"),
        ],
    )
    def test_late_copy_with_nothing_held_is_sent_normally(
        self, now: float
    ) -> None:
        """
        A copy after a quiet window is ordinary, even before release().

        The window closed with nothing held and nobody released it: the
        copy starts a new message, due after the gathering window, and
        the next copy merges into it.
        """
        lane = _lane()
        lane.add(_message(time=T0), 0.0)
        _drain(lane, 0.0)
        item = lane.add(_message(time=T0 + now), now)
        again = lane.add(_message(time=T0 + now + 0.5), now + 0.5)
        actual = (
            item is not None,
            again,
            lane.due(now),
            lane.next_release(),
            len(lane),
        )
        assert (True, None, now + GATHER, None, 1) == actual
        [[sent]] = _drain(lane, now + 1)
        assert (2, f"{FOOTER} · ×2") == (sent.count, _footer(sent))

    def test_open_window_with_nothing_held_is_empty(self) -> None:
        """A window open after a send, with no copy yet, holds nothing."""
        lane = _lane()
        lane.add(_message(), 0.0)
        _drain(lane, 0.0)
        actual = (len(lane), lane.items(), lane.next_release())
        assert (0, [], None) == actual

    def test_taken_items_are_marked(self) -> None:
        """What is taken for sending says so: it is no longer evictable."""
        lane = _lane()
        items = [lane.add(_message(f"event {n}"), 0.0) for n in range(3)]
        before = [p.taken for p in items if p is not None]
        batch = lane.take(0.0)
        assert ([False] * 3, [True] * 3) == (before, [p.taken for p in batch])

    def test_flood_is_a_few_messages(self) -> None:
        """Ten events a second for five minutes become six messages."""
        lane = _lane()
        sent: list[list[Pending]] = []
        for tick in range(3000):
            now = tick / 10
            lane.release(now)
            lane.add(_message(time=T0 + now), now)
            due = lane.due(now)
            if due is not None and due <= now:
                sent.append(lane.take(now))
        lane.release(300.0, everything=True)
        sent += _drain(lane, 300.0)
        actual = (
            [len(b) for b in sent],
            sum(p.count for b in sent for p in b),
        )
        assert ([1] * 6, 3000) == actual

    def test_drop_all_returns_queued_and_held(self) -> None:
        """Emptying a lane hands back what waited and what was held."""
        lane = _lane()
        lane.add(_message("sent"), 0.0)
        _drain(lane, 0.0)
        held = lane.add(_message("sent", time=T0 + 1), 1.0)
        queued = lane.add(_message("other"), 1.0)
        before = len(lane)
        actual = (before, lane.drop_all(), len(lane), lane.next_release())
        assert (2, [queued, held], 0, None) == actual


INFO, WARNING = logging.INFO, logging.WARNING
ERROR, CRITICAL = logging.ERROR, logging.CRITICAL
DEBUG = logging.DEBUG


def _add(lane: Lane, adds: list[tuple[Any, ...]], now: float = 0.0) -> None:
    """
    Add ``(title, level)`` or ``(title, level, mention)`` messages.

    Messages of one title are copies of each other, whatever their level
    (the level is not in the embed), so a copy of a higher level raises
    the level of the one waiting.
    """
    for title, level, *mention in adds:
        ping = mention[0] if mention else None
        lane.add(_message(title, level=level, mention=ping), now)


def _flat(batches: list[list[str]]) -> list[str]:
    """The titles of all batches, in the order they are sent."""
    return [title for batch in batches for title in batch]


class TestLevels:
    """
    Higher levels go first; within a level, in the order they came.
    """

    @pytest.mark.parametrize(
        ("adds", "expected"),
        [
            pytest.param(
                [
                    ("a", INFO),
                    ("b", WARNING),
                    ("c", INFO),
                    ("d", ERROR),
                    ("e", WARNING),
                ],
                [["d", "b", "e", "a", "c"]],
                id="high-to-low-in-order-within",
            ),
            pytest.param(
                [(f"i{n}", INFO) for n in range(6)]
                + [(f"w{n}", WARNING) for n in range(6)],
                [
                    [*(f"w{n}" for n in range(6)), "i0", "i1", "i2", "i3"],
                    ["i4", "i5"],
                ],
                id="lower-levels-fill-the-message",
            ),
            pytest.param(
                [("a", INFO), ("b", CRITICAL)],
                [["b", "a"]],
                id="critical-first",
            ),
            pytest.param(
                [("a", INFO), ("b", INFO), ("c", WARNING), ("b", WARNING)],
                [["c", "b", "a"]],
                id="merge-raises-a-level-behind-that-level",
            ),
            pytest.param(
                [("c", INFO), ("a", WARNING), ("b", WARNING), ("a", INFO)],
                [["a", "b", "c"]],
                id="merge-of-a-lower-copy-stays-in-place",
            ),
            pytest.param(
                [("a", INFO), ("b", WARNING, ROLE), ("c", WARNING)],
                [["b"], ["c", "a"]],
                id="one-ping-per-message-across-levels",
            ),
        ],
    )
    def test_order(
        self, adds: list[tuple[Any, ...]], expected: list[list[str]]
    ) -> None:
        lane = _lane()
        _add(lane, adds)
        in_order = [p.embed()["title"] for p in lane.in_order()]
        batches = _titles(_drain(lane, 0.0))
        assert (expected, _flat(expected)) == (batches, in_order)

    def test_a_raised_item_keeps_its_count_and_is_due_at_once(self) -> None:
        """A critical copy of a waiting info sends it first, and now."""
        lane = _lane()
        _add(lane, [("b", WARNING), ("a", INFO)], now=0.0)
        _add(lane, [("a", CRITICAL)], now=0.5)
        actual = (
            lane.due(0.5),
            [(p.embed()["title"], p.count) for p in lane.take(0.5)],
        )
        assert (0.5, [("a", 2), ("b", 1)]) == actual

    def test_gathers_from_the_one_waiting_longest(self) -> None:
        """A warning queued later is sent first, when the info is due."""
        lane = _lane()
        _add(lane, [("info", INFO)], now=0.0)
        _add(lane, [("warning", WARNING)], now=0.5)
        actual = (lane.due(0.5), _titles([lane.take(GATHER)]))
        assert (GATHER, [["warning", "info"]]) == actual

    def test_a_held_repeat_goes_to_its_level(self) -> None:
        """
        Released, a held summary goes behind its level, ahead of lower.

        A warning copy held with an info one makes the summary a warning.
        """
        lane = _lane()
        lane.add(_message("x", level=INFO, time=T0), 0.0)
        _drain(lane, 0.0)
        lane.add(_message("x", level=INFO, time=T0 + 1), 1.0)
        lane.add(_message("x", level=WARNING, time=T0 + 2), 2.0)
        _add(lane, [("i", INFO), ("w", WARNING)], now=3.0)
        before = [p.embed()["title"] for p in lane.in_order()]
        lane.release(WINDOW)
        after = [p.embed()["title"] for p in lane.in_order()]
        [batch] = _drain(lane, WINDOW)
        actual = (before, after, [_footer(p) for p in batch][1])
        expected = (
            ["w", "i"],  # held repeats are not queued yet
            ["w", "x", "i"],
            f"{FOOTER} · ×2 more · since 14:23:46 UTC",
        )
        assert expected == actual

    @pytest.mark.parametrize(
        ("discard", "expected"),
        [
            pytest.param(["b", "e"], ["d", "f", "a", "c"], id="middles"),
            pytest.param(["a", "f"], ["d", "e", "b", "c"], id="ends"),
            pytest.param(
                ["d", "e"], ["f", "a", "b", "c"], id="most-of-a-level"
            ),
        ],
    )
    def test_discard(self, discard: list[str], expected: list[str]) -> None:
        """Discarding leaves the rest in order, whichever level it is."""
        lane = _lane()
        items = {}
        for title, level in [
            ("a", INFO),
            ("b", INFO),
            ("c", INFO),
            ("d", WARNING),
            ("e", WARNING),
            ("f", WARNING),
        ]:
            items[title] = lane.add(_message(title, level=level), 0.0)
        for title in discard:
            item = items[title]
            assert item is not None
            lane.discard(item)
        actual = ([p.embed()["title"] for p in lane.items()], len(lane))
        assert (expected, len(expected)) == actual

    @pytest.mark.parametrize(
        ("adds", "expected"),
        [
            pytest.param(
                [
                    ("a", INFO),
                    ("b", WARNING),
                    ("c", INFO),
                    ("d", CRITICAL),
                ],
                ["a", "b", "c", "d"],
                id="mixed",
            ),
            pytest.param(
                [("a", INFO), ("b", INFO), ("c", WARNING), ("b", WARNING)],
                ["a", "b", "c"],
                id="merge-raises-a-level-in-place",
            ),
        ],
    )
    def test_one_queue_for_all_levels(
        self, adds: list[tuple[Any, ...]], expected: list[str]
    ) -> None:
        """Without ``by_level`` (the console) they leave as they came."""
        lane = Lane(gather=GATHER, window=WINDOW, by_level=False)
        _add(lane, adds)
        summary = Pending(_message("s", level=INFO), None, INFO, T0, T0, 0.0)
        lane.push_front(summary)
        first = lane.in_order()[1]
        lane.remove([first])
        actual = _flat(_titles(_drain(lane, 0.0)))
        assert ["s", *expected[1:]] == actual


class TestFolding:
    """
    What folding needs: the queue in order, taking items out, and
    putting a summary at the front of its level.
    """

    def _lane(self) -> tuple[Lane, dict[str, Pending]]:
        lane = _lane()
        items = {}
        for title, level in [
            ("a", INFO),
            ("b", WARNING),
            ("c", INFO),
            ("d", INFO),
        ]:
            item = lane.add(_message(title, level=level), 0.0)
            assert item is not None
            items[title] = item
        return lane, items

    def test_remove(self) -> None:
        """Removed items leave the queue, marked taken, not dropped."""
        lane, items = self._lane()
        gone = [items["a"], items["c"]]
        lane.remove(gone)
        actual = (
            [p.embed()["title"] for p in lane.in_order()],
            len(lane),
            [(p.taken, p.dropped) for p in gone],
        )
        assert (["b", "d"], 2, [(True, False)] * 2) == actual

    def test_a_copy_of_a_removed_item_starts_anew(self) -> None:
        """A removed item is no longer a merge target."""
        lane, items = self._lane()
        lane.remove([items["a"]])
        again = lane.add(_message("a", level=INFO), 0.5)
        actual = (again is not None, items["a"].count)
        assert (True, 1) == actual
        assert [["b", "c", "d", "a"]] == _titles(_drain(lane, 1.0))

    @pytest.mark.parametrize(
        "which", ["held", "taken", "dropped", "other-lane"]
    )
    def test_remove_only_what_is_queued(self, which: str) -> None:
        """Anything else is refused, and nothing is removed."""
        lane = _lane()
        lane.add(_message("sent", level=ERROR), 0.0)
        [taken] = lane.take(0.0)
        held = lane.add(_message("sent", level=ERROR), 0.5)
        queued = lane.add(_message("a", level=INFO), 0.5)
        dropped = lane.add(_message("e", level=INFO), 0.5)
        assert dropped is not None
        lane.discard(dropped)
        strangers = {
            "held": held,
            "taken": taken,
            "dropped": dropped,
            "other-lane": _lane().add(_message("a", level=INFO), 0.5),
        }
        stranger = strangers[which]
        assert queued is not None
        assert stranger is not None
        with pytest.raises(ValueError, match="not queued"):
            lane.remove([queued, stranger])
        actual = (lane.in_order(), queued.taken, len(lane))
        assert ([queued], False, 2) == actual

    @pytest.mark.parametrize(
        ("level", "expected"),
        [
            pytest.param(INFO, ["b", "s", "a", "c", "d"], id="info"),
            pytest.param(WARNING, ["s", "b", "a", "c", "d"], id="warning"),
            pytest.param(ERROR, ["s", "b", "a", "c", "d"], id="new-level"),
            pytest.param(DEBUG, ["b", "a", "c", "d", "s"], id="lowest"),
        ],
    )
    def test_push_front(self, level: int, expected: list[str]) -> None:
        """A summary goes first among its level."""
        lane, _ = self._lane()
        summary = Pending(_message("s", level=level), None, level, T0, T0, 0.0)
        lane.push_front(summary)
        actual = (
            [p.embed()["title"] for p in lane.in_order()],
            len(lane),
            _flat(_titles(_drain(lane, 0.0))),
        )
        assert (expected, 5, expected) == actual


# -- property: any sequence of adds --------------------------------------

MENTIONS = [None, ROLE, OTHER_ROLE, EVERYONE]
COALESCES = [
    Coalesce(),
    Coalesce(enabled=False),
    Coalesce(by=("symbol",)),
]
LEVELS = [logging.INFO, logging.WARNING, logging.ERROR, logging.CRITICAL]


@st.composite
def _embeds(draw: st.DrawFn) -> dict[str, Any]:
    """
    A rendered-looking embed, small or as large as Discord allows.
    """
    size = st.sampled_from([0, 1, 40, 1024, 2048, 4096])
    embed: dict[str, Any] = {
        "title": "t" * draw(st.integers(1, 256)),
        "color": 0x3498DB,
    }
    description = draw(size)
    if description:
        embed["description"] = "d" * description
    fields = draw(st.integers(0, 6))
    if fields:
        embed["fields"] = [
            {
                "name": f"field {n}",
                "value": "v" * max(draw(size), 1),
                "inline": False,
            }
            for n in range(fields)
        ]
    footer = draw(size)
    if footer:
        embed["footer"] = {"text": "f" * footer}
    return clamp_embed(embed)


_ADDS = st.lists(
    st.tuples(
        st.integers(0, 3),  # which embed
        st.integers(0, len(MENTIONS) - 1),
        st.integers(0, len(COALESCES) - 1),
        st.sampled_from(LEVELS),
        st.sampled_from(["BTC", "ETH"]),
        st.floats(0, 600, allow_nan=False),
    ),
    max_size=40,
)


FULL_EMBED = clamp_embed(
    {
        "title": "full",
        "description": "d" * 4096,
        "fields": [{"name": "n", "value": "v" * 1024, "inline": False}] * 2,
        "footer": {"text": "floor_boss · ERROR"},
    }
)
SMALL_EMBED = {"title": "small"}


@settings(
    max_examples=200,
    deadline=None,
    database=None,
    # no explain phase: on a failure it re-runs big examples for seconds
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@example(  # a full embed merged: the count must not push it past 6,000
    embeds=[FULL_EMBED, SMALL_EMBED, SMALL_EMBED, SMALL_EMBED],
    adds=[(0, 0, 0, logging.INFO, "BTC", 0.0)] * 2,
)
@given(embeds=st.lists(_embeds(), min_size=4, max_size=4), adds=_ADDS)
@pytest.mark.slow
def test_any_adds_make_valid_ordered_batches(
    embeds: list[dict[str, Any]], adds: list[tuple[Any, ...]]
) -> None:
    """
    Any adds leave as valid batches: each item once, in order.

    The order: levels high to low; within a level, in the order each
    item came to it (new, or a merge that raised it there).
    """
    lane = _lane()
    added: list[Pending] = []
    came: dict[int, int] = {}  # id of an item → when it came to its level
    for step, (which, mention, how, level, symbol, offset) in enumerate(adds):
        embed = copy.deepcopy(embeds[which])
        embed["timestamp"] = _stamp(T0 + offset)
        ping = MENTIONS[mention]
        payload: dict[str, Any] = {"allowed_mentions": {"parse": []}}
        if ping is not None:
            payload = {
                "content": ping.content,
                "allowed_mentions": ping.allowed_mentions,
            }
        payload["embeds"] = [embed]
        message = RoutedMessage(
            # a route has one ping and one coalescing setting
            channel="alerts",
            route=f"route-{mention}-{how}",
            payload=payload,
            embed=embed,
            event=LogEvent(
                event="e",
                level=level,
                time=T0 + offset,
                fields={"symbol": symbol},
            ),
            coalesce=COALESCES[how],
        )
        before = {id(p): p.level for p in added}
        item, new = lane.add_item(message, 0.0)
        if new:
            added.append(item)
        if before.get(id(item)) != item.level:
            came[id(item)] = step
    batches: list[list[Pending]] = []
    for _ in range(len(adds) + 1):
        if lane.due(0.0, flushing=True) is None:
            break
        batches.append(lane.take(0.0))
    taken = [p for batch in batches for p in batch]
    added.sort(key=lambda p: (-p.level, came[id(p)]))
    assert [id(p) for p in added] == [id(p) for p in taken]
    assert len(adds) == sum(p.count for p in taken)
    for batch in batches:
        embeds_out = [copy.deepcopy(p.embed()) for p in batch]
        total = sum(embed_length(e) for e in embeds_out)
        assert 1 <= len(batch) <= 10
        assert 1 == len({p.header for p in batch})
        payload = batch_payload(batch[0].message.payload, embeds_out)
        assert [] == payload_errors(payload)
        assert total <= 6000


def _placed(
    title: str,
    *,
    board: str | None = None,
    username: str | None = None,
    avatar_url: str | None = None,
    files: int = 0,
    time: float = T0,
) -> RoutedMessage:
    """
    A message with a board, an identity or files, as routes make them.
    """
    message = _message(title, time=time)
    payload = dict(message.payload)
    if username is not None:
        payload["username"] = username
    if avatar_url is not None:
        payload["avatar_url"] = avatar_url
    return dataclasses.replace(
        message,
        payload=payload,
        place=None if board is None else Place(board=board),
        files=tuple(
            Attachment(f"{title}-{n}.txt", "Traceback ...")
            for n in range(files)
        ),
    )


class TestBoardsIdentitiesAndFiles:
    def test_a_board_s_messages_replace_one_another(self) -> None:
        lane = _lane()
        for n, state in enumerate(["starting", "ok", "degraded"]):
            lane.add(_placed(state, board="db", time=T0 + n), T0 + n)

        [[item]] = _drain(lane, T0 + 5.0)

        assert "degraded" == item.embed()["title"]
        assert FOOTER == item.embed()["footer"]["text"]  # no ×3
        assert item.embed() is item.message.embed
        assert 3 == item.count

    def test_boards_of_other_keys_are_other_messages(self) -> None:
        lane = _lane()
        lane.add(_placed("db", board="db"), T0)
        lane.add(_placed("api", board="api"), T0)

        assert [["db"], ["api"]] == _titles(_drain(lane, T0))

    @pytest.mark.parametrize(
        ("messages", "expected"),
        [
            (
                [("a", None), ("db", "db"), ("b", None)],
                [["a"], ["db"], ["b"]],
            ),
            ([("db", "db"), ("a", None), ("b", None)], [["db"], ["a", "b"]]),
            ([("a", None), ("b", None), ("db", "db")], [["a", "b"], ["db"]]),
        ],
    )
    def test_a_board_goes_alone(
        self,
        messages: list[tuple[str, str | None]],
        expected: list[list[str]],
    ) -> None:
        lane = _lane()
        for title, board in messages:
            lane.add(_placed(title, board=board), T0)

        assert expected == _titles(_drain(lane, T0))

    def test_a_board_s_next_state_is_not_held(self) -> None:
        """It is queued for the next edit, not held for a window."""
        lane = _lane()
        lane.add(_placed("ok", board="db"), T0)
        lane.take(T0)

        item = lane.add(_placed("degraded", board="db"), T0 + 1.0)

        assert item is not None
        assert not item.repeat
        assert [item] == lane.in_order()
        assert T0 + 1.0 + GATHER == lane.due(T0 + 1.0)
        assert lane.next_release() is None
        assert "degraded" == item.embed()["title"]

    def test_an_ordinary_copy_is_held_after_its_first(self) -> None:
        """The other side of the above: what a board does not do."""
        lane = _lane()
        lane.add(_placed("ok"), T0)
        lane.take(T0)

        item = lane.add(_placed("ok"), T0 + 1.0)

        assert item is not None
        assert item.repeat
        assert [] == lane.in_order()

    @pytest.mark.parametrize(
        ("first", "second", "together"),
        [
            ({}, {}, True),
            ({"username": "Risk"}, {"username": "Risk"}, True),
            ({"username": "Risk"}, {}, False),
            ({"username": "Risk"}, {"username": "Trades"}, False),
            (
                {"avatar_url": "https://example.com/a.png"},
                {"avatar_url": "https://example.com/b.png"},
                False,
            ),
            (
                {
                    "username": "Risk",
                    "avatar_url": "https://example.com/a.png",
                },
                {"username": "Risk"},
                False,
            ),
        ],
    )
    def test_identities_never_share_a_batch(
        self,
        first: dict[str, str],
        second: dict[str, str],
        together: bool,
    ) -> None:
        a, b = _placed("a", **first), _placed("b", **second)
        lane = _lane()
        lane.add(a, T0)
        lane.add(b, T0)

        batches = _titles(_drain(lane, T0))

        assert together == (batches == [["a", "b"]])
        assert together == (
            Pending(a, None, 0, T0, T0, T0).header
            == Pending(b, None, 0, T0, T0, T0).header
        )

    @pytest.mark.parametrize(
        ("files", "expected"),
        [
            ([4, 4, 4], [["0", "1"], ["2"]]),
            ([10, 0, 1], [["0", "1"], ["2"]]),
            ([5, 5, 1], [["0", "1"], ["2"]]),
            ([3, 3, 3, 1], [["0", "1", "2", "3"]]),
            ([0] * 3, [["0", "1", "2"]]),
        ],
    )
    def test_ten_files_a_message(
        self, files: list[int], expected: list[list[str]]
    ) -> None:
        lane = _lane()
        for n, count in enumerate(files):
            lane.add(_placed(str(n), files=count), T0)

        batches = _drain(lane, T0)

        assert expected == _titles(batches)
        for batch in batches:
            assert sum(len(p.message.files) for p in batch) <= 10
