"""
Event values as text, whatever the application put in them.

A value's ``__str__`` or ``__repr__`` is the application's code: it may
raise, refuse (``str(10**5000)`` raises ``ValueError``), or take seconds
(a lazy ORM object that queries its database). Every place that turns an
event value into text goes through :func:`text_of` or :func:`repr_of`,
which never raise: a value that cannot be shown is shown as its type's
name, ``<TypeName>``. A type whose conversion once took longer than
:data:`SLOW_AFTER` is shown by name from then on, so one slow class costs
the worker one slow conversion, not one per event.

Each such fault is counted through the counter set with
:func:`report_to` in the converting thread (the pipeline's
``errors.unprintable`` and ``errors.slow_value``).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = [
    "SLOW_AFTER",
    "SLOW_TYPES_LIMIT",
    "forget_slow_types",
    "report_to",
    "repr_of",
    "text_of",
]

#: Seconds one conversion may take before its type is shown by name.
SLOW_AFTER = 0.1
#: Slow types remembered at most (the oldest is forgotten first).
SLOW_TYPES_LIMIT = 256

#: Seconds, for timing conversions (tests put a fake in its place).
_clock = time.perf_counter
#: Types whose values are shown by name: they converted slowly once.
_slow: dict[type, None] = {}
_local = threading.local()


def report_to(count: Callable[[str, int], None] | None) -> None:
    """Count this thread's conversion faults with *count* from now on."""
    _local.count = count


def text_of(value: Any) -> str:
    """``str(value)``, or ``<TypeName>`` if that fails or is slow."""
    cls = value.__class__
    if cls is str:
        return value  # type: ignore[no-any-return] # checked: a str
    if cls is float or cls is bool or value is None:
        return str(value)
    if cls is int:
        return _int_text(value)
    return _convert(str, value)


def repr_of(value: Any) -> str:
    """``repr(value)``, or ``<TypeName>`` if that fails or is slow."""
    cls = value.__class__
    if cls is str or cls is float or cls is bool or value is None:
        return repr(value)
    if cls is int:
        return _int_text(value)
    return _convert(repr, value)


def _int_text(value: int) -> str:
    try:
        return str(value)
    except ValueError:  # more digits than sys.get_int_max_str_digits()
        return f"<int of {value.bit_length()} bits>"


def _convert(convert: Callable[[Any], str], value: Any) -> str:
    cls = type(value)
    try:
        slow = cls in _slow
    except Exception:  # a metaclass whose __hash__ or __eq__ raises
        slow = False
    if slow:
        _fault("errors.slow_value")
        return _shown_as(cls)
    start = _clock()
    try:
        text = convert(value)
    except Exception:  # the application's code: any error at all
        _fault("errors.unprintable")
        return _shown_as(cls)
    if _clock() - start > SLOW_AFTER:
        _remember_slow(cls)
        _fault("errors.slow_value")
    if text.__class__ is not str:  # a str subclass, with its own methods
        return str.__str__(text)
    return text


def _shown_as(cls: type) -> str:
    """``<TypeName>``; ``<object>`` if even the name cannot be had."""
    try:
        name = type.__getattribute__(cls, "__name__")
    except Exception:  # a metaclass may break even this
        return "<object>"
    return f"<{name}>" if name.__class__ is str else "<object>"


def forget_slow_types() -> None:
    """Show every type's values again (for tests)."""
    _slow.clear()


def _remember_slow(cls: type) -> None:
    if len(_slow) >= SLOW_TYPES_LIMIT:
        _slow.pop(next(iter(_slow)), None)
    with contextlib.suppress(Exception):  # an unhashable metaclass
        _slow[cls] = None


def _fault(key: str) -> None:
    count = getattr(_local, "count", None)
    if count is not None:
        count(key, 1)
