"""
The library's own voice: what it has to say about itself, said once.

A warning about delivery (Discord rejected a message, a route chose an
unknown channel, a template failed) is useless if nobody sees it. The
usual home for it, a record on the ``polybot_loghandler`` logger, is
invisible in exactly the set-up this library is made for: an application
whose only handler is a :class:`~polybot_loghandler.DiscordHandler`,
which by design never routes the library's own records (that would loop).

So :func:`warn` logs the record, and when no handler of the application
would show it, also writes it to ``sys.stderr`` itself: one line, once.
An explicit level on the ``polybot_loghandler`` logger is the one way to
silence it, as with any library.

Each warning has a *kind* and a *key*; a key is said once. Keys can come
from events (a templated ``to:`` choosing thousands of unknown channels),
so each kind remembers at most :data:`KEYS_PER_KIND` keys: past that it
says once that it goes quiet, and the drops stay counted in ``stats()``.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import weakref
from collections.abc import Callable

from ._text import redact_text, visible_controls
from ._values import text_of

__all__ = [
    "KEYS_PER_KIND",
    "PREFIX",
    "Diagnostics",
    "described",
    "emit",
    "say",
]

_log = logging.getLogger("polybot_loghandler")

#: Lines written straight to stderr start with this, so a reader of a
#: busy stderr knows who speaks.
PREFIX = "polybot_loghandler: "
#: Distinct keys a kind of warning is said for before it goes quiet.
KEYS_PER_KIND = 20
#: Longer keys are cut: a key is for telling warnings apart, and its
#: text may come from an event.
_KEY_CHARS = 200

_reentry = threading.local()


def described(exc: BaseException) -> str:
    """*exc* for a warning: its type and message, at most 300 characters."""
    text = text_of(exc)[:300]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def say(text: str) -> None:
    """
    Write one line of the library's own to stderr, never raising.

    For what is always said this way (losses at exit, a routing file
    that did not reload): it is meant for whoever runs the process.
    """
    stream = sys.stderr
    if stream is None:  # pythonw, or a daemon that closed it
        return
    try:
        stream.write(f"{PREFIX}{_harmless(text)}\n")
        stream.flush()
    except Exception:  # noqa: S110 - a broken stderr must not break us
        pass


class Diagnostics:
    """
    Warnings said once per key, bounded per kind.

    One per pipeline (and one for the engine inside it), so a process
    with two routing files hears about each.
    """

    def __init__(self) -> None:
        self._told: dict[str, set[str]] = {}
        self._quiet: set[str] = set()
        self._lock = threading.Lock()
        _ALL.add(self)

    def after_fork_in_child(self) -> None:
        """A fresh lock: the parent's may have been held at the fork."""
        self._lock = threading.Lock()

    def warn(
        self,
        key: str,
        text: str,
        level: int = logging.WARNING,
        *,
        emit: Callable[[str, int], None] | None = None,
    ) -> None:
        """
        Say *text* once for *key*: on the logger, and on stderr if needed.

        *key* is ``kind`` or ``kind:detail``; each kind is said for at
        most :data:`KEYS_PER_KIND` details. *emit* replaces :func:`emit`
        (tests).
        """
        kind, _, _detail = key.partition(":")
        key = key[:_KEY_CHARS]
        with self._lock:
            told = self._told.setdefault(kind, set())
            if key in told or kind in self._quiet:
                return
            if len(told) >= KEYS_PER_KIND:
                self._quiet.add(kind)
                text = (
                    f"more warnings like these ({kind}) are not shown; "
                    "the events concerned are counted in stats()"
                )
            else:
                told.add(key)
        (emit or _emit)(text, level)

    def first(self, key: str) -> bool:
        """
        Whether *key* is new (true once per key).

        At most :data:`KEYS_PER_KIND` keys of a kind (``kind:detail``)
        are new; the rest are not, so memory stays bounded.
        """
        kind = key.partition(":")[0]
        key = key[:_KEY_CHARS]
        with self._lock:
            told = self._told.setdefault(f"once:{kind}", set())
            if key in told or len(told) >= KEYS_PER_KIND:
                return False
            told.add(key)
            return True

    def say_once(self, key: str, text: str) -> None:
        """
        Write *text* to stderr once for *key*, without logging it.

        For what is said when logging may already be shut down (events
        after exit) or from the caller's thread, where a log call must
        not log again.
        """
        if self.first(key):
            say(text)


def emit(text: str, level: int = logging.WARNING) -> None:
    """
    Say *text* where a person will see it: once, never raising.

    On the ``polybot_loghandler`` logger when a handler of the
    application shows it; otherwise straight to stderr, with our prefix
    (where logging's last resort would print it bare, too).
    """
    if getattr(_reentry, "active", False):
        say(text)  # a handler of ours warned while handling a warning
        return
    text = _harmless(text)
    _reentry.active = True
    try:
        if _shown(_log, level):
            _log.log(level, "%s", text)
        elif not _silenced(_log, level):
            say(text)
    except Exception:  # a broken handler: stderr still hears it
        say(text)
    finally:
        _reentry.active = False


def _harmless(text: str) -> str:
    """
    *text* fit for a terminal: no token, no control character.

    Warnings quote event-made text (a channel key from a templated
    ``to:``), and Discord's and httpx's error messages.
    """
    return visible_controls(redact_text(text))


def _silenced(logger: logging.Logger, level: int) -> bool:
    """Whether the application set our logger's level above *level*."""
    return logger.level > level or logger.manager.disable >= level


def _shown(logger: logging.Logger, level: int) -> bool:
    """
    Whether a handler of the application would show a record at *level*.

    Follows the same path as ``Logger.callHandlers``. The library's own
    handlers never show its records, and a ``NullHandler`` shows nothing.
    """
    if not logger.isEnabledFor(level):
        return False
    current: logging.Logger | None = logger
    while current is not None:
        for handler in current.handlers:
            if level < handler.level or isinstance(
                handler, logging.NullHandler
            ):
                continue
            if not type(handler).__module__.startswith("polybot_loghandler"):
                return True
        if not current.propagate:
            break
        current = current.parent
    return False


_emit = emit


#: Every Diagnostics, so a forked child gets fresh locks in all of them.
_ALL: weakref.WeakSet[Diagnostics] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for diagnostics in list(_ALL):
        diagnostics.after_fork_in_child()


os.register_at_fork(after_in_child=_after_fork_in_child)
