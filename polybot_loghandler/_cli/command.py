"""
The ``polybot-loghandler`` command and its subcommands.

``check``, ``preview``, ``demo``, ``setup``, ``send-test`` and ``spool``.

Errors a person made (a bad routing file, bad JSON) print a located
message and exit with status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import runpy
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from polybot_loghandler._config import did_you_mean, load_config
from polybot_loghandler._events import LEVELS, LogEvent, dict_level
from polybot_loghandler._format import counted
from polybot_loghandler._lookup import resolve_routing, shipped_routing
from polybot_loghandler._model import BotChannelDestination, Config
from polybot_loghandler._pipeline import Pipeline, _version
from polybot_loghandler._text import visible_controls
from polybot_loghandler.exceptions import ConfigError

from .envreport import EnvReport, env_report
from .sendtest import send_test
from .setup import (
    SetupError,
    describe,
    env_lines,
    run_setup,
    snowflake_problem,
    write_env_file,
)
from .spool import SpoolUsageError, add_spool_parser

__all__ = ["main"]

EXIT_OK = 0
EXIT_USER_ERROR = 2


def main(argv: Sequence[str] | None = None) -> int:
    """
    Run the command line; returns the exit status.

    .. versionadded:: 0.1.0
    """
    parser = _parser()
    args, extra = parser.parse_known_args(argv)
    if args.command == "demo":
        args.demo_args = _strip_separator(extra)  # the example's own options
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        result: int = args.run(args)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return EXIT_USER_ERROR
    except _UsageError as exc:
        print(f"polybot-loghandler: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except SetupError as exc:
        print(f"polybot-loghandler setup: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except SpoolUsageError as exc:
        print(f"polybot-loghandler spool: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except BrokenPipeError:
        # the reader went away (e.g. `| head`): stop quietly, like cat
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    return result


class _UsageError(Exception):
    """A mistake in what the user asked for, reported without traceback."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="polybot-loghandler",
        description="Route structured log events to Discord by routing.yaml.",
    )
    parser.add_argument(
        "--version",
        action="version",
        version=f"%(prog)s {_version()}",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    check = sub.add_parser(
        "check", help="validate a routing file and show its routes"
    )
    check.add_argument("file", nargs="?", help=_FILE_HELP)
    check.add_argument(
        "--env",
        action="store_true",
        help="also show where each channel goes in this environment, "
        "which variable supplied it (secrets hidden), and which "
        "variables are not set",
    )
    check.set_defaults(run=_check)

    preview = sub.add_parser(
        "preview",
        help="show which routes an event matches and what would be sent",
    )
    preview.add_argument("file", nargs="?", help=_FILE_HELP)
    preview.add_argument(
        "--event",
        help='one event as JSON, e.g. \'{"event": "trade_executed", '
        '"level": "info", "amount": 20}\'; without it, JSON lines are read '
        "from standard input",
    )
    preview.set_defaults(run=_preview)

    demo = sub.add_parser(
        "demo",
        add_help=False,  # --help is the example's own
        help="run the simulated trading floor through the shipped routing "
        "(options are the example's: demo --help)",
    )
    demo.set_defaults(run=_demo, demo_args=[])

    setup = sub.add_parser(
        "setup",
        help="create the routing's categories, channels and webhooks in a "
        "server with the bot token from $DISCORD_BOT_TOKEN",
    )
    setup.add_argument(
        "--guild",
        required=True,
        type=_snowflake("server"),
        metavar="ID",
        help="the server's id (17 to 20 digits: Developer Mode, then "
        "right-click the server → Copy Server ID)",
    )
    setup.add_argument("--routing", help=_FILE_HELP)
    setup.add_argument(
        "--out",
        help="write DISCORD_WEBHOOK_<KEY>=<url> lines to this file "
        "(mode 0600, replaced atomically)",
    )
    setup.add_argument(
        "--dry-run",
        action="store_true",
        help="show what would be created; change nothing",
    )
    setup.set_defaults(run=_setup)

    send = sub.add_parser(
        "send-test",
        help="send one sample embed to each chosen channel and report",
    )
    which = send.add_mutually_exclusive_group()
    which.add_argument(
        "--channel",
        action="append",
        metavar="KEY",
        help="a channel key (repeatable)",
    )
    which.add_argument(
        "--all", action="store_true", help="every channel (the default)"
    )
    send.add_argument("--routing", help=_FILE_HELP)
    send.set_defaults(run=_send_test)

    add_spool_parser(sub, _FILE_HELP)
    return parser


def _snowflake(what: str) -> Callable[[str], str]:
    """An option type: a Discord id, else a usage error naming *what*."""

    def parse(value: str) -> str:
        value = value.strip()  # pasted with a space
        problem = snowflake_problem(value, what)
        if problem is not None:
            raise argparse.ArgumentTypeError(problem)
        return value

    return parse


_FILE_HELP = (
    "routing file (default: $POLYBOT_ROUTING, else ./routing.yaml, else "
    "the shipped Polybot routing)"
)


def _load(file: str | None) -> Config:
    return load_config(resolve_routing(file))


# -- check ------------------------------------------------------------------


def _check(args: argparse.Namespace) -> int:
    config = _load(args.file)
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
    for note in config.notes:
        print(f"note: {note}", file=out)
    if args.env:
        _show_env(env_report(config, os.environ), out)
    return EXIT_OK


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


# -- preview ----------------------------------------------------------------


def _preview(args: argparse.Namespace) -> int:
    config = _load(args.file)
    pipeline = Pipeline(config)
    if args.event is not None:
        ev = _event_from_json(args.event, "--event")
        _show_preview(pipeline, ev, sys.stdout)
        return EXIT_OK
    if sys.stdin.isatty():
        print(
            "reading JSON events from standard input, one per line "
            "(Ctrl-D to end)",
            file=sys.stderr,
        )
    for number, line in enumerate(sys.stdin, 1):
        if not line.strip():
            continue
        ev = _event_from_json(line, f"line {number}")
        _show_preview(pipeline, ev, sys.stdout)
    return EXIT_OK


def _event_from_json(line: str, where: str) -> LogEvent:
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise _UsageError(
            f"{where}: not valid JSON: {exc.msg} (column {exc.colno})"
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("event"), str):
        raise _UsageError(
            f"{where}: an event is a JSON object with an "
            '"event" name, e.g. {"event": "trade_executed"}'
        )
    level_name = str(data.pop("level", "info")).lower()
    level = dict_level({"level": level_name}, "")
    if level_name not in LEVELS and level == dict_level({}, ""):
        raise _UsageError(
            f"{where}: unknown level {level_name!r} (use one of "
            f"{', '.join(LEVELS)})"
        )
    event = data.pop("event")
    logger = str(data.pop("logger", ""))
    message = str(data.pop("message", event))
    return LogEvent(
        event=event,
        level=level,
        logger=logger,
        time=time.time(),
        fields=data,
        message=message,
    )


#: What json.dumps(ensure_ascii=False) leaves that a terminal acts on
#: (DEL, the C1 controls) or cannot write (a lone surrogate).
_RAW_IN_JSON = re.compile("[\x7f-\x9f\ud800-\udfff]")


def _inert_json(body: str) -> str:
    r"""*body* (JSON) with those characters as JSON escapes (``\u007f``)."""
    return _RAW_IN_JSON.sub(lambda m: f"\\u{ord(m.group(0)):04x}", body)


def _show_preview(pipeline: Pipeline, ev: LogEvent, out: TextIO) -> None:
    routed = pipeline.router.route(ev, ev.context(), lambda *_: None)
    # the event's own names are shown as the console sink shows them: a
    # lone surrogate cannot be written, a control character must not act
    print(
        visible_controls(
            f"event {ev.event} ({ev.level_name}"
            f"{', logger ' + ev.logger if ev.logger else ''})"
        ),
        file=out,
    )
    if not routed:
        print("  no route matches: nothing would be sent", file=out)
        return
    for hit in routed:
        channels = ", ".join(hit.channels) or "(none)"
        line = f"  route {hit.route.name} → {channels}"
        print(visible_controls(line), file=out)
    raw = (
        ev.event,
        ev.level,
        ev.logger,
        ev.time,
        dict(ev.fields),
        ev.message,
        ev.exception,
    )
    for message in pipeline.process(raw):
        target = message.target
        dest = target.destination if target else None
        kind = (
            "console"
            if dest is None
            else "bot channel"
            if isinstance(dest, BotChannelDestination)
            else "webhook"
        )
        name = target.name if target else message.channel
        line = f"\n#{name} (key {message.channel}, {kind}):"
        print(visible_controls(line), file=out)
        body = json.dumps(message.payload, indent=2, ensure_ascii=False)
        print(_inert_json(body), file=out)


# -- setup and send-test ------------------------------------------------


def _setup(args: argparse.Namespace) -> int:
    config = _load(args.routing)
    out = Path(args.out) if args.out else None
    if out is not None and not args.dry_run and not out.parent.is_dir():
        raise _UsageError(f"--out: no such directory: {out.parent}")
    result = run_setup(
        config, args.guild, dry_run=args.dry_run, version=_version()
    )
    print(f"server {args.guild}, routing {config.path}:")
    describe(result, print, dry_run=args.dry_run)
    if args.dry_run:
        print("dry run: nothing was changed")
        return EXIT_OK
    lines = env_lines(result.webhooks)
    count = len(result.webhooks)
    if out is not None:
        write_env_file(out, lines)
        print(
            f"wrote {counted(count, 'DISCORD_WEBHOOK_* line')} to {out} "
            "(mode 0600); "
            f"load them with: set -a; . {_shell_path(out)}; set +a"
        )
    else:
        print(
            f"{counted(count, 'webhook URL')} "
            f"{'is' if count == 1 else 'are'} ready. A webhook URL holds a "
            "secret, so none is printed: run again with --out discord.env "
            "to write them as DISCORD_WEBHOOK_<KEY>=<url> lines to a file "
            "only you can read (nothing is created twice), then load them "
            "with: "
            "set -a; . ./discord.env; set +a"
        )
    return EXIT_OK


def _shell_path(path: Path) -> str:
    text = str(path)
    return text if "/" in text else f"./{text}"


def _send_test(args: argparse.Namespace) -> int:
    config = _load(args.routing)
    keys = list(dict.fromkeys(args.channel or config.channels))
    unknown = [k for k in keys if k not in config.channels]
    if unknown:
        named = ", ".join(
            f"{key!r}{did_you_mean(key, list(config.channels))}"
            for key in unknown
        )
        listing = f"polybot-loghandler check {shlex.quote(str(config.path))}"
        raise _UsageError(
            f"--channel: no channel {named} in {config.path}; `{listing}` "
            f"lists its {counted(len(config.channels), 'channel')}"
        )
    results = send_test(config, keys)
    width = max(len(k) for k in keys)
    for key, _, what in results:
        print(f"{key.ljust(width)}  {what}")
    delivered = sum(1 for _, ok, _ in results if ok)
    print(f"{delivered} of {counted(len(results), 'channel')} delivered")
    return EXIT_OK if delivered == len(results) else 1


# -- demo -------------------------------------------------------------------


def demo_script() -> Path:
    """The trading-floor example: packaged in a wheel, else the repo's."""
    packaged = shipped_routing().parent / "trading_floor.py"
    if packaged.name and packaged.is_file():
        return packaged
    return Path(__file__).parents[2] / "examples" / "trading_floor.py"


def _demo(args: argparse.Namespace) -> int:
    script = demo_script()
    if not script.is_file():
        raise _UsageError(f"the demo script is missing: {script}")
    example = runpy.run_path(str(script), run_name="trading_floor")
    try:
        # the demo shows the shipped routing, whatever is in the cwd or
        # the environment, unless --routing says otherwise; its help and
        # errors are headed with this command's name
        code = example["main"](
            list(args.demo_args),
            prog="polybot-loghandler demo",
            routing=str(shipped_routing()),
        )
    except SystemExit as exc:
        return _exit_code(exc.code)
    return _exit_code(code)


def _strip_separator(extra: list[str]) -> list[str]:
    return extra[1:] if extra[:1] == ["--"] else extra


def _exit_code(code: Any) -> int:
    if code is None:
        return EXIT_OK
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1
