"""
DiscordProcessor: the one line a structlog chain adds.

structlog stays optional: nothing here imports it. A processor is just a
callable ``(logger, method_name, event_dict) -> event_dict``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, MutableMapping
from typing import Any

from ._front import PipelineFront
from ._model import Config
from ._registry import get_pipeline

__all__ = ["DiscordProcessor"]


class DiscordProcessor(PipelineFront):
    """
    A structlog processor that forwards a copy of each event for routing.

    It returns the event dict unchanged, so it can sit anywhere before
    the renderer. When the same event later reaches a
    :class:`DiscordHandler` of the same routing file (through
    ``ProcessorFormatter.wrap_for_formatter``), it is sent once, not
    twice. Put it after ``add_log_level``/``add_logger_name`` if you use
    them, so routes see the level and logger those processors add.

    Args:
        routing: As for :class:`DiscordHandler`.

    Raises:
        ConfigError: The routing file is missing or invalid.

    .. versionadded:: 0.1.0
    """

    def __init__(
        self, routing: str | os.PathLike[str] | Config | None = None
    ) -> None:
        self._pipeline = get_pipeline(routing)
        self._offer = self._pipeline.offer_event_dict  # one lookup less

    def __call__(
        self,
        logger: Any,
        method_name: str,
        event_dict: MutableMapping[str, Any],
    ) -> MutableMapping[str, Any]:
        """Forward *event_dict* if a route might take it; never raises."""
        try:
            self._offer(logger, method_name, event_dict)
        except Exception:  # the chain must go on
            # after the renderer, a chain hands on text, whatever the
            # annotation says: pass it on, and say where we belong
            value: object = event_dict
            if not isinstance(value, Mapping):
                self._misplaced(value)
            elif self._pipeline is not None:
                self._pipeline.count("errors.internal")
        return event_dict

    def _misplaced(self, value: object) -> None:
        """Say once that the processor stands after the renderer."""
        if self._pipeline is None:
            return
        # stderr only: the chain may run inside a logging handler
        # (ProcessorFormatter), where a log call must not log again
        self._pipeline.diagnostics.say_once(
            "misplaced_processor",
            f"DiscordProcessor received a {type(value).__name__}, not an "
            "event dict, so it sends nothing: it stands after the "
            "renderer. Put DiscordProcessor before the renderer in "
            "structlog.configure(processors=[...])",
        )

    def flush(self) -> None:
        """Block until everything forwarded so far is handled."""
        if self._pipeline is not None:
            self._pipeline.flush()

    def __repr__(self) -> str:
        if self._pipeline is None:
            return "<DiscordProcessor (not configured)>"
        return f"<DiscordProcessor {self._pipeline.config.path}>"
