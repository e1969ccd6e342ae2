"""
Helpers for testing your routing in your own tests.

::

    from polybot_loghandler.testing import capture

    def test_paper_trades_reach_the_paper_channel():
        with capture() as sent:
            log.info("trade_executed", agent="A", is_paper=True, amount=20)
        assert ["trades_executed", "trades_paper"] == [m.channel for m in sent]
        assert "$20.00" in str(sent[0].embed)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from . import _pipeline
from ._message import RoutedMessage

__all__ = ["RoutedMessage", "capture"]


@contextmanager
def capture() -> Iterator[list[RoutedMessage]]:
    """
    Record what would be sent, instead of sending it.

    While the block runs, every handler and processor in the process
    routes and renders each event at once, in the logging thread, and
    appends one :class:`RoutedMessage` per channel to the yielded list
    (``.channel``, ``.route``, ``.payload``: the exact JSON body, and
    ``.embed``). Nothing is delivered or printed meanwhile.

    .. versionadded:: 0.1.0
    """
    sent: list[RoutedMessage] = []
    with _pipeline.CAPTURES.lock:
        _pipeline.CAPTURES.active.append(sent)
    try:
        yield sent
    finally:
        with _pipeline.CAPTURES.lock:
            _pipeline.CAPTURES.active.remove(sent)
