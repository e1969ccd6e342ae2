"""
What every subcommand shares: the routing file, and usage errors.

Each subcommand reads a routing file, named or found by default. A
:class:`UsageError` is a mistake a person made on the command line; it
is printed as one line and the command exits with
:data:`EXIT_USER_ERROR`, never with a traceback.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeAlias

from polybot_loghandler._config import load_config
from polybot_loghandler._lookup import resolve_routing
from polybot_loghandler._model import Config

__all__ = [
    "EXIT_OK",
    "EXIT_USER_ERROR",
    "FILE_HELP",
    "UsageError",
    "load_routing",
    "subcommand",
]

EXIT_OK = 0
EXIT_USER_ERROR = 2

#: The help of every option that names a routing file.
FILE_HELP = (
    "routing file (default: $POLYBOT_ROUTING, else ./routing.yaml, else "
    "the shipped Polybot routing)"
)


if TYPE_CHECKING:
    #: What each subcommand's module adds its parser to (argparse names
    #: its type only privately).
    _Action = argparse._SubParsersAction  # noqa: SLF001
    Subcommands: TypeAlias = _Action[argparse.ArgumentParser]


def subcommand(
    sub: Subcommands,
    name: str,
    run: Callable[[argparse.Namespace], int],
    summary: str,
    *,
    file: bool = False,
    **options: Any,
) -> argparse.ArgumentParser:
    """
    The parser of subcommand *name*, which *run* runs.

    With *file*, its one argument is a routing file (``args.file``).
    """
    parser = sub.add_parser(name, help=summary, **options)
    parser.set_defaults(run=run)
    if file:
        parser.add_argument("file", nargs="?", help=FILE_HELP)
    return parser


class UsageError(Exception):
    """A mistake in what the user asked for, reported without traceback."""


def load_routing(file: str | None) -> Config:
    """The routing file *file* names, or the one found by default."""
    return load_config(resolve_routing(file))
