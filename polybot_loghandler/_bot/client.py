"""
discord.py's side of the bot: commands in, embeds out.

:class:`FloorBot` registers a slash command for each question of
``commands:``, ``/help`` and the control commands, for one server only
(a guild's commands show at once, and nowhere else). With ``bot.prefix``
set it also reads ``!status`` and the rest from messages, which needs
the privileged message-content intent. Every reply is sent with no
mention allowed, whatever it holds.

What a command does is :mod:`.desk`'s to say; this module only carries
it to and from Discord, through one :class:`Talk` per command: a slash
command's interaction, or a message's replies.
"""

from __future__ import annotations

from typing import Any, Literal, Protocol

import discord
from discord import app_commands

from polybot_loghandler._config.commands import HELP_HELP

from .asking import (
    MAX_AGENT,
    OPTIONS,
    Asker,
    Request,
    Step,
    parse_message,
)
from .desk import Desk
from .replies import CONTROL_HELP, confirm_embed

__all__ = ["CONFIRM_WITHIN", "FloorBot", "Talk", "asker_of", "serve"]

#: Seconds ``/switch mode:live`` waits for the asker to confirm.
CONFIRM_WITHIN = 60.0
#: What every message and edit allows to ping: nobody. discord.py adds
#: the client's setting to new messages, not to every edit; we say it.
QUIET = discord.AllowedMentions.none()
#: A new message's text: the embed says it all. Without it, discord.py
#: sends ``"content": null``, which Discord takes, but we send no nulls.
NO_TEXT = ""
#: An agent's name, as the command picker takes it.
Agent = app_commands.Range[str, 1, MAX_AGENT]
#: The most choices Discord shows as one types an option.
MAX_CHOICES = 25
#: What a control command's option says in Discord's command picker.
_DESCRIBE = {
    "agent": "The agent's name, as it logs it",
    "mode": "paper: simulated trades; live: real money",
}


class Talk(Protocol):
    """One command's conversation: a slash command's, or a message's."""

    async def thinking(self) -> None:
        """Show that an answer is coming (a read may take a moment)."""

    async def say(
        self, embed: dict[str, Any], *, private: bool = False
    ) -> None:
        """Post *embed* as the next reply (*private*: the asker's only)."""

    async def update(self, embed: dict[str, Any]) -> None:
        """Replace the last reply posted with *embed*."""

    async def confirm(
        self, embed: dict[str, Any], asker_id: str
    ) -> bool | None:
        """Ask *embed*'s question: yes, no, or ``None`` (no answer)."""


async def serve(desk: Desk, talk: Talk, request: Request) -> None:
    """Do what *request* asks, telling the asker through *talk*."""
    step = desk.decide(request).step
    if step is Step.CONFIRM:
        asked = confirm_embed(request, CONFIRM_WITHIN)
        answer = await talk.confirm(asked, request.asker.id)
        if answer is not True:
            why = (
                "Cancelled."
                if answer is False
                else "No confirmation came in time."
            )
            await talk.say(desk.cancelled(request, why), private=True)
            return
    elif step is not Step.SEND:
        if step is Step.ANSWER:
            await talk.thinking()
        await talk.say(await desk.answer(request), private=step is Step.REFUSE)
        return
    sent = await desk.send(request)
    if isinstance(sent, dict):
        await talk.say(sent, private=True)
        return
    await talk.say(desk.sent_embed(sent))
    await talk.update(await desk.acknowledgements(sent))


def asker_of(user: discord.User | discord.Member) -> Asker:
    """Who typed a command: name, id, and roles by name and id."""
    roles = getattr(user, "roles", ())
    return Asker(
        name=user.name,
        id=str(user.id),
        roles=frozenset(
            {role.name for role in roles} | {str(role.id) for role in roles}
        ),
    )


class FloorBot(discord.Client):
    """
    The bot: slash commands for *guild_id*, and ``!`` forms if asked.

    Args:
        desk: What answers and sends.
        guild_id: The server whose commands these are.
    """

    def __init__(self, desk: Desk, guild_id: int) -> None:
        self.prefix = desk.config.bot.prefix
        intents = discord.Intents.none()
        intents.guilds = True  # the roles, by name, of who asks
        if self.prefix:
            intents.guild_messages = True
            intents.message_content = True
        super().__init__(intents=intents, allowed_mentions=QUIET)
        self.desk = desk
        self.guild = discord.Object(id=guild_id)
        self.tree = app_commands.CommandTree(self)
        for command in _commands(desk):
            self.tree.add_command(command, guild=self.guild)

    async def register(self) -> list[str]:
        """Register the commands for the server; their names."""
        synced = await self.tree.sync(guild=self.guild)
        return [command.name for command in synced]

    async def on_message(self, message: discord.Message) -> None:
        """Answer a ``!`` command typed in the server."""
        if (
            not self.prefix
            or message.author.bot
            or message.guild is None
            or message.guild.id != self.guild.id
        ):
            return
        parsed = parse_message(message.content, self.prefix)
        if parsed is None:
            return
        name, options = parsed
        asker = asker_of(message.author)
        request = Request(name, asker, options, via="prefix")
        await serve(self.desk, _MessageTalk(message), request)


def _commands(desk: Desk) -> list[app_commands.Command[Any, Any, None]]:
    """The slash commands: the questions, ``/help``, then control."""

    def asked(name: str, **options: str) -> Any:
        async def run(interaction: discord.Interaction) -> None:
            request = Request(name, asker_of(interaction.user), options)
            await serve(desk, _SlashTalk(interaction), request)

        return run

    async def pause(interaction: discord.Interaction, agent: Agent) -> None:
        await asked("pause", agent=agent)(interaction)

    async def resume(interaction: discord.Interaction, agent: Agent) -> None:
        await asked("resume", agent=agent)(interaction)

    async def switch(
        interaction: discord.Interaction, mode: Literal["paper", "live"]
    ) -> None:
        await asked("switch", mode=mode)(interaction)

    made: list[app_commands.Command[Any, Any, None]] = [
        app_commands.Command(
            name=c.name, description=c.help, callback=asked(c.name)
        )
        for c in desk.config.commands
    ]
    made.append(
        app_commands.Command(
            name="help",
            description=HELP_HELP,
            callback=asked("help"),
        )
    )

    async def agents(
        _interaction: discord.Interaction, typed: str
    ) -> list[app_commands.Choice[str]]:
        return [
            app_commands.Choice(name=name, value=name)
            for name in await desk.agents()
            if typed.lower() in name.lower()
        ][:MAX_CHOICES]

    for callback in (pause, resume, switch):
        name = callback.__name__
        option = OPTIONS[name]
        described = app_commands.describe(**{option: _DESCRIBE[option]})
        command: app_commands.Command[Any, Any, None] = app_commands.Command(
            name=name,
            description=CONTROL_HELP[name][1],
            callback=described(callback),
        )
        if option == "agent":  # the names the floor knows, as one types
            command.autocomplete("agent")(agents)
        made.append(command)
    return made


class _Confirm(discord.ui.View):
    """Two buttons that only the asker may press."""

    def __init__(self, asker_id: str) -> None:
        super().__init__(timeout=CONFIRM_WITHIN)
        self.asker_id = asker_id
        self.answer: bool | None = None

    async def interaction_check(
        self, interaction: discord.Interaction
    ) -> bool:
        if str(interaction.user.id) == self.asker_id:
            return True
        await interaction.response.send_message(
            "Only the member who asked can answer this.", ephemeral=True
        )
        return False

    @discord.ui.button(
        label="Switch to live", style=discord.ButtonStyle.danger
    )
    async def yes(
        self, interaction: discord.Interaction, _button: discord.ui.Button[Any]
    ) -> None:
        await self._answered(interaction, answer=True)

    @discord.ui.button(label="Cancel", style=discord.ButtonStyle.secondary)
    async def no(
        self, interaction: discord.Interaction, _button: discord.ui.Button[Any]
    ) -> None:
        await self._answered(interaction, answer=False)

    async def _answered(
        self, interaction: discord.Interaction, answer: bool
    ) -> None:
        self.answer = answer
        await interaction.response.edit_message(
            view=None, allowed_mentions=QUIET
        )
        self.stop()


class _SlashTalk:
    """A slash command's replies: its response, then follow-ups."""

    def __init__(self, interaction: discord.Interaction) -> None:
        self.interaction = interaction
        self.last: discord.WebhookMessage | None = None  # None: the response

    async def thinking(self) -> None:
        await self.interaction.response.defer(thinking=True)

    async def say(
        self, embed: dict[str, Any], *, private: bool = False
    ) -> None:
        shown = discord.Embed.from_dict(embed)
        response = self.interaction.response
        if not response.is_done():
            await response.send_message(
                NO_TEXT, embed=shown, ephemeral=private
            )
            return
        if (
            response.type
            is discord.InteractionResponseType.deferred_channel_message
        ):
            await self.interaction.edit_original_response(
                embed=shown, allowed_mentions=QUIET
            )
            return
        self.last = await self.interaction.followup.send(
            embed=shown, ephemeral=private, wait=True, allowed_mentions=QUIET
        )

    async def update(self, embed: dict[str, Any]) -> None:
        shown = discord.Embed.from_dict(embed)
        if self.last is not None:
            await self.last.edit(embed=shown, allowed_mentions=QUIET)
        else:
            await self.interaction.edit_original_response(
                embed=shown, allowed_mentions=QUIET
            )

    async def confirm(
        self, embed: dict[str, Any], asker_id: str
    ) -> bool | None:
        view = _Confirm(asker_id)
        await self.interaction.response.send_message(
            NO_TEXT,
            embed=discord.Embed.from_dict(embed),
            view=view,
            ephemeral=True,
        )
        if await view.wait():  # timed out: take the buttons away
            await self.interaction.edit_original_response(
                view=None, allowed_mentions=QUIET
            )
        return view.answer


class _MessageTalk:
    """A ``!`` command's replies: messages answering the command's."""

    def __init__(self, message: discord.Message) -> None:
        self.message = message
        self.last: discord.Message | None = None

    async def thinking(self) -> None:
        return None  # a read is quick, and typing shows for 10 seconds

    async def say(
        self, embed: dict[str, Any], *, private: bool = False
    ) -> None:
        del private  # a message's reply is seen by all
        self.last = await self.message.reply(
            NO_TEXT, embed=discord.Embed.from_dict(embed), mention_author=False
        )

    async def update(self, embed: dict[str, Any]) -> None:
        if self.last is not None:
            await self.last.edit(
                embed=discord.Embed.from_dict(embed), allowed_mentions=QUIET
            )

    async def confirm(
        self, embed: dict[str, Any], asker_id: str
    ) -> bool | None:
        view = _Confirm(asker_id)
        prompt = await self.message.reply(
            embed=discord.Embed.from_dict(embed),
            view=view,
            mention_author=False,
        )
        if await view.wait():
            await prompt.edit(view=None, allowed_mentions=QUIET)
        return view.answer
