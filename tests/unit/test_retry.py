"""
RetryPolicy: the one backoff that delivery and setup share.
"""

from __future__ import annotations

import pytest

from polybot_loghandler._retry import RetryPolicy

POLICY = RetryPolicy(base=0.5, cap=5.0, budget=8.0)


@pytest.mark.parametrize(
    ("failures", "ceiling"),
    [
        pytest.param(0, 0.5, id="zero-counts-as-first"),
        pytest.param(1, 0.5, id="first"),
        pytest.param(2, 1.0, id="second"),
        pytest.param(4, 4.0, id="fourth"),
        pytest.param(5, 5.0, id="capped"),
        pytest.param(60, 5.0, id="far-past-the-cap"),
    ],
)
def test_pause_doubles_up_to_the_cap_with_jitter(
    failures: int, ceiling: float
) -> None:
    """Between half and all of base × 2^(n-1), never above the cap."""
    low = POLICY.pause(failures, jitter=lambda a, _b: a)
    high = POLICY.pause(failures, jitter=lambda _a, b: b)

    assert (ceiling / 2, ceiling) == (low, high)


@pytest.mark.parametrize(
    ("failing_for", "gives_up"),
    [
        pytest.param(0.0, False, id="fresh"),
        pytest.param(7.99, False, id="just-within"),
        pytest.param(8.0, True, id="at-the-budget"),
        pytest.param(1e9, True, id="long-past"),
    ],
)
def test_gives_up_at_the_budget(failing_for: float, gives_up: bool) -> None:
    assert gives_up == POLICY.gives_up(failing_for)


def test_the_real_jitter_stays_within_its_bounds() -> None:
    pauses = [POLICY.pause(3) for _ in range(200)]

    assert all(1.0 <= p <= 2.0 for p in pauses)
    assert len(set(pauses)) > 1  # jittered, so clients spread out
