"""
The agents' side of the control stream: a thread that hears commands.

A :class:`Listener` (made by :func:`polybot_loghandler.control.listen`)
is a daemon thread that reads the control stream in the agent's own
consumer group (``agent:<name>``), calls the agent's callback for each
command meant for it, and answers every one it read on the
acknowledgements' stream. The contract is told in
:mod:`polybot_loghandler.control`; this is how it is kept.

Redis is only ever talked to from the thread, through one client that
never retries by itself: an error of Redis's (refused, timed out,
restarting) ends the round, the thread waits a capped backoff and starts
again, pending entries first, so it never dies of one.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any

from polybot_loghandler._control.wire import (
    MAX_ENTRIES,
    Ack,
    AckStatus,
    Command,
    Malformed,
    acks_stream,
)
from polybot_loghandler._redisurl import redacted_url
from polybot_loghandler._relay.connect import (
    READ_TIMEOUT,
    decoded,
    from_redis,
    scrub,
    sync_client,
)

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["CLIENT_NAME", "Callback", "Listener"]

#: How long one read waits for new commands, in milliseconds: a stop is
#: honoured within about this. It must stay below the client's read
#: timeout (connect.READ_TIMEOUT), or every quiet read would time out.
BLOCK_MS = 1000
#: How many entries one read takes.
READ_COUNT = 10
#: The first wait after an error, and the longest, in seconds.
BACKOFF_FIRST = 0.5
BACKOFF_CAP = 10.0
#: The client's name, as ``CLIENT LIST`` shows it.
CLIENT_NAME = "polybot_loghandler.control"

#: What an agent is called with; what it returns is ignored.
Callback = Callable[[Command], object]

_log = logging.getLogger("polybot_loghandler.control")

if BLOCK_MS / 1000 >= READ_TIMEOUT:  # pragma: no cover - a guard
    raise RuntimeError("BLOCK_MS must stay below connect.READ_TIMEOUT")


class Listener:
    """
    An agent's control listener: its thread, and how to stop it.

    Made by :func:`polybot_loghandler.control.listen`; it starts at
    once. A context manager: leaving the ``with`` block stops it.

    Attributes:
        agent: The agent's name, which commands name.
        stream: The control stream it reads.
    """

    def __init__(
        self, callback: Callback, *, agent: str, stream: str, url: str
    ) -> None:
        self.agent = agent
        self.stream = stream
        self._callback = callback
        self._client = sync_client(url, CLIENT_NAME)
        self._url = url  # only to hide it: never shown
        self._group = f"agent:{agent}"
        self._consumer = f"{socket.gethostname() or 'host'}:{os.getpid()}"
        self._stop = threading.Event()
        self._away = False  # in an outage: warned, not yet recovered
        self._delay = BACKOFF_FIRST
        self._has_read = False  # whether this round has read at all
        self._thread = threading.Thread(
            target=self._run,
            name=f"polybot_loghandler.control[{agent}]",
            daemon=True,
        )
        self._thread.start()  # last: everything it reads is set

    @property
    def running(self) -> bool:
        """Whether the listener's thread is alive."""
        return self._thread.is_alive()

    def stop(self, timeout: float = 5.0) -> bool:
        """
        Stop listening; whether the thread ended within *timeout* seconds.

        It ends within about a second (one blocking read), or once the
        callback it is in returns. Called from the callback itself, it
        only asks the thread to end after it, and returns ``False``.
        """
        self._stop.set()
        if threading.current_thread() is self._thread:
            return False
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        # never the URL: it may hold a password
        state = "running" if self.running else "stopped"
        return (
            f"<Listener agent={self.agent!r} stream={self.stream!r} {state}>"
        )

    # -- the thread ---------------------------------------------------------

    def _run(self) -> None:
        try:
            self._serve()
        finally:
            try:
                self._client.close()
            except Exception:
                _log.debug("control: closing the client failed", exc_info=True)

    def _serve(self) -> None:
        """Rounds until stopped: each from the group and pending entries."""
        while not self._stop.is_set():
            error = self._try_round()
            if error is None:
                continue  # stopped, or the group is to be made again
            self._lost(error)
            self._stop.wait(self._delay)
            self._delay = min(self._delay * 2, BACKOFF_CAP)

    def _try_round(self) -> Exception | None:
        """One round; the error that ended it, unless it is soon mended."""
        try:
            self._round()
        except Exception as exc:
            if "NOGROUP" not in str(exc) or not self._has_read:
                return exc
            # deleted under us (or Redis restarted empty while we read):
            # the next round makes it again, at once
            _log.info(
                "control: agent %s: the group %s on %s was gone; it is "
                "made again",
                self.agent,
                self._group,
                self.stream,
            )
        return None

    def _round(self) -> None:
        """The group made, pending entries handled, then new ones."""
        self._has_read = False
        self._make_group()
        self._recovered()
        start = "0"  # this consumer's pending entries, oldest first
        while not self._stop.is_set():
            entries = self._read(start)
            self._has_read = True
            if start != ">" and not entries:
                start = ">"  # nothing pending left: new entries now
                continue
            for entry_id, fields in entries:
                if self._stop.is_set():
                    return  # the rest stay pending for the next start
                self._handle(decoded(entry_id), fields)
            if start != ">":
                start = decoded(entries[-1][0])

    def _make_group(self) -> None:
        """The agent's group, from the stream's end if it was not there."""
        try:
            self._client.xgroup_create(
                self.stream, self._group, "$", mkstream=True
            )
        except Exception as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def _read(self, start: str) -> list[tuple[Any, Any]]:
        """One XREADGROUP from *start*; new entries wait ``BLOCK_MS``."""
        reply = self._client.xreadgroup(
            self._group,
            self._consumer,
            {self.stream: start},
            count=READ_COUNT,
            block=BLOCK_MS if start == ">" else None,
        )
        return list(reply[0][1]) if reply else []

    def _handle(self, entry_id: str, fields: Any) -> None:
        """One entry: obeyed and answered, or answered, or passed over."""
        try:
            command = _command(entry_id, fields)
        except Malformed as exc:
            _log.warning(
                "control: agent %s cannot read command %s: %s",
                self.agent,
                entry_id,
                exc,
            )
            self._answer(entry_id, "failed", str(exc))
            return
        if not command.for_agent(self.agent):
            self._client.xack(self.stream, self._group, entry_id)
            return
        try:
            self._callback(command)
        except Exception as exc:
            _log.exception(
                "control: agent %s failed to obey %s (command %s)",
                self.agent,
                command.command,
                entry_id,
            )
            self._answer(entry_id, "failed", f"{type(exc).__name__}: {exc}")
            return
        self._answer(entry_id, "done", "")

    def _answer(self, entry_id: str, status: AckStatus, error: str) -> None:
        """
        The acknowledgement appended, then the entry acknowledged.

        In this order: a crash between the two leaves the command pending,
        to be obeyed again (at least once), never answered but lost.
        """
        ack = Ack(
            command_id=entry_id,
            agent=self.agent,
            status=status,
            error=error,
            acked_at=time.time(),
        )
        self._client.xadd(
            acks_stream(self.stream),
            ack.fields(),
            maxlen=MAX_ENTRIES,
            approximate=True,
        )
        self._client.xack(self.stream, self._group, entry_id)

    def _lost(self, exc: Exception) -> None:
        """
        An error ended the round: a warning once per outage, URL hidden.

        Every later try that fails is told at debug level only.
        """
        why = scrub(f"{type(exc).__name__}: {exc}", self._url)
        if self._away:
            _log.debug(
                "control: agent %s: still no Redis (%s)", self.agent, why
            )
            return
        self._away = True
        _log.warning(
            "control: agent %s lost Redis at %s (%s); it tries again, "
            "waiting up to %gs between tries",
            self.agent,
            redacted_url(self._url),
            why,
            BACKOFF_CAP,
            exc_info=None if from_redis(exc) else exc,
        )

    def _recovered(self) -> None:
        """Redis answered: the backoff starts over; an outage is told over."""
        self._delay = BACKOFF_FIRST
        if self._away:
            self._away = False
            _log.info(
                "control: agent %s: Redis at %s answers again",
                self.agent,
                redacted_url(self._url),
            )


def _command(entry_id: str, fields: Any) -> Command:
    """The command of an entry; a pending one's fields are empty if gone."""
    if not fields:
        raise Malformed("the entry is gone (trimmed while pending)")
    return Command.from_entry(entry_id, fields)
