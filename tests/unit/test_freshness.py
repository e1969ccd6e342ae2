"""The fold decision: which waiting messages a lane folds to keep up."""

from __future__ import annotations

import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from polybot_loghandler._delivery.freshness import MARGIN, Waiting, plan

INFO, WARNING, DEBUG = logging.INFO, logging.WARNING, logging.DEBUG


def every(gap: float, n: int, start: float = 0.0) -> list[float]:
    """A channel whose next *n* messages leave *gap* seconds apart."""
    return [start + gap * k for k in range(n)]


def infos(times: list[float], lag: float = 30.0, route: str = "r") -> list:
    return [Waiting(INFO, t, lag, route) for t in times]


def late(waiting: list[Waiting], leaves: list[float], folded: list[int]):
    """The positions of foldable messages still late after *folded*."""
    gone = set(folded)
    out = []
    ahead = 0
    index = 0
    while index < len(waiting):
        level = waiting[index].level
        group = []
        while index < len(waiting) and waiting[index].level == level:
            group.append(index)
            index += 1
        routes = {waiting[i].route for i in group if i in gone}
        ahead += len(routes)
        for i in group:
            if i in gone:
                continue
            item = waiting[i]
            slot = min(ahead // 10, len(leaves) - 1)
            if item.lag is not None and (
                leaves[slot] - item.last > item.lag - min(MARGIN, item.lag / 4)
            ):
                out.append(i)
            ahead += 1
    return out


@pytest.mark.parametrize(
    ("case", "waiting", "leaves", "folded"),
    [
        ("nothing waits", [], [0.0], []),
        (
            "a short backlog is sent as it is",
            infos([0.0] * 30),
            every(2.0, 5),
            [],
        ),
        (
            # 400 logged at 0, a message every 2 s: 15 messages (150
            # embeds) leave within the bound less its margin (28 s); a
            # summary takes one of them
            "a long backlog folds its oldest",
            infos([0.0] * 400),
            every(2.0, 42),
            list(range(251)),
        ),
        (
            "what is already too old is folded even alone",
            infos([-100.0]),
            every(2.0, 2),
            [0],
        ),
        (
            "warnings are never folded, and they go first",
            [Waiting(WARNING, 0.0, None, "w")] * 20 + infos([0.0] * 300),
            every(2.0, 34),
            list(range(20, 191)),
        ),
        (
            "fold: never keeps its place",
            [Waiting(INFO, 0.0, None, "live"), *infos([0.0] * 300)],
            every(2.0, 32),
            list(range(1, 153)),
        ),
        (
            "a debug backlog behind infos folds debug, not infos",
            infos([0.0] * 100) + [Waiting(DEBUG, 0.0, 30.0, "d")] * 200,
            every(2.0, 32),
            list(range(100, 251)),
        ),
        (
            "each message is held to its own bound",
            [*infos([0.0] * 200, lag=300.0), Waiting(DEBUG, 0, 30.0, "d")],
            every(2.0, 22),
            [200],
        ),
    ],
)
def test_plan(case, waiting, leaves, folded):
    got = plan(waiting, leaves, per_message=10)
    assert got == folded, case
    assert not late(waiting, leaves, got), case


def test_three_levels_each_wait_behind_those_above():
    waiting = [
        *([Waiting(WARNING, 0.0, None, "w")] * 20),
        *infos([0.0] * 100),
        *([Waiting(DEBUG, 0.0, 30.0, "d")] * 100),
    ]
    leaves = every(2.0, len(waiting) // 10 + 2)

    got = plan(waiting, leaves, per_message=10)

    # 150 embeds leave in time: 20 warnings and 100 infos, then room
    # for a summary and 29 debug
    assert got == list(range(120, 120 + 71))
    assert not late(waiting, leaves, got)
    assert late(waiting, leaves, got[1:])


def test_past_the_projection_the_last_time_holds():
    waiting = infos([0.0] * 100)

    assert [] == plan(waiting, [0.0, 20.0], per_message=10)
    assert plan(waiting, [0.0, 29.0], per_message=10)


def test_fewer_folded_would_leave_one_late():
    waiting = infos([0.0] * 400)
    leaves = every(2.0, 42)
    got = plan(waiting, leaves, per_message=10)
    assert late(waiting, leaves, got[:-1])


waitings = st.lists(
    st.builds(
        Waiting,
        level=st.sampled_from([DEBUG, INFO, WARNING]),
        last=st.floats(-120, 0),
        lag=st.one_of(st.none(), st.floats(5, 120)),
        route=st.sampled_from(["a", "b", "c"]),
    ),
    max_size=300,
).map(lambda ws: sorted(ws, key=lambda w: -w.level))


@given(waitings, st.floats(0.1, 5), st.floats(0, 60))
def test_plan_keeps_every_foldable_message_on_time(waiting, gap, start):
    leaves = every(gap, len(waiting) // 10 + 2, start)
    got = plan(waiting, leaves, per_message=10)
    assert all(waiting[i].lag is not None for i in got)
    assert len(set(got)) == len(got)
    assert not late(waiting, leaves, got)


@given(waitings, st.floats(0.1, 5))
def test_plan_folds_the_oldest_of_each_level(waiting, gap):
    leaves = every(gap, len(waiting) // 10 + 2)
    got = set(plan(waiting, leaves, per_message=10))
    for i in got:
        older = [
            j
            for j in range(i)
            if waiting[j].level == waiting[i].level
            and waiting[j].lag is not None
        ]
        assert set(older) <= got
