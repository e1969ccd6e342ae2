"""
``polybot-loghandler mute NAME --for DURATION | --list``, ``unmute NAME``.

A mute holds back what a route, a watch or a digest would send, for a
while, in the processes that are running now: so it is written where
they read it. With the relay on (``delivery.relay``), in Redis, which
the relay reads; else with a spool (``delivery.spool``), in the spool's
database, which every process using that directory reads about once a
second. With neither, a running process has nowhere to read a mute
from, and ``mute`` says so rather than pretend.

What a mute holds back is counted (``dropped.muted``); when it ends, or
``unmute`` ends it early, each process that held something back says
what (see ``_delivery/muting.py``).
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from polybot_loghandler._config.checker import duration_seconds
from polybot_loghandler._config.words import did_you_mean
from polybot_loghandler._format import counted, duration
from polybot_loghandler._model import Config
from polybot_loghandler._redisurl import redacted_url
from polybot_loghandler._relay.connect import (
    RelayUnavailable,
    scrub,
    sync_client,
)
from polybot_loghandler._relay.mutes import RedisMutes
from polybot_loghandler._spool.db import SpoolFormatError
from polybot_loghandler._spool.directory import UntrustedSpoolError
from polybot_loghandler._spool.mutes import SpoolMutes
from polybot_loghandler._text import visible_controls
from polybot_loghandler._watching.mutes import (
    MuteBoard,
    in_force,
    mute_text,
    reason_of,
)
from polybot_loghandler._watching.watching import Mute

from .usage import EXIT_OK, FILE_HELP, UsageError, load_routing, subcommand

if TYPE_CHECKING:
    from .usage import Subcommands

__all__ = ["EXIT_UNREACHABLE", "add_mute_parsers"]

#: Redis did not answer: nothing was muted or read.
EXIT_UNREACHABLE = 1
#: Names a message lists before it says how many there are.
NAMES_SHOWN = 8

_HELP = {
    "mute": "hold back what a route, watch or digest sends, for a while, "
    "in the running processes (needs delivery.spool or delivery.relay)",
    "unmute": "end a mute now",
    "name": "the route's, watch's or digest's name",
    "--for": "how long: 30m, 2h, 1d... (at most 30 days)",
    "--reason": "why, for whoever reads the list and the end of the mute",
    "--list": "list the mutes in force",
}

#: What a mute holds back, by kind.
_HELD = {
    "route": "its messages",
    "watch": "its alerts and recoveries",
    "digest": "its digests",
}


def add_mute_parsers(sub: Subcommands) -> None:
    """Add ``mute`` and ``unmute`` to the command line."""
    mute = subcommand(sub, "mute", _mute, _HELP["mute"])
    mute.add_argument("name", nargs="?", metavar="NAME", help=_HELP["name"])
    mute.add_argument(
        "--for", dest="duration", metavar="DURATION", help=_HELP["--for"]
    )
    mute.add_argument("--reason", metavar="TEXT", help=_HELP["--reason"])
    mute.add_argument("--list", action="store_true", help=_HELP["--list"])
    mute.add_argument("--routing", help=FILE_HELP)
    unmute = subcommand(sub, "unmute", _unmute, _HELP["unmute"])
    unmute.add_argument("name", metavar="NAME", help=_HELP["name"])
    unmute.add_argument("--routing", help=FILE_HELP)


# -- the commands ----------------------------------------------------------


def _mute(args: argparse.Namespace) -> int:
    config = load_routing(args.routing)
    if args.list:
        if args.name or args.duration or args.reason:
            msg = "mute --list takes no NAME, --for or --reason"
            raise UsageError(msg)
        return _with_board(config, lambda board: _list(config, board))
    if not args.name:
        msg = (
            "mute: name the route, watch or digest to mute (mute NAME "
            "--for 30m), or list the mutes with --list"
        )
        raise UsageError(msg)
    kind = _kind(config, args.name)
    if args.duration is None:
        msg = f"mute {args.name}: say for how long, e.g. --for 30m"
        raise UsageError(msg)
    seconds = duration_seconds(args.duration)
    if not seconds:
        msg = (
            f"--for: invalid duration {args.duration!r} (use a number with "
            "s, m, h, d or w, e.g. 30m or 2h; more than 0s, at most 30 days)"
        )
        raise UsageError(msg)

    def mute(board: MuteBoard) -> int:
        now = time.time()
        kept = Mute(now + seconds, reason_of(args.reason or ""))
        board.write(args.name, kept, now)
        print(
            visible_controls(
                f"muted {kind} '{args.name}' for {duration(seconds)}, until "
                f"{_stamp(kept.until)}"
                + (f" ({kept.reason})" if kept.reason else "")
            )
        )
        print(
            f"{_readers(config, board)} hold back {_HELD[kind]}; "
            f"'polybot-loghandler unmute {args.name}' ends it sooner"
        )
        return EXIT_OK

    return _with_board(config, mute)


def _unmute(args: argparse.Namespace) -> int:
    config = load_routing(args.routing)
    name = args.name

    def unmute(board: MuteBoard) -> int:
        now = time.time()
        kept = in_force(board.read(), now).get(name)
        if kept is None:
            print(f"{_kind(config, name)} '{name}' is not muted")
            return EXIT_OK
        # ended now, not deleted: the running processes see it end, and
        # say what it held back
        board.write(name, Mute(now, kept.reason), now)
        kind = _kinds(config).get(name, "name")  # gone from the file?
        print(
            visible_controls(
                f"unmuted {kind} '{name}' (it was muted until "
                f"{_stamp(kept.until)}); {_readers(config, board)} say "
                "what it held back"
            )
        )
        return EXIT_OK

    return _with_board(config, unmute)


def _list(config: Config, board: MuteBoard) -> int:
    now = time.time()
    mutes = in_force(board.read(), now)
    kinds = _kinds(config)
    if not mutes:
        print(f"no mute in force ({board.where})")
        return EXIT_OK
    print(f"{counted(len(mutes), 'mute')} in force ({board.where}):")
    for name, mute in sorted(mutes.items(), key=lambda kv: kv[1].until):
        print(f"  {mute_text(name, mute, now, kinds.get(name, ''))}")
    return EXIT_OK


# -- names -----------------------------------------------------------------


def _kinds(config: Config) -> dict[str, str]:
    """Every name that can be muted, with its kind, in the file's order."""
    kinds = {route.name: "route" for route in config.routes}
    kinds.update((watch.name, "watch") for watch in config.watches)
    kinds.update((digest.name, "digest") for digest in config.digests)
    return kinds


def _kind(config: Config, name: str) -> str:
    """The kind of *name*; a usage error, with a suggestion, if none."""
    kinds = _kinds(config)
    kind = kinds.get(name)
    if kind is not None:
        return kind
    names = list(kinds)
    shown = ", ".join(names[:NAMES_SHOWN])
    if len(names) > NAMES_SHOWN:
        shown += f", … ({len(names)} in all)"
    msg = (
        f"{config.path} has no route, watch or digest named "
        f"{visible_controls(repr(name))}{did_you_mean(name, names)}; "
        + (f"its names: {shown}" if names else "it names none")
    )
    raise UsageError(msg)


# -- where the mutes are ---------------------------------------------------


def _with_board(config: Config, action: Callable[[MuteBoard], int]) -> int:
    """
    Run *action* on where the running processes read mutes.

    Mistakes a person can fix are usage errors (exit 2); a Redis that
    does not answer is said on stderr, and the exit status is 1.
    """
    url = config.delivery.relay
    if url:
        try:
            client = sync_client(url, "polybot_loghandler.mute")
        except RelayUnavailable as exc:
            raise UsageError(str(exc)) from None
        try:
            return action(RedisMutes(client, redacted_url(url)))
        except UsageError:
            raise
        except Exception as exc:  # redis-py's errors: Redis is away
            print(
                f"polybot-loghandler mute: cannot reach Redis at "
                f"{redacted_url(url)} ({scrub(str(exc), url)}); nothing "
                "was changed",
                file=sys.stderr,
            )
            return EXIT_UNREACHABLE
        finally:
            client.close()
    if config.delivery.spool is None:
        msg = (
            f"{config.path} sets neither delivery.spool nor delivery.relay, "
            "so a running process has nowhere to read a mute from: set "
            "delivery.spool (the processes of this host read mutes from "
            "the spool directory) or delivery.relay (the relay reads them "
            "from Redis)"
        )
        raise UsageError(msg)
    board = SpoolMutes(Path(config.delivery.spool))
    try:
        status = action(board)
    except (UntrustedSpoolError, SpoolFormatError) as exc:
        msg = f"{board.directory} is not used as a spool: {exc}"
        raise UsageError(msg) from None
    except (OSError, sqlite3.Error) as exc:
        msg = f"cannot use the spool {board.directory}: {exc}"
        raise UsageError(msg) from None
    if board.warning is not None:
        print(f"polybot-loghandler mute: {board.warning}", file=sys.stderr)
    return status


def _readers(config: Config, board: MuteBoard) -> str:
    """Who reads the mutes, as the subject of a sentence."""
    if config.delivery.relay:
        return "the relay and its standbys"
    return f"the processes that use {board.where}"


def _stamp(when: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(when))
