"""
The bot, driven through discord.py against the loopback Discord, with a
real ``redis-server``, a real relay and a real agent listening.

There is no gateway here: the bot logs in and registers its commands
over HTTP, then discord.py's own parsers are handed the events a gateway
would send (the server with its roles, each interaction, each message),
and discord.py answers over HTTP, where the fake checks every body
against Discord's schema and limits. What the bot logs goes through the
relay to ``#bot-commands``, as the shipped routing sends it.

The floor is test_ask_relay.py's: three agents start, trade, open two
positions and close one, and one goes quiet.
"""

from __future__ import annotations

import asyncio
import logging
import time
import warnings
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml

with warnings.catch_warnings():
    warnings.filterwarnings(
        "ignore", "'audioop' is deprecated", DeprecationWarning
    )
    discord = pytest.importorskip("discord")

from fakes.discord import FakeDiscord
from polybot_loghandler import DiscordHandler, control, load_config
from polybot_loghandler._bot import client as bot_client
from polybot_loghandler._bot.client import FloorBot
from polybot_loghandler._bot.desk import LOGGER, Desk
from polybot_loghandler._control.wire import Command
from polybot_loghandler._model import Config
from polybot_loghandler._relay.connect import async_client
from polybot_loghandler._relay.relay import Relay
from tests.conftest import SHIPPED_ROUTING
from tests.integration.test_ask_relay import AGENTS, scripted_floor
from tests.integration.test_ask_relay import routing as floor_routing
from tests.support.gateway import guild_create, message_create, role
from tests.support.helpers import in_a_thread, producer, running_relay

pytestmark = pytest.mark.slow

GUILD = "123456789012345678"
CHANNEL = "234567890123456789"
OPERATOR = "345678901234567890"  # the role "Floor Operator"
ADA = ("111111111111111111", "ada", (OPERATOR,))
EVE = ("444444444444444444", "eve", ())
STREAM = "polybot:control"
WAIT = 15.0

Who = tuple[str, str, tuple[str, ...]]


def routing(fake: FakeDiscord, redis_url: str, ack_within: float) -> str:
    """The floor's routing, with the shipped bot routes and a bot: section."""
    own = yaml.safe_load(
        floor_routing(fake.webhook_url("4001", "tok-t"), redis_url)
    )
    shipped = yaml.safe_load(SHIPPED_ROUTING.read_text(encoding="utf-8"))
    own["channels"]["bot_commands"] = {
        "webhook": fake.webhook_url("4002", "tok-b")
    }
    own["routes"] += [
        r
        for r in shipped["routes"]
        if r["name"] in ("bot_command", "control_ack")
    ]
    own["bot"] = {
        "control_roles": ["Floor Operator"],
        "ack_within": ack_within,
    }
    return yaml.safe_dump(own, allow_unicode=True, sort_keys=False)


@pytest.fixture
def fake() -> Iterator[FakeDiscord]:
    with FakeDiscord() as made:
        made.add_guild(GUILD)
        yield made


@pytest.fixture
def path(tmp_path: Path, fake: FakeDiscord, redis_url: str) -> Path:
    made = tmp_path / "routing.yaml"
    made.write_text(routing(fake, redis_url, ack_within=5.0), "utf-8")
    return made


@pytest.fixture
def config(path: Path) -> Config:
    return load_config(path)


@pytest.fixture
def relay(config: Config) -> Iterator[Relay]:
    with running_relay(config) as made:
        yield made


@pytest.fixture
def bot_log(config: Config) -> Iterator[DiscordHandler]:
    """The bot's logger, with the handler `polybot-loghandler bot` gives it."""
    handler = DiscordHandler(config)
    log = logging.getLogger(LOGGER)
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    yield handler
    log.removeHandler(handler)
    handler.close()


@pytest.fixture
def obeyed(redis_url: str) -> Iterator[list[Command]]:
    """What the agent Momentum_BTC_v1 heard, through control.listen."""
    heard: list[Command] = []
    with control.listen(heard.append, agent=AGENTS[0], redis_url=redis_url):
        with redis.Redis.from_url(redis_url) as client:
            assert _until_sync(lambda: _has_group(client, AGENTS[0]))
        yield heard


def _has_group(client: redis.Redis, agent: str) -> bool:
    try:
        groups = client.xinfo_groups(STREAM)
    except redis.ResponseError:
        return False
    return any(g["name"] == f"agent:{agent}".encode() for g in groups)


def _until_sync(check: Callable[[], Any], timeout: float = WAIT) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


async def _until(check: Callable[[], Any], timeout: float = WAIT) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)
    return found


class Server:
    """The bot logged in against the fake, and a server to type in."""

    def __init__(self, fake: FakeDiscord, bot: FloorBot) -> None:
        self.fake = fake
        self.bot = bot

    def slash(self, who: Who, name: str, **options: str) -> dict[str, Any]:
        """A member runs ``/name`` with *options*; its interaction."""
        return self._interact(who, name=name, options=options or None)

    def press(self, who: Who, message_id: str, label: str) -> dict[str, Any]:
        """A member presses the button labelled *label* on a message."""
        body = self.fake.message(message_id).body
        (button,) = [
            c
            for row in body["components"]
            for c in row["components"]
            if c["label"] == label
        ]
        return self._interact(
            who,
            kind="component",
            custom_id=button["custom_id"],
            message_id=message_id,
        )

    def typing(
        self, who: Who, name: str, option: str, typed: str
    ) -> dict[str, Any]:
        """A member types *typed* into ``/name``'s *option*."""
        return self._interact(
            who,
            kind="autocomplete",
            name=name,
            options={option: typed},
            focused=option,
        )

    def _interact(self, who: Who, **made: Any) -> dict[str, Any]:
        """An interaction of *who*'s, as the gateway hands it to the bot."""
        user_id, username, roles = who
        payload = self.fake.interaction(
            guild_id=GUILD,
            channel_id=CHANNEL,
            user_id=user_id,
            username=username,
            role_ids=roles,
            **made,
        )
        self.bot._connection.parse_interaction_create(payload)
        return payload

    def say(self, who: Who, content: str) -> None:
        """A member types *content* in the channel."""
        user_id, username, roles = who
        self.bot._connection.parse_message_create(
            message_create(
                guild_id=GUILD,
                channel_id=CHANNEL,
                user_id=user_id,
                username=username,
                role_ids=roles,
                content=content,
            )
        )

    async def answer(self, payload: dict[str, Any]) -> dict[str, Any]:
        """The first answer to an interaction: its callback's body."""
        found = await _until(
            lambda: self.fake.interaction_responses(payload["id"])
        )
        return found[0]

    async def shown(
        self, payload: dict[str, Any], title: str
    ) -> dict[str, Any]:
        """The interaction's original response, once its title is *title*."""

        def now() -> Any:
            try:
                body = self.fake.original_response(payload["id"]).body
            except (KeyError, LookupError):
                return None
            embeds = body.get("embeds") or [{}]
            return body if embeds[0].get("title") == title else None

        return await _until(now)


def run(
    fake: FakeDiscord,
    config: Config,
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
    scenario: Callable[[Server], Awaitable[None]],
    *,
    prefix: str | None = None,
) -> None:
    """Run *scenario* with the bot logged in, then close everything."""
    monkeypatch.setattr(discord.http.Route, "BASE", fake.api_base)
    if prefix:
        config = _with_prefix(config, prefix)

    async def main() -> None:
        client = async_client(redis_url, "test")
        bot = FloorBot(Desk(config, client, redis_url), int(GUILD))
        try:
            await bot.login(fake.bot_token)
            await bot.register()
            roles = [role(OPERATOR, "Floor Operator")]
            bot._connection.parse_guild_create(
                guild_create(GUILD, roles, CHANNEL)
            )
            await scenario(Server(fake, bot))
        finally:
            await bot.close()
            await client.aclose()

    in_a_thread(lambda: asyncio.run(main()))


def _with_prefix(config: Config, prefix: str) -> Config:
    from dataclasses import replace

    return replace(config, bot=replace(config.bot, prefix=prefix))


def _control_entries(redis_url: str) -> list[Command]:
    with redis.Redis.from_url(redis_url) as client:
        return [Command.from_entry(i, f) for i, f in client.xrange(STREAM)]


def _bot_commands(fake: FakeDiscord) -> list[str]:
    """The titles #bot-commands got, in order."""
    return [
        embed["title"]
        for m in fake.messages
        if m.webhook_id == "4002"
        for embed in m.json.get("embeds", [])
    ]


@pytest.mark.usefixtures("relay", "bot_log")
def test_the_floor_asked_and_controlled_in_discord(  # noqa: PLR0917
    fake: FakeDiscord,
    path: Path,
    config: Config,
    obeyed: list[Command],
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """
    The questions are answered from the relay's state, as ``ask`` does;
    a pause from a member without the role is refused and logged; with
    the role it reaches the control stream once, with who asked, and the
    agent's acknowledgement is told.
    """
    with producer(path) as log:
        scripted_floor(log, redis_url)

    async def scenario(server: Server) -> None:
        names = [c["name"] for c in fake.guild_commands(GUILD)]
        assert names == [
            "status", "pnl", "agents", "positions",
            "help", "pause", "resume", "switch",
        ]  # fmt: skip

        status = server.slash(EVE, "status")
        await server.shown(
            status, "🟠 Needs a look. 2 agents running, 1 position open."
        )
        body = fake.original_response(status["id"]).body
        assert (
            "🔇 Volume\\_ETH\\_v1: silent" in body["embeds"][0]["description"]
        )

        pnl = server.slash(EVE, "pnl")
        await server.shown(pnl, "💰 Today: +$1.54")  # to the cent

        positions = server.slash(EVE, "positions")
        await server.shown(positions, "📂 Open positions (1)")
        agents = server.slash(EVE, "agents")
        await server.shown(agents, "🤖 Agents (3)")

        refused = server.slash(EVE, "pause", agent=AGENTS[0])
        answer = await server.answer(refused)
        assert answer["data"]["flags"] == 64  # for eve's eyes only
        assert answer["data"]["embeds"][0]["description"] == (
            "/pause needs the role 'Floor Operator', and you do not have it."
        )
        assert _control_entries(redis_url) == []

        offered = await server.answer(server.typing(ADA, "pause", "agent", ""))
        assert offered["type"] == 8
        assert [c["value"] for c in offered["data"]["choices"]] == sorted(
            AGENTS
        )
        typed = await server.answer(
            server.typing(ADA, "pause", "agent", "vol")
        )
        assert [c["value"] for c in typed["data"]["choices"]] == [AGENTS[2]]

        typo = server.slash(ADA, "pause", agent="Momentum_BTC_v2")
        answer = await server.answer(typo)
        assert answer["data"]["flags"] == 64
        assert answer["data"]["embeds"][0]["description"] == (
            "The floor knows no agent Momentum\\_BTC\\_v2 (did you mean "
            "'Momentum\\_BTC\\_v1'?): /agents lists them."
        )
        assert _control_entries(redis_url) == []

        paused = server.slash(ADA, "pause", agent=AGENTS[0])
        sent = await server.answer(paused)
        assert sent["data"]["embeds"][0]["title"] == (
            "📨 /pause agent:Momentum\\_BTC\\_v1: sent"
        )
        await server.shown(paused, "⏸️ Paused agent: Momentum\\_BTC\\_v1")

    run(fake, config, redis_url, monkeypatch, scenario)

    (command,) = _control_entries(redis_url)
    assert (command.command, command.agent) == ("pause", AGENTS[0])
    assert (command.requested_by, command.requested_by_id) == ADA[1::-1]
    assert command.via == "slash"
    assert [c.id for c in obeyed] == [command.id]

    assert _until_sync(lambda: len(_bot_commands(fake)) >= 8)
    # a warning (the refusal) is sent ahead of what waits at info
    assert sorted(_bot_commands(fake)) == sorted([
        "💬 /status", "💬 /pnl", "💬 /positions", "💬 /agents",
        "⛔ /pause agent:Momentum\\_BTC\\_v1",
        "⛔ /pause agent:Momentum\\_BTC\\_v2",
        "📨 /pause agent:Momentum\\_BTC\\_v1",
        "✅ /pause agent:Momentum\\_BTC\\_v1: obeyed",
    ])  # fmt: skip
    assert fake.rejected == []


@pytest.mark.usefixtures("bot_log")
def test_switching_to_live_is_confirmed_by_who_asked(
    fake: FakeDiscord,
    config: Config,
    obeyed: list[Command],
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def scenario(server: Server) -> None:
        asked = server.slash(ADA, "switch", mode="live")
        prompt = await server.answer(asked)
        assert prompt["data"]["flags"] == 64
        assert prompt["data"]["embeds"][0]["title"] == (
            "⚠️ Switch every agent to live trading?"
        )
        assert _control_entries(redis_url) == []
        original = fake.original_response(asked["id"])

        other = server.press(EVE, original.id, "Switch to live")
        told = await server.answer(other)
        assert told["data"]["content"] == (
            "Only the member who asked can answer this."
        )
        assert _control_entries(redis_url) == []

        server.press(ADA, original.id, "Switch to live")
        await _until(lambda: _control_entries(redis_url))
        await _until(lambda: obeyed)

    run(fake, config, redis_url, monkeypatch, scenario)

    (command,) = _control_entries(redis_url)
    assert (command.command, command.agent, command.mode) == (
        "switch",
        "",
        "live",
    )
    assert command.requested_by == "ada"
    assert [c.id for c in obeyed] == [command.id]


@pytest.mark.usefixtures("bot_log")
def test_a_confirmation_not_given_sends_nothing(
    fake: FakeDiscord,
    config: Config,
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(bot_client, "CONFIRM_WITHIN", 0.3)

    async def scenario(server: Server) -> None:
        cancelled = server.slash(ADA, "switch", mode="live")
        await server.answer(cancelled)
        original = fake.original_response(cancelled["id"])
        server.press(ADA, original.id, "Cancel")
        await _until(lambda: fake.followups(cancelled["id"]))

        timed_out = server.slash(ADA, "switch", mode="live")
        await server.answer(timed_out)
        await _until(lambda: fake.followups(timed_out["id"]))

    run(fake, config, redis_url, monkeypatch, scenario)

    assert _control_entries(redis_url) == []


@pytest.mark.usefixtures("bot_log")
def test_the_prefix_forms_are_answered_alike(
    fake: FakeDiscord,
    config: Config,
    obeyed: list[Command],
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def scenario(server: Server) -> None:
        server.say(EVE, "!pause agent Momentum_BTC_v1")
        server.say(EVE, "just chatting")
        server.say(ADA, "!pause agent Momentum_BTC_v1")
        await _until(lambda: obeyed)
        await _until(lambda: len(fake.messages_in(CHANNEL)) >= 2)

    run(fake, config, redis_url, monkeypatch, scenario, prefix="!")

    (command,) = _control_entries(redis_url)
    assert (command.command, command.agent, command.via) == (
        "pause", AGENTS[0], "prefix"
    )  # fmt: skip
    assert [c.id for c in obeyed] == [command.id]
