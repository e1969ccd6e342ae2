"""
Log COUNT identical errors through DiscordHandler, then exit at once.

Run as ``python flood_and_exit.py ROUTING COUNT``. The script never calls
``flush()`` or ``close()``: the library's at-exit handling delivers what
was logged, its repeats merged.
"""

from __future__ import annotations

import logging
import sys

from polybot_loghandler import DiscordHandler


def main() -> int:
    routing, count = sys.argv[1], int(sys.argv[2])
    log = logging.getLogger("app")
    log.propagate = False
    log.addHandler(DiscordHandler(routing))
    extra = {"agent": "Momentum_BTC_v1", "error": "connection reset"}
    for _ in range(count):
        log.error("order_failed", extra=extra)
    return 0


if __name__ == "__main__":
    sys.exit(main())
