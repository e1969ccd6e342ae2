"""
``bot:`` in the routing file: its defaults, what loads, and what is
refused, each problem told with its line and key path.
"""

from __future__ import annotations

import pytest

from polybot_loghandler._config import parse_config
from polybot_loghandler._model import BotSettings, Config
from polybot_loghandler.exceptions import ConfigError

HEAD = """\
version: 1
channels:
  ops: ""
routes:
  - {name: all, match: {}, to: ops}
"""


def _config(tail: str, **environ: str) -> Config:
    return parse_config(HEAD + tail, "routing.yaml", environ=environ)


def _problems(tail: str) -> tuple[str, ...]:
    with pytest.raises(ConfigError) as info:
        _config(tail)
    return info.value.problems


def test_without_the_section_nobody_may_control() -> None:
    settings = _config("").bot
    assert settings == BotSettings()
    assert settings.control_roles == ()
    assert settings.control_stream == "polybot:control"
    assert settings.ack_within == 30.0
    assert settings.prefix is None


def test_every_key() -> None:
    settings = _config(
        "bot:\n"
        "  control_roles: [Floor Operator, 123456789012345678, '${ROLE}']\n"
        "  control_stream: floor:control\n"
        "  ack_within: 2m\n"
        "  prefix: '!'\n",
        ROLE="Risk",
    ).bot
    assert settings.control_roles == (
        "Floor Operator",
        "123456789012345678",
        "Risk",
    )
    assert settings.control_stream == "floor:control"
    assert settings.ack_within == 120.0
    assert settings.prefix == "!"


def test_one_role_may_be_written_alone() -> None:
    assert _config("bot: {control_roles: Ops}\n").bot.control_roles == ("Ops",)


def test_an_empty_section_is_the_defaults() -> None:
    assert _config("bot: {}\n").bot == BotSettings()
    assert _config("bot: {prefix: false}\n").bot.prefix is None


@pytest.mark.parametrize(
    ("tail", "told"),
    [
        (
            "bot: []\n",
            "routing.yaml:6: bot: bot must be a mapping, not a list",
        ),
        (
            "bot: {control_role: [Ops]}\n",
            "routing.yaml:6: bot.control_role: unknown key (did you mean",
        ),
        (
            "bot: {control_roles: ['']}\n",
            "bot.control_roles[0]: a role's name or id must not be empty",
        ),
        (
            "bot: {control_roles: [123456789012345678901234]}\n",
            "bot.control_roles[0]: a role id is a number no larger than",
        ),
        (
            "bot: {control_roles: [{name: Ops}]}\n",
            "bot.control_roles[0]: a role (its name or id) must be a string",
        ),
        (
            "bot: {control_stream: ''}\n",
            "bot.control_stream: control_stream must name a Redis stream",
        ),
        ("bot: {ack_within: soon}\n", "bot.ack_within: invalid duration"),
        ("bot: {ack_within: 20m}\n", "bot.ack_within: ack_within must be"),
        ("bot: {ack_within: 0.5}\n", "bot.ack_within: ack_within must be"),
        ("bot: {prefix: '! '}\n", "bot.prefix: prefix must be 1 to 5"),
        ("bot: {prefix: '@'}\n", "bot.prefix: prefix must be 1 to 5"),
        ("bot: {prefix: ''}\n", "bot.prefix: prefix must be 1 to 5"),
        ("bot: {prefix: 1}\n", "bot.prefix: prefix must be a string"),
    ],
)
def test_each_problem_is_told_where_it_is(tail: str, told: str) -> None:
    problems = _problems(tail)
    assert any(told in problem for problem in problems), problems
    assert all(
        problem.startswith("routing.yaml:6: bot") for problem in problems
    )
