"""
Tests for the formatting filters routing templates use (``_format.py``).

Every filter in ``FILTERS`` is checked against a table: the Polybot
formats (``+$5.94``, ``0.5423``, ``14m 27s``, ``🥇``), missing values
(``None`` and Jinja2's undefined values) and values of the wrong type,
which are shown as they are rather than raising.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jinja2 import ChainableUndefined, Undefined

from polybot_loghandler._format import FILTERS, counted, parse_time
from polybot_loghandler._templates import compile_text
from polybot_loghandler._text import Markdown, escape_markdown
from tests.support.hostile import (
    BOT_TOKEN,
    WEBHOOK_URL,
    Holder,
    leaked,
)

# hypothesis imports libcst to suggest a patch for a failing example, and
# libcst trips a DeprecationWarning that filterwarnings = ["error"] would
# turn into an INTERNALERROR, hiding the real failure
pytestmark = pytest.mark.filterwarnings(
    "ignore:mypy_extensions.TypedDict is deprecated:DeprecationWarning"
)

UTC = timezone.utc
INF = float("inf")
NAN = float("nan")
HUGE = 10**400  # an int too large for a float, but printable

# one instance of each kind of "missing" a template can hand a filter
MISSING = [
    pytest.param(None, id="none"),
    pytest.param(Undefined(name="absent"), id="undefined"),
    pytest.param(ChainableUndefined(name="absent"), id="chainable-undefined"),
]

# filters whose answer for a missing value is the empty string
TEXT_FILTERS = sorted(
    name
    for name in FILTERS
    if name not in {"checklist", "failing", "status_emoji"}
)

NUMERIC_FILTERS = [
    "ago",
    "duration",
    "money",
    "number",
    "percent",
    "price",
    "size_mb",
]


def _apply(name: str, value: Any, **kwargs: Any) -> Any:
    """
    Call the filter registered as *name*.
    """
    return FILTERS[name](value, **kwargs)


class TestMoney:
    """
    ``money`` shows dollars with cents, a sign on request, and losses.
    """

    @pytest.mark.parametrize(
        ("value", "kwargs", "expected"),
        [
            pytest.param(20, {}, "$20.00", id="whole"),
            pytest.param(1045.6, {}, "$1,045.60", id="thousands"),
            pytest.param(-105.5, {}, "-$105.50", id="negative"),
            pytest.param(5.94, {"sign": True}, "+$5.94", id="signed-gain"),
            pytest.param(-5.94, {"sign": True}, "-$5.94", id="signed-loss"),
            pytest.param(0, {"sign": True}, "$0.00", id="signed-zero"),
            pytest.param(
                1234567.891, {}, "$1,234,567.89", id="millions-rounded"
            ),
            pytest.param(50, {"decimals": "auto"}, "$50", id="auto-whole"),
            pytest.param(
                50.5, {"decimals": "auto"}, "$50.50", id="auto-cents"
            ),
            pytest.param(7, {"decimals": 0}, "$7", id="no-decimals"),
            pytest.param(100, {"loss": True}, "-$100.00", id="loss-positive"),
            pytest.param(-100, {"loss": True}, "-$100.00", id="loss-negative"),
            pytest.param("1,045.6", {}, "$1,045.60", id="numeric-string"),
            pytest.param("n/a", {}, "n/a", id="word-shown-as-is"),
            pytest.param(True, {}, "True", id="bool-shown-as-is"),
            pytest.param([1, 2], {}, "[1, 2]", id="list-shown-as-is"),
            pytest.param(INF, {}, "inf", id="infinity"),
            pytest.param(NAN, {}, "nan", id="nan"),
        ],
    )
    def test_money(
        self, value: Any, kwargs: dict[str, Any], expected: str
    ) -> None:
        """
        Each value is shown in the Polybot money format.
        """
        assert expected == _apply("money", value, **kwargs)

    @settings(max_examples=500, deadline=None, database=None)
    @given(value=st.floats(), sign=st.booleans())
    @pytest.mark.slow
    def test_a_float_reads_as_its_text(self, value: float, sign: bool) -> None:
        """
        A float, formatted on the quick path, reads as the same number
        written out (``-0.004`` and ``"-0.004"``), which is not.
        """
        expected = _apply("money", repr(value), sign=sign)

        assert expected == _apply("money", value, sign=sign)


class TestNumber:
    """
    ``number`` groups thousands and keeps the places a value has.
    """

    @pytest.mark.parametrize(
        ("value", "kwargs", "expected"),
        [
            pytest.param(45234, {}, "45,234", id="thousands"),
            pytest.param(2.0, {}, "2", id="whole-float"),
            pytest.param(1234.5, {}, "1,234.5", id="fraction"),
            pytest.param(3.14159, {"decimals": 2}, "3.14", id="decimals"),
            pytest.param(5, {"sign": True}, "+5", id="signed-positive"),
            pytest.param(-5, {"sign": True}, "-5", id="signed-negative"),
            pytest.param(-1500, {}, "-1,500", id="negative"),
            pytest.param("1,234", {}, "1,234", id="numeric-string"),
            pytest.param("abc", {}, "abc", id="word-shown-as-is"),
            pytest.param(False, {}, "False", id="bool-shown-as-is"),
            pytest.param(INF, {}, "inf", id="infinity"),
        ],
    )
    def test_number(
        self, value: Any, kwargs: dict[str, Any], expected: str
    ) -> None:
        """
        Each value is shown as a grouped number.
        """
        assert expected == _apply("number", value, **kwargs)


class TestPriceAndPercent:
    """
    ``price`` shows four places; ``percent`` one, or a fraction as percent.
    """

    @pytest.mark.parametrize(
        ("name", "value", "kwargs", "expected"),
        [
            pytest.param("price", 0.54234, {}, "0.5423", id="price"),
            pytest.param("price", "0.5", {}, "0.5000", id="price-string"),
            pytest.param(
                "price", 0.0234, {"sign": True}, "+0.0234", id="price-up"
            ),
            pytest.param(
                "price", -0.0234, {"sign": True}, "-0.0234", id="price-down"
            ),
            pytest.param(
                "price", 0.5, {"decimals": 2}, "0.50", id="price-decimals"
            ),
            pytest.param("price", "n/a", {}, "n/a", id="price-word"),
            pytest.param("percent", 55.3, {}, "55.3%", id="percent"),
            pytest.param(
                "percent",
                0.553,
                {"fraction": True},
                "55.3%",
                id="percent-fraction",
            ),
            pytest.param(
                "percent", 29.7, {"sign": True}, "+29.7%", id="percent-up"
            ),
            pytest.param(
                "percent", -3.2, {"sign": True}, "-3.2%", id="percent-down"
            ),
            pytest.param(
                "percent",
                85.4,
                {"decimals": 0},
                "85%",
                id="percent-rounded",
            ),
            pytest.param("percent", "12", {}, "12.0%", id="percent-string"),
            pytest.param("percent", "high", {}, "high", id="percent-word"),
            pytest.param("percent", NAN, {}, "nan", id="percent-nan"),
        ],
    )
    def test_price_and_percent(
        self, name: str, value: Any, kwargs: dict[str, Any], expected: str
    ) -> None:
        """
        Each value is shown as a price or a percentage.
        """
        assert expected == _apply(name, value, **kwargs)


class TestDuration:
    """
    ``duration`` shows seconds as its largest units.
    """

    @pytest.mark.parametrize(
        ("value", "kwargs", "expected"),
        [
            pytest.param(867, {}, "14m 27s", id="minutes-seconds"),
            pytest.param(0, {}, "0s", id="zero"),
            pytest.param(0, {"style": "long"}, "0 seconds", id="zero-long"),
            pytest.param(59.6, {}, "1m", id="rounded"),
            pytest.param(3600, {}, "1h", id="one-unit"),
            pytest.param(3661, {}, "1h 1m", id="two-units"),
            pytest.param(90061, {}, "1d 1h", id="at-most-two"),
            pytest.param(90061, {"parts": 3}, "1d 1h 1m", id="three-parts"),
            pytest.param(
                7 * 86400 + 14 * 3600,
                {"style": "long"},
                "7 days, 14 hours",
                id="long",
            ),
            pytest.param(1, {"style": "long"}, "1 second", id="long-singular"),
            pytest.param(
                7200,
                {"style": "long", "parts": 1},
                "2 hours",
                id="long-one-part",
            ),
            pytest.param(-90, {}, "-1m 30s", id="negative"),
            pytest.param("14m 27s", {}, "14m 27s", id="formatted-string"),
            pytest.param(INF, {}, "inf", id="infinity"),
        ],
    )
    def test_duration(
        self, value: Any, kwargs: dict[str, Any], expected: str
    ) -> None:
        """
        Each number of seconds is shown in units.
        """
        assert expected == _apply("duration", value, **kwargs)


class TestAgo:
    """
    ``ago`` says how long ago: from seconds, or from a time and *now*.
    """

    @pytest.mark.parametrize(
        ("value", "now", "expected"),
        [
            pytest.param(180, None, "3 minutes ago", id="seconds"),
            pytest.param(90, None, "1 minute ago", id="one-unit-only"),
            pytest.param(3600, None, "1 hour ago", id="singular"),
            pytest.param(90000, None, "1 day ago", id="days"),
            pytest.param(0.4, None, "just now", id="under-a-second"),
            pytest.param(
                "2024-01-30T14:00:00Z",
                "2024-01-30T14:03:00Z",
                "3 minutes ago",
                id="iso-times",
            ),
            pytest.param(
                datetime(2024, 1, 30, 12, tzinfo=UTC),
                datetime(2024, 1, 30, 14, tzinfo=UTC),
                "2 hours ago",
                id="datetimes",
            ),
            pytest.param("whenever", None, "whenever", id="word"),
            pytest.param(NAN, None, "nan", id="nan"),
        ],
    )
    def test_ago(self, value: Any, now: Any, expected: str) -> None:
        """
        Each value is shown as a time in the past.
        """
        assert expected == _apply("ago", value, now=now)

    def test_ago_in_a_template_measures_from_the_event_time(self) -> None:
        """
        In a template, ``ago`` measures a time against the event's time.
        """
        text = compile_text("{{ then | ago }}")
        context = {
            "then": "2024-01-30T14:00:00Z",
            "time": datetime(2024, 1, 30, 14, 3, tzinfo=UTC),
        }

        assert "3 minutes ago" == text.render(context)


class TestTimes:
    """
    ``time``, ``datetime`` and ``discord_time`` read times in any form.
    """

    @pytest.mark.parametrize(
        ("name", "value", "kwargs", "expected"),
        [
            pytest.param(
                "time",
                datetime(2026, 1, 30, 14, 23, 45, tzinfo=UTC),
                {},
                "14:23:45",
                id="time-datetime",
            ),
            pytest.param(
                "time",
                "2026-01-30T16:23:45+02:00",
                {},
                "14:23:45",
                id="time-offset-to-utc",
            ),
            pytest.param(
                "time",
                datetime(2026, 1, 30, 14, 23, 45),  # noqa: DTZ001
                {},
                "14:23:45",
                id="time-naive-is-utc",
            ),
            pytest.param("time", 0, {}, "00:00:00", id="time-epoch"),
            pytest.param(
                "time", 0, {"fmt": "%H:%M"}, "00:00", id="time-format"
            ),
            pytest.param(
                "datetime",
                1769783025,
                {},
                "2026-01-30 14:23:45 UTC",
                id="datetime-epoch",
            ),
            pytest.param(
                "datetime",
                "2026-01-30T14:23:45Z",
                {},
                "2026-01-30 14:23:45 UTC",
                id="datetime-iso",
            ),
            pytest.param("time", "soon", {}, "soon", id="time-word"),
            pytest.param("time", 1e20, {}, "1e+20", id="time-out-of-range"),
            pytest.param("datetime", [1], {}, "[1]", id="datetime-list-as-is"),
            pytest.param(
                "discord_time",
                1700000000,
                {},
                "<t:1700000000:f>",
                id="discord-time-epoch",
            ),
            pytest.param(
                "discord_time",
                "2023-11-14T22:13:20Z",
                {"style": "R"},
                "<t:1700000000:R>",
                id="discord-time-relative",
            ),
            pytest.param(
                "discord_time",
                "*soon*",
                {},
                "\\*soon\\*",
                id="discord-time-word-escaped",
            ),
        ],
    )
    def test_times(
        self, name: str, value: Any, kwargs: dict[str, Any], expected: str
    ) -> None:
        """
        Each time is shown in UTC, or as it is when it is not a time.
        """
        assert expected == _apply(name, value, **kwargs)

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            pytest.param(
                "2024-01-30T14:00:00Z",
                datetime(2024, 1, 30, 14, tzinfo=UTC),
                id="zulu",
            ),
            pytest.param(0, datetime(1970, 1, 1, tzinfo=UTC), id="epoch"),
            pytest.param(True, None, id="bool"),
            pytest.param("", None, id="empty"),
            pytest.param("tuesday", None, id="word"),
            pytest.param(INF, None, id="infinity"),
        ],
    )
    def test_parse_time(self, value: Any, expected: datetime | None) -> None:
        """
        Times are read as aware UTC datetimes; anything else is ``None``.
        """
        assert expected == parse_time(value)


class TestRanksAndStatus:
    """
    ``medal``, ``status_emoji`` and ``check`` turn values into emoji.
    """

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            pytest.param(1, "🥇", id="first"),
            pytest.param(2, "🥈", id="second"),
            pytest.param(3, "🥉", id="third"),
            pytest.param(4, "4\ufe0f\u20e3", id="fourth-keycap"),
            pytest.param(9, "9\ufe0f\u20e3", id="ninth-keycap"),
            pytest.param(10, "🔟", id="tenth"),
            pytest.param(11, "11.", id="eleventh"),
            pytest.param("2", "🥈", id="numeric-string"),
            pytest.param("first", "first", id="word-as-is"),
            pytest.param(NAN, "nan", id="nan-as-is"),
            pytest.param(INF, "inf", id="infinity-as-is"),
        ],
    )
    def test_medal(self, value: Any, expected: str) -> None:
        """
        Ranks are medals, then keycaps, then numbers.
        """
        assert expected == _apply("medal", value)

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            pytest.param(True, "🟢", id="true"),
            pytest.param(False, "🔴", id="false"),
            pytest.param("healthy", "🟢", id="healthy"),
            pytest.param("BUY", "🟢", id="buy-upper"),
            pytest.param(" Degraded ", "🟡", id="degraded-padded"),
            pytest.param("NEUTRAL", "🟡", id="neutral"),
            pytest.param("SELL", "🔴", id="sell"),
            pytest.param("down", "🔴", id="down"),
            pytest.param("mystery", "⚪", id="unknown-word"),
            pytest.param({"ok": True}, "🟢", id="mapping-ok"),
            pytest.param({"status": "offline"}, "🔴", id="mapping-status"),
            pytest.param(None, "⚪", id="none"),
            pytest.param(Undefined(), "⚪", id="undefined"),
        ],
    )
    def test_status_emoji(self, value: Any, expected: str) -> None:
        """
        Good, warning and bad words get green, yellow and red.
        """
        assert expected == _apply("status_emoji", value)

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            pytest.param(True, "✅", id="true"),
            pytest.param(False, "❌", id="false"),
            pytest.param(1, "✅", id="truthy"),
            pytest.param(0, "❌", id="falsy"),
            pytest.param({"ok": True}, "✅", id="mapping-ok"),
            pytest.param({"passed": False}, "❌", id="mapping-passed"),
        ],
    )
    def test_check(self, value: Any, expected: str) -> None:
        """
        True values get a tick, false ones a cross.
        """
        assert expected == _apply("check", value)


class TestComponents:
    """
    ``failing`` and ``checklist`` read health and audit results.
    """

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            pytest.param(
                {
                    "db": {"ok": False},
                    "api": {"ok": True},
                    "redis": "down",
                    "cache": True,
                    "queue": "healthy",
                    "feed": {"status": "offline"},
                },
                ["db", "redis", "feed"],
                id="mixed-shapes",
            ),
            pytest.param({"api": True}, [], id="all-ok"),
            pytest.param(None, [], id="none"),
            pytest.param(Undefined(), [], id="undefined"),
            pytest.param("db", [], id="string"),
            pytest.param(["db"], [], id="list"),
        ],
    )
    def test_failing(self, value: Any, expected: list[str]) -> None:
        """
        Only the components that are not ok are named, in order.
        """
        assert expected == _apply("failing", value)

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            pytest.param(
                {"risk_limits": {"ok": True, "detail": "Within bounds"}},
                ["Risk Limits: ✅ Within bounds"],
                id="ok-with-detail",
            ),
            pytest.param(
                {"balance_check": False}, ["Balance Check: ❌"], id="bool"
            ),
            pytest.param(
                {"api_limits": {"passed": False, "detail": ""}},
                ["API Limits: ❌"],
                id="empty-detail",
            ),
            pytest.param(
                {"note": "*manual* review"},
                ["Note: \\*manual\\* review"],
                id="word-escaped",
            ),
            pytest.param(None, [], id="none"),
            pytest.param([("a", True)], [], id="not-a-mapping"),
        ],
    )
    def test_checklist(self, value: Any, expected: list[str]) -> None:
        """
        Each check becomes one line of trusted markdown.
        """
        lines = _apply("checklist", value)

        assert expected == lines
        assert all(isinstance(line, Markdown) for line in lines)


class TestWords:
    """
    ``humanize``, ``period``, ``pairs`` and ``size_mb`` make labels.
    """

    @pytest.mark.parametrize(
        ("name", "value", "kwargs", "expected"),
        [
            pytest.param(
                "humanize",
                "trades_analyzed",
                {},
                "Trades Analyzed",
                id="humanize",
            ),
            pytest.param(
                "humanize",
                "polymarket_api",
                {},
                "Polymarket API",
                id="humanize-acronym",
            ),
            pytest.param(
                "humanize", "total_pnl", {}, "Total P&L", id="humanize-pnl"
            ),
            pytest.param(
                "humanize",
                "mean-reversion",
                {},
                "Mean Reversion",
                id="humanize-dash",
            ),
            pytest.param(
                "humanize",
                "BTC_price",
                {},
                "BTC Price",
                id="humanize-upper-kept",
            ),
            pytest.param("humanize", 42, {}, "42", id="humanize-number"),
            pytest.param("period", "7d", {}, "7 Days", id="period-days"),
            pytest.param("period", "1h", {}, "1 Hour", id="period-hour"),
            pytest.param(
                "period", "30m", {}, "30 Minutes", id="period-minutes"
            ),
            pytest.param("period", "2W", {}, "2 Weeks", id="period-upper"),
            pytest.param("period", "daily", {}, "daily", id="period-word"),
            pytest.param("period", "d", {}, "d", id="period-no-count"),
            pytest.param(
                "pairs",
                {"window": 20, "mode": "fast"},
                {},
                "window=20, mode=fast",
                id="pairs",
            ),
            pytest.param(
                "pairs",
                {"a": 1, "b": 2},
                {"sep": " | ", "join": ": "},
                "a: 1 | b: 2",
                id="pairs-separators",
            ),
            pytest.param("pairs", "x=1", {}, "x=1", id="pairs-string"),
            pytest.param("size_mb", 234, {}, "234 MB", id="size-mb"),
            pytest.param("size_mb", 0.5, {}, "0.5 MB", id="size-fraction"),
            pytest.param("size_mb", 10240, {}, "10 GB", id="size-gb"),
            pytest.param("size_mb", 1536, {}, "1.5 GB", id="size-gb-part"),
            pytest.param("size_mb", "n/a", {}, "n/a", id="size-word"),
        ],
    )
    def test_words(
        self, name: str, value: Any, kwargs: dict[str, Any], expected: str
    ) -> None:
        """
        Each value becomes a readable label.
        """
        assert expected == _apply(name, value, **kwargs)


class TestLabels:
    """
    ``humanize`` is the one rule that makes a key or an event name a
    label: the filter, the default embed's title and auto field names.
    """

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            pytest.param("daily_loss", "Daily Loss", id="snake"),
            pytest.param("mean-reversion", "Mean Reversion", id="dash"),
            pytest.param("agent.started", "Agent Started", id="dot"),
            pytest.param("version.1.2", "Version 1.2", id="dot-in-number"),
            pytest.param("a__b..c", "A B C", id="separators-run"),
            pytest.param("BTC_price", "BTC Price", id="upper-kept"),
            pytest.param("API_down", "API Down", id="acronym-upper"),
            pytest.param("total_pnl", "Total P&L", id="pnl"),
            pytest.param("pnl_24h", "P&L 24h", id="period-word"),
            pytest.param(
                "ws_reconnect_failed",
                "WebSocket Reconnect Failed",
                id="websocket",
            ),
            pytest.param("http_status", "HTTP Status", id="http"),
            pytest.param("cpu_pct", "CPU %", id="cpu-pct"),
            pytest.param("ip_address", "IP Address", id="ip"),
            pytest.param("sql_query_ms", "SQL Query ms", id="sql-ms"),
            pytest.param("json_body", "JSON Body", id="json"),
            pytest.param("utc_offset", "UTC Offset", id="utc"),
            pytest.param("used_memory_mb", "Used Memory MB", id="mb"),
            pytest.param("disk_gb", "Disk GB", id="gb"),
            pytest.param("payload_kb", "Payload KB", id="kb"),
            pytest.param("roi", "ROI", id="roi"),
            pytest.param(
                "polymarket_clob_api", "Polymarket CLOB API", id="clob"
            ),
            pytest.param("trade_id", "Trade ID", id="id"),
            pytest.param("", "", id="empty"),
            pytest.param("_.-", "", id="only-separators"),
            pytest.param(42, "42", id="int"),
            pytest.param(1.5, "1.5", id="float"),
            pytest.param(None, "", id="none"),
        ],
    )
    def test_label(self, value: Any, expected: str) -> None:
        """
        Words are split and capitalised; known abbreviations keep theirs.
        """
        assert expected == _apply("humanize", value)


class TestMarkup:
    """
    ``tree`` and ``code`` build trusted markdown around event text.
    """

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            pytest.param(["a", "b", "c"], "├─ a\n├─ b\n└─ c", id="list"),
            pytest.param("one", "└─ one", id="single-string"),
            pytest.param(7, "└─ 7", id="single-number"),
            pytest.param([None, "", "x"], "└─ x", id="empties-skipped"),
            pytest.param(["*x* _y_"], "└─ \\*x\\* \\_y\\_", id="escaped"),
            pytest.param(
                [Markdown("**ok**")], "└─ **ok**", id="markdown-kept"
            ),
            pytest.param([], "", id="empty-list"),
        ],
    )
    def test_tree(self, value: Any, expected: str) -> None:
        """
        Items become tree lines; event text in them is escaped.
        """
        result = _apply("tree", value)

        assert expected == result
        assert isinstance(result, Markdown)

    @pytest.mark.parametrize(
        ("value", "kwargs", "expected"),
        [
            pytest.param("x = 1", {}, "```\nx = 1\n```", id="plain"),
            pytest.param(
                "x = 1", {"lang": "py"}, "```py\nx = 1\n```", id="lang"
            ),
            pytest.param(
                "line1\nline2\nline3\nline4",
                {"limit": 12},
                "```\n…\nline4\n```",
                id="long-keeps-end",
            ),
            pytest.param(42, {}, "```\n42\n```", id="number"),
        ],
    )
    def test_code(
        self, value: Any, kwargs: dict[str, Any], expected: str
    ) -> None:
        """
        Text becomes a fenced block; long text keeps its last lines.
        """
        result = _apply("code", value, **kwargs)

        assert expected == result
        assert isinstance(result, Markdown)

    @pytest.mark.parametrize(
        "value",
        [
            pytest.param("a```b", id="three"),
            pytest.param("a````b", id="four"),
            pytest.param("``````", id="six"),
            pytest.param("x```\n**bold** ```` y", id="mixed"),
        ],
    )
    def test_code_cannot_be_closed_from_inside(self, value: str) -> None:
        """
        No run of backticks in the text can end the fenced block early.
        """
        body = (
            _apply("code", value).removeprefix("```\n").removesuffix("\n```")
        )

        assert "```" not in body


class TestTokensHiddenFirst:
    """
    Filters that escape, cut or re-case text hide tokens before they do:
    done after, the token is no longer found, and shows.
    """

    @pytest.mark.parametrize(
        ("name", "value"),
        [
            pytest.param("tree", [BOT_TOKEN], id="tree-item"),
            pytest.param("tree", BOT_TOKEN, id="tree-one"),
            pytest.param("tree", [Holder(BOT_TOKEN)], id="tree-object"),
            pytest.param("checklist", {BOT_TOKEN: True}, id="checklist-name"),
            pytest.param("checklist", {"x": BOT_TOKEN}, id="checklist-word"),
            pytest.param(
                "checklist",
                {"x": {"ok": False, "detail": BOT_TOKEN}},
                id="checklist-detail",
            ),
            pytest.param(
                "checklist", {WEBHOOK_URL: True}, id="checklist-webhook-name"
            ),
            pytest.param("discord_time", BOT_TOKEN, id="discord-time"),
            pytest.param("humanize", WEBHOOK_URL, id="humanize-webhook"),
            pytest.param("humanize", BOT_TOKEN, id="humanize-bot"),
            pytest.param(
                "humanize", f"key_{BOT_TOKEN}", id="humanize-glued-bot"
            ),
        ],
    )
    def test_hidden(self, name: str, value: Any) -> None:
        """The token is hidden in what the filter makes."""
        shown = str(_apply(name, value))
        assert leaked(shown) is None, shown
        assert "(redacted)" in shown

    @pytest.mark.parametrize("cut", range(40))
    def test_code_cut_inside_the_url(self, cut: int) -> None:
        """
        ``code`` keeps a long text's end; cut anywhere in
        ``/webhooks/<id>/``, the token it keeps is still hidden.
        """
        start = WEBHOOK_URL.index("/webhooks/") + cut
        text = "x" * 3000 + " " + WEBHOOK_URL + " refused"
        # code keeps the last limit - 2 characters (and "…" before them)
        limit = len(text) - text.index(WEBHOOK_URL) - start + 2

        shown = _apply("code", text, limit=limit)

        assert leaked(shown) is None, shown


class TestMissingAndWrongTypes:
    """
    Missing values render empty; odd values never make a filter raise.
    """

    @pytest.mark.parametrize("missing", MISSING)
    @pytest.mark.parametrize("name", TEXT_FILTERS)
    def test_missing_renders_empty(self, name: str, missing: Any) -> None:
        """
        A missing value formats as the empty string.
        """
        assert "" == _apply(name, missing)

    @pytest.mark.parametrize("missing", MISSING)
    @pytest.mark.parametrize("name", ["checklist", "failing"])
    def test_missing_lists_are_empty(self, name: str, missing: Any) -> None:
        """
        A missing mapping gives no items.
        """
        assert [] == _apply(name, missing)

    @pytest.mark.parametrize("name", NUMERIC_FILTERS)
    def test_int_too_large_for_a_float_is_shown(self, name: str) -> None:
        """
        An int beyond float range is shown, not raised.
        """
        result = _apply(name, HUGE)

        assert str(HUGE)[:100] in result.replace(",", "")

    def test_every_filter_has_a_table(self) -> None:
        """
        The tables above cover exactly the filters templates can use.
        """
        covered = {
            "ago",
            "check",
            "checklist",
            "code",
            "datetime",
            "discord_time",
            "duration",
            "failing",
            "humanize",
            "medal",
            "money",
            "number",
            "pairs",
            "percent",
            "period",
            "price",
            "size_mb",
            "status_emoji",
            "time",
            "tree",
        }

        assert covered == set(FILTERS)

    @settings(max_examples=150, deadline=None, database=None)
    @given(
        name=st.sampled_from(sorted(FILTERS)),
        value=st.one_of(
            st.none(),
            st.booleans(),
            st.integers(),
            st.sampled_from([HUGE, -HUGE]),
            st.floats(allow_nan=True, allow_infinity=True),
            st.text(max_size=40),
            st.binary(max_size=10),
            st.lists(st.integers(), max_size=3),
            st.dictionaries(st.text(max_size=5), st.booleans(), max_size=3),
            st.datetimes(),
        ),
    )
    def test_no_filter_raises(self, name: str, value: Any) -> None:
        """
        Whatever an event holds, every filter returns instead of raising.
        """
        result = _apply(name, value)

        assert isinstance(result, (str, list))


class TestQuickPaths:
    """
    The filters' short cuts give what the general code gives.
    """

    @staticmethod
    def _reference_sign(number: float, sign: bool, places: Any) -> str:
        """The sign as it was always worked out: round, then compare."""
        if places is not None:
            number = round(number, places)
        if number < 0:
            return "-"
        return "+" if sign and number > 0 else ""

    @settings(max_examples=1500, deadline=None, database=None)
    @given(
        number=st.one_of(
            st.floats(allow_nan=False, allow_infinity=False),
            st.sampled_from([0.0, -0.0, 1.0, -1.0, 0.995, -0.995, 0.5, -0.5]),
            st.floats(min_value=-2, max_value=2),
        ),
        sign=st.booleans(),
        places=st.one_of(
            st.none(), st.integers(min_value=-3, max_value=8), st.just(2.5)
        ),
    )
    @pytest.mark.slow
    def test_sign(self, number: float, sign: bool, places: Any) -> None:
        """
        ``_sign`` answers as rounding every number first does, and fails
        as it does for places ``round`` does not take.
        """
        from polybot_loghandler._format import _sign

        try:
            expected = self._reference_sign(number, sign, places)
        except TypeError:
            with pytest.raises(TypeError):
                _sign(number, sign, places)
        else:
            assert expected == _sign(number, sign, places)

    @settings(max_examples=500, deadline=None, database=None)
    @given(
        when=st.datetimes(timezones=st.just(UTC)),
        fmt=st.sampled_from(
            ["%H:%M:%S", "%Y-%m-%d %H:%M:%S UTC", "%Y", "%d %b"]
        ),
    )
    @pytest.mark.slow
    def test_strftime(self, when: datetime, fmt: str) -> None:
        """
        The formats written out by hand read as ``strftime`` writes them.
        """
        from polybot_loghandler._format import _strftime

        assert when.strftime(fmt) == _strftime(when, fmt)

    @pytest.mark.parametrize(
        "value", [0.1, -2.5, 10**400, 7, True, "1,234.5", "x", None, []]
    )
    def test_as_number(self, value: Any) -> None:
        """
        A float is taken as it is, as ``float()`` would give it back.
        """
        from polybot_loghandler._format import _as_number

        expected = (
            float(value) if isinstance(value, float) else _as_number(value)
        )
        assert expected == _as_number(value)

    @settings(max_examples=500, deadline=None, database=None)
    @given(
        value=st.one_of(
            st.sampled_from(
                ["ok", " SELL ", "Under Review", "hold", "", "x", "DOWN"]
            ),
            st.text(max_size=10),
            st.booleans(),
            st.none(),
            st.integers(),
            st.dictionaries(
                st.sampled_from(["ok", "status"]),
                st.one_of(st.booleans(), st.sampled_from(["up", "down"])),
                max_size=2,
            ),
        )
    )
    @pytest.mark.slow
    def test_status_emoji_and_check(self, value: Any) -> None:
        """
        The word table and the quick bool answer agree with the sets.
        """
        from collections.abc import Mapping

        from polybot_loghandler._format import (
            _BAD,
            _GOOD,
            _WARN,
            check,
            status_emoji,
        )

        def reference(value: Any) -> str:
            if isinstance(value, bool):
                return "🟢" if value else "🔴"
            if isinstance(value, Mapping):
                return reference(value.get("ok", value.get("status")))
            word = "" if value is None else str(value).strip().lower()
            for words, mark in ((_GOOD, "🟢"), (_WARN, "🟡"), (_BAD, "🔴")):
                if word in words:
                    return mark
            return "⚪"

        assert reference(value) == status_emoji(value)
        if isinstance(value, bool):
            assert ("✅" if value else "❌") == check(value)

    @settings(max_examples=500, deadline=None, database=None)
    @given(
        value=st.one_of(
            st.sampled_from(["polymarket_api", "pnl", "trades-analyzed"]),
            st.text(max_size=12),
            st.text(min_size=60, max_size=80),
        )
    )
    @pytest.mark.slow
    def test_humanize_remembers_nothing_wrong(self, value: str) -> None:
        """
        humanize gives the same label the first time and every time.
        """
        from polybot_loghandler._labels import ACRONYMS, humanize

        # a dot separates words unless it stands between two digits
        spaced = "".join(
            " "
            if c in "_-"
            or (
                c == "."
                and not (
                    value[i - 1 : i].isdecimal()
                    and value[i + 1 : i + 2].isdecimal()
                )
            )
            else c
            for i, c in enumerate(value)
        )
        expected = " ".join(
            ACRONYMS.get(w.lower(), w if w.isupper() else w.capitalize())
            for w in spaced.split()
        )
        assert expected == humanize(value)
        assert expected == humanize(value)


def _reference_tree(items: Any) -> str:
    """``tree`` written plainly: what the quick one must give."""
    if items is None or isinstance(items, Undefined):
        return ""
    if isinstance(items, str) or not isinstance(items, Iterable):
        items = [items]
    lines = [
        i if isinstance(i, Markdown) else escape_markdown(str(i))
        for i in items
        if not (i is None or isinstance(i, Undefined)) and str(i) != ""
    ]
    return "\n".join(
        ("└─ " if n == len(lines) - 1 else "├─ ") + line
        for n, line in enumerate(lines)
    )


class TestTreeQuickly:
    @settings(max_examples=500, deadline=None, database=None)
    @given(
        items=st.one_of(
            st.lists(
                st.one_of(
                    st.text(max_size=8),
                    st.text(max_size=8).map(Markdown),
                    st.none(),
                    st.integers(),
                    st.just(ChainableUndefined()),
                ),
                max_size=6,
            ),
            st.tuples(st.text(max_size=8), st.integers()),
            st.text(max_size=8),
            st.integers(),
            st.none(),
        )
    )
    @pytest.mark.slow
    def test_tree(self, items: Any) -> None:
        """
        Any items give what the plain version gives, as trusted markup.
        """
        got = _apply("tree", items)

        assert _reference_tree(items) == got
        assert isinstance(got, Markdown)


class TestCounted:
    @pytest.mark.parametrize(
        ("count", "noun", "plural", "expected"),
        [
            pytest.param(0, "event", None, "0 events", id="zero"),
            pytest.param(1, "event", None, "1 event", id="one"),
            pytest.param(2, "event", None, "2 events", id="two"),
            pytest.param(-1, "event", None, "-1 events", id="minus-one"),
            pytest.param(
                1_204, "message", None, "1,204 messages", id="thousands"
            ),
            pytest.param(
                1, "category", "categories", "1 category", id="one-irregular"
            ),
            pytest.param(
                3, "category", "categories", "3 categories", id="irregular"
            ),
            pytest.param(
                2,
                "running process",
                "running processes",
                "2 running processes",
                id="phrase",
            ),
        ],
    )
    def test_counted(
        self, count: int, noun: str, plural: str | None, expected: str
    ) -> None:
        """The noun is plural unless the count is exactly one."""
        assert expected == counted(count, noun, plural)
