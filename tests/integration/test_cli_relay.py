"""
The command line's side of the relay that needs no Redis: ``check``,
and ``relay`` asked for what it cannot do.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from polybot_loghandler._cli import main
from tests.support.redisserver import free_port

SECRET = "s3cret-Pw-77"


def routing(tmp_path: Path, relay: str | None) -> Path:
    path = tmp_path / "routing.yaml"
    line = "" if relay is None else f"delivery:\n  relay: '{relay}'\n"
    path.write_text(
        "version: 1\nchannels:\n  floor: {}\n"
        "routes:\n  - {name: all, match: {event: '*'}, to: floor}\n" + line
    )
    return path


def test_check_says_the_relay_delivers_without_its_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"redis://:{SECRET}@localhost:6379/3"
    assert 0 == main(["check", str(routing(tmp_path, url))])
    out = capsys.readouterr().out
    assert (
        "delivery goes through the relay: processes append their events "
        "to Redis at redis://***@localhost:6379/3, and "
        "'polybot-loghandler relay' delivers them"
    ) in out
    assert SECRET not in out


def test_check_says_nothing_of_a_relay_that_is_off(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert 0 == main(["check", str(routing(tmp_path, None))])
    assert "relay" not in capsys.readouterr().out


def test_relay_without_delivery_relay_says_what_to_set(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = routing(tmp_path, None)
    assert 2 == main(["relay", "--routing", str(path)])
    err = capsys.readouterr().err
    assert f"the relay is off in {path}" in err
    assert "Traceback" not in err


def test_relay_status_without_redis_exits_1_without_the_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"redis://:{SECRET}@127.0.0.1:{free_port()}/0"
    assert 1 == main(
        ["relay", "status", "--routing", str(routing(tmp_path, url))]
    )
    err = capsys.readouterr().err
    assert "cannot reach Redis at redis://***@127.0.0.1:" in err
    assert SECRET not in err
