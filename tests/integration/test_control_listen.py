"""
``control.listen``: an agent hears the control commands on a real Redis.

The test plays the bot: it appends commands to the control stream with
its own client, and reads the agents' answers on ``<stream>:acks`` and
the groups' pending entries. Each test has a database of the shared
Redis of its own (the ``redis_url`` fixture), or, to stop and restart
Redis under a listener, a ``redis-server`` of its own. Waits poll with a
deadline (``wait_for``); none sleeps. A listener's stop waits out its
blocking read (about a second), so most of these are ``slow``.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from polybot_loghandler import control
from polybot_loghandler._control.wire import Ack, Command, acks_stream
from polybot_loghandler._relay.connect import RelayUnavailable
from tests.support.helpers import wait_for
from tests.support.redisserver import RedisServer, client, free_port

STREAM = control.DEFAULT_STREAM
ACKS = acks_stream(STREAM)
AGENT = "Momentum_BTC_v1"
OTHER = "MeanRevert_ETH_v2"
PASSWORD = "s3cret-Pa55word"
LOGGER = "polybot_loghandler.control"
ROOT = Path(__file__).parents[2]


class Agent:
    """A callback that records the commands it is given, from any thread."""

    def __init__(self, fail: Callable[[Command], bool] = lambda _: False):
        self._fail = fail
        self._lock = threading.Lock()
        self._seen: list[Command] = []
        self.threads: set[str] = set()

    def __call__(self, command: Command) -> None:
        with self._lock:
            self._seen.append(command)
            self.threads.add(threading.current_thread().name)
        if self._fail(command):
            raise ValueError(f"cannot {command.command} now")

    @property
    def seen(self) -> list[Command]:
        with self._lock:
            return list(self._seen)


Listen = Callable[..., control.Listener]


@pytest.fixture
def bot(redis_url: str) -> Iterator[redis.Redis]:
    """The test's own client: it sends commands and reads the answers."""
    with client(redis_url) as look:
        yield look


@pytest.fixture
def listen(redis_url: str) -> Iterator[Listen]:
    """``control.listen`` on the test's database; all stopped after."""
    made: list[control.Listener] = []

    def start(callback: Any, agent: str = AGENT, **kw: Any) -> Any:
        kw.setdefault("redis_url", redis_url)
        listener = control.listen(callback, agent=agent, **kw)
        made.append(listener)
        return listener

    yield start
    for listener in made:
        assert listener.stop(), f"{listener!r} did not stop"
    assert not [
        t for t in threading.enumerate() if t.name.startswith(LOGGER)
    ], "a listener's thread outlived its test"


def send(look: redis.Redis, command: str = "pause", **kw: Any) -> str:
    """Append a command as the bot would; its id."""
    entry = look.xadd(STREAM, Command(command=command, **kw).fields())
    return entry.decode()


def answers(look: redis.Redis) -> list[Ack]:
    """The acknowledgements appended so far, oldest first."""
    return [Ack.from_entry(fields) for _, fields in look.xrange(ACKS)]


def pending(look: redis.Redis, agent: str = AGENT) -> int:
    """How many of the agent's group's entries are not acknowledged."""
    return int(look.xpending(STREAM, f"agent:{agent}")["pending"])


def has_group(look: redis.Redis, agent: str = AGENT) -> bool:
    """Whether the agent's group exists on the control stream."""
    try:
        groups = look.xinfo_groups(STREAM)
    except redis.ResponseError:  # no stream yet
        return False
    except redis.ConnectionError:  # a server restarting
        return False
    return any(g["name"] == f"agent:{agent}".encode() for g in groups)


def blocked_reads(look: redis.Redis) -> int:
    """How many listeners' clients wait in a blocking XREADGROUP."""
    return sum(
        1
        for c in look.client_list()
        if c.get("name") == LOGGER and c.get("cmd") == "xreadgroup"
        if "b" in c.get("flags", "")
    )


def consumer() -> str:
    """The consumer name a listener in this process reads as."""
    return f"{socket.gethostname()}:{os.getpid()}"


@pytest.mark.slow
def test_a_command_for_the_agent_is_obeyed_once_and_answered(
    bot: redis.Redis,
    redis_url: str,
    listen: Listen,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("POLYBOT_REDIS_URL", redis_url)  # no redis_url=
    agent = Agent()
    listen(agent, redis_url=None)
    assert wait_for(lambda: has_group(bot))
    sent = Command(
        command="pause",
        agent=AGENT,
        requested_by="alice",
        requested_by_id="4242",
        requested_at=1733489700.25,
        via="prefix",
    )
    entry = bot.xadd(STREAM, sent.fields()).decode()
    assert wait_for(lambda: pending(bot) == 0 and bool(answers(bot)))
    [ack] = answers(bot)
    assert (entry, AGENT, "done", "") == (
        ack.command_id,
        ack.agent,
        ack.status,
        ack.error,
    )
    assert abs(time.time() - ack.acked_at) < 60
    assert [dataclasses.replace(sent, id=entry)] == agent.seen
    assert {f"polybot_loghandler.control[{AGENT}]"} == agent.threads
    [group] = bot.xinfo_groups(STREAM)
    assert (
        consumer().encode()
        == bot.xinfo_consumers(STREAM, group["name"])[0]["name"]
    )


@pytest.mark.slow
def test_a_command_for_another_agent_is_passed_over(
    bot: redis.Redis, listen: Listen
) -> None:
    agent = Agent()
    listen(agent)
    assert wait_for(lambda: has_group(bot))
    send(bot, agent=OTHER)
    mine = send(bot, "resume", agent=AGENT)
    # in stream order: once the next is answered, the first was handled
    assert wait_for(lambda: bool(answers(bot)) and pending(bot) == 0)
    assert [mine] == [c.id for c in agent.seen]
    assert [mine] == [a.command_id for a in answers(bot)]


@pytest.mark.slow
def test_a_command_for_every_agent_reaches_each_once(
    bot: redis.Redis, listen: Listen
) -> None:
    first, second = Agent(), Agent()
    listen(first, agent=AGENT)
    listen(second, agent=OTHER)
    assert wait_for(lambda: has_group(bot, AGENT) and has_group(bot, OTHER))
    entry = send(bot, "switch", agent="", mode="live")
    assert wait_for(lambda: len(answers(bot)) == 2)
    assert wait_for(lambda: pending(bot, AGENT) + pending(bot, OTHER) == 0)
    for agent in (first, second):
        [command] = agent.seen
        assert (entry, "switch", "live") == (
            command.id,
            command.command,
            command.mode,
        )
    assert {(entry, AGENT, "done"), (entry, OTHER, "done")} == {
        (a.command_id, a.agent, a.status) for a in answers(bot)
    }


@pytest.mark.slow
def test_a_raising_callback_is_answered_failed_and_not_redelivered(
    bot: redis.Redis, listen: Listen, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    agent = Agent(fail=lambda c: c.command == "pause")
    listener = listen(agent)
    assert wait_for(lambda: has_group(bot))
    failed = send(bot, "pause", agent=AGENT)
    assert wait_for(lambda: len(answers(bot)) == 1 and pending(bot) == 0)
    [ack] = answers(bot)
    assert (failed, "failed", "ValueError: cannot pause now") == (
        ack.command_id,
        ack.status,
        ack.error,
    )
    [record] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert (LOGGER, ValueError) == (record.name, record.exc_info[0])
    # it still listens, and the failed command does not come again
    done = send(bot, "resume", agent=AGENT)
    assert wait_for(lambda: len(answers(bot)) == 2 and pending(bot) == 0)
    assert [failed, done] == [c.id for c in agent.seen]
    assert "done" == answers(bot)[1].status
    assert listener.running


@pytest.mark.slow
def test_a_command_read_but_not_acknowledged_comes_again(
    bot: redis.Redis, listen: Listen
) -> None:
    # a listener that crashed: it read the command into its pending
    # entries (same group, same consumer) and never acknowledged it
    bot.xgroup_create(STREAM, f"agent:{AGENT}", "$", mkstream=True)
    entry = send(bot, "pause", agent=AGENT)
    bot.xreadgroup(f"agent:{AGENT}", consumer(), {STREAM: ">"})
    assert 1 == pending(bot)
    agent = Agent()
    listen(agent)
    assert wait_for(lambda: len(answers(bot)) == 1 and pending(bot) == 0)
    assert [entry] == [c.id for c in agent.seen]
    assert [(entry, "done")] == [
        (a.command_id, a.status) for a in answers(bot)
    ]


@pytest.mark.slow
def test_a_pending_command_trimmed_meanwhile_is_answered_failed(
    bot: redis.Redis, listen: Listen
) -> None:
    bot.xgroup_create(STREAM, f"agent:{AGENT}", "$", mkstream=True)
    entry = send(bot, "pause", agent=AGENT)
    bot.xreadgroup(f"agent:{AGENT}", consumer(), {STREAM: ">"})
    bot.xdel(STREAM, entry)
    agent = Agent()
    listen(agent)
    assert wait_for(lambda: len(answers(bot)) == 1 and pending(bot) == 0)
    [ack] = answers(bot)
    assert (entry, "failed") == (ack.command_id, ack.status)
    assert "gone" in ack.error
    assert [] == agent.seen


@pytest.mark.slow
def test_commands_before_the_first_start_are_not_for_the_agent(
    bot: redis.Redis, listen: Listen
) -> None:
    send(bot, "pause", agent=AGENT)  # the agent has never listened
    agent = Agent()
    first = listen(agent)
    assert wait_for(lambda: has_group(bot))
    heard = send(bot, "resume", agent=AGENT)
    assert wait_for(lambda: len(answers(bot)) == 1)
    assert first.stop()
    # sent while it is stopped: its group keeps them for its next start
    waited = send(bot, "switch", agent=AGENT, mode="paper")
    assert 1 == len(answers(bot))
    listen(agent)
    assert wait_for(lambda: len(answers(bot)) == 2 and pending(bot) == 0)
    assert [heard, waited] == [c.id for c in agent.seen]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"v": "1", "command": "halt"}, "unknown command 'halt'"),
        ({"v": "2", "command": "pause"}, "version '2'"),
        (
            {"v": "1", "command": "switch", "mode": "demo", "agent": AGENT},
            "unknown mode 'demo'",
        ),
    ],
    ids=["unknown command", "unknown version", "unknown mode"],
)
def test_a_malformed_entry_is_answered_failed_with_its_reason(
    bot: redis.Redis,
    listen: Listen,
    fields: dict[str, str],
    reason: str,
) -> None:
    agent = Agent()
    listen(agent)
    assert wait_for(lambda: has_group(bot))
    entry = bot.xadd(STREAM, fields).decode()
    assert wait_for(lambda: len(answers(bot)) == 1 and pending(bot) == 0)
    [ack] = answers(bot)
    assert (entry, AGENT, "failed") == (ack.command_id, ack.agent, ack.status)
    assert reason in ack.error
    assert [] == agent.seen


@pytest.mark.slow
def test_the_listener_outlives_a_redis_restart(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    with RedisServer() as server:
        _require_password(server)
        url = f"redis://:{PASSWORD}@127.0.0.1:{server.port}/0"
        with client(url) as bot:
            agent = Agent()
            with control.listen(agent, agent=AGENT, redis_url=url) as listener:
                assert wait_for(lambda: has_group(bot))
                send(bot, "pause", agent=AGENT)
                assert wait_for(lambda: len(agent.seen) == 1)
                server.stop()
                assert wait_for(lambda: _warnings(caplog) == 1)
                server.start()  # the same port; empty, without a password
                _require_password(server)
                assert wait_for(lambda: has_group(bot), timeout=30)
                entry = send(bot, "resume", agent=AGENT)
                assert wait_for(lambda: len(answers(bot)) == 1)
                assert [entry] == [a.command_id for a in answers(bot)]
                assert listener.running
            assert not listener.running
    assert 1 == _warnings(caplog)
    assert any("answers again" in r.getMessage() for r in caplog.records)
    logged = caplog.text + "".join(r.getMessage() for r in caplog.records)
    assert f"127.0.0.1:{server.port}" in logged  # where, not how
    assert PASSWORD not in logged
    assert url not in logged


def _require_password(server: RedisServer) -> None:
    with client(server.url) as admin:
        admin.config_set("requirepass", PASSWORD)


def _tries(caplog: pytest.LogCaptureFixture) -> int:
    """How many tries failed: the warning, then the debug lines."""
    return _warnings(caplog) + sum(
        1 for r in caplog.records if "still no Redis" in r.getMessage()
    )


def _warnings(caplog: pytest.LogCaptureFixture) -> int:
    return sum(
        1
        for r in caplog.records
        if r.name == LOGGER and r.levelno == logging.WARNING
    )


@pytest.mark.slow
def test_stop_ends_a_blocked_read_within_two_seconds(
    bot: redis.Redis, listen: Listen
) -> None:
    listener = listen(Agent())
    assert wait_for(lambda: blocked_reads(bot) == 1)
    began = time.monotonic()
    assert listener.stop(timeout=2.0)
    assert time.monotonic() - began < 2.0
    assert not listener.running
    assert listener.stop()  # again: nothing left to stop


@pytest.mark.slow
def test_an_outage_is_warned_once_without_the_url_or_password(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    url = f"redis://trader:{PASSWORD}@127.0.0.1:{free_port()}/0"  # refused
    with control.listen(Agent(), agent=AGENT, redis_url=url) as listener:
        # tried again (after 0.5 s), and again (after 1 s): still one
        assert wait_for(lambda: _tries(caplog) >= 3)
        assert 1 == _warnings(caplog)
        shown = repr(listener)
        assert AGENT in shown
        assert STREAM in shown
        assert listener.running
    for text in (shown, caplog.text):
        assert PASSWORD not in text
        assert "trader" not in text
        assert url not in text
    assert not listener.running
    assert (AGENT, STREAM) == (listener.agent, listener.stream)


def test_listen_without_a_url_says_how_to_give_one() -> None:
    # conftest removes POLYBOT_REDIS_URL from the environment
    with pytest.raises(ValueError, match="POLYBOT_REDIS_URL") as caught:
        control.listen(Agent(), agent=AGENT)
    assert "redis_url" in str(caught.value)
    with pytest.raises(ValueError, match="redis_url"):
        control.listen(Agent(), agent=AGENT, redis_url="")


def test_listen_without_the_redis_package_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)  # import fails
    with pytest.raises(RelayUnavailable, match="control needs the redis pa"):
        control.listen(Agent(), agent=AGENT, redis_url="redis://localhost")
    assert not [t for t in threading.enumerate() if t.name.startswith(LOGGER)]


@pytest.mark.parametrize("agent", ["", None, 7])
def test_listen_wants_an_agent_name(redis_url: str, agent: Any) -> None:
    with pytest.raises(ValueError, match="agent"):
        control.listen(Agent(), agent=agent, redis_url=redis_url)
    assert not [t for t in threading.enumerate() if t.name.startswith(LOGGER)]


@pytest.mark.slow
def test_importing_control_does_not_import_redis() -> None:
    found = subprocess.run(
        [
            sys.executable,
            "-c",
            (
                "import sys; from polybot_loghandler import control; "
                "print(sorted(m for m in sys.modules "
                "if m.split('.')[0] == 'redis'))"
            ),
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert "[]" == found.stdout.strip()
