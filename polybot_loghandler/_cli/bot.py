"""
``polybot-loghandler bot``: the floor's commands, in a Discord server.

The bot answers the questions of ``commands:`` from the state the relay
keeps, and sends ``/pause``, ``/resume`` and ``/switch`` to the agents
on the control stream; both live in the Redis of ``delivery.relay``.
It needs the ``bot`` extra (discord.py), the bot token in
``DISCORD_BOT_TOKEN`` (never on the command line, never printed), and
the server's id. ``--register`` registers the commands and exits.

Every mistake a person can fix is told in one line, exit status 2: no
token, a token Discord refuses, a bot not in the server or without the
``applications.commands`` scope, the message-content intent not turned
on. Redis not answering at the start exits 1.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from typing import TYPE_CHECKING

from polybot_loghandler._discord import BOT_TOKEN_ENV
from polybot_loghandler._handler import DiscordHandler
from polybot_loghandler._relay.connect import (
    RelayUnavailable,
)

from .setup import snowflake
from .usage import (
    EXIT_OK,
    EXIT_USER_ERROR,
    FILE_HELP,
    UsageError,
    load_routing,
    subcommand,
)

if TYPE_CHECKING:
    from .usage import Subcommands

__all__ = ["EXIT_NO_REDIS", "INSTALL", "add_bot_parser"]

#: Redis did not answer when the bot started.
EXIT_NO_REDIS = 1

#: What to run when discord.py is missing.
INSTALL = "pip install 'polybot-loghandler[bot]'"

_HELP = {
    "bot": "run the Discord bot: /status, /pnl, /agents, /positions from "
    "the relay's state; /pause, /resume, /switch to the agents",
    "--guild": "the server's id (17 to 20 digits: Developer Mode, then "
    "right-click the server → Copy Server ID)",
    "--register": "register the slash commands for the server, then exit",
}


def add_bot_parser(sub: Subcommands) -> None:
    """Add ``bot`` to the command line."""
    bot = subcommand(sub, "bot", _bot, _HELP["bot"])
    bot.add_argument(
        "--guild",
        required=True,
        type=snowflake("server"),
        metavar="ID",
        help=_HELP["--guild"],
    )
    bot.add_argument("--routing", metavar="FILE", help=FILE_HELP)
    bot.add_argument(
        "--register", action="store_true", help=_HELP["--register"]
    )


def _bot(args: argparse.Namespace) -> int:
    config = load_routing(args.routing)
    if not config.delivery.relay:
        raise UsageError(
            f"the bot reads the floor's state and sends control commands "
            f"through Redis, and delivery.relay is not set in {config.path}"
        )
    token = os.environ.get(BOT_TOKEN_ENV, "").strip()
    if not token:
        raise UsageError(
            f"{BOT_TOKEN_ENV} is not set. The bot reads its token only "
            "from the environment: copy it from the Developer Portal "
            f"(Application → Bot → Reset Token), then `export "
            f"{BOT_TOKEN_ENV}=...`"
        )
    try:
        import discord  # noqa: F401, PLC0415 - the optional extra
    except ImportError:
        raise UsageError(f"the bot needs discord.py: {INSTALL}") from None
    from polybot_loghandler._bot.run import (  # noqa: PLC0415 - discord
        BotError,
        NoRedis,
        run_bot,
    )

    # discord.py warns at every start that voice needs PyNaCl: the bot has
    # no voice, and a person reading its output has nothing to do about it
    logging.getLogger("discord.client").addFilter(_no_voice)
    handler = DiscordHandler(config)
    log = logging.getLogger("bot")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    try:
        asyncio.run(
            run_bot(
                config,
                token,
                int(args.guild),
                register=args.register,
                tell=_tell,
            )
        )
    except RelayUnavailable as exc:
        raise UsageError(str(exc)) from None
    except BotError as exc:
        _tell(str(exc))
        return EXIT_USER_ERROR
    except NoRedis as exc:
        _tell(str(exc))
        return EXIT_NO_REDIS
    finally:
        log.removeHandler(handler)
        handler.close()
    return EXIT_OK


def _no_voice(record: logging.LogRecord) -> bool:
    return "voice will NOT be supported" not in record.getMessage()


def _tell(line: str) -> None:
    print(f"polybot-loghandler bot: {line}", file=sys.stderr)
