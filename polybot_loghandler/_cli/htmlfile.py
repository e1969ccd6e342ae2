"""
``--html FILE``: what ``preview`` and ``demo`` showed, as one HTML page.

The page is drawn by :mod:`polybot_loghandler._html`; this module checks
the file can be written before any work is done, writes it, and says in
one line what it holds.
"""

from __future__ import annotations

import sys
from collections.abc import Set as AbstractSet
from pathlib import Path

from polybot_loghandler._format import counted
from polybot_loghandler._html.page import page_html
from polybot_loghandler._html.transcript import Transcript
from polybot_loghandler._model import Config

from .guild import WEBHOOK_NAME
from .usage import UsageError

__all__ = ["HTML_HELP", "check_writable", "write_html"]

#: What ``--html`` takes.
HTML_HELP = (
    "also write the messages to FILE as one HTML page that shows them as "
    "Discord does (self-contained: open it in any browser, offline)"
)


def check_writable(path: str) -> None:
    """
    Refuse a *path* whose folder is missing, or that is a folder.

    Checked first, so a mistake does not cost a whole run.
    """
    target = Path(path)
    if target.is_dir():
        raise UsageError(f"--html {path}: that is a folder; name a file")
    if not target.absolute().parent.is_dir():
        raise UsageError(
            f"--html {path}: the folder {target.parent} does not exist"
        )


def write_html(
    path: str,
    transcript: Transcript,
    config: Config | None,
    cuts: AbstractSet[str],
) -> None:
    """Write the page of *transcript* to *path*; say what it holds."""
    shown = transcript.shown()
    notes = []
    if transcript.not_kept:
        notes.append(
            f"{counted(transcript.not_kept, 'more message')} not drawn: "
            "a page holds the first "
            f"{counted(len(shown), 'message')}"
        )
    name = Path(config.path).name if config else "polybot_loghandler"
    page = page_html(
        shown,
        config=config,
        cuts=cuts,
        title=f"{name} · preview",
        webhook_name=WEBHOOK_NAME,
        notes=notes,
    )
    try:
        Path(path).write_text(page, encoding="utf-8")
    except OSError as exc:
        raise UsageError(
            f"--html {path}: cannot write it: {exc.strerror or exc}"
        ) from None
    channels = len({item.message.channel for item in shown})
    print(
        f"wrote {path}: {counted(len(shown), 'message')} in "
        f"{counted(channels, 'channel')}",
        file=sys.stderr,
    )
