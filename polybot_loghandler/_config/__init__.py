"""
routing.yaml → validated, frozen configuration (the objects of ``_model``).
"""

from .load import (
    MAX_PROBLEMS,
    _did_you_mean,
    load_config,
    parse_config,
    size_bytes,
)

__all__ = [
    "MAX_PROBLEMS",
    "_did_you_mean",
    "load_config",
    "parse_config",
    "size_bytes",
]
