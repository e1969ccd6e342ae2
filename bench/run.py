"""
Every benchmark of the library, one Markdown report.

Runs each part in a subprocess of its own, one after the other (the
parts measure the CPU, so none runs beside another), and prints one
report with the machine's facts; ``--write`` also writes it to
``docs/benchmarks.md`` under a short reading guide.

    python bench/run.py [--quick] [--write]

``--quick`` takes under a minute on 2 cores (smaller sizes, delivery
scenarios 1-2, 6 events for the alternatives); the full run under ten.
The alternatives come from the ``bench`` extra: ``pip install -e
.[bench]``.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time

from _common import BENCH, REPO, machine_lines

OUT = REPO / "docs" / "benchmarks.md"

#: title, script, arguments (quick), arguments (full), timeout in seconds
PARTS = [
    (
        "Caller cost: logging handler",
        "handler_cost.py",
        ["--rounds", "7", "--calls", "1000"],
        ["--rounds", "15", "--calls", "2000"],
        180.0,
    ),
    (
        "Caller cost: structlog processor, hung Discord",
        "caller_extras.py",
        ["--quick"],
        [],
        300.0,
    ),
    ("Where to filter", "filter_where.py", ["--quick"], [], 120.0),
    ("Caller cost with the spool", "spool_cost.py", ["--quick"], [], 300.0),
    ("Spool store", "spool_store.py", ["--quick"], [], 240.0),
    ("Worker throughput", "throughput.py", ["--quick"], [], 180.0),
    (
        "Worker throughput with the spool",
        "spool_throughput.py",
        ["--quick"],
        [],
        300.0,
    ),
    ("Memory with Discord hung", "memory.py", ["--quick"], [], 300.0),
    ("Delivery", "delivery.py", ["--quick"], [], 900.0),
    ("Alternatives", "alternatives.py", ["--quick"], [], 400.0),
    ("Relay", "relay.py", ["--quick"], [], 900.0),
    ("Freshness under overload", "overload.py", ["--quick"], [], 900.0),
]

GUIDE = """\
# Benchmarks

How to read this page:

- **Caller cost** is what one log call costs the application's own
  thread: CPU time of that thread (`time.thread_time`), and wall time,
  which also holds the waits for the GIL while the library's worker
  thread runs. Ratios compare medians against a baseline measured in the
  same rounds (the structlog, hung-Discord and spool ratios: the median of
  ratios of neighbouring batches), so a slow machine slows both alike;
  compare ratios more than nanoseconds across machines. "Copy of the
  dict" is a processor that only copies the event dict: no processor
  that keeps events for another thread can do less. "Copy handed to a
  thread" also puts the copy on a `SimpleQueue` that a thread empties,
  as the standard library's `QueueHandler` does; in the last variant
  that thread works on each event as long as the worker takes to render
  it, to show what rendering in the same process costs the caller. Each
  timed batch follows a few untimed calls of its own variant, so no
  variant pays for the caches another one (or the worker) left cold.
- **Where to filter** weighs the processor's pre-filter: deciding in the
  caller's thread that no route wants an event costs that thread more
  than copying and queueing every event for a thread to decide, but the
  whole process (`time.process_time`) less. With the GIL, the worker's
  time is the application's time too.
- **Worker throughput** is the match + render work the background
  worker does per event, on one thread; delivery is not included. It is
  an absolute rate, not a ratio, so it is judged on the fastest pass:
  other work on a shared machine only slows a pass down. The median
  pass and the spread are shown beside it; a spread well over 1.2x
  means the machine was busy. To compare two versions of the library
  on a busy machine, count instructions instead:
  `python bench/instructions.py` (needs valgrind) gives the same work's
  instructions per event, which load does not change.
- **Spool store** is the spool's database on its own: appends of
  realistic bodies (rendered Polybot embeds, 600 bytes and more) with a
  commit every 100 ms, as the worker's group commit, and again with a
  commit every 10 appends, to show what a commit costs (the old store's
  worker also committed before each send, about that often under a
  flood); each commit ends in an fsync, so that column is set by the
  disk. The old store (segment files, from commit `3e79ae5`) runs
  the same rounds, taken from git into a temporary directory and run in
  a subprocess, in turn with the new one; in a copy of the project
  without its git history it reads "before: not available".
- **Worker throughput with the spool** is the whole worker, end to end:
  log calls, match, render, the spool, and delivery to a loopback fake
  Discord in a process of its own, with `delivery.spool` on and off,
  pass by pass. Rate limits are lifted (the fake announces a bucket of a
  million requests a minute; the library's pacing of Discord's hidden
  per-channel limit is off) and the fake skips its schema check, so the
  worker, not the fake, sets the pace: a far heavier load than Discord
  allows, where the spool's cost shows most. "Time in commits" is the
  share of a pass spent in the spool's commits, on the worker's event
  loop. The package as of `3e79ae5` (the old store) runs the same
  passes, in turn, for the before and after.
- **Memory** logs as fast as possible while Discord never answers: the
  queue and the delivery lanes must stay bounded, events beyond them are
  dropped and counted (`dropped.*`), and no log call may wait.
- **Delivery** and **Alternatives** run against a loopback fake Discord
  (`fakes/discord.py`) with Discord's webhook rate limit of
  5 requests per 2 s; nothing goes to the network.
- **Relay** runs producer processes, a Redis server of its own and
  `polybot-loghandler relay` processes against the same fake, with
  Discord's hidden per-channel limit on as well (30 messages a minute,
  a 429 of scope `shared`): six processes sharing one channel, each
  sending itself or all through one relay; a flood of one error; the
  active relay killed mid-burst; Redis away for 10 s; no relay running
  for a while; the caller's cost with the relay on; and the events a
  second one producer appends and one relay delivers on one core (to a
  switched-off console, so that Discord's limits do not set the pace).
  redis-py parses Redis's replies in Python unless `hiredis` is
  installed; the part's header says which.
- ✅ / ❌ mark each target met or missed; the list of misses is at the end.
  Numbers come from one run on the machine described below: rerun with
  `python bench/run.py --write` (`--quick` for a smaller run).

"""


def machine_facts(quick: bool, total: float) -> list[str]:
    packages = ["polybot-loghandler", "httpx", "structlog"]
    packages += ["python-logging-discord-handler", "discord-webhook"]
    run = "quick" if quick else "full"
    return ["## Machine and run", "", *machine_lines(run, total, packages), ""]


def demote(text: str) -> str:
    """Headings one level down: each part's ``#`` becomes ``##``."""
    return re.sub(r"^(#+) ", r"#\1 ", text, flags=re.MULTILINE)


def run_part(script: str, args: list[str], timeout: float) -> str:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.upper().startswith("DISCORD_")
        and not k.upper().endswith("_PROXY")
        and k.upper() != "POLYBOT_ROUTING"
    }
    started = time.monotonic()
    try:
        done = subprocess.run(
            [sys.executable, str(BENCH / script), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=REPO,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return f"**Did not finish:** timed out after {timeout:g} s.\n"
    took = time.monotonic() - started
    out = done.stdout.strip()
    if done.returncode or not out:
        tail = "\n".join(done.stderr.strip().splitlines()[-15:])
        out += (
            f"\n\n**`{script}` exited with status {done.returncode}:**\n\n"
            f"```text\n{tail or '(no stderr)'}\n```"
        )
    return f"{demote(out)}\n\n_`bench/{script}`: {took:.0f} s._\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args(argv)
    started = time.monotonic()
    sections: list[str] = []
    for title, script, quick, full, timeout in PARTS:
        print(f"running {title} ({script}) ...", file=sys.stderr, flush=True)
        chosen = quick if args.quick else full
        sections.append(run_part(script, chosen, timeout))
    body = "\n".join(sections)
    missed = [
        line
        for line in body.splitlines()
        if "❌" in line or line.startswith("**Did not")
    ]
    lines = machine_facts(args.quick, time.monotonic() - started)
    lines += [body, "## Every target missed", ""]
    lines += [f"- {m.strip('| ')}" for m in missed] or ["- none"]
    report = "\n".join(lines) + "\n"
    print(report)
    if args.write:
        OUT.write_text(GUIDE + report, encoding="utf-8")
        print(f"wrote {OUT.relative_to(REPO)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
