"""
Gateway events as Discord sends them, for discord.py's own parsers.

The bot's tests have no gateway: they hand discord.py the ``d`` of the
events a gateway would send (``GUILD_CREATE``, ``MESSAGE_CREATE``) through
its connection state's parsers, and the interactions the loopback fake
makes (:meth:`fakes.discord.FakeDiscord.interaction`). Only the keys
discord.py 2.x reads without a default are here, with the values a real
server has.
"""

from __future__ import annotations

import itertools
from typing import Any

__all__ = ["guild_create", "message_create", "role"]

_ids = itertools.count(1_300_000_000_000_000_000)
#: When every made event happened.
_AT = "2026-02-01T14:33:45.000000+00:00"


def role(role_id: str, name: str, position: int = 1) -> dict[str, Any]:
    """A role of the server."""
    return {
        "id": role_id,
        "name": name,
        "color": 0,
        "hoist": False,
        "position": position,
        "permissions": "0",
        "managed": False,
        "mentionable": False,
        "flags": 0,
    }


def guild_create(
    guild_id: str, roles: list[dict[str, Any]], channel_id: str
) -> dict[str, Any]:
    """The server as the bot first hears of it: roles and one channel."""
    return {
        "id": guild_id,
        "name": "Polybot",
        "icon": None,
        "owner_id": "1",
        "roles": [role(guild_id, "@everyone", 0), *roles],
        "emojis": [],
        "stickers": [],
        "features": [],
        "member_count": 3,
        "members": [],
        "channels": [
            {
                "id": channel_id,
                "type": 0,
                "guild_id": guild_id,
                "name": "bot-commands",
                "position": 0,
                "permission_overwrites": [],
                "nsfw": False,
                "parent_id": None,
            }
        ],
        "threads": [],
        "voice_states": [],
        "presences": [],
        "unavailable": False,
        "large": False,
        "premium_tier": 0,
        "verification_level": 0,
        "default_message_notifications": 0,
        "explicit_content_filter": 0,
        "mfa_level": 0,
        "nsfw_level": 0,
        "preferred_locale": "en-US",
        "system_channel_flags": 0,
        "joined_at": _AT,
        "stage_instances": [],
        "guild_scheduled_events": [],
    }


def message_create(
    *,
    guild_id: str,
    channel_id: str,
    user_id: str,
    username: str,
    role_ids: tuple[str, ...] = (),
    content: str,
    bot: bool = False,
) -> dict[str, Any]:
    """A message typed in the server, with its author's membership."""
    return {
        "id": str(next(_ids)),
        "type": 0,
        "channel_id": channel_id,
        "guild_id": guild_id,
        "author": {
            "id": user_id,
            "username": username,
            "discriminator": "0",
            "global_name": None,
            "avatar": None,
            "bot": bot,
            "public_flags": 0,
        },
        "member": {
            "roles": list(role_ids),
            "joined_at": _AT,
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
            "nick": None,
            "avatar": None,
            "premium_since": None,
        },
        "content": content,
        "timestamp": _AT,
        "edited_timestamp": None,
        "tts": False,
        "mention_everyone": False,
        "mentions": [],
        "mention_roles": [],
        "attachments": [],
        "embeds": [],
        "pinned": False,
        "flags": 0,
        "components": [],
    }
