"""
Tests for ``polybot-loghandler check --env``, run as a command.

The command runs in a child process with secrets in its environment,
and neither its output nor its errors may ever show one.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from polybot_loghandler._cli import main
from tests.conftest import REPO, SHIPPED_ROUTING

HOOK_TOKEN = "HoOkSeCrEt-env-1"
HOOK = f"https://discord.com/api/webhooks/1111/{HOOK_TOKEN}"
OWN_TOKEN = "OwNsEcReT-env-2"
OWN = f"https://discord.com/api/webhooks/2222/{OWN_TOKEN}"
LITERAL_TOKEN = "LiTeRaLsEcReT-env-3"
BOT_TOKEN = "MTIzNDU2Nzg5MDEy.BoTsEcReT.env-4"
ODD_SECRET = "PaSsWoRd-env-5"
SECRETS = (HOOK_TOKEN, OWN_TOKEN, LITERAL_TOKEN, BOT_TOKEN, ODD_SECRET)
EXIT_USER_ERROR = 2
TIMEOUT = 60

ROUTING = f"""\
version: 1
channels:
  alerts: https://discord.com/api/webhooks/3333/{LITERAL_TOKEN}
  trades:
    webhook: ${{HOOK_TRADES:-${{DISCORD_WEBHOOK_URL:-}}}}
    category: Trading
  odd:
    webhook: ${{ODD_URL}}
    category: Trading
  ops: {{id: "123456789"}}
  quiet: ""
routes:
  - name: all
    to: alerts
    mention: role:${{ROLE_ID}}
"""


def _run(
    args: list[str], environ: Mapping[str, str], cwd: Path
) -> subprocess.CompletedProcess[str]:
    """
    Run the command from this tree with only *environ* of DISCORD_ vars.
    """
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("DISCORD_") and k != "POLYBOT_ROUTING"
    }
    paths = [str(REPO), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    env.update(environ)
    return subprocess.run(
        [sys.executable, "-m", "polybot_loghandler._cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=TIMEOUT,
        check=False,
    )


def _assert_no_secret(result: subprocess.CompletedProcess[str]) -> None:
    shown = result.stdout + result.stderr
    for secret in SECRETS:
        assert secret not in shown


def _section(out: str, heading: str) -> list[str]:
    """The lines after *heading*, up to the next blank line."""
    lines = out.splitlines()
    start = lines.index(heading) + 1
    end = lines.index("", start) if "" in lines[start:] else len(lines)
    return lines[start:end]


class TestShippedRouting:
    @pytest.mark.slow
    def test_every_secret_hidden(self, tmp_path: Path) -> None:
        """With every kind of secret set, none is ever shown."""
        environ = {
            "DISCORD_WEBHOOK_URL": HOOK,
            "DISCORD_WEBHOOK_TRADES_PAPER": OWN,
            "DISCORD_BOT_TOKEN": BOT_TOKEN,
            "DISCORD_ADMIN_ROLE_ID": "42",
        }

        result = _run(
            ["check", "--env", str(SHIPPED_ROUTING)], environ, tmp_path
        )

        assert result.returncode == 0, result.stderr
        _assert_no_secret(result)
        rows = {
            line.split()[0]: line.split()
            for line in result.stdout.splitlines()
            if line.startswith("  ")
        }
        assert rows["trades_paper"][1:4] == [
            "webhook",
            "https://discord.com/api/webhooks/2222/(redacted)",
            "DISCORD_WEBHOOK_TRADES_PAPER",
        ]
        assert rows["trades_live"][1:4] == [
            "webhook",
            "https://discord.com/api/webhooks/1111/(redacted)",
            "DISCORD_WEBHOOK_URL",
        ]
        assert (
            "  DISCORD_WEBHOOK_<KEY>  for 36 of 37 channels, which use "
            "DISCORD_WEBHOOK_URL" in result.stdout.splitlines()
        )
        assert result.stdout.splitlines()[-1] == (
            "37 channels → Discord webhooks (2 distinct), 0 bot channels, "
            "0 console"
        )

    @pytest.mark.slow
    def test_nothing_set_is_compact(self, tmp_path: Path) -> None:
        """Without variables, the unset ones take three lines, not 38."""
        result = _run(["check", "--env", str(SHIPPED_ROUTING)], {}, tmp_path)

        assert result.returncode == 0, result.stderr
        assert _section(result.stdout, "not set (or empty):") == [
            (
                "  DISCORD_WEBHOOK_<KEY>  for all 37 channels, which go to "
                "the console (stderr)"
            ),
            (
                "  DISCORD_WEBHOOK_URL    for 37 channels, which go to the "
                "console (stderr)"
            ),
            (
                "  DISCORD_ADMIN_ROLE_ID  2 routes ping no one: "
                "daily_loss_limit, trade_audit_violation; 3 watches ping no "
                "one: agent_heartbeat, component_heartbeat, "
                "market_feed_heartbeat"
            ),
        ]
        assert result.stdout.splitlines()[-1] == (
            "0 channels → Discord webhooks, 0 bot channels, 37 console"
        )

    @pytest.mark.slow
    def test_plain_check_unchanged(self, tmp_path: Path) -> None:
        """--env adds to what check prints; it changes none of it."""
        environ = {"DISCORD_WEBHOOK_URL": HOOK}
        plain = _run(["check", str(SHIPPED_ROUTING)], environ, tmp_path)

        with_env = _run(
            ["check", "--env", str(SHIPPED_ROUTING)], environ, tmp_path
        )

        assert with_env.returncode == plain.returncode == 0
        assert with_env.stdout.startswith(plain.stdout)
        assert with_env.stdout != plain.stdout


class TestOwnRouting:
    @pytest.mark.slow
    def test_secrets_in_file_and_odd_variables_hidden(
        self, make_routing: Callable[[str], Path], tmp_path: Path
    ) -> None:
        """A URL in the file or in any variable shows no secret part."""
        path = make_routing(ROUTING)
        environ = {
            "DISCORD_WEBHOOK_URL": HOOK,
            "DISCORD_BOT_TOKEN": BOT_TOKEN,
            "ODD_URL": f"https://user:{ODD_SECRET}@example.com/"
            f"{ODD_SECRET}?key={ODD_SECRET}#{ODD_SECRET}",
        }

        result = _run(["check", "--env", str(path)], environ, tmp_path)

        assert result.returncode == 0, result.stderr
        _assert_no_secret(result)
        out = result.stdout
        assert "https://discord.com/api/webhooks/3333/(redacted)" in out
        assert "https://example.com/(redacted)" in out
        assert "webhook URLs written in the routing file itself: alerts" in out
        assert _section(out, "not set (or empty):") == [
            "  HOOK_TRADES  for trades, which uses DISCORD_WEBHOOK_URL",
            "  ROLE_ID      1 route pings no one: all",
        ]

    @pytest.mark.slow
    def test_bot_channel_without_token(
        self, make_routing: Callable[[str], Path], tmp_path: Path
    ) -> None:
        """Bot channels without DISCORD_BOT_TOKEN are reported as dropped."""
        path = make_routing(ROUTING)

        result = _run(["check", "--env", str(path)], {}, tmp_path)

        assert result.returncode == 0, result.stderr
        lines = result.stdout.splitlines()
        ops = next(line for line in lines if line.startswith("  ops "))
        assert ops.split()[1:5] == ["bot", "channel", "channel", "123456789"]
        assert ops.endswith("dropped: no DISCORD_BOT_TOKEN")
        unset = {
            line.split()[0]: " ".join(line.split()[1:])
            for line in _section(result.stdout, "not set (or empty):")
        }
        assert unset == {
            "HOOK_TRADES": "for trades, which goes to the console (stderr)",
            "DISCORD_WEBHOOK_URL": "for trades, which goes to the console "
            "(stderr)",
            "ODD_URL": "for odd, which goes to the console (stderr)",
            "ROLE_ID": "1 route pings no one: all",
            "DISCORD_BOT_TOKEN": "the messages of 1 bot channel are "
            "dropped: ops",
        }
        assert lines[-1] == (
            "1 channel → Discord webhooks (1 distinct), 1 bot channel "
            "(1 dropped: no DISCORD_BOT_TOKEN), 3 console"
        )

    @pytest.mark.parametrize(
        "channel",
        [
            pytest.param("a: ${DISCORD_BOT_TOKEN}", id="token-as-webhook"),
            pytest.param("a: {id: '${DISCORD_WEBHOOK_URL}'}", id="url-as-id"),
        ],
    )
    @pytest.mark.slow
    def test_invalid_file_exits_2_without_secret(
        self,
        channel: str,
        make_routing: Callable[[str], Path],
        tmp_path: Path,
    ) -> None:
        """A secret in the wrong place is an error that does not show it."""
        path = make_routing(
            f"version: 1\nchannels:\n  {channel}\n"
            "routes: [{name: r, to: a}]\n"
        )
        environ = {"DISCORD_WEBHOOK_URL": HOOK, "DISCORD_BOT_TOKEN": BOT_TOKEN}

        plain = _run(["check", str(path)], environ, tmp_path)
        result = _run(["check", "--env", str(path)], environ, tmp_path)

        assert result.returncode == EXIT_USER_ERROR
        assert result.stdout == ""
        assert result.stderr == plain.stderr
        assert result.stderr.startswith(f"{path}:3: channels.a")
        _assert_no_secret(result)


class TestInProcess:
    def test_categories_head_their_channels(
        self,
        make_routing: Callable[[str], Path],
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """Rows are grouped under their category, in file order."""
        monkeypatch.delenv("DISCORD_WEBHOOK_URL", raising=False)
        monkeypatch.delenv("DISCORD_BOT_TOKEN", raising=False)
        monkeypatch.setenv("ODD_URL", HOOK)
        path = make_routing(ROUTING)

        status = main(["check", "--env", str(path)])

        out = capsys.readouterr().out
        assert status == 0
        table = _section(out, "where each channel goes in this environment:")
        assert [line.split()[0] for line in table[2:]] == [
            "(no",
            "alerts",
            "ops",
            "quiet",
            "Trading",
            "trades",
            "odd",
        ]
        assert HOOK_TOKEN not in out

    def test_everything_set(
        self,
        make_routing: Callable[[str], Path],
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """With nothing missing, check --env says so."""
        monkeypatch.setenv("HOOK", HOOK)
        path = make_routing(
            "version: 1\nchannels:\n  a: ${HOOK}\nroutes: [{name: r, to: a}]\n"
        )

        main(["check", "--env", str(path)])

        lines = capsys.readouterr().out.splitlines()
        assert "every variable the file looks up is set" in lines
        assert lines[-1] == (
            "1 channel → Discord webhooks (1 distinct), 0 bot channels, "
            "0 console"
        )
