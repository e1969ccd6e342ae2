"""
Digest periods aligned to the clock. Pure: every function takes the time.

A digest's periods start at multiples of ``every`` counted from midnight
in its time zone (UTC by default), so an hourly digest covers 14:00 to
15:00 whichever process started when; ``every: 1w`` starts on Monday.
A length that does not divide a day (``7m``) has no such alignment and
is refused by :func:`check_every`. On a day whose length a daylight
saving change alters, the periods restart at that day's midnight: the
last period of the day is then shorter or longer, never skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo

__all__ = ["DAY", "WEEK", "Period", "check_every", "period_of"]

DAY = 86_400.0
WEEK = 7 * DAY


@dataclass(frozen=True, slots=True)
class Period:
    """One digest period: ``start <= t < end``, epoch seconds."""

    start: float
    end: float

    def __contains__(self, when: object) -> bool:
        return isinstance(when, (int, float)) and self.start <= when < self.end


def check_every(seconds: float) -> str | None:
    """Why *seconds* cannot be a digest's ``every``, or ``None``."""
    if seconds == WEEK:
        return None
    if seconds <= 0 or seconds > DAY:
        return "must be at most a day (1d), or a week (1w)"
    whole = round(seconds)
    if whole != seconds or DAY % whole:
        return (
            "must divide a day evenly (e.g. 1s, 5m, 15m, 1h, 6h, 1d), so "
            "that periods start at the same times every day"
        )
    return None


def period_of(
    when: float, every: float, zone: tzinfo = timezone.utc
) -> Period:
    """
    The period of length *every* (see :func:`check_every`) holding *when*.

    Raises:
        ValueError: *every* is not one :func:`check_every` accepts.
    """
    problem = check_every(every)
    if problem is not None:
        raise ValueError(f"every={every!r} {problem}")
    local = datetime.fromtimestamp(when, zone)
    midnight = _midnight(local, zone)
    if every == WEEK:
        monday = _midnight(midnight - timedelta(days=midnight.weekday()), zone)
        after = _midnight(monday + timedelta(days=7, hours=12), zone)
        return Period(monday.timestamp(), after.timestamp())
    day_end = _midnight(midnight + timedelta(days=1, hours=12), zone)
    first = midnight.timestamp()
    start = first + ((when - first) // every) * every
    return Period(start, min(start + every, day_end.timestamp()))


def _midnight(moment: datetime, zone: tzinfo) -> datetime:
    """The midnight that starts *moment*'s day in *zone* (aware)."""
    day = moment.astimezone(zone)
    return datetime(day.year, day.month, day.day, tzinfo=zone)
