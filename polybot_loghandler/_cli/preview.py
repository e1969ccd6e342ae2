"""
``polybot-loghandler preview``: what an event would send, and where.

It shows which routes an event matches and the message each channel
would be sent. Events come as JSON (``--event``, or one per line on
standard input); nothing is sent.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from typing import TYPE_CHECKING, TextIO

from polybot_loghandler._events import LEVELS, LogEvent, dict_level
from polybot_loghandler._model import BotChannelDestination
from polybot_loghandler._pipeline import Pipeline
from polybot_loghandler._text import visible_controls

from .usage import EXIT_OK, UsageError, load_routing, subcommand

if TYPE_CHECKING:
    from .usage import Subcommands

__all__ = ["add_preview_parser"]


#: What ``preview --event`` takes.
_EVENT_HELP = (
    'one event as JSON, e.g. \'{"event": "trade_executed", "level": '
    '"info", "amount": 20}\'; without it, JSON lines are read from '
    "standard input"
)


def add_preview_parser(sub: Subcommands) -> None:
    """Add ``preview`` to the command line."""
    summary = "show which routes an event matches and what would be sent"
    preview = subcommand(sub, "preview", _preview, summary, file=True)
    preview.add_argument("--event", help=_EVENT_HELP)


def _preview(args: argparse.Namespace) -> int:
    config = load_routing(args.file)
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
        raise UsageError(
            f"{where}: not valid JSON: {exc.msg} (column {exc.colno})"
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("event"), str):
        raise UsageError(
            f"{where}: an event is a JSON object with an "
            '"event" name, e.g. {"event": "trade_executed"}'
        )
    level_name = str(data.pop("level", "info")).lower()
    level = dict_level({"level": level_name}, "")
    if level_name not in LEVELS and level == dict_level({}, ""):
        raise UsageError(
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
