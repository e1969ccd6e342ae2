"""
Redis for tests: a server of a test's own, and databases of the shared one.

A test that stops, kills or restarts Redis under the relay starts its own
:class:`RedisServer` (a ``redis-server`` process on a free port, nothing
kept on disk). A test that only needs a Redis leases a database of the
machine's server (127.0.0.1:6379, which ``.ci/run`` starts) with
:func:`shared_database`, as the ``redis_url`` fixture does: its own
database number, empty before and after, even when other test runs use
the same server at the same time. Real ``redis-server``, real redis-py:
no fakes.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

if TYPE_CHECKING:
    from types import TracebackType

    from typing_extensions import Self

__all__ = [
    "HOW_TO_START",
    "SHARED_HOST",
    "SHARED_PORT",
    "TEST_DBS",
    "RedisServer",
    "RedisUnavailableError",
    "client",
    "free_port",
    "shared_database",
    "shared_redis_url",
]

#: The machine's Redis, which the tests share.
SHARED_HOST = "127.0.0.1"
SHARED_PORT = 6379
#: The database numbers tests lease on the shared server; database 0
#: is left to people, and holds the leases.
TEST_DBS = range(1, 16)
#: Seconds a server has to answer PING, or to stop after SIGTERM.
WAIT = 10.0
#: Seconds a lease lasts if its run dies without giving it back.
LEASE_SECONDS = 900
#: Seconds to wait for a database when every one is leased.
LEASE_WAIT = 30.0
#: Where a lease is kept (in database 0), by database number.
LEASE_KEY = "polybot_loghandler:tests:db:{}"
#: How to get the shared server, said when it does not answer.
HOW_TO_START = (
    "start it with: redis-server --daemonize yes --bind 127.0.0.1 -::1 "
    '--port 6379 --save "" --appendonly no  (.ci/run does this; if '
    "redis-server is missing: apt-get install redis-server)"
)
#: Deletes a lease only if it is still this run's (it may have expired
#: and gone to another).
_RELEASE = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then "
    "return redis.call('del', KEYS[1]) end return 0"
)
#: prctl's option for a signal at the death of the parent (Linux).
_PR_SET_PDEATHSIG = 1
#: The C library, loaded before any fork: the child only calls it.
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform == "linux" else None


class RedisUnavailableError(RuntimeError):
    """Redis cannot be had: not installed, not answering, or all leased."""


def shared_redis_url(db: int) -> str:
    """The URL of database *db* of the machine's shared Redis."""
    return f"redis://{SHARED_HOST}:{SHARED_PORT}/{db}"


def client(url: str, timeout: float = 2.0) -> redis.Redis:
    """
    A redis-py client for *url* that tries once: a test's own look.

    redis-py retries a refused connection for seconds by default; a test
    that checks whether a server is gone, or waits for it to start,
    wants to know at once. Close it (``with client(url) as c:``).
    """
    return redis.Redis.from_url(
        url,
        socket_connect_timeout=timeout,
        socket_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on, as of now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class RedisServer:
    """
    A ``redis-server`` of one test's own, on 127.0.0.1 and a socket.

    It keeps nothing on disk (``--save "" --appendonly no``), so every
    :meth:`start` is a fresh, empty server, on the same port as the one
    before: a client that reconnects finds "Redis restarted". Use it as
    a context manager, or call :meth:`close`; a server left running is
    killed when this object is collected or the interpreter exits, and
    on Linux when the process that started it dies.
    """

    def __init__(self, port: int | None = None) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix="polybot-redis-"))
        self._chosen = port is None
        self._tries = 0  # starts on ports chosen here
        self.port = free_port() if port is None else port
        self._process: subprocess.Popen[bytes] | None = None
        # what the finalizer reaps: it must not hold self
        self._live: list[subprocess.Popen[bytes]] = []
        self._finalizer = weakref.finalize(
            self, _reap, self._live, str(self._dir)
        )

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:PORT/0``."""
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def socket_path(self) -> str:
        """The path of the server's Unix socket."""
        return str(self._dir / "redis.sock")

    @property
    def unix_url(self) -> str:
        """``unix:///.../redis.sock?db=0``: the same server by its socket."""
        return f"unix://{self.socket_path}?db=0"

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs."""
        return self._process.pid if self.running and self._process else None

    @property
    def running(self) -> bool:
        """Whether the server process is alive."""
        return self._process is not None and self._process.poll() is None

    def start(self) -> Self:
        """
        Start the server and wait until it answers PING; return self.

        The first start may move to another free port if its own was
        taken meanwhile; a later one keeps the port or fails.

        Raises:
            RedisUnavailableError: ``redis-server`` is not installed, or
                did not answer within ``WAIT`` seconds (its log is told).
        """
        if self.running:
            raise RuntimeError(f"the Redis on port {self.port} is running")
        while not self._started():
            self.port = free_port()  # taken meanwhile: another
        self._chosen = False  # a restart keeps this port
        return self

    def stop(self) -> None:
        """Stop the server with SIGTERM (as a shutdown would); wait for it."""
        self._end(signal.SIGTERM)

    def kill(self) -> None:
        """Kill the server with SIGKILL (as a crash would); wait for it."""
        self._end(signal.SIGKILL)

    def close(self) -> None:
        """Stop the server if it runs, and remove its directory: for good."""
        self.stop()
        self._finalizer()

    def __enter__(self) -> Self:
        return self if self.running else self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def _started(self) -> bool:
        """
        Start once: whether it answered; ``False`` if it may try again.

        Only a first start on a port chosen here tries again (three
        times in all), since the port may have been taken meanwhile.
        """
        self._tries += 1
        try:
            self._start_once()
        except RedisUnavailableError:
            if not self._chosen or self._tries >= 3:
                raise
            return False
        return True

    def _start_once(self) -> None:
        executable = shutil.which("redis-server")
        if executable is None:
            raise RedisUnavailableError(
                "redis-server is not installed: apt-get install redis-server"
            )
        for old in self._dir.iterdir():  # a fresh server: nothing kept
            old.unlink()
        output = self._dir / "redis.out"
        with output.open("wb") as out:
            process = subprocess.Popen(
                [
                    executable,
                    *("--port", str(self.port), "--bind", "127.0.0.1"),
                    *("--save", "", "--appendonly", "no"),
                    *("--dir", str(self._dir), "--daemonize", "no"),
                    *("--unixsocket", self.socket_path),
                    *("--unixsocketperm", "700"),
                ],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,  # noqa: PLW1509 - it only calls prctl
            )
        self._process = process
        self._live.append(process)
        if not _answers(process, self.port):
            code = process.poll()
            self.kill()
            log = output.read_text(errors="replace")[-2000:]
            what = (
                f"did not answer PING within {WAIT:g}s"
                if code is None
                else f"exited with status {code} before answering PING"
            )
            raise RedisUnavailableError(
                f"redis-server on port {self.port} {what}; it said:\n{log}"
            )

    def _end(self, sig: signal.Signals) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(sig)
        try:
            process.wait(WAIT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        self._live.remove(process)


def _answers(process: subprocess.Popen[bytes], port: int) -> bool:
    """
    Whether *process* answers PING on *port* within ``WAIT`` seconds.

    The answer must come from that very process: another server that
    took the port meanwhile is not it.
    """
    deadline = time.monotonic() + WAIT
    while process.poll() is None and time.monotonic() < deadline:
        with client(f"redis://127.0.0.1:{port}/0", 0.5) as look:
            try:
                answered = look.info("server")["process_id"]
            except redis.ConnectionError:
                answered = None
        if answered == process.pid:
            return True
        # still starting, or another server has the port (and this one
        # is about to fail to bind): a bounded poll
        time.sleep(0.02)
    return False


def _die_with_parent() -> None:
    """
    In the child: be killed when the test process dies, however it dies.

    (Linux ties this to the thread that started the server: start one
    from a thread that outlives it, as the tests' own thread does.)
    """
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _reap(live: list[subprocess.Popen[bytes]], directory: str) -> None:
    """Kill what is left running, remove the directory (the finalizer)."""
    for process in live:
        if process.poll() is None:
            process.kill()
        process.wait()
    live.clear()
    shutil.rmtree(directory, ignore_errors=True)


@contextlib.contextmanager
def shared_database(
    host: str = SHARED_HOST, port: int = SHARED_PORT, wait: float = LEASE_WAIT
) -> Iterator[str]:
    """
    Lease a database of the shared Redis for one test; yield its URL.

    The database is this lease's alone (a key in database 0 says so,
    and expires if the run dies), emptied with FLUSHDB before and after.
    The first one tried depends on the pytest-xdist worker or the
    process, so parallel runs rarely contend.

    Raises:
        RedisUnavailableError: the server does not answer (the message
            says how to start it), or every database stays leased for
            *wait* seconds.
    """
    with client(f"redis://{host}:{port}/0", 5.0) as admin:
        try:
            admin.ping()
        except redis.RedisError as exc:
            raise RedisUnavailableError(
                f"Redis is not reachable at {host}:{port} ({exc}); the tests "
                f"need it: {HOW_TO_START}"
            ) from exc
        token = f"{os.getpid()}:{uuid.uuid4().hex}"
        db = _lease(admin, token, wait)
        url = f"redis://{host}:{port}/{db}"
        try:
            _flush(url)
            yield url
        finally:
            _flush(url)
            admin.eval(_RELEASE, 1, LEASE_KEY.format(db), token)


def _lease(admin: redis.Redis, token: str, wait: float) -> int:
    """A database number no one else holds, now held by *token*."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    digits = "".join(ch for ch in worker if ch.isdigit())
    first = int(digits) if digits else os.getpid()
    dbs = list(TEST_DBS)
    start = first % len(dbs)
    order = dbs[start:] + dbs[:start]
    deadline = time.monotonic() + wait
    while True:
        for db in order:
            key = LEASE_KEY.format(db)
            if admin.set(key, token, nx=True, ex=LEASE_SECONDS):
                return db
        if time.monotonic() >= deadline:
            raise RedisUnavailableError(
                f"every test database ({dbs[0]}-{dbs[-1]}) of the shared "
                f"Redis stayed leased for {wait:g}s: other test runs hold "
                f"them (or died holding them; the leases expire after "
                f"{LEASE_SECONDS}s, or delete the keys "
                f"{LEASE_KEY.format('*')} in database 0)"
            )
        time.sleep(0.1)  # bounded poll: another run gives one back


def _flush(url: str) -> None:
    with client(url, 5.0) as flusher:
        flusher.flushdb()
