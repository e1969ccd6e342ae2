"""
The bot's work, apart from Discord: answer, send, await, and log.

:class:`Desk` takes a :class:`~.asking.Request` however it was typed and
does what :func:`~.asking.decide` says: it reads the floor's state from
Redis for a question, appends a control command to the control stream,
and waits for the agents' acknowledgements on the stream beside it. It
never acts on an agent itself: the agents obey, or not, and say so.

Every command, answered, refused, sent or cancelled, is logged as a
``bot_command`` event, and every control command's outcome as a
``control_ack`` event, on the ``bot`` logger: the routing file sends
them on (the shipped one to ``#bot-commands``). Redis failures are
answered, never raised: the asker is told the command was not sent.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from polybot_loghandler._config.words import did_you_mean
from polybot_loghandler._control.wire import (
    MAX_ENTRIES,
    Ack,
    Malformed,
    acks_stream,
)
from polybot_loghandler._floor.replies import reply_embed
from polybot_loghandler._limits import MAX_FOOTER_TEXT, clamp
from polybot_loghandler._model import Config
from polybot_loghandler._relay.connect import decoded, scrub
from polybot_loghandler._relay.floorstore import read_floor

from .asking import Decision, Request, Step, decide
from .replies import (
    acks_embed,
    cancelled_embed,
    help_embed,
    refused_embed,
    sent_embed,
    unanswered_embed,
)

__all__ = ["LOGGER", "Desk", "Sent"]

#: The logger the bot's events are logged on.
LOGGER = "bot"
#: The largest sequence number of a stream id.
_MAX_SEQUENCE = 2**64 - 1
#: The longest one wait for acknowledgements blocks Redis, in seconds.
_POLL = 1.0


@dataclass(frozen=True, slots=True)
class Sent:
    """A control command on the stream: its request, id and expectation."""

    request: Request
    command_id: str
    expected: frozenset[str]  # the agents to hear from; none: any
    at: float


@dataclass(slots=True)
class _Answers:
    done: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)

    def heard(self) -> set[str]:
        return {*self.done, *self.failed}


class Desk:
    """
    Answers requests from the state, and sends control commands.

    Args:
        config: The routing file: its commands, state and ``bot:``.
        redis: redis-py's asyncio client for ``delivery.relay``.
        url: That client's URL, to hide in what is told.
        clock: Epoch seconds (for tests).
    """

    def __init__(
        self,
        config: Config,
        redis: Any,
        url: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.redis = redis
        self._url = url
        self._clock = clock
        self.log = logging.getLogger(LOGGER)

    def decide(self, request: Request) -> Decision:
        """What to do with *request* (see :func:`.asking.decide`)."""
        return decide(self.config, request)

    async def answer(self, request: Request) -> dict[str, Any]:
        """The reply to help, a question or a refusal; logged."""
        decision = self.decide(request)
        if decision.step is Step.HELP:
            self.logged(request, "answered")
            return help_embed(self.config)
        if decision.step is Step.ANSWER:
            return await self._question(request)
        reason = decision.reason or "It is not answered here."
        self.logged(request, "refused", reason=reason)
        return refused_embed(request, reason)

    async def _question(self, request: Request) -> dict[str, Any]:
        command = next(
            c for c in self.config.commands if c.name == request.name
        )
        problem = ""
        state = None
        if self.config.state is None:
            problem = "The routing file has no state: section to answer from."
        else:
            try:
                view = await read_floor(self.redis, self.config.state)
            except Exception as exc:  # told, never raised
                problem = f"Redis cannot be reached ({self._scrub(exc)})."
            else:
                state = view.state if view.kept else None
                if state is None:
                    problem = "The relay has kept no state yet: is it running?"
        if state is None:
            self.logged(request, "failed", reason=problem)
            return unanswered_embed(problem)
        self.logged(request, "answered")
        embed = reply_embed(self.config, command, state, self._clock())
        other = view.other_spec()
        if other:  # told below the answer, which stands
            own = embed.get("footer", {}).get("text")
            told = f"{own} · Note: {other}" if own else f"Note: {other}"
            embed["footer"] = {"text": clamp(told, MAX_FOOTER_TEXT)}
        return embed

    def cancelled(self, request: Request, why: str) -> dict[str, Any]:
        """A confirmation declined or timed out: nothing sent; logged."""
        self.logged(request, "cancelled", reason=why)
        return cancelled_embed(request, why)

    async def agents(self) -> list[str]:
        """
        The agents the floor knows (the state's ``agents`` table), sorted.

        Empty without such a table, or when Redis cannot be reached: a
        list to offer, never a reason to fail.
        """
        state = self.config.state
        if state is None or not any(t.name == "agents" for t in state.tables):
            return []
        try:
            view = await read_floor(self.redis, state)
        except Exception:  # offered nothing, never raised
            return []
        return sorted(view.state.tables.get("agents", {}))

    async def send(self, request: Request) -> Sent | dict[str, Any]:
        """
        Append *request*'s control command to the control stream.

        Returns what was sent, or the refusal to show, logged: an agent
        the floor does not know (when it knows any), or Redis failing.
        """
        now = self._clock()
        command = request.command(now)
        stream = self.config.bot.control_stream
        unknown = await self._unknown_agent(request)
        if unknown:
            self.logged(request, "refused", reason=unknown)
            return refused_embed(request, unknown)
        try:
            expected = await self._expected(request)
            entry = await self.redis.xadd(
                stream, command.fields(), maxlen=MAX_ENTRIES, approximate=True
            )
        except Exception as exc:  # told, never raised
            reason = f"Redis cannot be reached ({self._scrub(exc)}): not sent."
            self.logged(request, "failed", reason=reason)
            return refused_embed(request, reason)
        command_id = decoded(entry)
        self.logged(request, "sent", command_id=command_id)
        return Sent(request, command_id, expected, now)

    async def _unknown_agent(self, request: Request) -> str:
        """
        Why *request* names no agent the floor knows; empty if it does.

        A typo would otherwise go out, and be told only when nobody
        answered. A floor that knows no agent yet (no state, or none
        heard of) refuses nothing.
        """
        agent = request.options.get("agent")
        known = await self.agents() if agent else []
        if not known or agent in known:
            return ""
        return (
            f"The floor knows no agent {agent}"
            f"{did_you_mean(agent or '', known)}: /agents lists them."
        )

    def sent_embed(self, sent: Sent) -> dict[str, Any]:
        """The reply while the acknowledgements are awaited."""
        return sent_embed(
            sent.request, sent.command_id, self.config.bot.ack_within
        )

    async def _expected(self, request: Request) -> frozenset[str]:
        """The agents to hear from: the one named, or the running ones."""
        agent = request.options.get("agent")
        if agent:
            return frozenset({agent})
        state = self.config.state
        if state is None or not any(t.name == "agents" for t in state.tables):
            return frozenset()
        view = await read_floor(self.redis, state)
        rows = view.state.tables.get("agents", {})
        return frozenset(
            key for key, row in rows.items() if row.get("status") == "running"
        )

    async def acknowledgements(self, sent: Sent) -> dict[str, Any]:
        """
        Wait for *sent*'s acknowledgements, up to ``bot.ack_within``.

        Done as soon as every expected agent has answered (with none
        expected, when the time is up). Logged as ``control_ack``.
        """
        answers = _Answers()
        deadline = sent.at + self.config.bot.ack_within
        last = _just_before(sent.command_id)
        stream = acks_stream(self.config.bot.control_stream)
        while not (sent.expected and sent.expected <= answers.heard()):
            left = deadline - self._clock()
            if left <= 0:
                break
            try:
                read = await self.redis.xread(
                    {stream: last},
                    count=100,
                    block=int(min(left, _POLL) * 1000) or 1,
                )
            except Exception:  # Redis away: wait on, tell what came
                await asyncio.sleep(min(left, _POLL))
                continue
            for _name, entries in read or ():
                for entry_id, fields in entries:
                    last = entry_id
                    _take(answers, sent.command_id, fields)
        missing = sorted(sent.expected - answers.heard())
        self._log_acks(sent, answers, missing)
        return acks_embed(
            sent.request,
            sent.command_id,
            answers.done,
            answers.failed,
            missing,
        )

    def _log_acks(
        self, sent: Sent, answers: _Answers, missing: list[str]
    ) -> None:
        if answers.done and not (answers.failed or missing):
            outcome, level = "acknowledged", logging.INFO
        elif answers.done or answers.failed:
            outcome, level = "partly", logging.WARNING
        else:
            outcome, level = "unacknowledged", logging.WARNING
        self.log.log(
            level,
            "control_ack",
            extra={
                "asked": sent.request.text,
                "command": sent.request.name,
                "command_id": sent.command_id,
                "user": sent.request.asker.name,
                "outcome": outcome,
                "done": answers.done,
                "failed": answers.failed,
                "missing": missing,
                "seconds": round(self._clock() - sent.at, 1),
            },
        )

    def logged(self, request: Request, outcome: str, **more: str) -> None:
        """Log *request* as a ``bot_command`` event with its *outcome*."""
        level = (
            logging.WARNING
            if outcome in ("refused", "failed")
            else logging.INFO
        )
        self.log.log(
            level,
            "bot_command",
            extra={
                "asked": request.text,
                "command": request.name,
                **{k: v for k, v in request.options.items() if v},
                "user": request.asker.name,
                "user_id": request.asker.id,
                "via": request.via,
                "outcome": outcome,
                **more,
            },
        )

    def _scrub(self, exc: BaseException) -> str:
        return scrub(str(exc) or type(exc).__name__, self._url)


def _just_before(entry_id: str) -> str:
    """
    The id to read an acknowledgements' stream after, for *entry_id*.

    An answer is appended after its command, by the same Redis clock, so
    its id's time is no earlier; it may be the same millisecond, and as
    each stream counts its own sequence, the same id. Reading after the
    millisecond before misses none.
    """
    millis, _, _ = entry_id.partition("-")
    return f"{int(millis) - 1}-{_MAX_SEQUENCE}" if int(millis) > 0 else "0-0"


def _take(answers: _Answers, command_id: str, fields: Any) -> None:
    try:
        ack = Ack.from_entry(fields)
    except Malformed:
        return  # not an answer this version reads
    if ack.command_id != command_id or ack.agent in answers.heard():
        return
    if ack.status == "done":
        answers.done.append(ack.agent)
    else:
        answers.failed[ack.agent] = ack.error
