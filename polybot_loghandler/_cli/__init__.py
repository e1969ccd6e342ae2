"""
The ``polybot-loghandler`` command, a module for each part.

- :mod:`.command`: :func:`main`: the parser each subcommand adds its own
  to, and the exit status of each error.
- :mod:`.usage`: what every subcommand shares: the routing file it reads,
  usage errors and exit statuses.
- :mod:`.check`: ``check``, a routing file validated, its routes shown.
- :mod:`.envreport`: ``check --env``, where each channel's messages go.
- :mod:`.preview`: ``preview``, what an event would send, and where.
- :mod:`.demo`: ``demo``, the trading floor by the shipped routing.
- :mod:`.setup`: ``setup``, a server's channels and webhooks made through
  Discord's API: the command, what it prints, the file of webhook URLs.
- :mod:`.guild`: what ``setup`` makes in the server, of what is missing.
- :mod:`.botapi`: ``setup``'s requests with the bot token: rate limits,
  retries, and each refusal told as what to do.
- :mod:`.sendtest`: ``send-test``, one sample embed per channel.
- :mod:`.spool`: ``spool status | replay | purge``.

Each subcommand's module adds its parser and runs it.

The console script is ``polybot_loghandler._cli:main``; ``python -m
polybot_loghandler._cli`` runs the same (see :mod:`.__main__`).
"""

from .command import main

__all__ = ["main"]
