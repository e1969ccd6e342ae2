"""
Side by side with other ways to log to Discord, on the burst workload.

Each variant logs the same distinct ``trade_executed`` events (250 by
default) as fast as possible to one webhook of the loopback fake
Discord (5 requests per 2 s, Discord's headers and 429s), in a fresh
subprocess of this script. One event in five carries a hostile ``agent``
(``@everyone``, a user or role mention, or a mention after a closing code
fence), as in the library's hostile-input tests. The fake answers bodies
as Discord does (its published schema and limits; our own stricter
payload rules do not change its answers) and counts the accepted messages
that would notify someone, by Discord's ``allowed_mentions`` rules.

- ``polybot_loghandler``: ``DiscordHandler`` with the burst routing of
  ``bench/delivery.py`` (the shipped trade embed, ``coalesce: false``);
- ``python-logging-discord-handler`` (``discord_logging.handler``): its
  ``DiscordHandler`` sends one message per record inside ``emit()``;
- ``discord-webhook``: a small stdlib handler that posts one embed per
  record with ``DiscordWebhook(..., rate_limit_retry=True).execute()``.

The alternatives come from the ``bench`` extra (``pip install -e
.[bench]``); a variant that is not installed is reported as such.

    python bench/alternatives.py [--quick] [--events N]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from delivery import (  # noqa: E402
    BURST_ROUTING,
    RESULT,
    TRADE,
    clean_environment,
    fake_discord,
    make_logger,
    write_routing,
)

#: Every HOSTILE_EVERY-th event carries one of these as its ``agent``.
HOSTILE_EVERY = 5
HOSTILE = (
    "@everyone",
    "<@123456789012345678>",
    "<@&223456789012345678>",
    "``` <@123456789012345678> @everyone",
)

VARIANTS = {
    "polybot_loghandler": "polybot_loghandler",
    "python-logging-discord-handler": "discord_logging",
    "discord-webhook (stdlib handler)": "discord_webhook",
}
_ID = re.compile(r"paper\\*_(\d{5})")  # Markdown may escape the _


class WebhookHandler(logging.Handler):
    """The few lines an application writes around ``discord-webhook``."""

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url

    def emit(self, record: logging.LogRecord) -> None:
        from discord_webhook import DiscordEmbed, DiscordWebhook

        try:
            embed = DiscordEmbed(title="📝 Trade Executed", color="03b2f8")
            for name in ("agent", "market", "side", "amount", "price"):
                embed.add_embed_field(
                    name=name, value=str(getattr(record, name))
                )
            embed.add_embed_field(name="Trade ID", value=record.trade_id)  # type: ignore[attr-defined]
            hook = DiscordWebhook(
                url=self.url, rate_limit_retry=True, timeout=10
            )
            hook.add_embed(embed)
            hook.execute()
        except Exception:
            self.handleError(record)


def make_handler(variant: str, url: str) -> tuple[logging.Handler, bool]:
    """The handler, and whether it delivers in the background."""
    if variant == "polybot_loghandler":
        from polybot_loghandler import DiscordHandler

        return DiscordHandler(
            write_routing(BURST_ROUTING.format(url=url))
        ), True
    if variant == "python-logging-discord-handler":
        from discord_logging.handler import DiscordHandler as Other

        handler = Other("bench", url, rate_limit_retry=True)
        handler.setFormatter(
            logging.Formatter("%(message)s %(trade_id)s %(agent)s")
        )
        return handler, False
    return WebhookHandler(url), False


def event_extras(events: int) -> list[dict[str, Any]]:
    """The events' fields: distinct trade ids, some hostile agents."""
    extras = []
    for i in range(events):
        extra = {**TRADE, "trade_id": f"paper_{i:05d}"}
        if i % HOSTILE_EVERY == 0:
            extra["agent"] = HOSTILE[i // HOSTILE_EVERY % len(HOSTILE)]
        extras.append(extra)
    return extras


def run_child(variant: str, events: int) -> dict[str, Any]:
    clean_environment()
    logging.getLogger("discord_webhook").disabled = True
    with fake_discord() as fake:
        url = fake.webhook_url("1001", "tok-burst")
        handler, background = make_handler(variant, url)
        log = make_logger("alt", handler)
        extras = event_extras(events)
        calls: list[float] = []
        t0 = time.perf_counter()
        for extra in extras:
            c0 = time.perf_counter()
            log.info("trade_executed", extra=extra)
            calls.append(time.perf_counter() - c0)
        logged = time.perf_counter() - t0
        if background:
            fake.wait_for(lambda f: len(f.embeds()) >= events, timeout=120)
            handler.flush()
        drained = time.perf_counter() - t0
        pinged = [who for _, who in fake.pings()]
        seen = {
            found
            for message in fake.messages
            for found in _ID.findall(json.dumps(message.json))
        }
        return {
            "events": events,
            "median_call_ms": statistics.median(calls) * 1e3,
            "max_call_ms": max(calls) * 1e3,
            "log_s": logged,
            "drain_s": drained,
            "requests": fake.count(),
            "status_429": fake.count(429),
            "messages": len(fake.messages),
            "status_400": fake.count(400),
            "pings": len(pinged),
            "pinged": {
                "@everyone/@here": sum(who.everyone for who in pinged),
                "users": sum(bool(who.users) for who in pinged),
                "roles": sum(bool(who.roles) for who in pinged),
            },
            "hostile": sum(e["agent"] in HOSTILE for e in extras),
            "lost": events - len(seen),
        }


def installed(module: str) -> bool:
    from importlib.util import find_spec

    return find_spec(module) is not None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--events", type=int)
    parser.add_argument("--variant", choices=sorted(VARIANTS))
    args = parser.parse_args(argv)
    events = args.events or (6 if args.quick else 250)
    if args.variant:
        result = run_child(args.variant, events)
        print(RESULT + json.dumps(result), flush=True)
        os._exit(0)
    rows: list[str] = []
    notes: list[str] = []
    hostile = 0
    running: dict[str, subprocess.Popen[str]] = {}
    for variant, module in VARIANTS.items():
        if not installed(module):
            notes.append(
                f"- {variant}: not installed (`pip install -e .[bench]`)"
            )
            continue
        # side by side: the variants wait on the fake's rate limit, not
        # the CPU, and each has a fake of its own
        running[variant] = subprocess.Popen(
            [
                sys.executable,
                __file__,
                *("--variant", variant, "--events", str(events)),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
    for variant, child in running.items():
        try:
            out, err = child.communicate(timeout=60 + events * 1.0)
        except subprocess.TimeoutExpired:
            child.kill()
            child.communicate()
            notes.append(f"- {variant}: timed out")
            continue
        lines = [line for line in out.splitlines() if line.startswith(RESULT)]
        if not lines:
            tail = err.strip().splitlines()[-1:] or ["(no stderr)"]
            notes.append(
                f"- {variant}: no result (exit {child.returncode}): {tail[0]}"
            )
            continue
        r = json.loads(lines[0][len(RESULT) :])
        rows.append(
            f"| {variant} | {r['median_call_ms']:,.3f} ms | "
            f"{r['max_call_ms']:,.1f} ms | {r['log_s']:,.2f} s | "
            f"{r['drain_s']:,.1f} s | {r['requests']:,} | "
            f"{r['status_429']:,} | {r['status_400']:,} | "
            f"{r['pings']:,} | {r['lost']:,} |"
        )
        hostile = r["hostile"]
        if r["pings"]:
            kinds = ", ".join(
                f"{kind} in {n:,}" for kind, n in r["pinged"].items() if n
            )
            notes.append(f"- {variant}: messages that ping: {kinds}")
    print(
        f"# Side by side: {events} distinct `trade_executed` events, "
        "one webhook of the fake each, the variants run at the same time\n"
    )
    print(
        "| library | median log call | slowest log call | time the "
        "application spent logging | all delivered after | requests "
        "| 429s | 400s | messages that ping | events lost |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    print(*rows, sep="\n")
    print(
        "\nThe alternatives send inside `emit()`, so the application "
        "waits for every request and every 429's `retry_after` sleep; "
        "polybot_loghandler queues the record and sends 10 embeds per "
        "message from its worker. 'All delivered after' is from the first "
        "log call to the last embed received (for the synchronous ones, "
        "when the last call returned). 'Events lost': events whose trade "
        "id is in no accepted message. The fake answers as Discord does: "
        "by its published schema and documented limits. The schema allows "
        "`null` for every embed part, which `discord-webhook` (both "
        "alternatives build their bodies with it) sends, and a body "
        "without `allowed_mentions`; our own rule that `allowed_mentions` "
        "is always sent is checked on our payloads only and never changes "
        f"an answer. {hostile} of the events carry a hostile `agent`: "
        "`@everyone`, `<@id>`, `<@&id>`, or a mention after a closing "
        "code fence. 'Messages that ping' counts accepted messages that "
        "would notify someone by Discord's `allowed_mentions` rules: "
        "mentions come from `content` only, never from embeds, and a "
        "webhook body without `allowed_mentions` parses user mentions. "
        "Mentions inside code spans and blocks are not counted; here that "
        "changes nothing, as the only values that reach `content` (a line "
        "over 60 characters, which python-logging-discord-handler sends "
        "as a code block) close the block before their mention."
    )
    if notes:
        print("", *notes, sep="\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
