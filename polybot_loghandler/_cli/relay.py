"""
``polybot-loghandler relay`` and ``relay status``.

``relay`` runs one relay until SIGTERM or Ctrl-C: it stands by while
another holds the lease, and delivers while it holds it. ``relay
status`` reads what the stream, the relays and the producers say, and
exits 1 when no relay is active.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from typing import TYPE_CHECKING

from polybot_loghandler._model import Config
from polybot_loghandler._pipeline import _version
from polybot_loghandler._redisurl import redacted_url
from polybot_loghandler._registry import announce_console
from polybot_loghandler._relay.connect import (
    RelayUnavailable,
    scrub,
    sync_client,
)
from polybot_loghandler._relay.metrics import serve
from polybot_loghandler._relay.relay import Relay
from polybot_loghandler._relay.status import read_status, status_text

from .usage import EXIT_OK, FILE_HELP, UsageError, load_routing, subcommand

if TYPE_CHECKING:
    from .usage import Subcommands

__all__ = ["EXIT_NO_RELAY", "add_relay_parser"]

#: ``relay status``: no relay holds the lease.
EXIT_NO_RELAY = 1

_HELP = {
    "relay": "deliver what every process appends to the Redis stream "
    "(delivery.relay); 'relay status' shows how it is going",
    "action": "status: show the stream, the relays and the producers",
}


def add_relay_parser(sub: Subcommands) -> None:
    """Add ``relay [status]`` to the command line."""
    relay = subcommand(sub, "relay", _relay, _HELP["relay"])
    relay.add_argument(
        "action", nargs="?", choices=["status"], help=_HELP["action"]
    )
    relay.add_argument("--routing", help=FILE_HELP)
    relay.add_argument(
        "--metrics-port",
        type=int,
        metavar="PORT",
        help="serve Prometheus metrics on this port (needs prometheus-client)",
    )
    relay.add_argument(
        "--metrics-host",
        default="127.0.0.1",
        metavar="HOST",
        help="the address the metrics are served on (default 127.0.0.1; "
        "0.0.0.0 for every interface)",
    )


def _relay(args: argparse.Namespace) -> int:
    config = load_routing(args.routing)
    url = config.delivery.relay
    if not url:
        msg = (
            f"the relay is off in {config.path} (its delivery.relay is "
            "missing, off or empty): set it to the Redis URL the "
            "producers use, e.g. relay: ${POLYBOT_REDIS_URL:-} with "
            "POLYBOT_REDIS_URL set"
        )
        raise UsageError(msg)
    try:
        if args.action == "status":
            return _status(url)
        return _run(config, args)
    except RelayUnavailable as exc:
        raise UsageError(str(exc)) from None


def _status(url: str) -> int:
    client = sync_client(url, "polybot_loghandler.status")
    try:
        status = read_status(client, redacted_url(url))
    except Exception as exc:
        print(
            f"polybot-loghandler relay status: cannot reach Redis at "
            f"{redacted_url(url)} ({scrub(str(exc), url)})",
            file=sys.stderr,
        )
        return EXIT_NO_RELAY
    finally:
        client.close()
    print(status_text(status))
    return EXIT_OK if status.active else EXIT_NO_RELAY


def _run(config: Config, args: argparse.Namespace) -> int:
    relay = Relay(config, config.path, version=_version())
    server = None
    if args.metrics_port is not None:
        try:
            server = serve(
                args.metrics_port,
                args.metrics_host,
                relay.stats,
                lambda: relay.holder is not None,
                lambda: relay.in_flight,
            )
        except OSError as exc:
            msg = (
                f"cannot serve metrics on {args.metrics_host}:"
                f"{args.metrics_port} ({exc.strerror or exc})"
            )
            raise UsageError(msg) from None

    print(
        f"polybot-loghandler relay {relay.id}: routing {config.path}, "
        f"Redis {relay.url}",
        file=sys.stderr,
    )
    announce_console(config, config.console_channels)
    # SIGTERM and Ctrl-C hand over: stop() is safe from a signal handler
    # (it sets an event and wakes the loop through its self-pipe)
    handlers = {
        sig: signal.signal(sig, lambda _sig, _frame: relay.stop())
        for sig in (signal.SIGTERM, signal.SIGINT)
    }
    try:
        asyncio.run(relay.run())
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
        if server is not None:
            server.shutdown()
    return EXIT_OK
