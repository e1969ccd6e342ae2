"""
Time COUNT log calls through QueueHandler and DiscordHandler, then exit.

Run as ``python log_while_hung.py ROUTING COUNT`` while the routing's
webhook hangs. Prints one JSON line on stdout: the seconds each handler
took for COUNT calls, and ``time.monotonic()`` right after the last call,
so the caller can tell how long the exit took. The process then exits
normally, without flushing: at-exit delivery must give up within the
routing's ``delivery.flush_timeout``.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import queue
import sys
import time

from polybot_loghandler import DiscordHandler


def _logger(name: str, handler: logging.Handler) -> logging.Logger:
    log = logging.getLogger(name)
    log.setLevel(logging.INFO)
    log.propagate = False
    log.addHandler(handler)
    return log


def _timed(log: logging.Logger, count: int) -> float:
    started = time.perf_counter()
    for n in range(count):
        log.info("trade_executed", extra={"n": n, "agent": "MomentumAlpha"})
    return time.perf_counter() - started


def main() -> int:
    routing, count = sys.argv[1], int(sys.argv[2])
    # the stdlib baseline: a queue in the caller's thread, a listener thread
    # emptying it into a handler that does nothing
    records: queue.Queue[logging.LogRecord] = queue.Queue()
    listener = logging.handlers.QueueListener(records, logging.NullHandler())
    listener.start()
    baseline = _timed(
        _logger("bench.queue", logging.handlers.QueueHandler(records)), count
    )
    listener.stop()

    discord = _timed(_logger("bench.discord", DiscordHandler(routing)), count)
    last_call = time.monotonic()
    print(
        json.dumps(
            {
                "queue_handler": baseline,
                "discord_handler": discord,
                "last_call": last_call,
            }
        ),
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
