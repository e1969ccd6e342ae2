"""
Tests for turning an event and its route into a Discord embed and message
body (``_render.py``).

Routes come from routing YAML through ``parse_config``; every body built
here is checked by the independent oracle in ``tests/support``, which
knows Discord's limits without asking the library.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import operator
import re
import textwrap
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from fakes.discord_schema import payload_errors
from polybot_loghandler import load_config
from polybot_loghandler._colors import COLORS
from polybot_loghandler._config import parse_config
from polybot_loghandler._events import LogEvent, capture_record
from polybot_loghandler._model import Channel, Config, Mention, Route
from polybot_loghandler._payload import (
    build_payload,
    clamp_embed,
    embed_length,
)
from polybot_loghandler._render import default_footer, render_embed
from polybot_loghandler._router import Router
from polybot_loghandler._text import REDACTED
from tests.conftest import SHIPPED_ROUTING
from tests.support.hostile import BOT_TOKEN, leaked
from tests.support.hostile import WEBHOOK_URL as HOSTILE_WEBHOOK_URL

# hypothesis imports libcst to suggest a patch for a failing example, and
# libcst trips a DeprecationWarning that filterwarnings = ["error"] would
# turn into an INTERNALERROR, hiding the real failure
pytestmark = pytest.mark.filterwarnings(
    "ignore:mypy_extensions.TypedDict is deprecated:DeprecationWarning"
)

ZWSP = "\u200b"
ELLIPSIS = "…"
# a ping Discord would still parse: not broken by a zero-width space
UNSAFE = re.compile(r"@(?:everyone|here)|<@(?!\u200b)")
WEBHOOK_TOKEN = "SeCrEtToKeN123"
WEBHOOK_URL = f"https://discord.com/api/webhooks/123456/{WEBHOOK_TOKEN}"
# 2024-01-30T14:23:45.678901Z
EVENT_TIME = 1706624625.678901
TIMESTAMP = "2024-01-30T14:23:45.678Z"

HEADER = """\
version: 1
channels:
  a: ""
  trades_paper: {name: trades-paper}
routes:
  - name: r
    to: a
"""


def _route(body: str = "") -> Route:
    """
    The one route of a routing file whose route ``r`` has *body* added.
    """
    text = HEADER + textwrap.indent(textwrap.dedent(body), "    ")
    return parse_config(text).routes[0]


def _event(
    event: str = "trade_executed",
    level: int = logging.INFO,
    logger: str = "floor_boss",
    message: str | None = None,
    exception: str | None = None,
    **fields: Any,
) -> LogEvent:
    """
    A structured event (its message is its name unless given).
    """
    return LogEvent(
        event=event,
        level=level,
        logger=logger,
        time=EVENT_TIME,
        fields=fields,
        message=event if message is None else message,
        exception=exception,
    )


class Errors:
    """
    Collects what rendering reports through *on_error*.
    """

    def __init__(self) -> None:
        self.seen: list[tuple[str, type[Exception]]] = []

    def __call__(self, part: str, exc: Exception) -> None:
        self.seen.append((part, type(exc)))


def _render(
    route: Route,
    ev: LogEvent,
    channel: Channel | None = None,
    *,
    label_channel: bool = False,
    errors: Errors | None = None,
) -> dict[str, Any]:
    """
    Render *ev* for *route*; fail if a template reports an error, unless
    *errors* is given to collect them.
    """
    seen = Errors() if errors is None else errors
    embed = render_embed(
        ev, ev.context(), route, channel, seen, label_channel=label_channel
    )
    if errors is None:
        assert [] == seen.seen
    assert [] == payload_errors(build_payload([embed], route.mention))
    return embed


def _texts(embed: dict[str, Any]) -> Iterator[str]:
    """
    Every piece of text an embed shows.
    """
    for part in ("title", "description"):
        if part in embed:
            yield embed[part]
    for item in embed.get("fields", ()):
        yield item["name"]
        yield item["value"]
    if "footer" in embed:
        yield embed["footer"]["text"]
    if "author" in embed:
        yield embed["author"]["name"]


def _field_values(embed: dict[str, Any]) -> dict[str, str]:
    """
    The embed's fields as name → value.
    """
    return {item["name"]: item["value"] for item in embed.get("fields", ())}


def _code_body(text: str) -> str:
    """
    The inside of the one fenced code block that *text* ends with.
    """
    start = text.index("```\n") + 4
    assert text.endswith("\n```")
    return text[start:-4]


# -- templated embeds ---------------------------------------------------------


class TestTemplatedFields:
    """
    ``embed.fields`` renders each field, leaving out the empty ones.
    """

    ROUTE = _route(
        """
        embed:
          title: Trade Executed
          fields:
            - {name: Agent, value: "{{ agent }}"}
            - {name: Amount, value: "{{ amount | money }}"}
            - {name: Price, value: "{{ price | price }}", inline: false}
            - {name: "{{ label }}", value: "{{ side }}"}
            - {name: Note, value: "  {{ note }}  "}
        """
    )

    @pytest.mark.parametrize(
        ("fields", "expected"),
        [
            pytest.param(
                {
                    "agent": "momentum-1",
                    "amount": 20,
                    "price": 0.54234,
                    "label": "Side",
                    "side": "BUY",
                    "note": "n",
                },
                [
                    {"name": "Agent", "value": "momentum-1", "inline": True},
                    {"name": "Amount", "value": "$20.00", "inline": True},
                    {"name": "Price", "value": "0.5423", "inline": False},
                    {"name": "Side", "value": "BUY", "inline": True},
                    {"name": "Note", "value": "n", "inline": True},
                ],
                id="all-present",
            ),
            pytest.param(
                {"agent": "a", "amount": None, "note": "   "},
                [{"name": "Agent", "value": "a", "inline": True}],
                id="missing-none-and-blank-left-out",
            ),
            pytest.param(
                {"side": "SELL"},
                [{"name": ZWSP, "value": "SELL", "inline": True}],
                id="empty-name-becomes-zero-width",
            ),
        ],
    )
    def test_fields(
        self, fields: dict[str, Any], expected: list[dict[str, Any]]
    ) -> None:
        """
        Fields keep their order and inline flags; empty values are dropped.
        """
        embed = _render(self.ROUTE, _event(**fields))

        assert expected == embed["fields"]

    def test_no_fields_key_when_every_value_is_empty(self) -> None:
        """
        With nothing to show, the embed has no ``fields`` at all.
        """
        embed = _render(self.ROUTE, _event())

        assert "fields" not in embed

    def test_auto_fields_with_exclude(self) -> None:
        """
        ``fields: {auto: true, exclude: [...]}`` shows the other fields.
        """
        route = _route(
            """
            embed:
              title: "{{ title }}"
              fields: {auto: true, exclude: [title]}
            """
        )

        embed = _render(route, _event(title="Hi", count=3, ok=True))

        assert [
            {"name": "Count", "value": "3", "inline": True},
            {"name": "OK", "value": "yes", "inline": True},
        ] == embed["fields"]


class TestTemplatedText:
    """
    Titles and descriptions escape event values; footers and authors
    show them plainly; the template's own text is the author's.
    """

    ROUTE = _route(
        """
        embed:
          title: "**Trade** {{ agent }}"
          description: "> {{ agent }}"
          footer: "{{ agent }} · *footer*"
          author: "{{ agent }}"
        """
    )

    def test_markdown_and_plain_parts(self) -> None:
        """
        Values are escaped where Discord renders markdown, not elsewhere.
        """
        agent = "*x*_y_ @here <@1>"

        embed = _render(self.ROUTE, _event(agent=agent))

        assert (
            f"**Trade** \\*x\\*\\_y\\_ @{ZWSP}here <@{ZWSP}1>"
            == (embed["title"])
        )
        assert (
            f"> \\*x\\*\\_y\\_ @{ZWSP}here <@{ZWSP}1>"
            == (embed["description"])
        )
        assert {"text": f"*x*_y_ @{ZWSP}here <@{ZWSP}1> · *footer*"} == (
            embed["footer"]
        )
        assert {"name": f"*x*_y_ @{ZWSP}here <@{ZWSP}1>"} == embed["author"]

    def test_values_cannot_start_a_block(self) -> None:
        """
        A value on its own line cannot become a heading or a quote.
        """
        route = _route(
            """
            embed:
              description: |-
                Reason:
                {{ reason }}
            """
        )

        embed = _render(route, _event(reason="# Big\n> quoted"))

        assert "Reason:\n\\# Big\n\\> quoted" == embed["description"]

    def test_author_urls_and_footer_icon(self) -> None:
        """
        Footer icons and author links from the routing file are kept.
        """
        route = _route(
            """
            embed:
              title: T
              footer: {text: polybot, icon_url: "https://example.com/f.png"}
              author:
                name: "{{ agent }}"
                url: https://example.com/agents
                icon_url: https://example.com/a.png
            """
        )

        embed = _render(route, _event(agent="A"))

        assert {
            "text": "polybot",
            "icon_url": "https://example.com/f.png",
        } == embed["footer"]
        assert {
            "name": "A",
            "url": "https://example.com/agents",
            "icon_url": "https://example.com/a.png",
        } == embed["author"]

    def test_channel_label(self) -> None:
        """
        A shared webhook names the channel in the author line.
        """
        channel = Channel(key="trades_paper", name="trades-paper")

        embed = _render(
            _route("embed: {title: T}\n"),
            _event(),
            channel,
            label_channel=True,
        )

        assert {"name": "#trades-paper"} == embed["author"]

    def test_fallback_title_is_the_event_name(self) -> None:
        """
        When title, description and fields all render empty, the event
        name stands in, escaped.
        """
        route = _route('embed: {title: "{{ nothing }}"}\n')

        embed = _render(route, _event("odd_*event*"))

        assert "odd\\_\\*event\\*" == embed["title"]


class TestColorsTimestampsUrls:
    """
    Colours, timestamps and URLs take literal or templated values.
    """

    @pytest.mark.parametrize(
        ("color", "fields", "expected"),
        [
            pytest.param("gold", {}, COLORS["gold"], id="name"),
            pytest.param("'#ff0000'", {}, 0xFF0000, id="hex"),
            pytest.param(1193046, {}, 0x123456, id="integer"),
            pytest.param(
                "\"{{ 'profit' if pnl > 0 else 'loss' }}\"",
                {"pnl": 5},
                COLORS["profit"],
                id="templated",
            ),
            pytest.param(
                "\"{{ 'profit' if pnl > 0 else 'loss' }}\"",
                {"pnl": -5},
                COLORS["loss"],
                id="templated-other",
            ),
            pytest.param('"{{ level }}"', {}, COLORS["info"], id="level-name"),
            pytest.param('"{{ hue }}"', {}, None, id="templated-empty"),
        ],
    )
    def test_color(
        self, color: object, fields: dict[str, Any], expected: int | None
    ) -> None:
        """
        Each colour spec gives its integer, or no colour when empty.
        """
        route = _route(f"embed: {{title: T, color: {color}}}\n")

        embed = _render(route, _event(**fields))

        assert expected == embed.get("color")

    def test_unknown_templated_color_is_reported(self) -> None:
        """
        A templated colour that is not a colour is left out and reported.
        """
        route = _route('embed: {title: T, color: "{{ hue }}"}\n')
        errors = Errors()

        embed = _render(route, _event(hue="mauve-ish"), errors=errors)

        assert "color" not in embed
        assert [("embed.color", ValueError)] == errors.seen

    @pytest.mark.parametrize(
        ("spec", "fields", "expected"),
        [
            pytest.param(None, {}, TIMESTAMP, id="event-time"),
            pytest.param("true", {}, TIMESTAMP, id="true"),
            pytest.param("false", {}, None, id="false"),
            pytest.param(
                '"{{ when }}"',
                {"when": "2024-01-02T03:04:05.678901+02:00"},
                "2024-01-02T01:04:05.678Z",
                id="templated-offset",
            ),
            pytest.param(
                '"{{ when }}"',
                {"when": 1700000000.5},
                "2023-11-14T22:13:20.500Z",
                id="templated-epoch",
            ),
            pytest.param('"{{ when }}"', {}, None, id="missing"),
        ],
    )
    def test_timestamp(
        self, spec: str | None, fields: dict[str, Any], expected: str | None
    ) -> None:
        """
        Timestamps are UTC, ``YYYY-MM-DDTHH:MM:SS.mmmZ``, or left out.
        """
        extra = "" if spec is None else f", timestamp: {spec}"
        route = _route(f"embed: {{title: T{extra}}}\n")

        embed = _render(route, _event(**fields))

        assert expected == embed.get("timestamp")

    def test_timestamp_that_is_not_a_time_is_reported(self) -> None:
        """
        A templated timestamp that is not a time is left out and reported.
        """
        route = _route('embed: {title: T, timestamp: "{{ when }}"}\n')
        errors = Errors()

        embed = _render(route, _event(when="soon"), errors=errors)

        assert "timestamp" not in embed
        assert [("embed.timestamp", ValueError)] == errors.seen

    @pytest.mark.parametrize(
        ("link", "expected", "reported"),
        [
            pytest.param(
                "https://polymarket.com/event/btc-100k",
                "https://polymarket.com/event/btc-100k",
                [],
                id="https",
            ),
            pytest.param("", None, [], id="empty"),
            pytest.param(
                "javascript:alert(1)",
                None,
                [("embed.url", ValueError)],
                id="not-http",
            ),
            pytest.param(
                "https://example.com/" + "x" * 2100,
                None,
                [("embed.url", ValueError)],
                id="too-long",
            ),
            pytest.param(
                "https://example.com/a b failed",
                None,
                [("embed.url", ValueError)],
                id="space",
            ),
            pytest.param(
                "https://example.com/\u00e9t\u00e9",
                None,
                [("embed.url", ValueError)],
                id="not-ascii",
            ),
        ],
    )
    def test_url(
        self,
        link: str,
        expected: str | None,
        reported: list[tuple[str, type[Exception]]],
    ) -> None:
        """
        Only an http(s) URL of a sensible length becomes the embed's link.
        """
        route = _route('embed: {title: T, url: "{{ link }}"}\n')
        errors = Errors()

        embed = _render(route, _event(link=link), errors=errors)

        assert expected == embed.get("url")
        assert reported == errors.seen


# -- the default embed --------------------------------------------------------


class TestDefaultEmbed:
    """
    A route with no ``embed:`` gets one built from the event itself.
    """

    ROUTE = _route()

    @pytest.mark.parametrize(
        ("event", "expected"),
        [
            pytest.param("trade_executed", "Trade Executed", id="snake"),
            pytest.param("agent.started", "Agent Started", id="dotted"),
            pytest.param("API_down", "API Down", id="upper-kept"),
            pytest.param(
                "ws_reconnect_failed",
                "WebSocket Reconnect Failed",
                id="acronym",
            ),
            pytest.param("order-failed", "Order Failed", id="dashed"),
            pytest.param("deploy.v1.2", "Deploy V1.2", id="version"),
            pytest.param("", "(no event name)", id="empty"),
            pytest.param("__", "(no event name)", id="only-separators"),
        ],
    )
    def test_title_from_event_name(self, event: str, expected: str) -> None:
        """
        A structured event is titled by its name, made readable.
        """
        embed = _render(self.ROUTE, _event(event))

        assert expected == embed["title"]
        assert "description" not in embed

    def test_log_line_with_arguments(self) -> None:
        """
        A formatted log line is titled by its message.
        """
        ev = _event("user %s logged in", message="user bob logged in")

        embed = _render(self.ROUTE, ev)

        assert "user bob logged in" == embed["title"]

    def test_plain_log_line_is_titled_by_its_message(self) -> None:
        """
        A log line without arguments keeps its own words as its title.
        """
        record = logging.LogRecord(
            "app.db",
            logging.WARNING,
            __file__,
            1,
            "Connected to db.example.com",
            (),
            None,
        )
        ev = LogEvent.from_raw(capture_record(record, record.msg, {}))

        embed = _render(self.ROUTE, ev)

        assert "Connected to db.example.com" == embed["title"]

    def test_multi_line_message(self) -> None:
        """
        The first line is the title; the rest goes to the description.
        """
        ev = _event("x", message="Order rejected\n*reason*: size")

        embed = _render(self.ROUTE, ev)

        assert "Order rejected" == embed["title"]
        assert "\\*reason\\*: size" == embed["description"]

    def test_message_too_long_for_a_title(self) -> None:
        """
        A long first line is cut in the title and kept in full below.
        """
        message = "word " * 100

        embed = _render(self.ROUTE, _event("x", message=message))

        assert len(embed["title"]) <= 256
        assert embed["title"].startswith("word word")
        assert embed["title"].endswith(ELLIPSIS)
        assert message.strip() == embed["description"]

    def test_traceback_keeps_its_last_lines(self) -> None:
        """
        A long traceback is shown in a code block ending with its error.
        """
        lines = [f'  File "app.py", line {n}, in step_{n}' for n in range(200)]
        exception = "\n".join(
            ["Traceback (most recent call last):", *lines, "ValueError: boom"]
        )

        embed = _render(self.ROUTE, _event("crash", exception=exception))

        body = _code_body(embed["description"])
        assert embed["description"].startswith("```\n")
        assert body.endswith("line 199, in step_199\nValueError: boom")
        assert body.startswith(f"{ELLIPSIS}\n  File")
        assert "step_0\n" not in body
        assert len(body) <= 1800

    def test_traceback_cannot_close_its_block(self) -> None:
        """
        No run of backticks in a traceback can end its code block early.
        """
        exception = "Traceback:\nValueError: bad ```` **x** ``````\n@here"

        embed = _render(self.ROUTE, _event("crash", exception=exception))

        body = _code_body(embed["description"])
        assert "```" not in body
        assert UNSAFE.search(body) is None

    def test_fields(self) -> None:
        """
        Each event field is one field, in order, shown readably.
        """
        ev = _event(
            agent="momentum",
            filled=True,
            ratio=0.123456789,
            count=45234,
            skipped=None,
            _internal="hidden",
            params={"window": 20, "mode": "fast"},
            note="line one\nline two",
            raw=b"\xffbytes",
        )

        embed = _render(self.ROUTE, ev)

        assert [
            {"name": "Agent", "value": "momentum", "inline": True},
            {"name": "Filled", "value": "yes", "inline": True},
            {"name": "Ratio", "value": "0.123457", "inline": True},
            {"name": "Count", "value": "45234", "inline": True},
            {
                "name": "Params",
                "value": '`{"window": 20, "mode": "fast"}`',
                "inline": True,
            },
            {"name": "Note", "value": "line one\nline two", "inline": False},
            {"name": "Raw", "value": "\ufffdbytes", "inline": True},
        ] == embed["fields"]

    @pytest.mark.parametrize(
        ("level", "logger", "color", "footer"),
        [
            pytest.param(
                logging.INFO, "floor_boss", COLORS["info"], "floor_boss · INFO"
            ),
            pytest.param(
                logging.WARNING,
                "",
                COLORS["warning"],
                "WARNING",
                id="no-logger",
            ),
            pytest.param(
                logging.CRITICAL,
                "a.b",
                COLORS["critical"],
                "a.b · CRITICAL",
                id="critical",
            ),
            pytest.param(
                25, "app", COLORS["info"], "app · LEVEL 25", id="custom-level"
            ),
        ],
    )
    def test_color_footer_and_timestamp(
        self, level: int, logger: str, color: int, footer: str
    ) -> None:
        """
        The level sets the colour; the footer names logger and level.
        """
        embed = _render(self.ROUTE, _event(level=level, logger=logger))

        assert color == embed["color"]
        assert {"text": footer} == embed["footer"]
        assert TIMESTAMP == embed["timestamp"]

    @pytest.mark.parametrize(
        ("logger", "level", "footer"),
        [
            pytest.param("trader", "warning", "trader · WARNING", id="both"),
            pytest.param("", "warning", "WARNING", id="no-logger"),
            pytest.param("trader", "", "trader", id="no-level"),
            pytest.param("", "", "", id="neither"),
            pytest.param("  ", " ", "", id="blank"),
        ],
    )
    def test_default_footer_has_no_dangling_separator(
        self, logger: str, level: str, footer: str
    ) -> None:
        """The default footer joins the parts there are, and only those."""
        assert footer == default_footer(logger, level)


# -- auto fields --------------------------------------------------------------

INF = float("inf")
NAN = float("nan")
AUTO_BODIES = [
    pytest.param("", id="default-embed"),
    pytest.param("embed: {title: T, fields: auto}\n", id="fields-auto"),
]


class TestAutoFields:
    """
    Auto fields (``fields: auto`` and the default embed) name a field by
    its key as a label, and show a number as its key's last word says.
    """

    @pytest.mark.parametrize("body", AUTO_BODIES)
    @pytest.mark.parametrize(
        ("key", "value", "name", "shown"),
        [
            # money: the money filter's way
            pytest.param(
                "daily_loss", -102.18, "Daily Loss", "-$102.18", id="loss"
            ),
            pytest.param("capital", 1234.5, "Capital", "$1,234.50", id="cap"),
            pytest.param(
                "total_allocated", 350, "Total Allocated", "$350.00", id="int"
            ),
            pytest.param("pnl_24h", 5.5, "P&L 24h", "$5.50", id="period"),
            pytest.param(
                "fees_today", 0.125, "Fees Today", "$0.12", id="today"
            ),
            pytest.param("amount_usd", 12, "Amount", "$12.00", id="usd"),
            pytest.param("current_balance", -0.0, "Current Balance", "$0.00"),
            # percent: the percent filter's way
            pytest.param("win_rate", 62.5, "Win Rate", "62.5%", id="rate"),
            pytest.param("win_rate", 37, "Win Rate", "37%", id="rate-int"),
            pytest.param("hit_rate", 97.3, "Hit Rate", "97.3%", id="hit"),
            pytest.param(
                "win_rate_7d", 41.2, "Win Rate 7d", "41.2%", id="rate-7d"
            ),
            pytest.param("pnl_pct", -3.2, "P&L", "-3.2%", id="pnl-pct"),
            pytest.param("cpu_pct", 13.7, "CPU", "13.7%", id="pct"),
            pytest.param("pct_used", 62.5, "% Used", "62.5%", id="pct-first"),
            pytest.param("roi", 12.34, "ROI", "12.3%", id="roi"),
            # durations: the duration filter's short way
            pytest.param("uptime_s", 180, "Uptime", "3m", id="s"),
            pytest.param("runtime_s", 9000, "Runtime", "2h 30m", id="s-long"),
            pytest.param("age_s", 48, "Age", "48s", id="s-short"),
            pytest.param("latency_s", 2.4, "Latency", "2.4s", id="s-part"),
            pytest.param("duration", 867.0, "Duration", "14m 27s", id="dur"),
            pytest.param("latency_ms", 230, "Latency", "230 ms", id="ms"),
            pytest.param("latency_ms", 12.34, "Latency", "12.3 ms"),
            pytest.param("flush_ms", 1234, "Flush", "1,234 ms", id="ms-k"),
            pytest.param("memory_mb", 454.4, "Memory", "454.4 MB", id="mb"),
            pytest.param("disk_used_mb", 10240, "Disk Used", "10 GB"),
            # anything else: as it was
            pytest.param("price", 0.5423, "Price", "0.5423", id="price"),
            pytest.param("stop_loss", 0.45, "Stop Loss", "0.45", id="stop"),
            pytest.param("take_profit", 0.7, "Take Profit", "0.7"),
            pytest.param("value", 41.2, "Value", "41.2", id="value"),
            pytest.param("limit", 100, "Limit", "100", id="limit"),
            pytest.param("sample_rate", 44100, "Sample Rate", "44100"),
            pytest.param("strength", 0.123456789, "Strength", "0.123457"),
            # never a bool; never a text, even one that reads as a number
            pytest.param("is_paper", True, "Is Paper", "yes", id="bool"),
            pytest.param("pnl", False, "P&L", "no", id="bool-money-key"),
            pytest.param("daily_loss", "-102.18", "Daily Loss", "-102.18"),
            pytest.param("win_rate", "n/a", "Win Rate", "n/a", id="text"),
            pytest.param(
                "losses", [1, 2], "Losses", "`[1, 2]`", id="list-losses"
            ),
            # not finite: as it was, and the unit stays in the name
            pytest.param("pnl", NAN, "P&L", "nan", id="nan"),
            pytest.param("daily_loss", -INF, "Daily Loss", "-inf", id="inf"),
            pytest.param("latency_ms", INF, "Latency ms", "inf", id="inf-ms"),
            # secrets: redacted by key, whatever they held
            pytest.param("api_key", 5, "API Key", REDACTED, id="secret"),
            pytest.param(
                "secret_amount", 12.5, "Secret Amount", REDACTED, id="money"
            ),
            pytest.param(
                "password_usd", 1.0, "Password USD", REDACTED, id="unit"
            ),
            # markdown and pings in keys: as safe as any value
            pytest.param(
                "*big*_loss", 5, "\\*big\\* Loss", "$5.00", id="markdown"
            ),
            pytest.param(
                "@everyone_pnl", 1, f"@{ZWSP}everyone P&L", "$1.00", id="ping"
            ),
            pytest.param("-", 3, "-", "3", id="no-words"),
        ],
    )
    def test_field(
        self, body: str, key: str, value: Any, name: str, shown: str
    ) -> None:
        """
        One event field becomes one readable field.
        """
        embed = _render(_route(body), _event(**{key: value}))

        assert [{"name": name, "value": shown, "inline": True}] == (
            embed["fields"]
        )

    @pytest.mark.parametrize("body", AUTO_BODIES)
    def test_admin_notice(self, body: str) -> None:
        """
        What the demo's admin notice showed raw now reads as meant.
        """
        ev = _event(agent="Volume_ETH_v1", daily_loss=-102.18, limit=100)

        embed = _render(_route(body), ev)

        assert {
            "Agent": "Volume\\_ETH\\_v1",
            "Daily Loss": "-$102.18",
            "Limit": "100",
        } == _field_values(embed)

    def test_exclude_names_the_key(self) -> None:
        """
        ``exclude`` names an event's key, not the label shown for it.
        """
        route = _route(
            "embed: {title: T, fields: {auto: true, exclude: [pnl]}}"
        )

        embed = _render(route, _event(pnl=1.0, pnl_pct=2.0))

        assert {"P&L": "2.0%"} == _field_values(embed)

    @pytest.mark.parametrize("body", AUTO_BODIES)
    @pytest.mark.parametrize(
        "key",
        [
            pytest.param(f"loss_{BOT_TOKEN}", id="glued-bot-token"),
            pytest.param(f"{BOT_TOKEN}_usd", id="bot-token-then-unit"),
            pytest.param(f"pnl {HOSTILE_WEBHOOK_URL}", id="webhook-url"),
        ],
    )
    def test_a_token_in_a_key_is_hidden(self, body: str, key: str) -> None:
        """
        A key is made a label after its tokens are hidden: split at ``_``
        and ``.`` and re-cased first, a token is no longer found.
        """
        embed = _render(_route(body), _event(**{key: 5}))

        (field,) = embed["fields"]
        assert leaked(field["name"]) is None, field["name"]
        assert REDACTED in field["name"]


# -- secrets ------------------------------------------------------------------


class TestSecrets:
    """
    Secret-looking fields and webhook URLs never reach the embed.
    """

    SECRETS: dict[str, Any] = {  # noqa: RUF012 - read only
        "api_key": "sk-live-111",
        "password": "hunter2",
        "webhook": "https://example.com/hook",
        "Authorization": "Bearer abc.def",
        "seed_phrase": "apple banana cherry",
    }

    @pytest.mark.parametrize(
        "body",
        [
            pytest.param("", id="default"),
            pytest.param("embed: {title: T, fields: auto}\n", id="auto"),
            pytest.param(
                """
                embed:
                  title: T
                  fields:
                    - {name: key, value: "{{ api_key }}"}
                    - {name: pw, value: "{{ fields.password }}"}
                    - {name: hook, value: "{{ webhook }}"}
                    - {name: auth, value: "{{ Authorization }}"}
                    - {name: seed, value: "{{ seed_phrase }}"}
                  footer: "{{ api_key }}"
                """,
                id="templated",
            ),
        ],
    )
    def test_secret_fields_are_redacted(self, body: str) -> None:
        """
        Fields whose names look secret show the redaction marker instead.
        """
        embed = _render(_route(body), _event(**self.SECRETS))

        shown = json.dumps(embed, ensure_ascii=False)
        for secret in self.SECRETS.values():
            assert secret not in shown
        values = [item["value"] for item in embed["fields"]]
        assert len(self.SECRETS) == len(values)
        assert {REDACTED} == {v.replace("\\", "") for v in values}

    def test_nested_secret_is_redacted_in_default_embed(self) -> None:
        """
        A secret-looking key inside a mapping field is redacted too.
        """
        ev = _event(config={"window": 20, "api_key": "sk-live-222"})

        embed = _render(_route(), ev)

        assert "sk-live-222" not in json.dumps(embed)

    @pytest.mark.parametrize(
        ("body", "ev"),
        [
            pytest.param("", _event(target=WEBHOOK_URL), id="default-field"),
            pytest.param(
                "",
                _event("x", message=f"posting\nto {WEBHOOK_URL} failed"),
                id="default-description",
            ),
            pytest.param(
                "",
                _event("crash", exception=f"HTTPError: {WEBHOOK_URL}"),
                id="default-traceback",
            ),
            pytest.param(
                "",
                _event(
                    f"post to {WEBHOOK_URL} failed",
                    message=f"post to {WEBHOOK_URL} failed",
                ),
                id="default-title-plain-line",
            ),
            pytest.param(
                'embed: {title: "{{ target }}", footer: "{{ target }}"}\n',
                _event(target=WEBHOOK_URL),
                id="templated-title-footer",
            ),
            pytest.param(
                'embed: {description: "{{ exception | code }}"}\n',
                _event(exception=f"to {WEBHOOK_URL}"),
                id="templated-code",
            ),
            pytest.param(
                'embed: {title: T, url: "{{ target }}"}\n',
                _event(target=WEBHOOK_URL),
                id="templated-url",
            ),
            pytest.param(
                'embed: {title: "{{ nothing }}"}\n',
                _event(WEBHOOK_URL),
                id="templated-fallback-title",
            ),
        ],
    )
    def test_webhook_urls_are_redacted(self, body: str, ev: LogEvent) -> None:
        """
        A webhook URL's token appears nowhere in the embed.
        """
        embed = _render(_route(body), ev, errors=Errors())

        assert WEBHOOK_TOKEN.lower() not in json.dumps(embed).lower()


# -- template errors ----------------------------------------------------------


class TestTemplateErrors:
    """
    A template that fails costs its own part, never the message.
    """

    @pytest.mark.parametrize(
        ("body", "part"),
        [
            pytest.param(
                'embed: {title: "{{ 1 // n }}"}\n', "embed.title", id="title"
            ),
            pytest.param(
                'embed: {title: T, description: "{{ 1 // n }}"}\n',
                "embed.description",
                id="description",
            ),
            pytest.param(
                "embed: {title: T, fields: "
                '[{name: F, value: "{{ 1 // n }}"}]}\n',
                "embed.fields[0].value",
                id="field-value",
            ),
            pytest.param(
                'embed: {title: T, footer: "{{ 1 // n }}"}\n',
                "embed.footer",
                id="footer",
            ),
        ],
    )
    def test_failing_part_shows_a_marker(self, body: str, part: str) -> None:
        """
        The failing part shows a marker and the error is reported.
        """
        errors = Errors()

        embed = _render(_route(body), _event(n=0), errors=errors)

        assert [(part, ZeroDivisionError)] == errors.seen
        assert f"⚠ template error in {part}" in list(_texts(embed))

    def test_sandbox_refuses_mutation(self) -> None:
        """
        A template cannot change the event's values.
        """
        errors = Errors()
        tags = ["a"]
        route = _route('embed: {title: "{{ tags.append(1) }}"}\n')

        _render(route, _event(tags=tags), errors=errors)

        assert ["a"] == tags
        assert ["embed.title"] == [part for part, _ in errors.seen]

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            pytest.param(float("inf"), "inf", id="inf"),
            pytest.param(float("-inf"), "-inf", id="minus-inf"),
            pytest.param(float("nan"), "nan", id="nan"),
            pytest.param(2.5, "2.5", id="fraction"),
            pytest.param(3.0, "3.0", id="whole-float"),
        ],
    )
    def test_any_float_renders(self, value: float, expected: str) -> None:
        """
        A float value is shown, whatever it is, without an error.
        """
        route = _route('embed: {title: "v={{ x }}"}\n')

        embed = _render(route, _event(x=value))

        assert f"v={expected}" == embed["title"]

    @pytest.mark.parametrize(
        "body",
        [
            pytest.param("", id="default"),
            pytest.param("embed: {title: T, fields: auto}\n", id="auto"),
        ],
    )
    def test_int_too_long_to_print_does_not_raise(self, body: str) -> None:
        """
        An int Python will not print in full still renders an embed.
        """
        ev = _event(big=10**5000, nested=[10**5000], small=1)

        embed = render_embed(ev, ev.context(), _route(body), None, Errors())

        assert "1" == _field_values(embed)["Small"]


# -- limits -------------------------------------------------------------------


def _long_fields(count: int, value: str = "v") -> list[dict[str, Any]]:
    return [
        {"name": f"n{n}", "value": value, "inline": True} for n in range(count)
    ]


class TestClampEmbed:
    """
    ``clamp_embed`` holds an embed to every limit, visibly.
    """

    @pytest.mark.parametrize(
        ("embed", "get", "limit"),
        [
            pytest.param(
                {"title": "t" * 300},
                operator.itemgetter("title"),
                256,
                id="title",
            ),
            pytest.param(
                {"description": "d" * 5000},
                operator.itemgetter("description"),
                4096,
                id="description",
            ),
            pytest.param(
                {"title": "T", "fields": _long_fields(1, "v" * 2000)},
                lambda e: e["fields"][0]["value"],
                1024,
                id="field-value",
            ),
            pytest.param(
                {
                    "title": "T",
                    "fields": [{"name": "n" * 300, "value": "v"}],
                },
                lambda e: e["fields"][0]["name"],
                256,
                id="field-name",
            ),
            pytest.param(
                {"title": "T", "footer": {"text": "f" * 3000}},
                lambda e: e["footer"]["text"],
                2048,
                id="footer",
            ),
            pytest.param(
                {"title": "T", "author": {"name": "a" * 300}},
                lambda e: e["author"]["name"],
                256,
                id="author",
            ),
        ],
    )
    def test_text_limits(
        self, embed: dict[str, Any], get: Any, limit: int
    ) -> None:
        """
        Over-long text is cut to its limit and ends with an ellipsis.
        """
        clamped = clamp_embed(embed)

        text = get(clamped)
        assert limit == len(text)
        assert text.endswith(ELLIPSIS)
        assert [] == payload_errors(build_payload([clamped], None))

    def test_whitespace_does_not_count(self) -> None:
        """
        Surrounding whitespace is trimmed rather than counted or cut.
        """
        clamped = clamp_embed({"title": "  " + "t" * 256 + "\n"})

        assert "t" * 256 == clamped["title"]

    def test_too_many_fields(self) -> None:
        """
        Beyond 25 fields, the 25th says how many more were left out.
        """
        clamped = clamp_embed({"title": "T", "fields": _long_fields(30)})

        assert 25 == len(clamped["fields"])
        assert _long_fields(24) == clamped["fields"][:24]
        assert {
            "name": ELLIPSIS,
            "value": "6 more fields not shown",
            "inline": False,
        } == clamped["fields"][24]
        assert [] == payload_errors(build_payload([clamped], None))

    @pytest.mark.parametrize(
        "embed",
        [
            pytest.param(
                {
                    "title": "t" * 256,
                    "description": "d" * 4096,
                    "fields": _long_fields(3, "v" * 1024),
                    "footer": {"text": "f" * 2048},
                    "author": {"name": "a" * 256},
                },
                id="everything-full",
            ),
            pytest.param(
                {"title": "T", "fields": _long_fields(25, "v" * 1024)},
                id="fields-only",
            ),
            pytest.param(
                {
                    "title": "T",
                    "fields": [
                        {"name": f"{n}" + "n" * 255, "value": "v"}
                        for n in range(25)
                    ],
                },
                id="long-names",
            ),
        ],
    )
    def test_total(self, embed: dict[str, Any]) -> None:
        """
        An embed over 6,000 characters is cut to fit, visibly.
        """
        clamped = clamp_embed(embed)

        assert embed_length(clamped) <= 6000
        assert [] == payload_errors(build_payload([clamped], None))
        assert any(ELLIPSIS in text for text in _texts(clamped))


# -- message bodies -----------------------------------------------------------


class TestBuildPayload:
    """
    ``build_payload`` sends the route's ping and exactly its permission.
    """

    @pytest.mark.parametrize(
        ("mention", "expected"),
        [
            pytest.param(None, {"allowed_mentions": {"parse": []}}, id="none"),
            pytest.param(
                "everyone",
                {
                    "content": "@everyone",
                    "allowed_mentions": {"parse": ["everyone"]},
                },
                id="everyone",
            ),
            pytest.param(
                "here",
                {
                    "content": "@here",
                    "allowed_mentions": {"parse": ["everyone"]},
                },
                id="here",
            ),
            pytest.param(
                "role:123456789012345678",
                {
                    "content": "<@&123456789012345678>",
                    "allowed_mentions": {
                        "parse": [],
                        "roles": ["123456789012345678"],
                    },
                },
                id="role",
            ),
            pytest.param(
                "user:42",
                {
                    "content": "<@42>",
                    "allowed_mentions": {"parse": [], "users": ["42"]},
                },
                id="user",
            ),
        ],
    )
    def test_mentions(
        self, mention: str | None, expected: dict[str, Any]
    ) -> None:
        """
        Only the route's own ping is sent, with only its permission.
        """
        body = "embed: {title: T}\n"
        if mention is not None:
            body += f"mention: '{mention}'\n"
        route = _route(body)
        embed = _render(route, _event(agent="@everyone"))

        payload = build_payload([embed], route.mention)

        assert {**expected, "embeds": [embed]} == payload
        assert [] == payload_errors(payload)

    def test_several_embeds_share_the_total(self) -> None:
        """
        Embeds in one message stay within 6,000 characters together.
        """
        embeds = [
            clamp_embed({"title": "T", "description": "d" * 4000})
            for _ in range(2)
        ]

        payload = build_payload(embeds, Mention(kind="everyone"))

        assert [] == payload_errors(payload)


# -- shipped routing ----------------------------------------------------------


def _shipped() -> Config:
    """
    The shipped routing, with an admin role so role pings are exercised.
    """
    return load_config(
        SHIPPED_ROUTING,
        environ={"DISCORD_ADMIN_ROLE_ID": "123456789012345678"},
    )


SHIPPED = _shipped()
SHIPPED_ROUTER = Router(SHIPPED.routes)


def _route_and_render(
    ev: LogEvent, *, label_channel: bool = False
) -> list[tuple[Route, dict[str, Any]]]:
    """
    Route *ev* by the shipped routing; render and build each message.
    """
    context = ev.context()
    out = []
    for hit in SHIPPED_ROUTER.route(ev, context, lambda *_: None):
        for key in hit.channels:
            embed = render_embed(
                ev,
                context,
                hit.route,
                SHIPPED.channels.get(key),
                lambda *_: None,
                label_channel=label_channel,
            )
            out.append((hit.route, build_payload([embed], hit.route.mention)))
    return out


def _assert_safe_payload(route: Route, payload: dict[str, Any]) -> None:
    """
    A valid body whose only ping is the route's own, none in the embeds.
    """
    assert [] == payload_errors(payload)
    mention = route.mention.content if route.mention else None
    assert mention == payload.get("content")
    for embed in payload["embeds"]:
        for text in _texts(embed):
            assert UNSAFE.search(text) is None, text


class TestShippedRouting:
    @pytest.mark.parametrize(
        ("level", "logger", "footer"),
        [
            pytest.param(logging.WARNING, "trader", "trader · WARNING"),
            pytest.param(logging.WARNING, "", "WARNING", id="warning"),
            pytest.param(logging.ERROR, "", "ERROR", id="error"),
            pytest.param(logging.CRITICAL, "", "CRITICAL", id="critical"),
            pytest.param(
                logging.CRITICAL, "bot", "bot · CRITICAL", id="critical-bot"
            ),
        ],
    )
    def test_log_footers_without_a_logger(
        self, level: int, logger: str, footer: str
    ) -> None:
        """
        The fallback routes' footers leave out a missing logger.

        A structlog chain without ``add_logger_name`` gives none, and the
        footer must not start with a bare separator.
        """
        ev = _event("something_odd", level=level, logger=logger)

        footers = [
            payload["embeds"][0].get("footer", {}).get("text")
            for _, payload in _route_and_render(ev)
        ]

        assert footers == [footer]

    """
    The shipped routing renders the Polybot messages safely.
    """

    @pytest.mark.parametrize(
        ("ev", "expected"),
        [
            pytest.param(
                _event(
                    "trade_executed",
                    agent="momentum-1",
                    market="BTC > 100k",
                    side="BUY",
                    amount=20,
                    price=0.54234,
                    is_paper=True,
                ),
                {
                    "Agent": "momentum-1",
                    "Market": "BTC > 100k",
                    "Side": "BUY",
                    "Amount": "$20.00",
                    "Price": "0.5423",
                    "Mode": "📄 Paper Trading",
                    "Time": "2024-01-30 14:23:45 UTC",
                },
                id="trade",
            ),
            pytest.param(
                _event(
                    "position_closed",
                    pnl=5.94,
                    pnl_pct=29.7,
                    duration_s=867,
                    size=1045.6,
                ),
                {
                    "Duration": "14m 27s",
                    "Size": "$1,045.60",
                    "P&L": "+$5.94 (+29.7%)",
                },
                id="position",
            ),
        ],
    )
    def test_polybot_formats(
        self, ev: LogEvent, expected: dict[str, str]
    ) -> None:
        """
        The Polybot money, price, percent and duration formats appear.
        """
        sent = _route_and_render(ev)

        assert sent
        for route, payload in sent:
            _assert_safe_payload(route, payload)
        # the event's own channel comes first (a closed position also
        # updates its board in #positions-open, with fewer fields)
        assert expected == _field_values(sent[0][1]["embeds"][0])

    def test_leaderboard_medals(self) -> None:
        """
        Leaderboard ranks are medals, then keycaps.
        """
        entries = [{"agent": f"A{n}", "pnl": -105.5} for n in range(5)]
        ev = _event("leaderboard", period="7d", entries=entries)

        [(route, payload)] = _route_and_render(ev)

        _assert_safe_payload(route, payload)
        embed = payload["embeds"][0]
        assert "🏆 Agent Leaderboard (7 Days)" == embed["title"]
        starts = [
            line.split(" ")[0]
            for line in embed["description"].splitlines()
            if line and not line.startswith(" ")
        ]
        assert ["🥇", "🥈", "🥉", "4\ufe0f\u20e3", "5\ufe0f\u20e3"] == starts
        assert "P&L: -$105.50" in embed["description"]

    def test_critical_alert_pings_everyone(self) -> None:
        """
        The critical alert's ping is its own; values in it cannot ping.
        """
        ev = _event("critical_alert", component="@everyone", issue="<@&1>")

        [(route, payload)] = _route_and_render(ev)

        _assert_safe_payload(route, payload)
        assert {"parse": ["everyone"]} == payload["allowed_mentions"]

    @pytest.mark.parametrize(
        "ev",
        [
            pytest.param(
                _event(
                    "api_latency_high",
                    api="gamma",
                    latency_s=2.5,
                    normal_ms="@&123456789012345678>",
                ),
                id="latency-normal",
            ),
            pytest.param(
                _event(
                    "daily_summary",
                    date="2024-01-30",
                    targets={"max_drawdown": {"target": "@&42>", "met": True}},
                ),
                id="drawdown-target",
            ),
        ],
    )
    def test_values_cannot_complete_a_mention(self, ev: LogEvent) -> None:
        """
        A value cannot join the template's text to form a mention.
        """
        for route, payload in _route_and_render(ev):
            _assert_safe_payload(route, payload)


# -- properties ---------------------------------------------------------------

NASTY_TEXT = st.sampled_from(
    [
        "@everyone",
        "@here",
        "<@&123>",
        "<@!456>",
        "<@789>",
        "@&123>",
        "**bold** __under__ ~~strike~~ ||spoiler||",
        "# heading\n> quote\n- item\n-# small",
        "```",
        "````",
        "[link](https://evil.example)",
        "x" * 10_000,
        "@everyone " * 1_100,
        WEBHOOK_URL,
        "\n",
        " ",
        "",
    ]
)
TEXT = st.one_of(
    st.text(max_size=30),
    NASTY_TEXT,
    st.builds(operator.add, NASTY_TEXT, st.text(max_size=10)),
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([10**400, -(2**200), 2**64]),
    st.floats(allow_nan=True, allow_infinity=True),
    TEXT,
    st.binary(max_size=20),
    st.just(b"@everyone"),
    st.datetimes(),
)


def _values(keys: st.SearchStrategy[str]) -> st.SearchStrategy[Any]:
    """
    Any event value: scalars, and lists and mappings of them.
    """
    return st.recursive(
        SCALARS,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4),
            st.dictionaries(keys, inner, max_size=4),
        ),
        max_leaves=10,
    )


ANY_KEYS = st.one_of(st.text(max_size=12), NASTY_TEXT, st.just("api_key"))
LEVELS = st.sampled_from(
    [logging.DEBUG, logging.INFO, 25, logging.WARNING, logging.ERROR, 50]
)

# every name the shipped templates read, so generated events reach them
_TAG = re.compile(r"\{[{%](.*?)[%}]\}", re.DOTALL)
_WORD = re.compile(r"\b[a-z_][a-z0-9_]*\b")
_JINJA_WORDS = {
    "and",
    "else",
    "endfor",
    "endif",
    "false",
    "for",
    "if",
    "in",
    "is",
    "none",
    "not",
    "or",
    "set",
    "true",
}
SHIPPED_KEYS = sorted(
    {
        word
        for tag in _TAG.findall(SHIPPED_ROUTING.read_text(encoding="utf-8"))
        for word in _WORD.findall(tag)
    }
    - _JINJA_WORDS
)
SHIPPED_EVENTS = sorted(
    {
        name
        for route in SHIPPED.routes
        if route.matcher.event is not None
        for name in route.matcher.event.exact
    }
)


@st.composite
def _any_events(draw: st.DrawFn) -> LogEvent:
    """
    Any event: a structured one (message is its name) or a log line.
    """
    event = draw(TEXT)
    return LogEvent(
        event=event,
        level=draw(LEVELS),
        logger=draw(TEXT),
        time=EVENT_TIME,
        fields=draw(st.dictionaries(ANY_KEYS, _values(ANY_KEYS), max_size=8)),
        message=draw(st.one_of(st.just(event), TEXT)),
        exception=draw(st.one_of(st.none(), TEXT)),
    )


ANY_EVENTS = _any_events()
SHIPPED_ROUTE_EVENTS = st.builds(
    LogEvent,
    event=st.one_of(st.sampled_from(SHIPPED_EVENTS), TEXT),
    level=LEVELS,
    logger=st.sampled_from(
        ["", "app", "floor_boss", "floor_boss.capital", "performance_monitor"]
    ),
    time=st.floats(min_value=0, max_value=4e9),
    fields=st.dictionaries(
        st.one_of(st.sampled_from(SHIPPED_KEYS), ANY_KEYS),
        _values(st.sampled_from(SHIPPED_KEYS)),
        max_size=12,
    ),
    message=st.just(""),
    exception=st.one_of(st.none(), TEXT),
).map(lambda ev: dataclasses.replace(ev, message=ev.event))
PROPERTY_SETTINGS = settings(
    max_examples=120,
    deadline=None,
    database=None,
    # no explain phase: on a failure it re-runs big examples for seconds
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


class TestProperties:
    """
    Whatever events hold, every message is valid and pings no one extra.
    """

    def test_shipped_events_cover_the_routes(self) -> None:
        """
        The generated events reach the shipped routes by name.
        """
        expected = {"trade_executed", "health_check", "daily_summary"}

        assert expected | {"leaderboard"} <= set(SHIPPED_EVENTS)

    @PROPERTY_SETTINGS
    @given(ev=ANY_EVENTS, label_channel=st.booleans())
    @pytest.mark.slow
    def test_default_embed(self, ev: LogEvent, label_channel: bool) -> None:
        """
        The default embed of any event gives a valid, ping-free message.
        """
        route = _route()
        channel = Channel(key="a", name="a")

        embed = render_embed(
            ev,
            ev.context(),
            route,
            channel,
            Errors(),
            label_channel=label_channel,
        )

        _assert_safe_payload(route, build_payload([embed], route.mention))

    @PROPERTY_SETTINGS
    @given(ev=SHIPPED_ROUTE_EVENTS, label_channel=st.booleans())
    @pytest.mark.slow
    def test_shipped_routing(self, ev: LogEvent, label_channel: bool) -> None:
        """
        Every message the shipped routing makes is valid and ping-free.
        """
        for route, payload in _route_and_render(
            ev, label_channel=label_channel
        ):
            _assert_safe_payload(route, payload)

    @PROPERTY_SETTINGS
    @given(
        ev=SHIPPED_ROUTE_EVENTS,
        long=st.text(min_size=0, max_size=2500),
        label_channel=st.booleans(),
    )
    @pytest.mark.slow
    def test_templated_embeds_come_clamped(
        self, ev: LogEvent, long: str, label_channel: bool
    ) -> None:
        """
        A templated embed is built within its limits: clamping finds
        nothing left to do, for the shipped routes and for texts and
        fields far over every limit.
        """
        from polybot_loghandler._payload import clamp_embed, copy_embed

        many = "".join(
            f"  - {{name: '{{{{ long }}}} {n}', value: '{{{{ long }}}}'}}\n"
            for n in range(30)
        )
        route = _route(
            "embed:\n"
            "  title: '{{ long }}{{ long }}'\n"
            "  description: '{{ long }}{{ long }}{{ long }}'\n"
            "  footer: '{{ long }}'\n"
            "  author: ' {{ long }} '\n"
            "  fields:\n" + many
        )
        context = {**ev.context(), "long": long}
        embeds = [
            render_embed(
                ev,
                context,
                route,
                Channel(key="a", name="a" * 300),
                Errors(),
                label_channel=label_channel,
            )
        ]
        embeds += [
            render_embed(
                ev,
                ev.context(),
                hit.route,
                SHIPPED.channels.get(key),
                Errors(),
                label_channel=label_channel,
            )
            for hit in SHIPPED_ROUTER.route(ev, ev.context(), Errors())
            for key in hit.channels
        ]

        for embed in embeds:
            assert embed == clamp_embed(copy_embed(embed))


class TestTimestampQuickly:
    """
    Timestamps written out by hand read as ``strftime`` writes them.
    """

    @settings(max_examples=500, deadline=None, database=None)
    @given(
        when=st.datetimes(
            # naive bounds, as hypothesis wants; a day inside year 1 and
            # year 9999, so every zone's time is a UTC time too
            min_value=datetime(1, 1, 2),  # noqa: DTZ001
            max_value=datetime(9999, 12, 30),  # noqa: DTZ001
            timezones=st.one_of(
                st.just(timezone.utc),
                st.builds(
                    timezone,
                    st.timedeltas(
                        min_value=timedelta(hours=-23),
                        max_value=timedelta(hours=23),
                    ),
                ),
            ),
        )
    )
    @pytest.mark.slow
    def test_iso_stamp(self, when: datetime) -> None:
        """
        Any time, in any zone, as Discord's ISO 8601 text in UTC,
        milliseconds included.
        """
        from polybot_loghandler._render import _iso_stamp

        utc = when.astimezone(timezone.utc)
        expected = (
            utc.strftime("%Y-%m-%dT%H:%M:%S.")
            + f"{utc.microsecond // 1000:03d}Z"
        )
        assert expected == _iso_stamp(when)

    @settings(max_examples=1000, deadline=None, database=None)
    @given(
        times=st.lists(
            st.one_of(
                st.floats(min_value=0, max_value=4e9),
                st.floats(min_value=-6e10, max_value=2.5e11),
                # just under a whole millisecond or second: rounding to
                # microseconds carries into the next one
                st.integers(0, 4 * 10**12).map(lambda ms: ms / 1000 - 4e-7),
                st.integers(0, 4 * 10**9).map(lambda s: s - 4e-7),
            ),
            max_size=5,
        )
    )
    @pytest.mark.slow
    def test_event_stamp(self, times: list[float]) -> None:
        """
        An event's time reads as datetime reads it, to the millisecond,
        whatever second was shown before.
        """
        from polybot_loghandler._render import _event_stamp, _iso_stamp

        for time in [*times, *reversed(times)]:
            expected = _iso_stamp(
                datetime.fromtimestamp(time, tz=timezone.utc)
            )
            assert expected == _event_stamp(time)


# -- hostile text in the parts rendering builds itself ----------------------

#: Shaped like a bot token and a webhook token; not real ones.
BOT_TOKEN_TEXT = (
    "MTEyMjMzNDQ1NTY2Nzc4ODk5.GaBcDe.Zq8_Vw3-Xy7Kp2Lm9Nb4Rt6Hs1Jd5Fg0Ck"
)
LONG_TOKEN = (
    "Xq7_Lm3-Vb9Tz2Kp_Wd8Ry4-Hs6Nf1Jc5_Gt0Ua3Ze7-Io2Ok9Pl4Mn6Bv8Cx1Dy5Fw"
)
LONG_WEBHOOK_URL = f"https://discord.com/api/webhooks/1122334455/{LONG_TOKEN}"


def _shows_secret(text: str) -> bool:
    """Whether 12 letters or digits of a token's secret show, any case."""
    letters = re.sub(r"[^a-z0-9]", "", text.lower())
    for secret in (LONG_TOKEN, "Zq8_Vw3-Xy7Kp2Lm9Nb4Rt6Hs1Jd5Fg0Ck"):
        plain = re.sub(r"[^a-z0-9]", "", secret.lower())
        if any(plain[n : n + 12] in letters for n in range(len(plain) - 11)):
            return True
    return False


def _body(embed: dict[str, Any]) -> str:
    return json.dumps(build_payload([embed], None), ensure_ascii=False)


class TestHostileTextInBuiltParts:
    """
    What rendering builds from event names, loggers, tracebacks and
    values always encodes and never shows a token.
    """

    @pytest.mark.parametrize(
        "ev",
        [
            pytest.param(_event(event=BOT_TOKEN_TEXT), id="name-is-a-token"),
            pytest.param(
                _event(event=f"sent_{BOT_TOKEN_TEXT}"), id="name-holds-one"
            ),
            pytest.param(_event(logger=f"bot.{BOT_TOKEN_TEXT}"), id="logger"),
            pytest.param(
                _event(exception="x" * 5000 + LONG_WEBHOOK_URL),
                id="traceback-tail",
            ),
            pytest.param(
                _event(data={"url": LONG_WEBHOOK_URL.replace("/", "\\/")}),
                id="json-escaped-in-a-mapping",
            ),
        ],
    )
    def test_default_embed_hides_tokens(self, ev: LogEvent) -> None:
        """The default embed shows no token, however it was given."""
        embed = _render(_route(), ev)

        assert not _shows_secret(_body(embed)), _body(embed)

    @pytest.mark.parametrize(
        "ev",
        [
            pytest.param(_event(event="x\udcff"), id="name"),
            pytest.param(
                _event(message="could not process report-\udcff.csv"),
                id="message",
            ),
            pytest.param(_event(logger="app\ud800"), id="logger"),
            pytest.param(_event(exception="Error: \udcff"), id="traceback"),
            pytest.param(_event(path="report-\udcff.csv"), id="field"),
            pytest.param(
                _event(paths=["a\udcff", {"b": "\ud800"}]), id="json"
            ),
            pytest.param(_event(**{"k\udcff": 1}), id="field-name"),
        ],
    )
    def test_default_embed_encodes(self, ev: LogEvent) -> None:
        """A lone surrogate anywhere in an event still gives a body."""
        embed = _render(_route(), ev)

        _body(embed).encode("utf-8")
        assert "\ufffd" in _body(embed)

    def test_a_url_with_a_surrogate_is_left_out(self) -> None:
        """An embed ``url`` that cannot be encoded is left out, reported."""
        errors = Errors()
        route = _route("embed: {title: T, url: 'https://x.io/{{ p }}'}\n")

        embed = _render(route, _event(p="a\udcff"), errors=errors)

        assert "url" not in embed
        assert [("embed.url", ValueError)] == errors.seen

    def test_a_channel_name_with_a_surrogate_encodes(self) -> None:
        """The channel label in the author line encodes too."""
        embed = _render(
            _route(),
            _event(),
            Channel(key="a", name="a\udcff"),
            label_channel=True,
        )

        _body(embed).encode("utf-8")
