"""
A structlog application that renders through standard-library logging.

structlog hands each event to ``logging`` with
``ProcessorFormatter.wrap_for_formatter``, and a ``ProcessorFormatter``
renders it, so structlog events and plain ``logging`` records share the
same handlers.  polybot_loghandler adds one handler on the ``logging``
side, which takes both kinds of event.

    python examples/structlog_stdlib.py [--routing FILE]

Without --routing, the handler finds its routing file itself:
$POLYBOT_ROUTING, else ./routing.yaml, else the Polybot routing shipped
with the package.  With no DISCORD_WEBHOOK_* variable set, nothing is
sent: each message renders on standard error instead, after the
application's own log lines on standard output.
"""

from __future__ import annotations

import argparse
import logging
import logging.config
from typing import Any

import structlog

log = structlog.stdlib.get_logger("floor_boss")
auditor = logging.getLogger("auditor")  # a module still on plain logging


def configure_logging(routing: str | None) -> None:
    """Set up structlog and logging as the application does, plus Discord."""
    shared: list[Any] = [
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {
                "console": {
                    "()": structlog.stdlib.ProcessorFormatter,
                    "processors": [
                        structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                        structlog.dev.ConsoleRenderer(colors=False),
                    ],
                    "foreign_pre_chain": [
                        *shared,
                        structlog.stdlib.ExtraAdder(),
                    ],
                },
            },
            "handlers": {
                "console": {
                    "class": "logging.StreamHandler",
                    "formatter": "console",
                    "stream": "ext://sys.stdout",
                },
                # The one line that is polybot_loghandler.  It reads the
                # event dict structlog wraps into each record, and the
                # extra={...} of plain records.  (A DiscordProcessor in
                # the structlog chain as well would not send anything
                # twice: an event both see is sent once.)
                "discord": {
                    "class": "polybot_loghandler.DiscordHandler",
                    "routing": routing,
                },
            },
            "root": {"level": "INFO", "handlers": ["console", "discord"]},
            # httpx, which sends to Discord, logs a line at INFO for each
            # request: keep them out of the application's own logs.
            "loggers": {"httpx": {"level": "WARNING"}},
        }
    )
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Log Polybot events with structlog through logging."
    )
    parser.add_argument(
        "--routing", metavar="FILE", help="default: the library's own lookup"
    )
    args = parser.parse_args(argv)
    configure_logging(args.routing)

    # structlog events: an event name and keyword fields.
    log.info(
        "floor_boss_decision",
        decision="Agent Removal",
        agent="Mean_Reversion_ETH_v1",
        reason="7-day win rate of 37.0% is under 45%",
        threshold=45.0,
        trades_analyzed=52,
        action="Stopped; configuration archived",
    )
    log.warning("ws_reconnect_failed", error="connection reset")
    # A plain logging record, with its fields in extra: the same handler
    # routes it by the same rules.
    auditor.error(
        "audit_violation",
        extra={
            "agent": "Momentum_ETH_v2",
            "rule": "duplicate_order",
            "detail": "Re-sent 2 orders placed before the restart",
            "severity": "low",
            "action": "Duplicates cancelled, agent warned",
        },
    )

    # Nothing more to do: logging.shutdown() at exit delivers what is
    # queued, within delivery.flush_timeout.
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
