"""
What the engine keeps in the spool, and how late messages say so.
"""

from __future__ import annotations

import logging

from polybot_loghandler._events import LogEvent
from polybot_loghandler._message import RoutedMessage
from polybot_loghandler._model import Channel, Coalesce
from polybot_loghandler._render import build_payload
from polybot_loghandler._spool import SpoolEntry
from polybot_loghandler._spooling import (
    DELAY_NOTE_AFTER,
    decode,
    encode,
    with_delay,
)
from tests.support.discord_schema import assert_valid_payload

LOGGED = 1_790_000_000.0


def _message(**fields: object) -> RoutedMessage:
    embed = {"title": "Trade", "footer": {"text": "trader · INFO"}}
    return RoutedMessage(
        channel="trades",
        route="trades",
        payload=build_payload([embed], None),
        embed=embed,
        event=LogEvent(
            event="trade_executed",
            level=logging.WARNING,
            logger="trader",
            time=LOGGED,
            fields=fields,
        ),
        target=Channel(key="trades", name="trades", destination=None),
        coalesce=Coalesce(by=("component",), window=300.0),
    )


class TestWithDelay:
    def test_on_time_is_unchanged(self) -> None:
        embed = {"title": "x"}

        assert embed is with_delay(embed, LOGGED, LOGGED + 5)

    def test_late_says_so_and_keeps_its_time(self) -> None:
        embed = {"title": "x", "footer": {"text": "trader · INFO"}}

        late = with_delay(embed, LOGGED, LOGGED + 12 * 60)

        assert "trader · INFO · delayed 12m" == late["footer"]["text"]
        assert "2026-09-21T14:13:20+00:00" == late["timestamp"]
        assert "footer" in embed
        assert "trader · INFO" == embed["footer"]["text"], "not mutated"
        assert_valid_payload(build_payload([late], None))

    def test_a_chosen_timestamp_stays(self) -> None:
        embed = {"title": "x", "timestamp": "2026-01-01T00:00:00+00:00"}

        late = with_delay(embed, LOGGED, LOGGED + DELAY_NOTE_AFTER)

        assert "2026-01-01T00:00:00+00:00" == late["timestamp"]
        assert "delayed 2m" == late["footer"]["text"]

    def test_a_full_embed_still_fits(self) -> None:
        embed = {
            "title": "t" * 256,
            "description": "d" * 4096,
            "fields": [{"name": "n" * 256, "value": "v" * 1024}] * 2,
            "footer": {"text": "f" * 2048},
        }

        late = with_delay(embed, LOGGED, LOGGED + 3600)

        assert_valid_payload(build_payload([late], None))
        assert late["footer"]["text"].endswith("…")


class TestRoundTrip:
    def test_what_is_kept_sends_the_same_message(self) -> None:
        message = _message(component="risk", secret_note="x")
        entry = SpoolEntry(
            ref=("a.spool", 1),
            channel="trades",
            level=logging.WARNING,
            time=LOGGED,
            size=100,
        )
        target = Channel(key="trades", name="trades", destination=None)

        again = decode(encode(message), entry, target)

        assert message.payload == again.payload
        assert message.embed == again.embed
        assert message.coalesce == again.coalesce
        assert (message.route, message.channel) == (
            again.route,
            again.channel,
        )
        assert LOGGED == again.event.time
        assert logging.WARNING == again.event.level

    def test_only_the_coalescing_fields_are_kept(self) -> None:
        """The event's other fields are in the embed, as rendered."""
        body = encode(_message(component="risk", api_key="hunter2"))

        assert {"component": "'risk'"} == body["by"]
        assert "hunter2" not in str(body)
