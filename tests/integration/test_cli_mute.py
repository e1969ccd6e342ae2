"""
``polybot-loghandler mute``, ``mute --list`` and ``unmute``: on a real
spool (SQLite) and a real Redis (a private database of the local one).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from polybot_loghandler._cli import main
from polybot_loghandler._relay.connect import sync_client
from polybot_loghandler._relay.keys import Keys
from polybot_loghandler._spool.mutes import SpoolMutes
from tests.support.redisserver import free_port

SECRET = "s3cret-Pw-77"
TOKEN = "https://discord.com/api/webhooks/123456789012345678/" + "t" * 68

pytestmark = pytest.mark.usefixtures("clean_environment")


def _routing(tmp_path: Path, delivery: str = "") -> Path:
    path = tmp_path / "routing.yaml"
    path.write_text(
        "version: 1\nchannels:\n  floor: ''\n"
        "routes:\n  - {name: trades, match: {event: trade}, to: floor}\n"
        "watches:\n  - {name: heartbeats, match: {event: heartbeat},"
        " alert_after: 60s, to: floor}\n"
        "digests:\n  - {name: hourly, match: {event: trade}, every: 1h,"
        " measures: {trades: count}, to: floor}\n"
        + (f"delivery:\n{delivery}" if delivery else ""),
        encoding="utf-8",
    )
    return path


@pytest.fixture
def spooled(tmp_path: Path) -> tuple[Path, Path]:
    """A routing file with a spool, and that spool's directory."""
    spool = tmp_path / "spool"
    return _routing(tmp_path, f"  spool: {spool}\n"), spool


def _run(
    capsys: pytest.CaptureFixture[str], *argv: str
) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_an_unknown_name_is_an_error_with_a_suggestion(
    spooled: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    routing, spool = spooled

    status, out, err = _run(
        capsys, "mute", "hartbeats", "--for", "30m", "--routing", str(routing)
    )

    assert 2 == status
    assert "" == out
    assert err == (
        f"polybot-loghandler: {routing} has no route, watch or digest named "
        "'hartbeats' (did you mean 'heartbeats'?); its names: trades, "
        "heartbeats, hourly\n"
    )
    assert not spool.exists()


def test_without_a_spool_or_a_relay_mute_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    routing = _routing(tmp_path)

    for argv in (
        ["mute", "heartbeats", "--for", "30m"],
        ["mute", "--list"],
        ["unmute", "heartbeats"],
    ):
        status, out, err = _run(capsys, *argv, "--routing", str(routing))
        assert 2 == status
        assert "" == out
        assert (
            f"polybot-loghandler: {routing} sets neither delivery.spool nor "
            "delivery.relay, so a running process has nowhere to read a "
            "mute from: set delivery.spool"
        ) in err
        assert "Traceback" not in err


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        pytest.param(
            ["mute", "heartbeats"],
            "say for how long, e.g. --for 30m",
            id="no-for",
        ),
        pytest.param(
            ["mute", "heartbeats", "--for", "30x"],
            "--for: invalid duration '30x'",
            id="bad-duration",
        ),
        pytest.param(
            ["mute", "heartbeats", "--for", "0s"],
            "more than 0s, at most 30 days",
            id="zero",
        ),
        pytest.param(
            ["mute", "heartbeats", "--for", "31d"],
            "more than 0s, at most 30 days",
            id="too-long",
        ),
        pytest.param(
            ["mute"], "name the route, watch or digest", id="no-name"
        ),
        pytest.param(
            ["mute", "trades", "--list"],
            "--list takes no NAME",
            id="list-name",
        ),
        pytest.param(
            ["unmute", "tradez"], "(did you mean 'trades'?)", id="unmute-typo"
        ),
    ],
)
def test_a_mistake_is_said_in_a_line(
    spooled: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    said: str,
) -> None:
    routing, spool = spooled

    status, out, err = _run(capsys, *argv, "--routing", str(routing))

    assert 2 == status
    assert "" == out
    assert said in err
    assert 1 == err.count("\n")
    assert {} == SpoolMutes(spool).read()


def test_mute_list_and_unmute_in_the_spool(
    spooled: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    routing, spool = spooled
    where = ["--routing", str(routing)]

    status, out, _ = _run(
        capsys, "mute", "heartbeats", "--for", "30m", "--reason",
        "deploying the agents", *where,
    )  # fmt: skip
    assert 0 == status
    lines = out.splitlines()
    assert lines[0].startswith("muted watch 'heartbeats' for 30m, until ")
    assert lines[0].endswith(" UTC (deploying the agents)")
    assert lines[1] == (
        f"the processes that use the spool {spool} hold back its alerts "
        "and recoveries; 'polybot-loghandler unmute heartbeats' ends it "
        "sooner"
    )
    mute = SpoolMutes(spool).read()["heartbeats"]
    assert 1795 < mute.until - time.time() <= 1800
    assert 0o700 == spool.stat().st_mode & 0o777

    status, out, _ = _run(capsys, "mute", "--list", *where)
    assert 0 == status
    assert out.startswith(f"1 mute in force (the spool {spool}):\n")
    assert "  heartbeats (watch) until " in out
    assert ", 30m left: deploying the agents\n" in out

    status, out, _ = _run(capsys, "spool", "status", *where)
    assert 0 == status
    assert f"{spool}: empty\n1 mute in force:\n  heartbeats until " in out

    status, out, _ = _run(capsys, "unmute", "heartbeats", *where)
    assert 0 == status
    assert out.startswith("unmuted watch 'heartbeats' (it was muted until ")
    assert SpoolMutes(spool).read()["heartbeats"].until <= time.time()

    assert (0, f"no mute in force (the spool {spool})\n", "") == _run(
        capsys, "mute", "--list", *where
    )
    assert (0, "watch 'heartbeats' is not muted\n", "") == _run(
        capsys, "unmute", "heartbeats", *where
    )
    assert (0, f"{spool}: empty\n", "") == _run(
        capsys, "spool", "status", *where
    )


def test_a_reason_keeps_no_token(
    spooled: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    routing, spool = spooled

    status, out, _ = _run(
        capsys, "mute", "trades", "--for", "1h", "--reason", f"see {TOKEN}",
        "--routing", str(routing),
    )  # fmt: skip

    assert 0 == status
    assert "t" * 68 not in out
    assert "t" * 68 not in SpoolMutes(spool).read()["trades"].reason


def test_a_spool_of_another_user_is_refused(
    spooled: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    routing, spool = spooled
    spool.mkdir(mode=0o700)
    os.chown(spool, 65534, 65534)

    status, out, err = _run(
        capsys, "mute", "trades", "--for", "1h", "--routing", str(routing)
    )

    assert 2 == status
    assert "" == out
    assert f"polybot-loghandler: {spool} is not used as a spool: " in err
    assert "belongs to nobody (uid 65534)" in err
    assert not (spool / "spool.db").exists()


def test_mute_with_the_relay_writes_redis(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], redis_url: str
) -> None:
    routing = _routing(tmp_path, f"  relay: '{redis_url}'\n")
    where = ["--routing", str(routing)]

    status, out, _ = _run(
        capsys, "mute", "hourly", "--for", "2h", "--reason", "quiet night",
        *where,
    )  # fmt: skip

    assert 0 == status
    assert out.splitlines()[1] == (
        "the relay and its standbys hold back its digests; "
        "'polybot-loghandler unmute hourly' ends it sooner"
    )
    client = sync_client(redis_url, "test")
    try:
        kept = json.loads(client.hget(Keys.mutes, "hourly"))
        assert {"until", "reason"} == set(kept)
        assert "quiet night" == kept["reason"]
        assert 7195 < kept["until"] - time.time() <= 7200

        status, out, _ = _run(capsys, "mute", "--list", *where)
        assert 0 == status
        assert "1 mute in force (Redis redis://" in out
        assert "  hourly (digest) until " in out

        status, out, _ = _run(capsys, "relay", "status", *where)
        assert 1 == status  # no relay runs
        assert "mutes in force: 1\n  hourly until " in out

        assert 0 == _run(capsys, "unmute", "hourly", *where)[0]
        kept = json.loads(client.hget(Keys.mutes, "hourly"))
        assert kept["until"] <= time.time()
        status, out, _ = _run(capsys, "relay", "status", *where)
        assert "mutes in force" not in out
    finally:
        client.close()


def test_mute_with_redis_away_exits_1_without_the_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"redis://:{SECRET}@127.0.0.1:{free_port()}/0"
    routing = _routing(tmp_path, f"  relay: '{url}'\n")

    status, out, err = _run(
        capsys, "mute", "trades", "--for", "1h", "--routing", str(routing)
    )

    assert 1 == status
    assert "" == out
    assert "polybot-loghandler mute: cannot reach Redis at redis://***@" in err
    assert "nothing was changed" in err
    assert SECRET not in err
