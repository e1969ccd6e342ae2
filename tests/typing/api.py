"""
The public API used as users will, for ``mypy --strict``; never executed.

Each function is one way an application or its tests reach the library.
If a signature changes in a way that breaks these uses, mypy fails here.
"""

from __future__ import annotations

import logging
import logging.config
from pathlib import Path
from typing import Any

import structlog
from structlog.stdlib import ProcessorFormatter

import polybot_loghandler
from polybot_loghandler import (
    Config,
    ConfigError,
    DiscordHandler,
    DiscordProcessor,
    PolybotError,
    load_config,
)
from polybot_loghandler.exceptions import ConfigError as ConfigErrorToo
from polybot_loghandler.testing import RoutedMessage, capture

LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {
        "console": {"class": "logging.StreamHandler"},
        "discord": {
            "class": "polybot_loghandler.DiscordHandler",
            "routing": "routing.yaml",
        },
    },
    "root": {"level": "INFO", "handlers": ["console", "discord"]},
}


def configure_with_dict_config() -> None:
    """The one line in an existing dictConfig."""
    logging.config.dictConfig(LOGGING)


def configure_by_hand() -> logging.Handler:
    """A handler built in code, with each kind of routing argument."""
    from_text = DiscordHandler("routing.yaml")
    from_path = DiscordHandler(Path("routing.yaml"), level=logging.WARNING)
    from_config = DiscordHandler(load_config("routing.yaml"), level="ERROR")
    default = DiscordHandler()
    for handler in (from_text, from_path, from_config):
        logging.getLogger("trader").addHandler(handler)
    default.setLevel(logging.INFO)
    default.addFilter(lambda record: record.name != "noisy")
    return default


def inspect_a_handler(handler: DiscordHandler) -> int:
    """What a running application may ask a handler."""
    handler.flush()
    config: Config = handler.config
    stats: dict[str, int] = handler.stats()
    handler.close()
    return stats.get("dropped.queue_full", 0) + len(config.routes)


def configure_structlog_native() -> None:
    """One processor in a structlog-only chain."""
    processor = DiscordProcessor(routing="routing.yaml")
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso"),
            processor,
            structlog.processors.JSONRenderer(),
        ],
    )
    processor.flush()
    queued: int = processor.stats()["queued"]
    del queued


def configure_structlog_through_logging() -> None:
    """The processor before wrap_for_formatter, the handler on logging."""
    structlog.configure(
        processors=[
            structlog.stdlib.add_log_level,
            DiscordProcessor(),
            ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
    )
    logging.getLogger().addHandler(DiscordHandler())


def call_the_processor_directly() -> str:
    """A processor is a plain callable returning its event dict."""
    processor = DiscordProcessor(Path("routing.yaml"))
    event_dict: dict[str, Any] = {"event": "trade_executed", "amount": 20.0}
    returned = processor(None, "info", event_dict)
    return str(returned["event"])


def assert_on_routing() -> None:
    """A user's test of their routing with capture()."""
    log = logging.getLogger("trader")
    with capture() as sent:
        log.info("trade_executed", extra={"is_paper": True, "amount": 20.0})
    channels: list[str] = [m.channel for m in sent]
    first: RoutedMessage = sent[0]
    route: str = first.route
    payload: dict[str, Any] = first.payload
    embed: dict[str, Any] = first.embed
    content: str = first.content
    assert channels == ["trades_executed", "trades_paper"]
    assert "$20.00" in str(embed)
    assert route
    assert payload["embeds"] == [embed]
    assert not content


def check_a_routing_file(path: str) -> list[str]:
    """Validate a file and report its problems, as a CI step might."""
    try:
        config = load_config(path, environ={"DISCORD_WEBHOOK_URL": ""})
    except ConfigError as exc:
        problems: tuple[str, ...] = exc.problems
        return list(problems)
    except PolybotError as exc:
        return [str(exc)]
    channels: list[str] = list(config.channels)
    version: int = config.version
    del version
    return channels


def errors_are_one_hierarchy() -> bool:
    """ConfigError is the same class from either import path."""
    error: PolybotError = ConfigErrorToo("routing.yaml:1: version: missing")
    return isinstance(error, ConfigError) and issubclass(
        ConfigError, Exception
    )


def version() -> str:
    """The lazily read version."""
    return str(polybot_loghandler.__version__)
