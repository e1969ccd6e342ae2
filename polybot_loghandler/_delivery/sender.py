"""
The sender: one batch at a time, to one destination, until it is done.

A batch becomes one request (what cannot be encoded is dropped alone),
waits its turn under Discord's rate limits (``_ratelimit``), is posted,
and its answer decides what follows (``_discord.Outcome``): delivered;
a 429 waited out as Discord says; a server error or timeout retried
under one :class:`~polybot_loghandler._retry.RetryPolicy` within
``delivery.retry_for``; a refusal dropped at once, never retried, and a
destination that is gone disabled. The ledger hears how each batch
ended. The clock, the sleep and the HTTP transport are all handed in,
so tests drive every branch with a fake clock and ``MockTransport``.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from polybot_loghandler._batching import Pending
from polybot_loghandler._discord import (
    BOT_TOKEN_ENV,
    Outcome,
    Request,
    build_request,
    send,
)
from polybot_loghandler._format import counted, duration
from polybot_loghandler._losses import Loss
from polybot_loghandler._message import RoutedMessage
from polybot_loghandler._model import Config
from polybot_loghandler._payload import (
    attachments_payload,
    batch_payload,
    with_delay,
)
from polybot_loghandler._places import Places
from polybot_loghandler._ratelimit import RateLimiter, Wait
from polybot_loghandler._retry import RetryPolicy
from polybot_loghandler._text import redact_text

from .lanes import Lanes, LaneState
from .ledger import Ledger
from .placing import Aim, Placer

__all__ = ["RETRY", "Sender", "outgoing"]

#: Retries of 5xx answers, timeouts and connection errors back off
#: exponentially from 0.5 to 5 seconds, with jitter; the budget is
#: ``delivery.retry_for``.
RETRY = RetryPolicy(base=0.5, cap=5.0)

#: Seconds to wait, awaited (``anyio.sleep``, or a fake clock's).
Sleep = Callable[[float], Awaitable[None]]


class Sender:
    """
    Delivers batches, obeying rate limits and the retry budget.

    Args:
        client: The HTTP client (its transport decides where requests
            go: the network, or a ``MockTransport`` in tests).
        lanes: The lanes, to empty a destination that is disabled.
        ledger: Told how every batch ended.
        config: The routing in use, read at each batch (reloads).
        clock: Monotonic seconds.
        sleep: Waits that many seconds (an ``await``).
        limiter: Discord's rate limits as learnt so far.
        jitter: Picks a retry pause between two bounds.
        places: The threads and boards known (their ids).
        wall: Wall-clock seconds (when a board or thread was used).
    """

    def __init__(  # noqa: PLR0913 - the sender's seams, all explicit
        self,
        client: httpx.AsyncClient,
        lanes: Lanes,
        ledger: Ledger,
        config: Callable[[], Config],
        *,
        clock: Callable[[], float],
        sleep: Sleep,
        limiter: RateLimiter | None = None,
        jitter: Callable[[float, float], float] | None = None,
        places: Places | None = None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._lanes = lanes
        self._ledger = ledger
        self._config = config
        self._clock = clock
        self._sleep = sleep
        self.limiter = RateLimiter() if limiter is None else limiter
        self._jitter = jitter
        self._wall = wall
        self._placer = Placer(
            Places() if places is None else places, ledger.warn
        )

    async def deliver(
        self,
        state: LaneState,
        batch: list[Pending],
        messages: list[RoutedMessage],
    ) -> None:
        """Send *batch* (as *messages*) to *state*'s destination."""
        if state.disabled is not None:
            self._ledger.drop_items(batch, state.disabled, state)
            return
        built = self._build(state, batch, messages)
        if built is None:
            return  # nothing in the batch could be encoded; counted
        batch, request = built
        if request is None:
            self._disable(
                state,
                Loss.NO_TOKEN,
                f"cannot be posted to: {BOT_TOKEN_ENV} is not set",
                "set it in the process's environment",
            )
            self._ledger.drop_items(batch, Loss.NO_TOKEN, state)
            return
        if state.place is None:
            await self._attempt(state, batch, request)
            return
        await self._placed(state, batch, request)

    async def _placed(
        self, state: LaneState, batch: list[Pending], request: Request
    ) -> None:
        """
        Send into a thread or a board, as the place's memory says.

        Each other way (a board posted anew, a thread made again, a
        channel's messages put in it with their thread's name) is tried
        once: a batch is sent at most three times over.
        """
        assert state.destination is not None
        for tries_left in (2, 1, 0):
            try:
                aim = self._placer.aim(state, request.json, self._wall())
                placed = build_request(
                    state.destination,
                    aim.payload,
                    thread_id=aim.thread_id,
                    edit=aim.edit,
                    files=request.files,
                )
                assert placed is not None  # the token was there just now
            except Exception as exc:  # any: it would fail every time
                self._unencodable(state, batch, exc)
                return
            if not await self._attempt(
                state, batch, placed, aim, again=tries_left > 0
            ):
                return

    # -- building the request ---------------------------------------------

    def _build(
        self,
        state: LaneState,
        batch: list[Pending],
        messages: list[RoutedMessage],
    ) -> tuple[list[Pending], Request | None] | None:
        """
        The request for *batch*, leaving out what cannot be encoded.

        A message that cannot be made into a request (a lone surrogate,
        a value JSON has no form for, any error building it) would fail
        the same way on every retry: it is dropped alone, counted as
        ``rejected`` and warned once, and the rest of its batch goes on.
        Returns ``None`` when nothing is left to send.
        """
        request, error = _try_request(state, messages)
        if error is None:
            return batch, request
        kept: list[Pending] = []
        kept_messages: list[RoutedMessage] = []
        for item, message in zip(batch, messages, strict=True):
            error = _try_request(state, [message])[1]
            if error is not None:
                self._unencodable(state, [item], error)
                continue
            kept.append(item)
            kept_messages.append(message)
        state.inflight = kept  # the others are counted already
        if not kept:
            return None
        request, error = _try_request(state, kept_messages)
        if error is not None:  # each alone, but not together: none goes
            self._unencodable(state, kept, error, together=True)
            state.inflight = []
            return None
        return kept, request

    def _unencodable(
        self,
        state: LaneState,
        batch: list[Pending],
        exc: Exception,
        *,
        together: bool = False,
    ) -> None:
        """
        Drop *batch* as ``rejected``: it cannot be made into a request.

        *together*: each could be sent alone, but not all in one.
        """
        what = str(exc) if isinstance(exc, ValueError) else ""
        what = redact_text(
            what or f"could not be built ({type(exc).__name__})"
        )
        if together:
            self._ledger.warn(
                f"unencodable:{state.key}:together",
                f"{counted(len(batch), 'message')} for {state.label} "
                "were dropped (rejected): each could be sent alone, but "
                f"together their payload {what}",
            )
        else:
            self._ledger.warn(
                f"unencodable:{state.key}",
                f"a message for {state.label} was dropped (rejected): its "
                f"payload {what}; the rest of its batch is sent",
            )
        self._ledger.drop_items(batch, Loss.REJECTED, state)

    # -- sending ----------------------------------------------------------

    async def _attempt(
        self,
        state: LaneState,
        batch: list[Pending],
        request: Request,
        aim: Aim | None = None,
        *,
        again: bool = False,
    ) -> bool:
        """
        Send *request* until it is delivered, dropped or refused.

        With an *aim* (a thread or board), its answer is taken in first;
        ``True`` means it is to be sent again another way (only when
        *again* allows), nothing counted yet.
        """
        failures = 0
        limiter = self.limiter
        key = state.key if aim is None else aim.key
        channel = state.channel if aim is None else aim.channel
        while True:
            turn = await self._turn(state, batch, key, channel)
            if turn is None:
                return False  # dropped, and counted
            if not turn:
                continue
            now = self._clock()
            limiter.sending(key, channel, now)
            state.on_wire = True
            try:
                outcome = await self._send(request)
            finally:
                state.on_wire = False
            began, now = now, self._clock()
            if outcome.headers:
                limiter.update(key, outcome.headers, now)
            state.failing = outcome.kind == "retry"
            if (
                aim is not None
                and outcome.kind not in ("retry", "rate_limited")
                and self._placer.learn(state, aim, outcome, self._wall())
                and again
            ):
                return True
            if outcome.kind == "sent":
                self._ledger.sent(state, batch, now)
                return False
            if outcome.kind == "rate_limited":
                self._ledger.count("rate_limited")
                limiter.too_many(key, outcome.headers, outcome.body, now)
                continue
            if outcome.kind == "retry":
                failures += 1
                pause = self._retry(
                    state, batch, outcome, began, Loss.SERVER_ERROR
                )
                if pause is None:
                    self._ledger.drop_items(batch, Loss.SERVER_ERROR, state)
                    return False
                self._ledger.count("retries")
                await self._sleep(min(pause, self._backoff(failures)))
                continue
            self._failed(state, batch, outcome)
            return False

    def _backoff(self, failures: int) -> float:
        if self._jitter is None:
            return RETRY.pause(failures)
        return RETRY.pause(failures, self._jitter)

    async def _turn(
        self,
        state: LaneState,
        batch: list[Pending],
        key: str,
        channel: str,
    ) -> bool | None:
        """
        Whether the batch may go now.

        ``True``: send now; ``False``: it waited, look again; ``None``:
        it was dropped, held past the cap for too long. (Only the lane's
        own task disables its destination, and then returns: a batch
        never finds it disabled here.)
        """
        now = self._clock()
        paced = now < state.paced_until and all(
            p.level < logging.WARNING for p in batch
        )
        wait = self.limiter.wait(key, channel, now, paced=paced)
        if wait.excessive:
            held = await self._hold(state, batch, wait, now)
            return False if held else None
        if wait.seconds > 0:
            state.resume_at = now + wait.seconds
            await self._sleep(wait.seconds)
            return False
        return True

    async def _hold(
        self,
        state: LaneState,
        batch: list[Pending],
        wait: Wait,
        now: float,
    ) -> bool:
        """
        Wait out a rate limit past its cap; ``False`` once dropped.

        Never before Discord's time, but not forever either: the
        destination is failing, and its messages follow the retry budget
        (and the spool) as for a 5xx.
        """
        held = Outcome("retry", detail=_held(wait))
        pause = self._retry(state, batch, held, now, Loss.RATE_LIMITED)
        if pause is None:
            self._ledger.drop_items(batch, Loss.RATE_LIMITED, state)
            return False
        await self._sleep(min(wait.seconds, pause))
        return True

    async def _send(self, request: Request) -> Outcome:
        try:
            return await send(self._client, request)
        except Exception as exc:  # whatever happens, the lane goes on
            return Outcome(
                "retry", detail=redact_text(f"send failed: {exc!r}")
            )

    def _retry(
        self,
        state: LaneState,
        batch: list[Pending],
        outcome: Outcome,
        began: float,
        reason: Loss,
    ) -> float | None:
        """
        Whether to try a failing batch again: the longest pause, or None.

        The budget, ``retry_for``, runs from when the destination began
        failing, not from this batch: a lane that has failed for longer
        tries each later batch once more, then drops it. Past the budget
        the batch is dropped (as *reason*), unless its events are in the
        spool: then nothing is lost by waiting, and the lane tries on at
        the slowest backoff until Discord answers or the process ends
        (the next one sends them).
        """
        now = self._clock()
        trouble = self._ledger.failing(
            state,
            outcome,
            began,
            now,
            at_once=reason is Loss.RATE_LIMITED,
        )
        state.failing = True
        policy = dataclasses.replace(
            RETRY, budget=self._config().delivery.retry_for
        )
        budget = policy.budget
        failing = now - trouble.since
        if not policy.gives_up(failing):
            return max(budget - failing, 0.05)
        if any(p.spool for p in batch):
            self._ledger.warn(
                f"kept:{state.key}",
                f"{state.label}: failing for {budget:g}s; its messages are "
                "kept in the spool and sent when it answers again",
            )
            return RETRY.cap
        self._ledger.warn(
            f"retry:{reason}:{state.key}",
            f"{state.label}: giving up after {budget:g}s of failures "
            f"({outcome.detail or outcome.status}); its messages are "
            f"dropped ({reason})",
        )
        return None

    def _failed(
        self,
        state: LaneState,
        batch: list[Pending],
        outcome: Outcome,
    ) -> None:
        """A refusal: dropped at once, and never tried again."""
        ledger = self._ledger
        if outcome.kind == "rejected":
            ledger.answered(state, self._clock())  # it answers, if not this
            ledger.warn(
                f"rejected:{state.key}:{outcome.detail}",
                f"Discord rejected a message for {state.label}: "
                f"{outcome.detail}; it is dropped (rejected)",
            )
            ledger.drop_items(batch, Loss.REJECTED, state)
            return
        if outcome.kind == "gone":
            if outcome.status in (401, 403):
                self.limiter.invalid(self._clock())
            self._disable(
                state,
                Loss.WEBHOOK_GONE,
                f"answered {outcome.detail}",
                "check the URL or token in your routing",
            )
            ledger.drop_items(batch, Loss.WEBHOOK_GONE, state)
            return
        ledger.warn(
            f"failed:{state.key}:{outcome.status}",
            f"{state.label} answered {outcome.detail}; message dropped "
            "(failed)",
        )
        ledger.drop_items(batch, Loss.FAILED, state)

    def _disable(
        self, state: LaneState, reason: Loss, why: str, fix: str
    ) -> None:
        """
        Stop using a destination after its first refusal: no retries.

        What it holds, in every thread and board of it, is dropped as
        *reason*; people hear *why* and what to do (*fix*).
        """
        for lane in self._lanes.siblings(state):
            lane.disabled = reason
            self._ledger.drop_items(self._lanes.drop_all(lane), reason, lane)
        self._ledger.disabled(state, why, fix)


def outgoing(batch: list[Pending], wall: float) -> list[RoutedMessage]:
    """
    *batch*'s messages as they leave at *wall* time.

    A message that waited says how late it is; a held repeat (a ``×N``
    summary) waited on purpose, and says nothing.
    """
    return [
        dataclasses.replace(
            p.message,
            embed=p.embed()
            if p.repeat
            else with_delay(p.embed(), p.first, wall),
        )
        for p in batch
    ]


def _try_request(
    state: LaneState, messages: list[RoutedMessage]
) -> tuple[Request | None, Exception | None]:
    """The request, or the error building it (any: never sendable)."""
    try:
        return _request(state, messages), None
    except Exception as exc:  # any: the caller counts it
        return None, exc


def _request(
    state: LaneState, messages: list[RoutedMessage]
) -> Request | None:
    # a batch shares one ping and identity (the lane never mixes them):
    # the first's; each embed's files go beside it
    assert state.destination is not None
    payload: dict[str, Any] = batch_payload(
        messages[0].payload, [m.embed for m in messages]
    )
    payload, files = attachments_payload(payload, [m.files for m in messages])
    return build_request(
        state.destination,
        payload,
        files=tuple(
            (f.name, f.text.encode("utf-8", "replace")) for f in files
        ),
    )


def _held(wait: Wait) -> str:
    """Why a destination is held past the cap, for people."""
    scope = {
        "bucket": "its rate limit",
        "global": "a global rate limit",
        "cloudflare": "a Cloudflare block",
    }.get(wait.scope, wait.scope)
    return (
        f"held for {duration(max(wait.seconds, 0.0))} by {scope}, past the cap"
    )
