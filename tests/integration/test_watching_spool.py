"""
The watches' state and the mutes with a real spool: an engine, SQLite,
the loopback fake Discord, and restarts (clean, and ``kill -9``).

The watches' clock is moved on (``CAPTURES.offset``) instead of waiting
out ``alert_after``; what is awaited is polled, never slept for.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from fakes.discord import FakeDiscord
from polybot_loghandler._config import load_config
from polybot_loghandler._pipeline import CAPTURES, Pipeline
from polybot_loghandler._spool.mutes import SpoolMutes
from polybot_loghandler._watching.watching import Mute
from tests.support.helpers import script_environment, wait_for

SCRIPT = Path(__file__).parent / "scripts" / "watch_process.py"

pytestmark = pytest.mark.usefixtures("clean_environment")


def _routing(url: str, spool: Path, *, ops: bool = False) -> str:
    return f"""\
version: 1
channels:
  floor: "{url}"
routes:
  - {{name: trades, match: {{event: trade}}, to: floor}}
watches:
  - name: heartbeats
    match: {{event: heartbeat}}
    key: "{{{{ agent }}}}"
    alert_after: 60s
    to: floor
digests:
  - name: hourly
    match: {{event: trade}}
    every: 1h
    measures: {{trades: count}}
    to: floor
delivery:
  spool: {spool}
  batch_window: 0.05s
  flush_timeout: 5s
  reload: off
{"  ops_channel: floor" if ops else ""}
"""


@pytest.fixture
def routing(fake_discord: FakeDiscord, tmp_path: Path) -> Path:
    path = tmp_path / "routing.yaml"
    path.write_text(
        _routing(
            fake_discord.webhook_url("7001", "tok-w"), tmp_path / "spool"
        ),
        encoding="utf-8",
    )
    return path


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Callable[[float], None]:
    """Moves the watches' clock on by some seconds."""
    monkeypatch.setattr(CAPTURES, "offset", 0.0)

    def move(seconds: float) -> None:
        CAPTURES.offset += seconds

    return move


@pytest.fixture
def start(routing: Path) -> Iterator[Callable[[], Pipeline]]:
    """Starts a pipeline of *routing*: a process of the application."""
    made: list[Pipeline] = []

    def make() -> Pipeline:
        pipeline = Pipeline(load_config(routing), str(routing))
        pipeline.start()
        made.append(pipeline)
        return pipeline

    yield make
    for pipeline in made:
        pipeline.close(timeout=5.0)


def _log(pipeline: Pipeline, event: str, **fields: Any) -> None:
    pipeline.offer_event_dict(None, "info", {"event": event, **fields})


def _saved_events(spool: Path) -> int:
    """The events of the digest's open periods in the saved state."""
    if not (spool / "spool.db").exists():
        return 0
    with contextlib.closing(sqlite3.connect(spool / "spool.db")) as db:
        try:
            rows = db.execute("SELECT state FROM watching").fetchall()
        except sqlite3.OperationalError:  # made, not migrated yet
            return 0
    return sum(
        period[2]
        for (text,) in rows
        for period in json.loads(text)["digests"]["hourly"]["state"]["open"]
    )


def _titles(fake: FakeDiscord) -> list[str]:
    return [str(e.get("title")) for e in fake.embeds("7001")]


def test_a_restart_repeats_no_alert_and_loses_no_recovery(
    fake_discord: FakeDiscord,
    start: Callable[[], Pipeline],
    clock: Callable[[float], None],
) -> None:
    first = start()
    _log(first, "heartbeat", agent="A")
    _log(first, "heartbeat", agent="B")
    assert first.flush(5.0)
    clock(120)
    assert wait_for(lambda: len(_titles(fake_discord)) == 2)
    assert first.close(5.0)

    second = start()
    clock(120)  # A and B still silent: told already
    _log(second, "heartbeat", agent="A")

    assert wait_for(lambda: "✅ A is back" in _titles(fake_discord))
    assert second.flush(5.0)
    assert sorted(_titles(fake_discord)) == [
        "✅ A is back",
        "🚨 A has gone silent",
        "🚨 B has gone silent",
    ]


@pytest.mark.slow
def test_after_kill_9_the_alert_is_not_repeated(
    fake_discord: FakeDiscord,
    routing: Path,
    start: Callable[[], Pipeline],
    clock: Callable[[float], None],
) -> None:
    with subprocess.Popen(
        [sys.executable, SCRIPT, routing],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=script_environment(),
        text=True,
    ) as child:
        try:
            assert child.stdout is not None
            assert "alerted" == child.stdout.readline().strip()
        finally:
            os.kill(child.pid, signal.SIGKILL)
            child.wait(timeout=10)
    assert ["🚨 A has gone silent"] == _titles(fake_discord)

    second = start()
    clock(300)
    _log(second, "heartbeat", agent="A")

    assert wait_for(lambda: "✅ A is back" in _titles(fake_discord))
    assert second.flush(5.0)
    assert ["🚨 A has gone silent", "✅ A is back"] == _titles(fake_discord)


@pytest.mark.slow
def test_a_digest_period_open_at_exit_is_sent_in_parts(
    fake_discord: FakeDiscord,
    tmp_path: Path,
    start: Callable[[], Pipeline],
    clock: Callable[[float], None],
) -> None:
    """
    What a period gathered is sent at exit, partial; the next process
    sends the rest of it at its end, partial too: each event once.
    """
    first = start()
    _log(first, "trade")
    _log(first, "trade")
    assert wait_for(lambda: _saved_events(tmp_path / "spool") == 2)
    assert first.close(5.0)

    second = start()
    _log(second, "trade")
    assert wait_for(lambda: _saved_events(tmp_path / "spool") == 1)
    clock(3600 + 5)  # the period is over
    assert wait_for(lambda: len(_digests(fake_discord)) == 2)
    assert second.close(5.0)

    assert [
        ("📊 Hourly (partial)", "Trades: **2**"),
        ("📊 Hourly (partial)", "Trades: **1**"),
    ] == [
        (e["title"], e["fields"][0]["value"]) for e in _digests(fake_discord)
    ]


def _digests(fake: FakeDiscord) -> list[dict[str, Any]]:
    return [e for e in fake.embeds("7001") if e["title"].startswith("📊")]


def test_a_muted_watch_is_held_back_and_its_end_told_once(
    fake_discord: FakeDiscord,
    tmp_path: Path,
    routing: Path,
    start: Callable[[], Pipeline],
    clock: Callable[[float], None],
) -> None:
    routing.write_text(
        _routing(
            fake_discord.webhook_url("7001", "tok-w"),
            tmp_path / "spool",
            ops=True,
        ),
        encoding="utf-8",
    )
    mutes = SpoolMutes(tmp_path / "spool")
    now = CAPTURES.now()
    mutes.write("heartbeats", Mute(now + 3600, "deploying"), now)
    pipeline = start()
    _log(pipeline, "heartbeat", agent="A")
    assert pipeline.flush(5.0)
    clock(120)
    assert wait_for(lambda: pipeline.stats().get("dropped.muted") == 1)

    now = CAPTURES.now()
    mutes.write("heartbeats", Mute(now, "deploying"), now)  # as unmute

    assert wait_for(lambda: len(fake_discord.embeds("7001")) == 1)
    assert pipeline.close(5.0)
    (told,) = fake_discord.embeds("7001")
    assert "🔔 Mute ended: heartbeats" == told["title"]
    assert "deploying" in told["description"]
    assert "1 message was held back" in told["description"]
    assert 1 == pipeline.stats()["dropped.muted"]


@pytest.mark.slow
def test_a_muted_route_is_held_back_until_unmuted(
    fake_discord: FakeDiscord,
    tmp_path: Path,
    start: Callable[[], Pipeline],
    capfd: pytest.CaptureFixture[str],
) -> None:
    """Without an ops channel, the end is one line on stderr."""
    mutes = SpoolMutes(tmp_path / "spool")
    pipeline = start()
    _log(pipeline, "trade", n=1)
    assert pipeline.flush(5.0)
    now = CAPTURES.now()
    mutes.write("trades", Mute(now + 600, ""), now)
    watching = pipeline._routing.watching
    assert wait_for(lambda: watching.muted("trades", CAPTURES.now()))

    _log(pipeline, "trade", n=2)
    assert wait_for(lambda: pipeline.stats().get("dropped.muted") == 1)
    now = CAPTURES.now()
    mutes.write("trades", Mute(now, ""), now)  # as unmute does
    assert wait_for(lambda: not watching.muted("trades", CAPTURES.now()))
    _log(pipeline, "trade", n=3)
    assert pipeline.flush(5.0)

    err = capfd.readouterr().err
    assert 1 == err.count("the mute of 'trades' has ended")
    assert "1 message was held back while it lasted" in err
    assert 2 == len([e for e in fake_discord.embeds("7001") if "n" in str(e)])
