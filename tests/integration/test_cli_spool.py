"""
``polybot-loghandler spool status | replay | purge`` on a real spool.

The spool is filled by a process that logged during an outage of the
loopback fake Discord and exited (``scripts/spool_process.py``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from polybot_loghandler._cli import main
from polybot_loghandler._spool import status
from tests.support.fake_discord import FakeDiscord
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


def test_status_counts_per_channel(
    filled: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    routing, spool = filled

    assert 0 == main(["spool", "status", "--routing", str(routing)])

    out = capsys.readouterr().out
    assert f"{spool}: 30 message(s) waiting" in out
    assert "       30  trades" in out
    assert "oldest: " in out
    assert "tok-secret" not in out


def test_replay_sends_everything_once(
    filled: tuple[Path, Path],
    fake_discord: FakeDiscord,
    capsys: pytest.CaptureFixture[str],
) -> None:
    routing, spool = filled

    assert 0 == main(["spool", "replay", "--routing", str(routing)])

    assert "30 event(s) delivered, 0 still waiting" in capsys.readouterr().out
    assert 30 == len(fake_discord.embeds("5001"))
    assert 0 == sum(status(spool).pending.values())


def test_purge_asks_first(
    filled: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    routing, spool = filled

    assert 2 == main(["spool", "purge", "--routing", str(routing)])
    assert "confirm with --yes" in capsys.readouterr().err
    assert 30 == sum(status(spool).pending.values())

    assert 0 == main(["spool", "purge", "--yes", "--spool", str(spool)])
    assert "30 message(s) deleted" in capsys.readouterr().out
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


@pytest.mark.parametrize("mode", [0o777, 0o707], ids=["0777", "0707"])
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
    assert f"{spool}: 30 message(s) waiting" in out
    assert "is not used as a spool" in out
    assert "chmod 700" in out

    for action in (["replay"], ["purge", "--yes"]):
        assert 2 == main(["spool", *action, "--routing", str(routing)])
        err = capsys.readouterr().err
        assert "is not used as a spool" in err
        assert "Traceback" not in err
    assert [] == fake_discord.messages
    assert 30 == sum(status(spool).pending.values())


def test_status_names_the_files_it_ignores(
    filled: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    routing, spool = filled
    for segment in spool.glob("*.spool"):
        os.chown(segment, 65534, 65534)

    try:
        assert 0 == main(["spool", "status", "--routing", str(routing)])
    finally:
        for segment in spool.glob("*.spool"):
            os.chown(segment, 0, 0)

    out = capsys.readouterr().out
    assert f"{spool}: empty" in out
    assert "1 file(s) of another user, or that others may write" in out
