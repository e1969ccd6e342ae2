"""
One process of the watching-state tests: a heartbeat, its silence told.

Run as ``python watch_process.py ROUTING``. It logs one ``heartbeat`` of
agent A, moves the watches' clock past ``alert_after``, waits until the
alert was delivered and the watches' state saying so is in the spool,
prints ``alerted``, and waits to be killed (the test sends SIGKILL).
"""

from __future__ import annotations

import json
import sqlite3
import sys
import time
from pathlib import Path

from polybot_loghandler import DiscordHandler
from polybot_loghandler._config import load_config
from polybot_loghandler._pipeline import CAPTURES


def _alerted(spool: Path) -> bool:
    try:
        with sqlite3.connect(spool / "spool.db") as db:
            rows = db.execute("SELECT state FROM watching").fetchall()
    except sqlite3.Error:
        return False
    for (text,) in rows:
        keys = json.loads(text)["watches"]["heartbeats"]["keys"]
        if keys.get("A", [0, 0, False])[2]:
            return True
    return False


def main() -> int:
    routing = sys.argv[1]
    spool = Path(str(load_config(routing).delivery.spool))
    handler = DiscordHandler(routing)
    pipeline = handler._pipeline
    assert pipeline is not None
    pipeline.offer_event_dict(
        None, "info", {"event": "heartbeat", "agent": "A"}
    )
    pipeline.flush(5.0)
    CAPTURES.offset = 120.0  # past alert_after: A is silent
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if pipeline.stats().get("sent.messages") and _alerted(spool):
            break
        time.sleep(0.05)  # bounded poll (30 s) of the worker's progress
    print("alerted", flush=True)
    time.sleep(600)  # the scenario: killed while running
    return 0


if __name__ == "__main__":
    sys.exit(main())
