"""
The console sink's boxes: their header, and when they are coloured.
"""

from __future__ import annotations

import io
import logging

import pytest

from polybot_loghandler._console import _WIDTH, ConsoleSink, format_message
from polybot_loghandler._events import LogEvent
from polybot_loghandler._message import RoutedMessage
from polybot_loghandler._model import Channel
from polybot_loghandler._render import build_payload

EMBED = {"title": "Trade", "color": 0x2ECC71, "footer": {"text": "trader"}}


def _message(
    event: str = "trade_executed",
    text: str = "",
    channel: str = "trades-paper",
    route: str = "trades",
) -> RoutedMessage:
    return RoutedMessage(
        channel="trades_paper",
        route=route,
        payload=build_payload([EMBED], None),
        embed=EMBED,
        event=LogEvent(
            event=event,
            level=logging.INFO,
            logger="trader",
            time=1_790_000_000.0,
            message=text,
        ),
        target=Channel(key="trades_paper", name=channel, destination=None),
    )


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("message", "shown"),
    [
        pytest.param(
            _message(),
            "#trades-paper · trade_executed · route trades",
            id="structured",
        ),
        pytest.param(
            _message("Watching %d agents", "Watching 5 agents"),
            "#trades-paper · Watching 5 agents · route trades",
            id="format-string",
        ),
        pytest.param(
            _message("50% filled", ""),
            "#trades-paper · 50% filled · route trades",
            id="percent-without-message",
        ),
        pytest.param(
            _message(channel="c" * 100),
            "#" + "c" * (_WIDTH - 6) + "…",
            id="too-long",
        ),
    ],
)
def test_the_header_fits_its_frame(message: RoutedMessage, shown: str) -> None:
    head = format_message(message).splitlines()[0]

    assert head.startswith("┌─ " + shown + " ")
    assert _WIDTH == len(head)
    assert "%d" not in head


@pytest.mark.parametrize(
    ("stream", "no_color", "colored"),
    [
        pytest.param(_Terminal(), None, True, id="terminal"),
        pytest.param(_Terminal(), "1", False, id="terminal-NO_COLOR"),
        pytest.param(_Terminal(), "", True, id="terminal-empty-NO_COLOR"),
        pytest.param(io.StringIO(), None, False, id="pipe"),
    ],
)
def test_colour_only_on_a_terminal_without_no_color(
    stream: io.StringIO,
    no_color: str | None,
    colored: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if no_color is None:
        monkeypatch.delenv("NO_COLOR", raising=False)
    else:
        monkeypatch.setenv("NO_COLOR", no_color)
    monkeypatch.setattr("sys.stderr", stream)

    assert 1 == ConsoleSink().deliver([_message()])

    assert colored == ("\033[" in stream.getvalue())
    assert "Trade" in stream.getvalue()
