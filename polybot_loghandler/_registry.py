"""
The registry: one pipeline per routing file, for the whole process.

Every handler and processor built from the same routing file shares one
:class:`~polybot_loghandler._pipeline.Pipeline`; this module finds or
makes it, says at start-up what will not reach Discord, closes every
pipeline at exit and gives a forked child fresh locks.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from pathlib import Path

from ._config import load_config
from ._diagnostics import emit
from ._format import counted
from ._lookup import resolve_routing
from ._model import Config
from ._pipeline import CAPTURES, Pipeline

__all__ = [
    "announce_console",
    "close_all",
    "get_pipeline",
    "pipelines",
    "reset_pipelines",
]

_log = logging.getLogger("polybot_loghandler")

_PIPELINES: dict[str, Pipeline] = {}
_REGISTRY_LOCK = threading.Lock()


def get_pipeline(routing: str | os.PathLike[str] | Config | None) -> Pipeline:
    """
    The pipeline for *routing*, created on first use and shared after.

    Raises:
        ConfigError: The routing file is missing or invalid.
    """
    if isinstance(routing, Config):
        key = f"config:{id(routing)}"
    else:
        path = resolve_routing(routing)
        key = os.path.realpath(path)
    with _REGISTRY_LOCK:
        found = _PIPELINES.get(key)
        if found is not None:
            return found
        if isinstance(routing, Config):
            pipeline = Pipeline(routing)
        else:
            config = load_config(path)
            pipeline = Pipeline(config, str(Path(path).absolute()))
        config = pipeline.config
        _PIPELINES[key] = pipeline
    _announce(config)
    return pipeline


def pipelines() -> list[Pipeline]:
    """Every pipeline of the process, in the order they were made."""
    with _REGISTRY_LOCK:
        return list(_PIPELINES.values())


def _announce(config: Config) -> None:
    """
    Say once, at start-up, what will not reach Discord.

    A process whose relay delivers renders nothing: the relay says it.
    """
    if config.delivery.relay:
        console: tuple[str, ...] = ()
    else:
        console = config.console_channels
    announce_console(config, console)
    for note in config.notes:
        _log.info("%s", note)


def announce_console(config: Config, console: tuple[str, ...]) -> None:
    """Say which of *config*'s channels (*console*) only render."""
    target = config.delivery.console
    where = "are not shown" if target == "off" else f"render on {target}"
    if console and len(console) == len(config.channels):
        emit(
            f"no channel in {config.path} has a Discord destination; the "
            f"messages of its {counted(len(console), 'channel')} {where}"
        )
    elif console:
        emit(
            f"{len(console)} of {counted(len(config.channels), 'channel')} "
            f"in {config.path} {'has' if len(console) == 1 else 'have'} no "
            "Discord destination; their messages "
            f"{where}: {', '.join(console)}"
        )


def close_all() -> None:
    """Close every pipeline: what they hold is delivered (or counted)."""
    for pipeline in pipelines():
        pipeline.close()


def reset_pipelines() -> None:
    """Close and forget every pipeline (for tests)."""
    with _REGISTRY_LOCK:
        pipelines = list(_PIPELINES.values())
        _PIPELINES.clear()
    for pipeline in pipelines:
        pipeline.close(timeout=2.0)


def _after_fork_in_child() -> None:
    # a fresh process: fresh locks (the parent's threads may have held
    # them at the fork) and fresh counters, as the worker starts over too
    global _REGISTRY_LOCK  # noqa: PLW0603 - replaced, never shared
    _REGISTRY_LOCK = threading.Lock()
    CAPTURES.lock = threading.Lock()
    for pipeline in list(_PIPELINES.values()):
        pipeline._after_fork_in_child()  # noqa: SLF001


atexit.register(close_all)
os.register_at_fork(after_in_child=_after_fork_in_child)
