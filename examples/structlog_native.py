"""
A structlog application with its own renderer, plus Discord.

structlog is configured as a structlog-native application does it, with
no standard-library logging involved; polybot_loghandler adds one
processor to the chain.  The code that logs is unchanged and passes its
fields as keyword arguments.

    python examples/structlog_native.py [--routing FILE]

Without --routing, the processor finds its routing file itself:
$POLYBOT_ROUTING, else ./routing.yaml, else the Polybot routing shipped
with the package.  With no DISCORD_WEBHOOK_* variable set, nothing is
sent: each message renders on standard error instead, after the
application's own log lines on standard output.
"""

from __future__ import annotations

import argparse
import logging

import structlog

from polybot_loghandler import DiscordProcessor


def configure_logging(routing: str | None) -> None:
    """Set up structlog as the application does, plus Discord."""
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            # The one line that is polybot_loghandler.  It comes after
            # add_log_level, so routes see the level, and before the
            # renderer, which turns the event into text.  It passes each
            # event on unchanged.
            DiscordProcessor(routing=routing),
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.dev.ConsoleRenderer(colors=False),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        logger_factory=structlog.PrintLoggerFactory(),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Log a few Polybot events with structlog."
    )
    parser.add_argument(
        "--routing", metavar="FILE", help="default: the library's own lookup"
    )
    args = parser.parse_args(argv)
    configure_logging(args.routing)
    log = structlog.get_logger()

    # Events of the Polybot vocabulary: an event name and keyword fields.
    # The routing file picks the channels.
    log.info(
        "position_closed",
        agent="Momentum_BTC_v1",
        market="BTC-USD-UP-15m",
        side="YES",
        entry_price=0.5423,
        exit_price=0.6187,
        duration_s=867.0,
        size=20.0,
        pnl=2.42,
        pnl_pct=12.1,
        outcome="Take profit",
    )
    log.warning(
        "risk_alert",
        agent="Volume_ETH_v1",
        current_loss=-83.91,
        limit=-100.0,
        remaining=16.09,
        pct_used=83.9,
        action="Position sizes halved",
    )
    log.critical(
        "daily_loss_limit_reached",
        agent="Volume_ETH_v1",
        daily_loss=-102.18,
        limit=-100.0,
        action="Volume_ETH_v1 paused until reviewed",
    )
    # Below the wrapper's INFO level: structlog drops it before any
    # processor, so it never reaches the DiscordProcessor either.
    log.debug("tick", open_positions=3)

    # Nothing more to do: at interpreter exit, what is queued is
    # delivered within delivery.flush_timeout.
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
