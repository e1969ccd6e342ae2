"""
The bot's requests: parsed from a message, and decided. Pure.

A table of cases for what the bot does with each request, by the
routing's commands and ``bot.control_roles``, and for the ``!`` forms a
person types, so a slash command and a message are answered alike.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from polybot_loghandler import load_config
from polybot_loghandler._bot.asking import (
    MAX_AGENT,
    Asker,
    Request,
    Step,
    decide,
    parse_message,
)
from polybot_loghandler._model import BotSettings, Config
from tests.conftest import SHIPPED_ROUTING

OPERATOR = Asker("ada", "111111111111111111", frozenset({"Floor Operator"}))
BY_ID = Asker("bob", "222222222222222222", frozenset({"333333333333333333"}))
VISITOR = Asker("eve", "444444444444444444", frozenset({"Viewer"}))


@pytest.fixture(scope="module")
def shipped() -> Config:
    return load_config(SHIPPED_ROUTING)


def _with_roles(config: Config, *roles: str) -> Config:
    return replace(config, bot=replace(config.bot, control_roles=roles))


@pytest.mark.parametrize(
    ("name", "options", "asker", "step", "said"),
    [
        ("help", {}, VISITOR, Step.HELP, ""),
        ("status", {}, VISITOR, Step.ANSWER, ""),
        ("positions", {}, VISITOR, Step.ANSWER, ""),
        ("statsu", {}, VISITOR, Step.REFUSE, "did you mean 'status'"),
        ("launch", {}, OPERATOR, Step.REFUSE, "There is no /launch"),
        ("pause", {"agent": "A"}, OPERATOR, Step.SEND, ""),
        ("resume", {"agent": "A"}, OPERATOR, Step.SEND, ""),
        ("switch", {"mode": "paper"}, OPERATOR, Step.SEND, ""),
        ("switch", {"mode": "live"}, OPERATOR, Step.CONFIRM, ""),
        ("pause", {"agent": "A"}, VISITOR, Step.REFUSE, "needs the role"),
        ("switch", {"mode": "live"}, VISITOR, Step.REFUSE, "needs the role"),
        ("pause", {"agent": ""}, OPERATOR, Step.REFUSE, "needs the agent"),
        ("pause", {}, OPERATOR, Step.REFUSE, "needs the agent"),
        ("pause", {"agent": "  "}, OPERATOR, Step.REFUSE, "needs the agent"),
        ("pause", {"agent": "a\nb"}, OPERATOR, Step.REFUSE, "at most"),
        (
            "pause",
            {"agent": "x" * (MAX_AGENT + 1)},
            OPERATOR,
            Step.REFUSE,
            "at most",
        ),
        ("switch", {"mode": "yolo"}, OPERATOR, Step.REFUSE, "mode:paper"),
        ("switch", {}, OPERATOR, Step.REFUSE, "mode:paper"),
    ],
)
def test_what_the_bot_does(  # noqa: PLR0917 - the table's columns
    shipped: Config,
    name: str,
    options: dict[str, str],
    asker: Asker,
    step: Step,
    said: str,
) -> None:
    decision = decide(shipped, Request(name, asker, options))
    assert decision.step is step
    assert said in decision.reason
    assert bool(decision.reason) is (step is Step.REFUSE)


def test_a_role_may_be_named_by_its_id(shipped: Config) -> None:
    config = _with_roles(shipped, "333333333333333333")
    assert decide(config, Request("pause", BY_ID, {"agent": "A"})).step is (
        Step.SEND
    )
    assert decide(config, Request("pause", OPERATOR, {"agent": "A"})).step is (
        Step.REFUSE
    )


def test_with_no_role_named_nobody_may_control(shipped: Config) -> None:
    config = _with_roles(shipped)
    for asker in (OPERATOR, BY_ID, VISITOR):
        decision = decide(config, Request("pause", asker, {"agent": "A"}))
        assert decision.step is Step.REFUSE
        assert "bot.control_roles" in decision.reason
    # the questions are everyone's still
    assert decide(config, Request("pnl", VISITOR)).step is Step.ANSWER


def test_the_option_is_checked_before_the_role(shipped: Config) -> None:
    """A visitor's typo is told as the typo, not as a missing role."""
    decision = decide(shipped, Request("switch", VISITOR, {"mode": "lve"}))
    assert "mode:paper" in decision.reason


def test_without_commands_only_help_and_control_are_known(
    tmp_path: Path,
) -> None:
    path = tmp_path / "routing.yaml"
    path.write_text("version: 1\nchannels: {a: ''}\nroutes: []\n")
    config = load_config(path)
    assert config.bot == BotSettings()
    assert decide(config, Request("help", VISITOR)).step is Step.HELP
    assert decide(config, Request("status", VISITOR)).step is Step.REFUSE


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("!status", ("status", {})),
        ("!STATUS", ("status", {})),
        ("!pnl please", ("pnl", {})),
        (
            "!pause agent Momentum_BTC_v1",
            ("pause", {"agent": "Momentum_BTC_v1"}),
        ),
        (
            "!pause agent:Momentum_BTC_v1",
            ("pause", {"agent": "Momentum_BTC_v1"}),
        ),
        ("!pause Momentum_BTC_v1", ("pause", {"agent": "Momentum_BTC_v1"})),
        (
            "!pause agent: Momentum_BTC_v1",
            ("pause", {"agent": "Momentum_BTC_v1"}),
        ),
        ("!resume   agent   Vol_ETH  ", ("resume", {"agent": "Vol_ETH"})),
        ("!pause", ("pause", {"agent": ""})),
        ("!switch live", ("switch", {"mode": "live"})),
        ("!switch mode:LIVE", ("switch", {"mode": "live"})),
        ("!switch mode paper", ("switch", {"mode": "paper"})),
        ("!", None),
        ("! status", None),
        ("status", None),
        ("hello !status", None),
        ("!ñame", None),
    ],
)
def test_a_message_reads_as_its_slash_command(
    text: str, parsed: tuple[str, dict[str, str]] | None
) -> None:
    assert parse_message(text, "!") == parsed


def test_another_prefix() -> None:
    assert parse_message("?pnl", "?") == ("pnl", {})
    assert parse_message("!pnl", "?") is None
    assert parse_message("pb!pnl", "pb!") == ("pnl", {})


def test_a_request_reads_as_typed_and_makes_its_command() -> None:
    request = Request("pause", OPERATOR, {"agent": "A"}, via="prefix")
    assert request.text == "/pause agent:A"
    assert Request("status", VISITOR).text == "/status"
    command = request.command(1733489700.5)
    assert (command.command, command.agent, command.mode) == ("pause", "A", "")
    assert command.requested_by == "ada"
    assert command.requested_by_id == OPERATOR.id
    assert command.requested_at == 1733489700.5
    assert command.via == "prefix"
    switch = Request("switch", OPERATOR, {"mode": "live"}).command(1.0)
    assert (switch.agent, switch.mode) == ("", "live")
