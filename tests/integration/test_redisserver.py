"""
Tests for tests/support/redisserver.py: Redis for the relay's tests.

A private server is started, stopped, killed and started again on its
port, and never outlives the process that started it (those tests start
``redis-server``: ``slow``). The shared server's databases are leased
one per test, empty before and after.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import redis

from tests.support.helpers import wait_for
from tests.support.redisserver import (
    SHARED_HOST,
    SHARED_PORT,
    TEST_DBS,
    RedisServer,
    RedisUnavailableError,
    client,
    free_port,
    shared_database,
    shared_redis_url,
)

REPO = Path(__file__).resolve().parents[2]


def _alive(pid: int) -> bool:
    """Whether *pid* runs (a zombie, dead but not yet reaped, does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def _refused(url: str) -> bool:
    """Whether nothing answers at *url*."""
    with client(url) as look:
        try:
            look.ping()
        except redis.ConnectionError:
            return True
    return False


def _started_in_child(ending: str) -> int:
    """
    The pid of a server a child Python started, after the child ended.

    *ending* is the child's last line: how it ends without closing the
    server.
    """
    script = textwrap.dedent(
        f"""
        import os, signal, sys
        from tests.support.redisserver import RedisServer
        server = RedisServer().start()
        print(server.pid, flush=True)
        sys.stdin.readline()
        {ending}
        """
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    assert child.stdin is not None
    with child:
        pid = int(child.stdout.readline())
        assert _alive(pid)
        child.stdin.write("\n")
        child.stdin.flush()
        child.wait(30)
    return pid


@pytest.mark.slow
class TestRedisServer:
    def test_answers_then_stops_and_cleans_up(self) -> None:
        """A started server answers; closed, it is gone with its files."""
        with RedisServer() as server:
            pid = server.pid
            with client(server.url) as by_port:
                by_port.set("k", "v")
            with client(server.unix_url) as by_socket:
                assert b"v" == by_socket.get("k")
            directory = Path(server.socket_path).parent

        assert pid is not None
        assert not _alive(pid)
        assert not server.running
        assert _refused(server.url)
        assert not directory.exists()

    @pytest.mark.parametrize("end", ["stop", "kill"])
    def test_starts_again_empty_on_the_same_port(self, end: str) -> None:
        """After a stop or a crash, a start is a fresh server, same port."""
        with RedisServer() as server:
            port, url = server.port, server.url
            with client(url) as before:
                before.set("k", "v")

            getattr(server, end)()
            assert not server.running
            assert _refused(url)

            server.start()
            assert port == server.port
            with client(url) as after:
                assert after.get("k") is None

    def test_a_stop_is_a_clean_shutdown(self) -> None:
        """SIGTERM lets Redis shut down; SIGKILL does not ask."""
        with RedisServer() as server:
            process = server._process
            assert process is not None
            server.stop()
            assert 0 == process.returncode
            server.start()
            process = server._process
            assert process is not None
            server.kill()
            assert -9 == process.returncode

    def test_a_second_start_is_refused(self) -> None:
        """Starting a running server is a mistake, not a second server."""
        with RedisServer() as server, pytest.raises(RuntimeError):
            server.start()

    def test_a_taken_port_is_told(self) -> None:
        """A server whose port is taken fails, saying what Redis said."""
        with RedisServer() as first:
            second = RedisServer(port=first.port)
            with pytest.raises(RedisUnavailableError) as info:
                second.start()
            second.close()

        assert "before answering PING" in str(info.value)
        assert "Address already in use" in str(info.value)
        assert not second.running

    @pytest.mark.parametrize(
        "ending",
        [
            pytest.param("sys.exit(0)", id="exit-without-close"),
            pytest.param(
                "os.kill(os.getpid(), signal.SIGKILL)", id="killed-outright"
            ),
        ],
    )
    def test_never_outlives_its_process(self, ending: str) -> None:
        """A server left running dies with the process that started it."""
        pid = _started_in_child(ending)

        assert wait_for(lambda: not _alive(pid))


class TestSharedRedis:
    def test_shared_url(self) -> None:
        """The machine's server, by database number."""
        assert "redis://127.0.0.1:6379/7" == shared_redis_url(7)

    def test_redis_url_is_an_empty_database_of_its_own(
        self, redis_url: str
    ) -> None:
        """The fixture's database is one of 1-15, and empty."""
        db = int(redis_url.rpartition("/")[2])

        assert redis_url == shared_redis_url(db)
        assert db in TEST_DBS
        with client(redis_url) as look:
            assert 0 == look.dbsize()
            look.set("left-behind", "1")  # the fixture flushes it

    def test_leases_never_share_a_database(self) -> None:
        """Two leases at once get two databases; each is flushed after."""
        with shared_database() as one, shared_database() as two:
            assert one != two
            with client(one) as look:
                look.set("k", "v")

        with client(one) as look:
            assert 0 == look.dbsize()

    def test_unreachable_redis_says_how_to_start_it(self) -> None:
        """No server: the error tells how to start one; nothing skips."""
        port = free_port()

        with (
            pytest.raises(RedisUnavailableError, match="redis-server") as info,
            shared_database(port=port),
        ):
            pass

        assert f"{SHARED_HOST}:{port}" in str(info.value)
        assert f"--port {SHARED_PORT}" in str(info.value)
