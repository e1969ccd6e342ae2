"""
What every section of the routing file is checked with.

A ``RoutingFile`` is one reading of a file: its name, where each key
path stands (for the line of a problem), the environment ``${VAR}``
reads, and what the reading found: problems, notes and the variables
each value used. Each section's checker (``channels``, ``delivery``,
``routes``, ``match``, ``embeds``) is a ``Checker`` over that one
reading, so problems from every part land in one list, told the same
way: ``file:line: key.path: message``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timezone, tzinfo
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from polybot_loghandler._discord import SNOWFLAKE_MAX, snowflake_problem
from polybot_loghandler._env import (
    InterpolationError,
    Reference,
    expand_traced,
)
from polybot_loghandler._model import Channel
from polybot_loghandler._templates import TemplateProblem, Text, compile_text
from polybot_loghandler._yaml import KeyPath, LineMap, path_to_str

from .words import NESTED_TOO_DEEP, did_you_mean, kind_of, number_text, shown

_Made = TypeVar("_Made")
#: A duration: seconds, or a number with a unit.
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
#: The longest duration (30 days): longer is a mistake, and infinity
#: would stall the timers it sets.
_MAX_SECONDS = 30 * 86400.0
#: Seconds per unit of a duration.
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def duration_seconds(value: Any) -> float | None:
    """
    Seconds from ``90``, ``'1.5s'``, ``'2m'``, ``'1h'``, ``'1d'``, ``'1w'``.

    ``None`` for anything else, or past 30 days (the routing file's
    durations, and ``mute --for``).
    """
    seconds: float | None = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = finite(value)
    elif isinstance(value, str):
        found = _DURATION.match(value)
        if found:
            seconds = finite(found.group(1))
            if seconds is not None:
                seconds *= _UNITS[found.group(2) or "s"]
    if seconds is not None and 0 <= seconds <= _MAX_SECONDS:
        return seconds
    return None


@dataclass
class RoutingFile:
    """
    One reading of a routing file, shared by the checkers of its sections.

    Attributes:
        name: The file's name, as every problem starts.
        lines: Where each key path stands in the file.
        environ: The variables that ``${VAR}`` reads.
        problems: What is wrong, each with its line, for sorting.
        notes: What is allowed but likely not meant.
        references: The variables each value read, by key path.
        bot_channels: The keys of the channels written ``{id: ...}``
            (sent by a bot), whatever their variables hold: what a bot
            cannot do is refused the same in every environment.
    """

    name: str
    lines: LineMap
    environ: Mapping[str, str]
    problems: list[tuple[int, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    references: dict[KeyPath, tuple[Reference, ...]] = field(
        default_factory=dict
    )
    bot_channels: set[str] = field(default_factory=set)


class Checker:
    """
    Checks shared by every section: keys, kinds, variables, templates.

    Each reports what is wrong to the reading's problems, located by line
    and key path, and returns ``None`` (or a harmless default) in place
    of the value, so checking goes on and every problem is told at once.
    """

    def __init__(self, file: RoutingFile) -> None:
        self.file = file

    def line(self, path: KeyPath) -> int:
        """The line of *path*, or of the nearest key above it."""
        while path and path not in self.file.lines:
            path = path[:-1]
        return self.file.lines.get(path, 1)

    def problem(
        self, path: KeyPath, message: str, line: int | None = None
    ) -> None:
        """Tell what is wrong at *path* (on *line*, if it is not the key's)."""
        where = line if line is not None else self.line(path)
        told = f"{self.file.name}:{where}: {path_to_str(path)}: {message}"
        self.file.problems.append((where, told))

    def note(self, path: KeyPath, message: str) -> None:
        """Tell of what is allowed but likely not meant; the file loads."""
        self.file.notes.append(
            f"{self.file.name}:{self.line(path)}: {path_to_str(path)}: "
            f"{message}"
        )

    def keys(
        self,
        data: Mapping[str, Any],
        path: KeyPath,
        allowed: Sequence[str],
        required: Sequence[str] = (),
    ) -> bool:
        """Tell each key that is not *allowed*, each *required* one missing."""
        ok = True
        for key in data:
            if key not in allowed:
                self.problem(
                    (*path, key),
                    f"unknown key{did_you_mean(key, allowed)}"
                    f" (allowed: {', '.join(allowed)})",
                )
                ok = False
        for key in required:
            if key not in data:
                self.problem(path, f"missing required key '{key}'")
                ok = False
        return ok

    def mapping(
        self, value: Any, path: KeyPath, what: str
    ) -> dict[str, Any] | None:
        """*value* if it is a mapping; else *what* must be one."""
        if isinstance(value, dict):
            return value
        self.problem(path, f"{what} must be a mapping, not {kind_of(value)}")
        return None

    def string(
        self, value: Any, path: KeyPath, what: str = "value"
    ) -> str | None:
        """*value* if it is a string; else *what* must be one."""
        if isinstance(value, str):
            return value
        self.problem(path, f"{what} must be a string, not {kind_of(value)}")
        return None

    def env(self, value: str, path: KeyPath) -> str | None:
        """*value* with its ``${VAR}`` filled in, the variables noted."""
        try:
            expansion = expand_traced(value, self.file.environ)
        except InterpolationError as exc:
            self.problem(path, str(exc))
            return None
        except RecursionError:
            self.problem(path, NESTED_TOO_DEEP.format(what="'${...}'"))
            return None
        self.file.references[path] = expansion.references
        return expansion.value.strip()

    def sole_variable(self, path: KeyPath, value: str) -> str | None:
        """The variable whose value alone makes *value*, if there is one."""
        names = dict.fromkeys(
            r.name for r in self.file.references.get(path, ()) if r.used
        )
        if len(names) != 1:
            return None
        (name,) = names
        return (
            name if self.file.environ.get(name, "").strip() == value else None
        )

    def template(
        self, source: Any, path: KeyPath, mode: str = "markdown"
    ) -> Text | None:
        """*source* compiled as a template, its problem on its own line."""
        if isinstance(source, (int, float)) and not isinstance(source, bool):
            source = number_text(source)
            if source is None:
                self.problem(path, "a number too long to show; quote it")
                return None
        text = self.string(source, path, "a template")
        if text is None:
            return None
        return self.compiled(path, lambda: compile_text(text, mode=mode))

    def compiled(
        self, path: KeyPath, make: Callable[[], _Made]
    ) -> _Made | None:
        """
        What *make* compiles at *path*, or ``None``, its problem told.

        A template's problem is told on its own line of the file.
        """
        try:
            return make()
        except TemplateProblem as exc:
            start = self.file.lines.text_start.get(path, self.line(path))
            self.problem(path, str(exc), start + exc.lineno - 1)
        except RecursionError:
            self.problem(path, NESTED_TOO_DEEP.format(what="the template"))
        return None

    def duration(self, value: Any, path: KeyPath) -> float | None:
        """Seconds from ``90``, ``'1.5s'``, ``'2m'``, ``'1h'``, ``'1d'``..."""
        seconds = duration_seconds(value)
        if seconds is not None:
            return seconds
        self.problem(
            path,
            f"invalid duration {shown(value)} (use seconds, or a number with "
            "ms, s, m, h, d or w, e.g. '1.5s' or '2m'; at most 30 days)",
        )
        return None

    def zone(self, data: Any, path: KeyPath) -> tuple[str, tzinfo] | None:
        """A ``timezone:``: its name as written, and the zone."""
        name = self.string(data, path, "timezone")
        if name is None:
            return None
        if name.strip().upper() == "UTC":
            return "UTC", timezone.utc
        try:
            return name, ZoneInfo(name.strip())
        except (ZoneInfoNotFoundError, ValueError):
            self.problem(
                path,
                f"unknown time zone {shown(name)} (use a name from the "
                "IANA database, such as Europe/London or America/New_York, "
                "or UTC)",
            )
            return None

    def zone_of(
        self, table: Mapping[str, Any], path: KeyPath
    ) -> tuple[str, tzinfo]:
        """*table*'s ``timezone:``; UTC without one or with a bad one."""
        if "timezone" in table:
            found = self.zone(table["timezone"], (*path, "timezone"))
            if found is not None:
                return found
        return "UTC", timezone.utc

    def positive_whole(
        self, value: Any, path: KeyPath, meaning: str = ""
    ) -> int | None:
        """
        *value* if it is a whole number above zero; else it must be one.

        *meaning* says what the number counts, in the message: ``" (the
        messages of each channel shown on the console)"``.
        """
        number = positive_int(value)
        if number is None:
            self.problem(
                path,
                f"must be a positive whole number{meaning}, not "
                f"{shown(value)}",
            )
        return number

    def field_names(
        self, value: Any, path: KeyPath, key: str, *, at_least_one: bool
    ) -> tuple[str, ...] | None:
        """
        *value* if it is a list of field names; else *key* takes one.

        A field name is a string that is not empty; with *at_least_one*,
        the list must not be empty either.
        """
        if (
            isinstance(value, list)
            and (value or not at_least_one)
            and all(isinstance(name, str) and name for name in value)
        ):
            return tuple(value)
        self.problem(path, f"'{key}' takes a list of field names")
        return None

    def discord_id(
        self, value: str, path: KeyPath, what: str, written: str
    ) -> str | None:
        """
        *value* if it is a Discord id (``_discord.snowflake_problem``).

        *what* is whose id it is (``channel``, ``role``, ``user``). A
        message quotes *written*, what the file says, never the value: a
        variable named by mistake may hold a token. A number with fewer
        digits than any id Discord makes is kept, with a note: it is
        likely a typo, but a server that stands in for Discord (a test
        server) may make such ids.
        """
        problem = snowflake_problem(value)
        if problem is None:
            return value
        if problem.short:
            self.note(
                path,
                f"the {what} id from {shown(written)} has fewer digits "
                f"than any Discord makes ({problem.rule}): check it (with "
                f"Developer Mode on, right-click the {what} and choose "
                f"Copy {what.title()} ID)",
            )
            return value
        limit = f" no larger than {SNOWFLAKE_MAX}" if problem.number else ""
        self.problem(
            path, f"a {what} id is a number{limit}, not {shown(written)}"
        )
        return None

    def channel_key(
        self, key: str, path: KeyPath, channels: Mapping[str, Channel]
    ) -> None:
        """Tell a *key* that names no channel (delivery's or a route's)."""
        if key not in channels:
            self.problem(
                path,
                f"unknown channel '{key}'"
                f"{did_you_mean(key, list(channels))}"
                " (channels are declared under 'channels:')",
            )


def positive_int(value: Any) -> int | None:
    """*value* if it is a whole number above zero (not true), else ``None``."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return None


def is_off(value: Any) -> bool:
    """
    Whether *value* turns a key off: the word ``off``, or ``false``.

    YAML reads a bare ``off`` as false, so both mean it.
    """
    return value is False or value == "off"


def finite(value: float | str) -> float | None:
    """*value* as a finite float, or ``None`` (too large, inf or nan)."""
    try:
        number = float(value)
    except (OverflowError, ValueError):
        return None
    return number if math.isfinite(number) else None
