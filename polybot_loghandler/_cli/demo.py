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
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any

from polybot_loghandler._console import console_tapped
from polybot_loghandler._html.transcript import Transcript
from polybot_loghandler._limits import cuts_recorded
from polybot_loghandler._lookup import shipped_routing
from polybot_loghandler._registry import close_all, pipelines

from .htmlfile import check_writable, write_html
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
    html, rest = _html_option(list(args.demo_args))
    if html is None:
        code = _run(script, rest)
        if {"-h", "--help"} & set(rest):
            print(_HTML_OPTION)
        return code
    check_writable(html)
    transcript = Transcript()
    with cuts_recorded() as cuts, console_tapped(transcript.add):
        code = _run(script, rest)
        # the pipelines' last messages (the digests) go out as they close
        configs = [pipeline.config for pipeline in pipelines()]
        close_all()
    if code == EXIT_OK:
        write_html(html, transcript, configs[0] if configs else None, cuts)
    return code


#: ``demo --help``'s last lines: the option the example does not know.
_HTML_OPTION = "\ncommand options:\n" + textwrap.fill(
    "also write every message to FILE as one HTML page that shows them as "
    "Discord does (self-contained: any browser opens it, offline)",
    width=78,
    initial_indent="  --html FILE      ",
    subsequent_indent=" " * 19,
)


def _html_option(argv: list[str]) -> tuple[str | None, list[str]]:
    """
    ``--html FILE`` taken out of the example's arguments, and the rest.

    The option is this command's own: the example does not know it.
    """
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument("--html", metavar="FILE")
    known, rest = parser.parse_known_args(argv)
    if known.html is not None and "--rush" in rest:
        raise UsageError(
            "--html draws the day's messages; --rush sends to a stand-in "
            "for Discord instead, so there is no page to draw: use one"
        )
    return known.html, rest


def _run(script: Path, argv: list[str]) -> int:
    """Run the example's ``main`` with *argv*; its exit status."""
    example = runpy.run_path(str(script), run_name="trading_floor")
    try:
        # the demo shows the shipped routing, whatever is in the cwd or
        # the environment, unless --routing says otherwise; its help and
        # errors are headed with this command's name
        code = example["main"](
            argv,
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
