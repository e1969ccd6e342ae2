"""
``--html FILE``: ``preview`` and ``demo`` draw what they show as a page.

The page is read as a tree here (``tests/support/htmltree.py``); the
browser tests look at it in Chromium.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from polybot_loghandler._cli import main
from polybot_loghandler._cli.usage import EXIT_USER_ERROR
from tests.conftest import SHIPPED_ROUTING
from tests.support.htmltree import Node, parse

TRADE = {
    "event": "trade_executed",
    "logger": "trader",
    "agent": "Momentum_ETH_v2",
    "market": "ETH-USD-UP-15m",
    "side": "NO",
    "amount": 15.0,
    "price": 0.4871,
    "is_paper": True,
}
BOARD = {
    "event": "health_check",
    "logger": "ops",
    "components": {"database": True, "redis": False},
}


def _preview(*args: str) -> int:
    return main(["preview", str(SHIPPED_ROUTING), *args])


def _page(path: Path) -> Node:
    return parse(path.read_text(encoding="utf-8"))


def _channels(page: Node) -> list[str]:
    return [s.attrs["data-channel"] for s in page.all("channel-view")]


class TestPreview:
    def test_the_page_holds_what_the_listing_shows(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        path = tmp_path / "preview.html"

        status = _preview(
            "--event", json.dumps(TRADE), "--event", json.dumps(BOARD),
            "--html", str(path),
        )  # fmt: skip

        out, err = capsys.readouterr()
        assert status == 0
        assert "#trades-paper (key trades_paper" in out  # listed as ever
        assert err == f"wrote {path}: 3 messages in 3 channels\n"
        page = _page(path)
        assert _channels(page) == [
            "system_health",
            "trades_executed",
            "trades_paper",
        ]
        assert page.one(tag="title").text() == "routing.yaml · preview"
        assert len(page.all("channel-link")) == 37

    def test_events_from_standard_input(
        self,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        path = tmp_path / "preview.html"
        lines = f"{json.dumps(BOARD)}\n\n{json.dumps(BOARD)}\n"
        monkeypatch.setattr(sys, "stdin", io.StringIO(lines))

        assert _preview("--html", str(path)) == 0

        capsys.readouterr()
        board = _page(path).one(tag="article")
        assert board.one("edited").text() == "(edited)"

    def test_a_watch_s_sample(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        path = tmp_path / "preview.html"

        status = _preview("--sample", "agent_heartbeat", "--html", str(path))

        capsys.readouterr()
        assert status == 0
        page = _page(path)
        assert _channels(page) == ["alerts_critical"]
        titles = [t.text() for t in page.all("embed-title")]
        assert len(titles) == 2  # an alert and its recovery, one post
        assert len(page.all("thread")) == 1

    def test_text_cut_to_a_limit_is_marked(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        path = tmp_path / "preview.html"
        event = {**TRADE, "market": "M" * 3000}

        assert _preview("--event", json.dumps(event), "--html", str(path)) == 0

        capsys.readouterr()
        page = _page(path)
        cut = [
            f.one("embed-field-name").text()
            for f in page.all("embed-field")
            if f.all("cut")
        ]
        assert cut == ["Market", "Market"]  # in both channels

    def test_nothing_matched_is_an_empty_page(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        path = tmp_path / "preview.html"
        event = json.dumps({"event": "nobody_routes_this", "level": "debug"})

        assert _preview("--event", event, "--html", str(path)) == 0

        assert capsys.readouterr().err.endswith("0 messages in 0 channels\n")
        assert "nothing would be sent" in _page(path).one("notice").text()


@pytest.mark.parametrize(
    ("where", "said"),
    [
        pytest.param(".", "that is a folder; name a file", id="folder"),
        pytest.param(
            "missing/p.html",
            "the folder missing does not exist",
            id="missing-folder",
        ),
    ],
)
@pytest.mark.parametrize("command", ["preview", "demo"])
def test_a_file_that_cannot_be_written_is_refused_before_any_work(  # noqa: PLR0917 - fixtures and parameters
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    where: str,
    said: str,
    command: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    args = ["--event", json.dumps(TRADE)] if command == "preview" else []

    status = main([command, *args, "--html", where])

    out, err = capsys.readouterr()
    assert status == EXIT_USER_ERROR
    assert out == ""
    assert f"--html {where}: {said}" in err
    assert "Traceback" not in err


def test_demo_refuses_html_with_the_rush(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    status = main(["demo", "--rush", "--html", str(tmp_path / "d.html")])

    err = capsys.readouterr().err
    assert status == EXIT_USER_ERROR
    assert "--rush sends to a stand-in for Discord" in err


def test_demo_help_names_the_option(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["demo", "--help"]) == 0
    out = capsys.readouterr().out
    assert "\ncommand options:\n  --html FILE      also write every" in out


@pytest.mark.slow
def test_the_demo_s_day_as_a_page(tmp_path: Path) -> None:
    """
    Every message of the day, those the console only counts too: boards
    once, forum posts as cards, identities by name.
    """
    path = tmp_path / "day.html"
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("DISCORD_") and k != "POLYBOT_ROUTING"
    }
    result = subprocess.run(
        [
            *(sys.executable, "-m", "polybot_loghandler._cli", "demo"),
            *("--delay", "0", "--html", str(path)),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=180,
        check=False,
    )

    assert result.returncode == 0, result.stderr[-2000:]
    page = _page(path)
    drawn = len(page.all(tag="article"))
    channels = len(page.all("channel-view"))
    said = f"wrote {path}: {drawn} messages in {channels} channels"
    assert said in result.stderr
    assert drawn > 200  # the console showed one of each channel
    assert channels >= 30
    assert page.all("edited")  # the boards
    assert page.all("thread")  # the forums' posts
    senders = {u.text() for u in page.all("username")}
    assert {"Polybot", "Floor Boss", "Auditor"} <= senders
