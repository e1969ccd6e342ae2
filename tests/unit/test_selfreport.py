"""
The self-report: the counters as a summary embed, and alerts.
"""

from __future__ import annotations

from fakes.discord_schema import assert_valid_payload
from polybot_loghandler._payload import build_payload
from polybot_loghandler._selfreport import (
    alert_embed,
    drops,
    summary_embed,
)


def _fields(embed: dict[str, object]) -> dict[str, str]:
    fields = embed["fields"]
    assert isinstance(fields, list)
    return {f["name"]: f["value"] for f in fields}


class TestSummary:
    def test_nothing_happened_sends_nothing(self) -> None:
        stats = {"accepted": 5, "delivered": 5, "queued": 0}

        assert summary_embed(stats, stats, 3600) is None

    def test_counts_since_the_last_summary(self) -> None:
        before = {"accepted": 10, "delivered": 8, "sent.messages": 2}
        now = {
            "accepted": 40,
            "delivered": 30,
            "sent.messages": 5,
            "coalesced": 4,
            "retries": 3,
            "rate_limited": 1,
            "dropped.queue_full": 2,
            "queued": 1,
            "pending": 6,
            "spool.pending": 12,
        }

        embed = summary_embed(now, before, 3600)

        assert embed is not None
        assert "📊 Discord delivery: the last 1h" == embed["title"]
        assert {
            "Delivered": "22 events in 3 messages",
            "Coalesced": "4",
            "Retries · 429s": "3 · 1",
            "Dropped": "queue_full: 2",
            "Waiting": "7 in memory · 12 in the spool",
        } == _fields(embed)
        assert (
            "since start: 30 delivered, 2 dropped" == (embed["footer"]["text"])
        )
        assert_valid_payload(build_payload([embed], None))

    def test_folded_events_are_told_when_there_are_some(self) -> None:
        before = {"accepted": 10, "delivered": 10, "folded": 100}
        now = {"accepted": 3010, "delivered": 310, "folded": 2800}

        embed = summary_embed(now, before, 3600)
        quiet = summary_embed(before, {"accepted": 9, "folded": 100}, 3600)

        assert embed is not None
        assert quiet is not None
        assert "2,700" == _fields(embed)["Folded"]
        assert "Folded" not in _fields(quiet)

    def test_only_new_drops_count(self) -> None:
        before = {"accepted": 1, "dropped.webhook_gone": 5}
        now = {"accepted": 2, "dropped.webhook_gone": 5}

        embed = summary_embed(now, before, 60)

        assert embed is not None
        assert "none" == _fields(embed)["Dropped"]

    def test_disabled_destinations_are_listed_and_escaped(self) -> None:
        embed = summary_embed(
            {"accepted": 1},
            {},
            60,
            ["webhook …/12*3*/(redacted)"],
        )

        assert embed is not None
        assert (
            "webhook …/12\\*3\\*/(redacted)"
            == _fields(embed)["Disabled destinations"]
        )
        assert_valid_payload(build_payload([embed], None))


def test_drops_by_reason() -> None:
    stats = {"dropped.rejected": 2, "dropped.shutdown": 0, "delivered": 4}

    assert {"rejected": 2} == drops(stats)


def test_alert_is_a_valid_embed() -> None:
    embed = alert_embed("⛔ disabled", "it answered 404", severe=True)

    assert_valid_payload(build_payload([embed], None))
