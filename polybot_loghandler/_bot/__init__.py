"""
``polybot-loghandler bot``: the floor's commands, answered in Discord.

- :mod:`.asking`: pure: a command as typed (slash or ``!``), who asked,
  and what the bot is to do with it: answer, refuse, confirm or send.
- :mod:`.replies`: pure: the bot's own embeds (help, refusals, what was
  sent and who acknowledged it), every value made safe.
- :mod:`.desk`: the bot's work, apart from Discord: the state read from
  Redis, control commands appended to the control stream and their
  acknowledgements awaited, every command logged as an event.
- :mod:`.client`: discord.py's client: the slash commands registered for
  the server, the ``!`` forms read from messages, the buttons that
  confirm ``/switch mode:live``. The only module that imports discord.
"""
