"""
The relay: one process that delivers what every producer appended.

It holds the lease (see :mod:`.lease`), reads the stream through the
consumer group, and hands each event to the same delivery engine a
single process runs, so batching, coalescing, Discord's rate limits,
retries, reloads and the summary work across every producer at once.
An entry is acknowledged only once Discord took every message made
from it, or each was counted as lost (a :class:`Receipt` per event
follows its messages through the lanes).

Threads: the relay's own loop (this module) speaks to Redis; the
engine runs in its worker thread as in any process. Only the worker's
queue and the receipts' callback cross between them.

Standby relays wait for the lease. The active one renews it every
second. When Redis does not answer for a while, it stops sending (its
lanes keep what they hold) before anyone else could take the lease, and
goes on when Redis says the lease is still, or again, its own. When
another relay holds it, this one hands over: what it held is still
pending in the stream, for the new holder.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import anyio
import anyio.to_thread
import httpx

from polybot_loghandler._console import ConsoleSink
from polybot_loghandler._delivery import Engine
from polybot_loghandler._diagnostics import Diagnostics, described, say
from polybot_loghandler._losses import Loss
from polybot_loghandler._message import RoutedMessage
from polybot_loghandler._model import Config
from polybot_loghandler._receipts import Receipt
from polybot_loghandler._redisurl import redacted_url
from polybot_loghandler._routing import RoutingHolder
from polybot_loghandler._stats import Stats
from polybot_loghandler._worker import Worker

from . import scripts
from .connect import async_client, decoded, member_id, scrub
from .keys import GROUP, LEASE_TTL, Keys
from .lease import Lease
from .producer import file_hash
from .upkeep import forget_consumers, forget_gone, take_trimmed
from .wire import Malformed, read_entry

__all__ = ["Relay"]

#: Entries read from the stream at a time.
READ_COUNT = 500
#: Entries acknowledged in one script call.
ACK_COUNT = 1000
#: Milliseconds a read waits for new entries before looking again.
BLOCK_MS = 500
#: Seconds between renewals of the lease, and between status writes.
RENEW_EVERY = 1.0
STATUS_EVERY = 2.0
#: Seconds a renewal may take before it is given up and tried again.
RENEW_TIMEOUT = 1.0
#: Seconds between trims of what every relay is done with.
TIDY_EVERY = 5.0
#: Seconds between looks for producers, relays and consumers long gone.
FORGET_EVERY = 60.0
#: Seconds between tries while Redis is away.
RETRY_EVERY = 0.5


@dataclasses.dataclass(frozen=True, slots=True)
class Relayed:
    """An event read from the stream: its entry id and the event."""

    entry: str
    raw: Any


class Relay:
    """
    Delivers the stream's events; one of any number, one at a time.

    Args:
        config: The routing file (its ``delivery.relay`` names Redis).
        source: The file, to reload when it changes (``None``: never).
        transport: An httpx transport instead of the network (tests).
        lease_ttl: Seconds the lease lasts without renewal.
        connect: Makes the asyncio Redis client for a URL.
        version: The library version, for Discord and the status.
    """

    def __init__(  # noqa: PLR0913 - the seams, all keyword-only
        self,
        config: Config,
        source: str | None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        lease_ttl: float = LEASE_TTL,
        connect: Callable[[str, str], Any] = async_client,
        version: str = "0",
    ) -> None:
        self.id = member_id()
        self._url = config.delivery.relay or ""
        self._lease_ttl = lease_ttl
        self._connect = connect
        self._version = version
        self._stats = Stats()
        self._diag = Diagnostics()
        if config.delivery.spool is not None:
            # the stream keeps what waits: a spool too would send what
            # the next relay claims from the stream a second time
            say(
                f"relay {self.id}: delivery.spool in {config.path} is not "
                "used by the relay; what waits stays pending in the stream"
            )
            config = dataclasses.replace(
                config,
                delivery=dataclasses.replace(config.delivery, spool=None),
            )
        self._routing = RoutingHolder(config, source, self._stats, self._diag)
        self._console = ConsoleSink(
            config.delivery.console, config.delivery.console_per_channel
        )
        self._engine = Engine(
            self._routing,
            self._stats,
            self._console,
            version=version,
            transport=transport,
            route=self._route,
            may_send=self._may_send,
        )
        self._cap = config.delivery.queue_size
        self._stop_requested = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake_stop = asyncio.Event()  # set on the loop by stop()
        self._lease: Lease | None = None  # made with the client
        self.sessions = 0  # times this relay became the active one
        self._began = time.time()
        self._new_session()

    def _new_session(self) -> None:
        self._acks: deque[str] = deque()
        #: entries this session read and has not acknowledged; a set, so
        #: that a late settle from a session before changes nothing here
        self._outstanding: set[str] = set()
        self._ack_wake = asyncio.Event()
        self._room = asyncio.Event()
        self._away: str | None = None
        self._sent_seen = 0
        self._last_delivery = 0.0

    def _may_send(self) -> bool:
        """Whether the lease is surely ours: the lanes wait if not."""
        return self._lease is not None and self._lease.sure()

    @property
    def holder(self) -> str | None:
        """The lease's value while this relay delivers, else ``None``."""
        return None if self._lease is None else self._lease.value

    # -- what others see ------------------------------------------------

    def stats(self) -> dict[str, int]:
        """The relay's counters: what the floor delivered and lost."""
        return self._stats.read()

    @property
    def in_flight(self) -> int:
        """Stream entries read and not yet acknowledged."""
        return len(self._outstanding)

    @property
    def url(self) -> str:
        """The Redis URL, its password hidden."""
        return redacted_url(self._url)

    def stop(self) -> None:
        """Finish the batch on its way, acknowledge, give the lease up."""
        self._stop_requested.set()
        loop, wake = self._loop, self._wake_stop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop has ended
                loop.call_soon_threadsafe(wake.set)

    # -- the loop -------------------------------------------------------

    async def run(self) -> None:
        """Stand by, deliver while active, until :meth:`stop`."""
        self._loop = asyncio.get_running_loop()
        if self._stop_requested.is_set():
            return
        client = self._connect(self._url, "polybot_loghandler.relay")
        self._scripts = {
            name: client.register_script(getattr(scripts, name))
            for name in (
                "ACQUIRE", "RENEW", "RELEASE", "ACK", "CLAIM", "READ",
                "TIDY", "WRITE_STATUS",
            )
        }  # fmt: skip
        self._lease = Lease(self._scripts, self.id, self._lease_ttl)
        try:
            while not self._stop_requested.is_set():
                if not await self._stand_by(client):
                    break
                try:
                    await self._deliver(client)
                except Exception as exc:  # Redis away, or a fault here
                    say(
                        f"relay {self.id} stopped delivering "
                        f"({scrub(described(_first(exc)), self._url)}); "
                        "what it held is still pending, and it tries again"
                    )
                    await self._stopped(RETRY_EVERY)
        finally:
            with contextlib.suppress(Exception):
                await client.hdel(Keys.relays, self.id)
            with contextlib.suppress(Exception):
                await client.aclose()

    async def _stopped(self, seconds: float) -> bool:
        """Wait *seconds*, or less if asked to stop; whether asked."""
        with anyio.move_on_after(seconds):
            await self._wake_stop.wait()
        return self._stop_requested.is_set()

    async def _stand_by(self, client: Any) -> bool:
        """Wait for the lease; ``False`` when stopping first."""
        said = False
        lease = self._lease
        while lease is not None and not self._stop_requested.is_set():
            try:
                if await lease.take():
                    self._redis_back()
                    return True
                await self._announce(client, "standby")
                self._redis_back()
                if not said:
                    said = True
                    say(
                        f"relay {self.id}: another relay is active; this "
                        "one stands by and takes over if it stops"
                    )
            except Exception as exc:
                self._redis_away(exc)
            if await self._stopped(RENEW_EVERY):
                break
        return False

    async def _announce(self, client: Any, state: str) -> None:
        about = {"state": state, "seen": time.time(), "version": self._version}
        await client.hset(Keys.relays, self.id, json.dumps(about))

    async def _deliver(self, client: Any) -> None:
        """Be the active relay until stopped or the lease is lost."""
        self.sessions += 1
        self._new_session()
        say(f"relay {self.id} is active, reading {self.url}")
        await self._ensure_group(client)
        worker = Worker(
            None, self._worker_error, self._cap, loop=self._engine.run
        )
        worker.start()
        handed = False
        try:
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(self._acker)
                tasks.start_soon(self._keeper, client)
                tasks.start_soon(self._reader, client, worker)
                await self._until_stop_or_lost()
                handed = await self._hand_over(worker)
                tasks.cancel_scope.cancel()
        finally:
            if not handed:  # lost the lease: stop sending, now
                await anyio.to_thread.run_sync(
                    functools.partial(worker.close, 1.0, hand_over=True)
                )
            if self._lease is not None:
                self._lease.value = None

    async def _until_stop_or_lost(self) -> None:
        async with anyio.create_task_group() as wait:

            async def stop() -> None:
                await self._wake_stop.wait()
                wait.cancel_scope.cancel()

            async def lost() -> None:
                if self._lease is not None:
                    await self._lease.lost.wait()
                    wait.cancel_scope.cancel()

            wait.start_soon(stop)
            wait.start_soon(lost)

    async def _hand_over(self, worker: Worker) -> bool:
        """
        Asked to stop: finish what is on its way, acknowledge, release.

        Returns whether it was a stop (``False``: the lease was lost).
        """
        if not self._stop_requested.is_set():
            say(
                f"relay {self.id} lost its lease (another relay took over, "
                "or Redis did not answer in time); it stops sending and "
                "stands by"
            )
            return False
        timeout = self._routing.config.delivery.flush_timeout
        await anyio.to_thread.run_sync(
            functools.partial(worker.close, timeout, hand_over=True)
        )
        await self._flush_acks()
        if self._lease is not None:
            with contextlib.suppress(Exception):
                await self._lease.release()
        return True

    # -- reading ----------------------------------------------------------

    async def _reader(self, client: Any, worker: Worker) -> None:
        """Read entries into the engine, as its bound has room."""
        await self._claim_all()
        start = "0"  # this relay's pending entries first, then new ones
        last = await self._last_delivered(client)
        while not self._stop_requested.is_set():
            room = self._cap - len(self._outstanding)
            if room <= 0:
                self._room.clear()
                await self._room.wait()
                continue
            try:
                reply = await self._scripts["READ"](
                    keys=[Keys.lease, Keys.stream],
                    args=[
                        self.holder, GROUP, self.id,
                        min(READ_COUNT, room), start,
                    ],
                )  # fmt: skip
            except Exception as exc:
                await self._read_failed(client, exc)
                continue
            self._redis_back()
            if reply is None:  # not our lease now: the keeper finds out
                await anyio.sleep(RETRY_EVERY)
                continue
            entries = reply[0][1] if reply else []
            for entry, fields in entries:
                self._take(worker, decoded(entry), fields)
            if start != ">":
                start = decoded(entries[-1][0]) if entries else ">"
                continue
            if entries:
                last = decoded(entries[-1][0])
                continue
            with contextlib.suppress(Exception):  # the next read says it
                await client.xread(
                    {Keys.stream: last}, count=1, block=BLOCK_MS
                )

    async def _read_failed(self, client: Any, exc: Exception) -> None:
        if "NOGROUP" in str(exc):  # Redis lost the stream: a fresh server
            self._diag.say_once(
                "relay:nogroup",
                f"relay {self.id}: the stream in {self.url} was gone "
                "(Redis restarted without its data?); it is made again. "
                "Entries no relay had read by then are lost",
            )
            with contextlib.suppress(Exception):
                await self._ensure_group(client)
            return
        self._redis_away(exc)
        await anyio.sleep(RETRY_EVERY)

    async def _ensure_group(self, client: Any) -> None:
        try:
            await client.xgroup_create(Keys.stream, GROUP, "0", mkstream=True)
        except Exception as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def _claim_all(self) -> None:
        """Take over what earlier relays left pending."""
        start = "0-0"
        while True:
            reply = await self._scripts["CLAIM"](
                keys=[Keys.lease, Keys.stream],
                args=[self.holder, GROUP, self.id, start, READ_COUNT],
            )
            if reply is None:  # not our lease now: the keeper finds out
                return
            start = decoded(reply[0])
            gone = reply[2] if len(reply) > 2 else []
            if gone:  # trimmed while pending: lost
                self._stats.count(Loss.RELAY_TRIMMED.counter, len(gone))
            if start == "0-0":
                return

    async def _last_delivered(self, client: Any) -> str:
        with contextlib.suppress(Exception):
            for group in await client.xinfo_groups(Keys.stream):
                if decoded(group.get("name")) == GROUP:
                    return decoded(group.get("last-delivered-id", "0-0"))
        return "0-0"

    def _take(self, worker: Worker, entry: str, fields: Any) -> None:
        """One entry: into the engine, or counted and acknowledged."""
        self._outstanding.add(entry)
        if not fields:  # trimmed while it was pending
            self._stats.count(Loss.RELAY_TRIMMED.counter)
            self._settled(entry)
            return
        try:
            found = read_entry(fields)
        except Exception as exc:
            why = exc if isinstance(exc, Malformed) else Malformed(str(exc))
            self._malformed(entry, why)
            return
        if isinstance(found, dict):  # a producer's losses
            for reason, n in found.items():
                self._stats.count(reason.counter, n)
            self._settled(entry)
            return
        urgent = found[1] >= logging.WARNING  # as the pipeline's queue
        if not worker.submit(Relayed(entry, found), reserve=urgent):
            self._outstanding.discard(entry)  # pending: the next relay's

    def _malformed(self, entry: str, exc: Malformed) -> None:
        """An entry this relay cannot read: counted, said once, acked."""
        self._stats.count(Loss.RELAY_MALFORMED.counter)
        self._diag.say_once(
            "relay:malformed",
            f"relay {self.id}: a stream entry could not be read "
            f"({exc}); it is dropped (dropped.relay_malformed). Do "
            "producers run another version of polybot-loghandler?",
        )
        self._settled(entry)

    def _route(self, item: Any) -> list[RoutedMessage]:
        """In the render thread: an event's messages, with its receipt."""
        if not isinstance(item, Relayed):
            return self._routing.process(item)
        try:
            messages = self._routing.process(item.raw)
        except BaseException:
            self._settled(item.entry)
            raise
        if not messages:  # matched nothing, or counted as lost
            self._settled(item.entry)
            return []
        receipt = Receipt(item.entry, len(messages), self._settled)
        return [dataclasses.replace(m, receipt=receipt) for m in messages]

    def _settled(self, entry: str) -> None:
        """Any thread: *entry* is done; the acker acknowledges it."""
        self._acks.append(entry)
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop has ended
                loop.call_soon_threadsafe(self._ack_wake.set)

    # -- acknowledging ----------------------------------------------------

    async def _acker(self) -> None:
        while True:
            await self._ack_wake.wait()
            self._ack_wake.clear()
            if not await self._flush_acks():
                await anyio.sleep(RETRY_EVERY)
                self._ack_wake.set()

    async def _flush_acks(self) -> bool:
        """Acknowledge what is settled; whether Redis took it all."""
        acks = self._acks
        while acks:
            ids = [acks.popleft() for _ in range(min(ACK_COUNT, len(acks)))]
            try:
                done = await self._scripts["ACK"](
                    keys=[Keys.lease, Keys.stream],
                    args=[self.holder, GROUP, *ids],
                )
            except Exception as exc:
                if "NOGROUP" not in str(exc):
                    acks.extendleft(reversed(ids))
                    self._redis_away(exc)
                    return False
                done = 0  # the stream is gone: nothing left to acknowledge
            if done is None:  # not our lease now: the keeper finds out
                acks.extendleft(reversed(ids))
                return False
            self._outstanding.difference_update(ids)
            self._room.set()
        return True

    # -- the lease, the status, the trim ------------------------------------

    async def _keeper(self, client: Any) -> None:
        """Renew the lease every second; the status and the trims too."""
        status_at = tidy_at = forget_at = 0.0
        lease = self._lease
        while lease is not None:
            try:
                with anyio.move_on_after(RENEW_TIMEOUT):
                    await lease.renew()  # the lanes wait meanwhile
                self._redis_back()
            except Exception as exc:
                self._redis_away(exc)
            if lease.lost.is_set():
                return
            now = time.monotonic()
            try:
                if now >= status_at:
                    status_at = now + STATUS_EVERY
                    await self._write_status(client)
                if now >= tidy_at:
                    tidy_at = now + TIDY_EVERY
                    await self._scripts["TIDY"](
                        keys=[Keys.lease, Keys.stream],
                        args=[self.holder, GROUP],
                    )
                if now >= forget_at:
                    forget_at = now + FORGET_EVERY
                    await forget_gone(client)
                    await forget_consumers(client, keep=self.id)
            except Exception as exc:
                self._redis_away(exc)
            await anyio.sleep(RENEW_EVERY)

    async def _write_status(self, client: Any) -> None:
        stats = self.stats()
        sent = stats.get("sent.messages", 0)
        if sent > self._sent_seen:
            self._sent_seen, self._last_delivery = sent, time.time()
        config = self._routing.config
        fields = {
            "relay": self.id,
            "since": self._began,
            "written": time.time(),
            "last_delivery": self._last_delivery,
            "version": self._version,
            "routing": config.path,
            "hash": file_hash(config.path),
            "stats": json.dumps(stats, sort_keys=True),
            "disabled": json.dumps(self._engine.lanes.disabled()),
        }
        flat: list[Any] = [self.holder]
        for key, value in fields.items():
            flat += [key, value]
        await self._scripts["WRITE_STATUS"](
            keys=[Keys.lease, Keys.status], args=flat
        )
        trimmed = await take_trimmed(client)
        if trimmed:
            self._stats.count(Loss.RELAY_TRIMMED.counter, trimmed)
        await self._announce(client, "active")

    # -- saying ---------------------------------------------------------

    def _redis_away(self, exc: BaseException) -> None:
        if self._away is None:
            self._away = scrub(described(exc), self._url)
            say(
                f"relay {self.id}: cannot reach Redis at {self.url} "
                f"({self._away}); trying again"
            )

    def _redis_back(self) -> None:
        if self._away is not None:
            self._away = None
            say(f"relay {self.id}: Redis at {self.url} answers again")

    def _worker_error(self, exc: BaseException) -> None:
        self._stats.count("errors.worker")
        self._diag.say_once(
            "relay:worker",
            f"relay {self.id}: the delivery worker failed ({described(exc)})",
        )


def _first(exc: BaseException) -> BaseException:
    """The first error inside a task group's group of them."""
    while isinstance(getattr(exc, "exceptions", None), tuple):
        inner = exc.exceptions  # type: ignore[attr-defined]
        if not inner:
            break
        exc = inner[0]
    return exc
