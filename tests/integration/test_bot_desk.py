"""
The bot's desk against a real ``redis-server``: control commands on the
stream, acknowledgements awaited, and every command logged as an event
the shipped routing sends to ``#bot-commands``.

No Discord here: :class:`Desk` is what the slash commands and the ``!``
forms share (``tests/integration/test_bot.py`` drives it through
discord.py). The agents' answers are appended to the acknowledgements'
stream as the contract says an agent does.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
import redis

from polybot_loghandler import DiscordHandler, load_config, testing
from polybot_loghandler._bot.asking import Asker, Request
from polybot_loghandler._bot.desk import LOGGER, Desk, Sent
from polybot_loghandler._control.wire import Ack, Command, acks_stream
from polybot_loghandler._model import Config
from polybot_loghandler._relay.connect import async_client
from tests.conftest import SHIPPED_ROUTING
from tests.support.helpers import in_a_thread

STREAM = "polybot:control"
ADA = Asker("ada", "111111111111111111", frozenset({"Floor Operator"}))
EVE = Asker("eve", "444444444444444444", frozenset())


@pytest.fixture
def config(redis_url: str) -> Config:
    shipped = load_config(
        SHIPPED_ROUTING, environ={"POLYBOT_REDIS_URL": redis_url}
    )
    # a pause is done when its agent answers; silence takes the whole wait
    quick = replace(shipped.bot, ack_within=5.0)
    return replace(
        shipped, bot=quick, delivery=replace(shipped.delivery, relay=None)
    )


@pytest.fixture
def events(config: Config) -> Iterator[testing.Captured]:
    """What the bot's logger sends, by the shipped routes."""
    handler = DiscordHandler(config)
    log = logging.getLogger(LOGGER)
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        with testing.capture() as sent:
            yield sent
    finally:
        log.removeHandler(handler)
        handler.close()


def _run(config: Config, url: str, work: Any) -> Any:
    async def scenario() -> Any:
        client = async_client(url, "test")
        try:
            return await work(Desk(config, client, url))
        finally:
            await client.aclose()

    return in_a_thread(lambda: asyncio.run(scenario()))


def _entries(url: str, stream: str) -> list[tuple[str, dict[str, str]]]:
    with redis.Redis.from_url(url, decode_responses=True) as client:
        return client.xrange(stream)


def _agent_answers(url: str, *acks: Ack) -> threading.Thread:
    """An agent's answers to the first command on the stream, in order."""

    def answer() -> None:
        with redis.Redis.from_url(url, decode_responses=True) as client:
            read = client.xread({STREAM: "0-0"}, count=1, block=5000)
            command_id = read[0][1][0][0]
            for ack in acks:
                fields = replace(ack, command_id=command_id).fields()
                client.xadd(acks_stream(STREAM), fields)

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    return thread


def test_a_pause_is_sent_once_and_its_acknowledgement_told(
    config: Config, redis_url: str, events: testing.Captured
) -> None:
    request = Request("pause", ADA, {"agent": "Momentum_BTC_v1"})
    agent = _agent_answers(
        redis_url,
        Ack("", "Momentum_BTC_v1", "done"),
        Ack("", "Momentum_BTC_v1", "failed", "a second answer is ignored"),
    )

    async def work(desk: Desk) -> tuple[Any, Any]:
        sent = await desk.send(request)
        assert isinstance(sent, Sent)
        return sent, await desk.acknowledgements(sent)

    sent, embed = _run(config, redis_url, work)
    agent.join(5)

    ((entry_id, fields),) = _entries(redis_url, STREAM)
    assert entry_id == sent.command_id
    command = Command.from_entry(entry_id, fields)
    assert (command.command, command.agent) == ("pause", "Momentum_BTC_v1")
    assert (command.requested_by, command.requested_by_id) == ("ada", ADA.id)
    assert embed["title"] == "⏸️ Paused agent: Momentum\\_BTC\\_v1"
    logged = [(m.route, m.event.fields.get("outcome")) for m in events]
    assert logged == [("bot_command", "sent"), ("control_ack", "acknowledged")]
    assert {m.channel for m in events} == {"bot_commands"}
    assert events[0].embed["title"] == "📨 /pause agent:Momentum\\_BTC\\_v1"


def test_no_answer_in_time_is_told_with_who_was_silent(
    config: Config, redis_url: str, events: testing.Captured
) -> None:
    request = Request("resume", ADA, {"agent": "Volume_ETH_v1"})
    config = replace(config, bot=replace(config.bot, ack_within=1.0))

    async def work(desk: Desk) -> Any:
        sent = await desk.send(request)
        assert isinstance(sent, Sent)
        # another command's answer, and one this version cannot read
        async with desk.redis.pipeline() as pipe:
            pipe.xadd(
                acks_stream(STREAM),
                Ack("9-9", "Volume_ETH_v1", "done").fields(),
            )
            pipe.xadd(
                acks_stream(STREAM), {"v": "2", "command_id": sent.command_id}
            )
            await pipe.execute()
        return await desk.acknowledgements(sent)

    embed = _run(config, redis_url, work)

    assert embed["title"].endswith(": not acknowledged")
    assert "🔇 Volume\\_ETH\\_v1: no answer" in embed["description"]
    ack = events[-1]
    assert ack.route == "control_ack"
    assert ack.event.level == logging.WARNING
    assert ack.event.fields["missing"] == ["Volume_ETH_v1"]


def test_a_refusal_sends_nothing_and_is_logged(
    config: Config, redis_url: str, events: testing.Captured
) -> None:
    request = Request("pause", EVE, {"agent": "Momentum_BTC_v1"})

    embed = _run(config, redis_url, lambda desk: desk.answer(request))

    assert embed["title"].startswith("⛔ /pause")
    assert "needs the role 'Floor Operator'" in embed["description"]
    assert _entries(redis_url, STREAM) == []
    (message,) = events
    assert message.channel == "bot_commands"
    assert message.event.level == logging.WARNING
    assert message.event.fields["outcome"] == "refused"
    assert message.event.fields["user"] == "eve"
    assert message.embed["title"] == "⛔ /pause agent:Momentum\\_BTC\\_v1"


def test_a_question_without_a_state_yet_is_answered_so(
    config: Config, redis_url: str, events: testing.Captured
) -> None:
    embed = _run(config, redis_url, lambda d: d.answer(Request("status", EVE)))

    assert embed["title"] == "❔ No answer yet"
    assert "no state yet" in embed["description"]
    assert events[0].event.fields["outcome"] == "failed"


def test_a_file_without_a_state_says_so(
    config: Config, redis_url: str, events: testing.Captured
) -> None:
    stateless = replace(config, state=None)

    embed = _run(stateless, redis_url, lambda d: d.answer(Request("pnl", EVE)))

    assert embed["description"] == (
        "The routing file has no state: section to answer from."
    )
    assert events[0].event.fields["outcome"] == "failed"


def test_redis_away_is_told_and_nothing_is_claimed(
    config: Config, events: testing.Captured
) -> None:
    url = "redis://:hunter2@127.0.0.1:1/0"
    request = Request("pause", ADA, {"agent": "A"})

    async def work(desk: Desk) -> Any:
        return await desk.send(request)

    refused = _run(config, url, work)

    assert isinstance(refused, dict)
    assert "Redis cannot be reached" in refused["description"]
    assert "not sent" in refused["description"]
    assert "hunter2" not in str(refused)
    assert [m.event.fields["outcome"] for m in events] == ["failed"]
    assert "hunter2" not in str(events[0].payload)
