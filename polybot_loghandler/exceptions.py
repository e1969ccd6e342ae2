"""
Exceptions raised by polybot_loghandler.

Logging itself never raises: these surface only where a person can act on
them, when a routing file is loaded or checked.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["ConfigError", "PolybotError"]


class PolybotError(Exception):
    """
    Base class of every error polybot_loghandler raises on purpose.

    .. versionadded:: 0.1.0
    """


class ConfigError(PolybotError):
    """
    A routing file that cannot be used, with every problem found in it.

    Each problem is one line that starts with ``file:line:`` and names the
    key path, e.g. ``routing.yaml:14: routes[2].match.level: unknown level
    'WARN1' (expected one of: debug, info, warning, error, critical)``.

    Args:
        problems: One message per problem, already located.

    .. versionadded:: 0.1.0
    """

    def __init__(self, problems: str | Sequence[str]) -> None:
        """Keep *problems* as a tuple; the message is one per line."""
        if isinstance(problems, str):
            problems = [problems]
        self.problems: tuple[str, ...] = tuple(problems)
        super().__init__("\n".join(self.problems))
