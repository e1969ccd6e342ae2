"""
What every subcommand shares: the routing file, and usage errors.

Each subcommand reads a routing file, named or found by default. A
:class:`UsageError` is a mistake a person made on the command line; it
is printed as one line and the command exits with
:data:`EXIT_USER_ERROR`, never with a traceback.
"""

from __future__ import annotations

from polybot_loghandler._config import load_config
from polybot_loghandler._lookup import resolve_routing
from polybot_loghandler._model import Config

__all__ = [
    "EXIT_OK",
    "EXIT_USER_ERROR",
    "FILE_HELP",
    "UsageError",
    "load_routing",
]

EXIT_OK = 0
EXIT_USER_ERROR = 2

#: The help of every option that names a routing file.
FILE_HELP = (
    "routing file (default: $POLYBOT_ROUTING, else ./routing.yaml, else "
    "the shipped Polybot routing)"
)


class UsageError(Exception):
    """A mistake in what the user asked for, reported without traceback."""


def load_routing(file: str | None) -> Config:
    """The routing file *file* names, or the one found by default."""
    return load_config(resolve_routing(file))
