"""
DiscordHandler: the one line an existing ``logging`` set-up adds.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

from ._front import PipelineFront
from ._model import Config
from ._registry import get_pipeline

__all__ = ["DiscordHandler"]


class DiscordHandler(PipelineFront, logging.Handler):
    """
    A logging handler that routes records to Discord by ``routing.yaml``.

    ``emit()`` does no I/O and never raises: it decides cheaply whether
    any route might want the record and, if so, queues what it needs for
    the background worker. Works as one line in ``dictConfig``::

        "discord": {"class": "polybot_loghandler.DiscordHandler",
                    "routing": "routing.yaml"}

    Args:
        routing: The routing file, or a loaded :class:`Config`. Default:
            ``$POLYBOT_ROUTING``, else ``./routing.yaml``, else the shipped
            Polybot routing.
        level: The handler's level, as for any handler.

    Raises:
        ConfigError: The routing file is missing or invalid (at
            construction, never while logging).

    .. versionadded:: 0.1.0
    """

    # What a handler whose construction failed has: it is never known to
    # logging, but whoever holds it may still flush, close or print it
    _offer: Callable[[logging.LogRecord], None] = staticmethod(
        lambda record: None  # noqa: ARG005 - the signature of offer_record
    )

    def __init__(
        self,
        routing: str | os.PathLike[str] | Config | None = None,
        level: int | str = logging.NOTSET,
    ) -> None:
        # the routing first: a file that does not load raises before
        # logging knows of this handler, so neither logging.shutdown at
        # exit nor dictConfig's clean-up meets a handler without a pipeline
        pipeline = get_pipeline(routing)
        super().__init__(level)
        self._pipeline = pipeline
        pipeline.attach(self)  # the worker checks the root logger's level
        self._offer = pipeline.offer_record  # one lookup less per call

    def handle(self, record: logging.LogRecord) -> bool:
        """
        Filter and emit *record* without taking the handler lock.

        ``emit()`` is thread-safe on its own (it only appends to a queue),
        so the lock ``logging.Handler.handle`` takes would only add cost
        to every log call.
        """
        if self.filters:
            passed: object = self.filter(record)
            if not passed:
                return False
            if isinstance(passed, logging.LogRecord):
                record = passed  # Python 3.12+: a filter may replace it
        try:
            self._offer(record)
        except Exception:
            self.handleError(record)
        return True

    def emit(self, record: logging.LogRecord) -> None:
        """Queue *record* for delivery if a route might take it."""
        try:
            self._offer(record)
        except Exception:
            self.handleError(record)

    def flush(self, timeout: float | None = None) -> None:
        """
        Block until everything accepted so far is delivered or given up.

        Waits at most *timeout* seconds, by default
        ``delivery.flush_timeout``.
        """
        if self._pipeline is not None:
            self._pipeline.flush(timeout)

    def close(self) -> None:
        """
        Flush (bounded by ``delivery.flush_timeout``) and detach.

        The shared worker keeps serving other handlers of the same
        routing file; it stops at interpreter exit.
        """
        try:
            if self._pipeline is not None:
                self._pipeline.flush()
        finally:
            if hasattr(self, "lock"):  # logging.Handler.__init__ ran
                super().close()

    def __repr__(self) -> str:
        if self._pipeline is None:
            return "<DiscordHandler (not configured)>"
        level = logging.getLevelName(getattr(self, "level", logging.NOTSET))
        return f"<DiscordHandler {self._pipeline.config.path} ({level})>"
