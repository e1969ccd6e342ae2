"""
An agent of the relay's watch tests: a heartbeat every GAP seconds.

Run as ``python relay_agent.py ROUTING AGENT GAP``: logs ``heartbeat``
(field ``agent`` AGENT) every GAP seconds until it is killed or its
stdin closes. It prints ``ready`` once its handler is up and its first
heartbeat is logged, so a test can wait for it.
"""

from __future__ import annotations

import logging
import sys
import threading

from polybot_loghandler import DiscordHandler


def main() -> int:
    routing, agent, gap = sys.argv[1], sys.argv[2], float(sys.argv[3])
    handler = DiscordHandler(routing)
    log = logging.getLogger("floor")
    log.setLevel(logging.INFO)
    log.propagate = False
    log.addHandler(handler)
    stop = threading.Event()

    def watch_stdin() -> None:  # the test closes it to stop us cleanly
        sys.stdin.read()
        stop.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    first = True
    while not stop.is_set():
        log.info("heartbeat", extra={"agent": agent})
        if first:
            first = False
            print("ready", flush=True)
        stop.wait(gap)
    handler.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
