"""
``polybot-loghandler setup``: make a server's channels and webhooks.

They come from the routing file, and are made with the bot token
(:mod:`.guild` says what is made, :mod:`.botapi` how it is asked for).
This module reads the command line and tells what was done, and writes
the webhook URLs to a file only its owner can read.

Only what is missing is created: running it again creates nothing.
Each request has a total deadline (``_discord.REQUEST_DEADLINE``), and
set-up waits on Discord's rate limits only up to their caps
(``_ratelimit.CAPS``): past them, or on a redirect or an answer that is
not Discord's, it stops with a paragraph that says what to do.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from polybot_loghandler import _discord
from polybot_loghandler._format import counted
from polybot_loghandler._pipeline import _version

from .botapi import SetupError
from .guild import SetupResult, run_setup
from .usage import EXIT_OK, FILE_HELP, UsageError, load_routing, subcommand

if TYPE_CHECKING:
    from .usage import Subcommands

__all__ = [
    "SetupError",
    "SetupResult",
    "add_setup_parser",
    "run_setup",
    "snowflake",
    "write_env_file",
]


#: The help of each option of ``setup``.
_HELP = {
    "setup": "create the routing's categories, channels and webhooks in a "
    "server with the bot token from $DISCORD_BOT_TOKEN",
    "--guild": "the server's id (17 to 20 digits: Developer Mode, then "
    "right-click the server → Copy Server ID)",
    "--out": "write DISCORD_WEBHOOK_<KEY>=<url> lines to this file (mode "
    "0600, replaced atomically)",
    "--dry-run": "show what would be created; change nothing",
}


def add_setup_parser(sub: Subcommands) -> None:
    """Add ``setup`` to the command line."""
    setup = subcommand(sub, "setup", _setup, _HELP["setup"])
    server = snowflake("server")
    help_ = _HELP["--guild"]
    setup.add_argument(
        "--guild", required=True, type=server, metavar="ID", help=help_
    )
    setup.add_argument("--routing", help=FILE_HELP)
    setup.add_argument("--out", help=_HELP["--out"])
    dry = _HELP["--dry-run"]
    setup.add_argument("--dry-run", action="store_true", help=dry)


def snowflake(what: str) -> Callable[[str], str]:
    """An option type: a Discord id, else a usage error naming *what*."""

    def parse(value: str) -> str:
        value = value.strip()  # pasted with a space
        problem = _discord.snowflake_problem(value)
        if problem is not None:
            # a short number too: setup is about to act on it, and no
            # server of Discord's has such an id
            shown = repr(value) if len(value) <= 40 else f"{value[:40]!r}…"
            raise argparse.ArgumentTypeError(
                f"{shown} is not the id of a {what}: a Discord id is "
                f"{problem.rule} (with User Settings → Advanced → Developer "
                f"Mode on, right-click the {what} and choose Copy "
                f"{what.title()} ID)"
            )
        return value

    return parse


def _setup(args: argparse.Namespace) -> int:
    config = load_routing(args.routing)
    out = Path(args.out) if args.out else None
    if out is not None and not args.dry_run and not out.parent.is_dir():
        raise UsageError(f"--out: no such directory: {out.parent}")
    result = run_setup(
        config, args.guild, dry_run=args.dry_run, version=_version()
    )
    print(f"server {args.guild}, routing {config.path}:")
    describe(result, print, dry_run=args.dry_run)
    if args.dry_run:
        print("dry run: nothing was changed")
        return EXIT_OK
    lines = env_lines(result.webhooks)
    count = len(result.webhooks)
    if out is not None:
        write_env_file(out, lines)
        print(
            f"wrote {counted(count, 'DISCORD_WEBHOOK_* line')} to {out} "
            "(mode 0600); "
            f"load them with: set -a; . {_shell_path(out)}; set +a"
        )
    else:
        print(
            f"{counted(count, 'webhook URL')} "
            f"{'is' if count == 1 else 'are'} ready. A webhook URL holds a "
            "secret, so none is printed: run again with --out discord.env "
            "to write them as DISCORD_WEBHOOK_<KEY>=<url> lines to a file "
            "only you can read (nothing is created twice), then load them "
            "with: "
            "set -a; . ./discord.env; set +a"
        )
    return EXIT_OK


def _shell_path(path: Path) -> str:
    text = str(path)
    return text if "/" in text else f"./{text}"


def env_lines(webhooks: dict[str, str]) -> str:
    """The ``DISCORD_WEBHOOK_<KEY>=<url>`` lines, in routing order."""
    return "".join(
        f"DISCORD_WEBHOOK_{key.upper()}={url}\n"
        for key, url in webhooks.items()
    )


def write_env_file(path: Path, text: str) -> None:
    """
    Replace *path* with *text* atomically, readable only by its owner.

    The temporary file is made in the same directory (mode 0600 from the
    start), so ``os.replace`` never crosses file systems and no reader
    ever sees half a file or a moment of wider permissions.
    """
    directory = path.parent if str(path.parent) else Path()
    fd, temp = tempfile.mkstemp(
        dir=directory, prefix=f".{path.name}.", suffix=".tmp"
    )
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        Path(temp).chmod(0o600)
        Path(temp).replace(path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def describe(
    result: SetupResult, out: Callable[[str], None], *, dry_run: bool
) -> None:
    """Report what was created, found and left alone."""
    verb = "would create" if dry_run else "created"
    for line in result.created:
        out(f"  {'would ' if dry_run else ''}{line}")
    kinds = ("categories", "channels", "webhooks")
    made = {
        k: sum(
            1
            for line in result.created
            if line.startswith(
                {
                    "categories": "create category",
                    "channels": "create channel",
                    "webhooks": "create the webhook",
                }[k]
            )
        )
        for k in kinds
    }
    one = {
        "categories": "category",
        "channels": "channel",
        "webhooks": "webhook",
    }
    out(
        f"{verb}: "
        + ", ".join(counted(made[k], one[k], k) for k in kinds)
        + "; already there: "
        + ", ".join(counted(result.found.get(k, 0), one[k], k) for k in kinds)
    )
    for text in result.mismatched:
        out(f"note: {text}")
    if result.left_alone:
        out(
            f"left alone: {counted(len(result.left_alone), 'channel')} "
            "the routing "
            f"does not name ({', '.join(result.left_alone[:10])}"
            f"{', ...' if len(result.left_alone) > 10 else ''})"
        )
