"""
``polybot-loghandler check``: validate a routing file and show its rules.

It lists the routes, then the watches and the digests, each as a table
of what it takes, where it sends and what else it does, then the
floor's state: its tables and totals, each rule as what it matches and
what it changes. With ``--env``
it also shows where each channel goes in this environment (worked out by
:mod:`.envreport`).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import math
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TextIO

from polybot_loghandler._bot.replies import CONTROL_HELP
from polybot_loghandler._config.commands import HELP_HELP
from polybot_loghandler._floor.model import (
    KEEP,
    Rule,
    StateSpec,
    TableSpec,
)
from polybot_loghandler._format import counted
from polybot_loghandler._model import (
    BotChannelDestination,
    BotSettings,
    Config,
    DigestRule,
    Fold,
    Route,
    WatchRule,
)
from polybot_loghandler._redisurl import redacted_url
from polybot_loghandler._relay.connect import INSTALL
from polybot_loghandler._watching.measures import Measure

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
    summary = (
        "validate a routing file and show its routes, watches, digests, "
        "state and commands"
    )
    check = subcommand(sub, "check", _check, summary, file=True)
    check.add_argument("--env", action="store_true", help=_ENV_HELP)


def _check(args: argparse.Namespace) -> int:
    config = load_routing(args.file)
    out = sys.stdout
    print(f"{config.path}: OK, {_contents(config)}", file=out)
    tables = _tables(config)
    for n, (rows, whole_last) in enumerate(tables):
        if n:
            print(file=out)
        _table(rows, out, whole_last=whole_last)
    _unused(config, out)
    _destinations(config, out)
    for note in config.notes:
        print(f"note: {note}", file=out)
    if args.env:
        _show_env(env_report(config, os.environ), out)
    return EXIT_OK


def _tables(config: Config) -> list[tuple[list[tuple[str, ...]], bool]]:
    """
    A table for each kind of rule the file has, in the file's order.

    Each with whether its last column is shown whole (a rule's text is
    never cut).
    """
    tables: list[tuple[list[tuple[str, ...]], bool]] = []
    state = config.state
    if config.routes or not (config.watches or config.digests or state):
        tables.append((_route_rows(config.routes), False))
    if config.watches:
        tables.append((_watch_rows(config.watches), False))
    if config.digests:
        tables.append((_digest_rows(config.digests), False))
    if state is not None and state.tables:
        tables.append((_state_table_rows(state.tables), True))
    if state is not None and state.totals:
        tables.append((_state_total_rows(state), True))
    if config.commands or config.bot != BotSettings():
        tables.append((_command_rows(config), True))
    return tables


def _route_rows(routes: Sequence[Route]) -> list[tuple[str, ...]]:
    """The table of the routes: what each takes, where it sends it."""
    rows: list[tuple[str, ...]] = [
        ("#", "route", "matches", "→ channels", "options")
    ]
    for route in routes:
        options = []
        if route.continue_:
            options.append("continue")
        if route.mention is not None:
            options.append(f"pings {route.mention.content}")
        if not route.coalesce.enabled:
            options.append("no coalescing")
        options.extend(_fold_options(route.fold))
        options.extend(_place_options(route))
        rows.append(
            (
                str(route.index),
                route.name,
                route.matcher.describe(),
                ", ".join(t.source for t in route.to),
                ", ".join(options),
            )
        )
    return rows


def _fold_options(fold: Fold) -> list[str]:
    """A route's ``fold:`` and ``max_lag:``, when not the defaults."""
    options = []
    if fold.never:
        options.append("never folded")
    elif fold.group_by is not None:
        options.append(f"folds by {fold.group_by}")
    if fold.max_lag is not None:
        lag = "off" if math.isinf(fold.max_lag) else span(fold.max_lag)
        options.append(f"max_lag {lag}")
    return options


def _place_options(route: Route) -> list[str]:
    """A route's board, thread and identity, as written."""
    options = []
    if route.board is not None:
        options.append(f"board {route.board.source}")
    if route.thread is not None:
        options.append(f"thread {route.thread.source}")
    if route.thread_id is not None:
        options.append(f"thread id {route.thread_id}")
    identity = route.identity
    if identity is not None:
        if identity.username is not None:
            options.append(f"as {identity.username.source}")
        if identity.avatar_url is not None:
            options.append("own avatar")
    return options


def _unused(config: Config, out: TextIO) -> None:
    """The channels nothing names (a template may still choose them)."""
    rules: list[Route | WatchRule | DigestRule] = [
        *config.routes,
        *config.watches,
        *config.digests,
    ]
    targets = [t.source for rule in rules for t in rule.to]
    unused = sorted(set(config.channels) - set(targets))
    if not unused:
        return
    kinds, names = "routes", "route"
    if config.watches or config.digests:
        kinds, names = "routes, watches or digests", "route, watch or digest"
    templated = any("{" in target for target in targets)
    note = f" (some {kinds} choose channels by template)" * templated
    print(f"\nchannels no {names} names{note}: {', '.join(unused)}", file=out)


def _contents(config: Config) -> str:
    """``37 channels, 39 routes``, and the watches and digests, if any."""
    parts = [
        counted(len(config.channels), "channel"),
        counted(len(config.routes), "route"),
    ]
    if config.watches:
        parts.append(counted(len(config.watches), "watch", "watches"))
    if config.digests:
        parts.append(counted(len(config.digests), "digest"))
    if config.state is not None:
        if config.state.tables:
            parts.append(counted(len(config.state.tables), "table"))
        if config.state.totals:
            parts.append(counted(len(config.state.totals), "total"))
    if config.commands:
        parts.append(counted(len(config.commands), "command"))
    return ", ".join(parts)


def _watch_rows(watches: Sequence[WatchRule]) -> list[tuple[str, ...]]:
    """The table of the watches: what each listens to and tells."""
    rows: list[tuple[str, ...]] = [
        (
            "#",
            "watch",
            "matches",
            "key",
            "alert after",
            "→ channels",
            "options",
        )
    ]
    for watch in watches:
        options = []
        if watch.mention is not None:
            options.append(f"alerts ping {watch.mention.content}")
        if watch.expect:
            options.append(f"expects {', '.join(watch.expect)}")
        if watch.end is not None:
            options.append(f"ends at {watch.end.describe()}")
        if not watch.recovery:
            options.append("no recovery")
        if watch.max_keys != _default(WatchRule, "max_keys"):
            options.append(f"at most {counted(watch.max_keys, 'key')}")
        rows.append(
            (
                str(watch.index),
                watch.name,
                watch.matcher.describe(),
                "(one key)" if watch.key is None else watch.key.source,
                span(watch.alert_after),
                ", ".join(t.source for t in watch.to),
                ", ".join(options),
            )
        )
    return rows


def _digest_rows(digests: Sequence[DigestRule]) -> list[tuple[str, ...]]:
    """The table of the digests: what each sums up, how often, where."""
    rows: list[tuple[str, ...]] = [
        (
            "#",
            "digest",
            "matches",
            "every",
            "group by",
            "measures",
            "→ channels",
            "options",
        )
    ]
    for digest in digests:
        options = []
        if digest.mention is not None:
            options.append(f"pings {digest.mention.content}")
        if digest.top is not None:
            options.append(f"top {digest.top}")
        if digest.grace != _default(DigestRule, "grace"):
            options.append(f"grace {span(digest.grace)}")
        if digest.max_groups != _default(DigestRule, "max_groups"):
            options.append(f"at most {counted(digest.max_groups, 'group')}")
        measures = ", ".join(
            f"{name}={_measure(m)}" for name, m in digest.measures
        )
        rows.append(
            (
                str(digest.index),
                digest.name,
                digest.matcher.describe(),
                f"{span(digest.every)} {digest.zone_name}",
                digest.group_by or "(one group)",
                measures,
                ", ".join(t.source for t in digest.to),
                ", ".join(options),
            )
        )
    return rows


def _state_table_rows(
    tables: Sequence[TableSpec],
) -> list[tuple[str, ...]]:
    """The state's tables: a row per rule, the table's on its first."""
    rows: list[tuple[str, ...]] = [("table", "key", "options", "rules")]
    for table in tables:
        options = []
        if table.each is not None:
            options.append(f"each {table.each}")
        if table.keep != KEEP:
            options.append(f"keep {counted(table.keep, 'row')}")
        first = (table.name, str(table.key.source), ", ".join(options))
        for n, rule in enumerate(table.rules):
            rows.append((*(first if n == 0 else ("",) * 3), _rule_text(rule)))
    return rows


def _state_total_rows(state: StateSpec) -> list[tuple[str, ...]]:
    """The state's totals: a row per rule, the total's on its first."""
    rows: list[tuple[str, ...]] = [("total", "periods", "rules")]
    for total in state.totals:
        periods = f"{', '.join(total.periods)} ({state.zone_name})"
        first = (total.name, periods)
        for n, rule in enumerate(total.rules):
            rows.append((*(first if n == 0 else ("",) * 2), _rule_text(rule)))
    return rows


def _command_rows(config: Config) -> list[tuple[str, ...]]:
    """
    The commands ``ask`` and the bot answer, each with its help.

    Then the library's own: ``/help``, and the bot's control commands
    with who may run them (``bot.control_roles``).
    """
    rows: list[tuple[str, ...]] = [("command", "answers")]
    rows.extend((f"/{c.name}", c.help) for c in config.commands)
    rows.append(("/help", f"{HELP_HELP} (built in)"))
    roles = config.bot.control_roles
    who = (
        f"for {' or '.join(roles)}"
        if roles
        else "off: bot.control_roles names no role"
    )
    rows.extend(
        (usage, f"{text} (the bot's, {who})")
        for usage, text in CONTROL_HELP.values()
    )
    return rows


def _rule_text(rule: Rule) -> str:
    """``agent_started → set status, mode``, ``… → remove``, ``… → add n``."""
    if rule.remove:
        does = "remove"
    elif rule.set:
        does = "set " + ", ".join(name for name, _ in rule.set)
    else:
        does = "add " + ", ".join(name for name, _ in rule.add)
    go_on = " (continue)" if rule.continue_ else ""
    return f"{rule.matcher.describe()} → {does}{go_on}"


def _default(rule: type[WatchRule | DigestRule], name: str) -> Any:
    """The default of a rule's key: an option differs from it."""
    return next(f.default for f in dataclasses.fields(rule) if f.name == name)


def _measure(measure: Measure) -> str:
    if measure.field is None:
        return measure.function
    return f"{measure.function}({measure.field})"


def span(seconds: float) -> str:
    """
    A duration as ``routing.yaml`` writes it: ``3m``, ``1h``, ``1w``.

    The largest unit that divides it whole, so ``90`` reads ``90s`` and
    ``5400`` reads ``90m``; a fraction of a second in ``ms``.
    """
    for unit, size in _UNITS:
        count = seconds / size
        if count >= 1 and count == int(count):
            return f"{int(count)}{unit}"
    return f"{round(seconds * 1000):g}ms"


#: The units of :func:`span`, the largest first.
_UNITS = (
    ("w", 604_800),
    ("d", 86_400),
    ("h", 3_600),
    ("m", 60),
    ("s", 1),
)


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


def _table(
    rows: Sequence[Sequence[str]], out: TextIO, *, whole_last: bool = False
) -> None:
    """
    *rows* as columns, the first a header; cells past 44 characters cut.

    With *whole_last*, the last column is not cut (it widens no other).
    """
    widths = [
        min(max(len(r[i]) for r in rows), 44) for i in range(len(rows[0]))
    ]
    if whole_last:
        widths[-1] = max(len(r[-1]) for r in rows)
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
