"""
One process of the board tests: log COUNT health checks, then end.

Run as ``python board_process.py ROUTING START COUNT SECONDS``: logs
``system_health`` events numbered from START, for five components in
turn (``c0`` … ``c4``), spread over SECONDS, then flushes and prints the
handler's counters as one JSON line.
"""

from __future__ import annotations

import json
import logging
import sys
import time

from polybot_loghandler import DiscordHandler

COMPONENTS = 5


def main() -> int:
    routing, start, count, seconds = sys.argv[1:5]
    handler = DiscordHandler(routing)
    log = logging.getLogger("floor")
    log.setLevel(logging.INFO)
    log.propagate = False
    log.addHandler(handler)
    first, many = int(start), int(count)
    pause = float(seconds) / max(many, 1)
    for n in range(first, first + many):
        component = f"c{n % COMPONENTS}"
        log.info("system_health", extra={"component": component, "n": n})
        time.sleep(pause)  # the events' own pace, as a floor logs them
    handler.flush(timeout=20.0)
    print(json.dumps(handler.stats()), flush=True)
    handler.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
