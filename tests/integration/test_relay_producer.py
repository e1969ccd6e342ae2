"""
The producer's side of the relay, against real ``redis-server``\\ s.

What a process does with its events while Redis is away (keeps them
within its bound, the lowest levels going first, and appends them when
Redis answers), what it says about it (once each way, never the URL's
password), and what it sends on to the relay (its losses).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from polybot_loghandler import DiscordHandler
from polybot_loghandler._cli import main
from polybot_loghandler._losses import Loss
from polybot_loghandler._relay.keys import Keys
from polybot_loghandler._relay.wire import read_entry
from tests.support.helpers import script_environment, wait_for
from tests.support.redisserver import RedisServer, free_port

pytestmark = pytest.mark.slow

SCRIPTS = Path(__file__).parent / "scripts"
ROOT = Path(__file__).parents[2]


def routing(tmp_path: Path, url: str, **delivery: str) -> Path:
    """A console-only routing file whose producers append to *url*."""
    settings = "".join(f"  {k}: {v}\n" for k, v in delivery.items())
    path = tmp_path / "routing.yaml"
    path.write_text(
        "version: 1\n"
        "channels:\n  floor: {}\n"
        "routes:\n  - {name: all, match: {event: '*'}, to: floor}\n"
        f"delivery:\n  relay: '{url}'\n{settings}"
    )
    return path


@pytest.fixture
def away(tmp_path: Path) -> Iterator[tuple[RedisServer, int]]:
    """A port where Redis will answer, once the test starts it."""
    port = free_port()
    server = RedisServer(port)
    try:
        yield server, port
    finally:
        server.close()


def taken(handler: DiscordHandler) -> None:
    """Wait until the producer has taken everything logged so far."""
    assert wait_for(lambda: handler.stats()["queued"] == 0)


def logger(path: Path) -> tuple[DiscordHandler, logging.Logger]:
    handler = DiscordHandler(path)
    log = logging.getLogger(f"producer.{path.parent.name}")
    log.handlers = [handler]
    log.setLevel(logging.DEBUG)
    log.propagate = False
    return handler, log


def stream(url: str) -> tuple[list[Any], dict[Loss, int]]:
    """The events in the stream (their ``n``), and the losses reported."""
    events: list[Any] = []
    losses: dict[Loss, int] = {}
    client = redis.Redis.from_url(url)
    for _id, fields in client.xrange(Keys.stream):
        found = read_entry(fields)
        if isinstance(found, dict):
            for reason, n in found.items():
                losses[reason] = losses.get(reason, 0) + n
        else:
            events.append(found[4]["n"])
    return events, losses


def test_while_redis_is_away_the_lowest_levels_make_room(
    tmp_path: Path,
    away: tuple[RedisServer, int],
    capfd: pytest.CaptureFixture[str],
) -> None:
    server, port = away
    url = f"redis://127.0.0.1:{port}/0"
    handler, log = logger(routing(tmp_path, url, queue_size="4"))
    try:
        # one at a time: the worker's own queue (the same bound) never
        # fills, so what is dropped is the producer's choice
        log.warning("w", extra={"n": "w0"})
        taken(handler)
        for n in range(3):
            log.info("i", extra={"n": f"i{n}"})
            taken(handler)
        log.error("e", extra={"n": "e0"})
        taken(handler)
        for n in range(2):
            log.info("i", extra={"n": f"i{n + 3}"})
            taken(handler)
        assert not handler._pipeline.flush(0.5)
        server.start()
        assert handler._pipeline.flush(10)
    finally:
        handler._pipeline.close()
    stats = handler.stats()
    events, losses = stream(url)
    # the oldest infos went; the warning and the error stayed, in order
    assert ["w0", "e0", "i3", "i4"] == events
    assert 3 == stats["dropped.relay_unavailable"]
    assert {Loss.RELAY_UNAVAILABLE: 3} == losses
    err = capfd.readouterr().err
    # said once each way (a second warning here once came from the
    # child of server.start()'s fork, which started a worker of its own)
    said = [
        "away" if "cannot reach Redis" in line else "back"
        for line in err.splitlines()
        if "cannot reach Redis" in line or "answers again" in line
    ]
    assert ["away", "back"] == said, err


def test_closing_while_redis_is_away_counts_what_is_left(
    tmp_path: Path,
    away: tuple[RedisServer, int],
    capfd: pytest.CaptureFixture[str],
) -> None:
    _server, port = away
    url = f"redis://127.0.0.1:{port}/0"
    handler, log = logger(routing(tmp_path, url))
    for n in range(5):
        log.info("i", extra={"n": n})
    handler._pipeline.close(1.0)
    assert 5 == handler.stats()["dropped.relay_unavailable"]
    err = capfd.readouterr().err
    assert "5 events were not delivered" in err
    assert f"Redis at redis://127.0.0.1:{port}/0 unreachable" in err
    assert "Discord destination" not in err, "the relay renders, not us"


@pytest.mark.parametrize(
    "url",
    [
        "redis://:{pw}@127.0.0.1:{port}/0",
        "redis://user:{pw}@127.0.0.1:{port}/0",
        "redis://127.0.0.1:{port}/0?password={pw}",
    ],
)
def test_the_password_is_never_said(
    tmp_path: Path,
    away: tuple[RedisServer, int],
    capfd: pytest.CaptureFixture[str],
    url: str,
) -> None:
    server, port = away
    secret = "pa55-Word-x9"
    full = url.format(pw=secret, port=port)
    handler, log = logger(routing(tmp_path, full))
    log.info("i", extra={"n": 1})
    handler._pipeline.flush(0.5)
    server.start()  # answers, but refuses the password: another error
    handler._pipeline.flush(1.0)
    text = repr(handler.stats()) + repr(handler._pipeline.config)
    handler._pipeline.close(1.0)
    out, err = capfd.readouterr()
    assert "cannot reach Redis" in err
    for seen in (out, err, text):
        assert secret not in seen


def test_with_a_spool_events_wait_on_disk_in_order(
    tmp_path: Path, away: tuple[RedisServer, int]
) -> None:
    server, port = away
    url = f"redis://127.0.0.1:{port}/0"
    spool = tmp_path / "spool"
    path = routing(tmp_path, url, queue_size="3", spool=f"'{spool}'")
    handler, log = logger(path)
    try:
        for n in range(10):
            log.info("i", extra={"n": n})
            taken(handler)
        assert not handler._pipeline.flush(0.5)
        stats = handler.stats()
        assert 3 == stats["relay.buffered"]
        assert 7 == stats["relay.on_disk"]
        server.start()
        assert handler._pipeline.flush(10)
    finally:
        handler._pipeline.close()
    events, losses = stream(url)
    assert list(range(10)) == events
    assert {} == losses


def test_what_a_producer_left_on_disk_the_next_one_appends(
    tmp_path: Path,
    away: tuple[RedisServer, int],
    capfd: pytest.CaptureFixture[str],
) -> None:
    server, port = away
    url = f"redis://127.0.0.1:{port}/0"
    spool = tmp_path / "spool"
    first = tmp_path / "first"
    first.mkdir()
    handler, log = logger(routing(first, url, spool=f"'{spool}'"))
    for n in range(5):
        log.info("i", extra={"n": n})
    handler._pipeline.close(1.0)
    assert "dropped.relay_unavailable" not in handler.stats()
    assert "5 messages are kept in the spool" in capfd.readouterr().err
    server.start()
    second = tmp_path / "second"
    second.mkdir()
    handler, log = logger(routing(second, url, spool=f"'{spool}'"))
    log.info("i", extra={"n": 5})
    try:
        assert wait_for(lambda: len(stream(url)[0]) == 6)
    finally:
        handler._pipeline.close()
    events, _losses = stream(url)
    assert list(range(6)) == events, "what waited first goes first"


def test_spool_status_and_purge_see_the_events_for_the_relay(
    tmp_path: Path,
    away: tuple[RedisServer, int],
    capsys: pytest.CaptureFixture[str],
) -> None:
    _server, port = away
    spool = tmp_path / "spool"
    url = f"redis://127.0.0.1:{port}/0"
    handler, log = logger(routing(tmp_path, url, spool=f"'{spool}'"))
    for n in range(4):
        log.info("i", extra={"n": n})
    handler._pipeline.close(1.0)
    capsys.readouterr()
    assert 0 == main(["spool", "status", "--spool", str(spool)])
    shown = capsys.readouterr().out
    assert "(relay)" in shown
    assert "4" in shown
    assert 0 == main(["spool", "purge", "--spool", str(spool), "--yes"])
    assert "4" in capsys.readouterr().out
    assert 0 == main(["spool", "status", "--spool", str(spool)])
    assert "(relay)" not in capsys.readouterr().out


def test_a_producer_reloads_its_routing_file(
    tmp_path: Path, redis_url: str
) -> None:
    path = tmp_path / "routing.yaml"

    def write(pattern: str) -> None:
        path.write_text(
            "version: 1\nchannels:\n  floor: {}\n"
            f"routes:\n  - {{name: all, match: {{event: '{pattern}'}}, "
            "to: floor}\n"
            f"delivery:\n  relay: '{redis_url}'\n  reload: 0.1s\n"
        )
        stamp = time.time() - 5  # read at once, not as a file being written
        os.utime(path, (stamp, stamp))

    write("a")
    handler, log = logger(path)
    try:
        log.info("b", extra={"n": "before"})
        write("*")
        assert wait_for(lambda: _matches(handler, "b"))
        log.info("b", extra={"n": "after"})
        assert handler._pipeline.flush(5)
    finally:
        handler._pipeline.close()
    assert ["after"] == stream(redis_url)[0]


def _matches(handler: DiscordHandler, event: str) -> bool:
    router = handler._pipeline.router
    return bool(router.could_match(event, logging.INFO, "x", {}))


def test_a_short_script_s_events_reach_the_stream_at_exit(
    tmp_path: Path, redis_url: str
) -> None:
    path = routing(tmp_path, redis_url)
    done = subprocess.run(
        [sys.executable, str(SCRIPTS / "log_and_exit.py"), str(path), "5"],
        capture_output=True,
        text=True,
        env=script_environment(),
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert 0 == done.returncode, done.stderr
    assert "not delivered" not in done.stderr
    assert [0, 1, 2, 3, 4] == stream(redis_url)[0]


def test_closing_waits_for_redis_until_the_flush_timeout(
    tmp_path: Path, away: tuple[RedisServer, int]
) -> None:
    server, port = away
    url = f"redis://127.0.0.1:{port}/0"
    handler, log = logger(routing(tmp_path, url))
    for n in range(5):
        log.info("i", extra={"n": n})
    closed: list[bool] = []
    closing = threading.Thread(
        target=lambda: closed.append(handler._pipeline.close(15))
    )
    closing.start()
    time.sleep(1)
    server.start()
    closing.join(20)
    assert [True] == closed
    assert [0, 1, 2, 3, 4] == stream(url)[0]
    assert "dropped.relay_unavailable" not in handler.stats()


def test_having_nothing_to_send_is_not_taken_for_redis_being_back(
    tmp_path: Path,
    away: tuple[RedisServer, int],
    capfd: pytest.CaptureFixture[str],
) -> None:
    server, port = away
    url = f"redis://127.0.0.1:{port}/0"
    handler, log = logger(routing(tmp_path, url))
    try:
        # the worker starts at once (it watches the file); it finds
        # Redis away with nothing to send, and looks again
        time.sleep(2.5)
        log.info("i", extra={"n": 1})
        taken(handler)
        server.start()
        assert handler._pipeline.flush(10)
    finally:
        handler._pipeline.close()
    err = capfd.readouterr().err
    assert 1 == err.count("cannot reach Redis"), err
    assert 1 == err.count("answers again"), err
    assert [1] == stream(url)[0]
