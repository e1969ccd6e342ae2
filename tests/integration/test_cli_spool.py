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
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pytest_httpx import HTTPXMock

from fakes.discord import FakeDiscord
from polybot_loghandler._cli import main
from polybot_loghandler._cli import spool as cli_spool
from polybot_loghandler._spool.directory import UntrustedSpoolError
from polybot_loghandler._spool.status import SpoolStatus, status
from polybot_loghandler._spool.store import Spool
from tests.support.helpers import routing_yaml, wait_for

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
            # the exit during the outage leaves once all 30 are on disk;
            # the bound is headroom for a loaded machine (tests run in
            # parallel) to route and file them first, or they are lost
            flush_timeout="20s",
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
        # its worker commits every 100 ms
        assert wait_for(lambda: status(spool).held == 5, 30)

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


# -- fast: a spool filled in this process, Discord through pytest-httpx -----

HOOK = "https://discord.test/api/webhooks/5001/tok-fast"


@pytest.fixture
def spool_dir(tmp_path: Path) -> Path:
    """A spool directory (0700) and beside it a routing file that uses it."""
    spool = tmp_path / "spool"
    spool.mkdir(mode=0o700)
    (tmp_path / "routing.yaml").write_text(
        routing_yaml(
            {"trades": HOOK, "alerts": HOOK + "0"},
            "- {name: trades, to: trades, coalesce: false}",
            batch_window="0s",
            reload="off",
            spool=str(spool),
        ),
        encoding="utf-8",
    )
    return spool


def _routing(spool: Path) -> list[str]:
    return ["--routing", str(spool.parent / "routing.yaml")]


def _keep(spool: Path, count: int, channel: str = "trades") -> Spool:
    """A store that kept *count* messages; close it to let them go."""
    store = Spool(spool)
    store.open()
    for n in range(count):
        body = {"route": "trades", "embed": {"title": f"kept {n}"}}
        store.append(channel, 20, time.time() - 90, body)
    store.commit()
    return store


def _left(spool: Path, count: int, channel: str = "trades") -> None:
    """*count* messages a process kept and left: any process may send."""
    _keep(spool, count, channel).close()


def test_status_of_a_spool_left_behind(
    spool_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _left(spool_dir, 3)
    _left(spool_dir, 1, "alerts")

    assert 0 == main(["spool", "status", *_routing(spool_dir)])

    out = capsys.readouterr().out
    assert f"{spool_dir}: 4 messages waiting, " in out
    assert "kB" in out.splitlines()[0]
    assert ["        3  trades", "        1  alerts"] == out.splitlines()[2:4]
    assert "oldest: 1m 30s ago (" in out


def test_replay_sends_what_was_left(
    spool_dir: Path,
    httpx_mock: HTTPXMock,
    capsys: pytest.CaptureFixture[str],
) -> None:
    httpx_mock.add_response(json={"id": "1"}, is_reusable=True)
    _left(spool_dir, 3)

    assert 0 == main(
        [
            "spool",
            "replay",
            "--timeout",
            "20",
            "--spool",
            str(spool_dir),
            *_routing(spool_dir),
        ]
    )

    out = capsys.readouterr().out
    assert f"{spool_dir}: 3 events delivered, 0 still waiting" in out
    titles = [
        embed["title"]
        for sent in httpx_mock.get_requests()
        for embed in json.loads(sent.content)["embeds"]
    ]
    assert ["kept 0", "kept 1", "kept 2"] == sorted(titles)
    assert 0 == sum(status(spool_dir).pending.values())


def test_what_a_running_process_holds_is_its_own(
    spool_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Neither replay nor purge takes messages a live process holds."""
    store = _keep(spool_dir, 2)
    try:
        assert 0 == main(
            ["spool", "replay", "--timeout", "0", *_routing(spool_dir)]
        )
        replayed = capsys.readouterr().out
        assert 0 == main(["spool", "purge", "--yes", *_routing(spool_dir)])
        purged = capsys.readouterr().out
    finally:
        store.close()

    assert "0 events delivered, 2 still waiting" in replayed
    assert (
        "2 messages belong to a running process, which sends them itself"
        in replayed
    )
    assert "0 messages deleted" in purged
    assert "2 messages belong to a running process and were kept" in purged


def test_one_held_message_is_told_as_one(
    spool_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = _keep(spool_dir, 1)
    try:
        assert 0 == main(["spool", "purge", "--yes", *_routing(spool_dir)])
    finally:
        store.close()

    assert (
        "1 message belongs to a running process and was kept"
        in capsys.readouterr().out
    )


def test_nothing_to_act_on(
    spool_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for action in (["status"], ["replay"], ["purge", "--yes"]):
        assert 0 == main(["spool", *action, *_routing(spool_dir)])
    out = capsys.readouterr().out

    assert [
        f"{spool_dir}: empty",
        f"{spool_dir}: nothing to send",
        f"{spool_dir}: empty",
    ] == out.splitlines()


@pytest.mark.parametrize(
    ("tty", "answer", "code", "said"),
    [
        pytest.param(False, "", 2, "confirm with --yes", id="not-a-terminal"),
        pytest.param(True, "n", 1, "nothing deleted", id="no"),
        pytest.param(True, " Yes ", 0, "3 messages deleted", id="yes"),
    ],
)
def test_purge_asks_a_person(  # noqa: PLR0917 - cases and fixtures
    spool_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tty: bool,
    answer: str,
    code: int,
    said: str,
) -> None:
    _left(spool_dir, 3)
    asked: list[str] = []
    monkeypatch.setattr("sys.stdin.isatty", lambda: tty)
    monkeypatch.setattr("builtins.input", lambda q: asked.append(q) or answer)

    assert code == main(["spool", "purge", *_routing(spool_dir)])

    told = capsys.readouterr()
    assert said in told.out + told.err
    assert [
        f"Delete 3 undelivered messages in {spool_dir}? [y/N] "
    ] * tty == asked


@pytest.mark.parametrize(
    ("spoil", "said"),
    [
        pytest.param(
            lambda spool: spool.chmod(0o777),
            "is not used as a spool: every user can write it, mode 0777",
            id="directory-everyone-writes",
        ),
        pytest.param(
            lambda spool: (spool / "spool.db").chmod(0o666),
            "spool.db belongs to another user, or others may write it",
            id="database-others-write",
        ),
    ],
)
def test_a_spool_the_library_would_not_use(
    spool_dir: Path,
    capsys: pytest.CaptureFixture[str],
    spoil: Callable[[Path], None],
    said: str,
) -> None:
    """status says so (status 1); replay and purge refuse (status 2)."""
    _left(spool_dir, 2)
    spoil(spool_dir)

    assert 1 == main(["spool", "status", *_routing(spool_dir)])
    assert said in capsys.readouterr().out
    for action in (["replay"], ["purge", "--yes"]):
        assert 2 == main(["spool", *action, *_routing(spool_dir)])
        err = capsys.readouterr().err
        assert err.startswith("polybot-loghandler spool: ")
        assert said in err


def test_a_newer_database_is_refused(
    spool_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _left(spool_dir, 1)
    with sqlite3.connect(spool_dir / "spool.db") as db:
        db.execute("PRAGMA user_version = 99")

    for action in (["status"], ["replay"], ["purge", "--yes"]):
        assert 2 == main(["spool", *action, *_routing(spool_dir)])
        assert "newer polybot_loghandler (schema 99" in capsys.readouterr().err


def test_purge_refused_midway_is_a_usage_error(
    spool_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A spool that changes between the look and the purge is told."""
    _left(spool_dir, 1)

    def refuse(directory: Path) -> int:
        raise UntrustedSpoolError(f"{directory} changed hands")

    monkeypatch.setattr(cli_spool, "purge", refuse)

    assert 2 == main(["spool", "purge", "--yes", *_routing(spool_dir)])
    assert f"spool: {spool_dir} changed hands" in capsys.readouterr().err


#: Spools as ``spool status`` tells them.
STATUSES: dict[str, tuple[dict[str, Any], list[str]]] = {
    "bytes": (
        {"pending": {"a": 1}, "bytes": 999},
        ["1 message waiting, 999 bytes"],
    ),
    "megabytes": ({"pending": {"a": 2}, "bytes": 2_500_000}, ["2.5 MB"]),
    "old-format-only": (
        {"legacy": 2},
        ["2 files of the old spool format: the next process"],
    ),
    "one-untrusted": (
        {"untrusted": 1},
        [
            ": empty",
            "1 file of another user, or that others may write, is ignored",
        ],
    ),
    "untrusted": (
        {"untrusted": 2},
        ["2 files of another user, or that others may write, are ignored"],
    ),
    "held": (
        {"pending": {"a": 3}, "held": 3, "processes": 1},
        ["3 held by 1 running process"],
    ),
}


@pytest.mark.parametrize(("found", "said"), STATUSES.values(), ids=STATUSES)
def test_describe(found: dict[str, Any], said: list[str]) -> None:
    shown = SpoolStatus(
        **{
            "directory": Path("/s"),
            "pending": {},
            "oldest": None,
            "held": 0,
            "processes": 0,
            "bytes": 0,
            "now": 0.0,
            **found,
        }
    )

    text = cli_spool.describe(shown)

    assert [] == [s for s in said if s not in text]
