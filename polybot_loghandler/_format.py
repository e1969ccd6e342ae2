"""
Formatting helpers offered to routing templates as Jinja2 filters.

Each turns one event value into the text the Polybot messages use:
``$20.00``, ``+$5.94``, ``0.5423``, ``+29.7%``, ``14m 27s``, ``🥇``.
A missing value (undefined or ``None``) formats as the empty string, so
an embed field built from it is left out; a value of the wrong type is
shown as it is rather than raising.

``counted`` is not a filter: it puts a count before a noun (``1 event``,
``2 events``) in what the command line and the library's notices say.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

from jinja2 import Undefined

from ._labels import humanize
from ._limits import clamp_tail
from ._text import Markdown, encodable, redact_text, safe_markdown
from ._values import text_of

__all__ = ["FILTERS", "counted", "parse_time"]


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """
    *count* and *noun*, the noun in the plural unless *count* is 1.

    ``counted(1, "event")`` is ``1 event``, ``counted(2, "event")`` is
    ``2 events``; *plural* is for nouns that do not take an "s"
    (``counted(3, "category", "categories")``). Thousands are grouped:
    ``1,204 messages``.
    """
    word = noun if count == 1 else plural or f"{noun}s"
    return f"{count:,} {word}"


def _missing(value: Any) -> bool:
    return value is None or isinstance(value, Undefined)


def _as_number(value: Any) -> float | None:
    if value.__class__ is float:  # the common case: as float() gives it
        return value
    if isinstance(value, bool):
        return None
    try:
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            return float(value.replace(",", ""))
    except (ValueError, OverflowError):  # not a number, or too large
        return None
    return None


def _shown(value: Any) -> str:
    """*value* as text, for values a filter cannot format; never raises."""
    return text_of(value)


def _sign(number: float, sign: bool, places: int | None = None) -> str:
    exact = places is None or places.__class__ is int  # round() cannot fail
    if exact and not sign and number >= 0:
        return ""  # rounding cannot make it negative
    # rounding to whole numbers or finer keeps 1 and more away from 0
    if places is not None and not (exact and places >= 0 and abs(number) >= 1):
        number = round(number, places)  # -0.001 shows as 0.00, unsigned
    if number < 0:
        return "-"
    return "+" if sign and number > 0 else ""


def number(value: Any, decimals: int | None = None, sign: bool = False) -> str:
    """
    ``45234`` → ``45,234``; *decimals* fixes the places, *sign* adds ``+``.
    """
    if _missing(value):
        return ""
    num = _as_number(value)
    if num is None or not math.isfinite(num):
        return _shown(value)
    if decimals is None:
        body = f"{abs(num):,.0f}" if num == int(num) else f"{abs(num):,}"
    else:
        body = f"{abs(num):,.{decimals}f}"
    return _sign(num, sign, decimals) + body


def money(
    value: Any,
    sign: bool = False,
    decimals: int | str = 2,
    loss: bool = False,
) -> str:
    """
    Dollars: ``20`` → ``$20.00``, ``-105.5`` → ``-$105.50``.

    *sign* shows ``+`` on gains (``+$5.94``); ``decimals="auto"`` drops a
    ``.00`` (``$50``) but keeps cents when there are any; *loss* shows
    the amount as a loss whichever sign it was logged with
    (``100`` → ``-$100.00``).
    """
    if (  # the usual: a finite float, in dollars and cents
        value.__class__ is float
        and decimals == 2
        and not loss
        and -math.inf < value < math.inf
    ):
        return f"{_sign(value, sign, 2)}${abs(value):,.2f}"
    if _missing(value):
        return ""
    num = _as_number(value)
    if num is None or not math.isfinite(num):
        return _shown(value)
    if loss:
        num = -abs(num)
    places = 2 if decimals == "auto" else int(decimals)
    body = f"{abs(num):,.{places}f}"
    if decimals == "auto" and body.endswith(".00"):
        body = body[:-3]
    return f"{_sign(num, sign, places)}${body}"


def price(value: Any, decimals: int = 4, sign: bool = False) -> str:
    """
    A probability price with four places: ``0.5423``; ``+0.0234`` signed.
    """
    if _missing(value):
        return ""
    num = _as_number(value)
    if num is None or not math.isfinite(num):
        return _shown(value)
    return f"{_sign(num, sign, decimals)}{abs(num):.{decimals}f}"


def percent(
    value: Any,
    decimals: int = 1,
    sign: bool = False,
    fraction: bool = False,
) -> str:
    """
    ``55.3`` → ``55.3%``; *fraction* reads ``0.553`` as 55.3 %.

    Trailing ``.0`` is kept only when *decimals* asks for it; with
    ``decimals=0`` the value is rounded (``85%``).
    """
    if _missing(value):
        return ""
    num = _as_number(value)
    if num is None or not math.isfinite(num):
        return _shown(value)
    if fraction:
        num *= 100
    return f"{_sign(num, sign, decimals)}{abs(num):.{decimals}f}%"


_UNITS_SHORT = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))
_UNITS_LONG = (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1))


def duration(value: Any, style: str = "short", parts: int = 2) -> str:
    """
    Seconds as ``14m 27s`` (short) or ``7 days, 14 hours`` (long).

    At most *parts* units are shown, largest first. A string is taken to be
    already formatted and is shown as it is.
    """
    if _missing(value):
        return ""
    num = _as_number(value)
    if num is None or not math.isfinite(num):
        return _shown(value)
    seconds = round(abs(num))
    if seconds == 0:
        return "0s" if style == "short" else "0 seconds"
    units = _UNITS_SHORT if style == "short" else _UNITS_LONG
    shown: list[str] = []
    for name, size in units:
        count, seconds = divmod(seconds, size)
        if count and len(shown) < parts:
            if style == "short":
                shown.append(f"{count}{name}")
            else:
                shown.append(f"{count} {name}{'' if count == 1 else 's'}")
        elif shown:
            break
    sep = " " if style == "short" else ", "
    return ("-" if num < 0 else "") + sep.join(shown)


def parse_time(value: Any) -> datetime | None:  # noqa: PLR0911 - per form
    """
    Read a time given as a datetime, epoch seconds or an ISO 8601 string.

    Naive times are taken as UTC. Returns ``None`` for anything else.
    """
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, tz=timezone.utc)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str) and value:
        text = value.strip()
        try:
            return parse_time(float(text))  # epoch seconds written as text
        except ValueError:
            pass
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
    return None


def time(value: Any, fmt: str = "%H:%M:%S") -> str:
    """
    A time of day in UTC: ``14:23:45``; *fmt* is a ``strftime`` format.
    """
    if value.__class__ is datetime and value.tzinfo is timezone.utc:
        return _strftime(value, fmt)  # the usual: an event's own time
    if _missing(value):
        return ""
    parsed = parse_time(value)
    if parsed is None:
        return _shown(value)
    return _strftime(parsed.astimezone(timezone.utc), fmt)


_TIME_OF_DAY = "%H:%M:%S"
_DATETIME = "%Y-%m-%d %H:%M:%S UTC"


def _strftime(when: datetime, fmt: str) -> str:
    """``when.strftime(fmt)``, without its cost for the formats we use."""
    if when.__class__ is datetime:
        if fmt == _TIME_OF_DAY:
            return f"{when.hour:02d}:{when.minute:02d}:{when.second:02d}"
        if fmt == _DATETIME and when.year >= 1000:  # strftime pads no less
            return (
                f"{when.year}-{when.month:02d}-{when.day:02d} "
                f"{when.hour:02d}:{when.minute:02d}:{when.second:02d} UTC"
            )
    return when.strftime(fmt)


def datetime_(value: Any, fmt: str = "%Y-%m-%d %H:%M:%S UTC") -> str:
    """
    A full UTC time: ``2026-01-30 14:23:45 UTC``.
    """
    return time(value, fmt)


#: Numbers from here up are epoch times (2001-09-09 on), not ages in seconds.
_EPOCH_FROM = 1e9


def ago(value: Any, now: Any = None) -> str:
    """
    How long ago: an age in seconds (``180`` → ``3 minutes ago``) or a time.

    A time (ISO 8601, a datetime, or a number of a billion or more, read
    as epoch seconds) is measured against *now* (the event's time in
    templates).
    """
    if _missing(value):
        return ""
    num = _as_number(value)
    if num is None or abs(num) >= _EPOCH_FROM:
        then = parse_time(value)
        reference = parse_time(now) or datetime.now(timezone.utc)
        if then is None:
            return _shown(value)
        num = (reference - then).total_seconds()
    if not math.isfinite(num):
        return _shown(value)
    if num < 1:
        return "just now"
    return duration(num, style="long", parts=1) + " ago"


_MEDALS = ("🥇", "🥈", "🥉")
_KEYCAPS = tuple(f"{d}\ufe0f\u20e3" for d in "456789")
_RANK_MARKS = (*_MEDALS, *_KEYCAPS, "🔟")


def medal(rank: Any) -> str:
    """
    A rank as 🥇 🥈 🥉, then keycaps 4️⃣ … 9️⃣, 🔟, then ``11.``.
    """
    if _missing(rank):
        return ""
    if isinstance(rank, bool) or (
        isinstance(rank, float) and not rank.is_integer()
    ):
        return _shown(rank)  # not a rank
    try:
        place = int(rank)
    except (TypeError, ValueError, OverflowError):
        return _shown(rank)
    if 1 <= place <= len(_RANK_MARKS):
        return _RANK_MARKS[place - 1]
    return f"{text_of(place)}."


_GOOD = {
    "ok",
    "healthy",
    "online",
    "running",
    "up",
    "active",
    "buy",
    "pass",
    "passed",
    "green",
    "operational",
    "connected",
    "success",
    "true",
    "yes",
}
_WARN = {
    "warning",
    "warn",
    "monitoring",
    "degraded",
    "under review",
    "neutral",
    "hold",
    "slow",
    "paused",
    "pending",
    "review",
    "yellow",
}
_BAD = {
    "down",
    "failed",
    "fail",
    "error",
    "offline",
    "stopped",
    "sell",
    "red",
    "critical",
    "unhealthy",
    "disconnected",
    "false",
    "no",
}


def status_emoji(value: Any) -> str:
    """
    🟢 / 🟡 / 🔴 for a bool or a status word (``healthy``, ``SELL``, ...).

    Unknown words and missing values give ⚪.
    """
    if value.__class__ is str:  # the usual: a word
        word = value.strip().lower()
    elif isinstance(value, bool):
        return "🟢" if value else "🔴"
    elif isinstance(value, Mapping):
        return status_emoji(value.get("ok", value.get("status")))
    else:
        word = "" if _missing(value) else text_of(value).strip().lower()
    return _STATUS_EMOJI.get(word, "⚪")


_STATUS_EMOJI = {
    **dict.fromkeys(_BAD, "🔴"),
    **dict.fromkeys(_WARN, "🟡"),
    **dict.fromkeys(_GOOD, "🟢"),
}


def check(value: Any) -> str:
    """
    ✅ for a true value, ❌ for a false one, nothing when missing.
    """
    if value.__class__ is bool:
        return "✅" if value else "❌"
    if _missing(value):
        return ""
    if isinstance(value, Mapping):
        return check(value.get("ok", value.get("passed")))
    if isinstance(value, str):
        return "✅" if _ok(value) else "❌"  # "false", "no", "failed": ❌
    return "✅" if value else "❌"


def _ok(status: Any) -> bool:
    if isinstance(status, Mapping):
        status = status.get("ok", status.get("status"))
    if isinstance(status, str):
        return status.strip().lower() in _GOOD
    return bool(status)


def failing(components: Any) -> list[str]:
    """
    Names of the components that are not ok.

    Takes a mapping of name → ``{ok: bool, ...}`` or name → bool (or a
    status word), so both shapes health checks use work.
    """
    if not isinstance(components, Mapping):
        return []
    return [
        text_of(name) for name, status in components.items() if not _ok(status)
    ]


def checklist(items: Any) -> list[Markdown]:
    """
    A mapping of check → result as lines: ``Risk Limits: ✅ Within bounds``.

    A result is ``{ok, detail}``, a bool, or a word; pipe the result to
    ``tree`` to draw it as the Polybot messages do.
    """
    if not isinstance(items, Mapping):
        return []
    lines: list[Markdown] = []
    for name, result in items.items():
        if isinstance(result, Mapping):
            mark = check(result.get("ok", result.get("passed")))
            detail = result.get("detail")
        else:
            mark = check(result) if isinstance(result, bool) else ""
            detail = None if isinstance(result, bool) else result
        # safe_markdown hides tokens before it escapes, and humanize
        # before it changes case: escaped or re-cased, a token is no
        # longer found
        parts = [safe_markdown(humanize(name)) + ":", mark]
        if detail is not None and detail != "":
            parts.append(safe_markdown(text_of(detail)))
        lines.append(Markdown(" ".join(p for p in parts if p)))
    return lines


_PERIOD_UNITS = {"m": "Minute", "h": "Hour", "d": "Day", "w": "Week"}


def period(value: Any) -> str:
    """
    A period code as words: ``7d`` → ``7 Days``, ``1h`` → ``1 Hour``.
    """
    if _missing(value):
        return ""
    text = text_of(value).strip()
    unit = _PERIOD_UNITS.get(text[-1:].lower())
    count = text[:-1]
    if unit is None or not count.isdigit():
        return text
    return f"{count} {unit}{'' if count == '1' else 's'}"


def pairs(value: Any, sep: str = ", ", join: str = "=") -> str:
    """
    A mapping as ``key=value, key=value``.
    """
    if _missing(value):
        return ""
    if not isinstance(value, Mapping):
        return _shown(value)
    return sep.join(
        f"{text_of(k)}{join}{text_of(v)}" for k, v in value.items()
    )


def size_mb(value: Any) -> str:
    """
    Megabytes, readably: ``234`` → ``234 MB``, ``10240`` → ``10 GB``.
    """
    if _missing(value):
        return ""
    num = _as_number(value)
    if num is None or not math.isfinite(num):
        return _shown(value)
    if abs(num) >= 1024:
        gb = num / 1024
        return f"{gb:.0f} GB" if gb == int(gb) else f"{gb:.1f} GB"
    return f"{num:.0f} MB" if num == int(num) else f"{num:.1f} MB"


def tree(items: Any) -> Markdown:
    """
    Lines as a tree: ``├─ a`` … ``└─ z``; empty items are skipped.

    Items from events are markdown-escaped; the result is trusted markup.
    """
    if items.__class__ is not list:  # a template's [...] is a list
        if _missing(items):
            return Markdown("")
        if isinstance(items, str) or not isinstance(items, Iterable):
            items = [items]
    lines = []
    for item in items:
        if item.__class__ is str:
            text = safe_markdown(item)  # tokens hidden before escaping
        elif isinstance(item, Markdown):
            text = item
        elif _missing(item):
            continue
        else:
            text = safe_markdown(text_of(item))
        if text:
            lines.append(text)
    if not lines:
        return Markdown("")
    last = lines.pop()
    return Markdown(
        "".join(["├─ " + line + "\n" for line in lines]) + "└─ " + last
    )


def code(value: Any, lang: str = "", limit: int = 1800) -> Markdown:
    """
    A fenced code block; backtick runs inside are broken so it cannot end.

    Text over *limit* characters keeps its end (a traceback's last lines
    say what went wrong), so the block is never cut open by a limit.
    """
    if _missing(value):
        return Markdown("")
    # tokens hidden before the cut: cut inside "/webhooks/<id>/", the
    # token would be left bare, and no longer found
    text = clamp_tail(redact_text(encodable(_shown(value))), limit)
    return Markdown(f"```{lang}\n{fence_safe(text)}\n```")


def fence_safe(text: str) -> str:
    """Break every run of backticks so *text* cannot close a code fence."""
    return _BACKTICK_RUN.sub("`\u200b", text)


_BACKTICK_RUN = re.compile(r"`(?=`)")


def discord_time(value: Any, style: str = "f") -> Markdown:
    """
    Discord's ``<t:UNIX:STYLE>`` tag, shown in each reader's own time zone.
    """
    parsed = parse_time(value) if not _missing(value) else None
    if parsed is None:
        return Markdown(
            "" if _missing(value) else safe_markdown(text_of(value))
        )
    return Markdown(f"<t:{int(parsed.timestamp())}:{style}>")


FILTERS: dict[str, Any] = {
    "ago": ago,
    "check": check,
    "checklist": checklist,
    "code": code,
    "datetime": datetime_,
    "discord_time": discord_time,
    "duration": duration,
    "failing": failing,
    "humanize": humanize,
    "medal": medal,
    "money": money,
    "number": number,
    "pairs": pairs,
    "percent": percent,
    "period": period,
    "price": price,
    "size_mb": size_mb,
    "status_emoji": status_emoji,
    "time": time,
    "tree": tree,
}
