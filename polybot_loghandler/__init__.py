"""
Route structured log events to Discord embeds with rules in routing.yaml.

One line in an existing logging set-up::

    "discord": {"class": "polybot_loghandler.DiscordHandler",
                "routing": "routing.yaml"}

or one processor in a structlog chain::

    structlog.configure(processors=[..., DiscordProcessor(), renderer])
"""

from __future__ import annotations

from importlib import import_module
from importlib.metadata import version as _distribution_version
from typing import Any

from . import exceptions, testing
from ._config import load_config
from ._handler import DiscordHandler
from ._model import Config
from ._structlog import DiscordProcessor
from .exceptions import ConfigError, PolybotError

__all__ = [
    "Config",
    "ConfigError",
    "DiscordHandler",
    "DiscordProcessor",
    "PolybotError",
    "control",
    "exceptions",
    "load_config",
    "testing",
]


def __getattr__(name: str) -> Any:
    # control is the agents' (polybot_loghandler.control.listen): it is
    # imported when first asked for, so logging alone never pays for it
    if name == "control":
        return import_module(f"{__name__}.control")
    if name == "__version__":
        return _distribution_version("polybot-loghandler")
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)
