"""
``bot:``: who may run the bot's control commands, and where they go.

The section is optional, and so is each key: without it, the bot answers
the questions of ``commands:`` and refuses every control command (no role
may run them until one is named). ``ask`` does not read it.
"""

from __future__ import annotations

from typing import Any

from polybot_loghandler._control.wire import DEFAULT_STREAM
from polybot_loghandler._model import BotSettings
from polybot_loghandler._yaml import KeyPath

from .checker import Checker
from .words import kind_of, shown

__all__ = ["BotChecker"]

_KEYS = ("control_roles", "control_stream", "ack_within", "prefix")
#: The longest wait for acknowledgements: the bot then edits its reply,
#: which Discord allows for 15 minutes after a slash command.
MAX_ACK_WITHIN = 600.0
#: What a message prefix may be: short, and no space or markdown in it.
_MAX_PREFIX = 5


class BotChecker(Checker):
    """Checks ``bot:`` and makes its :class:`BotSettings`."""

    def bot(self, data: Any) -> BotSettings:
        """The section's settings; the defaults without one."""
        if data is None:
            return BotSettings()
        path: KeyPath = ("bot",)
        table = self.mapping(data, path, "bot")
        if table is None:
            return BotSettings()
        self.keys(table, path, _KEYS)
        made = BotSettings()
        roles = self._roles(
            table.get("control_roles"), (*path, "control_roles")
        )
        stream = self._stream(
            table.get("control_stream", DEFAULT_STREAM),
            (*path, "control_stream"),
        )
        within: float | None = made.ack_within
        if "ack_within" in table:
            within = self._within(table["ack_within"], (*path, "ack_within"))
        prefix = self._prefix(table.get("prefix"), (*path, "prefix"))
        return BotSettings(
            control_roles=roles,
            control_stream=stream or DEFAULT_STREAM,
            ack_within=within or made.ack_within,
            prefix=prefix,
        )

    def _roles(self, value: Any, path: KeyPath) -> tuple[str, ...]:
        if value is None:
            return ()
        items = value if isinstance(value, list) else [value]
        roles: list[str] = []
        for index, item in enumerate(items):
            where = (*path, index) if isinstance(value, list) else path
            number = isinstance(item, int) and not isinstance(item, bool)
            text = self.string(
                str(item) if number else item, where, "a role (its name or id)"
            )
            if text is None:
                continue
            role = self.env(text, where)
            if not role:
                self.problem(where, "a role's name or id must not be empty")
                continue
            if not role.isdigit() or self.discord_id(
                role, where, "role", text
            ):
                roles.append(role)
        return tuple(roles)

    def _within(self, value: Any, path: KeyPath) -> float | None:
        seconds = self.duration(value, path)
        if seconds is not None and not 1 <= seconds <= MAX_ACK_WITHIN:
            self.problem(
                path,
                f"ack_within must be from 1s to {MAX_ACK_WITHIN // 60:.0f}m "
                "(the bot edits its reply when the time is up, and Discord "
                f"lets it for 15 minutes), not {shown(value)}",
            )
            return None
        return seconds

    def _stream(self, value: Any, path: KeyPath) -> str | None:
        text = self.string(value, path, "control_stream")
        if text is None:
            return None
        stream = self.env(text, path)
        if not stream:
            self.problem(path, "control_stream must name a Redis stream")
            return None
        return stream

    def _prefix(self, value: Any, path: KeyPath) -> str | None:
        if value is None or value is False:
            return None
        if not isinstance(value, str):
            self.problem(
                path,
                f"prefix must be a string such as '!', not {kind_of(value)}",
            )
            return None
        if (
            not value
            or len(value) > _MAX_PREFIX
            or any(c.isspace() or c in "*_~`|>@#<" for c in value)
        ):
            self.problem(
                path,
                f"prefix must be 1 to {_MAX_PREFIX} characters with no "
                f"space, markdown, @, # or <, such as '!', not {shown(value)}",
            )
            return None
        return value
