"""
``polybot-loghandler preview``: what an event would send, and where.

It shows which routes an event matches and the message each channel
would be sent. Events come as JSON (``--event``, or one per line on
standard input); nothing is sent. With ``--sample`` it shows what a
watch or a digest would send instead: a sample alert and recovery, a
sample digest (made by :mod:`.samples`), from the events given if they
match, else from made-up values.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from typing import TYPE_CHECKING, TextIO

from polybot_loghandler._config.words import did_you_mean
from polybot_loghandler._console import where_parts
from polybot_loghandler._diagnostics import Diagnostics
from polybot_loghandler._events import LEVELS, LogEvent, dict_level
from polybot_loghandler._html.transcript import Transcript
from polybot_loghandler._limits import cuts_recorded
from polybot_loghandler._message import RoutedMessage
from polybot_loghandler._model import (
    BotChannelDestination,
    Config,
    DigestRule,
    WatchRule,
)
from polybot_loghandler._pipeline import Pipeline
from polybot_loghandler._routing import RoutingHolder
from polybot_loghandler._stats import Stats
from polybot_loghandler._text import visible_controls
from polybot_loghandler._watching.render import made_event

from .htmlfile import HTML_HELP, check_writable, write_html
from .samples import digest_sample, watch_samples
from .usage import EXIT_OK, UsageError, load_routing, subcommand

if TYPE_CHECKING:
    from .usage import Subcommands

__all__ = ["add_preview_parser"]


#: What ``preview --event`` takes.
_EVENT_HELP = (
    'an event as JSON, e.g. \'{"event": "trade_executed", "level": '
    '"info", "amount": 20}\' (give it again for more); without it, JSON '
    "lines are read from standard input"
)
#: What ``preview --sample`` takes.
_SAMPLE_HELP = (
    "show a sample of what the watch or digest NAME would send (an alert "
    "and a recovery, a digest), or of every one when no NAME is given; "
    "from the --event events it takes, else from made-up values"
)


def add_preview_parser(sub: Subcommands) -> None:
    """Add ``preview`` to the command line."""
    summary = "show which routes an event matches and what would be sent"
    preview = subcommand(sub, "preview", _preview, summary, file=True)
    preview.add_argument("--event", action="append", help=_EVENT_HELP)
    preview.add_argument(
        "--sample",
        action="append",
        nargs="?",
        const="",
        metavar="NAME",
        help=_SAMPLE_HELP,
    )
    preview.add_argument("--html", metavar="FILE", help=HTML_HELP)


def _preview(args: argparse.Namespace) -> int:
    config = load_routing(args.file)
    events = [_event_from_json(text, "--event") for text in args.event or ()]
    if args.html:
        check_writable(args.html)
    shown = _Shown(sys.stdout, Transcript() if args.html else None)
    with cuts_recorded() as cuts:
        if args.sample is not None:
            rules = _sampled(config, args.sample)
            _show_samples(config, rules, events, shown)
        else:
            _show_events(Pipeline(config), events, shown)
    if shown.transcript is not None:
        write_html(args.html, shown.transcript, config, cuts)
    return EXIT_OK


class _Shown:
    """Where the preview shows messages: a stream, and maybe a page."""

    def __init__(self, out: TextIO, transcript: Transcript | None) -> None:
        self.out = out
        self.transcript = transcript


def _show_events(
    pipeline: Pipeline, events: list[LogEvent], shown: _Shown
) -> None:
    """Preview the ``--event`` events, else those on standard input."""
    if events:
        for ev in events:
            _show_preview(pipeline, ev, shown)
        return
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
        _show_preview(pipeline, ev, shown)


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


def _show_preview(pipeline: Pipeline, ev: LogEvent, shown: _Shown) -> None:
    out = shown.out
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
    _show_messages(pipeline.process(ev.to_raw()), shown)


def _show_messages(messages: list[RoutedMessage], shown: _Shown) -> None:
    """Each message's channel, and the body it would be sent."""
    out = shown.out
    if shown.transcript is not None:
        shown.transcript.add(messages)
    for message in messages:
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
        where = where_parts(message)  # as the console says it, whole
        if where:
            print(f"  {where}", file=out)
        body = json.dumps(message.payload, indent=2, ensure_ascii=False)
        print(_inert_json(body), file=out)


# -- samples of the watches and digests ---------------------------------


def _sampled(config: Config, names: list[str]) -> list[WatchRule | DigestRule]:
    """
    The watches and digests ``--sample`` names, in the file's order.

    ``--sample`` alone (an empty name) stands for all of them.

    Raises:
        UsageError: The file has none, or a name is not one of them.
    """
    both: list[WatchRule | DigestRule] = [*config.watches, *config.digests]
    rules = {rule.name: rule for rule in both}
    if not rules:
        raise UsageError(
            f"{config.path} has no watches or digests: there is nothing "
            "to sample (preview an event with --event)"
        )
    if "" in names:
        return list(rules.values())
    routes = {route.name for route in config.routes}
    for name in names:
        if name in rules:
            continue
        if name in routes:
            raise UsageError(
                f"'{name}' is a route; --sample shows a watch or a digest "
                "(preview a route's message with --event)"
            )
        raise UsageError(
            f"no watch or digest named '{visible_controls(name)}' in "
            f"{config.path}{did_you_mean(name, list(rules))} "
            f"(it has: {', '.join(rules)})"
        )
    return [rule for name, rule in rules.items() if name in names]


def _show_samples(
    config: Config,
    rules: list[WatchRule | DigestRule],
    events: list[LogEvent],
    shown: _Shown,
) -> None:
    """A sample of what each rule sends, as ``--event`` shows an event."""
    out = shown.out
    holder = RoutingHolder(config, None, Stats(), Diagnostics())
    now = time.time()
    for rule in rules:
        if isinstance(rule, WatchRule):
            kind, samples = "watch", watch_samples(config, rule, events, now)
        else:
            kind, samples = (
                "digest",
                [digest_sample(config, rule, events, now)],
            )
        for sample in samples:
            messages = holder.made(sample.output)
            ev = made_event(sample.output)
            values = (
                "made-up values"
                if not events
                else "made-up values: no --event given matches it"
            )
            print(
                visible_controls(
                    f"event {ev.event} ({ev.level_name}): a sample of "
                    f"{kind} {rule.name}, {sample.summary}"
                    f"{f' ({values})' if sample.made_up else ''}"
                ),
                file=out,
            )
            channels = ", ".join(dict.fromkeys(m.channel for m in messages))
            line = f"  route {rule.name} → {channels or '(none)'}"
            print(visible_controls(line), file=out)
            _show_messages(messages, shown)
