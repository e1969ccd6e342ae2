"""
Log COUNT distinct trades through DiscordHandler, then exit at once.

Run as ``python log_and_exit.py ROUTING COUNT``. The script never calls
``flush()`` or ``close()``: delivering what was logged is up to the
library's at-exit handling, within ``delivery.flush_timeout``.
"""

from __future__ import annotations

import logging
import sys

from polybot_loghandler import DiscordHandler


def main() -> int:
    routing, count = sys.argv[1], int(sys.argv[2])
    log = logging.getLogger("app")
    log.setLevel(logging.INFO)
    log.propagate = False
    log.addHandler(DiscordHandler(routing))
    for n in range(count):
        log.info("trade_executed", extra={"n": n, "agent": "MomentumAlpha"})
    return 0


if __name__ == "__main__":
    sys.exit(main())
