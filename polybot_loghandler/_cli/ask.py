"""
``polybot-loghandler ask "/agents"``: a command's reply, as text.

The same reply the bot gives, from the same state: the one the relay
keeps in Redis (``state:`` and ``delivery.relay`` of the routing file),
rendered by the command's ``reply:`` and printed as text. It needs no
bot token, and it changes nothing: it refuses the control commands
(``/pause``, ``/resume``, ``/switch``).

Exit statuses: 0 with a reply; 2 for a command the file does not have,
or a control command; 1 when there is no state to answer from.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import TYPE_CHECKING

from polybot_loghandler._config.commands import BUILT_IN, CONTROL, HELP_HELP
from polybot_loghandler._config.words import did_you_mean
from polybot_loghandler._console import embed_lines
from polybot_loghandler._floor.replies import reply_embed
from polybot_loghandler._model import Config
from polybot_loghandler._redisurl import redacted_url
from polybot_loghandler._relay.connect import (
    RelayUnavailable,
    scrub,
    sync_client,
)
from polybot_loghandler._relay.floorstore import read_floor_sync
from polybot_loghandler._text import visible_controls

from .usage import EXIT_OK, FILE_HELP, UsageError, load_routing, subcommand

if TYPE_CHECKING:
    from polybot_loghandler._floor.state import FloorState

    from .usage import Subcommands

__all__ = ["EXIT_NO_STATE", "NoState", "add_ask_parser"]

#: The exit status when there is no state to answer from.
EXIT_NO_STATE = 1


class NoState(Exception):  # noqa: N818 - a reason, told in one line
    """There is no state to answer from (said why, in one line)."""


def add_ask_parser(sub: Subcommands) -> None:
    """Add ``ask`` to the command line."""
    summary = (
        "answer a command (/status, /agents, …) from the floor's state, "
        "as the bot does, as text"
    )
    ask = subcommand(sub, "ask", _ask, summary)
    ask.add_argument(
        "command", help='the command, e.g. "/agents" (the / is optional)'
    )
    ask.add_argument("--routing", metavar="FILE", help=FILE_HELP)


def _ask(args: argparse.Namespace) -> int:
    config = load_routing(args.routing)
    name = _name_of(args.command)
    commands = {command.name: command for command in config.commands}
    if name == "help":
        print(help_text(config))
        return EXIT_OK
    if name in CONTROL:
        raise UsageError(
            f"/{name} changes the floor, and ask is read-only: it answers "
            "questions only"
        )
    if name not in commands:
        known = [*commands, *BUILT_IN]
        raise UsageError(
            f"unknown command '/{visible_controls(name)}'"
            f"{did_you_mean(name, known)} (ask /help lists them)"
        )
    try:
        state = read_state(config)
    except NoState as exc:
        print(f"polybot-loghandler ask: {exc}", file=sys.stderr)
        return EXIT_NO_STATE
    embed = reply_embed(config, commands[name], state, time.time())
    print("\n".join(embed_lines(embed)))
    return EXIT_OK


def _name_of(text: str) -> str:
    """``agents`` from ``/agents``, ``!agents`` or ``agents``."""
    word = text.strip().split(maxsplit=1)[0] if text.strip() else ""
    return word.lstrip("/!").lower()


def help_text(config: Config) -> str:
    """What ``/help`` says: each command with its line, then ``/help``."""
    lines = [f"/{c.name}: {c.help}" for c in config.commands]
    lines.append(f"/help: {HELP_HELP}")
    return "\n".join(lines)


def read_state(config: Config) -> FloorState:
    """
    The state the relay keeps for *config*, read from Redis.

    Raises:
        NoState: The file has no ``state:`` or no ``delivery.relay``, or
            Redis cannot be reached, or the relay has kept none yet.
    """
    if config.state is None:
        raise NoState(
            f"{config.path} has no state: section, so there is nothing "
            "to answer from"
        )
    if not config.delivery.relay:
        raise NoState(
            "the relay keeps the state, and delivery.relay is not set in "
            f"{config.path}"
        )
    url = config.delivery.relay
    try:
        client = sync_client(url, "polybot_loghandler.ask")
    except RelayUnavailable as exc:
        raise NoState(str(exc)) from None
    try:
        view = read_floor_sync(client, config.state)
    except Exception as exc:  # any failure of the read is one line
        raise NoState(
            f"cannot reach Redis at {redacted_url(url)} "
            f"({scrub(str(exc), url)})"
        ) from None
    finally:
        client.close()
    if not view.kept:
        raise NoState(
            "the relay has kept no state yet (is `polybot-loghandler "
            f"relay {config.path}` running?)"
        )
    other = view.other_spec()
    if other:
        print(f"polybot-loghandler ask: note: {other}", file=sys.stderr)
    return view.state
