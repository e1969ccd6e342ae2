"""
An application configured with logging.config.dictConfig, plus Discord.

The configuration below is the kind an application already has: a
formatter and a console handler.  polybot_loghandler adds one handler
entry to it; the code that logs is unchanged and passes its fields with
``extra={...}``.

    python examples/logging_dictconfig.py [--routing FILE]

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

log = logging.getLogger("trader")


def configure_logging(routing: str | None) -> None:
    """Set up logging as the application does, plus the Discord handler."""
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {
                "plain": {
                    "format": "%(asctime)s %(levelname)-8s %(name)s: "
                    "%(message)s",
                },
            },
            "handlers": {
                "console": {
                    "class": "logging.StreamHandler",
                    "formatter": "plain",
                    "stream": "ext://sys.stdout",
                },
                # The one line that is polybot_loghandler (routing=None
                # means the library's own lookup):
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Log a few Polybot events through dictConfig."
    )
    parser.add_argument(
        "--routing", metavar="FILE", help="default: the library's own lookup"
    )
    args = parser.parse_args(argv)
    configure_logging(args.routing)

    # Events of the Polybot vocabulary: the event name is the message,
    # the fields go in extra.  The routing file picks the channels.
    log.info(
        "trade_executed",
        extra={
            "agent": "Momentum_BTC_v1",
            "market": "BTC-USD-UP-15m",
            "side": "YES",
            "amount": 20.0,
            "price": 0.5423,
            "fees": 0.4,
            "is_paper": True,
            "trade_id": "paper_1769956425.123",
        },
    )
    logging.getLogger("ops").warning(
        "api_latency_high",
        extra={
            "api": "Polymarket CLOB API",
            "latency_s": 2.3,
            "normal_ms": 500.0,
            "impact": "Orders may fill late",
        },
    )
    logging.getLogger("ops").critical(
        "critical_alert",
        extra={
            "component": "Trader Agent (Momentum_ETH_v2)",
            "issue": "No heartbeat for 3 minutes",
            "last_heartbeat_s": 180.0,
            "action": "Restarting the agent",
            "attempt": 1,
            "max_attempts": 10,
        },
    )
    # A plain log line that no route takes: it costs Discord nothing.
    log.info("Connected to %s", "wss://ws-subscriptions-clob.polymarket.com")

    # Nothing more to do: logging.shutdown() at exit delivers what is
    # queued, within delivery.flush_timeout.
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
