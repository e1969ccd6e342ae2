"""
``polybot-loghandler demo``: the trading floor, by the shipped routing.

The simulated trading floor of ``examples/`` logs through the shipped
routing. Its options are the example's own (``demo --help`` is the
example's help), so they are passed on as they are.
"""

from __future__ import annotations

import argparse
import runpy
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from polybot_loghandler._lookup import shipped_routing

from .usage import EXIT_OK, UsageError, subcommand

if TYPE_CHECKING:
    from .usage import Subcommands

__all__ = ["add_demo_parser", "demo_script", "strip_separator"]


def add_demo_parser(sub: Subcommands) -> None:
    """Add ``demo`` to the command line; its arguments are the example's."""
    summary = (
        "run the simulated trading floor through the shipped routing "
        "(options are the example's: demo --help)"
    )
    # --help is the example's own
    demo = subcommand(sub, "demo", _demo, summary, add_help=False)
    demo.set_defaults(demo_args=[])


def demo_script() -> Path:
    """The trading-floor example: packaged in a wheel, else the repo's."""
    packaged = shipped_routing().parent / "trading_floor.py"
    if packaged.name and packaged.is_file():
        return packaged
    return Path(__file__).parents[2] / "examples" / "trading_floor.py"


def strip_separator(extra: list[str]) -> list[str]:
    """The example's own arguments, without a leading ``--``."""
    return extra[1:] if extra[:1] == ["--"] else extra


def _demo(args: argparse.Namespace) -> int:
    script = demo_script()
    if not script.is_file():
        raise UsageError(f"the demo script is missing: {script}")
    example = runpy.run_path(str(script), run_name="trading_floor")
    try:
        # the demo shows the shipped routing, whatever is in the cwd or
        # the environment, unless --routing says otherwise; its help and
        # errors are headed with this command's name
        code = example["main"](
            list(args.demo_args),
            prog="polybot-loghandler demo",
            routing=str(shipped_routing()),
        )
    except SystemExit as exc:
        return _exit_code(exc.code)
    return _exit_code(code)


def _exit_code(code: Any) -> int:
    if code is None:
        return EXIT_OK
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1
