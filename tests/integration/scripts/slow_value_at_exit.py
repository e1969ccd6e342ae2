"""
Log an event, one whose value takes 30 s to show, and another; then exit.

Run as ``python slow_value_at_exit.py ROUTING``. The exit must keep to
``delivery.flush_timeout``: the slow value cannot hold the process.
"""

from __future__ import annotations

import logging
import sys
import time

from polybot_loghandler import DiscordHandler

SLOW = 30.0  # seconds: far beyond the flush timeout under test


class Slow:
    """A value whose ``str()`` takes SLOW seconds."""

    def __str__(self) -> str:
        # the scenario, a conversion that takes this long; not a wait
        # for anything: the exit under test must not wait for it
        time.sleep(SLOW)
        return "slow"


def main() -> int:
    log = logging.getLogger("app")
    log.propagate = False
    log.addHandler(DiscordHandler(sys.argv[1]))
    log.error("first", extra={"value": 1})
    log.error("slow", extra={"value": Slow()})
    log.error("after", extra={"value": 2})
    return 0


if __name__ == "__main__":
    sys.exit(main())
