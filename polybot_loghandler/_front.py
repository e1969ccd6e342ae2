"""
What the handler and the processor both offer around their pipeline.

A :class:`DiscordHandler` and a :class:`DiscordProcessor` are two fronts
of one shared pipeline: each can tell its routing, reload it and show
its counters, the same way.
"""

from __future__ import annotations

from ._model import Config
from ._pipeline import Pipeline
from .exceptions import PolybotError

__all__ = ["PipelineFront"]


class PipelineFront:
    """
    The routing, reload and counters of the pipeline behind a front.

    ``_pipeline`` is ``None`` on an object whose construction failed (its
    routing did not load): whoever still holds it may print it, ask its
    stats (empty) or flush it (nothing to do), but not route with it.
    """

    _pipeline: Pipeline | None = None

    def _live(self) -> Pipeline:
        if self._pipeline is None:
            msg = (
                f"this {type(self).__name__} has no routing: its routing "
                "file failed to load"
            )
            raise PolybotError(msg)
        return self._pipeline

    @property
    def config(self) -> Config:
        """The routing this uses."""
        return self._live().config

    def reload(self) -> Config:
        """
        Load the routing file again and route with it from now on.

        The worker also does this by itself when the file changes (every
        ``delivery.reload`` seconds); call it to apply changed
        environment variables, or from a signal handler. Messages already
        routed keep their destination.

        Raises:
            ConfigError: The file does not load; the old routing stays
                in use.

        .. versionadded:: 0.1.0
        """
        return self._live().reload()

    def stats(self) -> dict[str, int]:
        """Counters of the shared pipeline: handled, drops by reason, ..."""
        if self._pipeline is None:
            return {}
        return self._pipeline.stats()
