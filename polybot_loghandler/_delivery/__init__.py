"""
Delivery: the worker side, from captured events to Discord.

Data flows one way through it: the ``engine`` takes events from the
worker's queue, has the render thread route them (``intake``), files
each message in its destination's lane or the spool (``filing``,
``lanes``), and sends each lane's batches (``sender``); the ``ledger``
counts how every message ended and words the news about it; ``chores``
runs the periodic jobs when ``schedule`` says. No module here imports
one above it.
"""

from .engine import Engine

__all__ = ["Engine"]
