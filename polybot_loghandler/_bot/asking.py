"""
A command as someone typed it, and what the bot is to do with it. Pure.

The same :class:`Request` comes from a slash command (``/pause
agent:Momentum_BTC_v1``) and from a message (``!pause agent
Momentum_BTC_v1``), so both are answered, refused and logged alike.
:func:`decide` says what to do: answer a question from the state, answer
``/help``, refuse (an unknown command, a missing option, a member
without a control role), ask for confirmation (``/switch mode:live``),
or send a control command.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum

from polybot_loghandler._config.commands import BUILT_IN, CONTROL
from polybot_loghandler._config.words import did_you_mean
from polybot_loghandler._control.wire import MODES, Command
from polybot_loghandler._model import Config

__all__ = [
    "CONTROL",
    "MAX_AGENT",
    "OPTIONS",
    "Asker",
    "Decision",
    "Request",
    "Step",
    "decide",
    "parse_message",
]

#: The control commands, each with the one option it takes.
OPTIONS = {"pause": "agent", "resume": "agent", "switch": "mode"}
#: The longest agent name a command may carry.
MAX_AGENT = 100


@dataclass(frozen=True, slots=True)
class Asker:
    """
    Who typed a command.

    Attributes:
        name: Their Discord name, as the bot shows it.
        id: Their Discord user id.
        roles: Their roles in the server, by name and by id.
    """

    name: str
    id: str
    roles: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Request:
    """
    A command as typed: its name, its options, who, and how.

    Attributes:
        name: The command's name, lowercase (``pause``).
        options: Its options by name (``{"agent": "Momentum_BTC_v1"}``).
        asker: Who typed it.
        via: ``slash`` or ``prefix``.
    """

    name: str
    asker: Asker
    options: Mapping[str, str] = field(default_factory=dict)
    via: str = "slash"

    @property
    def text(self) -> str:
        """The command as a slash command reads: ``/pause agent:X``."""
        shown = " ".join(f"{k}:{v}" for k, v in self.options.items() if v)
        return f"/{self.name}" + (f" {shown}" if shown else "")

    def command(self, now: float) -> Command:
        """The control command it asks for, at *now*."""
        return Command(
            command=self.name,
            agent=self.options.get("agent", ""),
            mode=self.options.get("mode", ""),
            requested_by=self.asker.name,
            requested_by_id=self.asker.id,
            requested_at=now,
            via=self.via,
        )


class Step(Enum):
    """What the bot does with a request."""

    HELP = "help"
    ANSWER = "answer"  # a question of commands:, from the state
    REFUSE = "refuse"
    CONFIRM = "confirm"  # ask the asker first, then send
    SEND = "send"


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do, and for a refusal, why (a sentence for the asker)."""

    step: Step
    reason: str = ""


def decide(config: Config, request: Request) -> Decision:
    """What the bot is to do with *request*, by *config*'s commands."""
    name = request.name
    if name == "help":
        return Decision(Step.HELP)
    if any(command.name == name for command in config.commands):
        return Decision(Step.ANSWER)
    reason = _refusal(config, request)
    if reason:
        return Decision(Step.REFUSE, reason)
    if name == "switch" and request.options.get("mode") == "live":
        return Decision(Step.CONFIRM)
    return Decision(Step.SEND)


def _refusal(config: Config, request: Request) -> str:
    """Why a request that is not a question is refused; empty: it is not."""
    name = request.name
    if name not in OPTIONS:
        known = [c.name for c in config.commands] + list(BUILT_IN)
        return (
            f"There is no /{name}{did_you_mean(name, known)}: /help lists "
            "the commands."
        )
    problem = _option_problem(name, request.options.get(OPTIONS[name], ""))
    if problem:
        return problem
    roles = config.bot.control_roles
    if not roles:
        return (
            f"/{name} is off: no role may run the control commands until "
            "bot.control_roles in the routing file names one."
        )
    if not request.asker.roles & set(roles):
        return (
            f"/{name} needs the role {_either(roles)}, and you do not have it."
        )
    return ""


def _option_problem(name: str, value: str) -> str:
    option = OPTIONS[name]
    if option == "mode":
        if value not in MODES:
            return f"/switch takes mode:paper or mode:live, not {value!r}."
        return ""
    if not value.strip():
        return f"/{name} needs the agent: /{name} agent:NAME."
    if len(value) > MAX_AGENT or any(not c.isprintable() for c in value):
        return (
            f"/{name} needs an agent's name, of at most {MAX_AGENT} "
            "characters."
        )
    return ""


def _either(roles: tuple[str, ...]) -> str:
    named = [f"'{role}'" for role in roles]
    return (
        named[0]
        if len(named) == 1
        else ", ".join(named[:-1]) + " or " + named[-1]
    )


def parse_message(text: str, prefix: str) -> tuple[str, dict[str, str]] | None:
    """
    The command and options of a message typed with *prefix*.

    ``!pause agent Momentum_BTC_v1``, ``!pause agent:Momentum_BTC_v1``
    and ``!pause Momentum_BTC_v1`` read alike, as do ``!switch live`` and
    ``!switch mode:live``. ``None`` for a message that is not a command.
    """
    rest = text[len(prefix) :] if text.startswith(prefix) else ""
    if not rest or rest[0].isspace():
        return None
    words = rest.split()
    if not words or not words[0].isascii():
        return None
    name, given = words[0].lower(), words[1:]
    option = OPTIONS.get(name)
    if option is None:
        return name, {}
    if given and given[0].lower().startswith(f"{option}:"):
        given[0] = given[0][len(option) + 1 :]
        given = [word for word in given if word]
    elif len(given) > 1 and given[0].lower() == option:
        given = given[1:]
    value = " ".join(given)
    return name, {option: value.lower() if option == "mode" else value}
