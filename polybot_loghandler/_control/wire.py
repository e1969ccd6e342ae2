"""
The control stream's entries and acknowledgements, as Redis carries them.

The bot appends one entry per command to the control stream
(``polybot:control`` unless ``bot.control_stream`` says otherwise); the
entry's stream id is the command's id. An agent that has obeyed (or
failed to) appends an acknowledgement to the stream beside it, the
control stream's name plus ``:acks``. Every value is a string, as Redis
streams keep them; a field this version does not know is ignored, so the
contract grows by adding fields (``v`` stays ``"1"``).

Pure: no Redis here (``redis`` is never imported), only the mapping to
and from the entries' fields.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from polybot_loghandler._relay.connect import decoded

__all__ = [
    "ACKS_SUFFIX",
    "COMMANDS",
    "DEFAULT_STREAM",
    "MAX_ENTRIES",
    "MODES",
    "VERSION",
    "Ack",
    "Command",
    "Malformed",
    "acks_stream",
]

#: The control stream, unless ``bot.control_stream`` names another.
DEFAULT_STREAM = "polybot:control"
#: The acknowledgements' stream is the control stream's name plus this.
ACKS_SUFFIX = ":acks"
#: The contract's version, in every entry's ``v``.
VERSION = "1"
#: The commands the control stream carries.
COMMANDS = ("pause", "resume", "switch")
#: The modes ``switch`` takes.
MODES = ("paper", "live")
#: Each control stream is trimmed to about this many entries.
MAX_ENTRIES = 10_000
#: How long an acknowledgement's error may be, in characters.
MAX_ERROR = 300

AckStatus = Literal["done", "failed"]


class Malformed(ValueError):  # noqa: N818 - reads as what the entry is
    """An entry this version cannot read: the reason, in a line."""


def acks_stream(stream: str) -> str:
    """The acknowledgements' stream of the control stream *stream*."""
    return stream + ACKS_SUFFIX


@dataclass(frozen=True, slots=True)
class Command:
    """
    One control command, as the bot sent it.

    Attributes:
        id: The entry's stream id (``1733489700123-0``): the command's
            id, which its acknowledgements name. Empty until sent.
        command: ``pause``, ``resume`` or ``switch``.
        agent: The agent it is for; empty for every agent (``switch``).
        mode: ``paper`` or ``live`` for ``switch``; empty otherwise.
        requested_by: The Discord name of who asked.
        requested_by_id: Their Discord user id.
        requested_at: When they asked, in epoch seconds.
        via: ``slash`` or ``prefix``: how it was typed.
    """

    command: str
    agent: str = ""
    mode: str = ""
    requested_by: str = ""
    requested_by_id: str = ""
    requested_at: float = 0.0
    via: str = "slash"
    id: str = ""

    def for_agent(self, name: str) -> bool:
        """Whether the agent *name* is to obey it (its own, or everyone's)."""
        return not self.agent or self.agent == name

    def fields(self) -> dict[str, str]:
        """The entry's fields, to append to the control stream."""
        return {
            "v": VERSION,
            "command": self.command,
            "agent": self.agent,
            "mode": self.mode,
            "requested_by": self.requested_by,
            "requested_by_id": self.requested_by_id,
            "requested_at": f"{self.requested_at:.3f}",
            "via": self.via,
        }

    @classmethod
    def from_entry(cls, entry_id: Any, fields: Mapping[Any, Any]) -> Command:
        """
        The command of the stream entry *entry_id* with *fields*.

        Raises:
            Malformed: A version this one cannot read, an unknown
                command, a mode ``switch`` does not take, or a bad time.
        """
        got = {decoded(k): decoded(v) for k, v in fields.items()}
        version = got.get("v", "")
        if version != VERSION:
            raise Malformed(f"version {version!r} (this library reads 1)")
        command = got.get("command", "")
        if command not in COMMANDS:
            raise Malformed(f"unknown command {command!r}")
        mode = got.get("mode", "")
        if command == "switch" and mode not in MODES:
            raise Malformed(f"switch to unknown mode {mode!r}")
        return cls(
            id=decoded(entry_id),
            command=command,
            agent=got.get("agent", ""),
            mode=mode,
            requested_by=got.get("requested_by", ""),
            requested_by_id=got.get("requested_by_id", ""),
            requested_at=_seconds(got.get("requested_at", "")),
            via=got.get("via", ""),
        )


@dataclass(frozen=True, slots=True)
class Ack:
    """
    An agent's answer to a command: obeyed (``done``) or not (``failed``).

    Attributes:
        command_id: The command's id (its control stream entry id).
        agent: The agent that answers.
        status: ``done`` when its callback returned, ``failed`` when it
            raised or could not read the command.
        error: What went wrong, in a line (empty when done).
        acked_at: When, in epoch seconds.
    """

    command_id: str
    agent: str
    status: AckStatus
    error: str = ""
    acked_at: float = 0.0

    def fields(self) -> dict[str, str]:
        """The entry's fields, to append to the acknowledgements' stream."""
        return {
            "v": VERSION,
            "command_id": self.command_id,
            "agent": self.agent,
            "status": self.status,
            "error": " ".join(self.error.split())[:MAX_ERROR],
            "acked_at": f"{self.acked_at:.3f}",
        }

    @classmethod
    def from_entry(cls, fields: Mapping[Any, Any]) -> Ack:
        """
        The acknowledgement with *fields*.

        Raises:
            Malformed: No command id, or a status other than done or
                failed.
        """
        got = {decoded(k): decoded(v) for k, v in fields.items()}
        status = got.get("status", "")
        if status not in ("done", "failed"):
            raise Malformed(f"unknown status {status!r}")
        if not got.get("command_id"):
            raise Malformed("no command_id")
        return cls(
            command_id=got["command_id"],
            agent=got.get("agent", ""),
            status="done" if status == "done" else "failed",
            error=got.get("error", ""),
            acked_at=_seconds(got.get("acked_at", "")),
        )


def _seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        raise Malformed(f"not a time in epoch seconds: {text!r}") from None
    if not math.isfinite(seconds):
        raise Malformed(f"not a time in epoch seconds: {text!r}")
    return seconds
