"""
routing.yaml → validated, frozen configuration (the objects of ``_model``).

``load`` reads the file and its top level; each section has its checker
(``channels``, ``delivery``, ``routes``, with ``match`` and ``embeds``
for a route's parts, ``watching`` for watches and digests, ``state``
for the floor's state), all built on ``checker`` and telling problems
in the words of ``words``.
"""

from .delivery import size_bytes
from .load import MAX_PROBLEMS, load_config, parse_config
from .words import did_you_mean

__all__ = [
    "MAX_PROBLEMS",
    "did_you_mean",
    "load_config",
    "parse_config",
    "size_bytes",
]
