"""
``polybot-loghandler spool status | replay | purge``.

The spool keeps messages Discord has not accepted yet (``delivery.spool``
in the routing file). These commands look into it, send what it holds
now, or empty it.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from polybot_loghandler._format import counted, duration
from polybot_loghandler._model import Config
from polybot_loghandler._pipeline import Pipeline
from polybot_loghandler._spool.directory import (
    UntrustedSpoolError,
    check_directory,
    trusted_file,
)
from polybot_loghandler._spool.status import SpoolStatus, purge, status
from polybot_loghandler._spool.store import DATABASE, SpoolFormatError
from polybot_loghandler._watching.mutes import in_force, mute_text

from .usage import FILE_HELP, load_routing, subcommand

if TYPE_CHECKING:
    from .usage import Subcommands

__all__ = ["SpoolUsageError", "add_spool_parser"]

#: Seconds ``spool replay`` waits for Discord by default.
REPLAY_TIMEOUT = 120.0


class SpoolUsageError(Exception):
    """A spool command that cannot run as asked (exit status 2)."""


#: The help of ``spool``, its actions and their options.
_HELP = {
    "spool": "look into the spool of undelivered messages, send it now, "
    "or empty it",
    "status": "messages waiting, per channel; oldest; size",
    "replay": "send what the spool holds now, then exit",
    "purge": "delete the undelivered messages (those of running processes "
    "are kept)",
    "--spool": "the spool directory (default: the routing file's "
    "delivery.spool)",
    "--timeout": f"seconds to wait for Discord (default {REPLAY_TIMEOUT:g})",
    "--yes": "do not ask for confirmation",
}


def add_spool_parser(sub: Subcommands) -> None:
    """Add ``spool`` and its three actions to the command line."""
    spool = sub.add_parser("spool", help=_HELP["spool"])
    actions = spool.add_subparsers(dest="action", required=True)
    runs = {"status": _status, "replay": _replay, "purge": _purge}
    parsers = {}
    for name, run in runs.items():
        parser = subcommand(actions, name, run, _HELP[name])
        parser.add_argument("--spool", metavar="DIR", help=_HELP["--spool"])
        parser.add_argument("--routing", help=FILE_HELP)
        parsers[name] = parser
    parsers["replay"].add_argument(
        "--timeout",
        type=float,
        default=REPLAY_TIMEOUT,
        help=_HELP["--timeout"],
    )
    yes = _HELP["--yes"]
    parsers["purge"].add_argument("--yes", action="store_true", help=yes)


def _where(args: argparse.Namespace) -> tuple[Path, Config]:
    """The spool directory and the routing; a usage error if there is none."""
    config = load_routing(args.routing)
    if args.spool:
        directory, named = Path(args.spool), "--spool"
    elif config.delivery.spool is None:
        msg = (
            f"{config.path} sets no delivery.spool (or it is off): pass "
            "--spool DIR, or set it in the routing file"
        )
        raise SpoolUsageError(msg)
    else:
        directory = Path(config.delivery.spool)
        named = f"delivery.spool in {config.path}"
    if not directory.exists():
        msg = (
            f"{directory} ({named}) does not exist: check the path; a "
            "spool directory is made by the first process that keeps a "
            "message in it"
        )
        raise SpoolUsageError(msg)
    if not directory.is_dir():
        msg = f"{directory} ({named}) is not a directory"
        raise SpoolUsageError(msg)
    return directory, config


def _refusal(directory: Path) -> str | None:
    """Why the library would not use *directory*, if it would not."""
    if not directory.is_dir():
        return None  # nothing in it yet: it is created safely
    try:
        check_directory(directory)
        database = directory / DATABASE
        if database.exists() and not trusted_file(database.lstat()):
            return (
                f"{directory} is not used as a spool: {database} belongs "
                "to another user, or others may write it (remove it, or "
                "fix its owner and mode)"
            )
    except (OSError, UntrustedSpoolError) as exc:
        return f"{directory} is not used as a spool: {exc}"
    return None


def _trusted(directory: Path) -> None:
    """Raise a usage error if the library would not use *directory*."""
    refused = _refusal(directory)
    if refused is not None:
        raise SpoolUsageError(refused)


def _look(directory: Path) -> SpoolStatus:
    """What *directory* holds; a usage error if it cannot be read."""
    try:
        return status(directory)
    except SpoolFormatError as exc:
        raise SpoolUsageError(str(exc)) from None


# -- status -----------------------------------------------------------------


def _status(args: argparse.Namespace) -> int:
    directory, _ = _where(args)
    print(describe(_look(directory)))
    refused = _refusal(directory)
    if refused is not None:
        print(refused)
        return 1
    return 0


def describe(found: SpoolStatus) -> str:
    """*found* as a person reads it (with the mutes in force, if any)."""
    muted = _muted(found)
    ignored = []
    if found.untrusted:
        ignored.append(
            f"{counted(found.untrusted, 'file')} of another user, or that "
            f"others may write, {'is' if found.untrusted == 1 else 'are'} "
            "ignored"
        )
    if found.legacy:
        ignored.insert(
            0,
            f"{counted(found.legacy, 'file')} of the old spool format: the "
            "next process that opens the spool moves their messages in",
        )
    total = sum(found.pending.values())
    if not total:
        empty = [] if found.legacy else [f"{found.directory}: empty"]
        return "\n".join([*empty, *ignored, *muted])
    held = (
        f", {found.held:,} held by "
        f"{counted(found.processes, 'running process', 'running processes')}"
        if found.held
        else ""
    )
    head = (
        f"{found.directory}: {counted(total, 'message')} waiting{held}, "
        f"{_size(found.bytes)}"
    )
    lines = [head]
    if found.pending:
        lines.append("  waiting  channel")
        lines += [
            f"  {n:>7}  {key}"
            for key, n in sorted(
                found.pending.items(), key=lambda kv: (-kv[1], kv[0])
            )
        ]
    if found.oldest is not None:
        stamp = datetime.fromtimestamp(found.oldest, tz=timezone.utc)
        age = max(0.0, time.time() - found.oldest)
        lines.append(
            f"oldest: {duration(age)} ago ({stamp:%Y-%m-%d %H:%M:%S} UTC)"
        )
    return "\n".join(lines + ignored + muted)


def _muted(found: SpoolStatus) -> list[str]:
    """The mutes in force, a line each (none: no line at all)."""
    mutes = in_force(found.mutes, found.now)
    if not mutes:
        return []
    return [f"{counted(len(mutes), 'mute')} in force:"] + [
        f"  {mute_text(name, mute, found.now)}"
        for name, mute in sorted(mutes.items(), key=lambda kv: kv[1].until)
    ]


def _size(n: int) -> str:
    if n < 1000:
        return counted(n, "byte")
    if n < 1_000_000:
        return f"{n / 1000:.1f} kB"
    return f"{n / 1_000_000:.1f} MB"


# -- replay -----------------------------------------------------------------


def _replay(args: argparse.Namespace) -> int:
    found = _to_act_on(args, "nothing to send")
    if found is None:
        return 0
    directory, config, _ = found
    config = dataclasses.replace(
        config,
        delivery=dataclasses.replace(
            config.delivery, spool=str(directory), reload_every=None
        ),
        # the application's processes watch; replay only sends, and
        # leaves their state in the spool alone
        watches=(),
        digests=(),
    )
    pipeline = Pipeline(config)
    pipeline.start()
    delivered = _drain(pipeline, args.timeout, time.monotonic)
    pipeline.close(timeout=5.0)
    after = _look(directory)
    left = sum(after.pending.values())
    print(
        f"{directory}: {counted(delivered, 'event')} delivered, "
        f"{left:,} still waiting"
    )
    _tell_held(after, (", which sends it itself", ", which sends them itself"))
    return 0 if left <= after.held else 1


def _drain(
    pipeline: Pipeline, timeout: float, clock: Callable[[], float]
) -> int:
    deadline = clock() + timeout
    while clock() < deadline:
        pipeline.flush(timeout=min(1.0, max(0.0, deadline - clock())))
        stats = pipeline.stats()
        if not stats.get("spool.pending") and not stats["pending"]:
            break
        time.sleep(0.05)  # the worker reads the spool back meanwhile
    return pipeline.stats().get("delivered", 0)


# -- purge ------------------------------------------------------------------


def _purge(args: argparse.Namespace) -> int:
    found = _to_act_on(args, "empty")
    if found is None:
        return 0
    directory, _, before = found
    waiting = sum(before.pending.values())
    if not args.yes:
        if not sys.stdin.isatty():
            msg = "purge deletes undelivered messages: confirm with --yes"
            raise SpoolUsageError(msg)
        answer = input(
            f"Delete {counted(waiting, 'undelivered message')} in "
            f"{directory}? [y/N] "
        )
        if answer.strip().lower() not in ("y", "yes"):
            print("nothing deleted")
            return 1
    try:
        removed = purge(directory)
    except (SpoolFormatError, UntrustedSpoolError) as exc:
        raise SpoolUsageError(str(exc)) from None
    print(f"{directory}: {counted(removed, 'message')} deleted")
    _tell_held(_look(directory), (" and was kept", " and were kept"))
    return 0


# -- what replay and purge share -----------------------------------------


def _to_act_on(
    args: argparse.Namespace, nothing: str
) -> tuple[Path, Config, SpoolStatus] | None:
    """
    The spool to send or delete, its routing, and what it holds.

    ``None``, once ``{directory}: {nothing}`` is printed, when it holds
    nothing to act on; a usage error when the library would not use it.
    """
    directory, config = _where(args)
    _trusted(directory)
    found = _look(directory)
    if not sum(found.pending.values()) and not found.legacy:
        print(f"{directory}: {nothing}")
        return None
    return directory, config, found


def _tell_held(found: SpoolStatus, then: tuple[str, str]) -> None:
    """
    Say how many messages a running process holds, and what of them.

    *then* says what becomes of them, said of one and of several: ``1
    message belongs to a running process, which sends it itself``.
    """
    n = found.held
    if n:
        belong = "belongs" if n == 1 else "belong"
        said = then[0] if n == 1 else then[1]
        print(f"{counted(n, 'message')} {belong} to a running process{said}")
