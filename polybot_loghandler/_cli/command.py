"""
The ``polybot-loghandler`` command: its parser, and its exit statuses.

Each subcommand adds its own parser and does its own work in its module
(``check``, ``preview``, ``demo``, ``setup``, ``send-test``, ``spool``,
``relay``, ``mute``, ``ask``, ``bot``);
this one puts them together and runs the one asked for.

Errors a person made (a bad routing file, bad JSON) print a located
message and exit with status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from polybot_loghandler._pipeline import _version
from polybot_loghandler.exceptions import ConfigError

from .ask import add_ask_parser
from .bot import add_bot_parser
from .check import add_check_parser
from .demo import add_demo_parser, demo_script, strip_separator
from .mute import add_mute_parsers
from .preview import add_preview_parser
from .relay import add_relay_parser
from .sendtest import add_send_test_parser
from .setup import SetupError, add_setup_parser
from .spool import SpoolUsageError, add_spool_parser
from .usage import EXIT_OK, EXIT_USER_ERROR, UsageError

# demo_script: the packaging tests find the demo through this module
__all__ = ["demo_script", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    """
    Run the command line; returns the exit status.

    .. versionadded:: 0.1.0
    """
    parser = _parser()
    args, extra = parser.parse_known_args(argv)
    if args.command == "demo":
        args.demo_args = strip_separator(extra)  # the example's own options
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        result: int = args.run(args)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return EXIT_USER_ERROR
    except UsageError as exc:
        print(f"polybot-loghandler: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except SetupError as exc:
        print(f"polybot-loghandler setup: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except SpoolUsageError as exc:
        print(f"polybot-loghandler spool: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except BrokenPipeError:
        # the reader went away (e.g. `| head`): stop quietly, like cat
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    return result


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="polybot-loghandler",
        description="Route structured log events to Discord by routing.yaml.",
    )
    parser.add_argument(
        "--version",
        action="version",
        version=f"%(prog)s {_version()}",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    # in this order in --help
    add_check_parser(sub)
    add_preview_parser(sub)
    add_demo_parser(sub)
    add_setup_parser(sub)
    add_send_test_parser(sub)
    add_spool_parser(sub)
    add_relay_parser(sub)
    add_mute_parsers(sub)
    add_ask_parser(sub)
    add_bot_parser(sub)
    return parser
