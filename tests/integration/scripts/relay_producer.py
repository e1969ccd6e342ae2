"""
A producer of the relay's tests: log events, then report on stdout.

Run as ``python relay_producer.py ROUTING NAME COUNT KIND [GAP]``: KIND
``trades`` logs COUNT distinct ``trade_executed`` events (``n`` from
0, ``source`` NAME), ``errors`` COUNT identical error records,
``agents`` COUNT trades in rounds of one per agent (``agent`` alpha,
bravo, charlie in turn, ``amount`` n + 1), GAP seconds between rounds.
GAP seconds pass between calls (default 0). The script waits for a line
on stdin before it starts, so every producer starts together, and
prints one JSON line at the end: the slowest log call in ms, its
``stats()``, and for ``agents`` each trade's time (as its record has
it), agent and amount.
"""

from __future__ import annotations

import json
import logging
import sys
import time

from polybot_loghandler import DiscordHandler

#: The agents of ``agents`` trades, in turn.
AGENTS = ("alpha", "bravo", "charlie")


def main() -> int:
    routing, name, count, kind = sys.argv[1:5]
    gap = float(sys.argv[5]) if len(sys.argv) > 5 else 0.0
    handler = DiscordHandler(routing)
    log = logging.getLogger("floor")
    log.setLevel(logging.INFO)
    log.propagate = False
    log.addHandler(handler)
    logged: list[tuple[float, str, int]] = []

    def record(rec: logging.LogRecord) -> bool:
        if kind == "agents":
            fields = rec.__dict__
            logged.append((rec.created, fields["agent"], fields["amount"]))
        return True

    log.addFilter(record)
    handler.stats()  # the worker is up before the clock starts
    sys.stdin.readline()  # go
    slowest = 0.0
    for n in range(int(count)):
        start = time.perf_counter()
        if kind == "trades":
            log.info("trade_executed", extra={"n": n, "source": name})
        elif kind == "agents":
            agent = AGENTS[n % len(AGENTS)]
            log.info("trade_executed", extra={"agent": agent, "amount": n + 1})
        else:
            log.error("database_unreachable", extra={"host": "db-1"})
        slowest = max(slowest, time.perf_counter() - start)
        last_of_round = kind != "agents" or n % len(AGENTS) == len(AGENTS) - 1
        if gap and last_of_round:
            time.sleep(gap)
    handler.close()
    result = {
        "slowest_ms": slowest * 1000,
        "stats": handler.stats(),
        "logged": logged,
    }
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
