"""
The ``polybot-loghandler`` command, a module for each part.

- :mod:`.command`: :func:`main` and the parser; ``check``, ``preview``
  and ``demo``, and what ``setup`` and ``send-test`` print.
- :mod:`.envreport`: ``check --env``, where each channel's messages go.
- :mod:`.setup`: ``setup``, a server's channels and webhooks made through
  Discord's API.
- :mod:`.sendtest`: ``send-test``, one sample embed per channel.
- :mod:`.spool`: ``spool status | replay | purge``, parser and all.

The console script is ``polybot_loghandler._cli:main``; ``python -m
polybot_loghandler._cli`` runs the same (see :mod:`.__main__`).
"""

from .command import main

__all__ = ["main"]
