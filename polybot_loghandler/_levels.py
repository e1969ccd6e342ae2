"""
Noticing a root logger whose level hides events the routes take.

``logging.getLogger().addHandler(DiscordHandler())`` alone routes nothing
below ``WARNING``, the root logger's default level, and no record says
so. The worker runs :meth:`LevelCheck.check` every second, and the
pipeline once more at close; never in the application's thread.
"""

from __future__ import annotations

import logging
import weakref

from ._diagnostics import Diagnostics, emit
from ._routing import RoutingHolder, is_ignored
from ._stats import Stats

__all__ = ["LevelCheck"]


class LevelCheck:
    """
    Says once if the root logger's level hides events routes take.

    Args:
        routing: The routing in use (its lowest level, its path).
        stats: Where a failure of the check itself is counted.
        diagnostics: Where the warning is remembered as said.
    """

    def __init__(
        self,
        routing: RoutingHolder,
        stats: Stats,
        diagnostics: Diagnostics,
    ) -> None:
        self._routing = routing
        self._stats = stats
        self._diag = diagnostics
        # the handlers of this routing, to find them on the root logger
        self._handlers: weakref.WeakSet[logging.Handler] = weakref.WeakSet()
        self._seen: tuple[int, int, int] | None = None

    def attach(self, handler: logging.Handler) -> None:
        """Know *handler* as one of this routing's."""
        self._handlers.add(handler)

    def check(self) -> None:
        """
        Warn once if the root logger's level is the gap; never raises.

        A handler is not told which loggers it is on, so this catches
        the common case: one of our handlers on the root logger, and no
        logger set lower (whose records would reach it anyway).
        """
        try:
            text = self._gap()
            if text and self._diag.first("root_level"):
                emit(text)
        except Exception:  # a check must never cost the application
            self._stats.count("errors.internal")

    def _gap(self) -> str:
        """The warning :meth:`check` gives, or ``""``."""
        root = logging.getLogger()
        level = root.getEffectiveLevel()
        routing = self._routing.current
        lowest = routing.lowest
        if level <= lowest or not self._handlers or root.manager.disable:
            return ""  # the usual answer, after two comparisons
        mine = [h for h in list(root.handlers) if h in self._handlers]
        if not mine:
            return ""
        wanted = max(lowest, min(h.level for h in mine))
        if level <= wanted:
            return ""  # the handler's own level asks for no more
        seen = (level, wanted, len(root.manager.loggerDict))
        if seen == self._seen:
            return ""  # nothing changed since the last look
        self._seen = seen
        if _lower_logger(wanted):
            return ""
        has = logging.getLevelName(level)
        needs = logging.getLevelName(wanted)
        return (
            f"a DiscordHandler is on the root logger, whose level ({has}) "
            "drops every record below it before any handler sees it, but "
            f"the routes of {routing.config.path} take events from {needs};"
            f" call logging.getLogger().setLevel({_level_code(wanted)}) "
            f"(or, to send only {has} and above, give the handler "
            f"level={_level_code(level)})"
        )


def _lower_logger(level: int) -> bool:
    """
    Whether a logger has its own level at or below *level*.

    Its records reach the root logger's handlers whatever the root
    logger's level: the application set levels where it wants them.
    """
    for name, logger in list(logging.getLogger().manager.loggerDict.items()):
        if (
            isinstance(logger, logging.Logger)
            and logging.NOTSET < logger.level <= level
            and not is_ignored(name)
        ):
            return True
    return False


def _level_code(level: int) -> str:
    """*level* as code: ``logging.INFO``, or the number for others."""
    name = logging.getLevelName(level)
    known = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
    return f"logging.{name}" if name in known else str(level)
