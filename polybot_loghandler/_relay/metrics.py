"""
``relay --metrics-port``: the relay's counters for Prometheus.

Read at each scrape from :meth:`Relay.stats`, so the numbers are the
ones ``relay status`` and the summary give. Only counts travel: no
destination, URL or event text is ever a label. Needs the optional
``prometheus-client`` (in the ``relay`` extra).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from polybot_loghandler._losses import Loss

from .connect import INSTALL, RelayUnavailable

__all__ = ["PREFIX", "serve"]

PREFIX = "polybot_relay_"

#: counter in stats() → (metric name, help)
_COUNTERS = {
    "delivered": ("events_delivered", "Events that reached Discord."),
    "coalesced": ("events_coalesced", "Events merged into another (×N)."),
    "folded": (
        "events_folded",
        "Events a channel that fell behind sent inside a summary.",
    ),
    "sent.messages": ("messages_sent", "Messages Discord accepted."),
    "sent.embeds": ("embeds_sent", "Embeds Discord accepted."),
    "retries": ("retries", "Requests tried again after a failure."),
    "rate_limited": ("rate_limited", "429 answers from Discord."),
    "console": ("console_messages", "Messages shown on the console."),
}
#: gauge in stats() → (metric name, help)
_GAUGES = {
    "pending": ("messages_pending", "Messages waiting in the lanes."),
    "rate_limit.wait_s": (
        "rate_limit_wait_seconds",
        "Seconds the longest wait for Discord's rate limits has to run.",
    ),
}


class _Collector:
    """Turns one reading of the relay's figures into metric families."""

    def __init__(
        self,
        stats: Callable[[], dict[str, int]],
        active: Callable[[], bool],
        inflight: Callable[[], int],
    ) -> None:
        self._stats = stats
        self._active = active
        self._inflight = inflight

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import (  # noqa: PLC0415 - optional
            CounterMetricFamily,
            GaugeMetricFamily,
        )

        stats = self._stats()
        for key, (name, text) in _COUNTERS.items():
            yield CounterMetricFamily(PREFIX + name, text, stats.get(key, 0))
        dropped = CounterMetricFamily(
            PREFIX + "events_dropped",
            "Events lost, by reason (docs/delivery.md).",
            labels=["reason"],
        )
        for reason in Loss:
            dropped.add_metric([reason.value], stats.get(reason.counter, 0))
        yield dropped
        for key, (name, text) in _GAUGES.items():
            yield GaugeMetricFamily(PREFIX + name, text, stats.get(key, 0))
        yield GaugeMetricFamily(
            PREFIX + "active",
            "1 while this relay holds the lease and delivers.",
            1 if self._active() else 0,
        )
        yield GaugeMetricFamily(
            PREFIX + "entries_in_flight",
            "Stream entries read and not yet acknowledged.",
            self._inflight(),
        )


def serve(
    port: int,
    host: str,
    stats: Callable[[], dict[str, int]],
    active: Callable[[], bool],
    inflight: Callable[[], int],
) -> Any:
    """
    Serve ``/metrics`` on *host*:*port* in a thread; the server.

    Raises:
        RelayUnavailable: ``prometheus-client`` is not installed.
        OSError: The port cannot be bound.
    """
    try:
        from prometheus_client import (  # noqa: PLC0415 - optional
            CollectorRegistry,
            start_http_server,
        )
    except ImportError:
        raise RelayUnavailable(
            "--metrics-port needs the prometheus-client package; install "
            f"it with: {INSTALL}"
        ) from None
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(stats, active, inflight))
    server, _thread = start_http_server(port, addr=host, registry=registry)
    return server
