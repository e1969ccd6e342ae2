"""
The library's own warnings reach stderr when the application's logging
shows them nowhere else: the set-up this library is made for.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from fakes.discord import FakeDiscord
from tests.support.helpers import routing_yaml, script_environment

pytestmark = pytest.mark.usefixtures("clean_environment")

_APP = """
import logging, logging.config, sys
logging.config.dictConfig({
    "version": 1,
    "handlers": {"discord": {
        "class": "polybot_loghandler.DiscordHandler",
        "routing": sys.argv[1],
    }},
    "root": {"handlers": ["discord"], "level": "INFO"%(console)s},
    %(formatters)s
})
logging.getLogger("app").info("trade_executed")
"""


def _run(routing: Path, *, console: bool) -> str:
    extra = {
        "console": ', "handlers": ["discord", "console"]' if console else "",
        "formatters": "",
    }
    app = _APP % extra
    if console:
        app = app.replace(
            '"handlers": {"discord"',
            '"formatters": {"named": {"format": "%(name)s: %(message)s"}},\n'
            '    "handlers": {"console": {"class": "logging.StreamHandler",'
            ' "formatter": "named"}, "discord"',
        ).replace('"handlers": ["discord"], "level"', '"level"')
    env = script_environment()
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(app), str(routing)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=routing.parent,
        check=True,
    )
    return done.stderr


@pytest.mark.parametrize("console", [False, True], ids=["alone", "console"])
@pytest.mark.slow
def test_a_rejected_message_is_said_once_on_stderr(
    fake_discord: FakeDiscord, tmp_path: Path, console: bool
) -> None:
    """Discord's 400 is said once, with one prefix, however logging is set."""
    fake_discord.fail_with(
        400, body={"code": 50035, "message": "Invalid Form Body"}
    )
    routing = tmp_path / "routing.yaml"
    routing.write_text(
        routing_yaml(
            {"trades": fake_discord.webhook_url("5101", "tok-secret-5101")},
            "- {name: trades, match: {event: trade_executed}, to: trades}",
        ),
        encoding="utf-8",
    )

    err = _run(routing, console=console)

    print(err)
    assert 1 == err.count("Discord rejected a message"), err
    if not console:  # as docs/delivery.md quotes it
        assert re.search(
            r"^polybot_loghandler: Discord rejected a message for "
            r"http\S+/\(redacted\): .*; it is dropped \(rejected\)$",
            err,
            re.MULTILINE,
        ), err
    assert "polybot_loghandler: polybot_loghandler" not in err
    assert "tok-secret-5101" not in err
