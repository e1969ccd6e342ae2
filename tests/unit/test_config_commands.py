"""
``commands:`` in the routing file: what loads, and what is refused, each
problem told with its line and key path.
"""

from __future__ import annotations

import pytest

from polybot_loghandler._config import parse_config
from polybot_loghandler._model import Config
from polybot_loghandler.exceptions import ConfigError

HEAD = """\
version: 1
channels:
  ops: ""
routes:
  - {name: all, match: {}, to: ops}
"""

COMMANDS = """\
commands:
  status:
    help: The floor at a glance
    reply:
      title: "{{ tables.agents | length }} agents"
      color: green
  open-positions:
    help: "  Every open position  "
    reply: {description: "{{ tables.positions | length }} open"}
"""


def _config(tail: str) -> Config:
    return parse_config(HEAD + tail, "routing.yaml", environ={})


def _problems(tail: str) -> tuple[str, ...]:
    with pytest.raises(ConfigError) as info:
        _config(tail)
    return info.value.problems


def test_commands_load_in_file_order() -> None:
    config = _config(COMMANDS)

    assert [c.name for c in config.commands] == ["status", "open-positions"]
    status, positions = config.commands
    assert status.help == "The floor at a glance"
    assert positions.help == "Every open position"  # stripped
    assert status.line == 7
    assert status.reply.title is not None
    assert positions.reply.description is not None


def test_a_file_without_commands_has_none() -> None:
    assert _config("").commands == ()


@pytest.mark.parametrize(
    ("tail", "problem"),
    [
        pytest.param(
            "commands: [status]\n",
            "routing.yaml:6: commands: commands must be a mapping, not a list",
            id="not-a-mapping",
        ),
        pytest.param(
            "commands:\n  Status: {help: x, reply: {title: x}}\n",
            "routing.yaml:7: commands.Status: a command's name is 1 to 32 "
            "lowercase letters, digits, '-' or '_' (as Discord names slash "
            "commands), not 'Status'",
            id="upper-case-name",
        ),
        pytest.param(
            "commands:\n  " + "x" * 33 + ": {help: x, reply: {title: x}}\n",
            "routing.yaml:7: commands." + "x" * 33 + ": a command's name is "
            "1 to 32 lowercase letters, digits, '-' or '_' (as Discord names "
            "slash commands), not '" + "x" * 33 + "'",
            id="name-too-long",
        ),
        pytest.param(
            "commands:\n  pause: {help: x, reply: {title: x}}\n",
            "routing.yaml:7: commands.pause: 'pause' is the library's own "
            "command (built in: help, pause, resume, switch); name yours "
            "otherwise",
            id="built-in",
        ),
        pytest.param(
            "commands:\n  pnl: {reply: {title: x}}\n",
            "routing.yaml:7: commands.pnl: missing required key 'help'",
            id="no-help",
        ),
        pytest.param(
            "commands:\n  pnl: {help: x}\n",
            "routing.yaml:7: commands.pnl: missing required key 'reply'",
            id="no-reply",
        ),
        pytest.param(
            "commands:\n  pnl: {help: x, reply: {title: x}, answer: 1}\n",
            "routing.yaml:7: commands.pnl.answer: unknown key (allowed: "
            "help, reply)",
            id="unknown-key",
        ),
        pytest.param(
            "commands:\n  pnl: {help: '"
            + "h" * 101
            + "', reply: {title: x}}\n",
            "routing.yaml:7: commands.pnl.help: help must be at most 100 "
            "characters (Discord's limit for a command's description), not "
            "101",
            id="help-too-long",
        ),
        pytest.param(
            "commands:\n  pnl: {help: '  ', reply: {title: x}}\n",
            "routing.yaml:7: commands.pnl.help: help must be one line of text",
            id="help-empty",
        ),
        pytest.param(
            'commands:\n  pnl: {help: "a\\nb", reply: {title: x}}\n',
            "routing.yaml:7: commands.pnl.help: help must be one line of text",
            id="help-two-lines",
        ),
        pytest.param(
            "commands:\n  pnl: {help: 3, reply: {title: x}}\n",
            "routing.yaml:7: commands.pnl.help: help must be a line of text, "
            "not a number",
            id="help-not-text",
        ),
        pytest.param(
            "commands:\n  pnl: {help: x, reply: {titel: x}}\n",
            "routing.yaml:7: commands.pnl.reply.titel: unknown key (did you "
            "mean 'title'?) (allowed: title, description, url, color, "
            "fields, footer, author, timestamp)",
            id="reply-is-an-embed",
        ),
        pytest.param(
            "commands:\n  pnl:\n    help: x\n    reply:\n"
            "      title: '{{ tables.agents | length'\n",
            "routing.yaml:10: commands.pnl.reply.title: template error: …",
            id="reply-template",
        ),
        pytest.param(
            "commands:\n  pnl: {help: x, reply: null}\n",
            "routing.yaml:7: commands.pnl.reply: the reply must not be empty",
            id="empty-reply",
        ),
    ],
)
def test_problems_are_told_where_they_are(tail: str, problem: str) -> None:
    problems = _problems(tail)

    if problem.endswith("…"):
        assert problems[0].startswith(problem[:-1])
    else:
        assert problems == (problem,)
