"""
Freshness: which waiting messages to fold so a channel keeps up. Pure.

Discord lets a channel carry about 30 messages a minute, however much is
logged for it. The rate limiter projects when each of a lane's next
messages may leave; a waiting message that would reach Discord more than
its ``max_lag`` after its newest event was logged is *late*. Then the
oldest foldable messages of its level are folded: replaced by one
summary per route, in the place of the oldest, so everything after them
moves up. :func:`plan` picks the fewest oldest ones that bring every
foldable message left within its bound; what cannot be folded (warnings
and above, ``fold: never``) keeps its place and is never folded to make
room for itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["MARGIN", "Waiting", "plan"]

#: Seconds of the bound kept in reserve for what a projection cannot
#: know (the time a request takes, a send that waits its turn); never
#: more than a quarter of the bound.
MARGIN = 2.0


@dataclass(frozen=True, slots=True)
class Waiting:
    """
    One waiting message, as the plan sees it.

    Attributes:
        level: Its level: the lane sends higher levels first.
        last: When the newest event it stands for was logged (epoch).
        lag: Its ``max_lag`` in seconds; ``None``: it is never folded.
        route: Folded messages make one summary per route and level.
    """

    level: int
    last: float
    lag: float | None
    route: str


def plan(
    waiting: Sequence[Waiting],
    leaves: Sequence[float],
    *,
    per_message: int,
) -> list[int]:
    """
    The positions in *waiting* to fold, so that the rest is on time.

    Args:
        waiting: The lane's messages in the order they are sent: levels
            from the highest, each in order.
        leaves: When each of the lane's next messages may leave (epoch
            seconds, the rate limiter's projection), at least one; past
            its end the last one is assumed.
        per_message: The embeds one message carries.
    """
    folded: list[int] = []
    ahead = 0  # embeds that leave before the level being planned
    start = 0
    while start < len(waiting):
        end = start
        level = waiting[start].level
        while end < len(waiting) and waiting[end].level == level:
            end += 1
        group = waiting[start:end]
        k, kept = _fewest(group, ahead, leaves, per_message)
        folded += [start + i for i in range(k) if group[i].lag is not None]
        ahead += kept
        start = end
    return folded


def _fewest(
    group: Sequence[Waiting],
    ahead: int,
    leaves: Sequence[float],
    per_message: int,
) -> tuple[int, int]:
    """
    The fewest of *group*'s oldest to fold; and the embeds left of it.

    Folding the first *k* leaves a summary per route among the folded
    ones and what cannot be folded among them, in that order, then the
    rest; the more are folded, the earlier the rest leaves, so the
    fewest is found by bisection.
    """
    size = len(group)
    # embeds the first k become once folded: summaries and the unfoldable
    before = [0] * (size + 1)
    routes: set[str] = set()
    for i, item in enumerate(group):
        if item.lag is None:
            before[i + 1] = before[i] + 1
        else:
            new = item.route not in routes
            routes.add(item.route)
            before[i + 1] = before[i] + new

    def on_time(k: int) -> bool:
        base = ahead + before[k] - k
        for j in range(k, size):
            item = group[j]
            if item.lag is None:
                continue
            index = min((base + j) // per_message, len(leaves) - 1)
            if leaves[index] - item.last > item.lag - _margin(item.lag):
                return False
        return True

    low, high = 0, size
    while low < high:
        middle = (low + high) // 2
        if on_time(middle):
            high = middle
        else:
            low = middle + 1
    return low, before[low] + size - low


def _margin(lag: float) -> float:
    return min(MARGIN, lag / 4)
