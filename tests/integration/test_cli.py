"""
Tests for the ``polybot-loghandler`` command: check, preview and demo.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

from fakes.discord_schema import payload_errors
from polybot_loghandler._cli import main
from tests.conftest import SHIPPED_ROUTING
from tests.support.hostile_yaml import (
    HOSTILE,
    HOSTILE_PARAMS,
    MAX_MESSAGE,
    Hostile,
)

TOKEN = "SeCrEtToKeN-cli-987"
HOOK = f"https://discord.com/api/webhooks/4242/{TOKEN}"

ROUTING = """\
version: 1
channels:
  alerts: ${POLYBOT_TEST_HOOK}
  trades_paper: {category: Trading}
  trades_live: ""
  market_btc: ""
  bots: {id: "123456"}
  unused: ""
routes:
  - name: trades
    match: {event: trade_executed}
    to: "{{ 'trades_paper' if is_paper else 'trades_live' }}"
    continue: true
    coalesce: false
    embed:
      title: "Trade {{ amount | money }}"
      fields: auto
  - name: markets
    match: {event: market_update}
    to: "market_{{ asset | lower }}"
  - name: any_trade
    match: {event: "trade_*", level: info}
    to: alerts
    mention: role:555
"""

BROKEN = """\
version: 1
channels:
  alerts: ""
routes:
  - name: r
    match: {level: loud}
    to: alertz
"""

WATCHING = """\
version: 1
channels:
  alerts: ""
  perf: ""
  unused: ""
routes:
  - {name: warnings, match: {level: warning}, to: alerts}
watches:
  - name: agent_heartbeat
    match: {event: heartbeat, fields: {agent: {exists: true}}}
    key: "{{ agent }}"
    alert_after: 3m
    end: {event: agent_stopped}
    to: alerts
    mention: role:555
  - name: feed
    match: {event: tick}
    alert_after: 90s
    expect: [BTC]
    recovery: false
    max_keys: 10
    to: alerts
    embed:
      title: "{{ key }} quiet for {{ silent_for | duration }}"
digests:
  - name: hourly_pnl
    match: {event: position_closed}
    every: 1h
    timezone: Europe/London
    group_by: agent
    measures: {trades: count, pnl: sum(pnl)}
    to: "{{ 'perf' }}"
    top: 3
    grace: 5s
    max_groups: 20
"""

PAYLOAD_HEADER = re.compile(r"^#\S+ \(key (\S+), ([\w ]+)\):$", re.MULTILINE)
ROUTE_LINE = re.compile(r"^  route (\S+) \u2192 (.*)$", re.MULTILINE)
EXIT_USER_ERROR = 2
DEMO_TIMEOUT = 180


@pytest.fixture
def routing(
    make_routing: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch
) -> Path:
    """The CLI test routing file, with the alerts webhook in the env."""
    monkeypatch.setenv("POLYBOT_TEST_HOOK", HOOK)
    return make_routing(ROUTING)


def _payloads(out: str) -> list[tuple[str, str, dict[str, Any]]]:
    """
    Return (channel, kind, payload) for each payload preview printed.
    """
    decoder = json.JSONDecoder()
    found = []
    for header in PAYLOAD_HEADER.finditer(out):
        # a line may say where it goes first (its thread, its board)
        start = out.index("\n{", header.end()) + 1
        payload, _ = decoder.raw_decode(out, start)
        found.append((header.group(1), header.group(2), payload))
    return found


def _routes(out: str) -> list[tuple[str, str]]:
    """
    Return (route name, channels) for each matching route printed.
    """
    return ROUTE_LINE.findall(out)


def _table_rows(capsys: pytest.CaptureFixture[str]) -> list[str]:
    """
    Return the route rows of the table check printed.
    """
    lines = capsys.readouterr().out.splitlines()
    rows = lines[3:]  # after the summary, the column names and the rule
    return rows[: rows.index("")] if "" in rows else rows


class TestCheck:
    def test_ok(
        self, routing: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """check validates the file and says how much it holds."""
        status = main(["check", str(routing)])

        out = capsys.readouterr().out
        assert status == 0
        assert f"{routing}: OK, 6 channels, 3 routes" == out.splitlines()[0]

    @pytest.mark.parametrize(
        ("bot", "who"),
        [
            ("bot: {control_roles: [Ops, '123456789012345678']}\n",
             "for Ops or 123456789012345678"),
            ("bot: {ack_within: 5s}\n",
             "off: bot.control_roles names no role"),
            ("", None),
        ],
    )  # fmt: skip
    def test_the_control_commands_with_who_may_run_them(
        self,
        make_routing: Callable[[str], Path],
        capsys: pytest.CaptureFixture[str],
        bot: str,
        who: str | None,
    ) -> None:
        """A bot: section lists the bot's commands, with their roles."""
        path = make_routing(
            "version: 1\nchannels: {ops: ''}\nroutes: []\n" + bot
        )

        assert main(["check", str(path)]) == 0

        out = capsys.readouterr().out
        names = ("/help", "/pause", "/resume", "/switch")
        rows = [line for line in out.splitlines() if line.startswith(names)]
        if who is None:  # no commands and no bot: section, no table
            assert rows == []
            return
        assert [row.split()[0] for row in rows] == [
            "/help", "/pause", "/resume", "/switch",
        ]  # fmt: skip
        assert all(row.endswith(f"(the bot's, {who})") for row in rows[1:])

    def test_route_table(
        self, routing: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Each route is a row naming what it matches and where it goes."""
        main(["check", str(routing)])

        rows = {row.split()[1]: row for row in _table_rows(capsys)}
        assert sorted(rows) == ["any_trade", "markets", "trades"]
        assert "trade_executed" in rows["trades"]
        assert "continue" in rows["trades"]
        assert "no coalescing" in rows["trades"]
        assert "market_{{ asset | lower }}" in rows["markets"]
        assert "alerts" in rows["any_trade"]
        assert "pings <@&555>" in rows["any_trade"]

    def test_console_channels(
        self, routing: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """check lists the channels that resolve to the console."""
        main(["check", str(routing)])

        out = capsys.readouterr().out
        expected = (
            "4 channels with no destination render on the console: "
            "trades_paper, trades_live, market_btc, unused"
        )
        assert expected in out.splitlines()

    def test_one_of_each(
        self,
        make_routing: Callable[[str], Path],
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """Counts of one read in the singular: 1 channel, 1 route."""
        path = make_routing(
            "version: 1\nchannels:\n  a: ''\nroutes:\n  - {name: r, to: a}\n"
        )

        main(["check", str(path)])

        lines = capsys.readouterr().out.splitlines()
        assert f"{path}: OK, 1 channel, 1 route" == lines[0]
        assert "1 channel with no destination renders on the console: a" in (
            lines
        )

    def test_other_listings(
        self, routing: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """check names bot-token channels and channels no route names."""
        main(["check", str(routing)])

        lines = capsys.readouterr().out.splitlines()
        assert "bot-token channels (need DISCORD_BOT_TOKEN): bots" in lines
        unused = [line for line in lines if line.startswith("channels no ")]
        assert len(unused) == 1
        assert unused[0].endswith(
            ": bots, market_btc, trades_live, trades_paper, unused"
        )

    def test_all_console_without_webhooks(
        self,
        make_routing: Callable[[str], Path],
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """An unset webhook variable sends that channel to the console."""
        monkeypatch.delenv("POLYBOT_TEST_HOOK", raising=False)
        path = make_routing(ROUTING)

        main(["check", str(path)])

        out = capsys.readouterr().out
        assert "5 channels with no destination" in out
        assert "console: alerts, trades_paper" in out

    def test_token_never_shown(
        self, routing: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """check never prints a webhook token."""
        main(["check", str(routing)])

        captured = capsys.readouterr()
        assert TOKEN not in captured.out + captured.err

    def test_notes(
        self,
        make_routing: Callable[[str], Path],
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """An unset mention role is a note, not an error."""
        path = make_routing(
            "version: 1\nchannels:\n  a: ''\nroutes:\n"
            "  - name: r\n    to: a\n    mention: role:${POLYBOT_UNSET_ROLE}\n"
        )

        status = main(["check", str(path)])

        out = capsys.readouterr().out
        assert status == 0
        assert f"note: {path}:7: routes[0].mention:" in out

    def test_file_from_environment(
        self,
        routing: Path,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """Without a file argument, check reads $POLYBOT_ROUTING."""
        monkeypatch.setenv("POLYBOT_ROUTING", str(routing))

        status = main(["check"])

        assert status == 0
        assert capsys.readouterr().out.startswith(f"{routing}: OK")

    def test_field_conditions(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """
        Routes told apart by a field's value show the value, so no two
        rows of the shipped routing's audit routes read the same.
        """
        main(["check", str(SHIPPED_ROUTING)])

        rows = {row.split()[1]: row for row in _table_rows(capsys)}
        assert "trade_audit passed=true " in rows["trade_audit_passed"]
        assert "trade_audit passed=false " in rows["trade_audit_violation"]

    def test_shipped_routing(self, capsys: pytest.CaptureFixture[str]) -> None:
        """The shipped routing passes check with all 37 channels."""
        status = main(["check", str(SHIPPED_ROUTING)])

        assert status == 0
        assert ": OK, 37 channels, 42 routes, 3 watches, 3 digests" in (
            capsys.readouterr().out
        )

    def test_watches_and_digests(
        self,
        make_routing: Callable[[str], Path],
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """
        The watches and the digests are counted, then listed after the
        routes, each with what it takes, where it goes and its options.
        """
        path = make_routing(WATCHING)

        status = main(["check", str(path)])

        lines = capsys.readouterr().out.splitlines()
        assert 0 == status
        assert (
            f"{path}: OK, 3 channels, 1 route, 2 watches, 1 digest"
            == (lines[0])
        )
        watches = lines[lines.index("") + 1 :][:4]
        assert watches[0].split() == [
            "#", "watch", "matches", "key", "alert", "after", "→",
            "channels", "options",
        ]  # fmt: skip
        assert watches[2].split()[:6] == [
            "0", "agent_heartbeat", "heartbeat", "agent?", "{{", "agent",
        ]  # fmt: skip
        assert watches[2].split()[7:] == [
            "3m", "alerts", "alerts", "ping", "<@&555>,", "ends", "at",
            "agent_stopped",
        ]  # fmt: skip
        assert watches[3].split() == [
            "1", "feed", "tick", "(one", "key)", "90s", "alerts",
            "expects", "BTC,", "no", "recovery,", "at", "most",
            "10", "keys",
        ]  # fmt: skip
        digests = lines[lines.index("", lines.index("") + 1) + 1 :][:3]
        assert digests[2].split() == [
            "0", "hourly_pnl", "position_closed", "1h", "Europe/London",
            "agent", "trades=count,", "pnl=sum(pnl)", "{{", "'perf'", "}}",
            "top", "3,", "grace", "5s,", "at", "most", "20", "groups",
        ]  # fmt: skip

    def test_only_what_no_rule_names_is_unused(
        self,
        make_routing: Callable[[str], Path],
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """A channel a watch or a digest names is used."""
        main(["check", str(make_routing(WATCHING))])

        lines = capsys.readouterr().out.splitlines()
        assert (
            "channels no route, watch or digest names (some routes, "
            "watches or digests choose channels by template): perf, unused"
        ) in lines

    def test_no_route_table_without_routes(
        self,
        make_routing: Callable[[str], Path],
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """A file of watches only shows their table, not an empty one."""
        text = WATCHING.replace(
            "routes:\n  - {name: warnings, match: {level: warning}, "
            "to: alerts}\n",
            "routes: []\n",
        )

        main(["check", str(make_routing(text))])

        lines = capsys.readouterr().out.splitlines()
        assert ": OK, 3 channels, 0 routes, 2 watches, 1 digest" in lines[0]
        assert lines[1].startswith("#  watch ")

    def test_an_empty_mention_of_a_watch_or_digest(
        self,
        make_routing: Callable[[str], Path],
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """Its note says whose pings are lost, in its own words."""
        text = WATCHING.replace(
            "mention: role:555", "mention: role:${POLYBOT_UNSET_ROLE}"
        ).replace("    top: 3\n", "    mention: ${POLYBOT_UNSET_ROLE}\n")
        path = make_routing(text)

        main(["check", str(path)])

        notes = [
            line
            for line in capsys.readouterr().out.splitlines()
            if line.startswith("note: ")
        ]
        assert [
            (
                f"note: {path}:15: watches[0].mention: "
                "'role:${POLYBOT_UNSET_ROLE}' is empty, so this watch's "
                "alerts ping no one"
            ),
            (
                f"note: {path}:33: digests[0].mention: "
                "'${POLYBOT_UNSET_ROLE}' is empty, so this digest pings no one"
            ),
        ] == notes


class TestVersion:
    def test_version(self, capsys: pytest.CaptureFixture[str]) -> None:
        """--version prints the command's name and version, status 0."""
        with pytest.raises(SystemExit) as info:
            main(["--version"])

        expected = (
            f"polybot-loghandler {metadata.version('polybot-loghandler')}"
        )
        assert 0 == info.value.code
        assert expected == capsys.readouterr().out.strip()
        assert re.fullmatch(r"polybot-loghandler \d+\.\d+\.\d+\S*", expected)


class TestUserErrors:
    def test_broken_file(
        self,
        make_routing: Callable[[str], Path],
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """A broken routing file exits 2 with located messages."""
        path = make_routing(BROKEN)

        status = main(["check", str(path)])

        captured = capsys.readouterr()
        assert status == EXIT_USER_ERROR
        assert [
            f"{path}:6: routes[0].match.level",
            f"{path}:7: routes[0].to",
        ] == sorted(
            ": ".join(line.split(": ", 2)[:2])
            for line in captured.err.splitlines()
        )
        assert "Traceback" not in captured.err
        assert captured.out == ""

    def test_yaml_syntax_error(
        self,
        make_routing: Callable[[str], Path],
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """A YAML syntax error exits 2 with the line, without a traceback."""
        path = make_routing("version: 1\nroutes:\n  - name: a: b\n")

        status = main(["check", str(path)])

        err = capsys.readouterr().err
        assert status == EXIT_USER_ERROR
        assert err.startswith(f"{path}:3: YAML syntax error:")
        assert "Traceback" not in err

    @pytest.mark.parametrize("case", HOSTILE_PARAMS)
    @pytest.mark.slow
    def test_hostile_file(
        self,
        case: Hostile,
        make_routing: Callable[[str], Path],
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """A bomb, a recursive anchor or deep nesting exits 2, located."""
        path = make_routing(case.text)

        status = main(["check", str(path)])

        captured = capsys.readouterr()
        line = r"\d+" if case.line is None else str(case.line)
        assert status == EXIT_USER_ERROR
        assert re.match(rf"{re.escape(str(path))}:{line}: ", captured.err)
        assert case.says in captured.err
        assert "Traceback" not in captured.err
        assert len(captured.err) < MAX_MESSAGE + len(str(path))
        assert captured.out == ""

    @pytest.mark.parametrize(
        "name", ["laughs-list", "recursive-anchor-list", "deep-block-list"]
    )
    @pytest.mark.slow
    def test_hostile_file_as_a_command(
        self, name: str, make_routing: Callable[[str], Path]
    ) -> None:
        """The installed command exits 2 too, with one located message."""
        case = dict(HOSTILE)[name]
        path = make_routing(case.text)

        result = subprocess.run(
            [sys.executable, "-m", "polybot_loghandler._cli", "check", path],
            capture_output=True,
            text=True,
            timeout=60,  # only catches a hang: a load takes milliseconds
            check=False,
        )

        assert result.returncode == EXIT_USER_ERROR, result.stderr[-2000:]
        assert result.stderr.startswith(f"{path}:")
        assert case.says in result.stderr
        assert [] == _uncaught_exceptions(result.stderr)

    @pytest.mark.parametrize(
        "command",
        [
            pytest.param("check", id="check"),
            pytest.param("preview", id="preview"),
        ],
    )
    def test_missing_file(
        self,
        command: str,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """A missing routing file exits 2 naming the file."""
        path = tmp_path / "missing.yaml"

        status = main([command, str(path)])

        err = capsys.readouterr().err
        assert status == EXIT_USER_ERROR
        assert err.startswith(f"{path}:")
        assert "cannot read the routing file" in err
        assert "Traceback" not in err

    def test_broken_file_in_preview(
        self,
        make_routing: Callable[[str], Path],
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """preview also refuses a broken file with exit 2."""
        path = make_routing(BROKEN)

        status = main(["preview", str(path), "--event", '{"event": "x"}'])

        err = capsys.readouterr().err
        assert status == EXIT_USER_ERROR
        assert err.startswith(f"{path}:")

    def test_unknown_command(self, capsys: pytest.CaptureFixture[str]) -> None:
        """An unknown command is a usage error with status 2."""
        with pytest.raises(SystemExit) as info:
            main(["frobnicate"])

        assert info.value.code == EXIT_USER_ERROR
        assert "Traceback" not in capsys.readouterr().err


class TestPreview:
    @pytest.mark.parametrize(
        ("event", "expected_routes", "expected_channels"),
        [
            pytest.param(
                {"event": "trade_executed", "is_paper": True, "amount": 20},
                [("trades", "trades_paper"), ("any_trade", "alerts")],
                ["trades_paper", "alerts"],
                id="continue-to-second-route",
            ),
            pytest.param(
                {"event": "trade_executed", "is_paper": False, "amount": 5},
                [("trades", "trades_live"), ("any_trade", "alerts")],
                ["trades_live", "alerts"],
                id="template-picks-channel",
            ),
            pytest.param(
                {"event": "market_update", "asset": "BTC", "price": 1},
                [("markets", "market_btc")],
                ["market_btc"],
                id="to-template",
            ),
            pytest.param(
                {"event": "trade_cancelled", "level": "warning"},
                [("any_trade", "alerts")],
                ["alerts"],
                id="glob",
            ),
        ],
    )
    def test_event(
        self,
        routing: Path,
        capsys: pytest.CaptureFixture[str],
        event: dict[str, Any],
        expected_routes: list[tuple[str, str]],
        expected_channels: list[str],
    ) -> None:
        """preview names the matching routes, channels and payloads."""
        status = main(["preview", str(routing), "--event", json.dumps(event)])

        out = capsys.readouterr().out
        assert status == 0
        assert out.startswith(f"event {event['event']} (")
        assert expected_routes == _routes(out)
        assert expected_channels == [c for c, _, _ in _payloads(out)]

    def test_payloads_are_valid(
        self, routing: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Every previewed payload is a valid Discord webhook body."""
        event = {
            "event": "trade_executed",
            "is_paper": True,
            "amount": 20,
            "agent": "Momentum_BTC_v1",
        }

        main(["preview", str(routing), "--event", json.dumps(event)])

        payloads = _payloads(capsys.readouterr().out)
        assert len(payloads) == 2
        assert [payload_errors(p) for _, _, p in payloads] == [[], []]

    def test_payload_content(
        self, routing: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """The payload shows the rendered embed and the route's mention."""
        event = {"event": "trade_executed", "is_paper": True, "amount": 20}

        main(["preview", str(routing), "--event", json.dumps(event)])

        payloads = {
            c: (k, p) for c, k, p in _payloads(capsys.readouterr().out)
        }
        kind, paper = payloads["trades_paper"]
        assert kind == "console"
        assert paper["embeds"][0]["title"] == "Trade $20.00"
        kind, alerts = payloads["alerts"]
        assert kind == "webhook"
        assert alerts["content"] == "<@&555>"
        assert alerts["allowed_mentions"] == {"parse": [], "roles": ["555"]}

    @pytest.mark.slow
    def test_shipped_routing(self, capsys: pytest.CaptureFixture[str]) -> None:
        """A shipped trade previews to trades_executed and trades_paper."""
        event = {"event": "trade_executed", "is_paper": True, "amount": 20}
        status = main(
            ["preview", str(SHIPPED_ROUTING), "--event", json.dumps(event)]
        )

        payloads = _payloads(capsys.readouterr().out)
        assert status == 0
        assert [c for c, _, _ in payloads] == [
            "trades_executed",
            "trades_paper",
        ]
        assert [payload_errors(p) for _, _, p in payloads] == [[], []]

    def test_no_match(
        self, routing: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """An event no route matches says nothing would be sent."""
        status = main(["preview", str(routing), "--event", '{"event": "x"}'])

        out = capsys.readouterr().out
        assert status == 0
        assert "no route matches: nothing would be sent" in out
        assert _payloads(out) == []

    def test_token_never_shown(
        self, routing: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """preview never prints a webhook token."""
        event = {"event": "trade_executed", "amount": 1}

        main(["preview", str(routing), "--event", json.dumps(event)])

        captured = capsys.readouterr()
        assert TOKEN not in captured.out + captured.err

    def test_stdin_json_lines(
        self,
        routing: Path,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """Without --event, preview reads one JSON event per line."""
        lines = [
            {"event": "market_update", "asset": "BTC"},
            {"event": "nothing_routes_this"},
            {"event": "trade_executed", "is_paper": False, "amount": 3},
        ]
        text = "\n".join(json.dumps(line) for line in lines) + "\n\n"
        monkeypatch.setattr(sys, "stdin", io.StringIO(text))

        status = main(["preview", str(routing)])

        out = capsys.readouterr().out
        assert status == 0
        assert [
            line for line in out.splitlines() if line.startswith("event ")
        ] == [
            "event market_update (info)",
            "event nothing_routes_this (info)",
            "event trade_executed (info)",
        ]
        assert [c for c, _, _ in _payloads(out)] == [
            "market_btc",
            "trades_live",
            "alerts",
        ]

    @pytest.mark.parametrize(
        "event",
        [
            pytest.param(
                '{"event": "trade_executed", "is_paper": true, '
                '"agent": "report-\\udcff.csv", "amount": 1}',
                id="surrogate-in-a-field",
            ),
            pytest.param(
                '{"event": "x\\ud800", "logger": "l\\udcff"}',
                id="surrogate-in-the-name",
            ),
            pytest.param(
                '{"event": "x\\u001b]52;c;aGk=\\u0007", '
                '"logger": "\\u009b31m", "note": "\\u007f\\u009b"}',
                id="control-characters",
            ),
            pytest.param(
                '{"event": "trade_executed", "is_paper": true, "amount": 1, '
                '"agent": "\\u009b31m\\u007f \\u001b[2J"}',
                id="control-characters-in-a-payload",
            ),
        ],
    )
    def test_hostile_text_is_shown_harmlessly(
        self, event: str, routing: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """
        A lone surrogate or a control character in an event is shown,
        encodable and inert: no traceback, nothing a terminal acts on.
        """
        status = main(["preview", str(routing), "--event", event])

        out = capsys.readouterr().out
        assert 0 == status
        out.encode("utf-8")
        assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f]", out)
        for _, _, payload in _payloads(out):  # the bodies still parse
            assert [] == payload_errors(payload)


def _events(out: str) -> list[str]:
    """The ``event ...`` lines preview printed."""
    return [line for line in out.splitlines() if line.startswith("event ")]


HEARTBEAT = {"event": "heartbeat", "agent": "Momentum_BTC_v1", "up": True}


class TestPreviewSamples:
    @pytest.fixture
    def watching(self, make_routing: Callable[[str], Path]) -> Path:
        return make_routing(WATCHING)

    def test_a_watch_s_alert_and_recovery(
        self, watching: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """
        The alert of the event's key, pinging as the watch says, then
        its recovery, pinging no one; both valid Discord bodies.
        """
        status = main(
            [
                "preview",
                str(watching),
                "--sample",
                "agent_heartbeat",
                "--event",
                json.dumps(HEARTBEAT),
            ]
        )

        out = capsys.readouterr().out
        assert 0 == status
        assert [
            (
                "event watch_alert (critical): a sample of watch "
                "agent_heartbeat, key Momentum_BTC_v1, silent for 3m 1s"
            ),
            (
                "event watch_recovery (info): a sample of watch "
                "agent_heartbeat, key Momentum_BTC_v1, back after 6m 1s"
            ),
        ] == _events(out)
        assert [("agent_heartbeat", "alerts")] * 2 == _routes(out)
        (_, _, alert), (_, _, back) = _payloads(out)
        assert "<@&555>" == alert["content"]
        title = alert["embeds"][0]["title"]
        assert "🚨 Momentum\\_BTC\\_v1 has gone silent" == title
        last = alert["embeds"][0]["fields"][1]["value"]
        assert "agent: Momentum\\_BTC\\_v1\nup: True" == last
        assert "content" not in back
        assert {"parse": []} == back["allowed_mentions"]
        assert [[], []] == [payload_errors(p) for p in (alert, back)]

    def test_made_up_values_without_an_event(
        self, watching: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Without --event, the key is 'example', and preview says so."""
        main(["preview", str(watching), "--sample", "agent_heartbeat"])

        (alert, _) = _events(capsys.readouterr().out)
        assert alert.endswith("key example, silent for 3m 1s (made-up values)")

    def test_made_up_values_when_no_event_matches(
        self, watching: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """An event the watch does not take changes nothing."""
        event = {"event": "trade_executed", "agent": "A"}

        main(
            [
                "preview",
                str(watching),
                "--sample",
                "agent_heartbeat",
                "--event",
                json.dumps(event),
            ]
        )

        (alert, _) = _events(capsys.readouterr().out)
        assert alert.endswith(
            "key example, silent for 3m 1s "
            "(made-up values: no --event given matches it)"
        )

    def test_a_watch_without_recovery_and_its_own_embed(
        self, watching: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """One key of the whole watch, its embed; no recovery."""
        main(["preview", str(watching), "--sample", "feed"])

        out = capsys.readouterr().out
        expected = (
            "event watch_alert (critical): a sample of watch feed, key "
            "feed, silent for 1m 31s (made-up values)"
        )
        assert [expected] == _events(out)
        ((_, _, alert),) = _payloads(out)
        assert "feed quiet for 1m 31s" == alert["embeds"][0]["title"]

    def test_a_digest_of_the_events_given(
        self, watching: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """The events the digest takes are its groups, in its channel."""
        events = [
            {"event": "position_closed", "agent": "A", "pnl": 2.5},
            {"event": "position_closed", "agent": "A", "pnl": -1},
            {"event": "position_closed", "agent": "B", "pnl": 4},
            HEARTBEAT,
        ]
        argv = ["preview", str(watching), "--sample", "hourly_pnl"]
        for event in events:
            argv += ["--event", json.dumps(event)]

        main(argv)

        out = capsys.readouterr().out
        expected = (
            "event digest (info): a sample of digest hourly_pnl, 3 events "
            "in 2 groups"
        )
        assert [expected] == _events(out)
        ((channel, _, digest),) = _payloads(out)
        assert "perf" == channel
        fields = digest["embeds"][0]["fields"]
        assert [
            ("A", "Trades: **2**\nP&L: **1.50**"),
            ("B", "Trades: **1**\nP&L: **4**"),
            ("Total", "Trades: **3**\nP&L: **5.50**"),
        ] == [(f["name"], f["value"]) for f in fields]
        assert [] == payload_errors(digest)

    def test_a_digest_of_made_up_values(
        self, watching: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        main(["preview", str(watching), "--sample", "hourly_pnl"])

        out = capsys.readouterr().out
        expected = (
            "event digest (info): a sample of digest hourly_pnl, 4 events "
            "in 2 groups (made-up values)"
        )
        assert [expected] == _events(out)
        ((_, _, digest),) = _payloads(out)
        names = [f["name"] for f in digest["embeds"][0]["fields"]]
        assert ["example\\_1", "example\\_2", "Total"] == names

    def test_every_watch_and_digest_in_file_order(
        self, watching: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """--sample alone samples them all; --sample NAME picks."""
        main(["preview", str(watching), "--sample"])
        every = [
            line.split(",")[0] for line in _events(capsys.readouterr().out)
        ]
        main(["preview", str(watching), "--sample", "hourly_pnl",
              "--sample", "feed"])  # fmt: skip
        some = [
            line.split(",")[0] for line in _events(capsys.readouterr().out)
        ]

        alert, back, feed, digest = every
        assert alert.endswith("watch agent_heartbeat")
        assert back.startswith("event watch_recovery")
        assert feed.endswith("watch feed")
        assert digest.endswith("digest hourly_pnl")
        assert [feed, digest] == some

    @pytest.mark.slow
    def test_the_shipped_samples_are_valid(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Every sample of the shipped routing is a valid Discord body."""
        status = main(["preview", str(SHIPPED_ROUTING), "--sample"])

        payloads = _payloads(capsys.readouterr().out)
        assert 0 == status
        assert 9 == len(payloads)  # 3 alerts, 3 recoveries, 3 digests
        assert [[]] * 9 == [payload_errors(p) for _, _, p in payloads]

    @pytest.mark.parametrize(
        ("argv", "message"),
        [
            pytest.param(
                ["--sample", "agent_hearbeat"],
                "polybot-loghandler: no watch or digest named "
                "'agent_hearbeat' in {path} (did you mean "
                "'agent_heartbeat'?) (it has: agent_heartbeat, feed, "
                "hourly_pnl)",
                id="unknown",
            ),
            pytest.param(
                ["--sample", "warnings"],
                "polybot-loghandler: 'warnings' is a route; --sample shows "
                "a watch or a digest (preview a route's message with "
                "--event)",
                id="a-route",
            ),
        ],
    )
    def test_a_name_that_is_not_a_watch_or_digest(
        self,
        watching: Path,
        capsys: pytest.CaptureFixture[str],
        argv: list[str],
        message: str,
    ) -> None:
        status = main(["preview", str(watching), *argv])

        err = capsys.readouterr().err
        assert EXIT_USER_ERROR == status
        assert message.format(path=watching) == err.strip()

    def test_a_file_without_watches_or_digests(
        self, routing: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        status = main(["preview", str(routing), "--sample"])

        assert EXIT_USER_ERROR == status
        assert capsys.readouterr().err.strip() == (
            f"polybot-loghandler: {routing} has no watches or digests: "
            "there is nothing to sample (preview an event with --event)"
        )

    def test_several_events_are_each_previewed(
        self, routing: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """--event may be given more than once."""
        main(
            ["preview", str(routing),
             "--event", '{"event": "market_update", "asset": "BTC"}',
             "--event", '{"event": "nothing_routes_this"}']
        )  # fmt: skip

        assert [
            "event market_update (info)",
            "event nothing_routes_this (info)",
        ] == _events(capsys.readouterr().out)


class TestPreviewErrors:
    @pytest.mark.parametrize(
        ("event", "message"),
        [
            pytest.param(
                '{"event": ',
                "polybot-loghandler: --event: not valid JSON",
                id="bad-json",
            ),
            pytest.param(
                "[1, 2]",
                "polybot-loghandler: --event: an event is a JSON object",
                id="not-an-object",
            ),
            pytest.param(
                '{"amount": 5}',
                "polybot-loghandler: --event: an event is a JSON object",
                id="no-event-name",
            ),
            pytest.param(
                '{"event": "x", "level": "loud"}',
                "polybot-loghandler: --event: unknown level 'loud'",
                id="unknown-level",
            ),
        ],
    )
    def test_event_option(
        self,
        routing: Path,
        capsys: pytest.CaptureFixture[str],
        event: str,
        message: str,
    ) -> None:
        """A bad --event exits 2 with one located line."""
        status = main(["preview", str(routing), "--event", event])

        err = capsys.readouterr().err
        assert status == EXIT_USER_ERROR
        assert err.startswith(message)
        assert len(err.splitlines()) == 1

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            pytest.param(
                '{"event": "x"}\n{bad\n',
                "polybot-loghandler: line 2: not valid JSON",
                id="second-line",
            ),
            pytest.param(
                "{bad\n",
                "polybot-loghandler: line 1: not valid JSON",
                id="first-line",
            ),
            pytest.param(
                "{bad",
                "polybot-loghandler: line 1: not valid JSON",
                id="first-line-without-newline",
            ),
            pytest.param(
                '{"event": "x"}\n"just a string"',
                "polybot-loghandler: line 2: an event is a JSON object",
                id="last-line-without-newline",
            ),
        ],
    )
    def test_stdin(
        self,
        routing: Path,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
        text: str,
        message: str,
    ) -> None:
        """Bad JSON on standard input exits 2 naming the line."""
        monkeypatch.setattr(sys, "stdin", io.StringIO(text))

        status = main(["preview", str(routing)])

        err = capsys.readouterr().err
        assert status == EXIT_USER_ERROR
        assert err.startswith(message)
        assert "Traceback" not in err


def _demo(
    cwd: Path, env: dict[str, str], *args: str
) -> subprocess.CompletedProcess[str]:
    """Run ``demo`` with *args* as a process of its own, output kept."""
    return subprocess.run(
        [*_demo_command(), "demo", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=DEMO_TIMEOUT,
        check=False,
    )


def _demo_command() -> list[str]:
    """
    Return the installed console script, else the module, as a command.
    """
    script = shutil.which("polybot-loghandler")
    if script is not None:
        return [script]
    return [sys.executable, "-m", "polybot_loghandler._cli"]


def _uncaught_exceptions(output: str) -> list[str]:
    """
    Return the final line of every traceback in *output*.
    """
    lines = output.splitlines()
    found = []
    for n, line in enumerate(lines):
        if "Traceback (most recent call last):" not in line:
            continue
        prefix = line[: line.index("Traceback")]
        for after in lines[n + 1 :]:
            body = after.removeprefix(prefix)
            if body and not body.startswith(" "):
                found.append(body)
                break
    return found


class TestDemo:
    @pytest.mark.parametrize(
        "args",
        [
            pytest.param(["--delay", "0"], id="plain"),
            pytest.param(["--", "--delay", "0"], id="separator"),
        ],
    )
    @pytest.mark.slow
    def test_runs_on_the_console(
        self, tmp_path: Path, args: list[str]
    ) -> None:
        """The demo runs without Discord and shows many channels."""
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("DISCORD_") and k != "POLYBOT_ROUTING"
        }

        result = _demo(tmp_path, env, *args)

        output = result.stdout + result.stderr
        heads = _BOX_HEAD.findall(output)
        channels = [channel for channel, _ in heads]
        assert result.returncode == 0, result.stderr[-2000:]
        # the demo logs one deliberate order timeout with its traceback
        assert all(
            line.startswith("TimeoutError: Polymarket CLOB API")
            for line in _uncaught_exceptions(output)
        ), output[-4000:]
        assert "--- Logging error ---" not in output
        # one screenful or two: the first message of each channel the
        # shipped routing reaches (all but #bot-commands), once each
        assert len(output.splitlines()) <= 500
        assert sorted(set(channels)) == sorted(channels)
        assert 36 == len(channels), channels
        assert "messages not shown on the console" in output
        assert "wait for Discord" not in output  # no Discord, no wait
        # in the order logged: the boxes' times never go back
        times = _box_times(output)
        assert len(times) >= len(heads) - 3, heads
        assert sorted(times) == times
        # a time is said once per line, and no title is a format string
        assert not [line for line in output.splitlines() if _two_times(line)]
        assert not [event for _, event in heads if "%" in event]
        assert not re.search(r"^│ .*%[ds]\b", output, re.MULTILINE)

    @pytest.mark.slow
    def test_all_shows_every_message(self, tmp_path: Path) -> None:
        """--all shows every message; the default shows one a channel."""
        env = {k: v for k, v in os.environ.items() if k[:8] != "DISCORD_"}

        some = _run_demo([], tmp_path, env)
        every = _run_demo(["--all"], tmp_path, env)

        assert (0, 0) == (some.returncode, every.returncode)
        shown = some.stderr.count("┌─ "), every.stderr.count("┌─ ")
        hidden = re.search(r"(\d+) messages? not shown", some.stderr)
        assert hidden is not None, some.stderr[-2000:]
        # two runs coalesce the same bursts a little differently
        assert abs(shown[0] + int(hidden.group(1)) - shown[1]) <= 5, shown
        assert shown[1] > 2 * shown[0]
        assert "not shown" not in every.stderr

    @pytest.mark.slow
    def test_rush_folds_what_the_channel_cannot_carry(
        self, tmp_path: Path
    ) -> None:
        """
        demo --rush (about 50 s): #trades-executed, at the example's
        stand-in for Discord, gets ten times what it can carry. What
        arrives adds up to what was logged, most of it in summaries, and
        each warning arrives on its own within max_lag + 5 s.
        """
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("DISCORD_") and k != "POLYBOT_ROUTING"
        }

        result = _demo(tmp_path, env, "--rush")

        output = result.stdout + result.stderr
        assert result.returncode == 0, output[-3000:]
        assert [] == _uncaught_exceptions(output)
        rush = _Rush.read(output)
        assert rush.summaries, output[-3000:]  # it fell behind, and folded
        assert rush.logged == rush.one_by_one + sum(rush.summaries)
        # the tally and handler.stats() say so too
        assert (rush.one_by_one, sum(rush.summaries)) == rush.tally
        delivered = rush.one_by_one + len(rush.summaries)
        assert (delivered, sum(rush.summaries)) == rush.stats
        assert list(range(1, rush.warned + 1)) == sorted(rush.warnings)
        bound = rush.max_lag + 5
        late = {n: t for n, t in rush.warnings.items() if t > bound}
        assert {} == late, f"later than max_lag ({rush.max_lag:g} s) + 5 s"


#: A box's header: its channel and its event.
_BOX_HEAD = re.compile(r"^┌─ #([a-z][\w-]*) · (.*) · route", re.MULTILINE)
#: A box's own time: its timestamp line, or its Time field.
_BOX_TIME = re.compile(r"^│ .*?(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC")
_CLOCK = re.compile(r"\b\d\d:\d\d:\d\d\b")


def _box_times(output: str) -> list[str]:
    """The first full time in each box, in the order the boxes came."""
    times, in_box, found = [], False, False
    for line in output.splitlines():
        if line.startswith("┌─ "):
            in_box, found = True, False
        elif line.startswith("└"):
            in_box = False
        elif in_box and not found and (match := _BOX_TIME.match(line)):
            times.append(match.group(1))
            found = True
    return times


def _two_times(line: str) -> bool:
    """Whether a box line says the same time of day twice."""
    if not line.startswith("│"):
        return False
    clocks = _CLOCK.findall(line)
    return len(clocks) != len(set(clocks))


#: What ``demo --rush`` prints of each message that arrives, embed by
#: embed: a summary, a run of trades, a warning.
_RUSH_LINE = re.compile(r"^ +\d+\.\d s  (.+)$", re.MULTILINE)
_SUMMARY = re.compile(r"⏩ ([\d,]+) events? folded")
_TRADES = re.compile(r"📝 Trade Executed(?: ×(\d+))?")
_WARNING = re.compile(
    r"⚠️ 📝 Trade Executed \(warning (\d+), (\d+\.\d) s after it was logged\)"
)


def _number(text: str) -> int:
    return int(text.replace(",", ""))


@dataclass
class _Rush:
    """What ``demo --rush`` says arrived, and its tally."""

    max_lag: float
    logged: int
    warned: int  # trades logged as warnings
    summaries: list[int] = field(default_factory=list)  # their counts
    one_by_one: int = 0  # trades in embeds of their own, warnings too
    warnings: dict[int, float] = field(default_factory=dict)  # N: seconds
    tally: tuple[int, int] = (0, 0)  # one by one, folded
    stats: tuple[int, int] = (0, 0)  # delivered, folded

    @classmethod
    def read(cls, output: str) -> _Rush:
        head = re.search(
            r"the rush: ([\d,]+) trades in .*; (\d+) of them are warnings",
            output,
        )
        lag = re.search(r"delivery\.max_lag: (\d+)s", output)
        tally = re.search(
            r"^trading_floor: [\d,]+ trades logged: ([\d,]+) shown one by "
            r"one, ([\d,]+) inside",
            output,
            re.MULTILINE,
        )
        stats = re.search(
            r"handler\.stats\(\): delivered ([\d,]+), folded ([\d,]+)", output
        )
        assert head, output[-3000:]
        assert lag, output[-3000:]
        assert tally, output[-3000:]
        assert stats, output[-3000:]
        rush = cls(float(lag[1]), _number(head[1]), int(head[2]))
        rush.tally = _number(tally[1]), _number(tally[2])
        rush.stats = _number(stats[1]), _number(stats[2])
        for line in _RUSH_LINE.findall(output):
            for embed in line.split(" · "):
                rush.embed(embed)
        return rush

    def embed(self, text: str) -> None:
        if summary := _SUMMARY.fullmatch(text):
            self.summaries.append(_number(summary[1]))
        elif warning := _WARNING.fullmatch(text):
            assert int(warning[1]) not in self.warnings, text
            self.warnings[int(warning[1])] = float(warning[2])
            self.one_by_one += 1
        elif trades := _TRADES.fullmatch(text):
            self.one_by_one += int(trades[1] or 1)
        else:
            pytest.fail(f"an embed demo --rush does not send: {text}")


CUSTOM_ROUTING = """\
version: 1
channels:
  everything: {name: custom-everything}
routes:
  - name: all
    to: everything
"""


def _run_demo(
    args: list[str], cwd: Path, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """
    Run ``polybot-loghandler demo`` with *args* for one quick hour.
    """
    return _demo(cwd, env, "--hours", "1", "--delay", "0", *args)


class TestDemoCommandLine:
    def test_help_names_the_command(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """demo --help is headed by the command, not the example's file."""
        status = main(["demo", "--help"])

        out = capsys.readouterr().out
        assert 0 == status
        assert out.startswith("usage: polybot-loghandler demo [-h]")
        assert "trading_floor" not in out
        assert "default: the shipped Polybot routing" in " ".join(out.split())

    def test_errors_name_the_command(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A bad demo option is reported under the command's name."""
        status = main(["demo", "--hours", "x"])

        err = capsys.readouterr().err
        assert EXIT_USER_ERROR == status
        assert "polybot-loghandler demo: error: argument --hours:" in err
        assert "trading_floor" not in err

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            pytest.param(
                None,
                "missing.yaml:0: cannot read the routing file",
                id="missing",
            ),
            pytest.param(
                "version: 1\nchannels: {a: ''}\n"
                "routes:\n  - {name: x, to: b}\n",
                "bad.yaml:4: routes[0].to: unknown channel 'b'",
                id="invalid",
            ),
        ],
    )
    def test_a_bad_routing_file_is_a_user_error(
        self,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
        text: str | None,
        expected: str,
    ) -> None:
        """demo --routing with a bad file: the file and line, exit 2."""
        path = tmp_path / ("missing.yaml" if text is None else "bad.yaml")
        if text is not None:
            path.write_text(text)

        status = main(["demo", "--routing", str(path)])

        err = capsys.readouterr().err
        assert EXIT_USER_ERROR == status
        assert err.startswith(f"polybot-loghandler demo: {tmp_path}")
        assert expected in err
        assert "Traceback" not in err

    @pytest.mark.parametrize(
        ("args", "custom"),
        [
            pytest.param([], False, id="shipped-by-default"),
            pytest.param(
                ["--routing", "custom.yaml"], True, id="routing-option"
            ),
            pytest.param(
                ["--routing=custom.yaml"], True, id="routing-option-equals"
            ),
        ],
    )
    def test_routing(
        self, tmp_path: Path, args: list[str], custom: bool
    ) -> None:
        """
        demo runs through the shipped routing, as its help says, whatever
        ./routing.yaml or $POLYBOT_ROUTING say; --routing chooses another.
        """
        (tmp_path / "routing.yaml").write_text(CUSTOM_ROUTING)
        (tmp_path / "custom.yaml").write_text(CUSTOM_ROUTING)
        env = {k: v for k, v in os.environ.items() if k[:8] != "DISCORD_"}
        env["POLYBOT_ROUTING"] = str(tmp_path / "custom.yaml")

        result = _run_demo(args, tmp_path, env)

        output = result.stdout + result.stderr
        assert 0 == result.returncode, result.stderr[-2000:]
        assert custom == ("#custom-everything" in output)
        assert custom != ("#alerts-critical" in output or "#trades-" in output)
