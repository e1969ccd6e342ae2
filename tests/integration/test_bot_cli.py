"""
``polybot-loghandler bot`` as a person runs it, against the loopback
Discord and a real ``redis-server``: the commands registered, and each
mistake a person can make told in one line, never with the token.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import pytest

with warnings.catch_warnings():
    warnings.filterwarnings(
        "ignore", "'audioop' is deprecated", DeprecationWarning
    )
    discord = pytest.importorskip("discord")

from fakes.discord import FakeDiscord
from polybot_loghandler._cli import main
from tests.conftest import SHIPPED_ROUTING
from tests.support.helpers import in_a_thread
from tests.support.hostile import BOT_TOKEN

GUILD = "123456789012345678"
NAMES = "/status, /pnl, /agents, /positions, /help, /pause, /resume, /switch"


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeDiscord:
    # the bot points discord.py at DISCORD_API_BASE: put it back after
    monkeypatch.setattr(discord.http.Route, "BASE", discord.http.Route.BASE)
    with FakeDiscord(bot_token=BOT_TOKEN) as made:
        made.add_guild(GUILD)
        monkeypatch.setenv("DISCORD_API_BASE", made.api_base)
        monkeypatch.setenv("DISCORD_BOT_TOKEN", BOT_TOKEN)
        yield made


@pytest.fixture
def relay_on(monkeypatch: pytest.MonkeyPatch, redis_url: str) -> str:
    monkeypatch.setenv("POLYBOT_REDIS_URL", redis_url)
    return redis_url


def _bot(
    capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str, str]:
    # the command runs an event loop: not in one a browser test left running
    status = in_a_thread(
        lambda: main(["bot", "--routing", str(SHIPPED_ROUTING), *args])
    )
    out, err = capsys.readouterr()
    assert BOT_TOKEN not in out + err
    assert "Traceback" not in err
    return status, out, err


def test_register_registers_the_commands_for_the_server(
    fake: FakeDiscord, relay_on: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = _bot(capsys, "--guild", GUILD, "--register")

    assert (status, out) == (0, "")
    assert err.endswith(
        f"polybot-loghandler bot: 8 commands registered for server {GUILD}: "
        f"{NAMES}\n"
    )
    assert [c["name"] for c in fake.guild_commands(GUILD)] == [
        name.lstrip("/") for name in NAMES.split(", ")
    ]
    pause = next(c for c in fake.guild_commands(GUILD) if c["name"] == "pause")
    (agent,) = pause["options"]
    assert agent["name"] == "agent"
    assert (agent["required"], agent["max_length"], agent["autocomplete"]) == (
        True,
        100,
        True,
    )


def test_a_token_discord_refuses_is_one_line(
    fake: FakeDiscord,
    relay_on: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DISCORD_BOT_TOKEN", BOT_TOKEN[::-1])

    status, _, err = _bot(capsys, "--guild", GUILD, "--register")

    assert status == 2
    assert err == (
        "polybot-loghandler bot: Discord refused the token in "
        "DISCORD_BOT_TOKEN (401): copy it again from the Developer Portal "
        "(Application → Bot → Reset Token).\n"
    )
    assert BOT_TOKEN[::-1] not in err


def test_a_server_without_the_bot_is_one_line(
    fake: FakeDiscord, relay_on: str, capsys: pytest.CaptureFixture[str]
) -> None:
    other = "987654321098765432"

    status, _, err = _bot(capsys, "--guild", other, "--register")

    assert status == 2
    assert err.startswith(
        f"polybot-loghandler bot: Discord refused the bot in server {other} "
        "(403 50001, Missing Access): invite the bot to the server with the "
        "applications.commands scope"
    )
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    ("unset", "told"),
    [
        ("DISCORD_BOT_TOKEN", "DISCORD_BOT_TOKEN is not set."),
        (
            "POLYBOT_REDIS_URL",
            (
                "the bot reads the floor's state and sends control commands "
                "through Redis, and delivery.relay is not set in"
            ),
        ),
    ],
)
def test_what_it_needs_is_asked_for(  # noqa: PLR0917
    fake: FakeDiscord,
    relay_on: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    unset: str,
    told: str,
) -> None:
    monkeypatch.delenv(unset)

    status, _, err = _bot(capsys, "--guild", GUILD)

    assert status == 2
    assert err.startswith(f"polybot-loghandler: {told}")
    assert fake.command_puts() == 0


def test_without_discord_py_it_says_what_to_install(
    fake: FakeDiscord,
    relay_on: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "discord", None)

    status, _, err = _bot(capsys, "--guild", GUILD)

    assert status == 2
    assert err == (
        "polybot-loghandler: the bot needs discord.py: "
        "pip install 'polybot-loghandler[bot]'\n"
    )


def test_redis_away_at_the_start_is_one_line(
    fake: FakeDiscord,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("POLYBOT_REDIS_URL", "redis://:hunter2@127.0.0.1:1/0")

    status, _, err = _bot(capsys, "--guild", GUILD)

    assert status == 1
    assert err.startswith(
        "polybot-loghandler bot: cannot reach Redis at "
        "redis://***@127.0.0.1:1/0"
    )
    assert "hunter2" not in err
    assert fake.command_puts() == 0


def test_a_guild_that_is_not_an_id_is_a_usage_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as info:
        main(["bot", "--guild", "polybot"])
    assert info.value.code == 2
    assert "is not the id of a server" in capsys.readouterr().err


def test_the_routing_files_commands_are_registered(
    fake: FakeDiscord,
    relay_on: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """--routing FILE: its commands are the ones registered."""
    made = tmp_path / "routing.yaml"
    made.write_text(
        "version: 1\nchannels: {ops: ''}\nroutes: []\n"
        "delivery: {relay: '${POLYBOT_REDIS_URL}'}\n"
        "commands:\n  uptime:\n    help: How long\n"
        "    reply: {title: up}\n",
        encoding="utf-8",
    )
    status = in_a_thread(
        lambda: main(
            ["bot", "--routing", str(made), "--guild", GUILD, "--register"]
        )
    )
    assert status == 0
    assert [c["name"] for c in fake.guild_commands(GUILD)] == [
        "uptime", "help", "pause", "resume", "switch",
    ]  # fmt: skip
