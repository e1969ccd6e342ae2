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
queue, the receipts' callback and the boards' and threads' ids (the
engine's calls to :class:`RedisPlaces`, run on the relay's loop) cross
between them.

The active relay alone shows the events to the watches and digests
(see :mod:`.watching`): it restores their state from Redis when it takes
the lease, saves it with what they made in one fenced script, and
delivers what they made as it delivers events.

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
from polybot_loghandler._delivery.muting import (
    MuteWatch,
    ended_line,
    ended_text,
)
from polybot_loghandler._diagnostics import Diagnostics, described, say
from polybot_loghandler._losses import Loss
from polybot_loghandler._message import RoutedMessage
from polybot_loghandler._model import Config
from polybot_loghandler._receipts import Receipt
from polybot_loghandler._redisurl import redacted_url
from polybot_loghandler._routing import RoutingHolder
from polybot_loghandler._stats import Stats
from polybot_loghandler._watching.mutes import decode as decode_mute
from polybot_loghandler._watching.watching import (
    ALERT,
    Mute,
    Output,
    Watching,
)
from polybot_loghandler._worker import Worker

from . import scripts
from .connect import async_client, decoded, from_redis, member_id, scrub
from .floor import FloorKeeper
from .keys import GROUP, LEASE_TTL, Keys
from .lease import Lease
from .places import RedisPlaces
from .producer import file_hash
from .upkeep import forget_consumers, forget_gone, take_trimmed
from .watching import (
    CatchUp,
    Save,
    StateAccount,
    decode_state,
    encode_state,
    entry_id,
)
from .wire import (
    FIELDS_PER_ENTRY,
    Malformed,
    encode_output,
    entry_fields,
    read_entry,
)

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
#: Seconds between looks at what the watches and digests have due (an
#: alert is late by at most this much), and between reads of the mutes.
WATCHING_EVERY = 0.25
MUTES_EVERY = 1.0


@dataclasses.dataclass(frozen=True, slots=True)
class Relayed:
    """
    What an entry read from the stream holds, with its entry id.

    *raw* is a captured event, or a watch's or digest's
    :class:`Output`; *observe* says whether the watches see the event
    (not when the restored state counted it already).
    """

    entry: str
    raw: Any
    observe: bool = True


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
        #: the boards' and threads' ids, in Redis: given the client when
        #: there is one (the engine reads them when a session starts)
        self._places = RedisPlaces(lambda: self.holder, self._routing.wall)
        self._engine = Engine(
            self._routing,
            self._stats,
            self._console,
            version=version,
            transport=transport,
            route=self._route,
            may_send=self._may_send,
            watching=False,  # the relay's own way: saved, then sent
            places=self._places,
        )
        self._cap = config.delivery.queue_size
        self._stop_requested = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake_stop = asyncio.Event()  # set on the loop by stop()
        self._lease: Lease | None = None  # made with the client
        self.sessions = 0  # times this relay became the active one
        self._saves = 0  # saves of the watching state: each its batch
        #: whether the reader has caught up with the stream; when Redis
        #: last answered again counts across sessions (a lease taken
        #: back after an outage waits for the producers)
        self._catching = CatchUp()
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
        #: the watching state in Redis, as this session knows it
        self._account: StateAccount | None = None
        #: entries whose events the watches saw, not yet acknowledged;
        #: and those of them that made no message
        self._observing: set[str] = set()
        self._quiet: set[str] = set()
        self._saving = asyncio.Lock()
        #: entries handed to the engine, and those it has routed
        self._submitted = self._routed = 0
        self._catching.restart()
        #: the mutes, read from Redis each second; their ends told
        self._mutes: MuteWatch | None = None
        self._mutes_read: dict[str, Mute] | None = None

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
                "TIDY", "WRITE_STATUS", "SAVE_WATCHING", "READ_FLOOR",
                "SAVE_FLOOR",
            )
        }  # fmt: skip
        self._lease = Lease(self._scripts, self.id, self._lease_ttl)
        self._places.attach(client, self._loop)
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
            self._places.detach()
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
        await self._restore_watching(client)
        worker = Worker(
            None, self._worker_error, self._cap, loop=self._engine.run
        )
        worker.start()
        handed = False
        try:
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(self._acker)
                tasks.start_soon(self._keeper, client)
                tasks.start_soon(self._watcher, client)
                tasks.start_soon(self._floor(client).run)
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
        try:  # what the watches saw is the next relay's to go on from
            await self._save_watching(final=True)
        except Exception as exc:
            self._redis_away(exc)
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
            count = min(READ_COUNT, room)
            try:
                reply = await self._scripts["READ"](
                    keys=[Keys.lease, Keys.stream],
                    args=[self.holder, GROUP, self.id, count, start],
                )
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
            if len(entries) < count:
                self._catching.at_tail(time.monotonic(), self._submitted)
            if entries:
                last = decoded(entries[-1][0])
                continue
            with contextlib.suppress(Exception):  # the next read says it
                await client.xread(
                    {Keys.stream: last}, count=1, block=BLOCK_MS
                )

    async def _read_failed(self, client: Any, exc: Exception) -> None:
        self._catching.lost()
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
        if isinstance(found, Output):  # made by a relay: seen by none
            item = Relayed(entry, found, observe=False)
            urgent = found.kind == ALERT
        else:
            account = self._account
            observe = account is None or account.observes(entry)
            item = Relayed(entry, found, observe=observe)
            urgent = found[1] >= logging.WARNING  # as the pipeline's queue
            if observe:
                self._observing.add(entry)
        if worker.submit(item, reserve=urgent):
            self._submitted += 1
        else:
            self._outstanding.discard(entry)  # pending: the next relay's
            self._observing.discard(entry)

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
        """
        In the render thread: an entry's messages, with its receipt.

        An event is routed, and shown to the watches unless the restored
        state counted it (its entry id is its mark); an output is
        rendered by its watch or digest.
        """
        if not isinstance(item, Relayed):
            return self._routing.process(item)
        try:
            if isinstance(item.raw, Output):
                messages = self._routing.made(item.raw)
            elif item.observe:
                messages = self._routing.process(item.raw, mark=item.entry)
            else:
                messages = self._routing.process(item.raw, observe=False)
        except BaseException:
            self._settled(item.entry)
            raise
        finally:
            self._routed += 1
        if not messages:  # matched nothing, or counted as lost
            self._quiet.add(item.entry)
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
            ids = self._not_waiting(ids)
            if not ids:
                continue
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
            self._observing.difference_update(ids)
            self._quiet.difference_update(ids)
            self._room.set()
        return True

    def _not_waiting(self, ids: list[str]) -> list[str]:
        """
        *ids* without those that wait for the watching state's save.

        An event a watch or digest took is acknowledged only once a
        saved state counted it (see :meth:`StateAccount.waits`): those are
        held, and freed by the save.
        """
        account = self._account
        live = self._routing.watching.mark
        if account is None or live is None or not self._observing:
            return ids  # no watch has taken anything: none waits
        out = []
        for entry in ids:
            if entry in self._observing and account.waits(entry, live):
                account.held.append(entry)
                account.hurry = account.hurry or entry not in self._quiet
            else:
                out.append(entry)
        return out

    # -- watches and digests ----------------------------------------------

    async def _restore_watching(self, client: Any) -> None:
        """
        Taking the lease: go on from the state the last relay saved.

        A fresh :class:`Watching` (nothing this relay knew before its
        lease was lost counts: the next one may have gone on since),
        with the state in Redis and the mutes in force (those that end
        later are told, as in a process: see :class:`MuteWatch`).
        """
        routing = self._routing
        now = routing.wall()
        watching = Watching(routing.config, now, self._stats.count)
        data = await client.hget(Keys.watching, "state")
        try:
            saved = decode_state(data)
            if saved is not None:
                watching.restore(saved)
        except Exception as exc:  # damaged: start afresh, and say so
            watching = Watching(routing.config, now, self._stats.count)
            self._diag.say_once(
                "relay:state",
                f"relay {self.id}: the watches' and digests' state in "
                f"{self.url} could not be read ({described(exc)}); they "
                "start afresh",
            )
        routing.watching = watching
        self._mutes = MuteWatch(watching, self._take_mutes, self._mute_ended)
        await self._read_mutes(client)  # in force before the first event
        self._account = StateAccount(entry_id(watching.mark), now)

    async def _watcher(self, client: Any) -> None:
        """Save the watching state with what is due; read the mutes."""
        mutes_at = 0.0
        while True:
            try:
                if time.monotonic() >= mutes_at:
                    mutes_at = time.monotonic() + MUTES_EVERY
                    await self._read_mutes(client)
                await self._save_watching()
            except Exception as exc:
                if from_redis(exc):  # away: the reader finds out too
                    self._redis_away(exc)
                else:  # a fault of ours: counted, told once, not raised
                    self._stats.count("errors.internal")
                    self._diag.say_once(
                        "relay:watching",
                        f"relay {self.id}: the watches and digests failed "
                        f"({described(exc)}); the next try is in "
                        f"{WATCHING_EVERY:g}s",
                    )
            await anyio.sleep(WATCHING_EVERY)

    async def _save_watching(self, *, final: bool = False) -> bool:
        """
        Save the watching state, with what is due, if it is time.

        One fenced script stores the state and appends the outputs to
        the stream. Silences are told and periods closed only once the
        relay has caught up with the stream (not before the events
        logged while no relay read are seen). A save that failed is
        tried again as it was, before anything more is made; the
        acknowledgements a save covers are freed. *final* (stopping):
        save whatever changed. Returns whether the last try saved.

        Raises:
            Exception: Redis failed (the save is tried again).
        """
        async with self._saving:
            account = self._account
            if account is None:
                return False
            if account.pending is not None:
                if not await self._store(account, account.pending):
                    return False
                if not final:
                    return True
            watching = self._routing.watching
            now = self._routing.wall()
            evaluate = self._catching.caught_up(time.monotonic(), self._routed)
            if not account.due_to_save(
                now,
                live=watching.mark,
                next_due=watching.next_due(),
                evaluate=evaluate,
                final=final,
            ):
                return False
            outputs, state = watching.due_and_snapshot(now, evaluate=evaluate)
            try:
                data = encode_state(state, self.id, now)
            except (TypeError, ValueError, RecursionError) as exc:
                # a fault of ours: told and counted, not tried again
                self._stats.count("errors.internal")
                self._stats.count(Loss.UNRENDERABLE.counter, len(outputs))
                self._diag.say_once(
                    "relay:save",
                    f"relay {self.id}: the watches' and digests' state "
                    f"could not be saved ({described(exc)})",
                )
                return False
            self._saves += 1
            entries = self._output_fields(outputs)
            account.pending = Save(
                f"{self.id}:{self._saves}", data, state.get("mark"), entries
            )
            return await self._store(account, account.pending)

    async def _store(self, account: StateAccount, save: Save) -> bool:
        """Run one save's script; whether it is stored (or was already)."""
        args = [self.holder, save.batch, save.state, FIELDS_PER_ENTRY]
        done = await self._scripts["SAVE_WATCHING"](
            keys=[Keys.lease, Keys.watching, Keys.stream],
            args=[*args, *save.entries],
        )
        if done is None:  # not our lease now: the next relay's state
            return False
        freed = account.stored(save.mark, self._routing.wall())
        if freed:
            self._acks.extend(freed)
            self._ack_wake.set()
        return True

    def _output_fields(self, outputs: list[Output]) -> list[str]:
        """The stream entries of *outputs*; one that cannot be, counted."""
        if not outputs:
            return []
        routing = file_hash(self._routing.config.path)
        flat: list[str] = []
        for output in outputs:
            try:
                data = encode_output(output)
            except Exception as exc:  # too large, or a fault: lost, told
                self._stats.count(Loss.UNRENDERABLE.counter)
                self._diag.warn(
                    f"render:{output.name}",
                    f"could not relay {output.kind} '{output.name}': "
                    f"{described(exc)}",
                )
                continue
            flat += entry_fields("w", self.id, routing, data)
        return flat

    async def _read_mutes(self, client: Any) -> None:
        """
        The mutes in Redis, in force from now; the ends of those seen.

        A value that does not read as a mute is ignored, as ``mute``
        and every process ignore it.
        """
        found = await client.hgetall(Keys.mutes)
        mutes = {}
        for name, value in found.items():
            mute = decode_mute(value)
            if mute is not None:
                mutes[decoded(name)] = mute
        self._mutes_read = mutes
        if self._mutes is not None:
            self._mutes.check(self._routing.wall())

    def _take_mutes(self) -> dict[str, Mute] | None:
        """For the mute watch: the mutes just read (once), else none."""
        found, self._mutes_read = self._mutes_read, None
        return found

    def _mute_ended(self, name: str, mute: Mute, held: int) -> None:
        """Tell the ops channel, or else stderr, that a mute ended."""
        if not self._engine.alert(*ended_text(name, mute, held)):
            say(f"relay {self.id}: {ended_line(name, mute, held)}")

    # -- the floor's state ----------------------------------------------

    def _floor(self, client: Any) -> FloorKeeper:
        """This session's keeper of the floor's state (see :mod:`.floor`)."""
        return FloorKeeper(
            client,
            self._scripts,
            holder=lambda: self.holder,
            spec=lambda: self._routing.config.state,
            failed=self._floor_failed,
            name=self.id,
        )

    def _floor_failed(self, exc: BaseException) -> None:
        if from_redis(exc):  # away: the reader finds out too
            self._redis_away(exc)
        else:  # a fault of ours: counted, told once, not raised
            self._stats.count("errors.internal")
            self._diag.say_once(
                "relay:floor",
                f"relay {self.id}: keeping the floor's state failed "
                f"({described(exc)}); it starts again from the state saved",
            )

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
                    floor = self._routing.config.state is not None
                    await self._scripts["TIDY"](
                        keys=[Keys.lease, Keys.stream, Keys.floor_meta],
                        args=[self.holder, GROUP, int(floor)],
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
        self._catching.lost()  # what was logged meanwhile is still to read
        if self._away is None:
            self._away = scrub(described(exc), self._url)
            say(
                f"relay {self.id}: cannot reach Redis at {self.url} "
                f"({self._away}); trying again"
            )

    def _redis_back(self) -> None:
        if self._away is not None:
            self._away = None
            self._catching.back(time.monotonic())
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
