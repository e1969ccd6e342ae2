"""
One process of the spool tests: log COUNT trades from START, then end.

Run as ``python spool_process.py ROUTING START COUNT MODE``. It prints
``logged`` once the calls are made, then, by MODE:

- ``exit``: returns at once; delivery is up to the at-exit flush.
- ``hold``: waits to be killed (the test sends SIGKILL).
- ``drain``: waits until the spool is empty (or 60 s), then prints the
  handler's counters as one JSON line and returns.
"""

from __future__ import annotations

import json
import logging
import sys
import time

from polybot_loghandler import DiscordHandler


def main() -> int:
    routing, start, count, mode = sys.argv[1:5]
    handler = DiscordHandler(routing)
    log = logging.getLogger("app")
    log.setLevel(logging.INFO)
    log.propagate = False
    log.addHandler(handler)
    for n in range(int(start), int(start) + int(count)):
        log.info("trade_executed", extra={"n": n, "agent": "MomentumAlpha"})
    print("logged", flush=True)
    if mode == "hold":
        # the scenario: a process still running when the test kills
        # it; nothing here waits for anything to happen
        time.sleep(600)
    elif mode == "drain":
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            handler.flush(timeout=1.0)
            stats = handler.stats()
            if not stats.get("spool.pending") and not stats["pending"]:
                break
            # bounded poll (60 s): the worker reads the spool back
            time.sleep(0.05)
        print(json.dumps(handler.stats()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
