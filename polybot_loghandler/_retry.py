"""
RetryPolicy: how long to wait between tries of a failing request.

Delivery and ``setup`` retry the same failures (server errors, timeouts,
lost connections) the same way: a capped exponential backoff with
jitter, within a budget. Only those failures: a ``4xx`` is never retried
(the same request gets the same answer), and a ``429`` waits what
Discord says, through the rate limiter, not through this.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["RetryPolicy"]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """
    A capped exponential backoff with jitter, within a budget.

    Attributes:
        base: The first pause's ceiling, in seconds; each failure
            doubles it.
        cap: The longest pause, in seconds.
        budget: How long, in seconds, failures are retried before the
            caller gives up.
    """

    base: float = 0.5
    cap: float = 5.0
    budget: float = 300.0

    def pause(
        self,
        failures: int,
        jitter: Callable[[float, float], float] = random.uniform,
    ) -> float:
        """
        The pause after *failures* failures in a row (1 for the first).

        Between half and all of ``base × 2^(failures-1)``, at most
        ``cap``: tries spread out, so many clients that failed together
        do not come back together.
        """
        ceiling = min(self.cap, self.base * 2.0 ** (max(failures, 1) - 1))
        return ceiling * jitter(0.5, 1.0)

    def gives_up(self, failing_for: float) -> bool:
        """Whether failures that have lasted *failing_for* s are past it."""
        return failing_for >= self.budget
