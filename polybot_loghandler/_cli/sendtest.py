"""
``polybot-loghandler send-test``: one sample embed per channel.

It goes through the same pipeline and delivery engine the handler uses.

Each channel gets its own one-route pipeline, so its statistics say
exactly what became of its message.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import shlex
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from polybot_loghandler._config import did_you_mean
from polybot_loghandler._format import counted
from polybot_loghandler._matching import EventPattern, Matcher
from polybot_loghandler._model import (
    BotChannelDestination,
    Channel,
    Coalesce,
    Config,
    EmbedTemplate,
    FieldTemplate,
    Route,
)
from polybot_loghandler._pipeline import Pipeline
from polybot_loghandler._templates import literal_text

from .usage import EXIT_OK, FILE_HELP, UsageError, load_routing, subcommand

if TYPE_CHECKING:
    from .usage import Subcommands

__all__ = ["SEND_TEST_EVENT", "add_send_test_parser", "send_test"]

SEND_TEST_EVENT = "polybot_loghandler.send_test"
TIMEOUT = 30.0
TEST_COLOR = 0x5865F2

_REASONS = {
    "webhook_gone": "Discord refused the webhook (401/403/404): check its "
    "URL in the environment, or run setup again",
    "rejected": "Discord rejected the message (400)",
    "failed": "Discord answered with an error",
    "server_error": "Discord kept failing (5xx); try again later",
    "rate_limited": "rate limited for too long",
}


def add_send_test_parser(sub: Subcommands) -> None:
    """Add ``send-test`` to the command line."""
    summary = "send one sample embed to each chosen channel and report"
    send = subcommand(sub, "send-test", _send_test, summary)
    which = send.add_mutually_exclusive_group()
    one = "a channel key (repeatable)"
    which.add_argument("--channel", action="append", metavar="KEY", help=one)
    every = "every channel (the default)"
    which.add_argument("--all", action="store_true", help=every)
    send.add_argument("--routing", help=FILE_HELP)


def _send_test(args: argparse.Namespace) -> int:
    config = load_routing(args.routing)
    keys = list(dict.fromkeys(args.channel or config.channels))
    unknown = [k for k in keys if k not in config.channels]
    if unknown:
        named = ", ".join(
            f"{key!r}{did_you_mean(key, list(config.channels))}"
            for key in unknown
        )
        listing = f"polybot-loghandler check {shlex.quote(str(config.path))}"
        raise UsageError(
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


def _route(key: str, channel: Channel) -> Route:
    where = f" in {channel.category}" if channel.category else ""
    return Route(
        name="send_test",
        index=0,
        line=0,
        matcher=Matcher(event=EventPattern([SEND_TEST_EVENT])),
        to=(literal_text(key),),
        coalesce=Coalesce(enabled=False),
        embed=EmbedTemplate(
            # names from the routing file are shown as written, never
            # rendered as templates
            title=literal_text("✅ polybot_loghandler test message"),
            description=literal_text(
                f"If you can read this, #{channel.name}{where} receives "
                f"the messages routed to `{key}`."
            ),
            color=TEST_COLOR,
            fields=(
                FieldTemplate(
                    name=literal_text("Channel key"),
                    value=literal_text(key),
                ),
            ),
            footer=literal_text("polybot-loghandler send-test"),
        ),
        # a forum takes messages only into posts: one of its own
        thread=literal_text("polybot-loghandler send-test")
        if channel.forum
        else None,
    )


def _outcome(channel: Channel, stats: dict[str, int]) -> tuple[bool, str]:
    if stats.get("delivered", 0) >= 1:
        return True, "delivered"
    destination = channel.destination
    if destination is None:
        shown = "shown above" if stats.get("console") else "not shown"
        return False, (
            f"not sent: no destination, so it is {shown} on the console "
            f"(set DISCORD_WEBHOOK_{channel.key.upper()} to send it)"
        )
    for name, value in sorted(stats.items()):
        if name.startswith("dropped.") and value:
            reason = name.removeprefix("dropped.")
            return False, f"not delivered: {_REASONS.get(reason, reason)}"
    if isinstance(destination, BotChannelDestination):
        return False, "not delivered: the bot token was refused or missing"
    return False, f"not delivered within {TIMEOUT:g}s"


def send_test(
    config: Config, keys: Sequence[str]
) -> list[tuple[str, bool, str]]:
    """
    Send one test embed to each channel in *keys*; report each.

    Returns:
        ``(key, delivered, what happened)`` per channel, in *keys* order.
    """
    pipelines: list[tuple[str, Pipeline]] = []
    for key in keys:
        channel = config.channels[key]
        # a channel without a destination shows its message on standard
        # output, above the report, so what it would look like is seen
        console = "stdout" if channel.destination is None else "off"
        single = dataclasses.replace(
            config,
            channels={key: channel},
            routes=(_route(key, channel),),
            delivery=dataclasses.replace(
                config.delivery, console=console, batch_window=0.0
            ),
            notes=(),
        )
        pipelines.append((key, Pipeline(single)))
    try:
        now = time.time()
        for _, pipeline in pipelines:
            pipeline.submit(
                (SEND_TEST_EVENT, logging.INFO, "", now, {}, "", None)
            )
        deadline = time.monotonic() + TIMEOUT
        for _, pipeline in pipelines:
            pipeline.flush(max(0.1, deadline - time.monotonic()))
        return [
            (key, *_outcome(config.channels[key], pipeline.stats()))
            for key, pipeline in pipelines
        ]
    finally:
        for _, pipeline in pipelines:
            pipeline.close(1.0)
