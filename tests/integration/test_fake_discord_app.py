"""
Tests of the fake Discord's application routes: a bot's user and
application, guild commands, interactions and their callbacks, follow-ups
and ``@original``; with plain ``httpx``, then with discord.py itself.
"""

from __future__ import annotations

import asyncio
import gc
import time
import warnings
from typing import Any

import httpx
import pytest

with warnings.catch_warnings():
    # discord.py imports audioop, which Python 3.11 and 3.12 deprecate
    warnings.filterwarnings(
        "ignore", "'audioop' is deprecated", DeprecationWarning
    )
    discord = pytest.importorskip("discord")

from fakes.discord import FakeDiscord
from fakes.discord_schema import response_errors, schema_errors
from tests.support.helpers import in_a_thread

GUILD = "4000"
CHANNEL = "5000"
USER = "3000"
MENTIONS: dict[str, Any] = {"allowed_mentions": {"parse": []}}
STATUS: dict[str, Any] = {
    "name": "status",
    "description": "Show an agent's status",
    "options": [
        {
            "type": 3,
            "name": "agent",
            "description": "Which agent",
            "required": True,
        }
    ],
}


@pytest.fixture
def http() -> httpx.Client:
    with httpx.Client(timeout=5.0) as client:
        yield client


def bot(fake: FakeDiscord) -> dict[str, str]:
    return {"Authorization": f"Bot {fake.bot_token}"}


def commands_url(fake: FakeDiscord, guild: str = GUILD) -> str:
    return (
        f"{fake.api_base}/applications/{fake.application_id}"
        f"/guilds/{guild}/commands"
    )


def callback_url(fake: FakeDiscord, payload: dict[str, Any]) -> str:
    return (
        f"{fake.api_base}/interactions/{payload['id']}/{payload['token']}"
        "/callback"
    )


def hook_url(fake: FakeDiscord, payload: dict[str, Any]) -> str:
    return f"{fake.api_base}/webhooks/{fake.application_id}/{payload['token']}"


def command(fake: FakeDiscord, **extra: Any) -> dict[str, Any]:
    """A command interaction of /status in the test guild."""
    return fake.interaction(
        guild_id=GUILD,
        channel_id=CHANNEL,
        user_id=USER,
        username="alice",
        name="status",
        options={"agent": "a1"},
        **extra,
    )


def message(content: str, **extra: Any) -> dict[str, Any]:
    """A callback of type 4 whose message keeps to our rules."""
    return {"type": 4, "data": {"content": content, **MENTIONS, **extra}}


class TestBotIdentity:
    def test_the_current_user_needs_the_bot_token(
        self, fake_discord: FakeDiscord, http: httpx.Client
    ) -> None:
        url = f"{fake_discord.api_base}/users/@me"

        missing = http.get(url)
        wrong = http.get(url, headers={"Authorization": "Bot nope"})

        for answer in (missing, wrong):
            assert 401 == answer.status_code
            assert {"message": "401: Unauthorized", "code": 0} == (
                answer.json()
            )

    def test_the_current_user_is_the_bot(
        self, fake_discord: FakeDiscord, http: httpx.Client
    ) -> None:
        answer = http.get(
            f"{fake_discord.api_base}/users/@me", headers=bot(fake_discord)
        )

        user = answer.json()
        assert 200 == answer.status_code
        assert [] == schema_errors(user, "UserPIIResponse")
        assert fake_discord.application_id == user["id"]
        assert user["bot"] is True

    def test_the_current_application(
        self, fake_discord: FakeDiscord, http: httpx.Client
    ) -> None:
        url = f"{fake_discord.api_base}/oauth2/applications/@me"

        refused = http.get(url)
        answer = http.get(url, headers=bot(fake_discord))

        application = answer.json()
        assert 401 == refused.status_code
        assert [] == schema_errors(application, "PrivateApplicationResponse")
        assert fake_discord.application_id == application["id"]
        assert application["owner"]["id"] != application["id"]


class TestGuildCommands:
    def test_without_the_bot_token_401(
        self, fake_discord: FakeDiscord, http: httpx.Client
    ) -> None:
        fake_discord.add_guild(GUILD)

        answer = http.put(commands_url(fake_discord), json=[STATUS])

        assert 401 == answer.status_code
        assert [] == fake_discord.guild_commands(GUILD)

    def test_a_guild_without_the_bot_is_missing_access(
        self, fake_discord: FakeDiscord, http: httpx.Client
    ) -> None:
        answer = http.put(
            commands_url(fake_discord, "4999"),
            json=[STATUS],
            headers=bot(fake_discord),
        )

        assert 403 == answer.status_code
        assert {"code": 50001, "message": "Missing Access"} == answer.json()

    def test_another_applications_commands_are_refused(
        self, fake_discord: FakeDiscord, http: httpx.Client
    ) -> None:
        fake_discord.add_guild(GUILD)
        url = f"{fake_discord.api_base}/applications/9/guilds/{GUILD}/commands"

        answer = http.put(url, json=[STATUS], headers=bot(fake_discord))

        assert 403 == answer.status_code
        assert 20012 == answer.json()["code"]

    @pytest.mark.parametrize(
        ("body", "where", "code"),
        [
            (
                [{**STATUS, "name": "Status"}],
                ("0", "name"),
                "APPLICATION_COMMAND_INVALID_NAME",
            ),
            (
                [{**STATUS, "name": "agent status"}],
                ("0", "name"),
                "APPLICATION_COMMAND_INVALID_NAME",
            ),
            (
                [{**STATUS, "description": "d" * 101}],
                ("0", "description"),
                "BASE_TYPE_MAX_LENGTH",
            ),
            (
                [{**STATUS, "description": ""}],
                ("0", "description"),
                "BASE_TYPE_BAD_LENGTH",
            ),
            (
                [
                    {
                        **STATUS,
                        "options": [
                            {"type": 3, "name": f"o{n}", "description": "d"}
                            for n in range(26)
                        ],
                    }
                ],
                ("0", "options"),
                "BASE_TYPE_MAX_LENGTH",
            ),
            (
                [
                    {
                        **STATUS,
                        "options": [
                            {"type": 3, "name": "Agent", "description": "d"}
                        ],
                    }
                ],
                ("0", "options", "0", "name"),
                "APPLICATION_COMMAND_INVALID_NAME",
            ),
            (
                [STATUS, {**STATUS, "description": "again"}],
                ("1",),
                "APPLICATION_COMMANDS_DUPLICATE_NAME",
            ),
        ],
        ids=[
            "uppercase",
            "space",
            "101-char-description",
            "no-description",
            "26-options",
            "option-name",
            "duplicate",
        ],
    )
    def test_a_command_discord_refuses_is_50035(
        self,
        fake_discord: FakeDiscord,
        http: httpx.Client,
        body: list[dict[str, Any]],
        where: tuple[str, ...],
        code: str,
    ) -> None:
        fake_discord.add_guild(GUILD)

        answer = http.put(
            commands_url(fake_discord), json=body, headers=bot(fake_discord)
        )

        assert 400 == answer.status_code
        assert 50035 == answer.json()["code"]
        node = answer.json()["errors"]
        for key in where:
            node = node[key]
        assert code in [error["code"] for error in node["_errors"]]
        assert [] == fake_discord.guild_commands(GUILD)
        assert 0 == fake_discord.command_puts()

    def test_more_than_100_chat_input_commands_is_30032(
        self, fake_discord: FakeDiscord, http: httpx.Client
    ) -> None:
        fake_discord.add_guild(GUILD)
        body = [{**STATUS, "name": f"status{n}"} for n in range(101)]

        answer = http.put(
            commands_url(fake_discord), json=body, headers=bot(fake_discord)
        )

        assert 400 == answer.status_code
        assert 30032 == answer.json()["code"]

    def test_a_bulk_overwrite_replaces_every_command(
        self, fake_discord: FakeDiscord, http: httpx.Client
    ) -> None:
        fake_discord.add_guild(GUILD)
        first = [STATUS, {"name": "mute", "description": "Mute a route"}]
        second = [STATUS, {"name": "unmute", "description": "Unmute it"}]

        one = http.put(
            commands_url(fake_discord), json=first, headers=bot(fake_discord)
        ).json()
        two = http.put(
            commands_url(fake_discord), json=second, headers=bot(fake_discord)
        ).json()

        registered = fake_discord.guild_commands(GUILD)
        assert ["status", "unmute"] == [c["name"] for c in registered]
        assert two == registered
        assert one[0]["id"] == two[0]["id"]  # the same command, kept
        assert one[1]["id"] != two[1]["id"]
        assert 2 == fake_discord.command_puts(GUILD)
        for answer in two:
            assert [] == schema_errors(answer, "ApplicationCommandResponse")
            assert GUILD == answer["guild_id"]
            assert fake_discord.application_id == answer["application_id"]
        assert STATUS["options"] == two[0]["options"]


class TestInteraction:
    def test_a_command_interaction_names_the_registered_command(
        self, fake_discord: FakeDiscord, http: httpx.Client
    ) -> None:
        fake_discord.add_guild(GUILD)
        registered = http.put(
            commands_url(fake_discord),
            json=[STATUS],
            headers=bot(fake_discord),
        ).json()

        payload = command(fake_discord, role_ids=["6000"])

        assert 2 == payload["type"]
        assert {
            "id": registered[0]["id"],
            "name": "status",
            "type": 1,
            "guild_id": GUILD,
            "options": [{"name": "agent", "type": 3, "value": "a1"}],
        } == payload["data"]
        assert ["6000"] == payload["member"]["roles"]
        assert USER == payload["member"]["user"]["id"]
        assert fake_discord.application_id == payload["application_id"]
        assert CHANNEL == payload["channel"]["id"] == payload["channel_id"]
        assert 1 == payload["version"]
        assert [] == fake_discord.interaction_responses(payload["id"])

    def test_each_interaction_has_its_own_id_and_token(
        self, fake_discord: FakeDiscord
    ) -> None:
        one, two = command(fake_discord), command(fake_discord)

        assert one["id"] != two["id"]
        assert one["token"] != two["token"]

    def test_a_component_needs_its_message(
        self, fake_discord: FakeDiscord
    ) -> None:
        with pytest.raises(ValueError, match="custom_id"):
            fake_discord.interaction(
                guild_id=GUILD,
                channel_id=CHANNEL,
                user_id=USER,
                username="alice",
                kind="component",
            )


class TestCallback:
    def test_an_unknown_interaction_is_10062(
        self, fake_discord: FakeDiscord, http: httpx.Client
    ) -> None:
        payload = command(fake_discord)
        wrong_token = {**payload, "token": "not-its-token"}
        unknown = {**payload, "id": "1"}

        for made in (wrong_token, unknown):
            answer = http.post(
                callback_url(fake_discord, made), json=message("hi")
            )
            assert 404 == answer.status_code
            assert {"code": 10062, "message": "Unknown interaction"} == (
                answer.json()
            )
        assert [] == fake_discord.interaction_responses(payload["id"])

    def test_a_second_callback_is_40060(
        self, fake_discord: FakeDiscord, http: httpx.Client
    ) -> None:
        payload = command(fake_discord)
        url = callback_url(fake_discord, payload)

        first = http.post(url, json=message("first"))
        second = http.post(url, json=message("second"))

        assert 204 == first.status_code
        assert 400 == second.status_code
        assert 40060 == second.json()["code"]
        assert [message("first")] == fake_discord.interaction_responses(
            payload["id"]
        )
        assert "first" == fake_discord.original_response(payload["id"]).content

    def test_an_autocomplete_takes_choices_only(
        self, fake_discord: FakeDiscord, http: httpx.Client
    ) -> None:
        """Type 4 (an option being typed) is answered with type 8 alone."""
        payload = command(fake_discord, kind="autocomplete", focused="agent")
        url = callback_url(fake_discord, payload)
        choices = {
            "type": 8,
            "data": {"choices": [{"name": "a1", "value": "a1"}]},
        }
        too_many = {
            "type": 8,
            "data": {
                "choices": [{"name": f"a{i}", "value": "x"} for i in range(26)]
            },
        }

        assert 4 == payload["type"]
        assert [
            {"name": "agent", "type": 3, "value": "a1", "focused": True}
        ] == (payload["data"]["options"])
        assert 400 == http.post(url, json=message("no")).status_code
        assert 400 == http.post(url, json=too_many).status_code
        assert 204 == http.post(url, json=choices).status_code
        assert [choices] == fake_discord.interaction_responses(payload["id"])

    def test_a_refused_callback_does_not_acknowledge(
        self, fake_discord: FakeDiscord, http: httpx.Client
    ) -> None:
        payload = command(fake_discord)
        url = callback_url(fake_discord, payload)

        too_long = http.post(url, json=message("x" * 2001))
        empty = http.post(url, json={"type": 4, "data": MENTIONS})
        update = http.post(url, json={"type": 7, "data": MENTIONS})
        then = http.post(url, json=message("fine"))

        assert (400, 50035) == (too_long.status_code, too_long.json()["code"])
        assert "data" in too_long.json()["errors"]
        assert (400, 50006) == (empty.status_code, empty.json()["code"])
        assert (400, 50035) == (update.status_code, update.json()["code"])
        assert 204 == then.status_code

    def test_with_response_answers_the_message_and_keeps_it_ephemeral(
        self, fake_discord: FakeDiscord, http: httpx.Client
    ) -> None:
        payload = command(fake_discord)

        answer = http.post(
            callback_url(fake_discord, payload),
            params={"with_response": "true"},
            json=message("only you", flags=64),
        )

        body = answer.json()
        original = fake_discord.original_response(payload["id"])
        assert 200 == answer.status_code
        assert [] == schema_errors(body, "InteractionCallbackResponse")
        assert body["interaction"]["response_message_ephemeral"] is True
        assert original.id == body["interaction"]["response_message_id"]
        assert 64 == body["resource"]["message"]["flags"]
        assert {"content": "only you", "flags": 64} == original.body
        assert CHANNEL == original.channel_id
        assert fake_discord.application_id == original.webhook_id

    @pytest.mark.foreign_payloads
    def test_a_message_without_allowed_mentions_is_taken_and_recorded(
        self, fake_discord: FakeDiscord, http: httpx.Client
    ) -> None:
        payload = command(fake_discord)
        body = {"type": 4, "data": {"content": f"<@{USER}> done"}}

        answer = http.post(callback_url(fake_discord, payload), json=body)

        assert 204 == answer.status_code
        ((recorded, broken),) = fake_discord.rule_violations()
        assert body == recorded
        (line,) = broken
        assert line.startswith("rule: data.allowed_mentions: ")
        # an interaction parses user mentions, as a webhook does
        ((_, pinged),) = fake_discord.pings()
        assert (USER,) == pinged.users

    def test_a_deferred_answer_is_edited_into_the_original(
        self, fake_discord: FakeDiscord, http: httpx.Client
    ) -> None:
        payload = command(fake_discord)

        deferred = http.post(
            callback_url(fake_discord, payload),
            params={"with_response": "1"},
            json={"type": 5, "data": {"flags": 64}},
        )
        edited = http.patch(
            f"{hook_url(fake_discord, payload)}/messages/@original",
            json={"content": "done", **MENTIONS},
        )

        assert deferred.json()["interaction"]["response_message_loading"]
        assert 200 == edited.status_code
        assert [] == response_errors(edited.json())
        original = fake_discord.original_response(payload["id"])
        assert {"content": "done", "flags": 64} == original.body
        assert 1 == original.edit_count


class TestInteractionWebhook:
    def test_before_the_callback_the_webhook_is_unknown(
        self, fake_discord: FakeDiscord, http: httpx.Client
    ) -> None:
        payload = command(fake_discord)

        edit = http.patch(
            f"{hook_url(fake_discord, payload)}/messages/@original",
            json={"content": "too soon", **MENTIONS},
        )
        followup = http.post(
            hook_url(fake_discord, payload), json={"content": "x", **MENTIONS}
        )

        for answer in (edit, followup):
            assert 404 == answer.status_code
            assert 10015 == answer.json()["code"]
        with pytest.raises(KeyError):
            fake_discord.original_response(payload["id"])

    def test_the_original_is_edited_read_and_keeps_its_flags(
        self, fake_discord: FakeDiscord, http: httpx.Client
    ) -> None:
        payload = command(fake_discord)
        http.post(
            callback_url(fake_discord, payload),
            json=message("working", flags=64),
        )
        original = f"{hook_url(fake_discord, payload)}/messages/@original"

        edited = http.patch(
            original,
            json={"embeds": [{"title": "Status"}], **MENTIONS},
        )
        read = http.get(original)

        assert 200 == edited.status_code
        assert [] == response_errors(edited.json())
        assert "working" == read.json()["content"]
        assert [{"type": "rich", "title": "Status"}] == read.json()["embeds"]
        state = fake_discord.original_response(payload["id"])
        assert 64 == state.body["flags"]
        assert [{"title": "Status"}] == state.embeds

    def test_a_followup_is_a_message_of_the_interaction(
        self, fake_discord: FakeDiscord, http: httpx.Client
    ) -> None:
        payload = command(fake_discord)
        http.post(callback_url(fake_discord, payload), json={"type": 5})

        answer = http.post(
            hook_url(fake_discord, payload),
            params={"wait": "true"},
            json={"content": "more", "flags": 64, **MENTIONS},
        )

        (followup,) = fake_discord.followups(payload["id"])
        assert 200 == answer.status_code
        assert [] == response_errors(answer.json())
        assert followup.id == answer.json()["id"]
        assert {"content": "more", "flags": 64} == followup.body
        assert CHANNEL == followup.channel_id
        edited = http.patch(
            f"{hook_url(fake_discord, payload)}/messages/{followup.id}",
            json={"content": "more still", **MENTIONS},
        )
        assert 200 == edited.status_code

    def test_an_expired_token_is_refused(
        self, fake_discord: FakeDiscord, http: httpx.Client
    ) -> None:
        payload = command(fake_discord)
        later = command(fake_discord)
        http.post(callback_url(fake_discord, payload), json=message("hi"))

        fake_discord.expire_interaction(payload["id"])
        fake_discord.expire_interaction(later["id"])
        followup = http.post(
            hook_url(fake_discord, payload), json={"content": "x", **MENTIONS}
        )
        callback = http.post(
            callback_url(fake_discord, later), json=message("late")
        )

        assert (401, 50027) == (followup.status_code, followup.json()["code"])
        assert (404, 10062) == (callback.status_code, callback.json()["code"])

    def test_other_tokens_of_the_application_id_stay_webhooks(
        self, fake_discord: FakeDiscord, http: httpx.Client
    ) -> None:
        url = fake_discord.webhook_url(fake_discord.application_id, "tok-a")

        answer = http.post(url, json={"content": "plain", **MENTIONS})

        assert 204 == answer.status_code
        (posted,) = fake_discord.messages
        assert fake_discord.application_id == posted.webhook_id


class TestComponent:
    def test_an_update_edits_the_components_message(
        self, fake_discord: FakeDiscord, http: httpx.Client
    ) -> None:
        payload = command(fake_discord)
        row = {
            "type": 1,
            "components": [
                {"type": 2, "style": 1, "label": "Ack", "custom_id": "ack"}
            ],
        }
        http.post(
            callback_url(fake_discord, payload),
            json=message("alert", components=[row]),
        )
        original = fake_discord.original_response(payload["id"])

        pressed = fake_discord.interaction(
            guild_id=GUILD,
            channel_id=CHANNEL,
            user_id=USER,
            username="alice",
            kind="component",
            custom_id="ack",
            message_id=original.id,
        )
        answer = http.post(
            callback_url(fake_discord, pressed),
            json={
                "type": 7,
                "data": {"content": "acked", "components": [], **MENTIONS},
            },
        )

        assert 3 == pressed["type"]
        assert {"custom_id": "ack", "component_type": 2} == pressed["data"]
        assert original.id == pressed["message"]["id"]
        assert [] == response_errors(pressed["message"])
        assert (
            "ack"
            == (
                pressed["message"]["components"][0]["components"][0][
                    "custom_id"
                ]
            )
        )
        assert 204 == answer.status_code
        assert "acked" == fake_discord.message(original.id).content
        assert original.id == fake_discord.original_response(pressed["id"]).id


async def _until(check: Any, seconds: float = 5.0) -> None:
    """Poll *check* on the running loop until it holds, or fail."""
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() >= deadline:
            pytest.fail("the fake never saw what discord.py should send")
        await asyncio.sleep(0.01)


def test_discord_py_logs_in_syncs_and_answers(
    fake_discord: FakeDiscord, monkeypatch: pytest.MonkeyPatch
) -> None:
    """
    discord.py 2.7 logs in, syncs a guild command and answers it here.

    Its HTTP client and its webhook adapter both build URLs on
    ``discord.http.Route.BASE``; the command runs as a task on the loop.
    """
    monkeypatch.setattr(discord.http.Route, "BASE", fake_discord.api_base)
    guild = fake_discord.add_guild(GUILD)
    seen: list[str] = []

    async def main() -> dict[str, Any]:
        client = discord.Client(
            intents=discord.Intents.none(),
            allowed_mentions=discord.AllowedMentions.none(),
        )
        tree = discord.app_commands.CommandTree(client)

        @tree.command(
            name="status",
            description="Show an agent's status",
            guild=discord.Object(id=int(guild)),
        )
        async def status(interaction: Any, agent: str) -> None:
            seen.append(agent)
            await interaction.response.send_message(
                f"{agent} is up", ephemeral=True
            )
            await interaction.edit_original_response(content=f"{agent}: ok")
            await interaction.followup.send("and more", ephemeral=True)

        try:
            await client.login(fake_discord.bot_token)
            synced = await tree.sync(guild=discord.Object(id=int(guild)))
            assert ["status"] == [c.name for c in synced]
            payload = command(fake_discord)
            client._connection.parse_interaction_create(payload)
            await _until(lambda: fake_discord.followups(payload["id"]))
        finally:
            await client.close()
        return payload

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # a thread of its own: a browser test may leave a loop running here
        payload = in_a_thread(lambda: asyncio.run(main()))
        gc.collect()

    assert [] == [
        str(w.message) for w in caught if "nclosed" in str(w.message)
    ]
    assert ["a1"] == seen
    assert ["status"] == [
        c["name"] for c in fake_discord.guild_commands(GUILD)
    ]
    (response,) = fake_discord.interaction_responses(payload["id"])
    assert 4 == response["type"]
    assert "a1 is up" == response["data"]["content"]
    original = fake_discord.original_response(payload["id"])
    assert {"content": "a1: ok", "flags": 64} == original.body
    (followup,) = fake_discord.followups(payload["id"])
    assert "and more" == followup.content
    assert 64 == followup.body["flags"]
    assert [] == fake_discord.pings()
    assert [] == fake_discord.rejected
