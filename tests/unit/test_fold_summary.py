"""What a fold's summary says (``_delivery/summary.py``)."""

from __future__ import annotations

import dataclasses
import logging

import pytest

from fakes.discord_schema import assert_valid_payload
from polybot_loghandler._delivery.summary import Summary
from polybot_loghandler._events import LogEvent
from polybot_loghandler._model import Fold
from polybot_loghandler._payload import embed_length
from polybot_loghandler._watching.measures import parse_measure
from tests.support.delivery import T0, message, routing

TRADES = Fold(
    group_by="agent",
    measures=(
        ("trades", parse_measure("count")),
        ("volume", parse_measure("sum(amount)")),
    ),
)


def event(name: str = "trade_executed", t: float = T0, **fields) -> LogEvent:
    return LogEvent(
        event=name,
        level=logging.INFO,
        logger="trader",
        time=t,
        fields=fields,
        message=name,
    )


def test_without_fold_it_counts_by_event_name() -> None:
    summary = Summary("trades_executed", logging.INFO, None)
    for n in range(7):
        summary.add(event(t=T0 + n))
    for _ in range(3):
        summary.add(event("order_placed", t=T0 + 10))

    embed = summary.embed(30.0)

    assert "10 events folded" in embed["title"]
    assert "14:23:45–14:23:55 UTC" in embed["description"]
    names = [f["name"] for f in embed["fields"]]
    assert names == ["Trade Executed", "Order Placed", "Total"]
    assert "**7**" in embed["fields"][0]["value"]
    assert embed["footer"]["text"] == "folded: 10 · route trades_executed"
    assert embed["timestamp"] == "2024-01-30T14:23:55.000Z"


def test_with_fold_it_groups_and_measures() -> None:
    summary = Summary("trades", logging.INFO, TRADES)
    for n in range(6):
        summary.add(event(agent=f"a{n % 2}", amount=100.0 + n))

    fields = {f["name"]: f["value"] for f in summary.embed(30.0)["fields"]}

    assert fields["a0"] == "Trades: **3**\nVolume: **306**"
    assert fields["a1"] == "Trades: **3**\nVolume: **309**"
    assert fields["Total"] == "Trades: **6**\nVolume: **615**"


def test_a_coalesced_message_counts_every_copy() -> None:
    summary = Summary("trades", logging.INFO, None)

    summary.add(event(), count=5, first=T0 - 4, last=T0)

    assert 5 == summary.events
    assert (T0 - 4, T0) == (summary.first, summary.last)


def test_past_top_the_smallest_groups_share_a_line() -> None:
    fold = Fold(group_by="agent", top=3)
    summary = Summary("trades", logging.INFO, fold)
    for n in range(10):
        for _ in range(n + 1):
            summary.add(event(agent=f"agent-{n}"))

    names = [f["name"] for f in summary.embed(30.0)["fields"]]

    assert names == [
        "agent-9",
        "agent-8",
        "agent-7",
        "(others): 7 more",
        "Total",
    ]


@pytest.mark.parametrize(
    "hostile",
    ["@everyone", "<@&123456789012345678>", "**bold** `code`", "a" * 5000],
)
def test_values_never_ping_or_mark_up(hostile: str) -> None:
    config = routing()
    summary = Summary("trades", logging.INFO, Fold(group_by="agent"))
    for _ in range(3):
        summary.add(event(agent=hostile))

    made = summary.message(message(config), 30.0)

    assert made.payload["allowed_mentions"] == {"parse": []}
    assert "content" not in made.payload
    text = str(made.embed)
    assert "@everyone" not in text.replace("@\u200beveryone", "")
    assert "**bold**" not in text
    assert embed_length(made.embed) <= 6000
    assert_valid_payload(made.payload)
    assert made.folded == 3


def test_many_groups_stay_within_discord_limits() -> None:
    summary = Summary("trades", logging.INFO, Fold(group_by="agent", top=50))
    for n in range(500):
        summary.add(event(agent=f"agent-{n}-" + "x" * 200))

    embed = summary.embed(30.0)

    assert len(embed["fields"]) <= 25
    assert embed_length(embed) <= 6000
    assert "500 events folded" in embed["title"]


def test_its_message_is_made_to_be_sent_as_it_is() -> None:
    config = routing()
    like = message(config)
    summary = Summary("trades", logging.DEBUG, None)
    summary.add(event(t=T0 - 5))
    summary.add(event(t=T0))

    made = summary.message(like, 45.0)

    assert (made.channel, made.route, made.target) == (
        like.channel,
        "trades",
        like.target,
    )
    assert made.event.event == "folded"
    assert made.event.logger == "polybot_loghandler.folding"
    assert (made.event.time, made.event.level) == (T0, logging.DEBUG)
    assert made.event.fields == {}
    assert made.coalesce is not None
    assert not made.coalesce.enabled  # never merged with another
    assert made.fold is not None
    assert made.fold.never  # never folded itself
    assert made.folded == 2
    assert "more than 45s behind" in made.embed["description"]
    assert made.payload["embeds"] == [made.embed]


@pytest.mark.parametrize(
    ("groups", "top", "names"),
    [
        (1, 10, ["a0"]),  # one group: no total
        (2, 10, ["a1", "a0", "Total"]),
        (3, 3, ["a2", "a1", "a0", "Total"]),  # exactly top: no others
        (4, 3, ["a3", "a2", "a1", "(others): 1 more", "Total"]),
    ],
)
def test_groups_top_and_total(groups: int, top: int, names: list[str]):
    summary = Summary("trades", logging.INFO, Fold(group_by="agent", top=top))
    for n in range(groups):
        for _ in range(n + 1):
            summary.add(event(agent=f"a{n}"))

    assert names == [f["name"] for f in summary.embed(30.0)["fields"]]


def test_at_most_23_groups_then_others_and_total() -> None:
    summary = Summary("trades", logging.INFO, Fold(group_by="agent", top=50))
    for n in range(60):
        summary.add(event(agent=f"agent-{n:02}"))

    fields = summary.embed(30.0)["fields"]

    assert 25 == len(fields)
    assert ["(others): 37 more", "Total"] == [f["name"] for f in fields[-2:]]


@pytest.mark.parametrize(
    ("author", "named"),
    [
        (None, False),  # a channel of its own: no label
        ("#trades", True),  # labelled: it shares a webhook
        ("Floor Boss", False),  # the route's own author: not a label
    ],
)
def test_a_summary_names_its_channel_where_its_messages_did(
    author: str | None, named: bool
) -> None:
    """With one webhook for several channels, a summary says which."""
    config = routing()
    like = message(config)
    assert like.target is not None
    if author is not None:
        like = dataclasses.replace(
            like, embed={**like.embed, "author": {"name": author}}
        )
    summary = Summary("trades", logging.INFO, None)
    summary.add(event())

    made = summary.message(like, 45.0)

    shown = made.embed.get("author", {}).get("name")
    assert (f"#{like.target.name}" if named else None) == shown
