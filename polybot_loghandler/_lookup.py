"""
Where the routing file is.

The library's one lookup, used alike by the handler, the processor,
:func:`load_config` and the CLI.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["ROUTING_ENV", "resolve_routing", "shipped_routing"]

ROUTING_ENV = "POLYBOT_ROUTING"


def shipped_routing() -> Path:
    """
    The Polybot routing file that ships with the package.

    A wheel carries it as ``polybot_loghandler/_shipped/routing.yaml``; a
    source checkout (editable install) reads the repository's own
    ``routing.yaml``. One file, two ways to find it.
    """
    packaged = Path(__file__).parent / "_shipped" / "routing.yaml"
    if packaged.is_file():
        return packaged
    return Path(__file__).parent.parent / "routing.yaml"


def resolve_routing(routing: str | os.PathLike[str] | None) -> Path:
    """
    Find the routing file to use.

    *routing* if given, else ``$POLYBOT_ROUTING``, else ``./routing.yaml``,
    else the shipped Polybot routing.
    """
    if routing is not None:
        return Path(routing)
    from_env = os.environ.get(ROUTING_ENV)
    if from_env:
        return Path(from_env)
    local = Path("routing.yaml")
    if local.is_file():
        return local
    return shipped_routing()
