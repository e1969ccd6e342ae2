"""
Helpers for testing your routing in your own tests.

::

    from polybot_loghandler.testing import capture

    def test_paper_trades_reach_the_paper_channel():
        with capture() as sent:
            log.info("trade_executed", agent="A", is_paper=True, amount=20)
        assert ["trades_executed", "trades_paper"] == [m.channel for m in sent]
        assert "$20.00" in str(sent[0].embed)

Watches and digests run on a clock a test can move on, without sleeping::

    def test_a_silent_agent_is_reported():
        with capture() as sent:
            log.info("heartbeat", agent="A")
            sent.advance(200)  # seconds
        assert "watch_alert" == sent[-1].event.event
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from . import _pipeline, _registry
from ._message import RoutedMessage

__all__ = ["Captured", "RoutedMessage", "capture"]


class Captured(list[RoutedMessage]):
    """
    The messages a :func:`capture` block recorded, in order.

    A list, with one more method: :meth:`advance`.

    .. versionadded:: 0.1.0
    """

    def advance(self, seconds: float) -> list[RoutedMessage]:
        """
        Move the watches' and digests' clock on by *seconds*.

        What falls due meanwhile (alerts of keys silent for longer than
        their ``alert_after``, digest periods that ended) is recorded in
        every active capture, and returned. Events logged afterwards
        carry the advanced time too. The clock is the process's: time
        advanced stays advanced after the block.
        """
        if seconds < 0:
            msg = "time only moves forward: seconds must be 0 or more"
            raise ValueError(msg)
        _pipeline.CAPTURES.offset += seconds
        made: list[RoutedMessage] = []
        for pipeline in _registry.pipelines():
            made.extend(pipeline.watching_due())
        _pipeline.CAPTURES.record(made)
        return made


@contextmanager
def capture() -> Iterator[Captured]:
    """
    Record what would be sent, instead of sending it.

    While the block runs, every handler and processor in the process
    routes and renders each event at once, in the logging thread, and
    appends one :class:`RoutedMessage` per channel to the yielded list
    (``.channel``, ``.route``, ``.payload``: the exact JSON body, and
    ``.embed``; ``.thread``, ``.thread_id``, ``.board``, ``.username``
    and ``.avatar_url`` for routes with ``thread:``, ``thread_id:``,
    ``board:`` and ``identity:``). Nothing is delivered or printed
    meanwhile. Watches and digests record their alerts, recoveries and
    digests too, as they fall due: :meth:`Captured.advance` moves their
    clock on.

    .. versionadded:: 0.1.0
    """
    sent = Captured()
    with _pipeline.CAPTURES.lock:
        _pipeline.CAPTURES.active.append(sent)
    try:
        yield sent
    finally:
        with _pipeline.CAPTURES.lock:
            _pipeline.CAPTURES.active.remove(sent)
