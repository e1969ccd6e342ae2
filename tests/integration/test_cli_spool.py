"""
``polybot-loghandler spool status | replay | purge`` on a real spool.

The spool is filled by a process that logged during an outage of the
loopback fake Discord and exited (``scripts/spool_process.py``).
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
import zlib
from pathlib import Path
from typing import Any

import pytest

from fakes.discord import FakeDiscord
from polybot_loghandler._cli import main
from polybot_loghandler._spool.status import status
from tests.support.helpers import routing_yaml

SCRIPT = Path(__file__).parent / "scripts" / "spool_process.py"

pytestmark = pytest.mark.usefixtures("clean_environment")


@pytest.fixture
def filled(fake_discord: FakeDiscord, tmp_path: Path) -> tuple[Path, Path]:
    """A routing file and its spool, holding 30 undelivered trades."""
    spool = tmp_path / "spool"
    routing = tmp_path / "routing.yaml"
    routing.write_text(
        routing_yaml(
            {"trades": fake_discord.webhook_url("5001", "tok-secret")},
            "- {name: trades, to: trades, coalesce: false}",
            batch_window="0.05s",
            flush_timeout="1s",
            reload="off",
            spool=str(spool),
        ),
        encoding="utf-8",
    )
    fake_discord.fail_for(3600, 503)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DISCORD")}
    subprocess.run(
        [sys.executable, SCRIPT, routing, "0", "30", "exit"],
        check=True,
        capture_output=True,
        env=env,
        timeout=60,
    )
    fake_discord.recover()
    return routing, spool


@pytest.mark.slow
def test_status_counts_per_channel(
    filled: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    routing, spool = filled

    assert 0 == main(["spool", "status", "--routing", str(routing)])

    out = capsys.readouterr().out
    assert f"{spool}: 30 messages waiting" in out
    assert "       30  trades" in out
    assert "oldest: " in out
    assert "tok-secret" not in out


@pytest.mark.slow
def test_replay_sends_everything_once(
    filled: tuple[Path, Path],
    fake_discord: FakeDiscord,
    capsys: pytest.CaptureFixture[str],
) -> None:
    routing, spool = filled

    assert 0 == main(["spool", "replay", "--routing", str(routing)])

    assert "30 events delivered, 0 still waiting" in capsys.readouterr().out
    assert 30 == len(fake_discord.embeds("5001"))
    assert 0 == sum(status(spool).pending.values())


@pytest.mark.slow
def test_purge_asks_first(
    filled: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    routing, spool = filled

    assert 2 == main(["spool", "purge", "--routing", str(routing)])
    assert "confirm with --yes" in capsys.readouterr().err
    assert 30 == sum(status(spool).pending.values())

    assert 0 == main(["spool", "purge", "--yes", "--spool", str(spool)])
    assert "30 messages deleted" in capsys.readouterr().out
    assert 0 == sum(status(spool).pending.values())


def test_no_spool_configured_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    routing = tmp_path / "routing.yaml"
    routing.write_text(
        routing_yaml({"a": "''"}, "- {name: a, to: a}"), encoding="utf-8"
    )

    assert 2 == main(["spool", "status", "--routing", str(routing)])

    err = capsys.readouterr().err
    assert "sets no delivery.spool" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "action",
    [
        pytest.param(["status"], id="status"),
        pytest.param(["replay"], id="replay"),
        pytest.param(["purge", "--yes"], id="purge"),
    ],
)
@pytest.mark.parametrize(
    "case",
    [
        pytest.param((True, "--spool", "does not exist"), id="spool-option"),
        pytest.param(
            (False, "delivery.spool in ", "does not exist"),
            id="routing-file",
        ),
        pytest.param(
            (True, "--spool", "is not a directory"), id="not-a-directory"
        ),
    ],
)
def test_a_missing_spool_directory_is_a_usage_error(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    action: list[str],
    case: tuple[bool, str, str],
) -> None:
    """
    A spool directory that is not there is said to be missing (status 2),
    not shown as an empty spool.
    """
    option, named, problem = case
    spool = tmp_path / "no-such-spool"
    if problem == "is not a directory":
        spool.write_text("", encoding="utf-8")
    routing = tmp_path / "routing.yaml"
    routing.write_text(
        routing_yaml({"a": "''"}, "- {name: a, to: a}", spool=str(spool)),
        encoding="utf-8",
    )
    where = ["--spool", str(spool)] if option else []

    status = main(["spool", *action, *where, "--routing", str(routing)])

    captured = capsys.readouterr()
    assert 2 == status
    assert "" == captured.out
    assert captured.err.startswith(
        f"polybot-loghandler spool: {spool} ({named}"
    )
    assert problem in captured.err
    assert "Traceback" not in captured.err
    assert problem == "is not a directory" or not spool.exists()


@pytest.mark.parametrize("mode", [0o777, 0o707], ids=["0777", "0707"])
@pytest.mark.slow
def test_a_directory_others_could_write_is_refused(
    filled: tuple[Path, Path],
    fake_discord: FakeDiscord,
    capsys: pytest.CaptureFixture[str],
    mode: int,
) -> None:
    routing, spool = filled
    spool.chmod(mode)

    assert 1 == main(["spool", "status", "--routing", str(routing)])
    out = capsys.readouterr().out
    assert f"{spool}: 30 messages waiting" in out
    assert "is not used as a spool" in out
    assert "chmod 700" in out

    for action in (["replay"], ["purge", "--yes"]):
        assert 2 == main(["spool", *action, "--routing", str(routing)])
        err = capsys.readouterr().err
        assert "is not used as a spool" in err
        assert "Traceback" not in err
    assert [] == fake_discord.messages
    assert 30 == sum(status(spool).pending.values())


@pytest.mark.slow
def test_a_database_of_another_user_is_refused(
    filled: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    routing, spool = filled
    os.chown(spool / "spool.db", 65534, 65534)
    try:
        assert 1 == main(["spool", "status", "--routing", str(routing)])
        out = capsys.readouterr().out
        assert f"{spool}: empty" in out
        assert "1 file of another user, or that others may write" in out
        assert "is not used as a spool" in out
        for action in (["replay"], ["purge", "--yes"]):
            assert 2 == main(["spool", *action, "--routing", str(routing)])
            err = capsys.readouterr().err
            assert f"{spool / 'spool.db'} belongs to another user" in err
            assert "Traceback" not in err
    finally:
        os.chown(spool / "spool.db", 0, 0)
    assert 30 == sum(status(spool).pending.values()), "left as it was"


@pytest.mark.slow
def test_a_database_of_a_newer_version_is_refused(
    filled: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    routing, spool = filled
    with sqlite3.connect(spool / "spool.db") as db:
        db.execute("PRAGMA user_version = 99")

    for action in (["status"], ["replay"], ["purge", "--yes"]):
        assert 2 == main(["spool", *action, "--routing", str(routing)])
        err = capsys.readouterr().err
        assert "written by a newer polybot_loghandler (schema 99" in err
        assert "Traceback" not in err


def _hold(routing: Path, start: int, count: int) -> subprocess.Popen[str]:
    """A process that logged *count* trades, still running, Discord down."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DISCORD")}
    holder = subprocess.Popen(
        [sys.executable, SCRIPT, routing, str(start), str(count), "hold"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    assert holder.stdout is not None
    assert "logged" in holder.stdout.readline()
    return holder


@pytest.mark.slow
def test_messages_of_a_running_process_are_kept(
    fake_discord: FakeDiscord,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    spool = tmp_path / "spool"
    routing = tmp_path / "routing.yaml"
    routing.write_text(
        routing_yaml(
            {"trades": fake_discord.webhook_url("5002", "tok-held")},
            "- {name: trades, to: trades, coalesce: false}",
            batch_window="0.05s",
            reload="off",
            spool=str(spool),
        ),
        encoding="utf-8",
    )
    fake_discord.fail_for(3600, 503)
    holder = _hold(routing, 100, 5)
    try:
        deadline = time.monotonic() + 30
        while status(spool).held < 5 and time.monotonic() < deadline:
            time.sleep(0.05)  # its worker commits every 100 ms

        assert 0 == main(["spool", "status", "--spool", str(spool)])
        out = capsys.readouterr().out
        assert "5 messages waiting, 5 held by 1 running process" in out

        assert 0 == main(["spool", "purge", "--yes", "--spool", str(spool)])
        out = capsys.readouterr().out
        assert "0 messages deleted" in out
        assert "5 messages belong to a running process and were kept" in out

        assert 0 == main(["spool", "replay", "--routing", str(routing)])
        assert "which sends them itself" in capsys.readouterr().out
    finally:
        holder.kill()
        holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()

    assert 0 == main(["spool", "purge", "--yes", "--spool", str(spool)])
    assert "5 messages deleted" in capsys.readouterr().out


def _old_record(record: dict[str, Any]) -> bytes:
    data = json.dumps(record, separators=(",", ":")).encode()
    return f"{zlib.crc32(data):08x} ".encode() + data + b"\n"


@pytest.mark.slow
def test_an_old_spool_is_moved_in_and_sent(
    fake_discord: FakeDiscord,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    spool = tmp_path / "spool"
    spool.mkdir(mode=0o700)
    routing = tmp_path / "routing.yaml"
    routing.write_text(
        routing_yaml(
            {"trades": fake_discord.webhook_url("5003", "tok-old")},
            "- {name: trades, to: trades, coalesce: false}",
            batch_window="0.05s",
            reload="off",
            spool=str(spool),
        ),
        encoding="utf-8",
    )
    segment = spool / "4242-0123456789abcdef.spool"
    lines = [
        _old_record(
            {"k": "m", "n": n, "ch": "trades", "lv": 20, "t": 1.7e9 + n}
            | {"b": {"route": "trades", "embed": {"title": f"old {n}"}}}
        )
        for n in (1, 2, 3, 4)
    ]
    segment.write_bytes(b"".join(lines) + _old_record({"k": "d", "n": [2]}))
    segment.chmod(0o600)

    assert 0 == main(["spool", "status", "--spool", str(spool)])
    out = capsys.readouterr().out
    assert "1 file of the old spool format" in out

    assert 0 == main(["spool", "replay", "--routing", str(routing)])

    assert "3 events delivered, 0 still waiting" in capsys.readouterr().out
    titles = [embed["title"] for embed in fake_discord.embeds("5003")]
    assert ["old 1", "old 3", "old 4"] == titles
    assert not segment.exists()
    assert 0 == main(["spool", "status", "--spool", str(spool)])
    assert f"{spool}: empty" in capsys.readouterr().out
