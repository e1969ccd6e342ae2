"""
Delivery to Discord under load, against a loopback fake Discord.

Every scenario talks to ``fakes.discord.FakeDiscord`` on
127.0.0.1 with Discord's webhook limit of 5 requests per 2 s, its
``X-RateLimit-*`` headers and its 429s; nothing goes to the network.
Each scenario runs in a fresh subprocess of this script (``--scenario
NAME``), so no worker thread, connection or bucket carries over from one
to the next; the parent collects one JSON line from each and prints a
Markdown report.

    python bench/delivery.py [--quick]

Scenarios (``--quick`` runs the first two, at the same sizes):

1. burst: 250 distinct ``trade_executed`` events (``coalesce: false``) to
   one channel, logged as fast as possible. Targets: no event lost, at
   most one 429, drained within 1.2x the rate limit's minimum + 1 s, at
   most 0.11 requests per delivered event.
2. flood: 5,000 identical error records to one channel. Targets: at most
   3 messages, whose ``×N`` counts add up to 5,000.
3. mixed: an hour of ``examples/trading_floor.py`` through the shipped
   ``routing.yaml``, once with every channel on one webhook
   (``DISCORD_WEBHOOK_URL``) and once with a webhook per channel
   (``DISCORD_WEBHOOK_<KEY>``).
4. latency: log call to the request's arrival at the fake, for critical
   and for ordinary events, on lanes that nothing else uses.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import math
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from _common import (
    REPO,
    RESULT,
    TRADE,
    machine_lines,
    make_logger,
    run_in_child,
)

sys.path.insert(0, str(REPO))

#: The fake's webhook limit: requests per window of seconds.
RATE_LIMIT = (5, 2.0)
#: Embeds per message, Discord's maximum (and the library's batch size).
EMBEDS_PER_MESSAGE = 10
#: Marks the child's result line on its stdout.
#: Seconds the parent lets one scenario's subprocess run.
SCENARIO_TIMEOUT = {
    "burst": 150.0,
    "flood": 150.0,
    "mixed-shared": 240.0,
    "mixed-per-channel": 240.0,
    "latency": 150.0,
}
QUICK = ("burst", "flood")
FULL = ("burst", "flood", "mixed-shared", "mixed-per-channel", "latency")

BURST_EVENTS = 250
FLOOD_EVENTS = 5_000
LATENCY_EVENTS = 50  # of each kind
LATENCY_LANES = 5  # webhooks per kind
LATENCY_GAP = 0.25  # seconds between one probe pair and the next
MIXED_SEED = 7
MIXED_HOURS = 1
#: Seconds to wait for a summary held by a coalescing window (1 minute).
WAITS = {"held": 75.0}


# The shipped trade embed, on one channel of its own.
BURST_ROUTING = """\
version: 1
channels:
  trades: {url}
delivery:
  console: "off"
  flush_timeout: 5s
routes:
  - name: trade_executed
    match: {{event: trade_executed}}
    to: trades
    coalesce: false
    embed:
      title: 📝 Trade Executed
      color: "{{{{ 'paper' if is_paper else 'live' }}}}"
      fields:
        - {{name: Agent, value: "{{{{ agent }}}}"}}
        - {{name: Market, value: "{{{{ market }}}}"}}
        - {{name: Side, value: "{{{{ side }}}}"}}
        - {{name: Amount, value: "{{{{ amount | money }}}}"}}
        - {{name: Price, value: "{{{{ price | price }}}}"}}
        - {{name: Fees, value: "{{{{ fees | money }}}}"}}
        - {{name: Time, value: "{{{{ time | datetime }}}}"}}
        - {{name: Trade ID, value: "{{{{ trade_id }}}}"}}
"""

# The shipped catch-all for warnings and errors, on one channel.
FLOOD_ROUTING = """\
version: 1
channels:
  alerts: {url}
delivery:
  console: "off"
  flush_timeout: 5s
routes:
  - name: other_warnings
    match: {{level: warning}}
    to: alerts
    embed:
      title: "{{{{ event | humanize if message == event else message }}}}"
      color: "{{{{ level }}}}"
      fields: auto
      footer: "{{{{ logger }}}} · {{{{ level | upper }}}}"
"""

LATENCY_ROUTING_HEAD = """\
version: 1
delivery:
  console: "off"
  flush_timeout: 5s
routes:
  - name: probe
    match: {event: latency_probe}
    to: "{{ lane }}"
    coalesce: false
    embed:
      title: "probe {{ seq }}"
      fields: auto
channels:
"""

_TIMES = re.compile(r"×(\d+)")


# -- helpers shared by the scenarios (child side) ---------------------------


def clean_environment() -> None:
    """Forget anything that could send elsewhere than the fake."""
    for name in list(os.environ):
        upper = name.upper()
        if (
            upper.startswith("DISCORD_")
            or upper.endswith("_PROXY")
            or upper == "POLYBOT_ROUTING"
        ):
            del os.environ[name]


def write_routing(text: str) -> Path:
    path = Path(tempfile.mkdtemp(prefix="bench-delivery-")) / "routing.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def wait_until(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.01)
    return True


def settle(
    handler: Any, natural: float, flush: float = 30.0
) -> dict[str, Any]:
    """
    Wait for the pipeline to empty on its own for up to *natural* seconds,
    then let a flush wait for the sends still in flight.

    With nothing left in the lanes a flush changes no batching: it only
    waits for requests already taken (and perhaps waiting on a rate
    limit). Returns whether the lanes emptied unforced, and whether the
    flush completed within *flush* seconds.
    """

    def empty() -> bool:
        stats = handler.stats()
        return stats["queued"] == 0 and stats["pending"] == 0

    unforced = wait_until(empty, natural)
    pipeline = handler._pipeline  # noqa: SLF001 - its flush() says if done
    return {"unforced": unforced, "flushed": pipeline.flush(flush)}


def embed_count(embed: dict[str, Any]) -> int:
    """The events one embed stands for: its ``×N``, else 1."""
    found = _TIMES.search((embed.get("footer") or {}).get("text", ""))
    return int(found.group(1)) if found else 1


def fake_summary(fake: Any, t0: float) -> dict[str, Any]:
    messages = fake.messages
    last = max((m.time for m in messages), default=t0)
    return {
        "requests": fake.count(),
        "messages": len(messages),
        "embeds": len(fake.embeds()),
        "status_429": fake.count(429),
        "rejected": len(fake.rejected),
        "server_errors": len(fake.server_errors),
        "drain_s": last - t0,
        "webhooks_used": len({m.key for m in messages}),
    }


def pick_stats(stats: dict[str, int]) -> dict[str, int]:
    keep = ("accepted", "handled", "unmatched", "coalesced", "delivered")
    keep += ("sent.messages", "sent.embeds", "rate_limited", "retries")
    out = {k: stats.get(k, 0) for k in keep}
    out.update(
        {k: v for k, v in stats.items() if k.startswith(("dropped.", "err"))}
    )
    return out


@contextlib.contextmanager
def fake_discord() -> Iterator[Any]:
    from fakes.discord import FakeDiscord

    fake = FakeDiscord(rate_limit=RATE_LIMIT)
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()


def minimum_drain(messages: int) -> float:
    """Seconds the rate limit needs for *messages*: 5 at once, 5 per 2 s."""
    limit, window = RATE_LIMIT
    return window * max(0, math.ceil(messages / limit) - 1)


# -- scenarios ---------------------------------------------------------------


def scenario_burst() -> dict[str, Any]:
    from polybot_loghandler import DiscordHandler

    with fake_discord() as fake:
        url = fake.webhook_url("1001", "tok-burst")
        handler = DiscordHandler(write_routing(BURST_ROUTING.format(url=url)))
        log = make_logger("burst", handler)
        events = [
            {**TRADE, "trade_id": f"paper_{i:04d}"}
            for i in range(BURST_EVENTS)
        ]
        t0 = time.monotonic()
        for extra in events:
            log.info("trade_executed", extra=extra)
        t_logged = time.monotonic()
        arrived = fake.wait_for(
            lambda f: len(f.embeds()) >= BURST_EVENTS, timeout=60
        )
        settled = settle(handler, natural=10)
        result = fake_summary(fake, t0)
        ids = [
            field["value"]
            for embed in fake.embeds()
            for field in embed.get("fields", ())
            if field["name"] == "Trade ID"
        ]
        result.update(
            events=BURST_EVENTS,
            log_s=t_logged - t0,
            all_arrived=arrived,
            distinct=len(set(ids)),
            duplicates=len(ids) - len(set(ids)),
            lost=BURST_EVENTS - len(set(ids)),
            min_messages=math.ceil(BURST_EVENTS / EMBEDS_PER_MESSAGE),
            stats=pick_stats(handler.stats()),
            **settled,
        )
        return result


def scenario_flood() -> dict[str, Any]:
    from polybot_loghandler import DiscordHandler

    with fake_discord() as fake:
        url = fake.webhook_url("1002", "tok-flood")
        handler = DiscordHandler(write_routing(FLOOD_ROUTING.format(url=url)))
        log = make_logger("flood", handler)
        extra = {"agent": "Momentum_BTC_v1", "error": "connection reset"}
        t0 = time.monotonic()
        for _ in range(FLOOD_EVENTS):
            log.error("order_failed", extra=extra)
        t_logged = time.monotonic()
        wait_until(lambda: handler.stats()["handled"] >= FLOOD_EVENTS, 60)
        t_routed = time.monotonic()

        def counted() -> int:
            return sum(embed_count(e) for e in fake.embeds())

        # a summary held for the coalescing window may still be due
        arrived = wait_until(lambda: counted() >= FLOOD_EVENTS, WAITS["held"])
        settled = settle(handler, natural=5)
        result = fake_summary(fake, t0)
        result.update(
            events=FLOOD_EVENTS,
            log_s=t_logged - t0,
            routed_s=t_routed - t0,
            first_s=min((m.time for m in fake.messages), default=t0) - t0,
            all_arrived=arrived,
            counted=counted(),
            counts=[embed_count(e) for e in fake.embeds()],
            stats=pick_stats(handler.stats()),
            **settled,
        )
        return result


def channel_keys(path: Path) -> list[str]:
    import yaml

    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return list(data["channels"])


def repeats(messages: list[Any]) -> list[Any]:
    """
    Messages whose every embed repeats one sent before to the same
    webhook (footer and timestamp aside): summaries that a coalescing
    window held back.
    """
    seen: set[str] = set()
    out = []
    for message in messages:
        keys = [
            json.dumps(
                [
                    message.key,
                    {
                        k: v
                        for k, v in embed.items()
                        if k not in {"footer", "timestamp"}
                    },
                ],
                sort_keys=True,
            )
            for embed in message.json.get("embeds") or ()
        ]
        if keys and all(k in seen for k in keys):
            out.append(message)
        seen.update(keys)
    return out


def scenario_mixed(*, per_channel: bool) -> dict[str, Any]:
    routing = REPO / "routing.yaml"
    keys = channel_keys(routing)
    with fake_discord() as fake:
        if per_channel:
            for n, key in enumerate(keys):
                os.environ[f"DISCORD_WEBHOOK_{key.upper()}"] = (
                    fake.webhook_url(str(2000 + n), f"tok-{key}")
                )
        else:
            os.environ["DISCORD_WEBHOOK_URL"] = fake.webhook_url(
                "1003", "tok-all"
            )
        sys.path.insert(0, str(REPO / "examples"))
        import trading_floor as floor_sim

        console = io.StringIO()  # the example's own console handler
        with contextlib.redirect_stderr(console):
            floor_sim.configure_logging(str(routing))
        handler = next(
            h
            for h in logging.getLogger().handlers
            if type(h).__name__ == "DiscordHandler"
        )
        counter = floor_sim.EventCounter()
        for name in floor_sim.ACTORS:
            logging.getLogger(name).addHandler(counter)
        floor = floor_sim.new_floor(MIXED_SEED)
        t0 = time.monotonic()
        with contextlib.redirect_stderr(console):
            floor_sim.run_day(floor, MIXED_HOURS, 0.0)
        t_logged = time.monotonic()
        settled = settle(handler, natural=WAITS["held"] + 60)
        result = fake_summary(fake, t0)
        # a duplicate of a message already sent is held until its
        # coalescing window (1 minute by default) closes
        late = repeats(fake.messages)
        early = [m.time for m in fake.messages if m not in late]
        stats = handler.stats()
        result.update(
            backlog_drain_s=max(early, default=t0) - t0,
            late=[
                {
                    "at_s": m.time - t0,
                    "titles": [e.get("title", "") for e in m.json["embeds"]],
                    "counts": [embed_count(e) for e in m.json["embeds"]],
                }
                for m in late
            ],
            channels=len(keys),
            logged=counter.count,
            log_s=t_logged - t0,
            delivered=stats.get("delivered", 0),
            stats=pick_stats(stats),
            **settled,
        )
        return result


def latency_routing(urls: dict[str, str]) -> str:
    lines = [f"  {key}: {url}" for key, url in urls.items()]
    return LATENCY_ROUTING_HEAD + "\n".join(lines) + "\n"


def scenario_latency() -> dict[str, Any]:
    from polybot_loghandler import DiscordHandler

    kinds = {"critical": logging.CRITICAL, "ordinary": logging.INFO}
    with fake_discord() as fake:
        urls = {
            f"{kind}_{n}": fake.webhook_url(f"3{k}{n:02d}", f"tok-{kind}{n}")
            for k, kind in enumerate(kinds)
            for n in range(LATENCY_LANES)
        }
        handler = DiscordHandler(write_routing(latency_routing(urls)))
        log = make_logger("latency", handler)

        def arrivals() -> dict[str, float]:
            seen: dict[str, float] = {}
            for request in fake.requests:
                for embed in (request.json or {}).get("embeds") or ():
                    seen.setdefault(embed.get("title", ""), request.time)
            return seen

        # warm up: one critical probe per lane opens the connections
        for lane in urls:
            log.critical("latency_probe", extra={"lane": lane, "seq": lane})
        wait_until(lambda: len(arrivals()) >= len(urls), 10)
        time.sleep(RATE_LIMIT[1])  # and lets every bucket start afresh
        fake.clear()

        sent: dict[str, tuple[str, float]] = {}
        start = time.monotonic()
        for i in range(LATENCY_EVENTS):
            for k, (kind, level) in enumerate(kinds.items()):
                due = start + (i + k / 2) * LATENCY_GAP
                time.sleep(max(0.0, due - time.monotonic()))
                seq = f"{kind}-{i}"
                lane = f"{kind}_{i % LATENCY_LANES}"
                t = time.monotonic()
                log.log(
                    level, "latency_probe", extra={"lane": lane, "seq": seq}
                )
                sent[f"probe {seq}"] = (kind, t)
        arrived = wait_until(lambda: set(sent) <= set(arrivals()), 20)
        settled = settle(handler, natural=5)
        seen = arrivals()
        latency: dict[str, list[float]] = {kind: [] for kind in kinds}
        for title, (kind, t) in sent.items():
            if title in seen:
                latency[kind].append(seen[title] - t)
        result = fake_summary(fake, start)
        result.update(
            all_arrived=arrived,
            latency=latency,
            stats=pick_stats(handler.stats()),
            **settled,
        )
        return result


SCENARIOS: dict[str, Callable[[], dict[str, Any]]] = {
    "burst": scenario_burst,
    "flood": scenario_flood,
    "mixed-shared": lambda: scenario_mixed(per_channel=False),
    "mixed-per-channel": lambda: scenario_mixed(per_channel=True),
    "latency": scenario_latency,
}


def run_child(name: str, *, quick: bool) -> int:
    clean_environment()
    if quick:  # stay under a minute: a flush sends what is still held
        WAITS["held"] = 20.0
    result = SCENARIOS[name]()
    print(RESULT + json.dumps({"scenario": name, **result}), flush=True)
    return 0


# -- the parent: run each scenario in its own process, then report ----------


def run_scenario(name: str, *, quick: bool) -> dict[str, Any]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.upper().startswith("DISCORD_")
        and not k.upper().endswith("_PROXY")
        and k.upper() != "POLYBOT_ROUTING"
    }
    return run_in_child(
        __file__, name, quick=quick, timeout=SCENARIO_TIMEOUT[name], env=env
    )


class Report:
    """The Markdown report, and every target missed on the way."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.missed: list[str] = []
        self.scenario = ""
        self._rows: list[list[str]] = []

    def add(self, *lines: str) -> None:
        self.lines.extend(lines)

    def row(
        self, label: str, value: str, target: str = "", ok: bool | None = None
    ) -> None:
        """One row of a measure table; a target met or missed is marked."""
        mark = "" if ok is None else "✅" if ok else "❌ missed"
        if ok is False:
            self.missed.append(
                f"{self.scenario}: {label} = {value} (target {target})"
            )
        self._rows.append([label, value, target, mark])

    def table(self, header: list[str] | None = None) -> None:
        """Print the rows gathered so far as one table."""
        header = header or ["measure", "value", "target", ""]
        self.add("| " + " | ".join(header) + " |")
        self.add("|" + "---|" + "---:|" * (len(header) - 1))
        self.add(*("| " + " | ".join(row) + " |" for row in self._rows))
        self.add("")
        self._rows = []

    def start(self, title: str, result: dict[str, Any]) -> bool:
        """Open a section; ``False`` (after saying why) if it did not run."""
        self.scenario = result["scenario"]
        self.add(title, "")
        return not self.failed(result)

    def failed(self, result: dict[str, Any], title: str = "") -> bool:
        """Say why a scenario did not run, if it did not."""
        if "error" not in result:
            return False
        self.missed.append(f"{result['scenario']}: {result['error']}")
        if title:
            self.add(title, "")
        self.add(f"**Did not run:** {result['error']}", "", "```text")
        self.add(result.get("stderr", "").rstrip() or "(no stderr)", "```", "")
        return True

    def notes(self, result: dict[str, Any]) -> None:
        """The counters, and anything that went wrong on the side."""
        name = result["scenario"]
        stats = result.get("stats", {})
        counters = ", ".join(f"`{k}` {v:,}" for k, v in stats.items())
        self.add(f"`handler.stats()` ({name}): {counters}", "")
        if not result.get("unforced", True):
            self.add(
                "The lanes had not emptied on their own in time: a flush "
                "sent what was still waiting.",
                "",
            )
        if not result.get("flushed", True):
            self.missed.append(f"{name}: flush() did not finish in time")
        dropped = sum(
            v for k, v in stats.items() if k.startswith(("dropped.", "err"))
        )
        if dropped:
            self.missed.append(f"{name}: {dropped} drops/errors in stats()")
        if result.get("rejected") or result.get("server_errors"):
            self.missed.append(
                f"{name}: {result['rejected']} payloads rejected (400), "
                f"{result['server_errors']} errors inside the fake"
            )
        said = [
            line
            for line in result.get("stderr", "").splitlines()
            if "polybot_loghandler" in line
        ]
        if said:
            self.add("The library said on stderr:", "", "```text", *said)
            self.add("```", "")


def per_message(r: dict[str, Any]) -> str:
    return f"{r['embeds'] / max(r['messages'], 1):.1f}"


def report_burst(rep: Report, r: dict[str, Any]) -> None:
    title = (
        f"## 1. Burst: {BURST_EVENTS} distinct `trade_executed` events "
        "(`coalesce: false`) to one channel"
    )
    if not rep.start(title, r):
        return
    minimum = minimum_drain(r["min_messages"])
    allowed = 1.2 * minimum + 1.0
    per_event = r["requests"] / max(r["distinct"], 1)
    rep.row("HTTP requests", f"{r['requests']:,}")
    rep.row("messages accepted", f"{r['messages']:,}")
    rep.row("embeds delivered", f"{r['embeds']:,}")
    rep.row("embeds per message", per_message(r))
    rep.row(
        "requests per delivered event",
        f"{per_event:.3f}",
        "≤ 0.11",
        per_event <= 0.11,
    )
    rep.row("429s received", str(r["status_429"]), "≤ 1", r["status_429"] <= 1)
    rep.row("events lost", str(r["lost"]), "0", r["lost"] == 0)
    rep.row(
        "embeds delivered twice",
        str(r["duplicates"]),
        "0",
        not r["duplicates"],
    )
    rep.row("time to log all events", f"{r['log_s'] * 1000:.0f} ms")
    rep.row(
        "drain time (first log call → last embed received)",
        f"{r['drain_s']:.2f} s",
        f"≤ 1.2 × minimum + 1 s = {allowed:.1f} s",
        r["drain_s"] <= allowed,
    )
    rep.row(
        f"rate-limit minimum for {r['min_messages']} messages",
        f"{minimum:.1f} s",
    )
    ratio = f"{r['drain_s'] / minimum:.2f}×" if minimum else "n/a"
    rep.row("drain / minimum", ratio)
    rep.table()
    rep.add(
        f"The minimum is for the fewest messages that can carry the burst "
        f"({BURST_EVENTS} / {EMBEDS_PER_MESSAGE} embeds): the first "
        f"{RATE_LIMIT[0]} at once, then {RATE_LIMIT[0]} every "
        f"{RATE_LIMIT[1]:g} s.",
        "",
    )
    rep.notes(r)


def report_flood(rep: Report, r: dict[str, Any]) -> None:
    title = f"## 2. Flood: {FLOOD_EVENTS:,} identical error records"
    if not rep.start(title, r):
        return
    counts = " + ".join(f"{n:,}" for n in r["counts"]) or "none"
    rep.row("messages", f"{r['messages']:,}", "≤ 3", r["messages"] <= 3)
    rep.row(
        "sum of ×N counts",
        f"{r['counted']:,} ({counts})",
        f"= {FLOOD_EVENTS:,}",
        r["counted"] == FLOOD_EVENTS,
    )
    rep.row("HTTP requests", f"{r['requests']:,}")
    rep.row("429s received", str(r["status_429"]))
    rep.row("time to log all events", f"{r['log_s'] * 1000:.0f} ms")
    rep.row(
        "time until the worker had routed and rendered all",
        f"{r['routed_s']:.2f} s",
    )
    rep.row("first message received", f"{r['first_s']:.2f} s")
    rep.row(
        "drain time (first log call → last embed received)",
        f"{r['drain_s']:.2f} s",
    )
    rep.table()
    if len(r["counts"]) > 1:
        rep.add(
            f"The first message left after the batch window with "
            f"{r['counts'][0]:,} events; the worker was still rendering the "
            "rest, which were then held for the coalescing window (1 min) "
            "and sent as a summary.",
            "",
        )
    rep.notes(r)


MIXED_NAMES = {
    "mixed-shared": "one webhook (`DISCORD_WEBHOOK_URL`)",
    "mixed-per-channel": "a webhook per channel (`DISCORD_WEBHOOK_<KEY>`)",
}


def report_mixed(rep: Report, results: list[dict[str, Any]]) -> None:
    title = (
        f"## 3. Mixed: {MIXED_HOURS} hour of `examples/trading_floor.py` "
        f"(seed {MIXED_SEED}, no delay) through the shipped `routing.yaml`"
    )
    rep.add(title, "")
    ok = [
        r
        for r in results
        if not rep.failed(r, f"### {MIXED_NAMES[r['scenario']]}")
    ]
    if not ok:
        return
    measures: list[tuple[str, Callable[[dict[str, Any]], str]]] = [
        ("channels in the routing", lambda r: str(r["channels"])),
        ("webhooks that got messages", lambda r: str(r["webhooks_used"])),
        ("events the actors logged", lambda r: f"{r['logged']:,}"),
        ("events delivered (`delivered`)", lambda r: f"{r['delivered']:,}"),
        ("HTTP requests", lambda r: f"{r['requests']:,}"),
        ("messages accepted", lambda r: f"{r['messages']:,}"),
        ("embeds delivered", lambda r: f"{r['embeds']:,}"),
        ("embeds per message", per_message),
        (
            "requests per delivered event",
            lambda r: f"{r['requests'] / max(r['delivered'], 1):.3f}",
        ),
        ("429s received", lambda r: str(r["status_429"])),
        ("time to log the hour", lambda r: f"{r['log_s'] * 1000:.0f} ms"),
        (
            "drain time (first log call → last embed received)",
            lambda r: f"{r['drain_s']:.2f} s",
        ),
        (
            "… not counting repeats held by a coalescing window",
            lambda r: f"{r['backlog_drain_s']:.2f} s",
        ),
    ]
    rep.add(
        "| measure | "
        + " | ".join(MIXED_NAMES[r["scenario"]] for r in ok)
        + " |"
    )
    rep.add("|---|" + "---:|" * len(ok))
    for label, fmt in measures:
        rep.add(f"| {label} | " + " | ".join(fmt(r) for r in ok) + " |")
    rep.add("")
    for r in ok:
        rep.scenario = r["scenario"]
        for late in r["late"]:
            shown = ", ".join(
                f"{t} ×{n}" if n > 1 else t
                for t, n in zip(late["titles"], late["counts"], strict=True)
            )
            rep.add(
                f"- {MIXED_NAMES[r['scenario']]}: a message arrived "
                f"{late['at_s']:.1f} s after the first log call, repeating "
                "an embed sent before (held by the coalescing window): "
                f"{shown}"
            )
        if r["late"]:
            rep.add("")
        if r["status_429"]:
            rep.missed.append(f"{r['scenario']}: {r['status_429']} 429s")
        rep.notes(r)


def quantile(values: list[float], q: float) -> float:
    """Linear interpolation between the closest ranks."""
    ordered = sorted(values)
    pos = q * (len(ordered) - 1)
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def report_latency(rep: Report, r: dict[str, Any]) -> None:
    title = "## 4. Latency: log call → request arrives at the fake"
    if not rep.start(title, r):
        return
    rep.add(
        "| event | n | p50 | p99 | min | max |",
        "|---|---:|---:|---:|---:|---:|",
    )
    p50: dict[str, float] = {}
    for kind, values in r["latency"].items():
        if not values:
            rep.add(f"| {kind} | 0 | | | | |")
            continue
        ms = [v * 1000 for v in values]
        p50[kind] = quantile(ms, 0.5)
        cells = [quantile(ms, 0.5), quantile(ms, 0.99), min(ms), max(ms)]
        shown = " | ".join(f"{c:,.1f} ms" for c in cells)
        rep.add(f"| {kind} | {len(ms)} | {shown} |")
    rep.add("")
    crit = p50.get("critical", math.inf)
    ordinary = p50.get("ordinary", math.inf)
    rep.row(
        "critical p50", f"{crit:.1f} ms", "immediate (≤ 100 ms)", crit <= 100
    )
    rep.row(
        "ordinary p50",
        f"{ordinary:,.0f} ms",
        "the 1 s batch window (950–1,200 ms)",
        950 <= ordinary <= 1200,
    )
    rep.row(
        "probes that arrived",
        f"{sum(map(len, r['latency'].values()))}",
        f"{2 * LATENCY_EVENTS}",
        r["all_arrived"],
    )
    rep.row("429s received", str(r["status_429"]), "0", not r["status_429"])
    rep.table()
    rep.add(
        f"How: {LATENCY_EVENTS} critical (`log.critical`) and "
        f"{LATENCY_EVENTS} ordinary (`log.info`) probe events, one pair every "
        f"{LATENCY_GAP:g} s (the ordinary one half a gap after the critical "
        f"one). Each kind goes round-robin to {LATENCY_LANES} webhooks of "
        f"its own, so a lane gets one event every "
        f"{LATENCY_LANES * LATENCY_GAP:g} s: nothing batches with it and no "
        "rate limit applies. A warm-up probe per webhook opened the "
        "connections first, and the buckets were left to reset. Latency is "
        "from `time.monotonic()` just before the log call to the fake's "
        "`time.monotonic()` once it had read the first request carrying "
        "that probe's embed: one clock, one process (the fake's server "
        "threads share the GIL with the worker and the logging thread).",
        "",
    )
    rep.notes(r)


def machine_facts(quick: bool, total: float) -> list[str]:
    mode = "quick (scenarios 1-2)" if quick else "full"
    return [
        "# Delivery benchmark against a loopback fake Discord",
        "",
        *machine_lines(mode, total, ["polybot-loghandler", "httpx"]),
        (
            f"- fake: `FakeDiscord(rate_limit={RATE_LIMIT})` on 127.0.0.1: "
            f"{RATE_LIMIT[0]} requests per {RATE_LIMIT[1]:g} s per webhook, "
            "Discord's headers and 429s; default delivery settings (1 s "
            "batch window, 1 min coalescing window); each scenario in a "
            "fresh subprocess"
        ),
        "",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--scenario", choices=sorted(SCENARIOS))
    args = parser.parse_args(argv)
    if args.scenario:
        return run_child(args.scenario, quick=args.quick)

    started = time.monotonic()
    names = QUICK if args.quick else FULL
    results = {}
    for name in names:
        print(f"running {name} ...", file=sys.stderr, flush=True)
        results[name] = run_scenario(name, quick=args.quick)
    rep = Report()
    report_burst(rep, results["burst"])
    report_flood(rep, results["flood"])
    if not args.quick:
        report_mixed(
            rep, [results["mixed-shared"], results["mixed-per-channel"]]
        )
        report_latency(rep, results["latency"])
    rep.add("## Targets missed", "")
    rep.add(*[f"- {m}" for m in rep.missed] or ["- none"])
    print("\n".join(machine_facts(args.quick, time.monotonic() - started)))
    print("\n".join(rep.lines))
    failed = any("error" in r for r in results.values())
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
