"""
The handler reporting on itself: periodic summaries and early warnings.

Pure: these functions turn the pipeline's counters (``handler.stats()``)
into embeds. The engine decides when to send them and where.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ._format import counted, duration
from ._losses import Loss
from ._text import escape_markdown

__all__ = ["alert_embed", "drops", "summary_embed"]

GREEN = 0x2ECC71
ORANGE = 0xFFA000
RED = 0xE74C3C

#: Drop reasons that are not news when they begin: the end of the
#: process says so itself; a mute was asked for, and its end says what
#: it held back.
QUIET_REASONS = frozenset({Loss.SHUTDOWN.value, Loss.MUTED.value})


def drops(stats: Mapping[str, int]) -> dict[str, int]:
    """Drop counters by reason: ``{"queue_full": 3, ...}``."""
    return {
        key.removeprefix("dropped."): n
        for key, n in stats.items()
        if key.startswith("dropped.") and n
    }


def summary_embed(
    now: Mapping[str, int],
    before: Mapping[str, int],
    period: float,
    disabled: Sequence[str] = (),
) -> dict[str, Any] | None:
    """
    What happened since the last summary, or ``None`` if nothing did.

    Args:
        now: The counters now.
        before: The counters at the last summary (empty for the first).
        period: Seconds since the last summary.
        disabled: Destinations disabled so far (already redacted).
    """

    def delta(key: str) -> int:
        return now.get(key, 0) - before.get(key, 0)

    dropped = {
        reason: n - drops(before).get(reason, 0)
        for reason, n in drops(now).items()
    }
    dropped = {reason: n for reason, n in dropped.items() if n > 0}
    activity = (
        "accepted",
        "delivered",
        "coalesced",
        "folded",
        "retries",
        "console",
        "console.not_shown",
    )
    if not dropped and not any(delta(k) for k in activity):
        return None  # an idle hour is not worth a message
    backlog = now.get("queued", 0) + now.get("pending", 0)
    spooled = now.get("spool.pending", 0)
    fields = [
        _field(
            "Delivered",
            f"{counted(delta('delivered'), 'event')} in "
            f"{counted(delta('sent.messages'), 'message')}",
        ),
        _field("Coalesced", f"{delta('coalesced'):,}"),
        _field(
            "Retries · 429s",
            f"{delta('retries'):,} · {delta('rate_limited'):,}",
        ),
        _field("Dropped", _reasons(dropped) if dropped else "none"),
        _field(
            "Waiting",
            f"{backlog:,} in memory"
            + (f" · {spooled:,} in the spool" if spooled else ""),
        ),
    ]
    if delta("folded"):  # summed up by a channel that fell behind
        fields.append(_field("Folded", f"{delta('folded'):,}"))
    if delta("console") or delta("console.not_shown"):
        hidden = delta("console.not_shown")
        fields.append(
            _field(
                "On the console",
                f"{delta('console'):,}"
                + (f" ({hidden:,} not shown)" if hidden else ""),
            )
        )
    if disabled:
        fields.append(
            _field(
                "Disabled destinations",
                "\n".join(escape_markdown(d) for d in disabled),
                inline=False,
            )
        )
    total_dropped = sum(drops(now).values())
    color = GREEN
    if dropped or disabled:
        color = RED if disabled else ORANGE
    return {
        "title": f"📊 Discord delivery: the last {duration(period)}",
        "color": color,
        "fields": fields,
        "footer": {
            "text": f"since start: {now.get('delivered', 0):,} delivered, "
            f"{total_dropped:,} dropped"
        },
    }


def alert_embed(
    title: str, text: str, *, severe: bool = False
) -> dict[str, Any]:
    """An immediate warning about delivery itself."""
    return {
        "title": title,
        "description": text,
        "color": RED if severe else ORANGE,
    }


def _reasons(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{r}: {n:,}" for r, n in sorted(counts.items()))


def _field(name: str, value: str, *, inline: bool = True) -> dict[str, Any]:
    return {"name": name, "value": value, "inline": inline}
