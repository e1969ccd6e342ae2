"""
Tests for polybot_loghandler._cli.envreport: where channels go, per env.
"""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from polybot_loghandler._cli.envreport import (
    BOT_CHANNEL,
    CONSOLE,
    WEBHOOK,
    ChannelRow,
    EnvReport,
    env_report,
)
from polybot_loghandler._config import load_config, parse_config
from polybot_loghandler._env import Reference
from polybot_loghandler._model import Config
from tests.conftest import SHIPPED_ROUTING

TOKEN = "SeCrEtToKeN-report-1"
HOOK = f"https://discord.com/api/webhooks/111/{TOKEN}"
HOOK_SHOWN = "https://discord.com/api/webhooks/111/(redacted)"
OWN_TOKEN = "OwNtOkEn-report-2"
OWN = f"https://discord.com/api/webhooks/222/{OWN_TOKEN}"
OWN_SHOWN = "https://discord.com/api/webhooks/222/(redacted)"
BOT_TOKEN = "MTIzNDU2Nzg5.BoT-ToKeN.report"
SHIPPED_CHANNELS = 37


def _config(text: str, environ: Mapping[str, str]) -> Config:
    return parse_config(text, "routing.yaml", environ=environ)


def _report(text: str, environ: Mapping[str, str]) -> EnvReport:
    return env_report(_config(text, environ), environ)


def _shipped(environ: Mapping[str, str]) -> EnvReport:
    return env_report(load_config(SHIPPED_ROUTING, environ), environ)


def _rows(report: EnvReport) -> dict[str, ChannelRow]:
    return {row.key: row for row in report.channels}


def _unset(report: EnvReport) -> dict[str, str]:
    return {u.variable: u.detail for u in report.unset}


def _text(report: EnvReport) -> str:
    """Everything the report could print, and its repr."""
    parts = [repr(report), report.summary]
    parts += [f"{r.destination} {r.source} {r.note}" for r in report.channels]
    parts += [f"{u.variable} {u.detail}" for u in report.unset]
    return "\n".join(parts)


class TestShippedRouting:
    def test_no_variables(self) -> None:
        """Without variables every channel is on the console, in one line."""
        report = _shipped({})

        rows = _rows(report)
        assert len(rows) == SHIPPED_CHANNELS
        assert {r.kind for r in rows.values()} == {CONSOLE}
        assert {r.source for r in rows.values()} == {"not set"}
        assert {r.destination for r in rows.values()} == {"stderr"}
        unset = _unset(report)
        assert unset["DISCORD_WEBHOOK_<KEY>"] == (
            "for all 37 channels, which go to the console (stderr)"
        )
        assert unset["DISCORD_WEBHOOK_URL"] == (
            "for 37 channels, which go to the console (stderr)"
        )
        assert report.summary == (
            "0 channels → Discord webhooks, 0 bot channels, 37 console"
        )

    def test_shared_fallback(self) -> None:
        """DISCORD_WEBHOOK_URL alone: every channel shares that webhook."""
        report = _shipped({"DISCORD_WEBHOOK_URL": HOOK})

        rows = _rows(report)
        assert {r.kind for r in rows.values()} == {WEBHOOK}
        assert {r.destination for r in rows.values()} == {HOOK_SHOWN}
        assert {r.source for r in rows.values()} == {"DISCORD_WEBHOOK_URL"}
        assert {r.shared_by for r in rows.values()} == {SHIPPED_CHANNELS}
        assert rows["trades_paper"].note == "shared by 37"
        assert report.shared == SHIPPED_CHANNELS
        unset = _unset(report)
        assert unset["DISCORD_WEBHOOK_<KEY>"] == (
            "for all 37 channels, which use DISCORD_WEBHOOK_URL"
        )
        assert "DISCORD_WEBHOOK_URL" not in unset
        assert report.summary == (
            "37 channels → Discord webhooks (1 distinct), 0 bot channels, "
            "0 console"
        )
        assert TOKEN not in _text(report)

    def test_per_channel_webhooks(self) -> None:
        """A per-channel variable supplies its own channel; the rest share."""
        environ = {
            "DISCORD_WEBHOOK_URL": HOOK,
            "DISCORD_WEBHOOK_TRADES_PAPER": OWN,
            "DISCORD_WEBHOOK_ALERTS_CRITICAL": OWN,
        }

        report = _shipped(environ)

        rows = _rows(report)
        paper = rows["trades_paper"]
        assert paper.kind == WEBHOOK
        assert paper.destination == OWN_SHOWN
        assert paper.source == "DISCORD_WEBHOOK_TRADES_PAPER"
        assert paper.shared_by == 2  # with alerts_critical
        assert rows["trades_live"].source == "DISCORD_WEBHOOK_URL"
        assert rows["trades_live"].shared_by == SHIPPED_CHANNELS - 2
        assert _unset(report)["DISCORD_WEBHOOK_<KEY>"] == (
            "for 35 of 37 channels, which use DISCORD_WEBHOOK_URL"
        )
        assert "(2 distinct)" in report.summary
        assert TOKEN not in _text(report)
        assert OWN_TOKEN not in _text(report)

    @pytest.mark.slow
    def test_few_unset_are_named(self) -> None:
        """Two unset per-channel variables are listed by their own names."""
        environ = {
            f"DISCORD_WEBHOOK_{key.upper()}": HOOK
            for key in load_config(SHIPPED_ROUTING, {}).channels
            if key not in ("market_btc", "market_eth")
        }

        report = _shipped(environ)

        assert _unset(report) == {
            "DISCORD_WEBHOOK_MARKET_BTC": "for market_btc, which goes to "
            "the console (stderr)",
            "DISCORD_WEBHOOK_MARKET_ETH": "for market_eth, which goes to "
            "the console (stderr)",
            "DISCORD_WEBHOOK_URL": "for 2 channels (market_btc, market_eth),"
            " which go to the console (stderr)",
            "DISCORD_ADMIN_ROLE_ID": "2 routes ping no one: "
            "daily_loss_limit, trade_audit_violation; 3 watches ping no one: "
            "agent_heartbeat, component_heartbeat, market_feed_heartbeat",
        }

    @pytest.mark.slow
    def test_some_unset_some_console(self) -> None:
        """Mixed outcomes are counted, and up to five channels named."""
        environ = {
            f"DISCORD_WEBHOOK_{key.upper()}": HOOK
            for key in load_config(SHIPPED_ROUTING, {}).channels
            if not key.startswith("market_")
        }

        report = _shipped(environ)

        assert _unset(report)["DISCORD_WEBHOOK_<KEY>"] == (
            "for 4 of 37 channels (market_btc, market_eth, market_analysis, "
            "market_anomalies), which go to the console (stderr)"
        )

    def test_unset_role_disables_mentions(self) -> None:
        """
        An unset role id variable: the routes that ping it ping no one,
        and so do the watches' alerts.
        """
        report = _shipped({})

        assert _unset(report)["DISCORD_ADMIN_ROLE_ID"] == (
            "2 routes ping no one: daily_loss_limit, trade_audit_violation; "
            "3 watches ping no one: agent_heartbeat, component_heartbeat, "
            "market_feed_heartbeat"
        )

    def test_set_role_is_not_reported(self) -> None:
        """With the role id set, nothing is said about mentions."""
        report = _shipped({"DISCORD_ADMIN_ROLE_ID": "42"})

        assert "DISCORD_ADMIN_ROLE_ID" not in _unset(report)

    def test_grouped_by_category_in_file_order(self) -> None:
        """Rows follow the file, which groups the shipped channels."""
        config = load_config(SHIPPED_ROUTING, {})

        report = env_report(config, {})

        assert [r.key for r in report.channels] == list(config.channels)
        assert report.channels[0].category == "📋 SYSTEM STATUS"


class TestChannels:
    def test_rows_grouped_by_category(self) -> None:
        """Channels of a category come together, categories in file order."""
        report = _report(
            "version: 1\nchannels:\n"
            "  a: {category: One}\n  b: {category: Two}\n"
            "  c: {category: One}\n  d: ''\n  e: {category: Two}\n"
            "routes: [{name: r, to: a}]\n",
            {},
        )

        assert [(r.key, r.category) for r in report.channels] == [
            ("a", "One"),
            ("c", "One"),
            ("b", "Two"),
            ("e", "Two"),
            ("d", None),
        ]

    def test_console_without_destination(self) -> None:
        """A channel the file gives no destination is on the console."""
        report = _report(
            "version: 1\nchannels:\n  a: ''\n  b: {category: X}\n"
            "delivery: {console: stdout}\nroutes: [{name: r, to: a}]\n",
            {},
        )

        rows = _rows(report)
        assert rows["a"].kind == CONSOLE
        assert rows["a"].destination == "stdout"
        assert rows["a"].source == "not in the file"
        assert rows["b"].source == "not in the file"
        assert report.unset == ()
        assert report.summary.endswith(", 2 console")

    def test_console_off(self) -> None:
        """With the console off, the unset line says nothing is shown."""
        report = _report(
            "version: 1\nchannels:\n  a: ${HOOK_A}\n"
            "delivery: {console: 'off'}\nroutes: [{name: r, to: a}]\n",
            {},
        )

        assert _unset(report) == {
            "HOOK_A": "for a, which is not shown (console: off)"
        }

    def test_literal_webhook_is_redacted(self) -> None:
        """A URL written in the file shows its id, never its token."""
        report = _report(
            f"version: 1\nchannels:\n  a: {HOOK}\n  b: {{webhook: '{OWN}'}}\n"
            "routes: [{name: r, to: a}]\n",
            {},
        )

        rows = _rows(report)
        assert rows["a"].destination == HOOK_SHOWN
        assert rows["a"].source == "the file"
        assert rows["b"].destination == OWN_SHOWN
        assert report.written_in_file == ("a", "b")
        assert report.unset == ()
        assert TOKEN not in _text(report)
        assert OWN_TOKEN not in _text(report)

    def test_webhook_from_several_variables(self) -> None:
        """A URL built from two variables names both."""
        report = _report(
            "version: 1\nchannels:\n"
            "  a: https://discord.com/api/webhooks/${HOOK_ID}/${HOOK_TOKEN}\n"
            "routes: [{name: r, to: a}]\n",
            {"HOOK_ID": "333", "HOOK_TOKEN": TOKEN},
        )

        row = report.channels[0]
        assert row.source == "HOOK_ID + HOOK_TOKEN"
        assert (
            row.destination
            == "https://discord.com/api/webhooks/333/(redacted)"
        )
        assert report.written_in_file == ()
        assert TOKEN not in _text(report)

    def test_fallback_written_in_file(self) -> None:
        """An unset variable whose fallback is literal uses the file."""
        report = _report(
            "version: 1\nchannels:\n"
            f"  a: {{webhook: '${{HOOK_A:-{HOOK}}}'}}\n"
            "routes: [{name: r, to: a}]\n",
            {},
        )

        assert report.channels[0].source == "the file"
        assert _unset(report) == {
            "HOOK_A": "for a, which uses the value written in the file"
        }
        assert TOKEN not in _text(report)

    def test_unneeded_fallback_is_not_reported(self) -> None:
        """An unset fallback behind a set variable is not worth a line."""
        report = _report(
            "version: 1\nchannels:\n  a: ${HOOK_A:-${HOOK_ALL}}\n"
            "routes: [{name: r, to: a}]\n",
            {"HOOK_A": HOOK},
        )

        assert report.channels[0].source == "HOOK_A"
        assert report.unset == ()


class TestBotChannels:
    ROUTING = (
        "version: 1\nchannels:\n"
        "  ops: {id: '123456'}\n"
        "  admin: {id: '${ADMIN_CHANNEL_ID}'}\n"
        "routes: [{name: r, to: ops}]\n"
    )

    def test_with_token(self) -> None:
        """With DISCORD_BOT_TOKEN a bot channel posts to its id."""
        environ = {"DISCORD_BOT_TOKEN": BOT_TOKEN, "ADMIN_CHANNEL_ID": "789"}

        report = _report(self.ROUTING, environ)

        rows = _rows(report)
        assert rows["ops"].kind == BOT_CHANNEL
        assert rows["ops"].destination == "channel 123456"
        assert rows["ops"].source == "the file"
        assert not rows["ops"].dropped
        assert rows["admin"].destination == "channel 789"
        assert rows["admin"].source == "ADMIN_CHANNEL_ID"
        assert report.unset == ()
        assert report.summary == (
            "0 channels → Discord webhooks, 2 bot channels, 0 console"
        )
        assert BOT_TOKEN not in _text(report)

    def test_without_token(self) -> None:
        """Without DISCORD_BOT_TOKEN its messages are dropped, and said so."""
        report = _report(self.ROUTING, {"ADMIN_CHANNEL_ID": "789"})

        rows = _rows(report)
        assert rows["ops"].dropped
        assert rows["ops"].note == "dropped: no DISCORD_BOT_TOKEN"
        assert _unset(report) == {
            "DISCORD_BOT_TOKEN": "the messages of 2 bot channels are "
            "dropped: ops, admin"
        }
        assert "2 bot channels (2 dropped: no DISCORD_BOT_TOKEN)" in (
            report.summary
        )

    def test_unset_id_is_console(self) -> None:
        """An id from an unset variable leaves the channel on the console."""
        report = _report(self.ROUTING, {"DISCORD_BOT_TOKEN": BOT_TOKEN})

        row = _rows(report)["admin"]
        assert row.kind == CONSOLE
        assert row.source == "not set"
        assert _unset(report) == {
            "ADMIN_CHANNEL_ID": "for admin, which goes to the console (stderr)"
        }

    def test_token_variable_also_looked_up_by_a_channel(self) -> None:
        """Two reasons for one variable make one line."""
        report = _report(
            "version: 1\nchannels:\n"
            "  ops: {id: '123456'}\n  a: ${HOOK_A:-${DISCORD_BOT_TOKEN}}\n"
            "routes: [{name: r, to: ops}]\n",
            {},
        )

        assert _unset(report)["DISCORD_BOT_TOKEN"] == (
            "for a, which goes to the console (stderr); "
            "the messages of 1 bot channel are dropped: ops"
        )


class TestMentions:
    def test_fallback_mention(self) -> None:
        """A mention with a fallback says who is pinged instead."""
        report = _report(
            "version: 1\nchannels: {a: ''}\nroutes:\n"
            "  - {name: r, to: a, mention: '${PING:-here}'}\n"
            "  - {name: s, to: a, mention: 'role:${ROLE}'}\n"
            "  - {name: t, to: a, mention: 'role:${ROLE}'}\n",
            {},
        )

        assert _unset(report) == {
            "PING": "1 route pings @here instead: r",
            "ROLE": "2 routes ping no one: s, t",
        }


class TestEnvReferences:
    def test_recorded_by_key_path(self) -> None:
        """Config records each interpolated value's references."""
        config = _config(
            "version: 1\nchannels:\n  a: ${A:-${B}}\n  b: {id: '${C}'}\n"
            "  c: ''\nroutes: [{name: r, to: a, mention: 'role:${R}'}]\n",
            {"B": HOOK, "R": "5"},
        )

        assert config.env_references == {
            ("channels", "a"): (
                Reference("A", is_set=False, consulted=True, used=False),
                Reference("B", is_set=True, consulted=True, used=True),
            ),
            ("channels", "b", "id"): (
                Reference("C", is_set=False, consulted=True, used=False),
            ),
            ("channels", "c"): (),
            ("routes", 0, "mention"): (
                Reference("R", is_set=True, consulted=True, used=True),
            ),
        }

    @pytest.mark.parametrize(
        "environ",
        [
            pytest.param({}, id="nothing-set"),
            pytest.param({"DISCORD_WEBHOOK_URL": HOOK}, id="one-webhook"),
        ],
    )
    @pytest.mark.slow
    def test_references_never_hold_values(
        self, environ: Mapping[str, str]
    ) -> None:
        """The recorded references hold names and flags, never values."""
        config = load_config(SHIPPED_ROUTING, environ)

        assert TOKEN not in repr(config.env_references)
        assert TOKEN not in repr(config)
