"""
A control command's round trip, and what listening costs an agent.

The bot's :class:`Desk` appends commands to the control stream of a real
Redis (``--redis``, the machine's by default: only the two control streams
are written, then deleted), an
agent's ``control.listen`` obeys each one with a callback that does
nothing, and the desk waits for the answer, as ``/pause`` does. Printed:
the round trip, from the desk's append to its reading the answer
(median, 95th percentile and worst of ``--commands`` in a row), and the
CPU time the listener's thread used while idle for ``--idle`` seconds
(it blocks in Redis a second at a time).

    python bench/control.py [--commands 200] [--idle 10]

Target: a round trip well under the bot's default wait (30 s) and under
the 3 s Discord gives an interaction's first answer; an idle listener
close to no CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import redis  # noqa: E402

from polybot_loghandler import control, load_config  # noqa: E402
from polybot_loghandler._bot.asking import Asker, Request  # noqa: E402
from polybot_loghandler._bot.desk import Desk, Sent  # noqa: E402
from polybot_loghandler._relay.connect import async_client  # noqa: E402

AGENT = "Momentum_BTC_v1"
OPERATOR = Asker("ada", "1", frozenset({"Floor Operator"}))


async def round_trips(url: str, count: int) -> list[float]:
    """Seconds from append to answer read, for *count* pauses in a row."""
    config = load_config(REPO / "routing.yaml", environ={})
    client = async_client(url, "bench")
    desk = Desk(config, client, url)
    took = []
    try:
        for _ in range(count):
            started = time.perf_counter()
            sent = await desk.send(
                Request("pause", OPERATOR, {"agent": AGENT})
            )
            assert isinstance(sent, Sent)
            embed = await desk.acknowledgements(sent)
            took.append(time.perf_counter() - started)
            assert embed["title"].startswith("⏸️"), embed["title"]
    finally:
        await client.aclose()
    return took


def idle_cpu(listener: control.Listener, seconds: float) -> float:
    """CPU seconds the listener's thread used in *seconds* of no command."""
    (thread,) = [t for t in threading.enumerate() if AGENT in t.name]
    clock = time.pthread_getcpuclockid(thread.ident or 0)
    before = time.clock_gettime(clock)
    time.sleep(seconds)
    assert listener.running
    return time.clock_gettime(clock) - before


def clear(url: str) -> None:
    """Delete the control streams (and nothing else of that Redis)."""
    with redis.Redis.from_url(url) as client:
        client.delete("polybot:control", "polybot:control:acks")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--commands", type=int, default=200)
    parser.add_argument("--idle", type=float, default=10.0)
    args = parser.parse_args()
    logging.getLogger("bot").propagate = False  # the desk's events
    clear(args.redis)
    with control.listen(
        lambda _c: None, agent=AGENT, redis_url=args.redis
    ) as heard:
        with redis.Redis.from_url(args.redis) as client:
            while not client.exists("polybot:control"):
                time.sleep(0.01)
        took = asyncio.run(round_trips(args.redis, args.commands))
        cpu = idle_cpu(heard, args.idle)
    clear(args.redis)
    ms = sorted(t * 1000 for t in took)
    print(f"control round trip, {len(ms)} pauses in a row (ms):")
    print(f"  median {statistics.median(ms):.2f}")
    print(f"  p95    {ms[int(len(ms) * 0.95) - 1]:.2f}")
    print(f"  worst  {ms[-1]:.2f}")
    print(
        f"idle listener: {cpu * 1000:.1f} ms of CPU in {args.idle:.0f} s "
        f"({cpu / args.idle * 100:.3f}% of a core)"
    )


if __name__ == "__main__":
    main()
