"""
The console sink's boxes: their header, when they are coloured, and how
many of each channel it shows.
"""

from __future__ import annotations

import dataclasses
import io
import logging

import pytest

from polybot_loghandler._console import (
    _WIDTH,
    ConsoleSink,
    console_tapped,
    format_message,
)
from polybot_loghandler._events import LogEvent
from polybot_loghandler._message import Attachment, Place, RoutedMessage
from polybot_loghandler._model import Channel
from polybot_loghandler._payload import build_payload

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


def _headers(text: str) -> list[str]:
    return [
        line.split(" · ")[0].removeprefix("┌─ ")
        for line in text.splitlines()
        if line.startswith("┌─ ")
    ]


@pytest.mark.parametrize(
    ("limit", "channels", "shown", "hidden"),
    [
        pytest.param(None, "aaab", "aaab", {}, id="no-limit"),
        pytest.param(1, "aaab", "ab", {"a": 2}, id="one-each"),
        pytest.param(2, "abababa", "abab", {"a": 2, "b": 1}, id="two-each"),
        pytest.param(1, "abc", "abc", {}, id="all-under"),
        pytest.param(3, "", "", {}, id="nothing"),
    ],
)
def test_per_channel_shows_the_first_and_counts_the_rest(
    limit: int | None,
    channels: str,
    shown: str,
    hidden: dict[str, int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    sink = ConsoleSink(per_channel=limit)

    # one at a time and in batches: the limit is per channel, not per call
    count = sink.deliver([_message(channel=c) for c in channels[:2]])
    count += sink.deliver([_message(channel=c) for c in channels[2:]])

    assert len(shown) == count
    assert [f"#{c}" for c in shown] == _headers(stream.getvalue())
    assert sum(hidden.values()) == sink.not_shown
    notices = stream.getvalue().count("the others are counted")
    assert (1 if hidden else 0) == notices


def test_close_lists_what_was_not_shown_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    sink = ConsoleSink(per_channel=1)
    sink.deliver([_message(channel=c) for c in "abbbcc"])

    sink.close()
    sink.close()  # the handler, then the exit: said once
    first = stream.getvalue()
    sink.deliver([_message(channel="c")])
    sink.close()  # something new to say: said again
    again = stream.getvalue()[len(first) :]

    listing = first[first.index("polybot_loghandler: 3 messages not shown") :]
    heading = (
        "polybot_loghandler: 3 messages not shown on the console "
        "(delivery.console_per_channel: 1):"
    )
    assert [heading, "  2 #b   1 #c"] == listing.splitlines()
    assert "4 messages not shown" in again
    assert "  2 #b   2 #c" in again.splitlines()


@pytest.mark.parametrize(
    "sink",
    [
        pytest.param(ConsoleSink(per_channel=None), id="no-limit"),
        pytest.param(ConsoleSink(per_channel=5), id="nothing-held-back"),
        pytest.param(ConsoleSink("off", per_channel=1), id="console-off"),
    ],
)
def test_close_says_nothing_when_nothing_was_held_back(
    sink: ConsoleSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    sink.deliver([_message(channel=c) for c in "aab"])

    sink.close()

    assert "not shown" not in stream.getvalue()


def test_a_broken_stream_neither_raises_nor_counts_as_shown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stream = io.StringIO()
    stream.close()
    monkeypatch.setattr("sys.stderr", stream)
    sink = ConsoleSink(per_channel=1)

    assert 0 == sink.deliver([_message(channel=c) for c in "aa"])
    sink.close()

    assert 1 == sink.not_shown


@pytest.mark.parametrize(
    ("place", "identity", "files", "shown"),
    [
        pytest.param(None, {}, (), None, id="none"),
        pytest.param(
            Place(thread="BTC — feed down"),
            {},
            (),
            "│ ↳ thread 'BTC — feed down'",
            id="thread",
        ),
        pytest.param(
            Place(thread_id="123456789012345678"),
            {},
            (),
            "│ ↳ thread 123456789012345678",
            id="thread-id",
        ),
        pytest.param(
            Place(board="database"),
            {},
            (),
            "│ ↳ board 'database' (edited in place)",
            id="board",
        ),
        pytest.param(
            Place(board=""),
            {},
            (),
            "│ ↳ board of the route (edited in place)",
            id="route-board",
        ),
        pytest.param(
            Place(thread="BTC", board="feed"),
            {"username": "Boss"},
            (),
            "│ ↳ thread 'BTC' · board 'feed' (edited in place) · as Boss",
            id="all",
        ),
        pytest.param(
            None,
            {"username": "Auditor", "avatar_url": "https://e.test/a.png"},
            (),
            "│ ↳ as Auditor (own avatar)",
            id="identity",
        ),
        pytest.param(
            None,
            {"avatar_url": "https://e.test/a.png"},
            (),
            "│ ↳ with its own avatar",
            id="avatar",
        ),
        pytest.param(
            None,
            {},
            (Attachment("traceback.txt", "a\nb\nc"),),
            "│ + traceback.txt (3 lines)",
            id="file",
        ),
    ],
)
def test_place_identity_and_files_are_shown(
    place: Place | None,
    identity: dict[str, str],
    files: tuple[Attachment, ...],
    shown: str | None,
) -> None:
    """
    Under the head line, where the message goes and under which name;
    at its foot, the files beside it; nothing for a plain message.
    """
    plain = _message()
    message = dataclasses.replace(
        plain,
        payload={**plain.payload, **identity},
        place=place,
        files=files,
    )

    lines = format_message(message).splitlines()

    extra = [line for line in lines if line not in format_message(plain)]
    assert ([shown] if shown else []) == extra
    if shown and not files:
        assert shown == lines[1]  # right under the head
    if files:
        assert shown == lines[-2]  # right above the bottom


class TestTap:
    def test_a_tap_gets_every_message_those_not_shown_too(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        seen: list[RoutedMessage] = []
        sink = ConsoleSink("stdout", per_channel=1)
        messages = [_message(), _message(), _message(channel="other")]
        with console_tapped(seen.extend):
            assert sink.deliver(messages) == 2
        sink.deliver(messages)  # after the block: not tapped

        assert seen == messages
        assert capsys.readouterr().out.count("┌─") == 2

    def test_a_tap_sees_the_console_even_when_it_is_off(self) -> None:
        seen: list[RoutedMessage] = []
        with console_tapped(seen.extend):
            ConsoleSink("off").deliver([_message()])
        assert len(seen) == 1

    def test_a_tap_that_fails_changes_nothing(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        def broken(_: object) -> None:
            raise RuntimeError

        seen: list[RoutedMessage] = []
        with console_tapped(broken), console_tapped(seen.extend):
            assert ConsoleSink("stdout").deliver([_message()]) == 1
        assert len(seen) == 1
        assert "Trade" in capsys.readouterr().out
