"""
The fields of ``fields: auto`` and of the default embed, readably.

One field per event field, named and shown as a person reads them.
A field's name is its key as a label (``daily_loss`` → ``Daily Loss``,
see :func:`~._labels.humanize`). A number (an int or a float, never a
bool) is shown by what its key says it is, read from the key's last
word, a trailing period such as ``24h`` or ``today`` passed over
(``pnl_24h`` is a P&L):

=====================================  ===============  =============
key                                    shown as         example
=====================================  ===============  =============
a word ``pct`` or ``percent``; last    ``percent``      ``62.5%``
word ``roi``; ``win_rate``,
``hit_rate``, ``success_rate``
last word ``s``, ``sec``, ``secs``,    ``duration``     ``3m``,
``seconds``, ``duration``,                              ``2.4s``
``uptime``, ``runtime``
last word ``ms``                       milliseconds     ``230 ms``
last word ``mb``                       ``size_mb``      ``454.4 MB``
last word ``pnl``, ``profit``,         ``money``        ``-$102.18``
``loss``, ``balance``, ``capital``,
``allocated``, ``amount``, ``fee``,
``fees``, ``cost``, ``usd``,
``equity``, ``drawdown``
=====================================  ===============  =============

Left out on purpose: ``price``, ``stop_loss`` and ``take_profit``
(prices are probabilities, 0 to 1); ``value``, ``limit``, ``size`` and
``remaining`` (their unit depends on the event); any other ``_rate``.
A unit at the end of the key is left out of the name when the value
shows it (``latency_ms: 230`` → ``Latency: 230 ms``). Other numbers,
numbers that are not finite, and every other value are shown as before;
values are redacted by key first, so a secret-looking key shows
``(redacted)`` whatever it held.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from enum import Enum
from typing import Any

from ._events import LogEvent, redact_value
from ._format import duration, money, number, percent, size_mb
from ._labels import humanize
from ._text import encodable, neutralize_mentions, redact_text, safe_markdown
from ._values import repr_of, text_of

__all__ = ["auto_fields"]

_AUTO_INLINE_CHARS = 40


def auto_fields(
    ev: LogEvent, exclude: frozenset[str] = frozenset()
) -> list[dict[str, Any]]:
    """One field per event field, in the order the event gave them."""
    fields: list[dict[str, Any]] = []
    for name, value in ev.fields.items():
        key = name if name.__class__ is str else text_of(name)
        if value is None or key.startswith("_") or key in exclude:
            continue
        label, text = _field(key, redact_value(key, value))
        if not text:
            continue
        fields.append(
            {
                "name": safe_markdown(label),
                "value": text,
                "inline": len(text) <= _AUTO_INLINE_CHARS and "\n" not in text,
            }
        )
    return fields


def _field(key: str, value: Any) -> tuple[str, str]:
    """The name and the text of one auto field, never raising."""
    label = humanize(key) or key  # "-" has no words: keep it as it is
    if not isinstance(value, (int, float)) or isinstance(value, (bool, Enum)):
        return label, _show(value)
    try:
        shown = _shown_number(key, value)
    except Exception:  # a number type of the application's own
        shown = None
    if shown is None:
        return label, _show(value)
    text, unit = shown
    if unit:  # the value says the unit: the name need not
        head, _, tail = label.rpartition(" ")
        if head and tail.lower() in _UNIT_LABELS:
            label = head
    return label, text


def _shown_number(key: str, value: float) -> tuple[str, bool] | None:
    """
    *value* as the text its key calls for, or ``None``.

    With the text, whether it names a unit the key ends with (so the
    field's name can leave it out). ``None`` when the key calls for
    nothing or the value is not a finite number.
    """
    try:
        if not math.isfinite(value):
            return None
    except OverflowError:  # an int too large for a float
        return None
    words = _WORDS.findall(key.lower())
    while len(words) > 1 and _PERIOD.fullmatch(words[-1]):
        words.pop()
    if not words:
        return None
    last = words[-1]
    kind: Callable[[float], str] | None
    if "pct" in words or "percent" in words or tuple(words[-2:]) in _RATES:
        kind = _percent
    elif tuple(words[-2:]) in _PRICES:
        return None
    else:
        kind = _BY_LAST_WORD.get(last)
    if kind is None:
        return None
    return kind(value), last in _UNITS


def _percent(value: float) -> str:
    # an int was logged as a whole number of percent: no ".0" to add
    return percent(value, decimals=0 if isinstance(value, int) else 1)


def _seconds(value: float) -> str:
    # duration counts whole seconds: under a minute, a fraction is kept
    # (a 2.4 s latency is not "2s")
    if abs(value) < 60 and value != int(value):
        return number(value, decimals=1) + "s"
    return duration(value)


def _milliseconds(value: float) -> str:
    places = None if value == int(value) else 1
    return number(value, decimals=places) + " ms"


_MONEY_WORDS = (
    "pnl profit loss balance capital allocated amount fee fees cost usd"
    " equity drawdown"
)
_SECONDS_WORDS = "s sec secs seconds duration uptime runtime"
_BY_LAST_WORD: dict[str, Callable[[float], str]] = {
    **dict.fromkeys(_MONEY_WORDS.split(), money),
    **dict.fromkeys(_SECONDS_WORDS.split(), _seconds),
    "roi": _percent,
    "ms": _milliseconds,
    "mb": size_mb,
}
#: Orders' price levels, though their last words are money words.
_PRICES = frozenset({("stop", "loss"), ("take", "profit")})
#: A rate that the trading floor logs in percent (``win_rate: 55.3``).
_RATES = frozenset({("win", "rate"), ("hit", "rate"), ("success", "rate")})
#: Last words that are units the formatted value shows again.
_UNITS = frozenset(
    {"s", "sec", "secs", "seconds", "ms", "mb", "usd", "pct", "percent"}
)
#: Those units as humanize writes them, to find them in a label.
_UNIT_LABELS = frozenset(
    {"s", "sec", "secs", "seconds", "ms", "mb", "usd", "%", "percent"}
)
_WORDS = re.compile(r"[^_.\-\s]+")
#: A key's trailing period, which says when, not what: ``pnl_24h``.
_PERIOD = re.compile(r"\d+[smhdw]|today|hourly|daily|weekly|monthly")


def _show(value: Any) -> str:
    """A field value as readable, safe text; never raises."""
    try:
        return _show_value(value)
    except Exception:
        return f"<unprintable {type(value).__name__}>"


def _show_value(value: Any) -> str:
    if isinstance(value, bool):
        text = "yes" if value else "no"
    elif isinstance(value, float):
        text = f"{value:,.6g}" if math.isfinite(value) else str(value)
    elif isinstance(value, (str, int)):
        text = text_of(value)
    elif isinstance(value, bytes):
        text = value.decode("utf-8", errors="replace")
    elif isinstance(value, (Mapping, list, tuple)):
        try:
            dumped = json.dumps(value, default=text_of, ensure_ascii=False)
        except (TypeError, ValueError):
            dumped = repr_of(value)
        dumped = redact_text(encodable(dumped)).replace("`", "'")
        return "`" + neutralize_mentions(dumped) + "`"
    else:
        text = text_of(value)
    return safe_markdown(text)
