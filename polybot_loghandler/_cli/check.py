"""
``polybot-loghandler check``: validate a routing file and show its routes.

With ``--env`` it also shows where each channel goes in this environment
(worked out by :mod:`.envreport`).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, TextIO

from polybot_loghandler._format import counted
from polybot_loghandler._model import BotChannelDestination, Config
from polybot_loghandler._redisurl import redacted_url
from polybot_loghandler._relay.connect import INSTALL

from .envreport import EnvReport, env_report
from .usage import EXIT_OK, load_routing, subcommand

if TYPE_CHECKING:
    from .usage import Subcommands

__all__ = ["add_check_parser"]


#: What ``check --env`` adds.
_ENV_HELP = (
    "also show where each channel goes in this environment, which "
    "variable supplied it (secrets hidden), and which variables are not set"
)


def add_check_parser(sub: Subcommands) -> None:
    """Add ``check`` to the command line."""
    summary = "validate a routing file and show its routes"
    check = subcommand(sub, "check", _check, summary, file=True)
    check.add_argument("--env", action="store_true", help=_ENV_HELP)


def _check(args: argparse.Namespace) -> int:
    config = load_routing(args.file)
    out = sys.stdout
    print(
        f"{config.path}: OK, {counted(len(config.channels), 'channel')}, "
        f"{counted(len(config.routes), 'route')}",
        file=out,
    )
    rows = [("#", "route", "matches", "→ channels", "options")]
    for route in config.routes:
        options = []
        if route.continue_:
            options.append("continue")
        if route.mention is not None:
            options.append(f"pings {route.mention.content}")
        if not route.coalesce.enabled:
            options.append("no coalescing")
        rows.append(
            (
                str(route.index),
                route.name,
                route.matcher.describe(),
                ", ".join(t.source for t in route.to),
                ", ".join(options),
            )
        )
    _table(rows, out)
    unused = sorted(
        set(config.channels) - {t.source for r in config.routes for t in r.to}
    )
    templated = any("{" in t.source for r in config.routes for t in r.to)
    if unused:
        note = (
            " (some routes choose channels by template)" if templated else ""
        )
        print(
            f"\nchannels no route names{note}: {', '.join(unused)}", file=out
        )
    _destinations(config, out)
    for note in config.notes:
        print(f"note: {note}", file=out)
    if args.env:
        _show_env(env_report(config, os.environ), out)
    return EXIT_OK


def _destinations(config: Config, out: TextIO) -> None:
    """Channels on the console, channels that need the bot, the relay."""
    console = config.console_channels
    if console:
        renders = "renders" if len(console) == 1 else "render"
        print(
            f"\n{counted(len(console), 'channel')} with no destination "
            f"{renders} on the console: "
            f"{', '.join(console)}",
            file=out,
        )
    bots = [
        k
        for k, c in config.channels.items()
        if isinstance(c.destination, BotChannelDestination)
    ]
    if bots:
        print(
            f"\nbot-token channels (need DISCORD_BOT_TOKEN): "
            f"{', '.join(bots)}",
            file=out,
        )
    if config.delivery.relay:
        print(f"\n{_relay_line(config.delivery.relay)}", file=out)


def _relay_line(url: str) -> str:
    """What ``delivery.relay`` means for the processes that load the file."""
    line = (
        f"delivery goes through the relay: processes append their events "
        f"to Redis at {redacted_url(url)}, and 'polybot-loghandler relay' "
        "delivers them"
    )
    if importlib.util.find_spec("redis") is None:
        line += f" (the redis package is missing here: {INSTALL})"
    return line


def _show_env(report: EnvReport, out: TextIO) -> None:
    print("\nwhere each channel goes in this environment:", file=out)
    header = ("channel", "to", "destination", "from", "")
    rows = [
        (r.key, r.kind, r.destination, r.source, r.note)
        for r in report.channels
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(5)]

    def line(cells: Sequence[str]) -> str:
        padded = (c.ljust(w) for c, w in zip(cells, widths, strict=True))
        return ("  " + "  ".join(padded)).rstrip()

    print(line(header), file=out)
    print(line(["─" * w for w in widths[:4]] + [""]), file=out)
    categories = any(r.category for r in report.channels)
    category: str | None = None
    for n, (row, cells) in enumerate(zip(report.channels, rows, strict=True)):
        if categories and (n == 0 or row.category != category):
            category = row.category
            print(category or "(no category)", file=out)
        print(line(cells), file=out)
    if report.shared:
        print(
            f"\n{counted(report.shared, 'channel')} share a destination "
            "with another: "
            "their embeds name the channel (#channel-name as the author) "
            "unless the route sets an author",
            file=out,
        )
    if report.written_in_file:
        print(
            f"\nwebhook URLs written in the routing file itself: "
            f"{', '.join(report.written_in_file)} (keep them in the "
            "environment with ${VAR}, so the file holds no secret)",
            file=out,
        )
    if report.unset:
        print("\nnot set (or empty):", file=out)
        width = max(len(u.variable) for u in report.unset)
        for unset in report.unset:
            print(f"  {unset.variable.ljust(width)}  {unset.detail}", file=out)
    else:
        print("\nevery variable the file looks up is set", file=out)
    print(f"\n{report.summary}", file=out)


def _table(rows: Sequence[Sequence[str]], out: TextIO) -> None:
    widths = [
        min(max(len(r[i]) for r in rows), 44) for i in range(len(rows[0]))
    ]
    for n, row in enumerate(rows):
        cells = [
            (
                cell if len(cell) <= widths[i] else cell[: widths[i] - 1] + "…"
            ).ljust(widths[i])
            for i, cell in enumerate(row)
        ]
        print("  ".join(cells).rstrip(), file=out)
        if n == 0:
            print("  ".join("─" * w for w in widths), file=out)
