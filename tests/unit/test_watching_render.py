"""
How alerts, recoveries and digests look: their default embeds, the
pings only alerts make, values that can neither ping nor inject
markdown, and digests that do not fit one embed. Every payload is held
to Discord's limits and schema.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from fakes.discord_schema import assert_valid_payload
from polybot_loghandler._config import parse_config
from polybot_loghandler._diagnostics import Diagnostics
from polybot_loghandler._message import RoutedMessage
from polybot_loghandler._routing import RoutingHolder
from polybot_loghandler._stats import Stats
from polybot_loghandler._watching.render import period_label
from polybot_loghandler._watching.watching import (
    ALERT,
    DIGEST,
    RECOVERY,
    Output,
)

T0 = 1_800_000_000.0  # 2027-01-15 08:00:00 UTC

ROUTING = """\
version: 1
channels:
  alerts: ""
  perf: ""
routes: []
watches:
  - name: agent_heartbeat
    match: {event: heartbeat}
    key: "{{ agent }}"
    alert_after: 3m
    to: alerts
    mention: role:123456789012345678
digests:
  - name: hourly_agent_performance
    match: {event: trade_executed}
    every: 1h
    group_by: agent
    measures: {trades: count, pnl: sum(pnl)}
    to: perf
"""


def holder(text: str = ROUTING) -> tuple[RoutingHolder, Stats]:
    stats = Stats()
    config = parse_config(text, "routing.yaml", environ={})
    return RoutingHolder(config, None, stats, Diagnostics()), stats


def alert(key: str = "Momentum_BTC_v1", **last: Any) -> Output:
    return Output(
        ALERT,
        "agent_heartbeat",
        T0,
        {
            "watch": "agent_heartbeat",
            "key": key,
            "silent_for": 252.0,
            "alert_after": 180.0,
            "last_seen": T0 - 252,
            "last": last,
        },
    )


def digest(groups: list[dict[str, Any]], **more: Any) -> Output:
    values: dict[str, Any] = {
        "digest": "hourly_agent_performance",
        "period": {"start": T0 - 3600, "end": T0},
        "timezone": "UTC",
        "groups": groups,
        "total": {
            "trades": sum(g["trades"] for g in groups),
            "pnl": sum(g["pnl"] for g in groups),
        },
        "events": sum(g["trades"] for g in groups),
        "crowded": 0,
        "partial": False,
    }
    values.update(more)
    return Output(DIGEST, "hourly_agent_performance", T0 + 2, values)


def made(output: Output, text: str = ROUTING) -> list[RoutedMessage]:
    routing, _ = holder(text)
    messages = routing.made(output)
    for message in messages:
        assert_valid_payload(message.payload)
    return messages


class TestAlerts:
    def test_the_default_alert_names_the_key_and_pings_as_told(
        self,
    ) -> None:
        (message,) = made(alert(cpu=0.4))

        embed = message.embed
        assert "alerts" == message.channel
        assert "agent_heartbeat" == message.route
        assert "🚨 Momentum\\_BTC\\_v1 has gone silent" == embed["title"]
        assert "4m 12s" in embed["description"]
        assert "3m" in embed["description"]
        assert {
            "name": "Last seen",
            "value": "2027-01-15 07:55:48 UTC",
            "inline": False,
        } == embed["fields"][0]
        assert "cpu: 0.4" == embed["fields"][1]["value"]
        assert "<@&123456789012345678>" == message.payload["content"]
        assert {"parse": [], "roles": ["123456789012345678"]} == (
            message.payload["allowed_mentions"]
        )
        assert "watch_alert" == message.event.event
        assert logging.CRITICAL == message.event.level

    def test_a_key_never_heard_of_says_so(self) -> None:
        output = alert()
        output.values.update(last_seen=None, last={})

        (message,) = made(output)

        assert "never" in message.embed["fields"][0]["value"]
        assert 1 == len(message.embed["fields"])  # no last event to show

    def test_a_recovery_pings_no_one(self) -> None:
        output = Output(
            RECOVERY,
            "agent_heartbeat",
            T0,
            {
                "watch": "agent_heartbeat",
                "key": "A",
                "silent_for": 252.0,
                "alert_after": 180.0,
            },
        )

        (message,) = made(output)

        assert "✅ A is back" == message.embed["title"]
        assert "4m 12s" in message.embed["description"]
        assert "content" not in message.payload
        assert {"parse": []} == message.payload["allowed_mentions"]

    @pytest.mark.parametrize(
        "hostile",
        [
            "@everyone",
            "@here",
            "<@&123456789012345678>",
            "**bold** [link](https://evil.example)",
            "`code` ~~strike~~ ||spoiler||",
        ],
    )
    def test_values_from_events_neither_ping_nor_format(
        self, hostile: str
    ) -> None:
        (message,) = made(alert(hostile, note=hostile))

        text = json.dumps(message.embed, ensure_ascii=False)
        assert "@everyone" not in text
        assert "@here" not in text
        assert "<@&" not in text
        assert "**bold**" not in text
        assert "[link](" not in text
        assert "`code`" not in text
        # the only ping is the route's own
        assert "<@&123456789012345678>" == message.payload["content"]

    def test_a_user_embed_sees_the_alert_values(self) -> None:
        text = ROUTING.replace(
            "    to: alerts\n",
            "    to: alerts\n"
            "    embed:\n"
            "      title: '{{ watch }}: {{ key }}'\n"
            "      description: '{{ silent_for|duration }} since "
            "{{ last_seen|time }}; cpu {{ last.cpu }}'\n",
        )

        (message,) = made(alert("A", cpu=1), text)

        assert "agent\\_heartbeat: A" == message.embed["title"]
        assert "4m 12s since 07:55:48; cpu 1" == (message.embed["description"])

    def test_a_rule_gone_since_drops_its_output_counted(self) -> None:
        routing, stats = holder(ROUTING.split("watches:", maxsplit=1)[0])

        assert [] == routing.made(alert())
        assert 1 == stats.counters()["dropped.unrenderable"]


class TestDigests:
    def test_the_default_digest_has_a_field_per_group_and_a_total(
        self,
    ) -> None:
        (message,) = made(
            digest(
                [
                    {"key": "Momentum", "trades": 12, "pnl": 45.5},
                    {"key": "Arbitrage", "trades": 3, "pnl": -2},
                ]
            )
        )

        embed = message.embed
        assert "📊 Hourly Agent Performance" == embed["title"]
        assert "2027-01-15 07:00–08:00 UTC" == embed["description"]
        assert [
            ("Momentum", "Trades: **12**\nP&L: **45.50**"),
            ("Arbitrage", "Trades: **3**\nP&L: **-2**"),
            ("Total", "Trades: **15**\nP&L: **43.50**"),
        ] == [(f["name"], f["value"]) for f in embed["fields"]]
        assert "15 events" == embed["footer"]["text"]
        assert {"parse": []} == message.payload["allowed_mentions"]

    def test_a_partial_period_says_so(self) -> None:
        (message,) = made(
            digest([{"key": "A", "trades": 1, "pnl": 1}], partial=True)
        )

        assert message.embed["title"].endswith("(partial)")
        assert "had not ended" in message.embed["footer"]["text"]

    def test_many_groups_go_on_in_further_embeds(self) -> None:
        groups = [
            {"key": f"agent_{n:03d}" + "x" * 200, "trades": n, "pnl": n}
            for n in range(100)
        ]

        messages = made(digest(groups))

        shown = [f["name"] for m in messages for f in m.embed["fields"]]
        assert len(messages) > 1
        assert all(len(m.embed["fields"]) <= 25 for m in messages)
        assert 101 == len(shown)  # every group, and the total
        assert "(continued)" in messages[1].embed["title"]
        assert "footer" in messages[-1].embed
        assert "footer" not in messages[0].embed

    def test_top_shows_the_largest_groups_and_counts_the_rest(self) -> None:
        text = ROUTING.replace("    to: perf", "    to: perf\n    top: 2")
        groups = [
            {"key": k, "trades": n, "pnl": 0}
            for k, n in [("a", 1), ("b", 5), ("c", 3), ("d", 2)]
        ]

        (message,) = made(digest(groups), text)

        assert ["b", "c", "(others): 2 more", "Total"] == [
            f["name"] for f in message.embed["fields"]
        ]

    def test_group_keys_are_escaped(self) -> None:
        (message,) = made(
            digest([{"key": "@everyone **x**", "trades": 1, "pnl": 1}])
        )

        name = message.embed["fields"][0]["name"]
        assert "@everyone" not in name
        assert "**x**" not in name

    def test_a_user_embed_sees_groups_total_and_period(self) -> None:
        text = ROUTING.replace(
            "    to: perf\n",
            "    to: perf\n"
            "    embed:\n"
            "      title: '{{ period.label }}'\n"
            "      description: >-\n"
            "        {% for g in groups %}{{ g.key }}={{ g.trades }} "
            "{% endfor %}total={{ total.trades }}\n",
        )

        (message,) = made(
            digest(
                [
                    {"key": "A", "trades": 2, "pnl": 0},
                    {"key": "B", "trades": 1, "pnl": 0},
                ]
            ),
            text,
        )

        assert "2027-01-15 07:00–08:00 UTC" == message.embed["title"]
        assert "A=2 B=1 total=3" == message.embed["description"]


@pytest.mark.parametrize(
    ("start", "end", "zone", "label"),
    [
        pytest.param(T0, T0 + 3600, "UTC", "2027-01-15 08:00–09:00 UTC"),
        pytest.param(T0, T0 + 5, "UTC", "2027-01-15 08:00:00–08:00:05 UTC"),
        pytest.param(
            T0 - 8 * 3600,
            T0 + 16 * 3600,
            "UTC",
            "2027-01-15 (UTC)",
            id="day",
        ),
        pytest.param(
            T0 - 3 * 86400 - 8 * 3600,
            T0 + 4 * 86400 - 8 * 3600,
            "UTC",
            "week of 2027-01-12 (UTC)",
            id="week",
        ),
        pytest.param(
            T0, T0 + 3600, "Asia/Tokyo", "2027-01-15 17:00–18:00 Asia/Tokyo"
        ),
    ],
)
def test_period_labels(
    start: float, end: float, zone: str, label: str
) -> None:
    assert label == period_label(start, end, zone)
