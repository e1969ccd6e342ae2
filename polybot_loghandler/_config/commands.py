"""
``commands:``: the questions ``ask`` and the bot answer from the state.

Each command is named as Discord names a slash command, says in a line
what it answers (``/help`` lists it), and replies with an embed written
as a route's ``embed:`` is, over the floor's state (``state:``) rather
than an event. ``help``, and the control commands ``pause``, ``resume``
and ``switch``, are the library's own and cannot be redefined.
"""

from __future__ import annotations

import re
from typing import Any

from polybot_loghandler._model import Command
from polybot_loghandler._yaml import KeyPath

from .checker import Checker, RoutingFile
from .embeds import EmbedChecker
from .words import kind_of, shown

__all__ = ["BUILT_IN", "CONTROL", "HELP_HELP", "CommandsChecker"]

#: The commands that change the floor: the bot's alone (``ask`` refuses
#: them).
CONTROL = ("pause", "resume", "switch")
#: The commands the library answers itself: not for ``commands:``.
BUILT_IN = ("help", *CONTROL)
#: What ``/help`` answers, as the lists of commands say it.
HELP_HELP = "What each command answers"
#: Discord's rule for a slash command's name (lowercase, as it shows).
_NAME = re.compile(r"^[a-z0-9_-]{1,32}$")
#: Discord's limit on a slash command's description.
MAX_HELP = 100
_KEYS = ("help", "reply")


class CommandsChecker(Checker):
    """Checks ``commands:`` and makes each command."""

    def __init__(self, file: RoutingFile) -> None:
        super().__init__(file)
        self.embeds = EmbedChecker(file)

    def commands(self, data: Any) -> list[Command]:
        """Every command of *data* (a mapping name → command) that is sound."""
        if data is None:
            return []
        table = self.mapping(data, ("commands",), "commands")
        if table is None:
            return []
        made = (self.command(name, spec) for name, spec in table.items())
        return [command for command in made if command is not None]

    def command(self, name: Any, spec: Any) -> Command | None:
        """The command *name*, if *spec* describes one soundly."""
        path: KeyPath = ("commands", name)
        if not self._name(name, path):
            return None
        table = self.mapping(spec, path, "a command")
        if table is None:
            return None
        before = len(self.file.problems)
        self.keys(table, path, _KEYS, required=_KEYS)
        text = self._help(table.get("help"), (*path, "help"))
        reply = None
        if "reply" in table:
            reply = self.embeds.embed(table["reply"], (*path, "reply"))
            if reply is None and table["reply"] is None:
                self.problem((*path, "reply"), "the reply must not be empty")
        if len(self.file.problems) > before or text is None or reply is None:
            return None
        return Command(name=name, help=text, reply=reply, line=self.line(path))

    def _name(self, name: Any, path: KeyPath) -> bool:
        if not isinstance(name, str) or not _NAME.match(name):
            self.problem(
                path,
                f"a command's name is 1 to 32 lowercase letters, digits, "
                f"'-' or '_' (as Discord names slash commands), not "
                f"{shown(name)}",
            )
            return False
        if name in BUILT_IN:
            self.problem(
                path,
                f"'{name}' is the library's own command (built in: "
                f"{', '.join(BUILT_IN)}); name yours otherwise",
            )
            return False
        return True

    def _help(self, value: Any, path: KeyPath) -> str | None:
        if value is None:
            return None  # told as a missing key, or as empty below
        if not isinstance(value, str):
            self.problem(
                path, f"help must be a line of text, not {kind_of(value)}"
            )
            return None
        text = value.strip()
        if not text or "\n" in text:
            self.problem(path, "help must be one line of text")
            return None
        if len(text) > MAX_HELP:
            self.problem(
                path,
                f"help must be at most {MAX_HELP} characters (Discord's "
                f"limit for a command's description), not {len(text)}",
            )
            return None
        return text
