"""
The bot's life: log in, register the commands, stay connected, close.

Each refusal a person can fix is raised as :class:`BotError`, one
paragraph saying what to do; the token never appears in it (Discord's
answers do not hold it, and what is told is redacted besides).
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable
from typing import Any

import aiohttp
import discord

from polybot_loghandler._discord import API_BASE_ENV
from polybot_loghandler._model import Config
from polybot_loghandler._redisurl import redacted_url
from polybot_loghandler._relay.connect import async_client, scrub
from polybot_loghandler._text import redact_text

from .client import FloorBot
from .desk import Desk

__all__ = ["BotError", "NoRedis", "run_bot"]
#: Discord's code for a bot not in the server, or without the scope.
_MISSING_ACCESS = 50001


class BotError(Exception):
    """A refusal a person can fix, told as one paragraph."""


class NoRedis(Exception):  # noqa: N818 - a state, told in a line
    """Redis did not answer when the bot started."""


async def run_bot(
    config: Config,
    token: str,
    guild_id: int,
    *,
    register: bool,
    tell: Callable[[str], None],
) -> None:
    """
    Run the bot for *guild_id* until SIGTERM or Ctrl-C.

    The API base is ``DISCORD_API_BASE``'s, if set. With *register*, the
    commands are registered and the bot exits. *tell* is given a line
    for the person running it: which commands were registered.

    Raises:
        BotError: Discord refused something a person can fix.
        NoRedis: Redis did not answer at the start.
    """
    base = os.environ.get(API_BASE_ENV, "").strip().rstrip("/")
    if base:
        discord.http.Route.BASE = base
    url = config.delivery.relay or ""
    redis = async_client(url, "polybot_loghandler.bot")
    try:
        await redis.ping()
    except Exception as exc:  # told in a line
        await redis.aclose()
        raise NoRedis(
            f"cannot reach Redis at {redacted_url(url)} "
            f"({scrub(str(exc), url)})"
        ) from None
    bot = FloorBot(Desk(config, redis, url), guild_id)
    try:
        await _serve(bot, token, guild_id, register=register, tell=tell)
    except discord.HTTPException as exc:
        raise BotError(_refusal(exc, guild_id)) from None
    except discord.LoginFailure:
        raise BotError(
            "Discord refused the token in DISCORD_BOT_TOKEN (401): copy it "
            "again from the Developer Portal (Application → Bot → Reset "
            "Token)."
        ) from None
    except discord.PrivilegedIntentsRequired:
        raise BotError(
            "Discord refused the message-content intent, which bot.prefix "
            "needs: turn it on (Developer Portal → Application → Bot → "
            "Message Content Intent), or remove bot.prefix from the "
            "routing file to use the slash commands only."
        ) from None
    except (aiohttp.ClientError, OSError) as exc:
        where = base or "https://discord.com"
        raise BotError(
            f"cannot reach Discord at {where} ({redact_text(str(exc))})"
        ) from None
    finally:
        await bot.close()
        await redis.aclose()


async def _serve(
    bot: FloorBot,
    token: str,
    guild_id: int,
    *,
    register: bool,
    tell: Callable[[str], None],
) -> None:
    await bot.login(token)
    names = await bot.register()
    tell(
        f"{len(names)} commands registered for server {guild_id}: "
        + ", ".join(f"/{n}" for n in names)
    )
    if register:
        return
    loop = asyncio.get_running_loop()
    closing: list[Any] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(
            sig, lambda: closing.append(loop.create_task(bot.close()))
        )
    try:
        await bot.connect(reconnect=True)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


def _refusal(exc: discord.HTTPException, guild_id: int) -> str:
    """What a refused request means for the person running the bot."""
    if exc.code == _MISSING_ACCESS or exc.status == 403:
        return (
            f"Discord refused the bot in server {guild_id} ({exc.status} "
            f"{exc.code}, Missing Access): invite the bot to the server "
            "with the applications.commands scope (Developer Portal → "
            "OAuth2 → URL Generator: bot and applications.commands), and "
            "check the server's id."
        )
    text = redact_text(str(exc.text or exc))
    return f"Discord refused a request ({exc.status} {exc.code}): {text}"
